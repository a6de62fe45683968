"""UDP (print-udp.c): ports, -v checksums, payload dispatch by well-known port."""
from __future__ import annotations

from .core import Ctx, cksum_shouldbe
from .tcp import transport_cksum


def _addrs(ctx: Ctx, net, sport: int | None, dport: int | None) -> None:
    names = ctx.state.names
    addr = names.ip if net.version == 4 else names.ip6
    if net.direct:
        if sport is None:
            ctx.w("%s > %s: " % (addr(net.src), addr(net.dst)))
        else:
            ctx.w("%s.%s > %s.%s: " % (addr(net.src), names.udpport(sport),
                                       addr(net.dst), names.udpport(dport)))
    elif sport is not None:
        ctx.w("%s > %s: " % (names.udpport(sport), names.udpport(dport)))


def udp_print(ctx: Ctx, off: int, length: int, net) -> None:
    ctx.proto = "udp"
    o = ctx.opts
    if not ctx.have(off + 2, 2):
        _addrs(ctx, net, None, None)
        ctx.w(" [|udp]")
        return
    sport = ctx.u16(off)
    dport = ctx.u16(off + 2)
    if length < 8:
        _addrs(ctx, net, sport, dport)
        ctx.w("truncated-udp %u" % length)
        return
    if not ctx.have(off + 4, 2):
        _addrs(ctx, net, sport, dport)
        ctx.w(" [|udp]")
        return
    ulen = ctx.u16(off + 4)
    if ulen == 0 and length > 65535:
        ulen = length
    if ulen < 8:
        _addrs(ctx, net, sport, dport)
        ctx.w("truncated-udplength %u" % ulen)
        return
    ulen -= 8
    length -= 8
    if ulen < length:
        length = ulen
    cp = off + 8
    if cp > ctx.end:
        _addrs(ctx, net, sport, dport)
        ctx.w(" [|udp]")
        return
    _addrs(ctx, net, sport, dport)
    if o.verbose and not net.fragmented:
        if net.version == 4 and o.verbose > 1:
            field = ctx.u16(off + 6)
            if field == 0:
                ctx.w("[no cksum] ")
            elif ctx.have(cp, length):
                computed = transport_cksum(ctx, off, length + 8, net, 17)
                if computed:
                    ctx.w("[bad udp cksum 0x%04x -> 0x%04x!] "
                          % (field, cksum_shouldbe(field, computed)))
                else:
                    ctx.w("[udp sum ok] ")
        elif net.version == 6:
            if ctx.have(cp, length):
                computed = transport_cksum(ctx, off, length + 8, net, 17)
                field = ctx.u16(off + 6)
                if computed:
                    ctx.w("[bad udp cksum 0x%04x -> 0x%04x!] "
                          % (field, cksum_shouldbe(field, computed)))
                else:
                    ctx.w("[udp sum ok] ")
    if not o.quiet:
        ports = (sport, dport)
        if 53 in ports:
            from . import dns
            dns.domain_print(ctx, cp, length, over_tcp=False, mdns=False)
            return
        if 5353 in ports:
            from . import dns
            dns.domain_print(ctx, cp, length, over_tcp=False, mdns=True)
            return
        if 67 in ports or 68 in ports:
            from . import dhcp
            dhcp.bootp_print(ctx, cp, length)
            return
        if 123 in ports:
            from . import ntp
            ntp.ntp_print(ctx, cp, length)
            return
        from . import rx
        if rx.is_rx(sport, dport) and rx.rx_print(ctx, cp, length):
            return
    if ulen > length and not net.fragmented:
        ctx.w("UDP, bad length %u > %u" % (ulen, length))
    else:
        ctx.w("UDP, length %u" % ulen)
