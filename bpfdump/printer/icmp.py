"""ICMP for IPv4 (print-icmp.c)."""
from __future__ import annotations

import struct

from .core import Ctx, cksum_shouldbe, in_cksum, tok

ICMP_NAMES = {0: "echo reply", 4: "source quench", 8: "echo request", 10: "router solicitation",
              13: "time stamp request", 14: "time stamp reply", 15: "information request",
              16: "information reply", 17: "address mask request"}
UNREACH = {5: "%s unreachable - source route failed", 6: "net %s unreachable - unknown",
           7: "host %s unreachable - unknown", 8: "%s unreachable - source host isolated",
           9: "net %s unreachable - admin prohibited", 10: "host %s unreachable - admin prohibited",
           11: "net %s unreachable - tos prohibited", 12: "host %s unreachable - tos prohibited",
           13: "host %s unreachable - admin prohibited filter",
           14: "host %s unreachable - host precedence violation",
           15: "host %s unreachable - precedence cutoff"}
REDIRECT = {0: "redirect %s to net %s", 1: "redirect %s to host %s",
            2: "redirect-tos %s to net %s", 3: "redirect-tos %s to host %s"}
ERROR_TYPES = (3, 4, 5, 11, 12)


def _tstamp(t: int) -> str:
    ms = t % 1000
    sec = t // 1000
    return "%02d:%02d:%02d.%03d" % (sec // 3600, (sec % 3600) // 60, sec % 60, ms)


def _echo(itype: int, ident: int, seq: int) -> str:
    return "echo %s, id %u, seq %u" % ("request" if itype == 8 else "reply", ident, seq)


_ID_SEQ = struct.Struct(">HH")


def echo_text(data: bytes, off: int, length: int, end: int) -> str | None:
    """What icmp_print prints without -v for an echo request or reply whose header is captured
    (up to end); None for any other message."""
    if off + 8 > end or data[off] not in (0, 8):
        return None
    return "ICMP %s, length %u" % (_echo(data[off], *_ID_SEQ.unpack_from(data, off + 4)), length)


def icmp_print(ctx: Ctx, off: int, length: int, net) -> None:
    ctx.proto = "icmp"
    _icmp(ctx, off, length, net)


def _icmp(ctx: Ctx, off: int, length: int, net) -> None:
    names = ctx.state.names
    itype = ctx.u8(off)
    code = ctx.u8(off + 1)
    oip = off + 8
    if itype == 11 and not ctx.have(oip + 16, 4):
        ctx.trunc()
    if itype == 14 and not ctx.have(off, 20):
        ctx.trunc()
    if itype == 3 and ctx.u8(off + 1) == 3 and not ctx.have(oip + 9, 1):
        ctx.trunc()
    if itype in (0, 8):
        text = _echo(itype, ctx.u16(off + 4), ctx.u16(off + 6))
    elif itype == 3:
        if code == 0:
            text = "net %s unreachable" % names.ip(ctx.bytes(oip + 16, 4))
        elif code == 1:
            text = "host %s unreachable" % names.ip(ctx.bytes(oip + 16, 4))
        elif code == 2:
            text = "%s protocol %u unreachable" % (names.ip(ctx.bytes(oip + 16, 4)),
                                                   ctx.u8(oip + 9))
        elif code == 3:
            hlen = (ctx.u8(oip) & 0xF) * 4
            dport = ctx.u16(oip + hlen + 2)
            proto = ctx.u8(oip + 9)
            dst = names.ip(ctx.bytes(oip + 16, 4))
            if proto == 6:
                text = "%s tcp port %s unreachable" % (dst, names.tcpport(dport))
            elif proto == 17:
                text = "%s udp port %s unreachable" % (dst, names.udpport(dport))
            else:
                text = "%s protocol %u port %u unreachable" % (dst, proto, dport)
        elif code == 4:
            mtu = ctx.u16(off + 6)
            dst = names.ip(ctx.bytes(oip + 16, 4))
            if mtu:
                text = "%s unreachable - need to frag (mtu %u)" % (dst, mtu)
            else:
                text = "%s unreachable - need to frag" % dst
        else:
            fmt = UNREACH.get(code, "%%s unreachable - #%u" % code)
            text = fmt % names.ip(ctx.bytes(oip + 16, 4))
    elif itype == 5:
        fmt = REDIRECT.get(code, "redirect-#%u %%s to %%s" % code)
        text = fmt % (names.ip(ctx.bytes(oip + 16, 4)), names.ip(ctx.bytes(off + 4, 4)))
    elif itype == 11:
        ctx.need(oip + 16, 4)
        if code == 0:
            text = "time exceeded in-transit"
        elif code == 1:
            text = "ip reassembly time exceeded"
        else:
            text = "time exceeded-#%u" % code
    elif itype == 12:
        if code:
            text = "parameter problem - code %u" % code
        else:
            text = "parameter problem - octet %u" % ctx.u8(off + 4)
    elif itype == 18:
        text = "address mask is 0x%08x" % ctx.u32(off + 8)
    elif itype == 13:
        text = "time stamp query id %u seq %u" % (ctx.u16(off + 4), ctx.u16(off + 6))
    elif itype == 14:
        text = "time stamp reply id %u seq %u: org %s" % (ctx.u16(off + 4), ctx.u16(off + 6),
                                                         _tstamp(ctx.u32(off + 8)))
        text += ", recv %s" % _tstamp(ctx.u32(off + 12))
        text += ", xmit %s" % _tstamp(ctx.u32(off + 16))
    elif itype == 9:
        text = _router_advert(ctx, off)
    else:
        text = tok(ICMP_NAMES, itype, "type-#%u")
    ctx.w(f"ICMP {text}, length {length}")
    if ctx.opts.verbose and not net.fragmented:
        if ctx.have(off, length):
            computed = in_cksum(ctx.data[off:off + length])
            if computed:
                field = ctx.u16(off + 2)
                ctx.w(" (wrong icmp cksum %x (->%x)!)" % (field, cksum_shouldbe(field, computed)))
    if ctx.opts.verbose and itype in ERROR_TYPES:
        from .ip import ip_print
        ctx.w("\n\t")
        inner_len = ctx.u16(oip + 2)
        ctx.push_end(oip, inner_len)
        try:
            ip_print(ctx, oip, inner_len)
        finally:
            ctx.pop_end()
    if ctx.opts.verbose and itype in (3, 11, 12) and length > 136 and not ctx.have(off, 141):
        ctx.proto = "icmp"
        ctx.trunc()


def _router_advert(ctx: Ctx, off: int) -> str:
    names = ctx.state.names
    num = ctx.u8(off + 4)
    size = ctx.u8(off + 5)
    lifetime = ctx.u16(off + 6)
    text = "router advertisement"
    text += " lifetime "
    if lifetime < 60:
        text += "%u" % lifetime
    elif lifetime < 3600:
        text += "%u:%02u" % (lifetime // 60, lifetime % 60)
    else:
        text += "%u:%02u:%02u" % (lifetime // 3600, (lifetime % 3600) // 60, lifetime % 60)
    text += " %u:" % num
    if size != 2:
        return text + " [size %u]" % size
    p = off + 8
    for _ in range(num):
        text += " {%s %u}" % (names.ip(ctx.bytes(p, 4)), ctx.u32(p + 4))
        p += 8
    return text
