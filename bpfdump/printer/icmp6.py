"""ICMPv6 (print-icmp6.c): errors, echo, MLD, neighbour discovery and its options."""
from __future__ import annotations

from .core import Ctx, Truncated, bittok, cksum_shouldbe, tok
from .hexdump import hex_lines
from .tcp import transport_cksum

ICMP6_TYPES = {
    1: "destination unreachable", 2: "packet too big", 3: "time exceeded in-transit",
    4: "parameter problem", 128: "echo request", 129: "echo reply",
    130: "multicast listener query", 131: "multicast listener report",
    132: "multicast listener done", 133: "router solicitation", 134: "router advertisement",
    135: "neighbor solicitation", 136: "neighbor advertisement", 137: "redirect",
    138: "router renumbering", 141: "inverse neighbor solicitation",
    142: "inverse neighbor advertisement", 143: "multicast listener report v2",
    144: "ha discovery request", 145: "ha discovery reply", 146: "mobile router solicitation",
    147: "mobile router advertisement", 139: "who-are-you request", 140: "who-are-you reply",
    200: "mtrace response", 201: "mtrace message", 155: "RPL",
}
UNREACH_CODES = {0: "unreachable route", 1: " unreachable prohibited", 2: "beyond scope",
                 3: "unreachable address", 4: "unreachable port"}
OPT_NAMES = {1: "source link-address", 2: "destination link-address", 3: "prefix info",
             4: "redirected header", 5: "mtu", 25: "rdnss", 31: "dnssl",
             7: "advertisement interval", 8: "homeagent information", 24: "route info"}
PI_FLAGS = {0x80: "onlink", 0x40: "auto", 0x20: "router"}
RA_FLAGS = {0x80: "managed", 0x40: "other stateful", 0x20: "home agent", 0x02: "ipv6 only"}
NA_FLAGS = {0x80000000: "router", 0x40000000: "solicited", 0x20000000: "override"}
RTPREF = ("medium", "high", "rsv", "low")


def _lifetime(v: int) -> str:
    return "infinity" if v == 0xFFFFFFFF else "%us" % v


def _unknown_data(ctx: Ctx, p: int, ident: str, length: int) -> None:
    if p > ctx.end:
        ctx.w("%sDissector error: print_unknown_data called with pointer past end of packet"
              % ident)
        return
    n = min(length, ctx.avail(p))
    ctx.w(hex_lines(ctx.data[p:p + n], ident))


def _upper(ctx: Ctx, oip: int):
    """The inner packet's transport protocol and the offset of its header."""
    ctx.need(oip, 40)
    nh = ctx.u8(oip + 6)
    p = oip + 40
    while True:
        if nh in (0, 60, 43):
            nh2 = ctx.u8(p)
            p += (ctx.u8(p + 1) + 1) << 3
            nh = nh2
        elif nh == 44:
            if ctx.u16(p + 2) & 0xFFF8:
                return None
            nh = ctx.u8(p)
            p += 8
        elif nh == 51:
            nh2 = ctx.u8(p)
            p += (ctx.u8(p + 1) + 2) << 2
            nh = nh2
        elif nh in (6, 17):
            return nh, p
        else:
            return None


def icmp6_print(ctx: Ctx, off: int, length: int, net) -> None:
    ctx.proto = "icmp6"
    o = ctx.opts
    names = ctx.state.names
    if length == 0:
        ctx.w("ICMP6, length 0 (invalid)")
        return
    if o.verbose and not net.fragmented:
        if ctx.have(off, length):
            field = ctx.u16(off + 2)
            computed = transport_cksum(ctx, off, length, net, 58)
            if computed:
                ctx.w("[bad icmp6 cksum 0x%04x -> 0x%04x!] "
                      % (field, cksum_shouldbe(field, computed)))
            else:
                ctx.w("[icmp6 sum ok] ")
    itype = ctx.u8(off)
    ctx.w("ICMP6, %s" % tok(ICMP6_TYPES, itype, "unknown icmp6 type (%u)"))
    if o.verbose and itype in (133, 134, 136, 135, 137, 145, 147):
        ctx.w(", length %u" % length)
    code = ctx.u8(off + 1)
    oip = off + 8
    if itype == 1:
        ctx.w(", %s" % tok(UNREACH_CODES, code, "unknown unreach code (%u)"))
        if code in (0, 1, 3):
            ctx.w(" %s" % names.ip6(ctx.bytes(oip + 24, 16)))
        elif code == 2:
            ctx.w(" %s, source address %s" % (names.ip6(ctx.bytes(oip + 24, 16)),
                                               names.ip6(ctx.bytes(oip + 8, 16))))
        elif code == 4:
            try:
                up = _upper(ctx, oip)
                if up is None:
                    raise Truncated()
                prot, uh = up
                dport = ctx.u16(uh + 2)
            except Truncated:
                ctx.trunc()
            dst = names.ip6(ctx.bytes(oip + 24, 16))
            if prot == 6:
                ctx.w(", %s tcp port %s" % (dst, names.tcpport(dport)))
            elif prot == 17:
                ctx.w(", %s udp port %s" % (dst, names.udpport(dport)))
            else:
                ctx.w(", %s protocol %u port %u unreachable" % (dst, prot, dport))
        else:
            if o.verbose <= 1:
                _unknown_data(ctx, off, "\n\t", length)
                return
    elif itype == 2:
        ctx.w(", mtu %u" % ctx.u32(off + 4))
    elif itype == 3:
        if code == 0:
            ctx.w(" for %s" % names.ip6(ctx.bytes(oip + 24, 16)))
        elif code == 1:
            ctx.w(" (reassembly)")
        else:
            ctx.w(", unknown code (%u)" % code)
    elif itype == 4:
        if not ctx.have(oip + 24, 16):
            ctx.trunc()
        what = {0: "erroneous", 1: "next header", 2: "option", 3: "incomplete header chain"}
        if code in what:
            ctx.w(", %s - octet %u" % (what[code], ctx.u32(off + 4)))
        else:
            ctx.w(", code-#%u" % code)
    elif itype in (128, 129):
        ctx.w(", id %u, seq %u" % (ctx.u16(off + 4), ctx.u16(off + 6)))
    elif itype == 130:
        if length == 24:
            _mld(ctx, off)
        elif length >= 28:
            ctx.w(" v2")
            _mldv2_query(ctx, off, length)
        else:
            ctx.w(" unknown-version (len %u) " % length)
    elif itype in (131, 132):
        _mld(ctx, off)
    elif itype == 133:
        if o.verbose:
            _opts(ctx, off + 8, length - 8)
    elif itype == 134:
        if o.verbose:
            flags = ctx.u8(off + 5)
            ctx.w("\n\thop limit %u, Flags [%s], pref %s, router lifetime %us, "
                  "reachable time %ums, retrans timer %ums"
                  % (ctx.u8(off + 4), bittok(RA_FLAGS, flags, "none"),
                     RTPREF[(flags & 0x18) >> 3], ctx.u16(off + 6), ctx.u32(off + 8),
                     ctx.u32(off + 12)))
            _opts(ctx, off + 16, length - 16)
    elif itype == 135:
        ctx.w(", who has %s" % names.ip6(ctx.bytes(off + 8, 16)))
        if o.verbose:
            _opts(ctx, off + 24, length - 24)
    elif itype == 136:
        ctx.w(", tgt is %s" % names.ip6(ctx.bytes(off + 8, 16)))
        if o.verbose:
            ctx.w(", Flags [%s]" % bittok(NA_FLAGS, ctx.u32(off + 4), "none"))
            _opts(ctx, off + 24, length - 24)
    elif itype == 137:
        ctx.w(", %s" % names.ip6(ctx.bytes(off + 24, 16)))
        ctx.w(" to %s" % names.ip6(ctx.bytes(off + 8, 16)))
        if o.verbose:
            _opts(ctx, off + 40, length - 40)
    elif itype in (141, 142):
        pass
    elif itype in (146, 144):
        ctx.w(", id 0x%04x" % ctx.u16(off + 4))
    elif itype == 145:
        if o.verbose:
            ctx.w(", id 0x%04x" % ctx.u16(off + 4))
            p = off + 8
            while p < off + length:
                ctx.w(", %s" % names.ip6(ctx.bytes(p, 16)))
                p += 16
    elif itype == 147:
        if o.verbose:
            ctx.w(", id 0x%04x" % ctx.u16(off + 4))
            flags = ctx.u16(off + 6)
            if flags & 0xC000:
                ctx.w(" ")
            if flags & 0x8000:
                ctx.w("M")
            if flags & 0x4000:
                ctx.w("O")
            _opts(ctx, off + 8, length - 8)
    elif itype == 143:
        _mldv2_report(ctx, off, length)
    else:
        ctx.w(", length %u" % length)
        if o.verbose <= 1:
            _unknown_data(ctx, off, "\n\t", length)
        return
    if not o.verbose:
        ctx.w(", length %u" % length)


def _mld(ctx: Ctx, off: int) -> None:
    if off + 24 > ctx.end:
        return
    ctx.w("max resp delay: %u " % ctx.u16(off + 4))
    ctx.w("addr: %s" % ctx.state.names.ip6(ctx.bytes(off + 8, 16)))


def _mldv2_report(ctx: Ctx, off: int, length: int) -> None:
    names = ctx.state.names
    if length < 8:
        ctx.w(" [invalid len %u]" % length)
        return
    ngroups = ctx.u16(off + 6)
    ctx.w(", %u group record(s)" % ngroups)
    if ctx.opts.verbose:
        group = off + 8
        for _ in range(ngroups):
            if length < group - off + 20:
                ctx.w(" [invalid number of groups]")
                return
            ctx.w(" [gaddr %s" % names.ip6(ctx.bytes(group + 4, 16)))
            rtype = ctx.u8(group)
            ctx.w(" %s" % {1: "is_in", 2: "is_ex", 3: "to_in", 4: "to_ex", 5: "allow",
                           6: "block"}.get(rtype, "unknown"))
            nsrcs = ctx.u16(group + 2)
            if length < group - off + 20 + nsrcs * 16:
                ctx.w(" [invalid number of sources %u]" % nsrcs)
                return
            if ctx.opts.verbose == 1:
                ctx.w(", %u source(s)" % nsrcs)
            else:
                ctx.w(" {")
                for j in range(nsrcs):
                    ctx.w(" %s" % names.ip6(ctx.bytes(group + 20 + j * 16, 16)))
                ctx.w(" }")
            group += 20 + nsrcs * 16
            ctx.w("]")


def _mldv2_query(ctx: Ctx, off: int, length: int) -> None:
    names = ctx.state.names
    mrc = ctx.u16(off + 4)
    if mrc < 32768:
        mrt = mrc
    else:
        mrt = ((mrc & 0x0FFF) | 0x1000) << (((mrc & 0x7000) >> 12) + 3)
    if ctx.opts.verbose:
        ctx.w(" [max resp delay=%u]" % mrt)
    ctx.w(" [gaddr %s" % names.ip6(ctx.bytes(off + 8, 16)))
    if ctx.opts.verbose:
        flags = ctx.u8(off + 24)
        if flags & 0x08:
            ctx.w(" sflag")
        if flags & 0x07:
            ctx.w(" robustness=%u" % (flags & 0x07))
        qqi = ctx.u8(off + 25)
        if qqi < 128:
            qqi = qqi
        else:
            qqi = ((qqi & 0x0F) | 0x10) << (((qqi & 0x70) >> 4) + 3)
        ctx.w(" qqi=%u" % qqi)
    nsrcs = ctx.u16(off + 26)
    if nsrcs > 0:
        if length < 28 + nsrcs * 16:
            ctx.w(" [invalid number of sources]")
        elif ctx.opts.verbose > 1:
            ctx.w(" {")
            for i in range(nsrcs):
                ctx.w(" %s" % names.ip6(ctx.bytes(off + 28 + i * 16, 16)))
            ctx.w(" }")
        else:
            ctx.w(", %u source(s)" % nsrcs)
    ctx.w("]")


def _opts(ctx: Ctx, cp: int, resid: int) -> None:
    """Neighbour-discovery options; a truncated option ends the packet with [|icmp6]."""
    try:
        _opts_body(ctx, cp, resid)
    except Truncated:
        ctx.proto = "icmp6"
        ctx.trunc()


def _opts_body(ctx: Ctx, cp: int, resid: int) -> None:
    names = ctx.state.names
    o = ctx.opts
    ep = ctx.end
    while cp < ep:
        ctx.need(cp + 1, 1)
        if resid <= 0:
            return
        otype = ctx.u8(cp)
        olen = ctx.u8(cp + 1)
        if olen == 0 or cp + (olen << 3) > ep:
            raise Truncated()
        ctx.w("\n\t  %s option (%u), length %u (%u): "
              % (tok(OPT_NAMES, otype, "unknown"), otype, olen << 3, olen))
        if otype in (1, 2):
            n = (olen << 3) - 2
            ctx.w(":".join("%02x" % ctx.u8(cp + 2 + i) for i in range(n)))
        elif otype == 3:
            ctx.w("%s/%u%s, Flags [%s], valid time %s"
                  % (names.ip6(ctx.bytes(cp + 16, 16)), ctx.u8(cp + 2),
                     "badlen" if olen != 4 else "",
                     bittok(PI_FLAGS, ctx.u8(cp + 3), "none"), _lifetime(ctx.u32(cp + 4))))
            ctx.w(", pref. time %s" % _lifetime(ctx.u32(cp + 8)))
        elif otype == 4:
            _unknown_data(ctx, cp, "\n\t    ", olen << 3)
        elif otype == 5:
            ctx.w(" %u%s" % (ctx.u32(cp + 4), "bad option length" if olen != 1 else ""))
        elif otype == 25:
            n = (olen - 1) // 2
            ctx.w(" lifetime %us," % ctx.u32(cp + 4))
            for i in range(n):
                ctx.w(" addr: %s" % names.ip6(ctx.bytes(cp + 8 + 16 * i, 16)))
        elif otype == 31:
            from .dns import fqdn_print
            ctx.w(" lifetime %us, domain(s):" % ctx.u32(cp + 4))
            dom = cp + 8
            while dom < cp + (olen << 3) and ctx.u8(dom) != 0:
                ctx.w(" ")
                dom = fqdn_print(ctx, dom, cp)
                if dom is None:
                    raise Truncated()
        elif otype == 7:
            ctx.w(" %ums" % ctx.u32(cp + 4))
        elif otype == 8:
            ctx.w(" preference %u, lifetime %u" % (ctx.u16(cp + 4), ctx.u16(cp + 6)))
        elif otype == 24:
            ctx.need(cp + 4, 4)
            if olen == 1:
                prefix = bytes(16)
            elif olen == 2:
                prefix = ctx.bytes(cp + 8, 8) + bytes(8)
            elif olen == 3:
                prefix = ctx.bytes(cp + 8, 16)
            else:
                raise Truncated()
            ctx.w(" %s/%u" % (names.ip6(prefix), ctx.u8(cp + 2)))
            ctx.w(", pref=%s" % RTPREF[(ctx.u8(cp + 3) & 0x18) >> 3])
            ctx.w(", lifetime=%s" % _lifetime(ctx.u32(cp + 4)))
        else:
            if o.verbose <= 1:
                _unknown_data(ctx, cp + 2, "\n\t  ", (olen << 3) - 2)
                return
        if o.verbose > 1:
            _unknown_data(ctx, cp + 2, "\n\t    ", (olen << 3) - 2)
        cp += olen << 3
        resid -= olen << 3
