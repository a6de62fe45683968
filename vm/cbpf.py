"""Classic BPF: instructions, programs, validation, tcpdump-format disassembly, interpreter.

Core model (stable, used by filterlang): ``Insn(code, jt, jf, k)`` and ``Program``.

    Program.format("d" | "dd" | "ddd")   text byte-identical to ``tcpdump -d / -dd / -ddd``
    assemble(text) -> Program            reads that text back (and bpf_asm-style source with labels)
    validate(program, mode)              kernel or libpcap rules; ValidationError names the pc
    run(program, packet, wirelen=None)   libpcap's bpf_filter() semantics

One table, ``OPCODES``, says which opcodes exist, how they print and who accepts them; the
validator, the disassembler and the assembler read it. The interpreter trusts what the validator
passed and, like libpcap's, returns 0 for anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, IntEnum

from .sequence import InsnSequence


class Class(IntEnum):
    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    RET = 0x06
    MISC = 0x07


class Size(IntEnum):
    W = 0x00
    H = 0x08
    B = 0x10


class Mode(IntEnum):
    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    LEN = 0x80
    MSH = 0xA0


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


class JmpOp(IntEnum):
    JA = 0x00
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40


class Src(IntEnum):
    K = 0x00
    X = 0x08


class RetVal(IntEnum):
    K = 0x00
    X = 0x08
    A = 0x10


class MiscOp(IntEnum):
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


class Ancillary(IntEnum):
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

# Other spellings the assembler accepts (bpf_asm's "#name" forms and the kernel's names).
_ANCILLARY_ALIASES: dict[str, int] = {
    **{name: off for off, name in ANCILLARY_NAMES.items()},
    "protocol": Ancillary.PROTOCOL,
    "pkttype": Ancillary.PKTTYPE,
    "ifindex": Ancillary.IFINDEX,
    "nlattr": Ancillary.NLATTR,
    "nlattr_nest": Ancillary.NLATTR_NEST,
    "rand": Ancillary.RANDOM,
    "vlan_avail": Ancillary.VLAN_TAG_PRESENT,
    "vlan_tag": Ancillary.VLAN_TAG,
    "vlan_tag_present": Ancillary.VLAN_TAG_PRESENT,
    "pay_offset": Ancillary.PAY_OFFSET,
    "alu_xor_x": Ancillary.ALU_XOR_X,
}


@dataclass(frozen=True, slots=True)
class Insn:
    """One classic BPF instruction, exactly as ``struct sock_filter`` holds it."""

    code: int
    jt: int = 0
    jf: int = 0
    k: int = 0

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


@dataclass(frozen=True, slots=True, init=False)
class Program(InsnSequence):
    """An ordered tuple of instructions."""

    insns: tuple[Insn, ...]

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
        validate(self, mode)
        return self

    def run(self, packet: bytes, wirelen: int | None = None) -> int:
        return run(self, packet, wirelen)


# --- the opcode table -------------------------------------------------------------------------


class Operand(Enum):
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


@dataclass(frozen=True, slots=True)
class OpSpec:
    """One row of the opcode table."""

    code: int
    mnemonic: str
    operand: Operand
    kernel: bool = True  # Linux's classic checker accepts the opcode
    libpcap: bool = True  # libpcap's bpf_filter() interprets it
    printed: bool = True  # libpcap 1.10's bpf_image() knows it (otherwise it prints "unimp 0x..")

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


# --- validation -------------------------------------------------------------------------------


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


# --- interpreter ------------------------------------------------------------------------------

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


# --- assembler --------------------------------------------------------------------------------


class AssembleError(ValueError):
    """Bad assembler input; ``.line`` is 1-based, ``.col`` 1-based (or None)."""

    def __init__(self, line: int, message: str, col: int | None = None):
        self.line = line
        self.col = col
        self.message = message
        where = f"line {line}" + (f", column {col}" if col else "")
        super().__init__(f"{where}: {message}")


_DUMP_LINE = re.compile(r"^\(\s*(\d+)\)\s+(\S+)\s*(.*?)\s*$")
_JT_JF = re.compile(r"^(.*?)\s+jt\s+(-?\d+)\s+jf\s+(-?\d+)$")
_DD_LINE = re.compile(r"^\{\s*(\S+?)\s*,\s*(\S+?)\s*,\s*(\S+?)\s*,\s*(\S+?)\s*\},?$")
_LABEL = re.compile(r"^([A-Za-z_.$][\w.$]*)\s*:\s*(.*)$")
_NUM = r"[-+]?(?:0[xX][0-9a-fA-F]+|\d+)"
_COMMENT = re.compile(r";|//")


def _num(text: str, line: int) -> int:
    t = text.strip()
    neg = t.startswith("-")
    body = t.lstrip("+-")
    try:
        if body.lower().startswith("0x"):
            v = int(body, 16)
        elif len(body) > 1 and body.startswith("0"):
            v = int(body, 8)
        else:
            v = int(body, 10)
    except ValueError:
        raise AssembleError(line, f"bad number {text.strip()!r}") from None
    v = -v if neg else v
    if not -0x80000000 <= v <= 0xFFFFFFFF:
        raise AssembleError(line, f"number {text.strip()} out of 32-bit range")
    return v & _M32


def assemble(text: str) -> Program:
    """Read a program back from ``tcpdump -d``, ``-dd`` or ``-ddd`` text, or from bpf_asm-style
    source (``label:`` prefixes, ``;`` or ``//`` comments, ``jeq #k, Lt, Lf``, ``jne``, ``jlt``,
    ``jle``, ``ld #len``, ``ld #proto``, ``ret a``...). Numeric jump targets are absolute pcs, as in
    the ``-d`` text. ``assemble(p.format(fmt)) == p`` for every program whose non-jump instructions
    have jt == jf == 0 and (for "d") whose opcodes bpf_image knows."""
    raw = text.splitlines()
    lines = [(i + 1, ln.strip()) for i, ln in enumerate(raw) if ln.strip()]
    if not lines:
        raise AssembleError(1, "no instructions")
    first = lines[0][1]
    if re.fullmatch(r"\d+", first) and all(
        re.fullmatch(r"\d+(\s+\d+){3}", ln) for _, ln in lines[1:]
    ):
        return _assemble_ddd(lines)
    if first.startswith("{"):
        return _assemble_dd(lines)
    if _DUMP_LINE.match(first):
        return _assemble_d(lines)
    return _assemble_source(lines)


def _assemble_ddd(lines) -> Program:
    count = int(lines[0][1])
    rows = []
    for lineno, ln in lines[1:]:
        code, jt, jf, k = (int(x) for x in ln.split())
        if code > 0xFFFF or jt > 0xFF or jf > 0xFF or k > _M32:
            raise AssembleError(lineno, "field out of range")
        rows.append(Insn(code, jt, jf, k))
    if count != len(rows):
        raise AssembleError(lines[0][0], f"count {count} does not match {len(rows)} instructions")
    return Program(rows)


def _assemble_dd(lines) -> Program:
    rows = []
    for lineno, ln in lines:
        m = _DD_LINE.match(ln)
        if not m:
            raise AssembleError(lineno, "expected '{ code, jt, jf, k },'")
        code, jt, jf, k = (_num(g, lineno) for g in m.groups())
        if code > 0xFFFF or jt > 0xFF or jf > 0xFF:
            raise AssembleError(lineno, "field out of range")
        rows.append(Insn(code, jt, jf, k))
    return Program(rows)


def _assemble_d(lines) -> Program:
    rows = []
    for lineno, ln in lines:
        ln = ln.split(";")[0].rstrip()  # libpcap master annotates lines with "; 0x<code>"
        m = _DUMP_LINE.match(ln)
        if not m:
            raise AssembleError(lineno, "expected '(NNN) mnemonic operand'")
        pc = int(m.group(1))
        if pc != len(rows):
            raise AssembleError(lineno, f"instruction number {pc}, expected {len(rows)}")
        mnemonic, rest = m.group(2), m.group(3)
        jt = jf = None
        jm = _JT_JF.match(rest)
        if jm:
            rest, jt, jf = jm.group(1).strip(), int(jm.group(2)), int(jm.group(3))
        rows.append(_encode(mnemonic, rest, pc, lineno, jt, jf, labels=None))
    return Program(rows)


def _assemble_source(lines) -> Program:
    items = []  # (lineno, labels-before, mnemonic, operands)
    labels: dict[str, int] = {}
    for lineno, ln in lines:
        ln = _COMMENT.split(ln, maxsplit=1)[0].strip()
        while True:
            m = _LABEL.match(ln)
            if not m:
                break
            name = m.group(1)
            if name in labels:
                raise AssembleError(lineno, f"label {name!r} defined twice")
            labels[name] = len(items)
            ln = m.group(2).strip()
        if not ln:
            continue
        parts = ln.split(None, 1)
        items.append((lineno, parts[0].lower(), parts[1].strip() if len(parts) > 1 else ""))
    rows = []
    for pc, (lineno, mnemonic, rest) in enumerate(items):
        rows.append(_encode_source(mnemonic, rest, pc, lineno, labels))
    return Program(rows)


def _target(text: str, pc: int, lineno: int, labels) -> int:
    t = text.strip()
    if labels is not None and t in labels:
        return labels[t]
    if re.fullmatch(_NUM, t):
        return _s32(_num(t, lineno))
    raise AssembleError(lineno, f"unknown label {t!r}")


def _rel8(target: int, pc: int, lineno: int) -> int:
    off = target - pc - 1
    if not 0 <= off <= 0xFF:
        raise AssembleError(lineno, f"conditional jump from {pc} to {target} out of range")
    return off


_COND_SWAP = {"jne": "jeq", "jneq": "jeq", "jlt": "jge", "jle": "jgt"}


def _encode_source(mnemonic: str, rest: str, pc: int, lineno: int, labels) -> Insn:
    if mnemonic in ("jmp", "ja", "jump"):
        return Insn(Class.JMP | JmpOp.JA, 0, 0, (_target(rest, pc, lineno, labels) - pc - 1) & _M32)
    if mnemonic in ("jeq", "jgt", "jge", "jset") or mnemonic in _COND_SWAP:
        parts = [s.strip() for s in rest.split(",")]
        if len(parts) not in (2, 3):
            raise AssembleError(lineno, f"{mnemonic} needs an operand and one or two targets")
        t_true = _target(parts[1], pc, lineno, labels)
        t_false = _target(parts[2], pc, lineno, labels) if len(parts) == 3 else pc + 1
        if mnemonic in _COND_SWAP:
            if len(parts) == 2:
                t_true, t_false = pc + 1, t_true
            else:
                t_true, t_false = t_false, t_true
            mnemonic = _COND_SWAP[mnemonic]
        return _encode(mnemonic, parts[0], pc, lineno, t_true, t_false, labels)
    if mnemonic == "ldi":
        mnemonic, rest = "ld", rest if rest.startswith("#") else "#" + rest
    elif mnemonic == "ldxi":
        mnemonic, rest = "ldx", rest if rest.startswith("#") else "#" + rest
    return _encode(mnemonic, rest, pc, lineno, None, None, labels)


def _encode(mnemonic: str, operand: str, pc: int, lineno: int, t_true, t_false, labels) -> Insn:
    """One instruction from its printed form; t_true/t_false: absolute targets of a conditional."""
    mn = mnemonic.lower()
    opnd = operand.strip()
    low = re.sub(r"\s+", "", opnd.lower())
    if mn == "unimp":
        code = _num(opnd, lineno)
        if code > 0xFFFF:
            raise AssembleError(lineno, f"opcode {opnd} out of range")
        if t_true is not None:
            return Insn(code, _rel8(t_true, pc, lineno), _rel8(t_false, pc, lineno), 0)
        return Insn(code, 0, 0, 0)
    if mn in ("ld", "ldh", "ldb", "ldx", "ldxb", "st", "stx"):
        return _encode_load_store(mn, opnd, low, lineno)
    if mn == "ja":
        return Insn(Class.JMP | JmpOp.JA, 0, 0, (_target(opnd, pc, lineno, labels) - pc - 1) & _M32)
    if mn in ("jeq", "jgt", "jge", "jset"):
        if t_true is None:
            raise AssembleError(lineno, f"{mn} needs jt and jf targets")
        op = JmpOp[mn.upper()]
        jt, jf = _rel8(t_true, pc, lineno), _rel8(t_false, pc, lineno)
        if low in ("x", "%x"):
            return Insn(Class.JMP | op | Src.X, jt, jf, 0)
        return Insn(Class.JMP | op | Src.K, jt, jf, _imm(opnd, lineno))
    if mn == "neg":
        return Insn(Class.ALU | AluOp.NEG)
    if mn.upper() in AluOp.__members__:
        op = AluOp[mn.upper()]
        if low in ("x", "%x"):
            return Insn(Class.ALU | op | Src.X)
        return Insn(Class.ALU | op | Src.K, 0, 0, _imm(opnd, lineno))
    if mn == "ret":
        if low in ("", "a", "%a"):
            return Insn(Class.RET | RetVal.A)
        if low in ("x", "%x"):
            return Insn(Class.RET | RetVal.X)
        return Insn(Class.RET | RetVal.K, 0, 0, _imm(opnd, lineno))
    if mn == "tax":
        return Insn(Class.MISC | MiscOp.TAX)
    if mn == "txa":
        return Insn(Class.MISC | MiscOp.TXA)
    raise AssembleError(lineno, f"unknown mnemonic {mnemonic!r}")


def _imm(opnd: str, lineno: int) -> int:
    t = opnd.strip()
    if t.startswith("#"):
        t = t[1:]
    if not re.fullmatch(_NUM, t.strip()):
        raise AssembleError(lineno, f"expected '#number', got {opnd.strip()!r}")
    return _num(t, lineno)


def _encode_load_store(mn: str, opnd: str, low: str, lineno: int) -> Insn:
    size = {"ld": Size.W, "ldx": Size.W, "ldh": Size.H, "ldb": Size.B, "ldxb": Size.B}.get(
        mn, Size.W
    )
    if mn in ("st", "stx"):
        m = re.fullmatch(r"m\[(" + _NUM + r")\]", low)
        if not m:
            raise AssembleError(lineno, f"{mn} needs M[k], got {opnd!r}")
        return Insn(Class.ST if mn == "st" else Class.STX, 0, 0, _num(m.group(1), lineno))
    is_x = mn.startswith("ldx")
    cls = Class.LDX if is_x else Class.LD
    m = re.fullmatch(r"4\*\(\[(" + _NUM + r")\]&0xf\)", low)
    if m:
        if not is_x:
            raise AssembleError(lineno, f"{mn} cannot use 4*([k]&0xf)")
        return Insn(Class.LDX | Size.B | Mode.MSH, 0, 0, _num(m.group(1), lineno))
    if mn == "ldxb":
        raise AssembleError(lineno, f"ldxb needs 4*([k]&0xf), got {opnd!r}")
    if low in ("#pktlen", "#len", "len", "pktlen"):
        return Insn(cls | Size.W | Mode.LEN)
    m = re.fullmatch(r"m\[(" + _NUM + r")\]", low)
    if m:
        return Insn(cls | Mode.MEM, 0, 0, _num(m.group(1), lineno))
    anc = None
    m = re.fullmatch(r"\[([a-z_]+)\]", low) or re.fullmatch(r"#([a-z_]+)", low)
    if m and m.group(1) in _ANCILLARY_ALIASES:
        anc = _ANCILLARY_ALIASES[m.group(1)]
    if anc is not None:
        if is_x:
            raise AssembleError(lineno, f"{mn} cannot load ancillary data")
        return Insn(Class.LD | size | Mode.ABS, 0, 0, SKF_AD_OFF + anc)
    if low.startswith("#") or re.fullmatch(_NUM, low):
        if size != Size.W:
            raise AssembleError(lineno, f"{mn} cannot load an immediate")
        return Insn(cls | Mode.IMM, 0, 0, _imm(low, lineno))
    if is_x:
        raise AssembleError(lineno, f"bad operand {opnd!r} for {mn}")
    m = re.fullmatch(r"\[(?:x|%x)\+(" + _NUM + r")\]", low) or re.fullmatch(
        r"\[(" + _NUM + r")\+(?:x|%x)\]", low
    )
    if m:
        return Insn(Class.LD | size | Mode.IND, 0, 0, _num(m.group(1), lineno))
    if low in ("[x]", "[%x]"):
        return Insn(Class.LD | size | Mode.IND, 0, 0, 0)
    m = re.fullmatch(r"\[(" + _NUM + r")\]", low)
    if m:
        return Insn(Class.LD | size | Mode.ABS, 0, 0, _num(m.group(1), lineno))
    raise AssembleError(lineno, f"bad operand {opnd!r} for {mn}")
