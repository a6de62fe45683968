"""MPLS label stacks (print-mpls.c)."""
from __future__ import annotations

from .core import Ctx

LABEL_NAMES = {0: "IPv4 explicit NULL", 1: "router alert", 2: "IPv6 explicit NULL",
               3: "implicit NULL", 4: "rsvd", 5: "rsvd", 6: "rsvd",
               7: "entropy label indicator", 8: "rsvd", 9: "rsvd", 10: "rsvd", 11: "rsvd",
               12: "rsvd", 13: "generic associated channel label", 14: "OAM alert label",
               15: "extension label"}


def mpls_print(ctx: Ctx, off: int, length: int) -> None:
    from . import ip, ip6
    from .ether import default_print
    ctx.proto = "mpls"
    v = ctx.opts.verbose
    ctx.w("MPLS")
    depth = 0
    p = off
    while True:
        if length < 4:
            ctx.w(" (invalid)")
            ctx.need(p, length)
            return
        entry = ctx.u32(p)
        label = entry >> 12
        ctx.w("%s(label %u" % ("\n\t" if depth and v else " ", label))
        depth += 1
        if v and label in LABEL_NAMES:
            ctx.w(" (%s)" % LABEL_NAMES[label])
        ctx.w(", tc %u" % ((entry >> 9) & 7))
        if entry & 0x100:
            ctx.w(", [S]")
        ctx.w(", ttl %u)" % (entry & 0xFF))
        p += 4
        length -= 4
        if entry & 0x100:
            break
    if label in (0, 3):
        kind = 4
    elif label == 2:
        kind = 6
    else:
        if length < 1:
            return
        first = ctx.u8(p)
        kind = 4 if 0x45 <= first <= 0x4F else 6 if 0x60 <= first <= 0x6F else 0
    if kind == 4:
        ctx.w("\n\t" if v else " ")
        ip.ip_print(ctx, p, length)
    elif kind == 6:
        ctx.w("\n\t" if v else " ")
        ip6.ip6_print(ctx, p, length)
    else:
        default_print(ctx, p, length)
