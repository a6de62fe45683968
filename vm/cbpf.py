"""Classic BPF: instructions, programs, validation, tcpdump-format disassembly, interpreter.

Core model (stable, used by filterlang): ``Insn(code, jt, jf, k)`` and ``Program``.

    Program.format("d" | "dd" | "ddd")   text byte-identical to ``tcpdump -d / -dd / -ddd``
    assemble(text) -> Program            reads that text back (and bpf_asm-style source with labels)
    validate(program, mode)              kernel or libpcap rules; ValidationError names the pc
    run(program, packet, wirelen=None)   libpcap's bpf_filter() semantics

One table, ``OPCODES``, says which opcodes exist, how they print and who accepts them; the
validator, the disassembler and the assembler read it. The interpreter trusts what the validator
passed and, like libpcap's, returns 0 for anything else.

The validator (``cbpf_validate``), the interpreter (``cbpf_interp``) and the assembler
(``cbpf_asm``) are modules of their own that load on first use of their names here, so that
compiling and printing a program (``bpfdump -d``) loads only this module.
"""

from __future__ import annotations

from collections import namedtuple
from .enums import int_enum, str_enum

from .sequence import InsnSequence


@int_enum
class Class:
    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    RET = 0x06
    MISC = 0x07


@int_enum
class Size:
    W = 0x00
    H = 0x08
    B = 0x10


@int_enum
class Mode:
    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    LEN = 0x80
    MSH = 0xA0


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


@int_enum
class JmpOp:
    JA = 0x00
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40


@int_enum
class Src:
    K = 0x00
    X = 0x08


@int_enum
class RetVal:
    K = 0x00
    X = 0x08
    A = 0x10


@int_enum
class MiscOp:
    TAX = 0x00
    TXA = 0x80


MEMWORDS = 16  # BPF_MEMWORDS: scratch memory M[0..15]
MAXINSNS = 4096  # BPF_MAXINSNS (kernel limit for classic programs)
LIBPCAP_MAXINSNS = 3060000  # what libpcap's userland validator allows
MAX_BACKWARD_JUMPS = 64  # libpcap's interpreter gives up (returns 0) after this many

# Linux negative offsets (include/uapi/linux/filter.h).
SKF_AD_OFF = 0xFFFFF000  # -0x1000: ancillary data
SKF_NET_OFF = 0xFFF00000  # -0x100000: network header
SKF_LL_OFF = 0xFFE00000  # -0x200000: link-layer header


@int_enum
class Ancillary:
    """Linux ancillary loads: ``ld [SKF_AD_OFF + n]`` reads socket-buffer metadata."""

    PROTOCOL = 0
    PKTTYPE = 4
    IFINDEX = 8
    NLATTR = 12
    NLATTR_NEST = 16
    MARK = 20
    QUEUE = 24
    HATYPE = 28
    RXHASH = 32
    CPU = 36
    ALU_XOR_X = 40
    VLAN_TAG = 44
    VLAN_TAG_PRESENT = 48
    PAY_OFFSET = 52
    RANDOM = 56
    VLAN_TPID = 60


# How libpcap's bpf_image() names them inside the brackets: "ld [proto]".
ANCILLARY_NAMES: dict[int, str] = {
    Ancillary.PROTOCOL: "proto",
    Ancillary.PKTTYPE: "type",
    Ancillary.IFINDEX: "ifidx",
    Ancillary.NLATTR: "nla",
    Ancillary.NLATTR_NEST: "nlan",
    Ancillary.MARK: "mark",
    Ancillary.QUEUE: "queue",
    Ancillary.HATYPE: "hatype",
    Ancillary.RXHASH: "rxhash",
    Ancillary.CPU: "cpu",
    Ancillary.ALU_XOR_X: "xor_x",
    Ancillary.VLAN_TAG: "vlan_tci",
    Ancillary.VLAN_TAG_PRESENT: "vlanp",
    Ancillary.PAY_OFFSET: "poff",
    Ancillary.RANDOM: "random",
    Ancillary.VLAN_TPID: "vlan_tpid",
}

class Insn(namedtuple("Insn", "code jt jf k", defaults=(0, 0, 0))):
    """One classic BPF instruction, exactly as ``struct sock_filter`` holds it: ``code``,
    ``jt``, ``jf``, ``k`` (a NamedTuple)."""

    __slots__ = ()

    @property
    def cls(self) -> int:
        return self.code & 0x07

    @property
    def spec(self) -> "OpSpec | None":
        """This opcode's row in OPCODES (None for an opcode nobody defines)."""
        return OPCODES.get(self.code)

    def format(self, pc: int) -> str:
        """The line libpcap's bpf_image() prints for this instruction at ``pc`` (no newline)."""
        return _image(self, pc)


def stmt(code: int, k: int = 0) -> Insn:
    """A non-jump instruction (BPF_STMT)."""
    return Insn(code, 0, 0, k & 0xFFFFFFFF)


def jump(code: int, k: int, jt: int, jf: int) -> Insn:
    """A conditional jump (BPF_JUMP); jt/jf are relative to the next instruction."""
    return Insn(code, jt, jf, k & 0xFFFFFFFF)


class Program(InsnSequence):
    """An ordered tuple of instructions, ``insns`` (frozen; equal when the instructions are)."""

    __slots__ = ("insns",)

    def to_tuples(self) -> list[tuple[int, int, int, int]]:
        return [(i.code, i.jt, i.jf, i.k) for i in self.insns]

    @classmethod
    def from_tuples(cls, rows) -> "Program":
        return cls(Insn(int(c), int(jt), int(jf), int(k) & 0xFFFFFFFF) for c, jt, jf, k in rows)

    def format(self, fmt: str = "d") -> str:
        """Text byte-identical to ``tcpdump -d`` (fmt "d"), ``-dd`` ("dd") or ``-ddd`` ("ddd")."""
        return disassemble(self, fmt)

    def canonical(self) -> "Program":
        """This program with the fields ``tcpdump -d`` does not show set to 0 (k of tax/txa/neg/
        ``ret a``/``add x``..., jt/jf of non-conditional instructions, everything but the code of an
        opcode bpf_image calls "unimp"): ``assemble(p.format("d")) == p.canonical()``."""
        return Program(_canonical(i) for i in self.insns)

    def validate(self, mode: str = "kernel") -> "Program":
        from .cbpf_validate import validate
        validate(self, mode)
        return self

    def run(self, packet: bytes, wirelen: int | None = None) -> int:
        from .cbpf_interp import run
        return run(self, packet, wirelen)


# --- the opcode table -------------------------------------------------------------------------


@str_enum
class Operand:
    """How an instruction's operand is printed by bpf_image() (and read back by the assembler)."""

    NONE = ""  # tax, txa, neg, "ret" (A)
    HEX = "#0x%x"  # ld #0x5, and #0xf, jeq #0x800
    DEC = "#%d"  # add #15, ret #262144 (k printed as a signed int)
    ABS = "[%d]"  # ld [12], or ld [proto] for a Linux ancillary offset
    IND = "[x + %d]"  # ldb [x + 14]
    MSH = "4*([%d]&0xf)"  # ldxb 4*([14]&0xf)
    MEM = "M[%d]"  # ld M[3], st M[3]
    LEN = "#pktlen"  # ld #pktlen
    X = "x"  # add x, jeq x
    JA = "%d"  # ja 12 (the absolute target)


class OpSpec(namedtuple("OpSpec", "code mnemonic operand kernel libpcap printed",
                        defaults=(True, True, True))):
    """One row of the opcode table: ``code``, ``mnemonic``, ``operand`` (an Operand), and who
    knows the opcode: ``kernel`` (Linux's classic checker accepts it), ``libpcap`` (its
    bpf_filter() interprets it), ``printed`` (libpcap 1.10's bpf_image() knows it; otherwise it
    prints "unimp 0x..")."""

    __slots__ = ()

    @property
    def is_jump(self) -> bool:
        return self.code & 0x07 == Class.JMP

    @property
    def is_cond_jump(self) -> bool:
        return self.is_jump and self.code & 0xF0 != JmpOp.JA


def _table() -> dict[int, OpSpec]:
    rows: list[OpSpec] = []

    def add(code, mnemonic, operand, **kw):
        rows.append(OpSpec(int(code), mnemonic, operand, **kw))

    ld, ldx = Class.LD, Class.LDX
    for size, sfx in ((Size.W, ""), (Size.H, "h"), (Size.B, "b")):
        add(ld | size | Mode.ABS, "ld" + sfx, Operand.ABS)
        add(ld | size | Mode.IND, "ld" + sfx, Operand.IND)
    add(ld | Size.W | Mode.LEN, "ld", Operand.LEN)
    add(ld | Mode.IMM, "ld", Operand.HEX)
    add(ld | Mode.MEM, "ld", Operand.MEM)
    add(ldx | Mode.IMM, "ldx", Operand.HEX)
    add(ldx | Mode.MEM, "ldx", Operand.MEM)
    add(
        ldx | Size.W | Mode.LEN, "ldx", Operand.LEN, printed=False
    )  # libpcap 1.10 prints "unimp 0x81"
    add(ldx | Size.B | Mode.MSH, "ldxb", Operand.MSH)
    add(Class.ST, "st", Operand.MEM)
    add(Class.STX, "stx", Operand.MEM)
    hex_k = {AluOp.AND, AluOp.OR, AluOp.XOR}
    for op in AluOp:
        if op == AluOp.NEG:
            add(Class.ALU | op, "neg", Operand.NONE)
            continue
        name = op.name.lower()
        add(Class.ALU | op | Src.K, name, Operand.HEX if op in hex_k else Operand.DEC)
        add(Class.ALU | op | Src.X, name, Operand.X)
    add(Class.JMP | JmpOp.JA, "ja", Operand.JA)
    for op in (JmpOp.JEQ, JmpOp.JGT, JmpOp.JGE, JmpOp.JSET):
        add(Class.JMP | op | Src.K, op.name.lower(), Operand.HEX)
        add(Class.JMP | op | Src.X, op.name.lower(), Operand.X)
    add(Class.RET | RetVal.K, "ret", Operand.DEC)
    add(Class.RET | RetVal.A, "ret", Operand.NONE)
    add(Class.MISC | MiscOp.TAX, "tax", Operand.NONE)
    add(Class.MISC | MiscOp.TXA, "txa", Operand.NONE)
    table = {row.code: row for row in rows}
    assert len(table) == len(rows)
    return table


OPCODES: dict[int, OpSpec] = _table()


# --- disassembly (libpcap's bpf_image / bpf_dump formats) ---------------------------------------


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


def _operand_text(insn: Insn, spec: OpSpec, pc: int) -> str:
    k = insn.k
    kind = spec.operand
    if kind is Operand.NONE or kind is Operand.LEN or kind is Operand.X:
        return kind.value
    if kind is Operand.HEX:
        return "#0x%x" % k
    if kind is Operand.DEC:
        return "#%d" % _s32(k)
    if kind is Operand.ABS:
        name = ANCILLARY_NAMES.get(k - SKF_AD_OFF) if k >= SKF_AD_OFF else None
        return f"[{name}]" if name else "[%d]" % _s32(k)
    if kind is Operand.IND:
        return "[x + %d]" % _s32(k)
    if kind is Operand.MSH:
        return "4*([%d]&0xf)" % _s32(k)
    if kind is Operand.MEM:
        return "M[%d]" % _s32(k)
    if kind is Operand.JA:
        return "%d" % _s32(pc + 1 + k)
    raise AssertionError(kind)


def _image(insn: Insn, pc: int) -> str:
    spec = OPCODES.get(insn.code)
    if spec is None or not spec.printed:
        mnemonic, operand = "unimp", "0x%x" % insn.code
    else:
        mnemonic, operand = spec.mnemonic, _operand_text(insn, spec, pc)
    # bpf_image decides the layout from the class bits alone, known opcode or not.
    if insn.code & 0x07 == Class.JMP and insn.code & 0xF0 != JmpOp.JA:
        return "(%03d) %-8s %-16s jt %d\tjf %d" % (
            pc,
            mnemonic,
            operand,
            pc + 1 + insn.jt,
            pc + 1 + insn.jf,
        )
    return "(%03d) %-8s %s" % (pc, mnemonic, operand)


def _canonical(insn: Insn) -> Insn:
    code = insn.code
    cond = code & 0x07 == Class.JMP and code & 0xF0 != JmpOp.JA
    jt, jf = (insn.jt, insn.jf) if cond else (0, 0)
    spec = OPCODES.get(code)
    if spec is None or not spec.printed or spec.operand in (Operand.NONE, Operand.LEN, Operand.X):
        return Insn(code, jt, jf, 0)
    return Insn(code, jt, jf, insn.k)


def disassemble(program, fmt: str = "d") -> str:
    """``tcpdump -d`` (one bpf_image line per instruction), ``-dd`` (C array rows) or ``-ddd``
    (instruction count, then decimal rows) text for ``program``."""
    insns = program.insns if isinstance(program, Program) else Program.from_tuples(program).insns
    if fmt == "d":
        return "".join(_image(insn, pc) + "\n" for pc, insn in enumerate(insns))
    if fmt == "dd":
        return "".join("{ 0x%x, %d, %d, 0x%08x },\n" % (i.code, i.jt, i.jf, i.k) for i in insns)
    if fmt == "ddd":
        return "%d\n" % len(insns) + "".join(
            "%d %d %d %d\n" % (i.code, i.jt, i.jf, i.k) for i in insns
        )
    raise ValueError(f"format must be 'd', 'dd' or 'ddd', not {fmt!r}")


# --- what loads on first use -----------------------------------------------------------------

# name -> submodule; ``vm.cbpf.run`` etc. import it when first asked for (PEP 562)
_LAZY = {"validate": "cbpf_validate", "is_valid": "cbpf_validate",
         "ValidationError": "cbpf_validate", "run": "cbpf_interp",
         "assemble": "cbpf_asm", "AssembleError": "cbpf_asm"}


def __getattr__(name):
    if name in _LAZY:
        module = __import__(f"{__package__}.{_LAZY[name]}", fromlist=[name])
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
