"""Classic BPF interpreter with libpcap's bpf_filter() semantics.

``vm.cbpf`` re-exports ``run``; it lives here so that a job that only compiles and prints a
program does not load it.
"""

from __future__ import annotations

from .cbpf import MAX_BACKWARD_JUMPS, MEMWORDS, Program

_M32 = 0xFFFFFFFF


_PREPARED: dict[int, tuple] = {}


def _prepared(program: Program) -> tuple:
    """The program as plain (code, jt, jf, k) tuples, cached by identity (the cache holds the
    program, so its id cannot be reused while the entry lives)."""
    hit = _PREPARED.get(id(program))
    if hit is not None and hit[0] is program:
        return hit[1]
    rows = tuple((i.code, i.jt, i.jf, i.k) for i in program.insns)
    if len(_PREPARED) >= 256:
        _PREPARED.clear()
    _PREPARED[id(program)] = (program, rows)
    return rows


def run(program, packet: bytes, wirelen: int | None = None) -> int:
    """Run ``program`` on ``packet`` as libpcap's bpf_filter() does and return its result.

    ``wirelen`` is the original length (``len``/``#pktlen``), default ``len(packet)``; loads past
    the captured bytes return 0, as do division or modulo by X == 0, an unknown opcode, running off
    the end, and Linux ancillary loads (userland has no socket-buffer metadata). Arithmetic is
    32-bit unsigned. The program is trusted: validate it first."""
    if not isinstance(program, Program):
        program = Program.from_tuples(program)
    insns = _prepared(program)
    p = bytes(packet)
    buflen = len(p)
    if wirelen is None:
        wirelen = buflen
    wirelen &= _M32
    n = len(insns)
    A = X = 0
    mem = [0] * MEMWORDS
    backward = 0
    pc = 0
    while pc < n:
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & 0x07
        if cls == 0x05:  # JMP
            op = code & 0xF0
            if op == 0x00:  # ja
                if code != 0x05:
                    return 0
                target = (pc + k) & _M32
                if target >= n:
                    return 0
                if k & 0x80000000:
                    if k == _M32 or backward >= MAX_BACKWARD_JUMPS:
                        return 0
                    backward += 1
                pc = target
                continue
            v = X if code & 0x08 else k
            if op == 0x10:
                cond = A == v
            elif op == 0x20:
                cond = A > v
            elif op == 0x30:
                cond = A >= v
            elif op == 0x40:
                cond = A & v
            else:
                return 0
            pc += jt if cond else jf
        elif cls == 0x00:  # LD
            mode = code & 0xE0
            if mode == 0x20 or mode == 0x40:  # ABS, IND
                off = k if mode == 0x20 else X + k
                size = code & 0x18
                if size == 0x00:
                    if off + 4 > buflen:
                        return 0
                    A = p[off] << 24 | p[off + 1] << 16 | p[off + 2] << 8 | p[off + 3]
                elif size == 0x08:
                    if off + 2 > buflen:
                        return 0
                    A = p[off] << 8 | p[off + 1]
                elif size == 0x10:
                    if off >= buflen:
                        return 0
                    A = p[off]
                else:
                    return 0
            elif code == 0x00:
                A = k
            elif code == 0x60:
                if k >= MEMWORDS:
                    return 0
                A = mem[k]
            elif code == 0x80:
                A = wirelen
            else:
                return 0
        elif cls == 0x06:  # RET
            if code == 0x06:
                return k
            if code == 0x16:
                return A
            return 0
        elif cls == 0x04:  # ALU
            op = code & 0xF0
            if op == 0x80:
                if code != 0x84:
                    return 0
                A = -A & _M32
                continue
            v = X if code & 0x08 else k
            if op == 0x00:
                A = (A + v) & _M32
            elif op == 0x10:
                A = (A - v) & _M32
            elif op == 0x20:
                A = (A * v) & _M32
            elif op == 0x30:
                if v == 0:
                    return 0
                A //= v
            elif op == 0x90:
                if v == 0:
                    return 0
                A %= v
            elif op == 0x50:
                A &= v
            elif op == 0x40:
                A |= v
            elif op == 0xA0:
                A ^= v
            elif op == 0x60:
                A = (A << v) & _M32 if v < 32 else 0
            elif op == 0x70:
                A = A >> v if v < 32 else 0
            else:
                return 0
        elif cls == 0x01:  # LDX
            if code == 0x01:
                X = k
            elif code == 0xB1:
                if k >= buflen:
                    return 0
                X = (p[k] & 0x0F) << 2
            elif code == 0x61:
                if k >= MEMWORDS:
                    return 0
                X = mem[k]
            elif code == 0x81:
                X = wirelen
            else:
                return 0
        elif cls == 0x02:  # ST
            if code != 0x02 or k >= MEMWORDS:
                return 0
            mem[k] = A
        elif cls == 0x03:  # STX
            if code != 0x03 or k >= MEMWORDS:
                return 0
            mem[k] = X
        else:  # MISC
            if code == 0x07:
                X = A
            elif code == 0x87:
                A = X
            else:
                return 0
    return 0
