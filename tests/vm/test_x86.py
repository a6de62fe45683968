"""vm.x86: every encoder's bytes are GNU as's bytes for the same instruction (Intel syntax),
over all registers (the REX, SIB and rbp/r13 corners) and displacement sizes; labels and jump
relaxation against hand-computed displacements."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from vm import x86

NAMES64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] + [f"r{i}" for i in range(8, 16)]
NAMES32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"] + \
    [f"r{i}d" for i in range(8, 16)]
NAMES16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"] + [f"r{i}w" for i in range(8, 16)]
NAMES8 = ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"] + [f"r{i}b" for i in range(8, 16)]
REGS = [r for r in range(16) if r != x86.RSP]
DISPS = [0, 8, -8, 127, -128, 300, -0x8000]
PTR = {1: "byte", 2: "word", 4: "dword", 8: "qword"}


def _r(reg: int, w: bool) -> str:
    return (NAMES64 if w else NAMES32)[reg]


def _m(base: int, disp: int, size: int) -> str:
    return f"{PTR[size]} ptr [{NAMES64[base]}{disp:+d}]"


def _cases():
    cases = []
    add = cases.append
    for w in (True, False):
        for d in REGS:
            for s in (x86.RAX, x86.RSI, x86.RBP, x86.R9, x86.R13, x86.R12):
                for name, op in (("add", x86.ADD), ("sub", x86.SUB), ("and", x86.AND),
                                 ("or", x86.OR), ("xor", x86.XOR), ("cmp", x86.CMP)):
                    add((f"{name} {_r(d, w)}, {_r(s, w)}", x86.alu_rr(op, d, s, w)))
                add((f"mov {_r(d, w)}, {_r(s, w)}", x86.mov_rr(d, s, w)))
                add((f"test {_r(d, w)}, {_r(s, w)}", x86.test_rr(d, s, w)))
                add((f"imul {_r(d, w)}, {_r(s, w)}", x86.imul_rr(d, s, w)))
                for imm in (5, -1, 300, -0x80000000):
                    add((f"imul {_r(d, w)}, {_r(s, w)}, {imm}", x86.imul_rri(d, s, imm, w)))
                add((f"movsx {_r(d, w)}, {NAMES8[s]}", x86.movsx_rr(d, s, 8, w)))
                add((f"movsx {_r(d, w)}, {NAMES16[s]}", x86.movsx_rr(d, s, 16, w)))
            for imm in (0, 1, -1, 127, 128, -129, 0x7FFFFFFF, -0x80000000):
                for name, op in (("add", x86.ADD), ("and", x86.AND), ("cmp", x86.CMP)):
                    add((f"{name} {_r(d, w)}, {imm}", x86.alu_ri(op, d, imm, w)))
                add((f"test {_r(d, w)}, {imm}", x86.test_ri(d, imm, w)))
            for name, digit in (("neg", x86.NEG), ("div", x86.DIV), ("idiv", x86.IDIV)):
                add((f"{name} {_r(d, w)}", x86.group3(digit, d, w)))
            for name, digit in (("shl", x86.SHL), ("shr", x86.SHR), ("sar", x86.SAR)):
                add((f"{name} {_r(d, w)}, cl", x86.shift_cl(digit, d, w)))
                add((f"{name} {_r(d, w)}, 13", x86.shift_ri(digit, d, 13, w)))
            add((f"bswap {_r(d, w)}", x86.bswap(d, w)))
    for d in REGS:
        for s in REGS:
            add((f"movzx {NAMES32[d]}, {NAMES8[s]}", x86.movzx_rr(d, s, 8)))
            add((f"movzx {NAMES32[d]}, {NAMES16[s]}", x86.movzx_rr(d, s, 16)))
            add((f"movsxd {NAMES64[d]}, {NAMES32[s]}", x86.movsx_rr(d, s, 32, True)))
        add((f"rol {NAMES16[d]}, 8", x86.rol16(d, 8)))
        add((f"push {NAMES64[d]}", x86.push(d)))
        add((f"pop {NAMES64[d]}", x86.pop(d)))
        for value, text in ((5, "mov {r32}, 5"), (0xFFFFFFFF, "mov {r32}, 0xffffffff"),
                            (-2, "mov {r64}, -2"), (0x123456789, "movabs {r64}, 0x123456789")):
            add((text.format(r32=NAMES32[d], r64=NAMES64[d]), x86.mov_ri(d, value)))
    for base in range(16):
        for disp in DISPS:
            for reg in (x86.RAX, x86.RSI, x86.RDI, x86.R9, x86.R11):
                for size in (1, 2, 4, 8):
                    add((f"mov {_m(base, disp, size)}, "
                         f"{ {1: NAMES8, 2: NAMES16, 4: NAMES32, 8: NAMES64}[size][reg]}",
                         x86.store(base, disp, reg, size)))
                add((f"movzx {NAMES32[reg]}, {_m(base, disp, 1)}", x86.load(reg, base, disp, 1)))
                add((f"movzx {NAMES32[reg]}, {_m(base, disp, 2)}", x86.load(reg, base, disp, 2)))
                add((f"mov {NAMES32[reg]}, {_m(base, disp, 4)}", x86.load(reg, base, disp, 4)))
                add((f"mov {NAMES64[reg]}, {_m(base, disp, 8)}", x86.load(reg, base, disp, 8)))
                add((f"movsx {NAMES64[reg]}, {_m(base, disp, 1)}",
                     x86.load(reg, base, disp, 1, True)))
                add((f"movsx {NAMES64[reg]}, {_m(base, disp, 2)}",
                     x86.load(reg, base, disp, 2, True)))
                add((f"movsxd {NAMES64[reg]}, {_m(base, disp, 4)}",
                     x86.load(reg, base, disp, 4, True)))
                add((f"lea {NAMES64[reg]}, [{NAMES64[base]}{disp:+d}]", x86.lea(reg, base, disp)))
                for w in (True, False):
                    add((f"lock xadd {_m(base, disp, 8 if w else 4)}, {_r(reg, w)}",
                         x86.lock_xadd(base, disp, reg, w)))
                    add((f"xchg {_m(base, disp, 8 if w else 4)}, {_r(reg, w)}",
                         x86.xchg(base, disp, reg, w)))
                    add((f"lock cmpxchg {_m(base, disp, 8 if w else 4)}, {_r(reg, w)}",
                         x86.lock_cmpxchg(base, disp, reg, w)))
                    add((f"lock or {_m(base, disp, 8 if w else 4)}, {_r(reg, w)}",
                         x86.lock_alu(x86.OR, base, disp, reg, w)))
            for size, imm in ((1, 0xAB), (2, 0xBEEF), (4, 0x12345678), (8, -5)):
                add((f"mov {_m(base, disp, size)}, {imm}", x86.store_imm(base, disp, imm, size)))
            add((f"cmp {_m(base, disp, 4)}, 200", x86.alu_mi(x86.CMP, base, disp, 200, False)))
            add((f"cmp {_m(base, disp, 4)}, 3", x86.alu_mi(x86.CMP, base, disp, 3, False)))
    add(("cqo", x86.cqo(True)))
    add(("cdq", x86.cqo(False)))
    add(("ret", x86.RET))
    add(("leave", x86.LEAVE))
    add(("rep movsb", x86.REP_MOVSB))
    return cases


def _gnu_as(lines: list[str], tmp_path) -> list[bytes]:
    source = tmp_path / "t.s"
    source.write_text(".intel_syntax noprefix\n" + "\n".join(lines) + "\n")
    listing = subprocess.run(["as", "--64", "-al", str(source), "-o", str(tmp_path / "t.o")],
                             capture_output=True, text=True, check=True).stdout
    by_line: dict[int, str] = {}
    for row in listing.splitlines():
        m = re.match(r"\s*(\d+) (?:[0-9a-f]{4,8} |\s+)([0-9A-F]+)", row)
        if m:
            by_line[int(m.group(1))] = by_line.get(int(m.group(1)), "") + m.group(2)
    return [bytes.fromhex(by_line.get(i + 2, "")) for i in range(len(lines))]


@pytest.mark.skipif(shutil.which("as") is None, reason="GNU as (binutils) not installed")
def test_encodings_match_gnu_as(tmp_path):
    cases = _cases()
    want = _gnu_as([text for text, _ in cases], tmp_path)
    wrong = [(text, ours.hex(), theirs.hex()) for (text, ours), theirs in zip(cases, want)
             if ours != theirs]
    assert len(cases) > 5000
    assert wrong == []


def test_short_and_long_jumps():
    a = x86.Asm()
    top, far, near = x86.Label("top"), x86.Label("far"), x86.Label("near")
    a.bind(top)
    a.jcc("e", near)                  # 2 bytes: +1
    a.emit(b"\x90")
    a.bind(near)
    a.jmp(far)                        # must grow: 200 bytes away
    a.emit(b"\x90" * 200)
    a.bind(far)
    a.jcc("ne", top)                  # back 1 + 2 + 5 + 200 + 6 = far
    a.call(top)
    code = a.assemble()
    assert code[:2] == b"\x74\x01"
    assert code[3:8] == b"\xe9" + (200).to_bytes(4, "little")
    tail = code[208:]
    assert tail[:6] == b"\x0f\x85" + (-214).to_bytes(4, "little", signed=True)
    assert tail[6:] == b"\xe8" + (-219).to_bytes(4, "little", signed=True)
    assert a.offset(far) == 208


def test_unbound_label_is_an_error():
    a = x86.Asm()
    a.jmp(x86.Label("nowhere"))
    with pytest.raises(ValueError, match="nowhere"):
        a.assemble()
