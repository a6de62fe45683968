"""A small x86-64 instruction encoder with labels, for vm.jit.

Each encoder returns the bytes of one instruction; registers are numbers 0..15 (``RAX`` ..
``R15``), ``w`` selects the 64-bit operand size (REX.W).  Memory operands are ``[base + disp]``
only.  :class:`Asm` collects instructions and jumps to :class:`Label` objects and lays them out
with the shortest jump forms that reach (``assemble``).
"""
from __future__ import annotations

import struct

__all__ = [
    "RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI", "R8", "R9", "R10", "R11", "R12",
    "R13", "R14", "R15", "CC", "Label", "Asm",
]

RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI = range(8)
R8, R9, R10, R11, R12, R13, R14, R15 = range(8, 16)

# Condition codes (the low nibble of Jcc).
CC = {"o": 0x0, "b": 0x2, "ae": 0x3, "e": 0x4, "ne": 0x5, "be": 0x6, "a": 0x7, "s": 0x8,
      "ns": 0x9, "l": 0xC, "ge": 0xD, "le": 0xE, "g": 0xF}

# Group-1 ALU operations: (opcode of "op r/m, reg", /digit of "op r/m, imm").
ADD, OR, AND, SUB, XOR, CMP = (0x01, 0), (0x09, 1), (0x21, 4), (0x29, 5), (0x31, 6), (0x39, 7)
# Group-3 (F7 /digit) and group-2 shifts (D3/C1 /digit).
NOT, NEG, MUL, IMUL1, DIV, IDIV = 2, 3, 4, 5, 6, 7
ROL, SHL, SHR, SAR = 0, 4, 5, 7


def _rex(w: bool, reg: int, base: int, force: bool = False) -> bytes:
    value = 0x40 | (8 if w else 0) | ((reg >> 3) << 2) | (base >> 3)
    return bytes([value]) if value != 0x40 or force else b""


def _byte_reg(r: int) -> bool:
    """spl/bpl/sil/dil need a REX prefix (without one, 4..7 mean ah/ch/dh/bh)."""
    return 4 <= r <= 7


def rr(opcode: bytes, reg: int, rm: int, w: bool, prefix: bytes = b"",
       force: bool = False) -> bytes:
    """``opcode`` with a register-direct ModRM (reg field ``reg``, r/m field ``rm``)."""
    return prefix + _rex(w, reg, rm, force) + opcode + bytes([0xC0 | ((reg & 7) << 3) | (rm & 7)])


def _mem(reg: int, base: int, disp: int) -> bytes:
    low = base & 7
    sib = b"\x24" if low == RSP else b""
    if disp == 0 and low != RBP:
        return bytes([((reg & 7) << 3) | low]) + sib
    if -128 <= disp <= 127:
        return bytes([0x40 | ((reg & 7) << 3) | low]) + sib + struct.pack("<b", disp)
    return bytes([0x80 | ((reg & 7) << 3) | low]) + sib + struct.pack("<i", disp)


def rm(opcode: bytes, reg: int, base: int, disp: int, w: bool, prefix: bytes = b"",
       force: bool = False) -> bytes:
    """``opcode`` with a memory operand ``[base + disp]`` (reg field ``reg``)."""
    return prefix + _rex(w, reg, base, force) + opcode + _mem(reg, base, disp)


# -- register and immediate arithmetic ---------------------------------------------------------

def alu_rr(op, dst: int, src: int, w: bool) -> bytes:
    """``op dst, src`` for ADD/OR/AND/SUB/XOR/CMP."""
    return rr(bytes([op[0]]), src, dst, w)


def alu_ri(op, dst: int, imm: int, w: bool) -> bytes:
    """``op dst, imm`` (imm sign-extended from 32 bits)."""
    if -128 <= imm <= 127:
        return rr(b"\x83", op[1], dst, w) + struct.pack("<b", imm)
    if dst == RAX:                                          # the short accumulator form
        return _rex(w, 0, 0) + bytes([op[0] + 4]) + struct.pack("<i", imm)
    return rr(b"\x81", op[1], dst, w) + struct.pack("<i", imm)


def alu_mi(op, base: int, disp: int, imm: int, w: bool) -> bytes:
    """``op [base + disp], imm`` (imm sign-extended from 32 bits)."""
    if -128 <= imm <= 127:
        return rm(b"\x83", op[1], base, disp, w) + struct.pack("<b", imm)
    return rm(b"\x81", op[1], base, disp, w) + struct.pack("<i", imm)


def test_rr(a: int, b: int, w: bool) -> bytes:
    return rr(b"\x85", b, a, w)


def test_ri(a: int, imm: int, w: bool) -> bytes:
    if a == RAX:
        return _rex(w, 0, 0) + b"\xa9" + struct.pack("<i", imm)
    return rr(b"\xf7", 0, a, w) + struct.pack("<i", imm)


def mov_rr(dst: int, src: int, w: bool) -> bytes:
    return rr(b"\x89", src, dst, w)


def mov_ri(dst: int, value: int) -> bytes:
    """Load a 64-bit pattern (0..2**64-1 or a negative int) into ``dst``, shortest form."""
    value &= (1 << 64) - 1
    if value == 0:
        return alu_rr(XOR, dst, dst, False)
    if value < 1 << 32:                                     # mov r32, imm32 zero-extends
        return _rex(False, 0, dst) + bytes([0xB8 | (dst & 7)]) + struct.pack("<I", value)
    if value >= (1 << 64) - (1 << 31):                      # sign-extended imm32
        return rr(b"\xc7", 0, dst, True) + struct.pack("<i", value - (1 << 64))
    return _rex(True, 0, dst) + bytes([0xB8 | (dst & 7)]) + struct.pack("<Q", value)


def imul_rr(dst: int, src: int, w: bool) -> bytes:
    return rr(b"\x0f\xaf", dst, src, w)


def imul_rri(dst: int, src: int, imm: int, w: bool) -> bytes:
    if -128 <= imm <= 127:
        return rr(b"\x6b", dst, src, w) + struct.pack("<b", imm)
    return rr(b"\x69", dst, src, w) + struct.pack("<i", imm)


def group3(digit: int, r: int, w: bool) -> bytes:
    """NOT/NEG/MUL/DIV/IDIV r (F7 /digit)."""
    return rr(b"\xf7", digit, r, w)


def shift_cl(digit: int, r: int, w: bool) -> bytes:
    return rr(b"\xd3", digit, r, w)


def shift_ri(digit: int, r: int, count: int, w: bool) -> bytes:
    return rr(b"\xc1", digit, r, w) + bytes([count & 0xFF])


def rol16(r: int, count: int) -> bytes:
    return rr(b"\xc1", ROL, r, False, prefix=b"\x66") + bytes([count])


def bswap(r: int, w: bool) -> bytes:
    return _rex(w, 0, r) + bytes([0x0F, 0xC8 | (r & 7)])


def movzx_rr(dst: int, src: int, bits: int) -> bytes:
    """Zero-extend the low 8/16/32 bits of ``src`` into ``dst``."""
    if bits == 32:
        return mov_rr(dst, src, False)
    return rr(b"\x0f\xb6" if bits == 8 else b"\x0f\xb7", dst, src, False,
              force=bits == 8 and _byte_reg(src))


def movsx_rr(dst: int, src: int, bits: int, w: bool) -> bytes:
    """Sign-extend the low 8/16/32 bits of ``src`` into ``dst`` (32 or 64 bits wide)."""
    if bits == 32:
        return rr(b"\x63", dst, src, True)
    return rr(b"\x0f\xbe" if bits == 8 else b"\x0f\xbf", dst, src, w,
              force=bits == 8 and _byte_reg(src))


def cqo(w: bool) -> bytes:
    return b"\x48\x99" if w else b"\x99"


def lea(dst: int, base: int, disp: int, w: bool = True) -> bytes:
    return rm(b"\x8d", dst, base, disp, w)


# -- memory ------------------------------------------------------------------------------------

def load(dst: int, base: int, disp: int, size: int, signed: bool = False) -> bytes:
    """``dst = [base + disp]`` of 1/2/4/8 bytes, zero- or (``signed``) sign-extended to 64."""
    if size == 1:
        return rm(b"\x0f\xbe" if signed else b"\x0f\xb6", dst, base, disp, signed)
    if size == 2:
        return rm(b"\x0f\xbf" if signed else b"\x0f\xb7", dst, base, disp, signed)
    if size == 4:
        return rm(b"\x63" if signed else b"\x8b", dst, base, disp, signed)
    return rm(b"\x8b", dst, base, disp, True)


def store(base: int, disp: int, src: int, size: int) -> bytes:
    """``[base + disp] = src`` (low 1/2/4/8 bytes)."""
    if size == 1:
        return rm(b"\x88", src, base, disp, False, force=_byte_reg(src))
    if size == 2:
        return rm(b"\x89", src, base, disp, False, prefix=b"\x66")
    return rm(b"\x89", src, base, disp, size == 8)


def store_imm(base: int, disp: int, imm: int, size: int) -> bytes:
    """``[base + disp] = imm`` (1/2/4 bytes, or 8 bytes sign-extended from imm32)."""
    if size == 1:
        return rm(b"\xc6", 0, base, disp, False) + struct.pack("<B", imm & 0xFF)
    if size == 2:
        return rm(b"\xc7", 0, base, disp, False, prefix=b"\x66") + struct.pack("<H", imm & 0xFFFF)
    return rm(b"\xc7", 0, base, disp, size == 8) + struct.pack("<I", imm & 0xFFFFFFFF)


def lock_alu(op, base: int, disp: int, src: int, w: bool) -> bytes:
    """``lock op [base + disp], src`` for ADD/OR/AND/XOR."""
    return rm(bytes([op[0]]), src, base, disp, w, prefix=b"\xf0")


def lock_xadd(base: int, disp: int, src: int, w: bool) -> bytes:
    return rm(b"\x0f\xc1", src, base, disp, w, prefix=b"\xf0")


def xchg(base: int, disp: int, src: int, w: bool) -> bytes:
    return rm(b"\x87", src, base, disp, w)


def lock_cmpxchg(base: int, disp: int, src: int, w: bool) -> bytes:
    return rm(b"\x0f\xb1", src, base, disp, w, prefix=b"\xf0")


# -- stack and control -------------------------------------------------------------------------

def push(r: int) -> bytes:
    return _rex(False, 0, r) + bytes([0x50 | (r & 7)])


def pop(r: int) -> bytes:
    return _rex(False, 0, r) + bytes([0x58 | (r & 7)])


def call_r(r: int) -> bytes:
    """``call r`` (an absolute address in a register)."""
    return rr(b"\xff", 2, r, False)


RET = b"\xc3"
LEAVE = b"\xc9"
REP_MOVSB = b"\xf3\xa4"


class Label:
    """A position in an :class:`Asm`; bound once with ``Asm.bind``."""
    __slots__ = ("pos", "name")

    def __init__(self, name: str = ""):
        self.pos: int | None = None      # index into Asm.items once bound
        self.name = name


class _Jump:
    __slots__ = ("kind", "cc", "label", "long")

    def __init__(self, kind: str, cc: int, label: Label):
        self.kind = kind                  # "jmp", "jcc" or "call"
        self.cc = cc
        self.label = label
        self.long = kind == "call"

    def size(self) -> int:
        if not self.long:
            return 2
        return 6 if self.kind == "jcc" else 5

    def encode(self, disp: int) -> bytes:
        if not self.long:
            return bytes([0xEB if self.kind == "jmp" else 0x70 | self.cc]) + struct.pack("<b", disp)
        head = {"jmp": b"\xe9", "call": b"\xe8"}.get(self.kind) or bytes([0x0F, 0x80 | self.cc])
        return head + struct.pack("<i", disp)


class _LeaRip:
    """``lea reg, [rip + label]``: the address of a label (7 bytes)."""
    __slots__ = ("reg", "label", "long")

    def __init__(self, reg: int, label: Label):
        self.reg, self.label, self.long = reg, label, True

    def size(self) -> int:
        return 7

    def encode(self, disp: int) -> bytes:
        return _rex(True, self.reg, 0) + b"\x8d" + bytes([0x05 | ((self.reg & 7) << 3)]) + \
            struct.pack("<i", disp)


class Asm:
    """Instructions and jumps in order; ``assemble()`` resolves labels into machine code."""

    def __init__(self):
        self.items: list = []             # bytes or _Jump
        self.labels: list[Label] = []
        self.offsets: list[int] = []      # byte offset of each item, after assemble()

    def emit(self, *chunks: bytes) -> None:
        self.items.extend(chunks)

    def bind(self, label: Label) -> None:
        if label.pos is not None:
            raise ValueError(f"label {label.name!r} bound twice")
        label.pos = len(self.items)
        self.labels.append(label)

    def jmp(self, label: Label) -> None:
        self.items.append(_Jump("jmp", 0, label))

    def jcc(self, cc: str, label: Label) -> None:
        self.items.append(_Jump("jcc", CC[cc], label))

    def call(self, label: Label) -> None:
        self.items.append(_Jump("call", 0, label))

    def lea_rip(self, reg: int, label: Label) -> None:
        self.items.append(_LeaRip(reg, label))

    def assemble(self) -> bytes:
        """Machine code; jumps take the short form when the target is within reach."""
        items = self.items
        for label in self.labels:
            if label.pos is None:
                raise ValueError(f"label {label.name!r} never bound")
        jumps = [(i, item) for i, item in enumerate(items) if isinstance(item, (_Jump, _LeaRip))]
        for _, jump in jumps:
            if jump.label.pos is None:
                raise ValueError(f"jump to unbound label {jump.label.name!r}")
        while True:
            starts = self._layout()
            grew = False
            for i, jump in jumps:
                if jump.long:
                    continue
                disp = starts[jump.label.pos] - (starts[i] + jump.size())
                if not -128 <= disp <= 127:
                    jump.long = True
                    grew = True
            if not grew:
                break
        self.offsets = starts
        out = bytearray()
        for i, item in enumerate(items):
            if isinstance(item, (_Jump, _LeaRip)):
                out += item.encode(starts[item.label.pos] - (starts[i] + item.size()))
            else:
                out += item
        return bytes(out)

    def offset(self, label: Label) -> int:
        """The byte offset of ``label`` in the assembled code (after ``assemble``)."""
        return self.offsets[label.pos]

    def _layout(self) -> list[int]:
        starts = []
        pos = 0
        for item in self.items:
            starts.append(pos)
            pos += len(item) if isinstance(item, bytes) else item.size()
        starts.append(pos)
        return starts
