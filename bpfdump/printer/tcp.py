"""TCP (print-tcp.c): flags, relative sequence numbers per connection, options, payload hints."""
from __future__ import annotations

import struct

from . import dns
from .core import Ctx, Truncated, cksum_shouldbe, in_cksum, port_printer, tok
from .text import (HTTP_CMDS, RTSP_CMDS, first_line_text, not_ssh_text, ssh_print,
                   txtproto_print)

TCP_FLAGS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "."), (0x20, "U"),
             (0x40, "E"), (0x80, "W"))
TCP_OPTIONS = {0: "eol", 1: "nop", 2: "mss", 3: "wscale", 4: "sackOK", 5: "sack", 6: "echo",
               7: "echoreply", 8: "TS", 11: "cc", 12: "ccnew", 13: "ccecho", 19: "md5",
               20: "scps", 28: "uto", 29: "tcp-ao", 30: "mptcp", 34: "tfo", 254: "exp"}


_FLAG_TEXT = tuple("".join(name for bit, name in TCP_FLAGS if flags & bit) or "none"
                   for flags in range(256))
FLAGS_TEXTS = tuple("Flags [%s]" % text for text in _FLAG_TEXT)
TCPHDR = struct.Struct(">HHIIBBHHH")  # sport, dport, seq, ack, offset, flags, win, sum, urp


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


def relative(table, version: int, src: bytes, dst: bytes, sport: int, dport: int, seq: int,
             ack: int, flags: int) -> tuple:
    """tcpdump's relative sequence numbers for a segment with ACK set: (seq, ack, rev, thseq,
    thack). The connection's first seq/ack are read from table with one `get` and, on a SYN or a
    new connection, stored as a new list (never mutated: see bpfdump.printpool)."""
    if src > dst:
        rev = True
        key = (version, dst, src, (dport << 16) | sport)
    else:
        rev = False
        key = (version, src, dst, (sport << 16) | dport)
    entry = table.get(key)
    if entry is None or flags & 0x02:
        entry = [ack - 1, seq] if rev else [seq, ack - 1]
        table[key] = entry
    elif rev:
        seq = (seq - entry[1]) & 0xFFFFFFFF
        ack = (ack - entry[0]) & 0xFFFFFFFF
    else:
        seq = (seq - entry[0]) & 0xFFFFFFFF
        ack = (ack - entry[1]) & 0xFFFFFFFF
    return seq, ack, rev, entry[0], entry[1]


def seq_text(flags: int, seq: int, ack: int, win: int, urp: int, length: int,
             verbose: int) -> str:
    """", seq A:B, ack C, win W, urg U" of a segment with `length` payload bytes."""
    if length > 0:
        text = f", seq {seq}:{(seq + length) & 0xFFFFFFFF}"
    elif verbose > 1 or flags & 0x07:
        text = f", seq {seq}"
    else:
        text = ""
    if flags & 0x10:
        text = f"{text}, ack {ack}, win {win}"
    else:
        text = f"{text}, win {win}"
    if flags & 0x20:
        text += ", urg %u" % urp
    return text


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
        sport, dport, seq, ack, hlen, flags, win, _, urp = TCPHDR.unpack_from(ctx.data, off)
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
    ctx.w(FLAGS_TEXTS[flags])
    if o.absolute_seq or not flags & 0x10:
        rev = False
        thseq = thack = 0
    else:
        seq, ack, rev, thseq, thack = relative(ctx.state.tcp_seq, version, src, dst, sport, dport,
                                               seq, ack, flags)
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
    ctx.w(seq_text(flags, seq, ack, win, urp, length, o.verbose))
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
    printer = port_printer(PAYLOADS, sport, dport)
    if printer is not None:
        printer(ctx, p, length)


class _OptBad(Exception):
    """A malformed option: tcpdump prints [bad opt] and stops printing the segment."""


class _OptTrunc(Exception):
    """An option's data is not all captured (tcpdump's LENCHECK to the trunc label)."""


def options_text(data: bytes, cp: int, n: int, rev: bool, thseq: int | None,
                 thack: int | None) -> str | None:
    """The ", options [...]" text of the n option bytes at cp (all captured) when each option is
    a well-formed nop, eol, mss, wscale, sackOK, sack or TS; None for anything else, and for
    a sack when thseq is None."""
    items = []
    stop = cp + n
    while cp < stop:
        kind = data[cp]
        if kind == 1:
            items.append("nop")
            cp += 1
            continue
        if kind == 0:
            items.append("eol")
            break
        if cp + 1 >= stop:
            return None
        optlen = data[cp + 1]
        if optlen < 2 or cp + optlen > stop:
            return None
        if kind == 8 and optlen == 10:
            items.append("TS val %u ecr %u" % _TS.unpack_from(data, cp + 2))
        elif kind == 2 and optlen == 4:
            items.append("mss %u" % ((data[cp + 2] << 8) | data[cp + 3]))
        elif kind == 3 and optlen == 3:
            items.append("wscale %u" % data[cp + 2])
        elif kind == 4 and optlen == 2:
            items.append("sackOK")
        elif kind == 5 and not (optlen - 2) % 8:
            if thseq is None:       # the caller has not read the TCP table yet
                return None
            base = thseq if rev else thack
            edges = _TS.unpack_from
            items.append("sack %u %s" % ((optlen - 2) // 8, "".join(
                "{%u:%u}" % ((s - base) & 0xFFFFFFFF, (e - base) & 0xFFFFFFFF)
                for s, e in (edges(data, at) for at in range(cp + 2, cp + optlen, 8)))))
        else:
            return None
        cp += optlen
    return ", options [%s]" % ",".join(items)


_TS = struct.Struct(">II")


def _options(ctx: Ctx, cp: int, hlen: int, rev: bool, thseq: int, thack: int) -> None:
    if ctx.have(cp, hlen):
        text = options_text(ctx.data, cp, hlen, rev, thseq, thack)
        if text is not None:
            ctx.w(text)
            return
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

    PAYLOAD_TEXTS[printer] = (first_line_text, (cmds, proto, ": "))
    return printer


# payload printer -> (text, args): its common case as text(data, p, length, capture end, *args),
# None when it is not that case; what the fast lane tries before it runs the printer
PAYLOAD_TEXTS: dict = {ssh_print: (not_ssh_text, ())}


# port -> (rank, payload printer): the lower rank wins when both ports have a printer
PAYLOADS = {}
for _rank, (_ports, _printer) in enumerate((
        ((22,), ssh_print), ((21,), _text("ftp", None)), ((25,), _text("smtp", None)),
        ((80, 8080), _text("http", HTTP_CMDS)), ((554, 8554), _text("rtsp", RTSP_CMDS)),
        ((53,), _dns))):
    for _port in _ports:
        PAYLOADS[_port] = (_rank, _printer)
