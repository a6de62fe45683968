"""Classic BPF -> eBPF, the way Linux's bpf_convert_filter() converts socket filters.

The result is meant to be loaded through bpf(2) as a BPF_PROG_TYPE_SOCKET_FILTER, so it uses
what such a program may use: ``struct __sk_buff`` fields for LEN and the ancillary loads, the
legacy LD_ABS/LD_IND instructions for packet loads (out of bounds -> the program returns 0),
and only helpers a socket filter may call.

Register mapping (as in the kernel): A = r0, X = r7, the context is saved in r6, r2 is a
temporary, M[k] lives on the stack at r10 - (16 - k) * 4.  r8 counts iterations of backward
jumps (libpcap's protochain loop) so that the loop is bounded: after ``LOOP_LIMIT`` backward
jumps the program returns 0.

``translate(prog)`` returns a :class:`Translation` (the program plus the cBPF <-> eBPF pc
mapping, for error messages); ``to_ebpf(prog)`` returns just the program.  Bad classic
programs raise :class:`TranslateError` naming the cBPF pc.

Differences from the kernel's in-kernel conversion, all forced by loading through bpf(2):
- A and X are zeroed with ``mov 0`` rather than ``xor`` (the eBPF verifier refuses reading an
  uninitialized register, even to xor it with itself);
- instructions unreachable from pc 0 are dropped (the eBPF verifier refuses dead code);
- scratch words that some path may read before writing are zeroed in the prologue (the kernel
  refuses such classic programs; libpcap's interpreter reads them as 0);
- LD_ABS/LD_IND stay as legacy eBPF packet loads instead of direct skb->data accesses;
- SKF_AD_* loads map to ``struct __sk_buff`` fields or helpers; those with no socket-filter
  equivalent (hatype, pay_offset, nlattr, nlattr_nest) raise ``TranslateError``;
- backward jumps (only ``ja`` can go backward) get the r8 loop counter described above.

Runtime semantics are the kernel's, which differ from libpcap's bpf_filter in corners libpcap's
own compiler never reaches: LD_IND computes X + k modulo 2**32 (libpcap refuses the overflow
and returns 0), and negative offsets in the SKF_NET_OFF / SKF_LL_OFF ranges address the
network / link-layer header.
"""
from __future__ import annotations

from collections import namedtuple

from . import cbpf, ebpf

# Registers.
REG_A, REG_X, REG_TMP, REG_CTX, REG_LOOP, REG_FP = 0, 7, 2, 6, 8, 10

# Backward jumps allowed per run before the program returns 0: the same budget as libpcap's
# bpf_filter (and vm.cbpf.run), so the translation gives up exactly where the interpreter does.
LOOP_LIMIT = getattr(cbpf, "MAX_BACKWARD_JUMPS", 64)

SKF_AD_OFF = -0x1000
SKF_NET_OFF = -0x100000
SKF_LL_OFF = -0x200000

# struct __sk_buff offsets (include/uapi/linux/bpf.h).
SKB_LEN, SKB_PKT_TYPE, SKB_MARK, SKB_QUEUE_MAPPING, SKB_PROTOCOL = 0, 4, 8, 12, 16
SKB_VLAN_PRESENT, SKB_VLAN_TCI, SKB_VLAN_PROTO, SKB_IFINDEX, SKB_HASH = 20, 24, 28, 40, 68

HELPER_GET_PRANDOM_U32 = 7
HELPER_GET_SMP_PROCESSOR_ID = 8

# SKF_AD_* (offset from SKF_AD_OFF) -> its name, for error messages.
ANCILLARY = {
    0: "protocol", 4: "pkttype", 8: "ifindex", 12: "nlattr", 16: "nlattr_nest", 20: "mark",
    24: "queue", 28: "hatype", 32: "rxhash", 36: "cpu", 40: "alu_xor_x", 44: "vlan_tci",
    48: "vlan_avail", 52: "pay_offset", 56: "random", 60: "vlan_tpid",
}

_ALU32, _ALU64, _JMP = ebpf.Class.ALU, ebpf.Class.ALU64, ebpf.Class.JMP
_X = ebpf.Source.X


class TranslateError(ValueError):
    """A classic program that has no socket-filter eBPF equivalent; names the cBPF pc."""


class Translation(namedtuple("Translation", "program starts origin")):
    """The eBPF ``program`` and the pc mapping both ways (a NamedTuple).

    ``starts[cpc]`` is the first eBPF pc emitted for cBPF pc ``cpc`` (None when that
    instruction was unreachable and dropped); ``origin[epc]`` is the cBPF pc an eBPF
    instruction came from (-1 for the prologue and the loop-bound epilogue).
    """

    __slots__ = ()

    def ebpf_pc(self, cbpf_pc: int):
        return self.starts[cbpf_pc]

    def cbpf_pc(self, ebpf_pc: int) -> int:
        return self.origin[ebpf_pc]


# --- small builders -------------------------------------------------------------------------

def _i(opcode, dst=0, src=0, off=0, imm=0) -> ebpf.Insn:
    imm &= 0xFFFFFFFF
    if imm >= 0x80000000:
        imm -= 0x100000000
    return ebpf.Insn(opcode, dst, src, off, imm)


def _alu32_imm(op, dst, imm):
    return _i(_ALU32 | op, dst, 0, 0, imm)


def _alu32_reg(op, dst, src):
    return _i(_ALU32 | op | _X, dst, src)


def _mov64_reg(dst, src):
    return _i(_ALU64 | ebpf.AluOp.MOV | _X, dst, src)


def _ldx_w(dst, src, off):
    return _i(ebpf.Class.LDX | ebpf.Mode.MEM | ebpf.Size.W, dst, src, off)


def _stx_w(dst, src, off):
    return _i(ebpf.Class.STX | ebpf.Mode.MEM | ebpf.Size.W, dst, src, off)


def _st_w(dst, off, imm):
    return _i(ebpf.Class.ST | ebpf.Mode.MEM | ebpf.Size.W, dst, 0, off, imm)


def _be16(dst):
    return _i(_ALU32 | ebpf.AluOp.END | ebpf.Source.X, dst, 0, 0, 16)


def _call(helper):
    return _i(_JMP | ebpf.JmpOp.CALL, 0, 0, 0, helper)


_EXIT = _i(_JMP | ebpf.JmpOp.EXIT)


def _mem_off(k: int) -> int:
    return -(cbpf.MEMWORDS - k) * 4


class _Jump:
    """A jump whose offset is resolved once every instruction's eBPF position is known."""
    __slots__ = ("insn", "target")

    def __init__(self, insn: ebpf.Insn, target):
        self.insn = insn            # template; off filled in later
        self.target = target        # ("c", cbpf_pc) | ("loop_exit",)


# --- analysis ---------------------------------------------------------------------------------

def _successors(prog: cbpf.Program, pc: int) -> list[int]:
    insn = prog[pc]
    cls = insn.code & 0x07
    if cls == cbpf.Class.RET:
        return []
    if cls == cbpf.Class.JMP:
        if insn.code & 0xF0 == cbpf.JmpOp.JA:
            k = insn.k - (1 << 32) if insn.k >= 0x80000000 else insn.k
            return [pc + 1 + k]
        return [pc + 1 + insn.jt, pc + 1 + insn.jf]
    return [pc + 1]


def _reachable(prog: cbpf.Program) -> list[bool]:
    seen = [False] * len(prog)
    todo = [0] if len(prog) else []
    while todo:
        pc = todo.pop()
        if seen[pc]:
            continue
        seen[pc] = True
        for nxt in _successors(prog, pc):
            if not 0 <= nxt < len(prog):
                raise TranslateError(f"pc {pc}: jump out of range (target {nxt})")
            todo.append(nxt)
    return seen


def _mem_access(insn: cbpf.Insn):
    """('r'|'w', k) for scratch-memory accesses, else None."""
    code = insn.code
    if code in (cbpf.Class.LD | cbpf.Mode.MEM, cbpf.Class.LDX | cbpf.Mode.MEM):
        return "r", insn.k
    if code in (cbpf.Class.ST, cbpf.Class.STX):
        return "w", insn.k
    return None


def _maybe_uninit_reads(prog: cbpf.Program, live: list[bool]) -> set[int]:
    """Scratch words some path may read before any write (forward must-write analysis)."""
    n = len(prog)
    full = frozenset(range(cbpf.MEMWORDS))
    written_in: list = [None] * n          # None = not yet reached (top)
    written_in[0] = frozenset()
    work = [0]
    while work:
        pc = work.pop()
        w = written_in[pc]
        acc = _mem_access(prog[pc])
        out = w | {acc[1]} if acc and acc[0] == "w" and acc[1] < cbpf.MEMWORDS else w
        for nxt in _successors(prog, pc):
            old = written_in[nxt]
            new = out if old is None else (old & out)
            if new != old:
                written_in[nxt] = new
                work.append(nxt)
    need = set()
    for pc in range(n):
        if not live[pc] or written_in[pc] is None:
            continue
        acc = _mem_access(prog[pc])
        if acc and acc[0] == "r" and acc[1] not in written_in[pc] and acc[1] in full:
            need.add(acc[1])
    return need


# --- per-instruction conversion ------------------------------------------------------------

def _convert_one(pc: int, insn: cbpf.Insn, out: list) -> None:
    code, k = insn.code, insn.k
    cls = code & 0x07
    sk = k - (1 << 32) if k >= 0x80000000 else k

    if cls == cbpf.Class.ALU:
        op = code & 0xF0
        if op not in {o.value for o in cbpf.AluOp}:
            raise TranslateError(f"pc {pc}: unknown ALU operation 0x{code:02x}")
        if op == cbpf.AluOp.NEG:
            out.append(_i(_ALU32 | ebpf.AluOp.NEG, REG_A))
            return
        if code & cbpf.Src.X:
            if op in (cbpf.AluOp.DIV, cbpf.AluOp.MOD):
                # if (X == 0) return 0;
                out.append(_i(_JMP | ebpf.JmpOp.JNE, REG_X, 0, 2, 0))
                out.append(_alu32_reg(ebpf.AluOp.XOR, REG_A, REG_A))
                out.append(_EXIT)
            out.append(_alu32_reg(op, REG_A, REG_X))
            return
        if op in (cbpf.AluOp.DIV, cbpf.AluOp.MOD) and k == 0:
            raise TranslateError(f"pc {pc}: division by constant zero")
        if op in (cbpf.AluOp.LSH, cbpf.AluOp.RSH) and k >= 32:
            raise TranslateError(f"pc {pc}: shift by {k} out of range")
        out.append(_alu32_imm(op, REG_A, k))
        return

    if cls == cbpf.Class.JMP:
        op = code & 0xF0
        if op == cbpf.JmpOp.JA:
            out.append(_Jump(_i(_JMP | ebpf.JmpOp.JA), ("c", pc + 1 + sk)))
            return
        if op not in (cbpf.JmpOp.JEQ, cbpf.JmpOp.JGT, cbpf.JmpOp.JGE, cbpf.JmpOp.JSET):
            raise TranslateError(f"pc {pc}: unknown jump operation 0x{code:02x}")
        if code & cbpf.Src.X:
            src, imm, bsrc = REG_X, 0, _X
        elif sk < 0:
            # eBPF immediates are sign-extended: compare against a zero-extended register
            out.append(_i(_ALU32 | ebpf.AluOp.MOV, REG_TMP, 0, 0, k))
            src, imm, bsrc = REG_TMP, 0, _X
        else:
            src, imm, bsrc = 0, k, ebpf.Source.K
        jt, jf = pc + 1 + insn.jt, pc + 1 + insn.jf
        if insn.jf == 0:
            out.append(_Jump(_i(_JMP | op | bsrc, REG_A, src, 0, imm), ("c", jt)))
            return
        inverse = {cbpf.JmpOp.JEQ: ebpf.JmpOp.JNE, cbpf.JmpOp.JGT: ebpf.JmpOp.JLE,
                   cbpf.JmpOp.JGE: ebpf.JmpOp.JLT}.get(op)
        if insn.jt == 0 and inverse is not None:
            out.append(_Jump(_i(_JMP | inverse | bsrc, REG_A, src, 0, imm), ("c", jf)))
            return
        out.append(_Jump(_i(_JMP | op | bsrc, REG_A, src, 0, imm), ("c", jt)))
        out.append(_Jump(_i(_JMP | ebpf.JmpOp.JA), ("c", jf)))
        return

    if cls == cbpf.Class.RET:
        rval = code & 0x18
        if rval == cbpf.RetVal.K:
            out.append(_i(_ALU32 | ebpf.AluOp.MOV, REG_A, 0, 0, k))
        elif rval == cbpf.RetVal.X:
            out.append(_i(_ALU64 | ebpf.AluOp.MOV | _X, REG_A, REG_X))
        out.append(_EXIT)
        return

    if cls == cbpf.Class.MISC:
        if code & 0xF8 == cbpf.MiscOp.TAX:
            out.append(_mov64_reg(REG_X, REG_A))
        elif code & 0xF8 == cbpf.MiscOp.TXA:
            out.append(_mov64_reg(REG_A, REG_X))
        else:
            raise TranslateError(f"pc {pc}: unknown misc operation 0x{code:02x}")
        return

    if cls in (cbpf.Class.ST, cbpf.Class.STX):
        if k >= cbpf.MEMWORDS:
            raise TranslateError(f"pc {pc}: scratch memory index {k} out of range")
        out.append(_stx_w(REG_FP, REG_A if cls == cbpf.Class.ST else REG_X, _mem_off(k)))
        return

    mode, size = code & 0xE0, code & 0x18
    if cls == cbpf.Class.LDX:
        if code == cbpf.Class.LDX | cbpf.Mode.MSH | cbpf.Size.B:
            # X = 4 * (P[k] & 0xf), A preserved
            out.append(_mov64_reg(REG_X, REG_A))
            out.append(_i(ebpf.Class.LD | ebpf.Mode.ABS | ebpf.Size.B, 0, 0, 0, k))
            out.append(_alu32_imm(ebpf.AluOp.AND, REG_A, 0xF))
            out.append(_alu32_imm(ebpf.AluOp.LSH, REG_A, 2))
            out.append(_mov64_reg(REG_TMP, REG_X))
            out.append(_mov64_reg(REG_X, REG_A))
            out.append(_mov64_reg(REG_A, REG_TMP))
            return
        if size != cbpf.Size.W:
            raise TranslateError(f"pc {pc}: unknown ldx size in 0x{code:02x}")
        if mode == cbpf.Mode.IMM:
            out.append(_i(_ALU32 | ebpf.AluOp.MOV, REG_X, 0, 0, k))
        elif mode == cbpf.Mode.MEM:
            if k >= cbpf.MEMWORDS:
                raise TranslateError(f"pc {pc}: scratch memory index {k} out of range")
            out.append(_ldx_w(REG_X, REG_FP, _mem_off(k)))
        elif mode == cbpf.Mode.LEN:
            out.append(_ldx_w(REG_X, REG_CTX, SKB_LEN))
        else:
            raise TranslateError(f"pc {pc}: unknown ldx mode in 0x{code:02x}")
        return

    # cls == LD
    if mode == cbpf.Mode.IMM and size == cbpf.Size.W:
        out.append(_i(_ALU32 | ebpf.AluOp.MOV, REG_A, 0, 0, k))
    elif mode == cbpf.Mode.MEM and size == cbpf.Size.W:
        if k >= cbpf.MEMWORDS:
            raise TranslateError(f"pc {pc}: scratch memory index {k} out of range")
        out.append(_ldx_w(REG_A, REG_FP, _mem_off(k)))
    elif mode == cbpf.Mode.LEN and size == cbpf.Size.W:
        out.append(_ldx_w(REG_A, REG_CTX, SKB_LEN))
    elif mode == cbpf.Mode.ABS and size in (cbpf.Size.W, cbpf.Size.H, cbpf.Size.B):
        if SKF_AD_OFF <= sk < SKF_AD_OFF + 0x1000 and sk - SKF_AD_OFF in ANCILLARY:
            _convert_ancillary(pc, sk - SKF_AD_OFF, out)
        elif SKF_AD_OFF <= sk < 0 and sk < SKF_AD_OFF + 0x1000:
            raise TranslateError(f"pc {pc}: unknown ancillary load {sk - SKF_AD_OFF}")
        else:
            out.append(_i(ebpf.Class.LD | ebpf.Mode.ABS | size, 0, 0, 0, k))
    elif mode == cbpf.Mode.IND and size in (cbpf.Size.W, cbpf.Size.H, cbpf.Size.B):
        out.append(_i(ebpf.Class.LD | ebpf.Mode.IND | size, 0, REG_X, 0, k))
    else:
        raise TranslateError(f"pc {pc}: unknown load 0x{code:02x}")


def _convert_ancillary(pc: int, ad: int, out: list) -> None:
    name = ANCILLARY[ad]
    field = {"pkttype": SKB_PKT_TYPE, "ifindex": SKB_IFINDEX, "mark": SKB_MARK,
             "queue": SKB_QUEUE_MAPPING, "rxhash": SKB_HASH, "vlan_tci": SKB_VLAN_TCI,
             "vlan_avail": SKB_VLAN_PRESENT}
    if name in field:
        out.append(_ldx_w(REG_A, REG_CTX, field[name]))
    elif name in ("protocol", "vlan_tpid"):
        out.append(_ldx_w(REG_A, REG_CTX, SKB_PROTOCOL if name == "protocol" else SKB_VLAN_PROTO))
        out.append(_be16(REG_A))
    elif name == "alu_xor_x":
        out.append(_alu32_reg(ebpf.AluOp.XOR, REG_A, REG_X))
    elif name in ("cpu", "random"):
        # a helper call clobbers r1-r5 only; A receives the result
        out.append(_call(HELPER_GET_SMP_PROCESSOR_ID if name == "cpu" else HELPER_GET_PRANDOM_U32))
    else:
        raise TranslateError(f"pc {pc}: ancillary load '{name}' has no socket-filter equivalent")


# --- driver ------------------------------------------------------------------------------------

def translate(prog: cbpf.Program) -> Translation:
    """Convert a classic program; returns the eBPF program and its pc mapping."""
    n = len(prog)
    if n == 0:
        raise TranslateError("pc 0: empty program")
    if n > cbpf.MAXINSNS:
        raise TranslateError(f"pc {cbpf.MAXINSNS}: program longer than {cbpf.MAXINSNS} instructions")
    live = _reachable(prog)
    backward = any(live[pc] and any(t <= pc for t in _successors(prog, pc)) for pc in range(n))

    # The kernel zeroes A and X with xor; the eBPF verifier (ours and Linux's) refuses that as a
    # read of an uninitialized register, so a move of 0 does it.
    prologue = [_i(_ALU32 | ebpf.AluOp.MOV, REG_A, 0, 0, 0),
                _i(_ALU32 | ebpf.AluOp.MOV, REG_X, 0, 0, 0),
                _mov64_reg(REG_CTX, 1)]
    for k in sorted(_maybe_uninit_reads(prog, live)):
        prologue.append(_st_w(REG_FP, _mem_off(k), 0))
    if backward:
        prologue.append(_i(_ALU64 | ebpf.AluOp.MOV, REG_LOOP, 0, 0, 0))

    pieces: list = [None] * n
    for pc, insn in enumerate(prog):
        if not live[pc]:
            continue
        body: list = []
        _convert_one(pc, insn, body)
        if backward:
            body = _bound_backward(pc, body)
        pieces[pc] = body

    # layout
    starts: list = [None] * n
    origin = [-1] * len(prologue)
    epc = len(prologue)
    for pc in range(n):
        if pieces[pc] is None:
            continue
        starts[pc] = epc
        epc += len(pieces[pc])
        origin.extend([pc] * len(pieces[pc]))
    loop_exit = None
    tail: list = []
    if backward:
        loop_exit = epc
        tail = [_alu32_reg(ebpf.AluOp.XOR, REG_A, REG_A), _EXIT]
        origin.extend([-1, -1])

    insns = list(prologue)
    epc = len(prologue)
    for pc in range(n):
        for item in pieces[pc] or ():
            if isinstance(item, _Jump):
                dest = loop_exit if item.target[0] == "loop_exit" else starts[item.target[1]]
                off = dest - epc - 1
                if not -0x8000 <= off < 0x8000:
                    raise TranslateError(f"pc {pc}: jump offset {off} does not fit in 16 bits")
                t = item.insn
                item = ebpf.Insn(t.opcode, t.dst, t.src, off, t.imm)
            insns.append(item)
            epc += 1
    insns.extend(tail)
    return Translation(ebpf.Program(insns), tuple(starts), tuple(origin))


def _bound_backward(pc: int, body: list) -> list:
    """Put a loop counter in front of every backward jump of one converted instruction."""
    out = []
    for item in body:
        if isinstance(item, _Jump) and item.target[0] == "c" and item.target[1] <= pc:
            if item.insn.opcode != _JMP | ebpf.JmpOp.JA:
                raise TranslateError(f"pc {pc}: conditional backward jump")
            out.append(_i(_ALU64 | ebpf.AluOp.ADD, REG_LOOP, 0, 0, 1))
            out.append(_Jump(_i(_JMP | ebpf.JmpOp.JGT, REG_LOOP, 0, 0, LOOP_LIMIT), ("loop_exit",)))
        out.append(item)
    return out


def to_ebpf(prog: cbpf.Program) -> ebpf.Program:
    """The eBPF program for a classic one (see ``translate`` for the pc mapping)."""
    return translate(prog).program
