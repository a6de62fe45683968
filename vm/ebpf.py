"""eBPF (RFC 9669): instructions, encode/decode, legality table, assembler and disassembler.

Core model (stable, used by translate/verifier/interp): ``Insn(opcode, dst, src, off, imm)``;
an LD_IMM64 occupies two slots: the first Insn carries the low 32 bits in ``imm`` and the
second (opcode 0) the high 32 bits in its ``imm``, exactly as on the wire.

Legality lives in one table, :data:`FORMS`: each :class:`Form` names an opcode, the range each
field may take, the mnemonic and the operand syntax.  :func:`form_of` finds the form of an
instruction, :func:`validate` checks a whole program, and the disassembler prints through the
same forms; an instruction that matches no form prints as ``.raw 0x<64-bit word>``.

The assembly syntax is the one of the bpf_conformance suite: ``mov %r0, 1``, ``add32 %r1, %r2``,
``ldxdw %r0, [%r1+8]``, ``stw [%r10-4], 7``, ``jeq %r1, 0, +2`` or a label, ``lddw %r0, 0x...``,
``lock fetch add [%r10-8], %r1``, ``call 5``, ``call local label``, ``call %r2``, ``exit``,
``label:`` lines and ``#`` comments.  Additions of ours for what that suite has no syntax for:
``call runtime N`` (src=2), ``ldabsw 12``/``ldindb %r7, 14`` (legacy packet loads),
``lddw %r1, map_fd(3)`` and the other LD_IMM64 pseudo sources (see :data:`PSEUDO_NAMES`).
The assembler and the disassembler are in ``vm.ebpf_asm``, which :func:`assemble`,
:func:`disassemble` and ``Program.format`` load on first use: translating, verifying and
running programs needs neither.
"""
from __future__ import annotations

import struct
from collections import namedtuple
from .enums import int_enum

from .sequence import InsnSequence

@int_enum
class Class:
    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    JMP32 = 0x06
    ALU64 = 0x07


@int_enum
class Source:
    K = 0x00
    X = 0x08


@int_enum
class AluOp:
    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80
    MOD = 0x90
    XOR = 0xA0
    MOV = 0xB0
    ARSH = 0xC0
    END = 0xD0


@int_enum
class JmpOp:
    JA = 0x00
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40
    JNE = 0x50
    JSGT = 0x60
    JSGE = 0x70
    CALL = 0x80
    EXIT = 0x90
    JLT = 0xA0
    JLE = 0xB0
    JSLT = 0xC0
    JSLE = 0xD0


@int_enum
class Size:
    W = 0x00
    H = 0x08
    B = 0x10
    DW = 0x18


@int_enum
class Mode:
    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    MEMSX = 0x80
    ATOMIC = 0xC0


@int_enum
class AtomicOp:
    """``imm`` of a BPF_STX | BPF_ATOMIC instruction."""
    ADD = 0x00
    OR = 0x40
    AND = 0x50
    XOR = 0xA0
    FETCH_ADD = 0x01
    FETCH_OR = 0x41
    FETCH_AND = 0x51
    FETCH_XOR = 0xA1
    XCHG = 0xE1
    CMPXCHG = 0xF1


FETCH = 0x01


@int_enum
class Pseudo:
    """``src`` of an LD_IMM64 instruction (RFC 9669 section 5.4)."""
    IMM64 = 0
    MAP_FD = 1
    MAP_VALUE = 2
    BTF_ID = 3
    FUNC = 4
    MAP_IDX = 5
    MAP_IDX_VALUE = 6


@int_enum
class CallSrc:
    """``src`` of a BPF_CALL instruction."""
    HELPER = 0
    LOCAL = 1
    KFUNC = 2


MAX_REG = 10           # r0..r10; r10 is the read-only frame pointer
STACK_SIZE = 512       # MAX_BPF_STACK
LDDW = Class.LD | Size.DW | Mode.IMM     # 0x18


_INSN = struct.Struct("<BBhi")


class Insn(namedtuple("Insn", "opcode dst src off imm", defaults=(0, 0, 0, 0))):
    """One 8-byte eBPF instruction slot: ``opcode``, ``dst``, ``src``, ``off`` (signed 16-bit),
    ``imm`` (signed 32-bit) (a NamedTuple)."""

    __slots__ = ()

    @property
    def cls(self) -> int:
        return self.opcode & 0x07

    def encode(self) -> bytes:
        return _INSN.pack(self.opcode, (self.src << 4) | self.dst, self.off, self.imm)

    @classmethod
    def decode(cls, raw: bytes) -> "Insn":
        opcode, regs, off, imm = _INSN.unpack(raw)
        return cls(opcode, regs & 0x0F, regs >> 4, off, imm)


class Program(InsnSequence):
    """An ordered tuple of instruction slots, ``insns`` (LD_IMM64 takes two; frozen; equal when
    the instructions are)."""

    __slots__ = ("insns",)

    def encode(self) -> bytes:
        return b"".join(i.encode() for i in self.insns)

    def format(self, *, labels: bool = False) -> str:
        """The program as assembly text (see :func:`disassemble`)."""
        return disassemble(self, labels=labels)

    def validate(self) -> None:
        """Raise :class:`IllegalInsn` naming the pc of the first illegal instruction."""
        validate(self)

    @classmethod
    def decode(cls, raw: bytes) -> "Program":
        if len(raw) % 8:
            raise ValueError(f"eBPF program length {len(raw)} is not a multiple of 8")
        return cls(Insn.decode(raw[o:o + 8]) for o in range(0, len(raw), 8))


def encode(program: Program) -> bytes:
    """The program as bytes, 8 per instruction slot (little-endian, as the kernel takes it)."""
    return program.encode()


def decode(raw: bytes) -> Program:
    """The Program of ``raw`` (lossless: any 8-byte slots decode; see :func:`validate`)."""
    return Program.decode(raw)


# ---------------------------------------------------------------------------------------------
# Errors

class EbpfError(ValueError):
    """Base of the errors this module raises for bad input."""


class IllegalInsn(EbpfError):
    """An instruction no form accepts, or a malformed program structure; names the pc."""

    def __init__(self, pc: int, reason: str):
        super().__init__(f"pc {pc}: {reason}")
        self.pc = pc
        self.reason = reason


class AsmError(EbpfError):
    """Bad assembly text; names the 1-based line."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# The legality table

Range = tuple[int, int]
REG: Range = (0, MAX_REG)
ZERO: Range = (0, 0)
OFF16: Range = (-0x8000, 0x7FFF)
IMM32: Range = (-0x80000000, 0x7FFFFFFF)


def _one(value: int) -> Range:
    return (value, value)


# Operand syntaxes (the text after the mnemonic) and how many operands each takes.
SYNTAX_OPERANDS = {
    "dst_imm": 2,       # mov %r0, 1
    "dst_src": 2,       # mov %r0, %r1
    "dst": 1,           # neg %r0 / le16 %r0
    "ja": 1,            # ja +3
    "ja32": 1,          # ja32 +3  (offset in imm)
    "jmp_imm": 3,       # jeq %r1, 0, +2
    "jmp_src": 3,       # jeq %r1, %r2, +2
    "call": 1,          # call 5
    "call_local": 1,    # call local +3
    "call_runtime": 1,  # call runtime 7
    "callx": 1,         # call %r2
    "none": 0,          # exit
    "lddw": 2,          # lddw %r0, 0x1122334455667788 / lddw %r1, map_fd(3)
    "ldabs": 1,         # ldabsw 12
    "ldind": 2,         # ldindw %r7, 12
    "load": 2,          # ldxw %r0, [%r1+4]
    "store_imm": 2,     # stw [%r10-4], 7
    "store": 2,         # stxw [%r10-4], %r1 / lock add [%r10-8], %r1
}


class Form(namedtuple("Form", "opcode mnemonic syntax dst src off imm",
                      defaults=(ZERO, ZERO, ZERO, ZERO))):
    """One legal shape of an instruction: ``opcode``, ``mnemonic``, operand ``syntax`` and the
    range (lo, hi) each of ``dst``, ``src``, ``off``, ``imm`` may take (a NamedTuple)."""

    __slots__ = ()

    def matches(self, insn: Insn) -> bool:
        return (self.dst[0] <= insn.dst <= self.dst[1] and self.src[0] <= insn.src <= self.src[1]
                and self.off[0] <= insn.off <= self.off[1]
                and self.imm[0] <= insn.imm <= self.imm[1])

    def mismatches(self, insn: Insn) -> list[str]:
        """Why ``insn`` is not this form: one phrase per field out of range."""
        out = []
        for name in ("dst", "src", "off", "imm"):
            lo, hi = getattr(self, name)
            value = getattr(insn, name)
            if lo <= value <= hi:
                continue
            if lo == hi:
                out.append(f"{name} must be {lo}, is {value}")
            elif (lo, hi) == REG:
                out.append(f"{name} r{value} is not a register (r0..r{MAX_REG})")
            else:
                out.append(f"{name} {value} out of range {lo}..{hi}")
        return out


_SIZE_NAME = {Size.W: "w", Size.H: "h", Size.B: "b", Size.DW: "dw"}
_ATOMIC_NAME = {
    AtomicOp.ADD: "add", AtomicOp.OR: "or", AtomicOp.AND: "and", AtomicOp.XOR: "xor",
    AtomicOp.FETCH_ADD: "fetch add", AtomicOp.FETCH_OR: "fetch or", AtomicOp.FETCH_AND: "fetch and",
    AtomicOp.FETCH_XOR: "fetch xor", AtomicOp.XCHG: "xchg", AtomicOp.CMPXCHG: "cmpxchg",
}
_BINARY_ALU = (AluOp.ADD, AluOp.SUB, AluOp.MUL, AluOp.DIV, AluOp.OR, AluOp.AND, AluOp.LSH,
               AluOp.RSH, AluOp.MOD, AluOp.XOR, AluOp.MOV, AluOp.ARSH)
_COND_JMP = (JmpOp.JEQ, JmpOp.JGT, JmpOp.JGE, JmpOp.JSET, JmpOp.JNE, JmpOp.JSGT, JmpOp.JSGE,
             JmpOp.JLT, JmpOp.JLE, JmpOp.JSLT, JmpOp.JSLE)


def _build_forms() -> tuple[Form, ...]:
    forms: list[Form] = []
    add = forms.append
    K, X = Source.K, Source.X
    for cls, sfx in ((Class.ALU64, ""), (Class.ALU, "32")):
        for op in _BINARY_ALU:
            name = op.name.lower() + sfx
            add(Form(cls | op | K, name, "dst_imm", dst=REG, imm=IMM32))
            add(Form(cls | op | X, name, "dst_src", dst=REG, src=REG))
        for op in (AluOp.DIV, AluOp.MOD):          # signed division: off = 1
            name = "s" + op.name.lower() + sfx
            add(Form(cls | op | K, name, "dst_imm", dst=REG, off=_one(1), imm=IMM32))
            add(Form(cls | op | X, name, "dst_src", dst=REG, src=REG, off=_one(1)))
        width = "64" if cls == Class.ALU64 else "32"
        for bits in ((8, 16, 32) if cls == Class.ALU64 else (8, 16)):   # movsx: off = bits
            add(Form(cls | AluOp.MOV | X, f"movsx{bits}{width}", "dst_src", dst=REG, src=REG,
                     off=_one(bits)))
        add(Form(cls | AluOp.NEG | K, "neg" + sfx, "dst", dst=REG))
    for bits in (16, 32, 64):
        add(Form(Class.ALU | AluOp.END | K, f"le{bits}", "dst", dst=REG, imm=_one(bits)))
        add(Form(Class.ALU | AluOp.END | X, f"be{bits}", "dst", dst=REG, imm=_one(bits)))
        add(Form(Class.ALU64 | AluOp.END | K, f"bswap{bits}", "dst", dst=REG, imm=_one(bits)))
    add(Form(Class.JMP | JmpOp.JA, "ja", "ja", off=OFF16))
    add(Form(Class.JMP32 | JmpOp.JA, "ja32", "ja32", imm=IMM32))
    for cls, sfx in ((Class.JMP, ""), (Class.JMP32, "32")):
        for op in _COND_JMP:
            name = op.name.lower() + sfx
            add(Form(cls | op | K, name, "jmp_imm", dst=REG, off=OFF16, imm=IMM32))
            add(Form(cls | op | X, name, "jmp_src", dst=REG, src=REG, off=OFF16))
    add(Form(Class.JMP | JmpOp.CALL, "call", "call", imm=IMM32))
    add(Form(Class.JMP | JmpOp.CALL, "call", "call_local", src=_one(CallSrc.LOCAL), imm=IMM32))
    add(Form(Class.JMP | JmpOp.CALL, "call", "call_runtime", src=_one(CallSrc.KFUNC), imm=IMM32))
    add(Form(Class.JMP | JmpOp.CALL | X, "call", "callx", dst=REG))
    add(Form(Class.JMP | JmpOp.EXIT, "exit", "none"))
    for pseudo in Pseudo:
        add(Form(LDDW, "lddw", "lddw", dst=REG, src=_one(pseudo), imm=IMM32))
    for size in (Size.W, Size.H, Size.B):
        add(Form(Class.LD | Mode.ABS | size, "ldabs" + _SIZE_NAME[size], "ldabs", imm=IMM32))
        add(Form(Class.LD | Mode.IND | size, "ldind" + _SIZE_NAME[size], "ldind", src=REG,
                 imm=IMM32))
    for size in (Size.W, Size.H, Size.B, Size.DW):
        s = _SIZE_NAME[size]
        add(Form(Class.LDX | Mode.MEM | size, "ldx" + s, "load", dst=REG, src=REG, off=OFF16))
        add(Form(Class.ST | Mode.MEM | size, "st" + s, "store_imm", dst=REG, off=OFF16,
                 imm=IMM32))
        add(Form(Class.STX | Mode.MEM | size, "stx" + s, "store", dst=REG, src=REG, off=OFF16))
    for size in (Size.W, Size.H, Size.B):
        add(Form(Class.LDX | Mode.MEMSX | size, "ldxs" + _SIZE_NAME[size], "load", dst=REG,
                 src=REG, off=OFF16))
    for size, sfx in ((Size.DW, ""), (Size.W, "32")):
        for op in AtomicOp:
            add(Form(Class.STX | Mode.ATOMIC | size, f"lock {_ATOMIC_NAME[op]}{sfx}", "store",
                     dst=REG, src=REG, off=OFF16, imm=_one(op)))
    return tuple(forms)


FORMS: tuple[Form, ...] = _build_forms()
"""Every legal instruction shape: the one legality table (decoder, validator, disassembler)."""

_BY_OPCODE: dict[int, tuple[Form, ...]] = {}
for _f in FORMS:
    _BY_OPCODE[_f.opcode] = _BY_OPCODE.get(_f.opcode, ()) + (_f,)
del _f

PSEUDO_NAMES = {
    Pseudo.MAP_FD: "map_fd", Pseudo.MAP_VALUE: "map_value", Pseudo.BTF_ID: "btf_id",
    Pseudo.FUNC: "func", Pseudo.MAP_IDX: "map_idx", Pseudo.MAP_IDX_VALUE: "map_idx_value",
}
"""Assembly names of the LD_IMM64 pseudo sources: ``lddw %r1, map_fd(3)``,
``lddw %r1, map_value(3, 16)`` (fd, offset in the value), ``lddw %r1, func(+4)`` (a pc-relative
code address) ..."""
_PSEUDO_WITH_NEXT_IMM = (Pseudo.IMM64, Pseudo.MAP_VALUE, Pseudo.MAP_IDX_VALUE)


def form_of(insn: Insn) -> Form | None:
    """The form ``insn`` matches, or None when the instruction is illegal."""
    for form in _BY_OPCODE.get(insn.opcode, ()):
        if form.matches(insn):
            return form
    return None


def why_illegal(insn: Insn) -> str:
    """A one-line reason why ``insn`` matches no form (for error messages)."""
    forms = _BY_OPCODE.get(insn.opcode)
    if not forms:
        return f"unknown opcode {insn.opcode:#04x}"
    best = min((form.mismatches(insn) for form in forms), key=len)
    names = sorted({form.mnemonic for form in forms})
    return f"{'/'.join(names)} (opcode {insn.opcode:#04x}): {'; '.join(best)}"


def _second_slot_problem(first: Insn, second: Insn | None) -> str | None:
    if second is None:
        return "lddw needs a second instruction slot"
    if second.opcode or second.dst or second.src or second.off:
        return "second slot of lddw must have opcode, registers and offset 0"
    if second.imm and first.src not in _PSEUDO_WITH_NEXT_IMM:
        return f"second slot of lddw with src {first.src} must have imm 0"
    return None


def jump_target(insn: Insn, form: Form, pc: int) -> int | None:
    """The pc a jump, local call or code-address lddw refers to, else None."""
    if form.syntax in ("ja", "jmp_imm", "jmp_src"):
        return pc + 1 + insn.off
    if form.syntax in ("ja32", "call_local") or (form.syntax == "lddw" and insn.src == Pseudo.FUNC):
        return pc + 1 + insn.imm
    return None


def validate(program: Program) -> None:
    """Check every instruction against :data:`FORMS`, the lddw pairs and the jump targets.

    Raises :class:`IllegalInsn` naming the pc. Semantic checks (uninitialised registers,
    memory bounds, termination) are the verifier's job."""
    insns = program.insns
    n = len(insns)
    if n == 0:
        raise IllegalInsn(0, "empty program")
    second_half = set()
    forms = []
    pc = 0
    while pc < n:
        insn = insns[pc]
        form = form_of(insn)
        if form is None:
            raise IllegalInsn(pc, why_illegal(insn))
        forms.append((pc, form))
        if insn.opcode == LDDW:
            problem = _second_slot_problem(insn, insns[pc + 1] if pc + 1 < n else None)
            if problem:
                raise IllegalInsn(pc, problem)
            second_half.add(pc + 1)
            pc += 2
        else:
            pc += 1
    for pc, form in forms:
        target = jump_target(insns[pc], form, pc)
        if target is None:
            continue
        if not 0 <= target < n:
            raise IllegalInsn(pc, f"{form.mnemonic}: target pc {target} out of range 0..{n - 1}")
        if target in second_half:
            raise IllegalInsn(pc, f"{form.mnemonic}: target pc {target} is the second half of lddw")


# ---------------------------------------------------------------------------------------------
# Assembly text (vm.ebpf_asm, loaded on first use)

def disassemble(program: Program, *, labels: bool = False) -> str:
    """Assembly text, one instruction per line (lddw on one line), in :func:`assemble`'s syntax.

    Jump and call targets print as ``+N``/``-N``; with ``labels=True`` targets inside the
    program print as labels ``L<pc>`` defined on their own line.  Instructions that match no
    form print as ``.raw 0x<word>`` so that ``assemble(disassemble(p)) == p`` for any program."""
    from .ebpf_asm import disassemble
    return disassemble(program, labels=labels)


def assemble(text: str) -> Program:
    """Assemble text in the conformance-suite syntax (see the module docstring) into a Program.

    Raises :class:`AsmError` naming the line."""
    from .ebpf_asm import assemble
    return assemble(text)
