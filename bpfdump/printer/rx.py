"""AFS RX (UDP ports 7000-7009), the part of tcpdump's print-rx.c bpfdump decodes so far.

The 28-byte RX header: epoch, cid, call number, seq, serial (32 bits each), then type, flags,
user status, security index (8 bits each), a spare 16-bit word and the service id. tcpdump prints
` [|rx] (LEN)` when the header is not all captured, else ` rx TYPE` ... ` (LEN)`. Decoded here:
the short header, and the type line of every packet type but DATA and ACK without -v.
``rx_print`` returns False for what it does not decode (DATA and ACK bodies with their AFS
service calls, the -v fields), and the caller prints the generic UDP line instead.
"""
from __future__ import annotations

RX_PORTS = range(7000, 7010)
HEADER_LEN = 28
TYPE_OFF = 20
DATA, ACK = 1, 2
TYPE_NAMES = {1: "data", 2: "ack", 3: "busy", 4: "abort", 5: "ackall", 6: "challenge",
              7: "response", 8: "debug", 9: "params", 13: "version"}


def is_rx(sport: int, dport: int) -> bool:
    return sport in RX_PORTS or dport in RX_PORTS


def rx_print(ctx, off: int, length: int) -> bool:
    """Print what tcpdump prints for an RX payload of ``length`` bytes at ``off``; False when
    this packet needs decoding not written yet."""
    if not ctx.have(off, HEADER_LEN):
        ctx.w(" [|rx] (%u)" % length)
        return True
    kind = ctx.u8(off + TYPE_OFF)
    if kind in (DATA, ACK) or ctx.opts.verbose:
        return False
    ctx.w(" rx %s (%u)" % (TYPE_NAMES.get(kind, "type %u" % kind), length))
    return True
