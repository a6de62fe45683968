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
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from enum import IntEnum

from .sequence import InsnSequence

class Class(IntEnum):
    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    JMP32 = 0x06
    ALU64 = 0x07


class Source(IntEnum):
    K = 0x00
    X = 0x08


class AluOp(IntEnum):
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


class JmpOp(IntEnum):
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


class Size(IntEnum):
    W = 0x00
    H = 0x08
    B = 0x10
    DW = 0x18


class Mode(IntEnum):
    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    MEMSX = 0x80
    ATOMIC = 0xC0


class AtomicOp(IntEnum):
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


class Pseudo(IntEnum):
    """``src`` of an LD_IMM64 instruction (RFC 9669 section 5.4)."""
    IMM64 = 0
    MAP_FD = 1
    MAP_VALUE = 2
    BTF_ID = 3
    FUNC = 4
    MAP_IDX = 5
    MAP_IDX_VALUE = 6


class CallSrc(IntEnum):
    """``src`` of a BPF_CALL instruction."""
    HELPER = 0
    LOCAL = 1
    KFUNC = 2


MAX_REG = 10           # r0..r10; r10 is the read-only frame pointer
STACK_SIZE = 512       # MAX_BPF_STACK
LDDW = Class.LD | Size.DW | Mode.IMM     # 0x18


_INSN = struct.Struct("<BBhi")


@dataclass(frozen=True, slots=True)
class Insn:
    """One 8-byte eBPF instruction slot. ``imm`` is signed 32-bit, ``off`` signed 16-bit."""
    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    @property
    def cls(self) -> int:
        return self.opcode & 0x07

    def encode(self) -> bytes:
        return _INSN.pack(self.opcode, (self.src << 4) | self.dst, self.off, self.imm)

    @classmethod
    def decode(cls, raw: bytes) -> "Insn":
        opcode, regs, off, imm = _INSN.unpack(raw)
        return cls(opcode, regs & 0x0F, regs >> 4, off, imm)


@dataclass(frozen=True, slots=True, init=False)
class Program(InsnSequence):
    """An ordered tuple of instruction slots (LD_IMM64 takes two)."""
    insns: tuple[Insn, ...]

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


@dataclass(frozen=True, slots=True)
class Form:
    """One legal shape of an instruction: opcode, allowed range of each field, how it prints."""
    opcode: int
    mnemonic: str
    syntax: str
    dst: Range = ZERO
    src: Range = ZERO
    off: Range = ZERO
    imm: Range = ZERO

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
_PSEUDO_BY_NAME = {name: pseudo for pseudo, name in PSEUDO_NAMES.items()}
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
# Disassembler

def _imm_text(value: int) -> str:
    """Small immediates in decimal, others as the hex of their 32-bit pattern."""
    return str(value) if -4096 <= value <= 4096 else f"{value & 0xFFFFFFFF:#x}"


def _mem_text(reg: int, off: int) -> str:
    return f"[%r{reg}{off:+d}]" if off else f"[%r{reg}]"


def _raw_text(insn: Insn) -> str:
    return f".raw {int.from_bytes(insn.encode(), 'little'):#018x}"


def _operands(insn: Insn, form: Form, target: str, second: Insn | None) -> str:
    s = form.syntax
    d, r = f"%r{insn.dst}", f"%r{insn.src}"
    if s == "dst_imm":
        return f"{d}, {_imm_text(insn.imm)}"
    if s == "dst_src":
        return f"{d}, {r}"
    if s in ("dst", "callx"):
        return d
    if s in ("ja", "ja32", "call_local"):
        return ("local " if s == "call_local" else "") + target
    if s == "jmp_imm":
        return f"{d}, {_imm_text(insn.imm)}, {target}"
    if s == "jmp_src":
        return f"{d}, {r}, {target}"
    if s == "call":
        return str(insn.imm)
    if s == "call_runtime":
        return f"runtime {insn.imm}"
    if s == "none":
        return ""
    if s == "ldabs":
        return _imm_text(insn.imm)
    if s == "ldind":
        return f"{r}, {_imm_text(insn.imm)}"
    if s == "load":
        return f"{d}, {_mem_text(insn.src, insn.off)}"
    if s == "store_imm":
        return f"{_mem_text(insn.dst, insn.off)}, {_imm_text(insn.imm)}"
    if s == "store":
        return f"{_mem_text(insn.dst, insn.off)}, {r}"
    if s == "lddw":
        hi = second.imm
        if insn.src == Pseudo.IMM64:
            return f"{d}, {((hi & 0xFFFFFFFF) << 32) | (insn.imm & 0xFFFFFFFF):#x}"
        name = PSEUDO_NAMES[Pseudo(insn.src)]
        if insn.src in _PSEUDO_WITH_NEXT_IMM:
            return f"{d}, {name}({insn.imm}, {hi})"
        if insn.src == Pseudo.FUNC:
            return f"{d}, {name}({target})"
        return f"{d}, {name}({insn.imm})"
    raise AssertionError(s)     # every syntax of the table is handled above


def disassemble(program: Program, *, labels: bool = False) -> str:
    """Assembly text, one instruction per line (lddw on one line), in :func:`assemble`'s syntax.

    Jump and call targets print as ``+N``/``-N``; with ``labels=True`` targets inside the
    program print as labels ``L<pc>`` defined on their own line.  Instructions that match no
    form print as ``.raw 0x<word>`` so that ``assemble(disassemble(p)) == p`` for any program."""
    insns = program.insns
    n = len(insns)
    rows: list[tuple[int, Insn, Form | None, Insn | None]] = []
    pc = 0
    while pc < n:
        insn = insns[pc]
        form = form_of(insn)
        second = None
        if form is not None and insn.opcode == LDDW:
            second = insns[pc + 1] if pc + 1 < n else None
            if _second_slot_problem(insn, second):
                form = None
        rows.append((pc, insn, form, second))
        pc += 2 if second is not None else 1
    starts = {row[0] for row in rows}
    wanted = set()
    if labels:
        for pc, insn, form, _ in rows:
            target = form and jump_target(insn, form, pc)
            if target is not None and target in starts:
                wanted.add(target)
    lines = []
    for pc, insn, form, second in rows:
        if pc in wanted:
            lines.append(f"L{pc}:")
        if form is None:
            lines.append(_raw_text(insn))
            continue
        target = jump_target(insn, form, pc)
        if target in wanted:
            target_text = f"L{target}"
        else:
            target_text = f"{(insn.off if form.syntax in ('ja', 'jmp_imm', 'jmp_src') else insn.imm):+d}"
        operands = _operands(insn, form, target_text, second)
        lines.append(f"{form.mnemonic} {operands}" if operands else form.mnemonic)
    return "\n".join(lines) + ("\n" if lines else "")


# ---------------------------------------------------------------------------------------------
# Assembler

_MNEMONICS: dict[str, tuple[Form, ...]] = {}
for _f in FORMS:
    if _f.syntax not in ("call", "call_local", "call_runtime", "callx"):
        _MNEMONICS[_f.mnemonic] = _MNEMONICS.get(_f.mnemonic, ()) + (_f,)
for _name in list(_MNEMONICS):
    _forms = _MNEMONICS[_name]
    if _forms[0].opcode & 0x07 == Class.ALU64 and _name + "64" not in _MNEMONICS:
        _MNEMONICS[_name + "64"] = _forms               # add64 = add ...
for _bits in (16, 32, 64):
    _MNEMONICS[f"swap{_bits}"] = _MNEMONICS[f"bswap{_bits}"]
del _f, _name, _forms, _bits

_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|[0-9]+)\Z")
_REG = re.compile(r"%r([0-9]+)\Z")
_MEM = re.compile(r"\[\s*(%?[A-Za-z0-9_]+)\s*(?:([+-])\s*([0-9A-Za-z_]+))?\s*\]\Z")
_LABEL_DEF = re.compile(r"([A-Za-z_.$][A-Za-z0-9_.$]*)\s*:\s*(.*)\Z")
_LABEL = re.compile(r"[A-Za-z_.$][A-Za-z0-9_.$]*\Z")
_PSEUDO = re.compile(r"([a-z_]+)\s*\(\s*([^,()]+?)\s*(?:,\s*([^,()]+?)\s*)?\)\Z")


class _Line:
    """Operand parsing for one source line; errors carry the line number."""

    def __init__(self, number: int):
        self.number = number

    def error(self, reason: str) -> AsmError:
        return AsmError(self.number, reason)

    def integer(self, text: str, what: str) -> tuple[int, bool]:
        m = _INT.match(text)
        if not m:
            raise self.error(f"invalid {what} {text!r}")
        value = int(m.group(2), 0)
        return (-value if m.group(1) == "-" else value), m.group(2)[:2].lower() == "0x"

    def imm32(self, text: str) -> int:
        value, is_hex = self.integer(text, "immediate")
        if is_hex and 0 <= value <= 0xFFFFFFFF:          # hex: a 32-bit pattern
            value = value - (1 << 32) if value & 0x80000000 else value
        if not IMM32[0] <= value <= IMM32[1]:
            raise self.error(f"immediate {text} out of 32-bit range")
        return value

    def imm64(self, text: str) -> int:
        value, _ = self.integer(text, "immediate")
        if not -(1 << 63) <= value < (1 << 64):
            raise self.error(f"immediate {text} out of 64-bit range")
        return value & 0xFFFFFFFFFFFFFFFF

    def reg(self, text: str) -> int:
        m = _REG.match(text)
        if not m or int(m.group(1)) > MAX_REG:
            raise self.error(f"invalid register {text!r}")
        return int(m.group(1))

    def mem(self, text: str) -> tuple[int, int]:
        m = _MEM.match(text)
        if not m:
            raise self.error(f"invalid memory operand {text!r} (expected [%rN+off])")
        reg = self.reg(m.group(1))
        if m.group(2) is None:
            return reg, 0
        value, _ = self.integer(m.group(3), "offset")
        off = -value if m.group(2) == "-" else value
        if not OFF16[0] <= off <= OFF16[1]:
            raise self.error(f"offset {m.group(2)}{m.group(3)} out of 16-bit range")
        return reg, off

    def target(self, text: str, lo: int, hi: int) -> int | str:
        """A relative offset (``+N``/``-N``) or a label name, resolved later."""
        if text[:1] in "+-":
            value, _ = self.integer(text, "offset")
            if not lo <= value <= hi:
                raise self.error(f"offset {text} out of range")
            return value
        if not _LABEL.match(text):
            raise self.error(f"invalid jump target {text!r}")
        return text


def _split_operands(line: _Line, rest: str) -> list[str]:
    if not rest.strip():
        return []
    operands = [part.strip() for part in re.split(r",(?![^()]*\))", rest)]
    if any(not part for part in operands):
        raise line.error("empty operand")
    return operands


def assemble(text: str) -> Program:
    """Assemble text in the conformance-suite syntax (see the module docstring) into a Program.

    Raises :class:`AsmError` naming the line."""
    insns: list[Insn] = []
    labels: dict[str, int] = {}
    first_exit: int | None = None
    fixups: list[tuple[int, str, str, _Line]] = []     # (pc, label, field, line)
    for number, raw_line in enumerate(text.splitlines(), 1):
        body = raw_line.split("#", 1)[0].strip()
        line = _Line(number)
        while body:
            m = _LABEL_DEF.match(body)
            if not m or m.group(1).lower() in ("lock", "call"):
                break
            if m.group(1) in labels:
                raise line.error(f"duplicate label {m.group(1)!r}")
            labels[m.group(1)] = len(insns)
            body = m.group(2).strip()
        if not body:
            continue
        head, _, rest = body.replace("\t", " ").partition(" ")
        head = head.lower()
        rest = rest.strip()
        if head == ".raw":
            value, _ = line.integer(rest, "raw word")
            if not 0 <= value < (1 << 64):
                raise line.error(f"raw word {rest} out of 64-bit range")
            insns.append(Insn.decode(value.to_bytes(8, "little")))
            continue
        if head == "exit" and first_exit is None:
            first_exit = len(insns)
        pc = len(insns)
        for insn, label, field in _assemble_one(line, head, rest, pc):
            insns.append(insn)
            if label is not None:
                fixups.append((len(insns) - 1, label, field, line))
    if "exit" not in labels and first_exit is not None:
        labels["exit"] = first_exit          # the suite's implicit label: the first exit
    for pc, label, field, line in fixups:
        if label not in labels:
            raise line.error(f"undefined label {label!r}")
        delta = labels[label] - pc - 1
        lo, hi = OFF16 if field == "off" else IMM32
        if not lo <= delta <= hi:
            raise line.error(f"label {label!r} is out of reach ({delta:+d})")
        insn = insns[pc]
        insns[pc] = Insn(insn.opcode, insn.dst, insn.src,
                         delta if field == "off" else insn.off, delta if field == "imm" else insn.imm)
    return Program(insns)


def _assemble_one(line: _Line, head: str, rest: str, pc: int):
    """Yield (Insn, label-or-None, field) for one instruction line."""
    if head == "lock":
        words = rest.split(None, 2) if rest else []
        fetch = bool(words) and words[0].lower() == "fetch"
        if fetch:
            words = words[1:]
        if not words:
            raise line.error("invalid number of operands for lock")
        op = words[0].lower()
        mnemonic = "lock " + ("fetch " if fetch else "") + op
        operands = _split_operands(line, " ".join(words[1:]))
        forms = _MNEMONICS.get(mnemonic)
        if forms is None:
            raise line.error(f"invalid atomic operation {('fetch ' if fetch else '') + op!r}")
        if len(operands) != 2:
            raise line.error("invalid number of operands for lock")
        form = forms[0]
        dst, off = line.mem(operands[0])
        yield Insn(form.opcode, dst, line.reg(operands[1]), off, form.imm[0]), None, ""
        return
    if head == "call":
        yield _assemble_call(line, rest)
        return
    forms = _MNEMONICS.get(head)
    if forms is None:
        raise line.error(f"invalid mnemonic {head!r}")
    operands = _split_operands(line, rest)
    form = forms[0]
    if len(forms) > 1 and form.syntax != "lddw":
        is_reg = len(operands) > 1 and operands[1].startswith("%")
        form = next(f for f in forms if f.syntax.endswith("_src") == is_reg)
    count = SYNTAX_OPERANDS[form.syntax]
    if len(operands) != count:
        raise line.error(f"{head} takes {count} operand{'s' if count != 1 else ''}, "
                         f"got {len(operands)}")
    s, op = form.syntax, form.opcode
    fixed_off, fixed_imm = form.off[0] if form.off[0] == form.off[1] else 0, \
        form.imm[0] if form.imm[0] == form.imm[1] else 0
    if s == "dst_imm":
        yield Insn(op, line.reg(operands[0]), 0, fixed_off, line.imm32(operands[1])), None, ""
    elif s == "dst_src":
        yield Insn(op, line.reg(operands[0]), line.reg(operands[1]), fixed_off, 0), None, ""
    elif s == "dst":
        yield Insn(op, line.reg(operands[0]), 0, 0, fixed_imm), None, ""
    elif s == "ja":
        t = line.target(operands[0], *OFF16)
        yield (Insn(op, 0, 0, t, 0), None, "") if isinstance(t, int) else (Insn(op), t, "off")
    elif s == "ja32":
        t = line.target(operands[0], *IMM32)
        yield (Insn(op, 0, 0, 0, t), None, "") if isinstance(t, int) else (Insn(op), t, "imm")
    elif s in ("jmp_imm", "jmp_src"):
        dst = line.reg(operands[0])
        src, imm = (line.reg(operands[1]), 0) if s == "jmp_src" else (0, line.imm32(operands[1]))
        t = line.target(operands[2], *OFF16)
        if isinstance(t, int):
            yield Insn(op, dst, src, t, imm), None, ""
        else:
            yield Insn(op, dst, src, 0, imm), t, "off"
    elif s == "none":
        yield Insn(op), None, ""
    elif s == "ldabs":
        yield Insn(op, 0, 0, 0, line.imm32(operands[0])), None, ""
    elif s == "ldind":
        yield Insn(op, 0, line.reg(operands[0]), 0, line.imm32(operands[1])), None, ""
    elif s == "load":
        src, off = line.mem(operands[1])
        yield Insn(op, line.reg(operands[0]), src, off, 0), None, ""
    elif s == "store_imm":
        dst, off = line.mem(operands[0])
        yield Insn(op, dst, 0, off, line.imm32(operands[1])), None, ""
    elif s == "store":
        dst, off = line.mem(operands[0])
        yield Insn(op, dst, line.reg(operands[1]), off, fixed_imm), None, ""
    elif s == "lddw":
        yield from _assemble_lddw(line, operands)
    else:
        raise AssertionError(s)


def _assemble_lddw(line: _Line, operands: list[str]):
    dst = line.reg(operands[0])
    m = _PSEUDO.match(operands[1])
    if m is None:
        value = line.imm64(operands[1])
        lo, hi = value & 0xFFFFFFFF, value >> 32
        yield Insn(LDDW, dst, 0, 0, lo - (1 << 32) if lo >> 31 else lo), None, ""
        yield Insn(0, 0, 0, 0, hi - (1 << 32) if hi >> 31 else hi), None, ""
        return
    pseudo = _PSEUDO_BY_NAME.get(m.group(1))
    if pseudo is None:
        raise line.error(f"unknown lddw source {m.group(1)!r} "
                         f"(one of {', '.join(sorted(_PSEUDO_BY_NAME))})")
    wants_two = pseudo in _PSEUDO_WITH_NEXT_IMM
    if wants_two != (m.group(3) is not None):
        raise line.error(f"{m.group(1)}() takes {2 if wants_two else 1} argument"
                         f"{'s' if wants_two else ''}")
    if pseudo == Pseudo.FUNC:
        t = line.target(m.group(2), *IMM32)
        if isinstance(t, int):
            yield Insn(LDDW, dst, pseudo, 0, t), None, ""
        else:
            yield Insn(LDDW, dst, pseudo, 0, 0), t, "imm"
        yield Insn(0), None, ""
        return
    yield Insn(LDDW, dst, pseudo, 0, line.imm32(m.group(2))), None, ""
    yield Insn(0, 0, 0, 0, line.imm32(m.group(3)) if wants_two else 0), None, ""


def _assemble_call(line: _Line, rest: str):
    words = rest.split()
    if not words or len(words) > 2:
        raise line.error("call takes a helper number, %rN, 'local TARGET' or 'runtime N'")
    op = Class.JMP | JmpOp.CALL
    if len(words) == 2:
        mode, arg = words[0].lower(), words[1]
        if mode == "local":
            t = line.target(arg, *IMM32)
            if isinstance(t, int):
                return Insn(op, 0, CallSrc.LOCAL, 0, t), None, ""
            return Insn(op, 0, CallSrc.LOCAL, 0, 0), t, "imm"
        if mode == "runtime":
            return Insn(op, 0, CallSrc.KFUNC, 0, line.imm32(arg)), None, ""
        if mode != "helper":
            raise line.error(f"invalid call mode {mode!r} (helper, local or runtime)")
        words = [arg]
    if words[0].startswith("%"):
        return Insn(op | Source.X, line.reg(words[0]), 0, 0, 0), None, ""
    return Insn(op, 0, CallSrc.HELPER, 0, line.imm32(words[0])), None, ""
