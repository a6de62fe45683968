"""eBPF (RFC 9669): instructions, encode/decode, assembler and disassembler.

Core model (stable, used by translate/verifier/interp): ``Insn(opcode, dst, src, off, imm)``;
an LD_IMM64 occupies two slots: the first Insn carries the low 32 bits in ``imm`` and the
second (opcode 0) the high 32 bits in its ``imm``, exactly as on the wire.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum


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


@dataclass(frozen=True, slots=True)
class Program:
    """An ordered tuple of instruction slots (LD_IMM64 takes two)."""
    insns: tuple[Insn, ...]

    def __init__(self, insns=()):
        object.__setattr__(self, "insns", tuple(insns))

    def __len__(self) -> int:
        return len(self.insns)

    def __iter__(self):
        return iter(self.insns)

    def __getitem__(self, pc):
        return self.insns[pc]

    def encode(self) -> bytes:
        return b"".join(i.encode() for i in self.insns)

    @classmethod
    def decode(cls, raw: bytes) -> "Program":
        if len(raw) % 8:
            raise ValueError(f"eBPF program length {len(raw)} is not a multiple of 8")
        return cls(Insn.decode(raw[o:o + 8]) for o in range(0, len(raw), 8))
