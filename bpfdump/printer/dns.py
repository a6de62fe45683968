"""DNS and mDNS (print-domain.c): header flags, questions, answers of the common types."""
from __future__ import annotations

import struct

from .core import Ctx, Truncated, tok
from .names import ip6_text, ip_text

TYPES = {
    1: "A", 2: "NS", 3: "MD", 4: "MF", 5: "CNAME", 6: "SOA", 7: "MB", 8: "MG", 9: "MR",
    10: "NULL", 11: "WKS", 12: "PTR", 13: "HINFO", 14: "MINFO", 15: "MX", 16: "TXT", 17: "RP",
    18: "AFSDB", 19: "X25", 20: "ISDN", 21: "RT", 22: "NSAP", 23: "NSAP_PTR", 24: "SIG",
    25: "KEY", 26: "PX", 27: "GPOS", 28: "AAAA", 29: "LOC", 30: "NXT", 31: "EID", 32: "NIMLOC",
    33: "SRV", 34: "ATMA", 35: "NAPTR", 36: "KX", 37: "CERT", 38: "A6", 39: "DNAME", 40: "SINK",
    41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG", 47: "NSEC",
    48: "DNSKEY", 49: "DHCID", 50: "NSEC3", 51: "NSEC3PARAM", 55: "HIP", 99: "SPF",
    100: "UINFO", 101: "UID", 102: "GID", 103: "UNSPEC", 249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR",
    253: "MAILB", 254: "MAILA", 255: "ANY", 256: "URI", 32768: "TA", 32769: "DLV",
}
CLASSES = {1: "IN", 3: "CHAOS", 4: "HS", 255: "ANY"}
OPCODES = ("", " inv_q", " stat", " op3", " notify", " update", " op6", " op7", " op8",
           " updateA", " updateD", " updateDA", " updateM", " updateMA", " zoneInit",
           " zoneRef")
RCODES = {0: "", 1: " FormErr", 2: " ServFail", 3: " NXDomain", 4: " NotImp", 5: " Refused",
          6: " YXDomain", 7: " YXRRSet", 8: " NXRRSet", 9: " NotAuth", 10: " NotZone",
          15: " NoChange", 16: " BadVers", 23: " BadCookie",
          # tcpdump 4.99's table prints these two without the leading space.
          17: "Resp17", 21: "Resp21"}
MAXCDNAME = 255
_TYPE_CLASS = struct.Struct(">HH")
_HEADER = struct.Struct(">6H")   # id, flags, question, answer, authority, additional counts


def _escape(c: int) -> str:
    text = ""
    if c & 0x80:
        c &= 0x7F
        text = "M-"
    if not (0x20 <= c < 0x7F):
        c ^= 0x40
        text += "^"
    return text + chr(c)


_ESCAPED = tuple(_escape(c) for c in range(256))
_PRINTABLE = bytes(range(0x20, 0x7F))


def _text(chunk: bytes) -> str:
    """Bytes as nd_printn shows them."""
    if chunk.translate(None, _PRINTABLE):
        return "".join(map(_ESCAPED.__getitem__, chunk))
    return chunk.decode("ascii")


def _printn(ctx: Ctx, p: int, n: int) -> None:
    """nd_printn: n bytes as text, escaping non-printables (M- and ^ notation)."""
    if n <= 0:
        return
    if p < 0 or p + n > ctx.end:
        raise Truncated()
    ctx.w(_text(ctx.data[p:p + n]))


def _labellen(ctx: Ctx, cp: int) -> int | None:
    if not ctx.have(cp, 1):
        return None
    i = ctx.data[cp]
    kind = i & 0xC0
    if kind == 0x40:
        if (i & 0x3F) != 0x01:
            ctx.w("<ELT %d>" % (i & 0x3F))
            return None
        if not ctx.have(cp + 1, 1):
            return None
        bitlen = ctx.data[cp + 1] or 256
        return ((bitlen + 7) // 8) + 1
    if kind == 0x80:
        ctx.w("<BAD LABEL TYPE>")
        return None
    return i


def nskip(ctx: Ctx, cp: int) -> int | None:
    data = ctx.data
    end = ctx.end
    if cp >= end:
        return None
    i = data[cp]
    cp += 1
    while i:
        kind = i & 0xC0
        if kind == 0xC0:
            return cp + 1
        if kind == 0x40:
            if (i & 0x3F) != 0x01:
                return None
            if cp >= end:
                return None
            bitlen = data[cp] or 256
            cp += 1
            i = (bitlen + 7) // 8
        cp += i
        if cp >= end:
            return None
        i = data[cp]
        cp += 1
    return cp


def _blabel(ctx: Ctx, cp: int) -> int | None:
    if not ctx.have(cp, 1):
        return None
    bitlen = ctx.data[cp] or 256
    slen = (bitlen + 3) // 4
    lim = cp + 1 + slen
    ctx.w("\\[x")
    bitp = cp + 1
    b = bitlen
    while b >= 8 and bitp < lim:
        ctx.w("%02x" % ctx.u8(bitp))
        bitp += 1
        b -= 8
    if b > 4:
        tc = ctx.u8(bitp)
        bitp += 1
        ctx.w("%02x" % (tc & (0xFF << (8 - b)) & 0xFF))
    elif b > 0:
        tc = ctx.u8(bitp)
        bitp += 1
        ctx.w("%1x" % (((tc >> 4) & 0x0F) & (0x0F << (4 - b)) & 0x0F))
    ctx.w("/%u]" % bitlen)
    return lim


def _plain_name(data: bytes, cp: int, end: int) -> tuple[str | None, int]:
    """(text, offset after it) of a name at cp made of ordinary labels only, captured to its
    root label and at most MAXCDNAME characters long; (None, 0) for any other name."""
    labels = []
    total = 0
    while cp < end:
        n = data[cp]
        cp += 1
        if n == 0:
            if total > MAXCDNAME:
                return None, 0
            return (_text(b".".join(labels) + b".") if labels else "."), cp
        if n >= 0x40 or cp + n > end:
            return None, 0
        labels.append(data[cp:cp + n])
        total += n + 1
        cp += n
    return None, 0


def fqdn_print(ctx: Ctx, cp: int, bp: int) -> int | None:
    """Print a (possibly compressed) domain name at cp; returns the offset after it."""
    text, after = _plain_name(ctx.data, cp, ctx.end)
    if text is not None:
        ctx.w(text)
        return after
    length = _labellen(ctx, cp)
    if length is None:
        return None
    data = ctx.data
    max_offset = cp - bp
    i = data[cp]
    cp += 1
    compress = False
    rp = None
    if (i & 0xC0) != 0xC0:
        rp = cp + length
    if i == 0:
        ctx.w(".")
        return rp
    name_chars = 0
    while i and cp < ctx.end:
        kind = i & 0xC0
        if kind == 0xC0:
            if not compress:
                rp = cp + 1
                compress = True
            if cp >= ctx.end:
                return None
            offset = ((i << 8) | data[cp]) & 0x3FFF
            if offset >= max_offset:
                ctx.w("<BAD PTR>")
                return None
            max_offset = offset
            cp = bp + offset
            if not ctx.have(cp, 1):
                return None
            i = data[cp]
            length = _labellen(ctx, cp)
            if length is None:
                return None
            cp += 1
            continue
        text = ""
        if kind == 0x40:
            elt = i & 0x3F
            if elt != 1:
                ctx.w("<ELT %d>" % elt)
                return None
            if _blabel(ctx, cp) is None:
                return None
        elif name_chars + length <= MAXCDNAME:
            if cp + length > ctx.end:
                _printn(ctx, cp, min(length, ctx.avail(cp)))
                return None
            text = _text(data[cp:cp + length])
        elif name_chars < MAXCDNAME:
            _printn(ctx, cp, MAXCDNAME - name_chars)
        if kind != 0x40:
            name_chars += length
        cp += length
        if name_chars <= MAXCDNAME:
            text += "."
        ctx.w(text)
        name_chars += 1
        if cp >= ctx.end:
            return None
        i = data[cp]
        length = i if i < 0x40 else _labellen(ctx, cp)
        if length is None:
            return None
        cp += 1
        if not compress:
            rp += length + 1
    if name_chars > MAXCDNAME:
        ctx.w("<name too long>")
    return rp


def _qtype_text(data: bytes, cp: int, mdns: bool) -> str:
    """" A" (type, and class when not IN) of the question whose type and class are at cp."""
    qtype, qclass = _TYPE_CLASS.unpack_from(data, cp)
    text = " " + (TYPES.get(qtype) or "Type%u" % qtype)
    cls = qclass & ~0x8000 if mdns else qclass
    if cls != 1:
        text += " " + tok(CLASSES, cls, "(Class %u)")
    if mdns:
        text += " (QU)" if qclass & 0x8000 else " (QM)"
    return text


def _query_head(ident: int, flags: int, qdcount: int, ancount: int, nscount: int,
                arcount: int) -> str:
    """The id, opcode, flags and unusual counts of a query."""
    if not flags & 0x7EDF and qdcount == 1 and not ancount | nscount | arcount:
        return "%u+" % ident if flags & 0x0100 else "%u" % ident    # a plain standard query
    text = "%s%s%s%s" % (ident, OPCODES[(flags >> 11) & 0xF], "+" if flags & 0x0100 else "",
                         "%" if flags & 0x0010 else "")
    if flags & 0x6CF:
        text += " [b2&3=0x%x]" % flags
    if (flags >> 11) & 0xF == 1:
        if qdcount:
            text += " [%uq]" % qdcount
        if ancount != 1:
            text += " [%ua]" % ancount
    else:
        if ancount:
            text += " [%ua]" % ancount
        if qdcount != 1:
            text += " [%uq]" % qdcount
    if nscount:
        text += " [%un]" % nscount
    if arcount:
        text += " [%uau]" % arcount
    return text


def query_text(data: bytes, bp: int, length: int, end: int, mdns: bool) -> str | None:
    """The whole text (without -vv) of a DNS query over UDP at bp, `length` bytes, captured up to
    end, when it asks one question of ordinary labels and carries no answer or authority
    records; None for any other message."""
    if length < 12 or bp + 12 > end:
        return None
    ident, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data, bp)
    if flags & 0x8000 or qdcount != 1 or ancount or nscount:
        return None
    name, cp = _plain_name(data, bp + 12, end)
    if name is None or cp + 4 > end:
        return None
    return "%s%s? %s (%u)" % (_query_head(ident, flags, 1, 0, 0, arcount),
                              _qtype_text(data, cp, mdns), name, length)


def _qprint(ctx: Ctx, cp: int, bp: int, mdns: bool) -> int | None:
    np = cp
    name, cp = _plain_name(ctx.data, cp, ctx.end)
    if name is None:
        cp = nskip(ctx, np)
    if cp is None or cp + 4 > ctx.end:
        return None
    text = _qtype_text(ctx.data, cp, mdns)
    if name is not None:
        ctx.w(text + "? " + name)
        return cp + 4
    ctx.w(text + "? ")
    end = fqdn_print(ctx, np, bp)
    return end + 4 if end is not None else None


def _relts(secs: int) -> str:
    if secs == 0:
        return "0s"
    out = []
    for unit, lab in ((31536000, "y"), (604800, "w"), (86400, "d"), (3600, "h"), (60, "m"),
                      (1, "s")):
        if secs >= unit:
            out.append("%u%s" % (secs // unit, lab))
            secs %= unit
    return "".join(out)


def _cprint(ctx: Ctx, cp: int) -> int | None:
    """A character-string: what was captured is printed even when the rest is missing."""
    if not ctx.have(cp, 1):
        return None
    n = ctx.data[cp]
    cp += 1
    if not ctx.have(cp, n):
        _printn(ctx, cp, ctx.avail(cp))
        return None
    _printn(ctx, cp, n)
    return cp + n


def _rprint(ctx: Ctx, cp: int, bp: int, mdns: bool) -> int | None:
    o = ctx.opts
    if o.verbose:
        ctx.w(" ")
        cp = fqdn_print(ctx, cp, bp)
        if cp is None:
            return None
    else:
        cp = nskip(ctx, cp)
    if cp is None or not ctx.have(cp, 10):
        return ctx.end
    rtype = ctx.u16(cp)
    rclass = ctx.u16(cp + 2)
    cp += 4
    cls = rclass & ~0x8000 if mdns else rclass
    if cls != 1 and rtype != 41:
        ctx.w(" %s" % tok(CLASSES, cls, "(Class %u)"))
    if mdns and rclass & 0x8000:
        ctx.w(" (Cache flush)")
    opt_flags = 0
    if rtype == 41:
        cp += 2
        opt_flags = ctx.u16(cp)
        cp += 2
    elif o.verbose > 2:
        ctx.w(" [%s]" % _relts(ctx.u32(cp)))
        cp += 4
    else:
        cp += 4
    rdlen = ctx.u16(cp)
    cp += 2
    rp = cp + rdlen
    ctx.w(" %s" % tok(TYPES, rtype, "Type%u"))
    if rp > ctx.end:
        return None
    names = ctx.state.names
    if rtype == 1:
        if not ctx.have(cp, 4):
            return None
        ctx.w(" %s" % ip_text(ctx.data[cp:cp + 4]))
    elif rtype in (2, 5, 12, 39):
        ctx.w(" ")
        if fqdn_print(ctx, cp, bp) is None:
            return None
    elif rtype == 6:
        if not o.verbose:
            return rp
        ctx.w(" ")
        cp = fqdn_print(ctx, cp, bp)
        if cp is None:
            return None
        ctx.w(" ")
        cp = fqdn_print(ctx, cp, bp)
        if cp is None:
            return None
        if not ctx.have(cp, 20):
            return None
        for k in range(5):
            ctx.w(" %u" % ctx.u32(cp + 4 * k))
    elif rtype == 15:
        ctx.w(" ")
        if not ctx.have(cp, 2):
            return None
        if fqdn_print(ctx, cp + 2, bp) is None:
            return None
        ctx.w(" %u" % ctx.u16(cp))
    elif rtype == 16:
        while cp < rp:
            ctx.w(' "')
            cp = _cprint(ctx, cp)
            if cp is None:
                return None
            ctx.w('"')
    elif rtype == 33:
        ctx.w(" ")
        if not ctx.have(cp, 6):
            return None
        if fqdn_print(ctx, cp + 6, bp) is None:
            return None
        ctx.w(":%u %u %u" % (ctx.u16(cp + 4), ctx.u16(cp), ctx.u16(cp + 2)))
    elif rtype == 28:
        if not ctx.have(cp, 16):
            return None
        ctx.w(" %s" % ip6_text(ctx.data[cp:cp + 16]))
    elif rtype == 41:
        ctx.w(" UDPsize=%u" % cls)
        if opt_flags & 0x8000:
            ctx.w(" DO")
        if cp < rp:
            ctx.w(" [")
            while cp < rp:
                cp = _eopt(ctx, cp)
                if cp < rp:
                    ctx.w(",")
            ctx.w("]")
    del names
    return rp


EDNS_OPTS = {1: "LLQ", 2: "UL", 3: "NSID", 5: "DAU", 6: "DHU", 7: "N3U", 8: "ECS", 9: "EXPIRE",
             10: "COOKIE", 11: "KEEPALIVE", 12: "PADDING", 13: "CHAIN", 14: "KEY-TAG",
             15: "EDE", 16: "CLIENT-TAG", 17: "SERVER-TAG"}


def _eopt(ctx: Ctx, cp: int) -> int:
    code = ctx.u16(cp)
    length = ctx.u16(cp + 2)
    ctx.w("%s" % tok(EDNS_OPTS, code, "Opt%u"))
    ctx.w(" ")
    data = cp + 4
    ctx.need(data, length)
    if code == 12:
        ctx.w("(%u)" % length)
    elif length:
        ctx.w(" ".join("%02x" % b for b in ctx.data[data:data + length]) if False else "")
        ctx.w("".join("%02x" % b for b in ctx.data[data:data + length]))
    return data + length


def domain_print(ctx: Ctx, bp: int, length: int, over_tcp: bool, mdns: bool) -> None:
    ctx.proto = "domain"
    if over_tcp:
        if length < 2:
            ctx.w(" [DNS over TCP: length %u < 2] (invalid)" % length)
            return
        length -= 2
        prefix = ctx.u16(bp)
        if prefix != length:
            ctx.w(" [prefix length(%u) != length(%u)] (invalid)" % (prefix, length))
            return
        bp += 2
        ctx.w(" ")
    try:
        _domain(ctx, bp, length, over_tcp, mdns)
    except Truncated:
        ctx.proto = "domain"
        ctx.trunc()


def _domain(ctx: Ctx, bp: int, length: int, over_tcp: bool, mdns: bool) -> None:
    o = ctx.opts
    if o.verbose < 2 and not over_tcp:
        text = query_text(ctx.data, bp, length, ctx.end, mdns)
        if text is not None:
            ctx.w(text)
            return
    if length < 12:
        ctx.w("domain [length %u < 12] (invalid)" % length)
        return
    ctx.need(bp, 12)
    ident, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(ctx.data, bp)
    rcode = flags & 0xF
    if flags & 0x8000 and arcount:   # only a response's OPT record extends its rcode
        rcode = _ext_rcode(ctx, bp, rcode, qdcount, ancount, nscount, arcount)
    cp = bp + 12
    if flags & 0x8000:
        ctx.w("%u%s%s%s%s%s%s" % (ident, OPCODES[(flags >> 11) & 0xF],
                                  RCODES.get(rcode, " Resp%u" % rcode),
                                  "*" if flags & 0x0400 else "", "" if flags & 0x0080 else "-",
                                  "|" if flags & 0x0200 else "", "$" if flags & 0x0020 else ""))
        if qdcount != 1:
            ctx.w(" [%uq]" % qdcount)
        for i in range(qdcount):
            if i:
                ctx.w(",")
            if o.verbose > 1:
                ctx.w(" q:")
                cp = _qprint(ctx, cp, bp, mdns)
                if cp is None:
                    raise Truncated()
            else:
                cp = nskip(ctx, cp)
                if cp is None:
                    raise Truncated()
                cp += 4
        ctx.w(" %u/%u/%u" % (ancount, nscount, arcount))
        cp = _section(ctx, cp, ancount, bp, mdns)
        if o.verbose > 1:
            cp = _tail_section(ctx, cp, nscount, " ns:", bp, mdns)
            cp = _tail_section(ctx, cp, arcount, " ar:", bp, mdns)
    else:
        ctx.w(_query_head(ident, flags, qdcount, ancount, nscount, arcount))
        cp = _section(ctx, cp, qdcount, bp, mdns, _qprint, "")
        if o.verbose > 1:
            cp = _section(ctx, cp, ancount, bp, mdns)
            cp = _tail_section(ctx, cp, nscount, " ns:", bp, mdns)
            cp = _tail_section(ctx, cp, arcount, " ar:", bp, mdns)
    ctx.w(f" ({length})")


def _section(ctx: Ctx, cp: int, count: int, bp: int, mdns: bool, record=None,
             sep: str = ",") -> int:
    """count records from cp (resource records unless `record` is _qprint), sep between them;
    Truncated when they do not all fit."""
    record = record or _rprint
    if count:
        cp = record(ctx, cp, bp, mdns)
        if cp is None:
            raise Truncated()
        count -= 1
        while cp < ctx.end and count:
            ctx.w(sep)
            cp = record(ctx, cp, bp, mdns)
            if cp is None:
                raise Truncated()
            count -= 1
    if count:
        raise Truncated()
    return cp


def _tail_section(ctx: Ctx, cp: int, count: int, label: str, bp: int, mdns: bool) -> int:
    """The authority or additional section (-vv), after its label."""
    if cp < ctx.end and count:
        ctx.w(label)
        return _section(ctx, cp, count, bp, mdns)
    if count:
        raise Truncated()
    return cp


def _ext_rcode(ctx, bp, rcode, qdcount, ancount, nscount, arcount) -> int:
    cp = bp + 12
    for _ in range(qdcount):
        cp = nskip(ctx, cp)
        if cp is None:
            return rcode
        cp += 4
        if cp >= ctx.end:
            return rcode
    for _ in range(ancount + nscount):
        cp = nskip(ctx, cp)
        if cp is None:
            return rcode
        cp += 8
        if cp + 2 > ctx.end:
            return rcode
        cp += 2 + ctx.u16(cp)
        if cp >= ctx.end:
            return rcode
    for _ in range(arcount):
        cp = nskip(ctx, cp)
        if cp is None:
            return rcode
        if cp + 2 > ctx.end:
            return rcode
        rtype = ctx.u16(cp)
        cp += 4
        if cp + 1 > ctx.end:
            return rcode
        if rtype == 41:
            return rcode | (ctx.u8(cp) << 4)
        cp += 4
        if cp + 2 > ctx.end:
            return rcode
        cp += 2 + ctx.u16(cp)
        if cp >= ctx.end:
            return rcode
    return rcode
