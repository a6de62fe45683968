"""IPv6 (print-ip6.c) with hop-by-hop, destination, routing and fragment headers."""
from __future__ import annotations

import struct

from .core import Ctx, Truncated, tok
from .ip import NetHdr, demux
from .tables import IPPROTOS


def _opts(ctx: Ctx, p: int, length: int) -> bool:
    """Hop-by-hop / destination options; printed with -v, always checked. False = malformed."""
    show = ctx.opts.verbose
    w = ctx.w if show else (lambda text: None)
    i = 0
    while i < length:
        kind = ctx.u8(p + i)
        if kind == 0:
            w("(pad1)")
            i += 1
            continue
        if i + 1 >= length:
            return False
        optlen = ctx.u8(p + i + 1) + 2
        if i + optlen > length:
            return False
        if kind == 1:
            w("(padn)")
        elif kind == 5:
            if ctx.u8(p + i + 1) != 2:
                w("(rtalert: invalid len %u)" % ctx.u8(p + i + 1))
                return False
            w("(rtalert: 0x%04x) " % ctx.u16(p + i + 2))
        elif kind == 0xC2:
            if ctx.u8(p + i + 1) != 4:
                w("(jumbo: invalid len %u)" % ctx.u8(p + i + 1))
                return False
            w("(jumbo: %u) " % ctx.u32(p + i + 2))
        elif kind == 0xC9:
            if optlen < 18:
                w("(homeaddr: trunc)")
                return False
            if ctx.u8(p + i + 1) < 16:
                w("(homeaddr: invalid len %u)" % ctx.u8(p + i + 1))
                return False
            w("(homeaddr: %s" % ctx.state.names.ip6(ctx.bytes(p + i + 2, 16)))
            if ctx.u8(p + i + 1) > 16:
                w(" ")
                if not _opts(ctx, p + i + 18, optlen - 18):
                    return False
            w(")")
        else:
            w("(opt_type 0x%02x: len=%u)" % (kind, ctx.u8(p + i + 1)))
        i += optlen
    w(" ")
    return True


def _optproc(ctx: Ctx, p: int, name: str) -> int:
    hlen = (ctx.u8(p + 1) + 1) << 3
    if not ctx.have(p, hlen):
        ctx.trunc()
    ctx.w(name + " ")
    if not _opts(ctx, p + 2, hlen - 2):
        ctx.trunc()
    return hlen


def _rt6(ctx: Ctx, p: int) -> int:
    names = ctx.state.names
    ctx.w("RT6")
    length = ctx.u8(p + 1)
    ctx.w(" (len=%u" % length)
    rtype = ctx.u8(p + 2)
    ctx.w(", type=%u" % rtype)
    if rtype == 0:
        ctx.w(" [Deprecated]")
    segleft = ctx.u8(p + 3)
    ctx.w(", segleft=%u" % segleft)
    if rtype in (0, 2):
        rsv = ctx.u32(p + 4)
        if rsv or ctx.opts.verbose:
            ctx.w(", rsv=0x%x" % rsv)
        if length % 2 == 1:
            ctx.w(" (invalid length %u)" % length)
            ctx.w(" (invalid)")
            return -1
        a = p + 8
        for i in range(length >> 1):
            ctx.w(", [%u]%s" % (i, names.ip6(ctx.bytes(a, 16))))
            a += 16
        ctx.w(") ")
        return (length + 1) << 3
    if rtype == 4:
        last = ctx.u8(p + 4)
        ctx.w(", last-entry=%u" % last)
        flags = ctx.u8(p + 5)
        ctx.w(", flags=0x%x" % flags)
        ctx.w(", tag=%x" % ctx.u16(p + 6))
        if length % 2 == 1:
            ctx.w(" (invalid)")
            return -1
        a = p + 8
        for i in range(length >> 1):
            ctx.w(", [%u]%s" % (i, names.ip6(ctx.bytes(a, 16))))
            a += 16
        ctx.w(") ")
        return (length + 1) << 3
    ctx.w(" (unknown type)")
    ctx.w(" (invalid)")
    return -1


_IP6HDR = struct.Struct(">IHBB")   # version/class/flow label, payload length, next header, hops
_new_tuple = tuple.__new__  # NetHdr from all its fields at once


def ip6_print(ctx: Ctx, off: int, length: int) -> None:
    ctx.proto = "ip6"
    o = ctx.opts
    if not ctx.have(off, 40):
        ctx.trunc()
    if length < 40:
        ctx.w("truncated-ip6 %u" % length)
        return
    if not o.ether:
        ctx.w("IP6 ")
    flow, payload_len, nh, hlim = _IP6HDR.unpack_from(ctx.data, off)
    version = flow >> 28
    if version != 6:
        ctx.w("version error: %u != 6" % version)
        return
    if payload_len != 0:
        total = payload_len + 40
        if length < total:
            ctx.w("truncated-ip6 - %u bytes missing!" % (total - length))
    else:
        total = length
    if o.verbose:
        ctx.w("(")
        if flow & 0x0FF00000:
            ctx.w("class 0x%02x, " % ((flow & 0x0FF00000) >> 20))
        if flow & 0x000FFFFF:
            ctx.w("flowlabel 0x%05x, " % (flow & 0x000FFFFF))
        ctx.w("hlim %u, next-header %s (%u) payload length: %u) "
              % (hlim, tok(IPPROTOS, nh, "unknown"), nh, payload_len))
    end = ctx.end
    if off + total < end:       # the payload length cuts the capture (push_end)
        ctx.end = off + total
    try:
        _walk(ctx, off, total, nh)
    finally:
        ctx.end = end


def _walk(ctx: Ctx, off: int, length: int, nh: int) -> None:
    names = ctx.state.names
    data = ctx.data
    src = data[off + 8:off + 24]      # ip6_print checked the 40-byte header
    dst = data[off + 24:off + 40]
    cached = names.ip6_names.get
    src_name = cached(src) or names.ip6(src)
    dst_name = cached(dst) or names.ip6(dst)
    cp = off
    advance = 40
    fragmented = False
    ck_dst = None
    while cp < ctx.end and advance > 0:
        if length < advance:
            raise Truncated()
        cp += advance
        length -= advance
        if cp == off + 40 and nh not in (6, 17, 33, 132):
            ctx.w("%s > %s: " % (src_name, dst_name))
        if nh == 0:
            ctx.proto = "hbhopt"
            advance = _optproc(ctx, cp, "HBH")
            nh = ctx.u8(cp)
        elif nh == 60:
            ctx.proto = "dstopt"
            advance = _optproc(ctx, cp, "DSTOPT")
            nh = ctx.u8(cp)
        elif nh == 44:
            ctx.proto = "frag6"
            offlg = ctx.u16(cp + 2)
            remain = 40 + ctx.u16(off + 4) - (cp - off) - 8
            if ctx.opts.verbose:
                ctx.w("frag (0x%08x:%u|%u)" % (ctx.u32(cp + 4), offlg & 0xFFF8, remain))
            else:
                ctx.w("frag (%u|%u)" % (offlg & 0xFFF8, remain))
            if offlg & 0xFFF8:
                return
            ctx.w(" ")
            advance = 8
            if ctx.end <= cp + advance:
                return
            nh = ctx.u8(cp)
            fragmented = True
        elif nh == 43:
            if not ctx.have(cp, 1):
                ctx.trunc()
            if (ck_dst is None and ctx.have(cp, 4) and ctx.data[cp + 2] in (0, 2)
                    and ctx.data[cp + 1] % 2 == 0):
                n = ctx.u8(cp + 1) >> 1
                if n and ctx.have(cp + 8, 16 * n):
                    ck_dst = ctx.bytes(cp + 8 + 16 * (n - 1), 16)
            ctx.proto = "rt6"
            advance = _rt6(ctx, cp)
            if advance < 0:
                return
            nh = ctx.u8(cp)
        else:
            net = _new_tuple(NetHdr, (6, src, dst, src_name, dst_name, cp == off + 40,
                                      fragmented, ck_dst))
            demux(ctx, nh, cp, length, net)
            return
        ctx.proto = "ip6"
