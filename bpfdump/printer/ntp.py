"""NTP (print-ntp.c): version/mode summary; with -v the time-message fields."""
from __future__ import annotations

import datetime

from .core import Ctx, tok

MODES = {0: "unspecified", 1: "symmetric active", 2: "symmetric passive", 3: "Client",
         4: "Server", 5: "Broadcast", 6: "Control Message", 7: "Reserved"}
LEAP = {0x00: "", 0x40: "+1s", 0x80: "-1s", 0xC0: "clock unsynchronized"}
STRATA = {0: "unspecified", 1: "primary reference"}
JAN_1970 = 2208988800
FMAXINT = 4294967296.0


def _frac9(uf: int) -> int:
    return int((uf / FMAXINT) * 1000000000.0)


def _time(ctx: Ctx, p: int) -> None:
    i = ctx.u32(p)
    uf = ctx.u32(p + 4)
    ctx.w("%u.%09u" % (i, _frac9(uf)))
    if i:
        secs = i - JAN_1970
        when = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=secs)
        ctx.w(" (%s)" % when.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _delta(ctx: Ctx, olfp: int, lfp: int) -> None:
    u = ctx.u32(lfp)
    ou = ctx.u32(olfp)
    uf = ctx.u32(lfp + 4)
    ouf = ctx.u32(olfp + 4)
    if ou == 0 and ouf == 0:
        _time(ctx, lfp)
        return
    if u > ou:
        sign = False
        i = u - ou
        f = (uf - ouf) & 0xFFFFFFFF
        if ouf > uf:
            i -= 1
    elif u < ou:
        sign = True
        i = ou - u
        f = (ouf - uf) & 0xFFFFFFFF
        if uf > ouf:
            i -= 1
    else:
        i = 0
        if uf > ouf:
            sign = False
            f = uf - ouf
        else:
            sign = True
            f = ouf - uf
    ctx.w("%s%u.%09u" % ("-" if sign else "+", i & 0xFFFFFFFF, _frac9(f)))


def _sfix(ctx: Ctx, p: int) -> None:
    i = ctx.u16(p)
    f = ctx.u16(p + 2)
    ctx.w("%d.%06d" % (i, int((f / 65536.0) * 1000000.0)))


def _s8(v: int) -> int:
    return v - 256 if v & 0x80 else v


def ntp_print(ctx: Ctx, bp: int, length: int) -> None:
    ctx.proto = "ntp"
    status = ctx.u8(bp)
    version = (status & 0x38) >> 3
    ctx.w("NTPv%u" % version)
    mode = status & 0x07
    if not ctx.opts.verbose:
        ctx.w(", %s, length %u" % (tok(MODES, mode, "Unknown mode"), length))
        return
    ctx.w(", %s, length %u\n" % (tok(MODES, mode, "Unknown mode"), length))
    leap = status & 0xC0
    ctx.w("\tLeap indicator: %s (%u)" % (tok(LEAP, leap, "Unknown"), leap))
    if mode in (0, 1, 2, 3, 4, 5):
        _time_msg(ctx, bp, length)
    elif mode == 6:
        _control(ctx, bp, length)


def _time_msg(ctx: Ctx, bp: int, length: int) -> None:
    names = ctx.state.names
    if length < 48:
        ctx.w(" (invalid)")
        ctx.need(bp, length)
        return
    stratum = ctx.u8(bp + 1)
    ctx.w(", Stratum %u (%s)" % (stratum, STRATA.get(stratum, "secondary reference"
                                                      if 2 <= stratum <= 15 else "reserved")))
    poll = _s8(ctx.u8(bp + 2))
    ctx.w(", poll %d" % poll)
    if -32 < poll < 32:
        ctx.w(" (%us)" % (1 << poll) if poll >= 0 else " (1/%us)" % (1 << -poll))
    ctx.w(", precision %d" % _s8(ctx.u8(bp + 3)))
    if not ctx.have(bp + 4, 4):
        ctx.trunc()
    ctx.w("\n\tRoot Delay: ")
    _sfix(ctx, bp + 4)
    if not ctx.have(bp + 8, 4):
        ctx.trunc()
    ctx.w(", Root dispersion: ")
    _sfix(ctx, bp + 8)
    if not ctx.have(bp + 12, 4):
        ctx.trunc()
    ctx.w(", Reference-ID: ")
    if stratum == 0:
        ctx.w("(unspec)")
    elif stratum == 1:
        from .dns import _printn
        _printn(ctx, bp + 12, 4)
    elif stratum == 254:
        ctx.w("%s INFO_QUERY" % names.ip(ctx.bytes(bp + 12, 4)))
        return
    elif stratum == 255:
        ctx.w("%s INFO_REPLY" % names.ip(ctx.bytes(bp + 12, 4)))
        return
    else:
        ctx.w("0x%08x" % ctx.u32(bp + 12))
    for off, label in ((16, "\n\t  Reference Timestamp:  "), (24, "\n\t  Originator Timestamp: "),
                       (32, "\n\t  Receive Timestamp:    "), (40, "\n\t  Transmit Timestamp:   ")):
        if not ctx.have(bp + off, 8):
            ctx.trunc()
        ctx.w(label)
        _time(ctx, bp + off)
    ctx.w("\n\t    Originator - Receive Timestamp:  ")
    _delta(ctx, bp + 24, bp + 32)
    ctx.w("\n\t    Originator - Transmit Timestamp: ")
    _delta(ctx, bp + 24, bp + 40)
    if length == 52:
        ctx.w("\n\tKey id: %u" % ctx.u32(bp + 48))
    elif length == 68:
        ctx.w("\n\tKey id: %u" % ctx.u32(bp + 48))
        ctx.w("\n\tAuthentication: %08x%08x%08x%08x" % tuple(ctx.u32(bp + 52 + 4 * k)
                                                            for k in range(4)))
    elif length == 72:
        ctx.w("\n\tKey id: %u" % ctx.u32(bp + 48))
        ctx.w("\n\tAuthentication: %08x%08x%08x%08x%08x" % tuple(ctx.u32(bp + 52 + 4 * k)
                                                                for k in range(5)))
    elif length > 48:
        ctx.w("\n\t(%u more bytes after the header)" % (length - 48))


def _control(ctx: Ctx, bp: int, length: int) -> None:
    control = ctx.u8(bp + 1)
    ctx.w(", %s, %s, %s, OpCode=%u\n"
          % ("Response" if control & 0x80 else "Request",
             "Error" if control & 0x40 else "OK",
             "More" if control & 0x20 else "Last", control & 0x1F))
    ctx.w("\tSequence=%u" % ctx.u16(bp + 2))
    ctx.w(", Status=%#x" % ctx.u16(bp + 4))
    ctx.w(", Assoc.=%u" % ctx.u16(bp + 6))
    ctx.w(", Offset=%u" % ctx.u16(bp + 8))
    count = ctx.u16(bp + 10)
    ctx.w(", Count=%u" % count)
    if length < 12:
        ctx.w(" (invalid)")
        return
    if count > length - 12:
        ctx.w(" (invalid)")
        return
    if count:
        ctx.w("\n\tTO-BE-DONE")
    if length > 12 + count:
        ctx.w("\n\t(%u more bytes after the data)" % (length - 12 - count))
