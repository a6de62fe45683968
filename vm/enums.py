"""Enumerations built quickly at import time.

``@int_enum`` (``@int_flag``, ``@str_enum``) on a plain class of ``NAME = value`` lines makes
it the IntEnum (IntFlag, Enum) of those members: the same class the ``class X(IntEnum)``
statement gives (members, iteration order, lookup by value and name, pickling), built by the
standard library's own quick path, ``enum._simple_enum``, which skips the checks of the
general class statement. With ~20 enumerations on the way to compiling and running a filter,
that halves their share of start-up (~0.2 ms each). On Pythons without it (< 3.11) the
decorators fall back to the functional API, with the same result.
"""
from __future__ import annotations

from enum import Enum, IntEnum, IntFlag

try:
    from enum import _simple_enum
except ImportError:                 # Python 3.10
    _simple_enum = None


def _members(cls) -> dict:
    return {name: value for name, value in vars(cls).items() if not name.startswith("_")}


def _make(base, cls):
    if _simple_enum is not None:
        made = _simple_enum(base)(cls)
        # The quick path reaches every member through a descriptor (0.6 us an access, against
        # 0.2 us for the class statement's members); like the class statement, put each
        # member in the class itself where no base class defines that name.
        for name, member in made._member_map_.items():
            if not any(name in klass.__dict__ for klass in made.__mro__[1:]):
                type.__setattr__(made, name, member)
        return made
    made = base(cls.__name__, _members(cls), module=cls.__module__, qualname=cls.__qualname__)
    made.__doc__ = cls.__doc__
    return made


def int_enum(cls) -> type[IntEnum]:
    """The IntEnum of the plain class ``cls``'s ``NAME = value`` lines."""
    return _make(IntEnum, cls)


def int_flag(cls) -> type[IntFlag]:
    """The IntFlag of the plain class ``cls``'s ``NAME = value`` lines."""
    return _make(IntFlag, cls)


def str_enum(cls) -> type[Enum]:
    """The Enum (plain values, e.g. strings) of the plain class ``cls``'s lines."""
    return _make(Enum, cls)


def plain(enum_cls) -> type:
    """A plain class with ``enum_cls``'s members as int class attributes (``plain(AluOp).ADD
    == 0``): for loops that read many members, where an enum member access costs ~0.1 us
    against ~0.02 us for a plain class attribute."""
    return type(enum_cls.__name__, (), {m.name: int(m) for m in enum_cls})
