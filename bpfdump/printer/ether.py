"""Link layers: Ethernet (with 802.1Q/QinQ tags), Linux cooked v1/v2, BSD loopback, raw IP.

Each link printer writes its part and returns the link-layer header length (what -x skips).
`ethertype_print` dispatches a payload by ethertype and says whether it knew the type.
"""
from __future__ import annotations

from . import arp, ip, ip6, mpls
from .core import Ctx, Truncated, tok
from .hexdump import hex_ascii_lines
from .tables import ETHERTYPE_8021Q, ETHERTYPES, VLAN_TYPES

MAX_ETHERNET_LENGTH = 1500


def default_print(ctx: Ctx, off: int, length: int, always: bool = False) -> None:
    """tcpdump's fallback for payloads it cannot decode: a -X style dump, which -x, -X and -q
    suppress unless the caller prints it unconditionally (always=True, as ARP does)."""
    o = ctx.opts
    if not always and (o.hex or o.hexascii or o.quiet):
        return
    avail = ctx.avail(off)
    n = min(length, avail)
    ctx.w(hex_ascii_lines(ctx.data[off:off + n]))
    if length > avail:
        ctx.w(" [|%s]" % ctx.proto)


def ethertype_print(ctx: Ctx, etype: int, off: int, length: int) -> bool:
    printer = _ETHERTYPE_PRINTERS.get(etype)
    if printer is None:
        return False
    printer(ctx, off, length)
    return True


_ETHERTYPE_PRINTERS = {0x0800: ip.ip_print, 0x86DD: ip6.ip6_print, 0x0806: arp.arp_print,
                       0x8035: arp.arp_print, 0x8847: mpls.mpls_print, 0x8848: mpls.mpls_print}


TYPE_TEXTS = {etype: "ethertype %s (0x%04x)" % (name, etype) for etype, name in ETHERTYPES.items()}


def _type_text(ctx: Ctx, etype: int) -> str:
    if ctx.opts.quiet:
        return tok(ETHERTYPES, etype, "Unknown Ethertype (0x%04x)")
    return TYPE_TEXTS.get(etype) or "ethertype Unknown (0x%04x)" % etype


def mac_pair(names, data: bytes, off: int) -> str:
    """-e: "SRC > DST, " of the Ethernet header at off."""
    cached = names.mac_names.get
    src = data[off + 6:off + 12]
    dst = data[off:off + 6]
    return "%s > %s, " % (cached(src) or names.mac(src), cached(dst) or names.mac(dst))


def ether_print(ctx: Ctx, off: int, length: int) -> int:
    """An Ethernet frame at off; length is its wire length. Returns the header length."""
    ctx.proto = "ether"
    caplen = ctx.end - off
    if caplen < 14:
        ctx.w(" [|ether]")
        return max(caplen, 0)
    if length < 14:
        ctx.w(" [|ether]")
        return length
    data = ctx.data
    length_type = (data[off + 12] << 8) | data[off + 13]
    eflag = ctx.opts.ether
    if not eflag and length_type in _ETHERTYPE_PRINTERS:     # the common case: no tags, -e off
        ctx.hdrlen = 14
        _ETHERTYPE_PRINTERS[length_type](ctx, off + 14, length - 14)
        return 14
    orig_length = length
    if eflag:
        ctx.w(mac_pair(ctx.state.names, ctx.data, off))
    p = off + 14
    length -= 14
    caplen -= 14
    hdrlen = 14
    if length_type <= MAX_ETHERNET_LENGTH:
        ctx.hdrlen = hdrlen
        return hdrlen + _llc_frame(ctx, off, p, length_type, length, orig_length, eflag)
    if eflag and length_type not in VLAN_TYPES:
        ctx.w(_type_text(ctx, length_type))
        ctx.w(f", length {orig_length}: ")
    first = True
    while length_type in VLAN_TYPES:
        if caplen < 4 or length < 4:
            ctx.proto = "vlan"
            ctx.w(" [|vlan]")
            return hdrlen + min(caplen, length)
        if eflag:
            ctx.w(_type_text(ctx, length_type))
            ctx.w(", length %u: " % orig_length if first else ", ")
        first = False
        tci = ctx.u16(p)
        length_type = ctx.u16(p + 2)
        if eflag:
            ctx.w(_tci_text(tci) + ", ")
        p += 4
        length -= 4
        caplen -= 4
        hdrlen += 4
        if length_type <= MAX_ETHERNET_LENGTH:
            if eflag:
                ctx.w("802.3")
            ctx.hdrlen = hdrlen
            return hdrlen + _llc_frame(ctx, off, p, length_type, length, orig_length, False)
    if eflag and not first:
        ctx.w(_type_text(ctx, length_type) + ", ")
    ctx.hdrlen = hdrlen
    if not ethertype_print(ctx, length_type, p, length):
        if not eflag:
            ctx.w(mac_pair(ctx.state.names, ctx.data, off))
            ctx.w(_type_text(ctx, length_type))
            ctx.w(", length %u: " % orig_length)
        ctx.end = len(ctx.data)
        default_print(ctx, p, min(length, ctx.avail(p)))
    return hdrlen


def _tci_text(tci: int) -> str:
    return "vlan %u, p %u%s" % (tci & 0xFFF, tci >> 13, ", DEI" if tci & 0x1000 else "")


def _llc_frame(ctx: Ctx, off: int, p: int, llc_len: int, length: int, orig_length: int,
               eflag: bool, header_done: bool = False) -> int:
    """An 802.3 frame: the snapshot is cut at the length field's end, then LLC."""
    from . import llc
    ctx.push_end(p, llc_len)
    try:
        if eflag:       # the length field, or what the frame holds when that is less
            ctx.w("802.3, length %u: " % min(llc_len, length))
        got = llc.llc_print(ctx, off, p, min(llc_len, length))
        if got < 0:
            default_print(ctx, p, ctx.avail(p))
            got = -got
        return got
    finally:
        ctx.pop_end()


_SLL_PKTTYPES = {0: "In", 1: "B", 2: "M", 3: "P", 4: "Out"}


def _sll_header(ctx: Ctx, ifindex: int | None, addr_off: int, halen: int, proto: int,
                length: int, pkttype: int | None = None) -> None:
    """The -e part of a cooked header (sll_print / sll2_print)."""
    if ifindex is None:
        ctx.w("%3s " % tok(_SLL_PKTTYPES, pkttype, "?"))
    else:
        ctx.w("ifindex %u " % ifindex)
    if halen == 6:
        ctx.w("%s " % ctx.state.names.mac(ctx.bytes(addr_off, 6)))
    if not ctx.opts.quiet:
        if proto <= MAX_ETHERNET_LENGTH:
            ctx.w({1: "802.3", 4: "802.2"}.get(proto, "ethertype Unknown (0x%04x)" % proto))
        else:
            ctx.w("ethertype %s (0x%04x)" % (tok(ETHERTYPES, proto, "Unknown"), proto))
        ctx.w(", length %u: " % length)


def _ifname(ifindex: int) -> str:
    import socket
    try:
        return socket.if_indextoname(ifindex)
    except (OSError, OverflowError, ValueError):
        return "?"


def sll_print(ctx: Ctx, off: int, length: int) -> int:
    """DLT_LINUX_SLL: 16-byte Linux cooked header."""
    ctx.proto = "sll"
    ctx.need(off, 16)
    pkttype = ctx.u16(off)
    halen = ctx.u16(off + 4)
    proto = ctx.u16(off + 14)
    header = lambda: _sll_header(ctx, None, off + 6, halen, proto, length, pkttype)  # noqa: E731
    if ctx.opts.ether:
        header()
    return 16 + _cooked_payload(ctx, off + 16, proto, length - 16, header, 16)


def sll2_print(ctx: Ctx, off: int, length: int) -> int:
    """DLT_LINUX_SLL2: 20-byte Linux cooked header v2 (interface name, packet type first)."""
    ctx.proto = "sll2"
    ctx.need(off, 20)
    proto = ctx.u16(off)
    ifindex = ctx.u32(off + 4)
    pkttype = ctx.u8(off + 10)
    halen = ctx.u8(off + 11)
    ctx.w("%-5s " % _ifname(ifindex))
    ctx.w("%-3s " % tok(_SLL_PKTTYPES, pkttype, "?"))
    header = lambda: _sll_header(ctx, ifindex, off + 12, halen, proto, length)  # noqa: E731
    if ctx.opts.ether:
        header()
    return 20 + _cooked_payload(ctx, off + 20, proto, length - 20, header, 20)


def _cooked_payload(ctx: Ctx, p: int, proto: int, length: int, header, base: int) -> int:
    extra = 0
    while True:
        if proto <= MAX_ETHERNET_LENGTH:
            if proto == 4:
                from . import llc
                ctx.hdrlen = base + extra
                got = llc.llc_print(ctx, None, p, length)
                if got >= 0:
                    return extra + got
            default_print(ctx, p, ctx.avail(p))
            return extra
        if proto == ETHERTYPE_8021Q:
            if ctx.avail(p) < 4:
                ctx.proto = "vlan"
                ctx.w(" [|vlan]")
                return extra + ctx.avail(p)
            if ctx.opts.ether:
                ctx.w(_tci_text(ctx.u16(p)) + ", ")
            proto = ctx.u16(p + 2)
            if proto <= MAX_ETHERNET_LENGTH:
                proto = 4
            if not ctx.opts.quiet:
                ctx.w("ethertype %s, " % tok(ETHERTYPES, proto, "Unknown"))
            p += 4
            length -= 4
            extra += 4
            continue
        ctx.hdrlen = base + extra
        if not ethertype_print(ctx, proto, p, length):
            if not ctx.opts.ether:
                header()
            default_print(ctx, p, ctx.avail(p))
        return extra


_BSD_AF = {2: "IPv4", 6: "NS", 7: "ISO", 16: "Appletalk", 23: "IPX", 24: "IPv6", 28: "IPv6",
           30: "IPv6"}


def null_print(ctx: Ctx, off: int, length: int) -> int:
    """DLT_NULL and DLT_LOOP: a 4-byte address family in either byte order."""
    ctx.proto = "null"
    if ctx.avail(off) < 4:
        ctx.w(" [|null]")
        return ctx.avail(off)
    family = int.from_bytes(ctx.bytes(off, 4), "little")
    if family & 0xFFFF0000:
        family = int.from_bytes(ctx.bytes(off, 4), "big")

    def header(n: int) -> None:
        if ctx.opts.quiet:
            ctx.w(tok(_BSD_AF, family, "Unknown AF %u"))
        else:
            ctx.w("AF %s (%u)" % (tok(_BSD_AF, family, "Unknown"), family))
        ctx.w(", length %u: " % n)

    if ctx.opts.ether:
        header(length)
    p = off + 4
    ctx.hdrlen = 4
    if family == 2:
        ip.ip_print(ctx, p, length - 4)
    elif family in (24, 28, 30):
        ip6.ip6_print(ctx, p, length - 4)
    else:
        if not ctx.opts.ether:
            header(length)
        default_print(ctx, p, ctx.avail(p))
    return 4


def raw_print(ctx: Ctx, off: int, length: int) -> int:
    """DLT_RAW and friends: the packet starts with an IPv4 or IPv6 header (ipN_print)."""
    ctx.proto = "raw"
    if ctx.opts.ether:
        ctx.w("ip: ")
    ctx.proto = "ipN"
    if length < 1:
        ctx.w("truncated-ip %u" % length)
        return 0
    version = ctx.u8(off) & 0xF0
    if version == 0x40:
        ip.ip_print(ctx, off, length)
    elif version == 0x60:
        ip6.ip6_print(ctx, off, length)
    else:
        ctx.w("unknown ip %u" % (version >> 4))
    return 0


__all__ = ["ether_print", "sll_print", "sll2_print", "null_print", "raw_print", "Truncated"]
