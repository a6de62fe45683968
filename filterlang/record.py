"""Frozen, slotted value classes without dataclass code generation.

``@record`` on a class body of annotated fields gives it ``__slots__``, a constructor
(positional or keyword arguments, defaults from the class body), equality by class and
fields, a hash, a dataclass-style repr, and refuses assignment afterwards. It does what
``@dataclass(frozen=True, slots=True)`` does for these records without generating and
compiling code per class (a millisecond each at import time, which start-up pays).
"""
from __future__ import annotations

_MISSING = object()


class Record:
    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _defaults: tuple = ()

    def __init__(self, *args, **kwargs):
        fields = self._fields
        if not kwargs and len(args) == len(fields):
            for name, value in zip(fields, args):
                object.__setattr__(self, name, value)
            return
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}() takes {len(fields)} arguments")
        values = list(args) + [_MISSING] * (len(fields) - len(args))
        for name, value in kwargs.items():
            try:
                i = fields.index(name)
            except ValueError:
                raise TypeError(f"{type(self).__name__}() got an unexpected argument "
                                f"{name!r}") from None
            if values[i] is not _MISSING:
                raise TypeError(f"{type(self).__name__}() got {name!r} twice")
            values[i] = value
        for i, name in enumerate(fields):
            value = values[i]
            if value is _MISSING:
                value = self._defaults[i]
                if value is _MISSING:
                    raise TypeError(f"{type(self).__name__}() missing argument {name!r}")
            object.__setattr__(self, name, value)

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self):
        return hash((self.__class__.__name__, self._values()))

    def __repr__(self):
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({inner})"

    def __reduce__(self):      # pickle and copy rebuild through the constructor
        return (self.__class__, self._values())

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r}")


def record(cls):
    """Class decorator: a ``Record`` subclass from a plain class body of annotated fields."""
    body = dict(cls.__dict__)
    fields = tuple(body.get("__annotations__", {}))
    defaults = tuple(body.pop(name, _MISSING) for name in fields)
    body.pop("__dict__", None)
    body.pop("__weakref__", None)
    body.update(__slots__=fields, _fields=fields, _defaults=defaults, __match_args__=fields)
    return type(cls.__name__, (Record,), body)
