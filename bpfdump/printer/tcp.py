"""TCP (print-tcp.c): flags, relative sequence numbers per connection, options, payload hints."""
from __future__ import annotations

import struct

from . import dns
from .core import Ctx, Truncated, cksum_shouldbe, in_cksum, tok
from .text import HTTP_CMDS, RTSP_CMDS, ssh_print, txtproto_print

TCP_FLAGS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "."), (0x20, "U"),
             (0x40, "E"), (0x80, "W"))
TCP_OPTIONS = {0: "eol", 1: "nop", 2: "mss", 3: "wscale", 4: "sackOK", 5: "sack", 6: "echo",
               7: "echoreply", 8: "TS", 11: "cc", 12: "ccnew", 13: "ccecho", 19: "md5",
               20: "scps", 28: "uto", 29: "tcp-ao", 30: "mptcp", 34: "tfo", 254: "exp"}


_FLAG_TEXT = tuple("".join(name for bit, name in TCP_FLAGS if flags & bit) or "none"
                   for flags in range(256))
_FLAGS_TEXT = tuple("Flags [%s]" % text for text in _FLAG_TEXT)
_TCPHDR = struct.Struct(">HHIIBBHHH")  # sport, dport, seq, ack, offset, flags, win, sum, urp


def flag_text(flags: int) -> str:
    return _FLAG_TEXT[flags]


def pseudo_sum(net, length: int, proto: int) -> int:
    """The pseudo-header's contribution to the checksum, as in_cksum's `init`."""
    dst = net.ck_dst or net.dst
    if net.version == 4:
        hdr = net.src + dst + struct.pack(">BBH", 0, proto, length & 0xFFFF)
    else:
        hdr = net.src + dst + struct.pack(">IxxxB", length, proto)
    return int.from_bytes(hdr, "big")


def transport_cksum(ctx: Ctx, off: int, length: int, net, proto: int) -> int:
    return in_cksum(ctx.data[off:off + length], pseudo_sum(net, length, proto))


def tcp_print(ctx: Ctx, off: int, length: int, net) -> None:
    ctx.proto = "tcp"
    o = ctx.opts
    names = ctx.state.names
    end = ctx.end
    version, src, dst, src_name, dst_name, direct, fragmented, _ = net
    if off + 4 > end:
        ctx.w("%s > %s:" % (src_name, dst_name))
        ctx.w(" [|tcp]")
        return
    if off + 20 <= end:
        sport, dport, seq, ack, hlen, flags, win, _, urp = _TCPHDR.unpack_from(ctx.data, off)
    else:
        sport = ctx.u16(off)
        dport = ctx.u16(off + 2)
        hlen = None
    port = names.tcp_names.get
    if direct:
        ctx.w("%s.%s > %s.%s: " % (src_name, port(sport, sport), dst_name, port(dport, dport)))
    else:
        ctx.w("%s > %s: " % (port(sport, sport), port(dport, dport)))
    if hlen is None:
        ctx.trunc()
    hlen = (hlen >> 4) * 4
    if hlen < 20:
        ctx.w(" tcp %u [bad hdr length %u - too short, < 20]" % ((length - hlen) & 0xFFFFFFFF,
                                                                 hlen))
        return
    if o.quiet:
        ctx.w("tcp %u" % ((length - hlen) & 0xFFFFFFFF))
        if hlen > length:
            ctx.w(" [bad hdr length %u - too long, > %u]" % (hlen, length))
        return
    ctx.w(_FLAGS_TEXT[flags])
    rev = False
    thseq = thack = 0
    if not o.absolute_seq and flags & 0x10:
        table = ctx.state.tcp_seq
        if src > dst:
            rev = True
            key = (version, dst, src, (dport << 16) | sport)
        else:
            key = (version, src, dst, (sport << 16) | dport)
        entry = table.get(key)
        if entry is None or flags & 0x02:
            entry = [ack - 1, seq] if rev else [seq, ack - 1]
            table[key] = entry
        else:
            if rev:
                seq = (seq - entry[1]) & 0xFFFFFFFF
                ack = (ack - entry[0]) & 0xFFFFFFFF
            else:
                seq = (seq - entry[0]) & 0xFFFFFFFF
                ack = (ack - entry[1]) & 0xFFFFFFFF
        thseq, thack = entry
    if hlen > length:
        ctx.w(" [bad hdr length %u - too long, > %u]" % (hlen, length))
        return
    if o.verbose and not fragmented:
        if ctx.have(off, length):
            computed = transport_cksum(ctx, off, length, net, 6)
            field = ctx.u16(off + 16)
            ctx.w(", cksum 0x%04x" % field)
            if computed != 0:
                ctx.w(" (incorrect -> 0x%04x)" % cksum_shouldbe(field, computed))
            else:
                ctx.w(" (correct)")
    length -= hlen
    w = ctx.w
    if o.verbose > 1 or length > 0 or flags & 0x07:
        if length > 0:
            w(f", seq {seq}:{(seq + length) & 0xFFFFFFFF}")
        else:
            w(f", seq {seq}")
    if flags & 0x10:
        w(f", ack {ack}")
    w(f", win {win}")
    if flags & 0x20:
        w(", urg %u" % urp)
    if hlen > 20:
        try:
            _options(ctx, off + 20, hlen - 20, rev, thseq, thack)
        except _OptTrunc as exc:
            ctx.w(" [|tcp]" + (">" if exc.args[0] else ""))
            return
        except _OptBad:
            return
    ctx.w(f", length {length}")
    if length <= 0:
        return
    if off + hlen > ctx.end:
        ctx.w(" [remaining caplen(%u) < header length(%u)]" % (ctx.avail(off), hlen))
        raise Truncated()
    p = off + hlen
    if flags & 0x04 and o.verbose:
        _rst_data(ctx, p, length)
        return
    a = _PAYLOADS.get(sport)
    b = _PAYLOADS.get(dport)
    if a is not None or b is not None:
        if a is None or (b is not None and b[0] < a[0]):
            a = b
        a[1](ctx, p, length)


class _OptBad(Exception):
    """A malformed option: tcpdump prints [bad opt] and stops printing the segment."""


class _OptTrunc(Exception):
    """An option's data is not all captured (tcpdump's LENCHECK to the trunc label)."""


def _options(ctx: Ctx, cp: int, hlen: int, rev: bool, thseq: int, thack: int) -> None:
    ctx.w(", options [")
    first = True
    while hlen > 0:
        if not first:
            ctx.w(",")
        first_opt = first
        first = False
        opt = ctx.u8(cp)
        cp += 1
        if opt in (0, 1):
            optlen = 1
        else:
            optlen = ctx.u8(cp)
            cp += 1
            if optlen < 2 or optlen > hlen:
                ctx.w("[bad opt]" + ("" if first_opt else "]"))
                raise _OptBad()
            hlen -= 1
        hlen -= 1
        datalen = 0
        ctx.w(tok(TCP_OPTIONS, opt, "unknown-%u"))

        def lencheck(n: int) -> bool:
            if n > hlen:
                return False
            if not ctx.have(cp, n):
                raise _OptTrunc(not first_opt)
            return True

        if opt == 2:
            datalen = 2
            if not lencheck(2):
                ctx.w("[bad opt]" + ("" if first_opt else "]"))
                raise _OptBad()
            ctx.w(" %u" % ctx.u16(cp))
        elif opt == 3:
            datalen = 1
            if not lencheck(1):
                ctx.w("[bad opt]" + ("" if first_opt else "]"))
                raise _OptBad()
            ctx.w(" %u" % ctx.u8(cp))
        elif opt == 5:
            datalen = optlen - 2
            if datalen % 8:
                ctx.w(" invalid sack")
            else:
                ctx.w(" %u " % (datalen // 8))
                for i in range(0, datalen, 8):
                    if not lencheck(i + 8):
                        ctx.w("[bad opt]")
                        return
                    s = ctx.u32(cp + i)
                    e = ctx.u32(cp + i + 4)
                    base = thseq if rev else thack
                    ctx.w("{%u:%u}" % ((s - base) & 0xFFFFFFFF, (e - base) & 0xFFFFFFFF))
        elif opt in (11, 12, 13):
            datalen = 4
            if not lencheck(4):
                ctx.w("[bad opt]" + ("" if first_opt else "]"))
                raise _OptBad()
            ctx.w(" %u" % ctx.u32(cp))
        elif opt == 8:
            datalen = 8
            if not lencheck(8):
                ctx.w("[bad opt]" + ("" if first_opt else "]"))
                raise _OptBad()
            ctx.w(" val %u ecr %u" % (ctx.u32(cp), ctx.u32(cp + 4)))
        elif opt == 28:
            datalen = 2
            if not lencheck(2):
                ctx.w("[bad opt]" + ("" if first_opt else "]"))
                raise _OptBad()
            uto = ctx.u16(cp)
            ctx.w(" 0x%x" % uto)
            ctx.w(" %u" % ((uto >> 1) * 60 if uto & 1 else uto >> 1))
        elif opt == 254:
            datalen = optlen - 2
            if not lencheck(datalen) or datalen < 2:
                ctx.w("[bad opt]" + ("" if first_opt else "]"))
                raise _OptBad()
            ctx.w("-%04x" % ctx.u16(cp))
        elif opt in (0, 1):
            datalen = 0
        else:
            datalen = optlen - 2
            if datalen:
                ctx.w(" 0x")
            for i in range(datalen):
                if not lencheck(i + 1):
                    ctx.w("[bad opt]")
                    return
                ctx.w("%02x" % ctx.u8(cp + i))
        cp += datalen
        hlen -= datalen
        datalen += 1 if opt in (0, 1) else 2
        if datalen != optlen:
            ctx.w("[len %d]" % optlen)
        if opt == 0:
            break
    ctx.w("]")


def _rst_data(ctx: Ctx, p: int, length: int) -> None:
    """-v text of a RST segment's payload (RFC 1122 4.2.2.12), at most 30 characters."""
    ctx.w(" [RST" if ctx.have(p, length) else " [!RST")
    if length > 30:
        length = 30
        ctx.w("+")
    ctx.w(" ")
    dns._printn(ctx, p, min(length, ctx.avail(p)))
    ctx.w("]")


def _dns(ctx: Ctx, p: int, length: int) -> None:
    dns.domain_print(ctx, p, length, over_tcp=True, mdns=False)


def _text(proto: str, cmds):
    def printer(ctx: Ctx, p: int, length: int) -> None:
        ctx.w(": ")
        txtproto_print(ctx, p, length, cmds, proto)
    return printer


# port -> (rank, payload printer): the lower rank wins when both ports have a printer
_PAYLOADS = {}
for _rank, (_ports, _printer) in enumerate((
        ((22,), ssh_print), ((21,), _text("ftp", None)), ((25,), _text("smtp", None)),
        ((80, 8080), _text("http", HTTP_CMDS)), ((554, 8554), _text("rtsp", RTSP_CMDS)),
        ((53,), _dns))):
    for _port in _ports:
        _PAYLOADS[_port] = (_rank, _printer)
