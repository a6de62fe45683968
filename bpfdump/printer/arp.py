"""ARP and RARP (print-arp.c)."""
from __future__ import annotations

import struct

from .core import Ctx, Truncated, tok
from .tables import ETHERTYPES

ARP_OPS = {1: "Request", 2: "Reply", 3: "Reverse Request", 4: "Reverse Reply",
           8: "Inverse Request", 9: "Inverse Reply", 10: "NACK Reply"}
ARP_HRD = {1: "Ethernet", 6: "TokenRing", 7: "ArcNet", 15: "FrameRelay", 16: "ATM",
           18: "Fibre Channel", 19: "ATM", 20: "Strip", 24: "IEEE 1394", 32: "InfiniBand",
           0x201: "IPv6", 0x304: "Loopback", 0x305: "Loopback", 0x306: "Loopback"}


_ARPHDR = struct.Struct(">HHBBH")   # hardware type, protocol type, their lengths, operation


def _linkaddr(ctx: Ctx, off: int, n: int) -> str:
    ctx.need(off, n)
    if n == 6:
        return ctx.state.names.mac(ctx.data[off:off + 6])
    if n == 0:
        return "<empty>"
    return ":".join("%02x" % b for b in ctx.data[off:off + n])


def _paddr(ctx: Ctx, pro: int, pln: int, p: int) -> str:
    if pro not in (0x0800, 0x1000):
        return "<wrong proto type>"
    if pln != 4:
        return "<wrong len>"
    return ctx.state.names.ip(ctx.bytes(p, 4))


_ETHER_IP = struct.Struct(">HHBBH6s4s6s4s")    # the header, then sha, spa, tha, tpa


def arp_text(names, data: bytes, off: int, length: int, end: int, ether: bool) -> str | None:
    """What arp_print prints without -v for an Ethernet/IPv4 request or reply captured up to
    end (`ether`: -e, no "ARP, " in front); None for any other packet."""
    if off + 28 > end:
        return None
    hrd, pro, hln, pln, op, sha, spa, tha, tpa = _ETHER_IP.unpack_from(data, off)
    if pro != 0x0800 or hln != 6 or pln != 4:
        return None
    ip = names.ip_names.get
    if op == 1:
        return "%sRequest who-has %s%s tell %s, length %u" % (
            "" if ether else "ARP, ", ip(tpa) or names.ip(tpa),
            " (%s)" % names.mac(tha) if tha.strip(b"\0") else "",   # a target address is set
            ip(spa) or names.ip(spa), length)
    if op == 2:
        return "%sReply %s is-at %s, length %u" % (
            "" if ether else "ARP, ", ip(spa) or names.ip(spa), names.mac(sha), length)
    return None


def arp_print(ctx: Ctx, off: int, length: int) -> None:
    ctx.proto = "arp"
    o = ctx.opts
    if not o.verbose:
        text = arp_text(ctx.state.names, ctx.data, off, length, ctx.end, o.ether)
        if text is not None:
            ctx.w(text)
            return
    if off + 8 <= ctx.end:
        hrd, pro, hln, pln, op = _ARPHDR.unpack_from(ctx.data, off)
    else:
        hrd = ctx.u16(off)
        pro = ctx.u16(off + 2)
        hln = ctx.u8(off + 4)
        pln = ctx.u8(off + 5)
        op = ctx.u16(off + 6)
    sha = off + 8
    spa = sha + hln
    tha = spa + pln
    tpa = tha + hln
    if not ctx.have(tpa, pln):
        raise Truncated()
    if not o.ether:
        ctx.w("ARP, ")
    if (pro not in (0x0800, 0x1000)) or pln != 4 or hln == 0 or o.verbose:
        ctx.w("%s (len %u), %s (len %u)" % (tok(ARP_HRD, hrd, "Unknown Hardware (%u)"), hln,
                                            tok(ETHERTYPES, pro, "Unknown Protocol (0x%04x)"),
                                            pln))
        if not o.verbose:
            ctx.w(", length %u" % length)
            return
    ctx.w("%s%s " % (", " if o.verbose else "", tok(ARP_OPS, op, "Unknown (%u)")))

    def paddr(p: int) -> str:
        return _paddr(ctx, pro, pln, p)

    if op == 1:
        ctx.w("who-has %s" % paddr(tpa))
        if ctx.data[tha:tha + hln].strip(b"\0"):     # a target hardware address is set
            ctx.w(" (%s)" % _linkaddr(ctx, tha, hln))
        ctx.w(" tell %s" % paddr(spa))
    elif op == 2:
        ctx.w("%s is-at %s" % (paddr(spa), _linkaddr(ctx, sha, hln)))
    elif op == 3:
        ctx.w("who-is %s tell %s" % (_linkaddr(ctx, tha, hln), _linkaddr(ctx, sha, hln)))
    elif op == 4:
        ctx.w("%s at %s" % (_linkaddr(ctx, tha, hln), paddr(tpa)))
    elif op == 8:
        ctx.w("who-is %s tell %s" % (_linkaddr(ctx, tha, hln), _linkaddr(ctx, sha, hln)))
    elif op == 9:
        ctx.w("%s at %s" % (_linkaddr(ctx, sha, hln), paddr(spa)))
    else:
        from .ether import default_print
        default_print(ctx, off, ctx.avail(off), always=True)
        return
    ctx.w(f", length {length}")


__all__ = ["arp_print", "Truncated"]
