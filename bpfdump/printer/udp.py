"""UDP (print-udp.c): ports, -v checksums, payload dispatch by well-known port."""
from __future__ import annotations

import struct

from . import dns, rx
from .core import Ctx, cksum_shouldbe, port_printer
from .tcp import transport_cksum


_UDPHDR = struct.Struct(">HHHH")   # sport, dport, length, checksum


def _addrs(ctx: Ctx, net, sport: int | None, dport: int | None) -> None:
    port = ctx.state.names.udp_names.get
    if net.direct:
        if sport is None:
            ctx.w("%s > %s: " % (net.src_name, net.dst_name))
        else:
            ctx.w("%s.%s > %s.%s: " % (net.src_name, port(sport, sport), net.dst_name,
                                       port(dport, dport)))
    elif sport is not None:
        ctx.w("%s > %s: " % (port(sport, sport), port(dport, dport)))


def udp_print(ctx: Ctx, off: int, length: int, net) -> None:
    ctx.proto = "udp"
    o = ctx.opts
    if off + 8 <= ctx.end:
        sport, dport, ulen, field = _UDPHDR.unpack_from(ctx.data, off)
    else:
        if not ctx.have(off + 2, 2):
            _addrs(ctx, net, None, None)
            ctx.w(" [|udp]")
            return
        sport = ctx.u16(off)
        dport = ctx.u16(off + 2)
        ulen = None
    if length < 8:
        _addrs(ctx, net, sport, dport)
        ctx.w("truncated-udp %u" % length)
        return
    if ulen is None:
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
        _checksum(ctx, off, cp, length, net)
    if not o.quiet:
        printer = port_printer(PAYLOADS, sport, dport)
        if printer is not None and printer(ctx, cp, length):
            return
        if (sport in rx.RX_PORTS or dport in rx.RX_PORTS) and rx.rx_print(ctx, cp, length):
            return
    if ulen > length and not net.fragmented:
        ctx.w("UDP, bad length %u > %u" % (ulen, length))
    else:
        ctx.w(f"UDP, length {ulen}")


def _checksum(ctx: Ctx, off: int, cp: int, length: int, net) -> None:
    """-v: IPv4 checksums with -vv, IPv6 ones with -v ('[udp sum ok] ' or the right value)."""
    if net.version == 4 and ctx.opts.verbose > 1:
        field = ctx.u16(off + 6)
        if field == 0:
            ctx.w("[no cksum] ")
            return
    elif net.version != 6:
        return
    if ctx.have(cp, length):
        computed = transport_cksum(ctx, off, length + 8, net, 17)
        field = ctx.u16(off + 6)
        if computed:
            ctx.w("[bad udp cksum 0x%04x -> 0x%04x!] " % (field, cksum_shouldbe(field, computed)))
        else:
            ctx.w("[udp sum ok] ")


def _dns(ctx: Ctx, cp: int, length: int) -> bool:
    dns.domain_print(ctx, cp, length, over_tcp=False, mdns=False)
    return True


def _mdns(ctx: Ctx, cp: int, length: int) -> bool:
    dns.domain_print(ctx, cp, length, over_tcp=False, mdns=True)
    return True


def _bootp(ctx: Ctx, cp: int, length: int) -> bool:
    from . import dhcp
    dhcp.bootp_print(ctx, cp, length)
    return True


def _ntp(ctx: Ctx, cp: int, length: int) -> bool:
    from . import ntp
    ntp.ntp_print(ctx, cp, length)
    return True


# payload printer -> (text, args): its common case as text(data, cp, length, capture end,
# *args), None when it is not that case; what the fast lane tries before it runs the printer
PAYLOAD_TEXTS = {_dns: (dns.query_text, (False,)), _mdns: (dns.query_text, (True,))}

# port -> (rank, payload printer): the lower rank wins when both ports have a printer; AFS RX
# ports come after all of these
PAYLOADS = {}
for _rank, (_ports, _printer) in enumerate((
        ((53,), _dns), ((5353,), _mdns), ((67, 68), _bootp), ((123,), _ntp))):
    for _port in _ports:
        PAYLOADS[_port] = (_rank, _printer)
