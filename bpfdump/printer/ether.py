"""Link layers: Ethernet (with 802.1Q/QinQ tags), Linux cooked v1/v2, BSD loopback, raw IP.

Each link printer writes its part and returns the link-layer header length (what -x skips).
`ethertype_print` dispatches a payload by ethertype and says whether it knew the type.
"""
from __future__ import annotations

from . import arp, ip, ip6, mpls
from .core import Ctx, Truncated, tok
from .hexdump import hex_ascii_lines
from .tables import ETHERTYPES, VLAN_TYPES

MAX_ETHERNET_LENGTH = 1500


def default_print(ctx: Ctx, off: int, length: int) -> None:
    """tcpdump's fallback for payloads it cannot decode: a -X style dump (unless -x/-X/-A)."""
    o = ctx.opts
    if o.hex or o.hexascii or o.quiet:
        return
    avail = ctx.avail(off)
    n = min(length, avail)
    ctx.w(hex_ascii_lines(ctx.data[off:off + n]))
    if length > avail:
        ctx.w(" [|%s]" % ctx.proto)


def ethertype_print(ctx: Ctx, etype: int, off: int, length: int) -> bool:
    if etype == 0x0800:
        ip.ip_print(ctx, off, length)
    elif etype == 0x86DD:
        ip6.ip6_print(ctx, off, length)
    elif etype in (0x0806, 0x8035):
        arp.arp_print(ctx, off, length)
    elif etype in (0x8847, 0x8848):
        mpls.mpls_print(ctx, off, length)
    else:
        return False
    return True


def _type_text(ctx: Ctx, etype: int) -> str:
    if ctx.opts.quiet:
        return tok(ETHERTYPES, etype, "Unknown Ethertype (0x%04x)")
    return "ethertype %s (0x%04x)" % (tok(ETHERTYPES, etype, "Unknown"), etype)


def _addrs(ctx: Ctx, off: int) -> str:
    names = ctx.state.names
    return "%s > %s, " % (names.mac(ctx.data[off + 6:off + 12]), names.mac(ctx.data[off:off + 6]))


def ether_print(ctx: Ctx, off: int, length: int) -> int:
    """An Ethernet frame at off; length is its wire length. Returns the header length."""
    ctx.proto = "ether"
    caplen = ctx.avail(off)
    if caplen < 14:
        ctx.w(" [|ether]")
        return caplen
    if length < 14:
        ctx.w(" [|ether]")
        return length
    orig_length = length
    eflag = ctx.opts.ether
    if eflag:
        ctx.w(_addrs(ctx, off))
    length_type = ctx.u16(off + 12)
    p = off + 14
    length -= 14
    caplen -= 14
    hdrlen = 14
    if length_type <= MAX_ETHERNET_LENGTH:
        return hdrlen + _llc_frame(ctx, off, p, length_type, length, orig_length, eflag)
    if eflag:
        ctx.w(_type_text(ctx, length_type))
        ctx.w(", length %u: " % orig_length)
    while length_type in VLAN_TYPES:
        if caplen < 4 or length < 4:
            ctx.proto = "vlan"
            ctx.w(" [|vlan]")
            return hdrlen + min(caplen, length)
        tci = ctx.u16(p)
        length_type = ctx.u16(p + 2)
        if eflag:
            ctx.w(_tci_text(tci) + ", ")
            if length_type > MAX_ETHERNET_LENGTH:
                ctx.w(_type_text(ctx, length_type) + ", ")
        p += 4
        length -= 4
        caplen -= 4
        hdrlen += 4
        if length_type <= MAX_ETHERNET_LENGTH:
            if eflag:
                ctx.w("802.3, length %u: " % length_type)
            return hdrlen + _llc_frame(ctx, off, p, length_type, length, orig_length, False,
                                       header_done=True)
    if not ethertype_print(ctx, length_type, p, length):
        if not eflag:
            ctx.w(_addrs(ctx, off))
            ctx.w(_type_text(ctx, length_type))
            ctx.w(", length %u: " % orig_length)
        ctx.end = len(ctx.data)
        default_print(ctx, p, min(length, ctx.avail(p)))
    return hdrlen


def _tci_text(tci: int) -> str:
    return "vlan %u, p %u%s" % (tci & 0xFFF, tci >> 13, ", DEI" if tci & 0x1000 else "")


def _llc_frame(ctx, off, p, llc_len, length, orig_length, eflag, header_done=False) -> int:
    """An 802.3 frame: the length field, then LLC. Returns the LLC header length consumed."""
    ctx.push_end(p, llc_len)
    if eflag:
        ctx.w("802.3, length %u: " % llc_len)
    from . import llc
    hdr = llc.llc_print(ctx, off, p, min(llc_len, length), header_done or eflag)
    return hdr


def sll_print(ctx: Ctx, off: int, length: int) -> int:
    """DLT_LINUX_SLL: 16-byte Linux cooked header."""
    ctx.proto = "sll"
    if ctx.avail(off) < 16:
        ctx.w(" [|sll]")
        return ctx.avail(off)
    pkttype = ctx.u16(off)
    hatype = ctx.u16(off + 2)
    halen = ctx.u16(off + 4)
    proto = ctx.u16(off + 14)
    if ctx.opts.ether:
        _sll_header(ctx, pkttype, off + 6, halen, proto, length)
    return 16 + _sll_payload(ctx, off, off + 16, proto, hatype, length - 16, 16, pkttype, halen,
                             off + 6, length)


def sll2_print(ctx: Ctx, off: int, length: int) -> int:
    """DLT_LINUX_SLL2: 20-byte Linux cooked header v2."""
    ctx.proto = "sll2"
    if ctx.avail(off) < 20:
        ctx.w(" [|sll2]")
        return ctx.avail(off)
    proto = ctx.u16(off)
    ifindex = ctx.u32(off + 4)
    hatype = ctx.u16(off + 8)
    pkttype = ctx.u8(off + 10)
    halen = ctx.u8(off + 11)
    if ctx.opts.ether:
        ctx.w("ifindex %u " % ifindex)
        _sll_header(ctx, pkttype, off + 12, halen, proto, length)
    return 20 + _sll_payload(ctx, off, off + 20, proto, hatype, length - 20, 20, pkttype, halen,
                             off + 12, length, sll2=True, ifindex=ifindex)


_SLL_PKTTYPES = {0: "In", 1: "B", 2: "M", 3: "P", 4: "Out"}


def _sll_addr(ctx: Ctx, addr_off: int, halen: int) -> str:
    if halen == 6:
        return ctx.state.names.mac(ctx.data[addr_off:addr_off + 6])
    return ":".join("%02x" % b for b in ctx.data[addr_off:addr_off + min(halen, 8)])


def _sll_header(ctx, pkttype, addr_off, halen, proto, length) -> None:
    ctx.w("%-3s " % tok(_SLL_PKTTYPES, pkttype, "?"))
    if halen:
        ctx.w("%s " % _sll_addr(ctx, addr_off, halen))
    if not ctx.opts.quiet:
        ctx.w("ethertype %s (0x%04x), " % (tok(ETHERTYPES, proto, "Unknown"), proto))
    ctx.w("length %u: " % length)


def _sll_payload(ctx, off, p, proto, hatype, length, hdrlen_base, pkttype, halen, addr_off,
                 orig_length, sll2=False, ifindex=0) -> int:
    extra = 0
    if proto <= MAX_ETHERNET_LENGTH:
        # Novell 802.3 (0x0001), 802.2 LLC (0x0004), CAN etc.: print raw.
        if not ctx.opts.ether:
            if sll2:
                ctx.w("ifindex %u " % ifindex)
            _sll_header(ctx, pkttype, addr_off, halen, proto, orig_length)
        default_print(ctx, p, min(length, ctx.avail(p)))
        return 0
    while proto in VLAN_TYPES:
        if ctx.avail(p) < 4 or length < 4:
            ctx.proto = "vlan"
            ctx.w(" [|vlan]")
            return extra + min(ctx.avail(p), length)
        tci = ctx.u16(p)
        proto = ctx.u16(p + 2)
        if ctx.opts.ether:
            ctx.w(_tci_text(tci) + ", ")
            ctx.w(_type_text(ctx, proto) + ", ")
        p += 4
        length -= 4
        extra += 4
    if not ethertype_print(ctx, proto, p, length):
        if not ctx.opts.ether:
            if sll2:
                ctx.w("ifindex %u " % ifindex)
            _sll_header(ctx, pkttype, addr_off, halen, proto, orig_length)
        default_print(ctx, p, min(length, ctx.avail(p)))
    return extra


_BSD_AF = {2: "IPv4", 24: "IPv6", 28: "IPv6", 30: "IPv6", 7: "OSI", 16: "Appletalk", 23: "IPX",
           10: "IPv6"}
_AF_IP6 = (24, 28, 30, 10)


def null_print(ctx: Ctx, off: int, length: int, loop: bool) -> int:
    """DLT_NULL (host-order family) and DLT_LOOP (network-order family)."""
    ctx.proto = "null"
    if ctx.avail(off) < 4:
        ctx.w(" [|null]")
        return ctx.avail(off)
    raw = ctx.bytes(off, 4)
    family = int.from_bytes(raw, "big")
    if not loop:
        family = int.from_bytes(raw, "little")
        if family & 0xFFFF0000:
            family = int.from_bytes(raw, "big")
    if ctx.opts.ether:
        if ctx.opts.quiet:
            ctx.w("%s, " % _BSD_AF.get(family, "AF %u" % family) if family in _BSD_AF
                  else "AF %u, " % family)
        else:
            ctx.w("AF %s (%u), " % (_BSD_AF.get(family, "Unknown"), family))
        ctx.w("length %u: " % length)
    p = off + 4
    if family == 2:
        ip.ip_print(ctx, p, length - 4)
    elif family in _AF_IP6:
        ip6.ip6_print(ctx, p, length - 4)
    else:
        if not ctx.opts.ether:
            ctx.w("AF %s (%u), length %u: " % (_BSD_AF.get(family, "Unknown"), family, length))
        default_print(ctx, p, min(length - 4, ctx.avail(p)))
    return 4


def raw_print(ctx: Ctx, off: int, length: int, version: int | None = None) -> int:
    """DLT_RAW / DLT_IPV4 / DLT_IPV6: the packet starts with the IP header."""
    ctx.proto = "raw"
    if ctx.opts.ether:
        ctx.w("ip: ")
    if version is None:
        if ctx.avail(off) < 1:
            ctx.w(" [|ip]")
            return 0
        version = ctx.u8(off) >> 4
    if version == 6:
        ip6.ip6_print(ctx, off, length)
    elif version == 4:
        ip.ip_print(ctx, off, length)
    else:
        ctx.w("IP%u" % version)
        ctx.w(" (invalid)")
    return 0


__all__ = ["ether_print", "sll_print", "sll2_print", "null_print", "raw_print", "Truncated"]
