"""Per-packet decoding context shared by the protocol printers.

Printers read the packet through `Ctx` accessors that raise `Truncated` when a read runs past
the current end of the captured data (tcpdump's snapend); the top level turns that into
tcpdump's " [|proto]" marker.
"""
from __future__ import annotations

import struct

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class Truncated(Exception):
    """A read ran past the captured data (tcpdump's longjmp: the -x dump then starts at 0)."""


class Stop(Exception):
    """A printer reported truncation itself and ended the packet (tcpdump's local 'trunc:')."""


class Ctx:
    """One packet being printed: its bytes, the current capture end, the output pieces.

    `w(text)` appends to the output (it is `out.append` itself: printers call it often)."""

    __slots__ = ("opts", "state", "data", "end", "out", "w", "proto", "wirelen", "_ends",
                 "hdrlen")

    def __init__(self, opts, state, data: bytes, wirelen: int, head: str = ""):
        self.opts = opts
        self.state = state
        self.data = data
        self.end = len(data)
        self.out: list[str] = [head]
        self.w = self.out.append
        self.proto = ""
        self.wirelen = wirelen
        self._ends: list[int] = []
        self.hdrlen = 0  # link-layer header length, for -x when a printer stops early

    def trunc(self) -> None:
        """Print " [|proto]" and end the packet, keeping the link-layer header length."""
        self.out.append(" [|%s]" % self.proto)
        raise Stop()

    def text(self) -> str:
        return "".join(self.out)

    # bounds
    def have(self, off: int, n: int) -> bool:
        return off >= 0 and n >= 0 and off + n <= self.end

    def need(self, off: int, n: int) -> None:
        if not self.have(off, n):
            raise Truncated()

    def push_end(self, off: int, length: int) -> None:
        """Shrink the capture end to off+length (never grow it)."""
        self._ends.append(self.end)
        if off + length < self.end:
            self.end = max(off + length, off)

    def pop_end(self) -> None:
        self.end = self._ends.pop()

    # readers
    def u8(self, off: int) -> int:
        if off < 0 or off >= self.end:
            raise Truncated()
        return self.data[off]

    def u16(self, off: int) -> int:
        if off < 0 or off + 2 > self.end:
            raise Truncated()
        return _U16.unpack_from(self.data, off)[0]

    def u24(self, off: int) -> int:
        self.need(off, 3)
        d = self.data
        return (d[off] << 16) | (d[off + 1] << 8) | d[off + 2]

    def u32(self, off: int) -> int:
        if off < 0 or off + 4 > self.end:
            raise Truncated()
        return _U32.unpack_from(self.data, off)[0]

    def le16(self, off: int) -> int:
        self.need(off, 2)
        return self.data[off] | (self.data[off + 1] << 8)

    def le32(self, off: int) -> int:
        self.need(off, 4)
        return int.from_bytes(self.data[off:off + 4], "little")

    def bytes(self, off: int, n: int) -> bytes:
        self.need(off, n)
        return self.data[off:off + n]

    def avail(self, off: int) -> int:
        """Captured bytes from off to the current end."""
        return max(0, self.end - off)


def tok(table: dict, value: int, default: str) -> str:
    """tcpdump's tok2str: the name of value, or default formatted with it."""
    name = table.get(value)
    if name is not None:
        return name
    return default % value if "%" in default else default


def port_printer(payloads: dict, sport: int, dport: int):
    """The payload printer of a port pair from {port: (rank, printer)}: the lower rank wins when
    both ports have one (the source port on a tie); None when neither has."""
    a = payloads.get(sport)
    b = payloads.get(dport)
    if a is None:
        return None if b is None else b[1]
    if b is not None and b[0] < a[0]:
        return b[1]
    return a[1]


def bittok(table: dict, value: int, default: str, sep: str = ", ") -> str:
    """tcpdump's bittok2str: names of the set bits joined by sep, or default."""
    names = [name for bit, name in table.items() if bit and (value & bit) == bit]
    if not names:
        return default % value if "%" in default else default
    return sep.join(names)


def in_cksum(data: bytes, init: int = 0) -> int:
    """Ones'-complement sum of the 16-bit words of data (an odd byte padded with zero) and
    init, folded to 16 bits, complemented (0 when the checksum verifies).

    Since 2**16 == 1 (mod 0xFFFF), the words of data sum to the number data spells, modulo
    0xFFFF; the folded sum is that residue, written 0xFFFF rather than 0 unless everything
    is zero. `init` may be any non-negative number with the residue of the sum it stands for
    (and zero only when that sum is)."""
    total = int.from_bytes(data, "big")
    if len(data) & 1:
        total <<= 8
    total += init
    if total:
        total = total % 0xFFFF or 0xFFFF
    return (~total) & 0xFFFF


def cksum_shouldbe(sum_field: int, computed: int) -> int:
    """The checksum field value that would have verified, given the computed in_cksum."""
    s = sum_field + computed
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return s & 0xFFFF
