"""What classic and extended BPF programs share: an immutable sequence of instructions."""
from __future__ import annotations


class InsnSequence:
    """Base of ``vm.cbpf.Program`` and ``vm.ebpf.Program``: a frozen tuple ``insns`` that the
    program indexes, iterates and measures by pc. A subclass declares the slot ``insns`` and
    gets construction from any iterable, equality (same class, same instructions), a hash, a
    repr and refusal of assignment; a frozen dataclass subclass declared with ``init=False``
    keeps this constructor and brings its own methods for the rest."""

    __slots__ = ()

    def __init__(self, insns=()):
        object.__setattr__(self, "insns", tuple(insns))

    def __len__(self) -> int:
        return len(self.insns)

    def __iter__(self):
        return iter(self.insns)

    def __getitem__(self, pc):
        return self.insns[pc]

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.insns == other.insns

    def __hash__(self):
        return hash((self.__class__.__name__, self.insns))

    def __repr__(self):
        return f"{type(self).__name__}(insns={self.insns!r})"

    def __reduce__(self):      # pickle and copy rebuild through the constructor
        return (self.__class__, (self.insns,))

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r}")
