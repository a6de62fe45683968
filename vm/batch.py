"""Run a loop-free eBPF socket filter over many packets at once with numpy.

Every packet is a lane. Registers are arrays with one value per lane; the program is walked once
in instruction order, and at each pc only the lanes whose path reaches it execute it (all jumps
go forward, so a lane's next instruction is always later in the walk). A conditional jump splits
its lanes between the two successors; ``exit`` records r0 for its lanes.

Packets are given as one flat byte buffer with a start offset and captured length per packet
(for a memory-mapped capture file, the file itself and its record offsets: no copying).

Supported: ALU/ALU64 (but signed div/mod and movsx), JMP/JMP32 conditions, legacy LD_ABS and
LD_IND, 4-byte reads of ``struct __sk_buff`` fields through the context register, 4- and 8-byte
stack slots at fixed offsets from r10, lddw of plain constants, exit. Anything else (calls,
atomics, pointers, back-edges...) makes :func:`compile_batch` return None, and the caller uses
the scalar interpreter. A lane whose LD_IND offset is negative (the kernel's SKF_* areas) is
handed to the scalar interpreter; everything else is computed here, with the kernel's rules:
32-bit ALU results are zero-extended, division by zero gives 0, modulo by zero leaves the
dividend, an out-of-bounds packet load ends the program with 0.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import ebpf
from .ebpf import AluOp, Class, JmpOp, Mode, Size

U64 = np.uint64
M32 = np.uint64(0xFFFFFFFF)
_SIZE = {Size.B: 1, Size.H: 2, Size.W: 4, Size.DW: 8}


class NotBatchable(Exception):
    """The program uses something the batch executor does not model."""


class _Step(namedtuple("_Step", "pc insn kind value", defaults=(0,))):
    """One planned instruction: ``kind`` is alu, jmp, exit, ldabs, ldind, ctx, stack_ld,
    stack_st, lddw, ja or nop; ``value`` the lddw constant (or the ctx field's value)."""

    __slots__ = ()


def _ctx_registers(insns) -> set[int]:
    """Registers that hold the context pointer (r1 at entry, copied by `mov rX, rY`) and are
    never assigned anything else; NotBatchable when a context register is also overwritten."""
    ctx = {1}
    changed = True
    while changed:
        changed = False
        for insn in insns:
            if insn.opcode == (Class.ALU64 | AluOp.MOV | ebpf.Source.X) and insn.src in ctx \
                    and insn.dst not in ctx:
                ctx.add(insn.dst)
                changed = True
    for insn in insns:
        cls = insn.cls
        writes = cls in (Class.ALU, Class.ALU64) or cls == Class.LDX or insn.opcode == ebpf.LDDW
        is_copy = insn.opcode == (Class.ALU64 | AluOp.MOV | ebpf.Source.X) and insn.src in ctx
        if writes and insn.dst in ctx and not is_copy:
            raise NotBatchable(f"context register r{insn.dst} is overwritten")
    return ctx


def _plan(program: ebpf.Program) -> list[_Step | None]:
    insns = program.insns
    ctx = _ctx_registers(insns)
    from .interp import SkBuff
    fields = SkBuff().field_values(0)
    steps: list[_Step | None] = [None] * len(insns)
    pc = 0
    while pc < len(insns):
        insn = insns[pc]
        op, cls = insn.opcode, insn.cls
        if ebpf.form_of(insn) is None:
            raise NotBatchable(f"pc {pc}: illegal instruction")
        if op == ebpf.LDDW:
            if insn.src != 0:
                raise NotBatchable(f"pc {pc}: lddw pseudo source")
            value = ((insns[pc + 1].imm & 0xFFFFFFFF) << 32) | (insn.imm & 0xFFFFFFFF)
            steps[pc] = _Step(pc, insn, "lddw", value)
            pc += 2
            continue
        if cls in (Class.ALU, Class.ALU64):
            alu = op & 0xF0
            if op == (Class.ALU64 | AluOp.MOV | ebpf.Source.X) and insn.src in ctx:
                steps[pc] = _Step(pc, insn, "nop")        # a copy of the context pointer
                pc += 1
                continue
            if insn.dst in ctx or (op & 0x08 and insn.src in ctx):
                raise NotBatchable(f"pc {pc}: arithmetic on the context pointer")
            if insn.off != 0 and alu in (AluOp.DIV, AluOp.MOD, AluOp.MOV):
                raise NotBatchable(f"pc {pc}: signed division or movsx")
            if insn.dst == 10:
                raise NotBatchable(f"pc {pc}: writes r10")
            steps[pc] = _Step(pc, insn, "alu")
        elif cls in (Class.JMP, Class.JMP32):
            jop = op & 0xF0
            if jop == JmpOp.EXIT:
                steps[pc] = _Step(pc, insn, "exit")
            elif jop == JmpOp.CALL:
                raise NotBatchable(f"pc {pc}: call")
            else:
                if insn.off < 0 or (cls == Class.JMP32 and jop == JmpOp.JA):
                    raise NotBatchable(f"pc {pc}: backward jump")
                if jop != JmpOp.JA and (insn.dst in ctx or (op & 0x08 and insn.src in ctx)):
                    raise NotBatchable(f"pc {pc}: compares the context pointer")
                steps[pc] = _Step(pc, insn, "ja" if jop == JmpOp.JA else "jmp")
        elif cls == Class.LD and op & 0xE0 in (Mode.ABS, Mode.IND):
            if _SIZE[op & 0x18] == 8:
                raise NotBatchable(f"pc {pc}: 8-byte legacy packet load")
            if op & 0xE0 == Mode.ABS:
                if insn.imm < 0:
                    raise NotBatchable(f"pc {pc}: SKF_* legacy load")
                steps[pc] = _Step(pc, insn, "ldabs")
            else:
                if insn.src in ctx:
                    raise NotBatchable(f"pc {pc}: LD_IND from the context pointer")
                steps[pc] = _Step(pc, insn, "ldind")
        elif cls == Class.LDX and op & 0xE0 == Mode.MEM:
            size = _SIZE[op & 0x18]
            if insn.src in ctx:
                if size != 4 or insn.off not in fields or insn.off % 4:
                    raise NotBatchable(f"pc {pc}: context field at {insn.off}")
                steps[pc] = _Step(pc, insn, "ctx", fields[insn.off] if insn.off else -1)
            elif insn.src == 10 and size in (4, 8):
                steps[pc] = _Step(pc, insn, "stack_ld")
            else:
                raise NotBatchable(f"pc {pc}: memory load")
        elif cls in (Class.ST, Class.STX) and op & 0xE0 == Mode.MEM and insn.dst == 10 \
                and _SIZE[op & 0x18] in (4, 8):
            if cls == Class.STX and insn.src in ctx:
                raise NotBatchable(f"pc {pc}: spills the context pointer")
            steps[pc] = _Step(pc, insn, "stack_st")
        else:
            raise NotBatchable(f"pc {pc}: {ebpf.form_of(insn).mnemonic}")
        pc += 1
    # stack slots must be used with one size at one offset (no overlapping partial accesses)
    slots: dict[int, int] = {}
    for step in steps:
        if step is not None and step.kind in ("stack_ld", "stack_st"):
            size = _SIZE[step.insn.opcode & 0x18]
            if slots.setdefault(step.insn.off, size) != size:
                raise NotBatchable(f"pc {step.pc}: stack slot {step.insn.off} used with two sizes")
    offs = sorted(slots)
    for a, b in zip(offs, offs[1:]):
        if a + slots[a] > b:
            raise NotBatchable("overlapping stack slots")
    return steps


def _as_signed(values: np.ndarray, bits: int) -> np.ndarray:
    if bits == 32:
        return values.astype(np.uint32).view(np.int32)
    return values.view(np.int64)


class BatchProgram:
    """A verified, loop-free socket filter prepared for lane-parallel execution."""

    def __init__(self, program: ebpf.Program):
        self.program = program
        self.steps = _plan(program)

    # -- packet access ------------------------------------------------------------------------

    @staticmethod
    def _load(views, base, caplen, lanes, off, size, alive):
        """Big-endian loads of ``size`` bytes at per-lane ``off``; clears ``alive`` where out of
        bounds. Returns the values (uint64) for all ``lanes``. ``views`` maps a size to an
        array whose element i is the big-endian value of that many bytes at byte i."""
        inside = (off >= 0) & (off + size <= caplen[lanes])
        alive &= inside
        pos = np.where(inside, base[lanes] + off, 0)
        return views[size][pos].astype(U64)

    @staticmethod
    def _views(buf) -> dict:
        """Overlapping big-endian views of ``buf`` for loads of 1, 2 and 4 bytes at any offset
        (one gather per load instead of one per byte)."""
        buf = np.ascontiguousarray(buf, dtype=np.uint8)
        views = {1: buf}
        for size, dtype in ((2, ">u2"), (4, ">u4")):
            count = max(len(buf) - size + 1, 0)
            if count:
                views[size] = np.ndarray((count,), dtype=dtype, buffer=buf, strides=(1,))
            else:
                views[size] = np.zeros(1, dtype=dtype)
        return views

    # -- execution ----------------------------------------------------------------------------

    def run(self, buf: np.ndarray, base: np.ndarray, caplen: np.ndarray, wirelen: np.ndarray,
            scalar=None) -> np.ndarray:
        """Return values (uint32) for every packet ``i`` = ``buf[base[i]:base[i]+caplen[i]]``.

        ``scalar(i) -> int`` computes one packet with the scalar interpreter; it is called for
        lanes the batch cannot decide (negative LD_IND offsets)."""
        n = len(base)
        result = np.zeros(n, dtype=np.uint32)
        if n == 0:
            return result
        base = np.asarray(base, dtype=np.int64)
        caplen = np.asarray(caplen, dtype=np.int64)
        wirelen = np.asarray(wirelen, dtype=U64)
        views = self._views(buf)
        regs = [np.zeros(n, dtype=U64) for _ in range(11)]
        stack: dict[int, np.ndarray] = {}
        pending: dict[int, list[np.ndarray]] = {0: [np.arange(n, dtype=np.int64)]}
        punted: list[np.ndarray] = []
        steps = self.steps
        for pc, step in enumerate(steps):
            parts = pending.pop(pc, None)
            if parts is None or step is None:
                continue
            lanes = parts[0] if len(parts) == 1 else np.concatenate(parts)
            if len(lanes) == 0:
                continue
            nxt = pc + (2 if step.kind == "lddw" else 1)
            kind = step.kind
            insn = step.insn
            if kind == "exit":
                result[lanes] = (regs[0][lanes] & M32).astype(np.uint32)
                continue
            if kind == "ja":
                pending.setdefault(pc + 1 + insn.off, []).append(lanes)
                continue
            if kind == "jmp":
                taken = self._condition(insn, regs, lanes)
                pending.setdefault(pc + 1 + insn.off, []).append(lanes[taken])
                pending.setdefault(nxt, []).append(lanes[~taken])
                continue
            if kind in ("ldabs", "ldind"):
                size = _SIZE[insn.opcode & 0x18]
                if kind == "ldabs":
                    off = np.full(len(lanes), insn.imm, dtype=np.int64)
                else:
                    raw = (regs[insn.src][lanes] + U64(insn.imm & 0xFFFFFFFF)) & M32
                    off = _as_signed(raw, 32).astype(np.int64)
                    negative = off < 0
                    if negative.any():
                        punted.append(lanes[negative])
                        lanes, off = lanes[~negative], off[~negative]
                alive = np.ones(len(lanes), dtype=bool)
                value = self._load(views, base, caplen, lanes, off, size, alive)
                regs[0][lanes] = value
                # out of bounds: the program ends returning 0 (result stays 0)
                pending.setdefault(nxt, []).append(lanes[alive])
                continue
            if kind == "ctx":
                regs[insn.dst][lanes] = wirelen[lanes] if step.value == -1 else U64(step.value)
            elif kind == "stack_ld":
                slot = stack.get(insn.off)
                regs[insn.dst][lanes] = 0 if slot is None else slot[lanes]
            elif kind == "stack_st":
                slot = stack.setdefault(insn.off, np.zeros(n, dtype=U64))
                mask = M32 if insn.opcode & 0x18 == Size.W else U64(0xFFFFFFFFFFFFFFFF)
                if insn.cls == Class.STX:
                    slot[lanes] = regs[insn.src][lanes] & mask
                else:
                    slot[lanes] = U64(insn.imm & int(mask)) if insn.imm >= 0 else \
                        U64((insn.imm & 0xFFFFFFFFFFFFFFFF) & int(mask))
            elif kind == "lddw":
                regs[insn.dst][lanes] = U64(step.value)
            elif kind == "alu":
                self._alu(insn, regs, lanes)
            pending.setdefault(nxt, []).append(lanes)
        if punted and scalar is not None:
            for i in np.concatenate(punted).tolist():
                result[i] = scalar(i)
        return result

    @staticmethod
    def _operand(insn, regs, lanes) -> np.ndarray:
        if insn.opcode & 0x08:
            return regs[insn.src][lanes]
        imm = insn.imm & 0xFFFFFFFFFFFFFFFF     # sign-extended to 64 bits
        return np.full(len(lanes), imm, dtype=U64)

    def _alu(self, insn, regs, lanes) -> None:
        op = insn.opcode & 0xF0
        is32 = insn.cls == Class.ALU
        dst = regs[insn.dst][lanes]
        if op == AluOp.END:
            bits = insn.imm
            value = dst & U64((1 << bits) - 1)
            if insn.cls == Class.ALU64 or insn.opcode & 0x08:      # bswap, or to-big-endian
                swapped = np.zeros(len(lanes), dtype=U64)
                for i in range(bits // 8):
                    byte = (value >> U64(8 * i)) & U64(0xFF)
                    swapped |= byte << U64(bits - 8 - 8 * i)
                value = swapped
            regs[insn.dst][lanes] = value
            return
        if op == AluOp.NEG:
            out = (U64(0) - dst)
        else:
            src = self._operand(insn, regs, lanes)
            if is32:
                src = src & M32
                dst = dst & M32
            shift_mask = U64(31 if is32 else 63)
            with np.errstate(all="ignore"):
                if op == AluOp.ADD:
                    out = dst + src
                elif op == AluOp.SUB:
                    out = dst - src
                elif op == AluOp.MUL:
                    out = dst * src
                elif op == AluOp.DIV:
                    out = np.where(src == 0, U64(0), dst // np.where(src == 0, U64(1), src))
                elif op == AluOp.MOD:
                    out = np.where(src == 0, dst, dst % np.where(src == 0, U64(1), src))
                elif op == AluOp.OR:
                    out = dst | src
                elif op == AluOp.AND:
                    out = dst & src
                elif op == AluOp.XOR:
                    out = dst ^ src
                elif op == AluOp.LSH:
                    out = dst << (src & shift_mask)
                elif op == AluOp.RSH:
                    out = dst >> (src & shift_mask)
                elif op == AluOp.ARSH:
                    signed = _as_signed(dst, 32 if is32 else 64).astype(np.int64)
                    out = (signed >> (src & shift_mask).astype(np.int64)).view(U64)
                elif op == AluOp.MOV:
                    out = src
                else:
                    raise NotBatchable(f"alu op {op:#x}")
        regs[insn.dst][lanes] = out & M32 if is32 else out

    def _condition(self, insn, regs, lanes) -> np.ndarray:
        op = insn.opcode & 0xF0
        is32 = insn.cls == Class.JMP32
        a = regs[insn.dst][lanes]
        b = self._operand(insn, regs, lanes)
        if is32:
            a, b = a & M32, b & M32
        if op in (JmpOp.JSGT, JmpOp.JSGE, JmpOp.JSLT, JmpOp.JSLE):
            bits = 32 if is32 else 64
            a, b = _as_signed(a, bits), _as_signed(b, bits)
        if op == JmpOp.JEQ:
            return a == b
        if op == JmpOp.JNE:
            return a != b
        if op in (JmpOp.JGT, JmpOp.JSGT):
            return a > b
        if op in (JmpOp.JGE, JmpOp.JSGE):
            return a >= b
        if op in (JmpOp.JLT, JmpOp.JSLT):
            return a < b
        if op in (JmpOp.JLE, JmpOp.JSLE):
            return a <= b
        if op == JmpOp.JSET:
            return (a & b) != 0
        raise NotBatchable(f"jump op {op:#x}")


def compile_batch(program: ebpf.Program) -> BatchProgram | None:
    """A BatchProgram for ``program``, or None when it needs the scalar interpreter."""
    try:
        return BatchProgram(program)
    except NotBatchable:
        return None


def pack(packets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lay packets (bytes) out as one buffer: (buf, base, caplen)."""
    caplen = np.fromiter((len(p) for p in packets), dtype=np.int64, count=len(packets))
    base = np.zeros(len(packets), dtype=np.int64)
    if len(packets) > 1:
        np.cumsum(caplen[:-1], out=base[1:])
    buf = np.frombuffer(b"".join(packets) + b"\0", dtype=np.uint8)
    return buf, base, caplen


def run_many(program: ebpf.Program, packets, wirelens=None) -> list[int]:
    """Filter results for each packet: batched when possible, else one by one in the scalar
    interpreter. Same values as ``vm.interp.run`` on each packet."""
    from . import interp
    packets = [bytes(p) for p in packets]
    wirelens = [len(p) for p in packets] if wirelens is None else list(wirelens)
    batch = compile_batch(program)
    if batch is None:
        return [interp.run(program, p, w) for p, w in zip(packets, wirelens)]
    buf, base, caplen = pack(packets)
    out = batch.run(buf, base, caplen, np.asarray(wirelens, dtype=np.uint64),
                    scalar=lambda i: interp.run(program, packets[i], wirelens[i]))
    return out.tolist()
