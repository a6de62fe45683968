"""Classic BPF assembler: reads ``tcpdump -d/-dd/-ddd`` text and bpf_asm-style source back.

``vm.cbpf`` re-exports ``assemble`` and ``AssembleError``; they live here so that a job that only
compiles and prints a program does not load them (nor compile their regular expressions).
"""

from __future__ import annotations

import re

from .cbpf import (ANCILLARY_NAMES, SKF_AD_OFF, AluOp, Ancillary, Class, Insn, JmpOp, MiscOp,
                   Mode, Program, RetVal, Size, Src, _s32)

_M32 = 0xFFFFFFFF

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
