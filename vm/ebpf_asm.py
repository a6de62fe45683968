"""eBPF assembly text both ways: the disassembler and the assembler of :mod:`vm.ebpf`.

A module of its own, loaded the first time ``vm.ebpf.disassemble``/``assemble`` (or
``Program.format``) is called, so that a job that only translates, verifies and runs programs
neither loads this code nor builds the mnemonic table and the operand regexes.  The syntax is
described in :mod:`vm.ebpf`'s docstring; both directions read the one legality table,
``vm.ebpf.FORMS``.
"""
from __future__ import annotations

from .ebpf import (FORMS, IMM32, LDDW, MAX_REG, OFF16, PSEUDO_NAMES, SYNTAX_OPERANDS, AsmError,
                   CallSrc, Class, Form, Insn, JmpOp, Program, Pseudo, Source,
                   _PSEUDO_WITH_NEXT_IMM, _second_slot_problem, form_of, jump_target)

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
    """The program as assembly text (see ``vm.ebpf.disassemble``)."""
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

_PSEUDO_BY_NAME = {name: pseudo for pseudo, name in PSEUDO_NAMES.items()}

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# Operands are read by hand (compiling regular expressions for them cost every run that
# assembles a program ~1.5 ms of start-up); the shapes, as regular expressions:
#   label       [A-Za-z_.$][A-Za-z0-9_.$]*
#   definition  label \s* : \s* rest-of-line
#   memory      \[ \s* %?[A-Za-z0-9_]+ \s* ( [+-] \s* [0-9A-Za-z_]+ )? \s* \]
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_LABEL_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.$")
_LABEL_CHARS = _LABEL_FIRST | frozenset("0123456789")
# lddw's pseudo sources: name(arg) or name(arg, arg)
_PSEUDO_RE = r"([a-z_]+)\s*\(\s*([^,()]+?)\s*(?:,\s*([^,()]+?)\s*)?\)\Z"
_PSEUDO = None


def _run(text: str, pos: int, chars) -> int:
    """The end of the run of ``chars`` in text from pos."""
    n = len(text)
    while pos < n and text[pos] in chars:
        pos += 1
    return pos


def _spaces(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos].isspace():
        pos += 1
    return pos


def _label_end(text: str, pos: int = 0) -> int:
    """The end of a label starting at pos (pos itself when there is none)."""
    if pos < len(text) and text[pos] in _LABEL_FIRST:
        return _run(text, pos + 1, _LABEL_CHARS)
    return pos


def _is_label(text: str) -> bool:
    return bool(text) and _label_end(text) == len(text)


def _label_def(body: str) -> tuple[str, str] | None:
    """(label, the rest of the line) when body starts with ``label:``, else None."""
    end = _label_end(body)
    colon = _spaces(body, end)
    if end == 0 or body[colon:colon + 1] != ":":
        return None
    return body[:end], body[_spaces(body, colon + 1):]


def _mem_parts(text: str) -> tuple[str, str | None, str | None] | None:
    """(register text, sign or None, offset text or None) of ``[%rN+off]``, else None."""
    if len(text) < 2 or text[0] != "[" or text[-1] != "]":
        return None
    inner = text[1:-1]
    start = _spaces(inner, 0)
    end = _run(inner, start + 1 if inner[start:start + 1] == "%" else start, _WORD)
    if end == start or inner[end - 1] == "%":
        return None
    reg = inner[start:end]
    pos = _spaces(inner, end)
    if pos == len(inner):
        return reg, None, None
    sign = inner[pos]
    if sign not in "+-":
        return None
    num_start = _spaces(inner, pos + 1)
    num_end = _run(inner, num_start, _WORD)
    if num_end == num_start or _spaces(inner, num_end) != len(inner):
        return None
    return reg, sign, inner[num_start:num_end]


def _pseudo_match(text: str):
    global _PSEUDO
    if "(" not in text:             # (the expression needs one)
        return None
    if _PSEUDO is None:
        import re
        _PSEUDO = re.compile(_PSEUDO_RE)
    return _PSEUDO.match(text)


class _Line:
    """Operand parsing for one source line; errors carry the line number."""

    def __init__(self, number: int):
        self.number = number

    def error(self, reason: str) -> AsmError:
        return AsmError(self.number, reason)

    def integer(self, text: str, what: str) -> tuple[int, bool]:
        """[+-] then 0x<hex digits> or <decimal digits>; (value, whether it was hex)."""
        number = text[1:] if text[:1] in ("+", "-") else text
        is_hex = number[:2] in ("0x", "0X")
        digits = number[2:] if is_hex else number
        if not (digits and digits.isascii()
                and (_HEX_DIGITS.issuperset(digits) if is_hex else digits.isdigit())):
            raise self.error(f"invalid {what} {text!r}")
        value = int(digits, 16 if is_hex else 10)        # (leading zeros: still decimal)
        return (-value if text[:1] == "-" else value), is_hex

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
        number = text[2:]
        if text[:2] != "%r" or not (number.isascii() and number.isdigit()) \
                or int(number) > MAX_REG:
            raise self.error(f"invalid register {text!r}")
        return int(number)

    def mem(self, text: str) -> tuple[int, int]:
        parts = _mem_parts(text)
        if parts is None:
            raise self.error(f"invalid memory operand {text!r} (expected [%rN+off])")
        reg_text, sign, number = parts
        reg = self.reg(reg_text)
        if sign is None:
            return reg, 0
        value, _ = self.integer(number, "offset")
        off = -value if sign == "-" else value
        if not OFF16[0] <= off <= OFF16[1]:
            raise self.error(f"offset {sign}{number} out of 16-bit range")
        return reg, off

    def target(self, text: str, lo: int, hi: int) -> int | str:
        """A relative offset (``+N``/``-N``) or a label name, resolved later."""
        if text[:1] in "+-":
            value, _ = self.integer(text, "offset")
            if not lo <= value <= hi:
                raise self.error(f"offset {text} out of range")
            return value
        if not _is_label(text):
            raise self.error(f"invalid jump target {text!r}")
        return text


def _split_operands(line: _Line, rest: str) -> list[str]:
    if not rest.strip():
        return []
    # commas split operands, except inside parentheses (``map_value(3, 16)``)
    if ")" in rest:
        import re
        parts = re.split(r",(?![^()]*\))", rest)
    else:
        parts = rest.split(",")
    operands = [part.strip() for part in parts]
    if any(not part for part in operands):
        raise line.error("empty operand")
    return operands


def assemble(text: str) -> Program:
    """The Program of assembly text; raises AsmError naming the line (see ``vm.ebpf.assemble``)."""
    insns: list[Insn] = []
    labels: dict[str, int] = {}
    first_exit: int | None = None
    fixups: list[tuple[int, str, str, _Line]] = []     # (pc, label, field, line)
    for number, raw_line in enumerate(text.splitlines(), 1):
        body = raw_line.split("#", 1)[0].strip()
        line = _Line(number)
        while ":" in body:
            found = _label_def(body)
            if found is None or found[0].lower() in ("lock", "call"):
                break
            name, rest = found
            if name in labels:
                raise line.error(f"duplicate label {name!r}")
            labels[name] = len(insns)
            body = rest.strip()
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
    m = _pseudo_match(operands[1])
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
