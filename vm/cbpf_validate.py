"""Classic BPF validation: Linux's classic checker (sk_chk_filter) or libpcap's userland rules.

``vm.cbpf`` re-exports ``validate``, ``is_valid`` and ``ValidationError``; they live here so that
a job that only compiles and prints a program does not load them.
"""

from __future__ import annotations

from .cbpf import (ANCILLARY_NAMES, LIBPCAP_MAXINSNS, MAXINSNS, MEMWORDS, OPCODES, SKF_AD_OFF,
                   AluOp, Class, Insn, JmpOp, Mode, Operand, Program, Src, _s32)


class ValidationError(ValueError):
    """A program breaks a rule; ``.pc`` is the offending instruction (None: whole program)."""

    def __init__(self, pc: int | None, rule: str):
        self.pc = pc
        self.rule = rule
        super().__init__(f"pc {pc}: {rule}" if pc is not None else rule)


_MODES = ("kernel", "libpcap")


def validate(program, mode: str = "kernel") -> None:
    """Check ``program`` against Linux's classic-BPF rules (mode "kernel", as sk_attach_filter does)
    or against libpcap's userland rules (mode "libpcap": no length cap beyond libpcap's, backward
    ``ja`` allowed as its protochain code uses, scratch memory not tracked). Raises ValidationError.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be 'kernel' or 'libpcap', not {mode!r}")
    insns = program.insns if isinstance(program, Program) else Program.from_tuples(program).insns
    kernel = mode == "kernel"
    n = len(insns)
    limit = MAXINSNS if kernel else LIBPCAP_MAXINSNS
    if n == 0:
        raise ValidationError(None, "empty program")
    if n > limit:
        raise ValidationError(None, f"program has {n} instructions, more than {limit}")
    for pc, insn in enumerate(insns):
        _check_insn(pc, insn, n, kernel)
    last = insns[-1]
    if last.cls != Class.RET:
        raise ValidationError(n - 1, "last instruction is not a return")
    if kernel:
        _check_scratch(insns)


def _check_insn(pc: int, insn: Insn, n: int, kernel: bool) -> None:
    code, k = insn.code, insn.k
    spec = OPCODES.get(code)
    if spec is None or not (spec.kernel if kernel else spec.libpcap):
        raise ValidationError(pc, f"unknown opcode 0x{code:02x}")
    if not (0 <= insn.jt <= 0xFF and 0 <= insn.jf <= 0xFF and 0 <= k <= 0xFFFFFFFF):
        raise ValidationError(pc, "field out of range")
    cls, op = code & 0x07, code & 0xF0
    if cls == Class.ALU and code & Src.X == Src.K:
        if op in (AluOp.DIV, AluOp.MOD) and k == 0:
            raise ValidationError(pc, "division by zero")
        if op in (AluOp.LSH, AluOp.RSH) and k >= 32:
            raise ValidationError(pc, f"shift by {k} out of range")
    elif spec.operand is Operand.MEM:
        if k >= MEMWORDS:
            raise ValidationError(pc, f"scratch memory index {_s32(k)} out of range")
    elif cls == Class.JMP:
        if op == JmpOp.JA:
            if kernel:
                if k >= n - pc - 1:
                    raise ValidationError(pc, "jump out of range")
            else:
                if (pc + 1 + k) & 0xFFFFFFFF >= n:
                    raise ValidationError(pc, "jump out of range")
                if k == 0xFFFFFFFF:
                    raise ValidationError(pc, "jump to itself")
        elif pc + 1 + insn.jt >= n or pc + 1 + insn.jf >= n:
            raise ValidationError(pc, "jump out of range")
    elif (
        kernel
        and spec.operand is Operand.ABS
        and k >= SKF_AD_OFF
        and (k - SKF_AD_OFF) not in ANCILLARY_NAMES
    ):
        raise ValidationError(pc, f"unknown ancillary load {_s32(k)}")


def _check_scratch(insns) -> None:
    """Scratch memory must be written before it is read on every path (kernel's rule: the set of
    written cells flows forward along jumps and is intersected where paths meet)."""
    n = len(insns)
    everything = (1 << MEMWORDS) - 1
    incoming = [everything] * n
    written = 0
    for pc, insn in enumerate(insns):
        written &= incoming[pc]
        code = insn.code
        if code in (Class.ST, Class.STX):
            written |= 1 << insn.k
        elif code in (Class.LD | Mode.MEM, Class.LDX | Mode.MEM):
            if not written >> insn.k & 1:
                raise ValidationError(pc, f"scratch memory M[{insn.k}] read before written")
        elif code & 0x07 == Class.JMP:
            if code & 0xF0 == JmpOp.JA:
                incoming[pc + 1 + insn.k] &= written
            else:
                incoming[pc + 1 + insn.jt] &= written
                incoming[pc + 1 + insn.jf] &= written
            written = everything


def is_valid(program, mode: str = "kernel") -> bool:
    try:
        validate(program, mode)
    except ValidationError:
        return False
    return True
