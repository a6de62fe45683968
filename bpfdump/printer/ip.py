"""IPv4 (print-ip.c): header, -v details and options, fragments, demultiplexing."""
from __future__ import annotations

import struct
from typing import NamedTuple

from .core import Ctx, Truncated, cksum_shouldbe, in_cksum, tok
from .tables import IPPROTOS

IP_OPTIONS = {0: "EOL", 1: "NOP", 68: "timestamp", 130: "security", 7: "RR", 137: "SSRR",
              131: "LSRR", 148: "RA", 82: "traceroute"}


_IPHDR = struct.Struct(">BBHHHBB")   # vhl, tos, length, id, frag, ttl, proto
_new_tuple = tuple.__new__  # NetHdr from all its fields at once (NetHdr(...) costs a Python call)


class NetHdr(NamedTuple):
    """What transport printers need from the network header."""
    version: int
    src: bytes
    dst: bytes
    src_name: str     # the addresses as printed (names.ip / names.ip6)
    dst_name: str
    direct: bool      # the transport header follows the network header directly
    fragmented: bool
    ck_dst: bytes | None = None  # final destination for the checksum (IPv6 routing header)


def _frag_flags(off: int) -> str:
    names = [name for bit, name in ((0x2000, "+"), (0x4000, "DF"), (0x8000, "rsvd"))
             if off & bit]
    return ", ".join(names) or "none"


_FRAG_FLAGS = tuple(_frag_flags(top << 13) for top in range(8))   # by the top 3 bits


def _print_route(ctx: Ctx, cp: int, length: int) -> None:
    names = ctx.state.names
    if length < 3:
        ctx.w(" [bad length %u]" % length)
        return
    if (length + 1) & 3:
        ctx.w(" [bad length %u]" % length)
    ptr = ctx.u8(cp + 2) - 1
    if ptr < 3 or ((ptr + 1) & 3) or ptr > length + 1:
        ctx.w(" [bad ptr %u]" % ctx.u8(cp + 2))
    pos = 3
    while pos < length:
        ctx.w(" %s" % names.ip(ctx.bytes(cp + pos, 4)))
        if ptr > pos:
            ctx.w(",")
        pos += 4


def _print_ts(ctx: Ctx, cp: int, length: int) -> None:
    names = ctx.state.names
    if length < 4:
        ctx.w("[bad length %u]" % length)
        return
    ctx.w(" TS{")
    flag = ctx.u8(cp + 3)
    hoplen = 4 if (flag & 0xF) == 0 else 8
    if (length - 4) & (hoplen - 1):
        ctx.w("[bad length %u]" % length)
    ptr = ctx.u8(cp + 2) - 1
    pos = 0
    if ptr < 4 or ((ptr - 4) & (hoplen - 1)) or ptr > length + 1:
        ctx.w("[bad ptr %u]" % ctx.u8(cp + 2))
    kind = flag & 0xF
    if kind in (0, 1, 3):
        ctx.w({0: "TSONLY", 1: "TS+ADDR", 3: "PRESPEC"}[kind])
        sep = " "
        pos = 4
        while pos < length:
            if ptr == pos:
                sep = " ^ "
            ctx.w("%s%u@%s" % (sep, ctx.u32(cp + pos + hoplen - 4),
                               names.ip(ctx.bytes(cp + pos, 4)) if hoplen == 8 else ""))
            sep = " "
            pos += hoplen
    else:
        ctx.w("[bad ts type %d]" % kind)
    ctx.w(" ^ " if ptr == pos else "")
    if flag >> 4:
        ctx.w(" [%u hops not recorded]} " % (flag >> 4))
    else:
        ctx.w("}")


def _print_options(ctx: Ctx, cp: int, length: int) -> bool:
    """Print IP options; False when an option runs past the capture (tcpdump's -1)."""
    sep = ""
    while length > 0:
        ctx.w(sep)
        sep = ","
        code = ctx.u8(cp)
        ctx.w(tok(IP_OPTIONS, code, "unknown %u"))
        if code in (0, 1):
            optlen = 1
        else:
            optlen = ctx.u8(cp + 1)
            if optlen < 2:
                ctx.w(" [bad length %u]" % optlen)
                return True
        if optlen > length:
            ctx.w(" [bad length %u]" % optlen)
            return True
        if not ctx.have(cp, optlen):
            return False
        if code == 0:
            return True
        if code == 68:
            _print_ts(ctx, cp, optlen)
        elif code in (7, 137, 131):
            _print_route(ctx, cp, optlen)
        elif code == 148:
            if optlen < 4:
                ctx.w(" [bad length %u]" % optlen)
            else:
                value = ctx.u16(cp + 2)
                if value:
                    ctx.w(" value %u" % value)
        cp += optlen
        length -= optlen
    return True


def _final_dst(ctx: Ctx, off: int, hlen: int) -> bytes | None:
    """The last hop of a source route option: the destination the checksum covers."""
    cp, end = off + 20, off + hlen
    while cp < end and ctx.have(cp, 1):
        code = ctx.data[cp]
        if code == 0:
            break
        if code == 1:
            cp += 1
            continue
        if not ctx.have(cp + 1, 1):
            break
        optlen = ctx.data[cp + 1]
        if optlen < 2 or cp + optlen > end:
            break
        if code in (131, 137):
            if optlen >= 7 and ctx.have(cp, optlen):
                last = cp + 3 + ((optlen - 3) // 4 - 1) * 4
                return ctx.data[last:last + 4]
            break
        cp += optlen
    return None


def ip_print(ctx: Ctx, off: int, length: int) -> None:
    """An IPv4 datagram at off; length is what the link layer says is left."""
    ctx.proto = "ip"
    o = ctx.opts
    if off + 20 <= ctx.end and off >= 0:
        vhl, tos, iplen, ipid, frag, ttl, proto = _IPHDR.unpack_from(ctx.data, off)
    else:
        vhl = ctx.u8(off)
        iplen = None
    if vhl >> 4 != 4:
        if vhl >> 4 == 6:
            ctx.w("IP6, wrong link-layer encapsulation")
        else:
            ctx.w("IP%u" % (vhl >> 4))
        ctx.w(" (invalid)")
        return
    if not o.ether:
        ctx.w("IP ")
    if iplen is None:
        ctx.trunc()
    if length < 20:
        ctx.w("truncated-ip %u" % length)
        return
    hlen = (vhl & 0xF) * 4
    if hlen < 20:
        ctx.w("bad-hlen %u" % hlen)
        return
    if length < iplen:
        ctx.w("truncated-ip - %u bytes missing! " % (iplen - length))
    if iplen < hlen:
        ctx.w("bad-len %u" % iplen)
        return
    end = ctx.end
    if off + iplen < end:       # the datagram's own length cuts the capture (push_end)
        ctx.end = off + iplen
    try:
        if o.verbose:
            _verbose_header(ctx, off, hlen, frag, proto)
        names = ctx.state.names
        data = ctx.data
        src = data[off + 12:off + 16]
        dst = data[off + 16:off + 20]
        cached = names.ip_names.get
        src_name = cached(src) or names.ip(src)
        dst_name = cached(dst) or names.ip(dst)
        if frag & 0x1FFF == 0:
            if proto not in (6, 17, 132, 33):
                ctx.w("%s > %s: " % (src_name, dst_name))
            if off + hlen > ctx.end:
                ctx.w(" [remaining caplen(%u) < header length(%u)]" % (ctx.avail(off), hlen))
                raise Truncated()
            net = _new_tuple(NetHdr, (4, src, dst, src_name, dst_name, True, bool(frag & 0x3FFF),
                                      _final_dst(ctx, off, hlen) if hlen > 20 else None))
            printer = _TRANSPORTS.get(proto)
            if printer is None:
                _unknown_transport(ctx, proto, iplen - hlen)
            else:
                printer(ctx, off + hlen, iplen - hlen, net)
        elif o.quiet < 2:
            ctx.w("%s > %s:" % (src_name, dst_name))
            pname = names.proto(proto) if not o.numeric else None
            ctx.w(" %s" % pname if pname else " ip-proto-%u" % proto)
    finally:
        ctx.end = end


_ECN = ("", ",ECT(1)", ",ECT(0)", ",CE")


def _verbose_header(ctx: Ctx, off: int, hlen: int, frag: int, proto: int) -> None:
    """-v: "(tos ..., ttl ..., id ..., offset ..., flags [...], proto ..., length ...)"."""
    names = ctx.state.names
    _, tos, iplen, ipid, _, ttl, _ = _IPHDR.unpack_from(ctx.data, off)   # ip_print checked
    ctx.w("(tos 0x%x%s%s, id %u, offset %u, flags [%s], proto %s (%u), length %u"
          % (tos, _ECN[tos & 3], f", ttl {ttl}" if ttl else "", ipid, (frag & 0x1FFF) * 8,
             _FRAG_FLAGS[frag >> 13], IPPROTOS.get(proto, "unknown"), proto, iplen))
    truncated = False
    if hlen > 20:
        ctx.w(", options (")
        if not _print_options(ctx, off + 20, hlen - 20):
            ctx.w(" [truncated-option]")
            truncated = True
        ctx.w(")")
    if ctx.have(off, hlen):
        computed = in_cksum(ctx.data[off:off + hlen])
        if computed != 0:
            field = ctx.u16(off + 10)
            ctx.w(", bad cksum %x (->%x)!" % (field, cksum_shouldbe(field, computed)))
    ctx.w(")\n    ")
    if truncated:
        ctx.w("%s > %s: " % (names.ip(ctx.bytes(off + 12, 4)), names.ip(ctx.bytes(off + 16, 4))))
        ctx.trunc()


def demux(ctx: Ctx, proto: int, off: int, length: int, net: NetHdr) -> None:
    """Hand a transport payload to its printer (shared by IPv4 and IPv6)."""
    printer = (_TRANSPORTS if net.version == 4 else _TRANSPORTS6).get(proto)
    if printer is None:
        _unknown_transport(ctx, proto, length)
    else:
        printer(ctx, off, length, net)


def _unknown_transport(ctx: Ctx, proto: int, length: int) -> None:
    pname = ctx.state.names.proto(proto) if not ctx.opts.numeric else None
    ctx.w(" %s" % pname if pname else " ip-proto-%u" % proto)
    ctx.w(" %u" % length)


def _invalid(text: str):
    def printer(ctx: Ctx, off: int, length: int, net: NetHdr) -> None:
        ctx.w(text)
    return printer


def _ip4_in(ctx: Ctx, off: int, length: int, net: NetHdr) -> None:
    ip_print(ctx, off, length)


def _ip6_in(ctx: Ctx, off: int, length: int, net: NetHdr) -> None:
    from .ip6 import ip6_print
    ip6_print(ctx, off, length)


def _ether_in(ctx: Ctx, off: int, length: int, net: NetHdr) -> None:
    from .ether import ether_print
    ether_print(ctx, off, length)


from . import icmp, icmp6, tcp, udp  # noqa: E402  (none of them imports this module)

# protocol number -> printer(ctx, off, length, net), over IPv4 and over IPv6
_TRANSPORTS = {6: tcp.tcp_print, 17: udp.udp_print, 1: icmp.icmp_print,
               58: _invalid("[ICMPv6 requires IPv6] (invalid)"),
               143: _invalid("[Ethernet requires IPv6] (invalid)"),
               4: _ip4_in, 41: _ip6_in, 59: _invalid("no next header")}
_TRANSPORTS6 = {**_TRANSPORTS, 1: _invalid("[ICMP requires IPv4] (invalid)"),
                58: icmp6.icmp6_print, 143: _ether_in}
