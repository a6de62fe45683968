"""Print packets exactly as tcpdump 4.99 prints them.

    opts = PrintOptions(numeric=1, verbose=1)
    printer = Printer(opts)
    text = printer.format(packet)      # bpfdump.packet.Packet -> str, no trailing newline

A Printer keeps the state tcpdump keeps between packets: the previous timestamp (-ttt,
-ttttt), the initial sequence numbers of each TCP connection (relative seq/ack), the packet
counter (-#), and resolved names.

Ethernet frames of the common shapes go through the fast lane (lane.py: one pass, one format
per line, the general printers' own helpers) and everything else through the protocol
printers, one module per family; both print the same text.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from . import ether
from .core import Ctx, Stop, Truncated
from .hexdump import ascii_text, hex_ascii_lines, hex_lines
from .lane import make_lane
from .names import Names
from .tables import (DLT_EN10MB, DLT_IPV4, DLT_IPV6, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_LOOP,
                     DLT_NULL, DLT_RAW, DLT_RAW_ALT, LINKTYPE_RAW)
from .timestamps import Clock

__all__ = ["PrintOptions", "Printer"]


@dataclass
class PrintOptions:
    """tcpdump's printing flags. Integer fields count repetitions (-vv is verbose=2)."""
    numeric: int = 0        # -n
    quiet: int = 0          # -q
    verbose: int = 0        # -v, -vv, -vvv
    ether: bool = False     # -e
    hex: int = 0            # -x (1), -xx (2)
    hexascii: int = 0       # -X (1), -XX (2)
    ascii: int = 0          # -A (1), -AA (2)
    ts_format: int = 0      # 0 default, 1 -t, 2 -tt, 3 -ttt, 4 -tttt, 5 -ttttt
    nano: bool = False      # --nano: nanosecond timestamps
    number: bool = False    # -#
    absolute_seq: bool = False  # -S
    snaplen: int = 262144


class _State:
    """What persists from one packet to the next."""

    __slots__ = ("names", "tcp_seq")

    def __init__(self, opts: PrintOptions):
        self.names = Names(opts.numeric)
        self.tcp_seq: dict = {}


class Printer:
    """Formats packets one at a time, keeping tcpdump's inter-packet state."""

    def __init__(self, opts: PrintOptions | None = None):
        self.opts = opts if opts is not None else PrintOptions()
        self.clock = Clock(self.opts.ts_format, self.opts.nano)
        self.state = _State(self.opts)
        self.count = 0
        self._dump = _dump_for(self.opts)
        self._ctx = Ctx(self.opts, self.state, b"", 0)
        self._lane = make_lane(self.opts, self.state, self._route)
        # the lane's text is all there is to print after the timestamp (no -x, no -#)
        self._plain_lane = (self._lane is not None and self._dump is None
                            and not self.opts.number)

    def format(self, pkt) -> str:
        """The complete text tcpdump prints for pkt (no trailing newline)."""
        self.count += 1
        ts, wirelen, data, linktype = pkt[:4]
        if linktype == DLT_EN10MB and self._plain_lane and type(data) is bytes:
            text = self._lane(data, wirelen)
            if text is not None:
                return self.clock.format(ts) + text
        head = self.clock.format(ts)
        if self.opts.number:
            head = ("%5u  " % self.count) + head
        if type(data) is not bytes:
            data = bytes(data)
        if linktype == DLT_EN10MB and self._lane is not None and self._plain_lane is False:
            if self._dump is None:
                text = self._lane(data, wirelen)
                if text is not None:
                    return head + text
            else:   # what -x skips: the link header, unless a printer run by _route says else
                ctx = self._ctx
                ctx.hdrlen = 18 if data[12:14] == b"\x81\x00" else 14
                text = self._lane(data, wirelen)
                if text is not None:
                    return head + text + self._dumped(data, ctx.hdrlen)
        ctx = self._ctx         # one Ctx serves every packet: its per-packet fields are reset
        ctx.data = data
        ctx.end = len(data)
        ctx.out = out = [head]
        ctx.w = out.append
        ctx.proto = ""
        ctx.wirelen = wirelen
        ctx.hdrlen = 0
        link = _LINKS.get(linktype)
        try:
            if link is None:
                ctx.proto = "unknown"
                hdrlen = 0
            else:
                hdrlen = link(ctx, 0, wirelen)
        except Stop:
            hdrlen = ctx.hdrlen
        except _TRUNCATED:
            out.append(" [|%s]" % ctx.proto)
            hdrlen = 0
        if ctx._ends:           # left by a printer that stopped between push_end and pop_end
            ctx._ends = []
        if self._dump is not None:
            out.append(self._dumped(data, hdrlen))
        return "".join(out)

    def _dumped(self, data: bytes, hdrlen: int) -> str:
        """The -x/-X/-A text of a packet whose link header is hdrlen bytes long."""
        dump, whole = self._dump
        if whole:
            return dump(data)
        return dump(data[hdrlen:]) if len(data) > hdrlen else ""

    def _route(self, text: str, printer, data: bytes, end: int, wirelen: int, hdrlen: int,
               proto: str, *args) -> str:
        """The fast lane's way into a general printer: printer(ctx, *args) on this Printer's
        Ctx (capture end `end`, link header `hdrlen`) after `text`, with the general path's
        handling of truncation (ctx.hdrlen is then what -x skips); the whole text."""
        ctx = self._ctx
        ctx.data = data
        ctx.end = end
        ctx.out = out = [text]
        ctx.w = out.append
        ctx.proto = proto
        ctx.wirelen = wirelen
        ctx.hdrlen = hdrlen
        try:
            printer(ctx, *args)
        except Stop:
            pass
        except _TRUNCATED:
            out.append(" [|%s]" % ctx.proto)
            ctx.hdrlen = 0
        if ctx._ends:
            ctx._ends = []
        return "".join(out)


# what the top level turns into " [|proto]" (tcpdump's longjmp out of a printer)
_TRUNCATED = (Truncated, IndexError, ValueError, KeyError, OverflowError, ZeroDivisionError,
              struct.error)


def _dump_for(o: PrintOptions):
    """(dump function, whole frame?) for -x/-xx, -X/-XX, -A/-AA, or None."""
    if o.hexascii:
        return hex_ascii_lines, o.hexascii > 1
    if o.hex:
        return hex_lines, o.hex > 1
    if o.ascii:
        return ascii_text, o.ascii > 1
    return None


_LINKS = {DLT_EN10MB: ether.ether_print, DLT_LINUX_SLL: ether.sll_print,
          DLT_LINUX_SLL2: ether.sll2_print, DLT_RAW: ether.raw_print,
          DLT_RAW_ALT: ether.raw_print, LINKTYPE_RAW: ether.raw_print,
          DLT_IPV4: ether.raw_print, DLT_IPV6: ether.raw_print,
          DLT_NULL: ether.null_print, DLT_LOOP: ether.null_print}
