"""Classic BPF: instructions, programs, validation, tcpdump-format disassembly, interpreter.

Core model (stable, used by filterlang): ``Insn(code, jt, jf, k)`` and ``Program``.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


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


MEMWORDS = 16          # BPF_MEMWORDS: scratch memory M[0..15]
MAXINSNS = 4096        # BPF_MAXINSNS (kernel limit for classic programs)


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


def stmt(code: int, k: int = 0) -> Insn:
    """A non-jump instruction (BPF_STMT)."""
    return Insn(code, 0, 0, k & 0xFFFFFFFF)


def jump(code: int, k: int, jt: int, jf: int) -> Insn:
    """A conditional jump (BPF_JUMP); jt/jf are relative to the next instruction."""
    return Insn(code, jt, jf, k & 0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class Program:
    """An ordered tuple of instructions."""
    insns: tuple[Insn, ...]

    def __init__(self, insns=()):
        object.__setattr__(self, "insns", tuple(insns))

    def __len__(self) -> int:
        return len(self.insns)

    def __iter__(self):
        return iter(self.insns)

    def __getitem__(self, pc):
        return self.insns[pc]

    def to_tuples(self) -> list[tuple[int, int, int, int]]:
        return [(i.code, i.jt, i.jf, i.k) for i in self.insns]

    @classmethod
    def from_tuples(cls, rows) -> "Program":
        return cls(Insn(int(c), int(jt), int(jf), int(k) & 0xFFFFFFFF) for c, jt, jf, k in rows)
