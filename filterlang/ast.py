"""The syntax tree of a filter expression: frozen, slotted records (``filterlang.record``),
each with the ``span`` (start, end) of the text it came from."""
from __future__ import annotations

from .record import record

Span = tuple[int, int]


@record
class Qual:
    """The qualifiers in force for an id: protocol ("ip", "tcp", "link" ...), direction
    ("src", "dst", "src or dst", "src and dst", "addr1" ...), address type ("host", "net",
    "port", "portrange", "gateway", "proto", "protochain"). None = not given. ``error`` marks
    the qualifiers of a non-primitive term, which an id may not inherit."""
    proto: str | None = None
    dir: str | None = None
    addr: str | None = None
    error: bool = False
    span: Span = (0, 0)


QERR = Qual(error=True)


@record
class And:
    left: object
    right: object
    span: Span


@record
class Or:
    left: object
    right: object
    span: Span


@record
class Not:
    operand: object
    span: Span


@record
class Id:
    """A primitive: qualifiers applied to one id. ``kind`` is "name", "num", "hid",
    "hid_mask" (``value`` "a.b.c.d", ``extra`` the mask text), "hid_len" (``extra`` the prefix
    length), "hid6", "hid6_len", "eid" or "aid"."""
    kind: str
    value: object
    qual: Qual
    span: Span
    extra: object = None


@record
class ProtoAbbrev:
    """A protocol name alone: ``tcp``, ``ip6``, ``l1``."""
    name: str
    span: Span


@record
class Special:
    """Keyword primitives: ``kind`` is "broadcast"/"multicast" (``proto`` qualifier),
    "less"/"greater"/"ifindex" (``arg`` number), "inbound", "outbound", "vlan", "mpls",
    "pppoes", "geneve", "vxlan" (``arg`` number or None), "pppoed", "llc" (``arg`` subtype name
    or None), or an unsupported family keyword ("type", "fisu", "vpi" ...)."""
    kind: str
    span: Span
    arg: object = None
    proto: str | None = None
    arg_span: Span | None = None


@record
class Relation:
    """``left op right``; op is one of ">", ">=", "=", "<", "<=", "!="."""
    op: str
    left: object
    right: object
    span: Span


@record
class Num:
    value: int
    span: Span


@record
class Len:
    span: Span


@record
class Index:
    """``proto[index:size]``."""
    proto: str
    index: object
    size: int
    span: Span
    size_span: Span | None = None


@record
class BinOp:
    op: str          # + - * / % & | ^ << >>
    left: object
    right: object
    span: Span


@record
class Neg:
    operand: object
    span: Span
