"""What classic and extended BPF programs share: an immutable sequence of instructions."""
from __future__ import annotations


class InsnSequence:
    """Base of ``vm.cbpf.Program`` and ``vm.ebpf.Program``: a frozen tuple ``insns`` that the
    program indexes, iterates and measures by pc. Subclasses are frozen, slotted dataclasses
    declared with ``init=False`` so that this constructor (any iterable) is theirs."""

    __slots__ = ()

    def __init__(self, insns=()):
        object.__setattr__(self, "insns", tuple(insns))

    def __len__(self) -> int:
        return len(self.insns)

    def __iter__(self):
        return iter(self.insns)

    def __getitem__(self, pc):
        return self.insns[pc]
