"""BOOTP/DHCP (print-bootp.c): summary line; with -v the fixed fields and RFC 1048 options."""
from __future__ import annotations

from .core import Ctx, bittok, tok

# tag -> (format, name); formats: i addresses, l/L 32-bit, s 16-bit, b/x bytes, B booleans,
# a text, p address pairs, $ special, ' ' none.
TAGS: dict[int, str] = {}
for _tag, _spec in (
    (0, " PAD"), (1, "iSubnet-Mask"), (2, "LTime-Zone"), (3, "iDefault-Gateway"),
    (4, "iTime-Server"), (5, "iIEN-Name-Server"), (6, "iDomain-Name-Server"), (7, "iLOG"),
    (8, "iCS"), (9, "iLPR-Server"), (10, "iIM"), (11, "iRL"), (12, "aHostname"), (13, "sBS"),
    (255, " END"), (14, "aDP"), (15, "aDomain-Name"), (16, "iSS"), (17, "aRP"), (18, "aEP"),
    (19, "BIPF"), (20, "BSRT"), (21, "pPF"), (22, "sRSZ"), (23, "bTTL"), (24, "lMTU-Timeout"),
    (25, "sMTU-Table"), (26, "sMTU"), (27, "BLSN"), (28, "iBR"), (29, "BMD"), (30, "BMS"),
    (31, "BRouter-Discovery"), (32, "iRSA"), (33, "pStatic-Route"), (34, "BUT"), (35, "lAT"),
    (36, "BIE"), (37, "bTT"), (38, "lKI"), (39, "BKG"), (40, "aYD"), (41, "iYS"), (42, "iNTP"),
    (43, "bVendor-Option"), (44, "iNetbios-Name-Server"), (45, "iWDD"),
    (46, "$Netbios-Node"), (47, "aNetbios-Scope"), (48, "iXFS"), (49, "iXDM"), (64, "sN+D"),
    (65, "iN+S"), (68, "iMH"), (69, "iSMTP"), (70, "iPOP3"), (71, "iNNTP"), (72, "iWWW"),
    (73, "iFG"), (74, "iIRC"), (75, "iSTS"), (76, "iSTDA"), (50, "iRequested-IP"),
    (51, "lLease-Time"), (52, "$OO"), (66, "aTFTP"), (67, "aBF"), (53, " DHCP-Message"),
    (54, "iServer-ID"), (55, "bParameter-Request"), (56, "aMSG"), (57, "sMSZ"), (58, "lRN"),
    (59, "lRB"), (60, "aVendor-Class"), (61, "$Client-ID"), (98, "aUAP"), (116, "BNOAUTO"),
    (78, "bSLP-DA"), (79, "bSLP-SCOPE"), (117, "sNSSEARCH"), (77, "$User-Class"),
    (118, "iSUBNET"), (80, "aSLP-NA"), (81, "$FQDN"), (82, "$Agent-Information"),
    (83, "bARMT"), (88, "aTZSTR"), (89, "bFQDNS"), (90, "bAUTH"), (93, "sARCH"), (94, "bNDI"),
    (97, "bGUID"), (95, "aLDAP"), (96, "i6o4"), (100, "aPOSIX-TZ"), (101, "aTZ-Name"),
    (110, "bIPX"), (112, "iNI"), (113, "aNITAG"), (114, "aURL"), (115, "bFAIL"),
    (121, "$Classless-Static-Route"), (249, "$Classless-Static-Route-Microsoft"),
    (161, "aMUD-URL"),
):
    TAGS.setdefault(_tag, _spec)

DHCP_MSG = {1: "Discover", 2: "Offer", 3: "Request", 4: "Decline", 5: "ACK", 6: "NACK",
            7: "Release", 8: "Inform", 9: "Force Renew", 10: "Lease Query",
            11: "Lease Unassigned", 12: "Lease Unknown", 13: "Lease Active"}
BOOTP_OPS = {1: "Request", 2: "Reply"}
ARP_HTYPES = {1: "ether", 6: "ieee802", 7: "arcnet", 15: "frelay", 17: "strip", 18: "ieee1394"}
NETBIOS_NODE = {1: "b-node", 2: "p-node", 4: "m-node", 8: "h-node"}


def _printjn(ctx: Ctx, p: int, n: int) -> None:
    """nd_printjn: n bytes as text, non-printables escaped."""
    from .dns import _printn
    _printn(ctx, p, n)


def _printztn(ctx: Ctx, p: int, n: int) -> bool:
    """Print a NUL-terminated string within n bytes; False if it runs past the capture."""
    out = []
    for i in range(n):
        if not ctx.have(p + i, 1):
            ctx.w("".join(out))
            return False
        c = ctx.data[p + i]
        if c == 0:
            break
        if c & 0x80:
            c &= 0x7F
            out.append("M-")
        if not (0x20 <= c < 0x7F):
            c ^= 0x40
            out.append("^")
        out.append(chr(c))
    ctx.w("".join(out))
    return True


def bootp_print(ctx: Ctx, bp: int, length: int) -> None:
    ctx.proto = "bootp"
    o = ctx.opts
    names = ctx.state.names
    op = ctx.u8(bp)
    ctx.w("BOOTP/DHCP, %s" % tok(BOOTP_OPS, op, "unknown (0x%02x)"))
    htype = ctx.u8(bp + 1)
    hlen = ctx.u8(bp + 2)
    if htype == 1 and hlen == 6 and op == 1:
        ctx.w(" from %s" % names.mac(ctx.bytes(bp + 28, 6)))
    ctx.w(", length %u" % length)
    if not o.verbose:
        return
    _bootp_verbose(ctx, bp, htype, hlen)


def _bootp_verbose(ctx: Ctx, bp: int, htype: int, hlen: int) -> None:
    o = ctx.opts
    names = ctx.state.names
    if not ctx.have(bp + 8, 2):
        ctx.trunc()
    if htype != 1:
        ctx.w(", htype %u" % htype)
    if htype != 1 or hlen != 6:
        ctx.w(", hlen %u" % hlen)
    if ctx.u8(bp + 3):
        ctx.w(", hops %u" % ctx.u8(bp + 3))
    if ctx.u32(bp + 4):
        ctx.w(", xid 0x%x" % ctx.u32(bp + 4))
    if ctx.u16(bp + 8):
        ctx.w(", secs %u" % ctx.u16(bp + 8))
    flags = ctx.u16(bp + 10)
    ctx.w(", Flags [%s]" % bittok({0x8000: "Broadcast"}, flags, "none"))
    if o.verbose > 1:
        ctx.w(" (0x%04x)" % flags)
    for off, label in ((12, "Client-IP"), (16, "Your-IP"), (20, "Server-IP"), (24, "Gateway-IP")):
        if ctx.u32(bp + off):
            ctx.w("\n\t  %s %s" % (label, names.ip(ctx.bytes(bp + off, 4))))
    if htype == 1 and hlen == 6:
        ctx.w("\n\t  Client-Ethernet-Address %s" % names.mac(ctx.bytes(bp + 28, 6)))
    if ctx.u8(bp + 44):
        ctx.w('\n\t  sname "')
        if not _printztn(ctx, bp + 44, 64):
            ctx.w('"')
            ctx.trunc()
        ctx.w('"')
    if ctx.u8(bp + 108):
        ctx.w('\n\t  file "')
        if not _printztn(ctx, bp + 108, 128):
            ctx.w('"')
            ctx.trunc()
        ctx.w('"')
    vend = bp + 236
    if not ctx.have(vend, 4):
        ctx.trunc()
    cookie = ctx.u32(vend)
    if cookie == 0x63825363:
        _rfc1048(ctx, vend)
    elif cookie == 0x434D5500:
        _cmu(ctx, vend)
    elif cookie:
        ctx.w("\n\t  Vendor-#0x%x" % cookie)


def _cmu(ctx: Ctx, vend: int) -> None:
    names = ctx.state.names
    ctx.w(" vend-cmu")
    flags = ctx.u32(vend + 4)
    if flags & 1:
        ctx.w(" subnet-mask %s" % names.ip(ctx.bytes(vend + 8, 4)))
    # The remaining CMU fields are printed only when set.
    for i, label in enumerate(("tv", "dg", "ts", "ns", "ds", "nt", "pd")):
        pass


def _rfc1048(ctx: Ctx, bp: int) -> None:
    o = ctx.opts
    names = ctx.state.names
    ctx.w("\n\t  Vendor-rfc1048 Extensions")
    ctx.w("\n\t    Magic Cookie 0x%08x" % ctx.u32(bp))
    bp += 4
    while ctx.have(bp, 1):
        tag = ctx.u8(bp)
        bp += 1
        if tag == 0 and o.verbose < 3:
            continue
        if tag == 255 and o.verbose < 3:
            return
        spec = TAGS.get(tag, "?Unknown")
        fmt, name = spec[0], spec[1:]
        if tag in (0, 255):
            length = 0
        else:
            length = ctx.u8(bp)
            bp += 1
        ctx.w("\n\t    %s (%u), length %u%s" % (name, tag, length, ": " if length > 0 else ""))
        if tag == 0 and o.verbose > 2:
            ntag = 1
            while ctx.have(bp, 1) and ctx.data[bp] == 0:
                bp += 1
                ntag += 1
            if ntag > 1:
                ctx.w(", occurs %u" % ntag)
        if not ctx.have(bp, length):
            ctx.trunc()
        if tag == 53 and length == 1:
            ctx.w(tok(DHCP_MSG, ctx.u8(bp), "Unknown (%u)"))
            bp += 1
            continue
        if tag == 55:
            for idx in range(length):
                inner = ctx.u8(bp)
                bp += 1
                ctx.w("\n\t      " if idx % 4 == 0 else ", ")
                ctx.w("%s (%u)" % (TAGS.get(inner, "?Unknown")[1:], inner))
            continue
        if fmt == "?":
            fmt = "b" if length & 1 else "s" if length & 2 else "l"
        first = True
        if fmt == "a":
            ctx.w('"')
            _printjn(ctx, bp, length)
            ctx.w('"')
            bp += length
            length = 0
        elif fmt in "ilL":
            while length >= 4:
                if not first:
                    ctx.w(",")
                if fmt == "i":
                    ctx.w(names.ip(ctx.bytes(bp, 4)))
                elif fmt == "L":
                    v = ctx.u32(bp)
                    ctx.w("%d" % (v - (1 << 32) if v & 0x80000000 else v))
                else:
                    ctx.w("%u" % ctx.u32(bp))
                bp += 4
                length -= 4
                first = False
        elif fmt == "p":
            while length >= 8:
                if not first:
                    ctx.w(",")
                ctx.w("(%s:%s)" % (names.ip(ctx.bytes(bp, 4)), names.ip(ctx.bytes(bp + 4, 4))))
                bp += 8
                length -= 8
                first = False
        elif fmt == "s":
            while length >= 2:
                if not first:
                    ctx.w(",")
                ctx.w("%u" % ctx.u16(bp))
                bp += 2
                length -= 2
                first = False
        elif fmt == "B":
            while length > 0:
                if not first:
                    ctx.w(",")
                v = ctx.u8(bp)
                ctx.w("N" if v == 0 else "Y" if v == 1 else "%u?" % v)
                bp += 1
                length -= 1
                first = False
        elif fmt == "$":
            bp, length = _special(ctx, tag, bp, length)
        else:
            while length > 0:
                if not first:
                    ctx.w(":" if fmt == "x" else ".")
                v = ctx.u8(bp)
                ctx.w("%02x" % v if fmt == "x" else "%u" % v)
                bp += 1
                length -= 1
                first = False
        if length:
            ctx.w("\n\t  trailing data length %u" % length)
            bp += length


def _special(ctx: Ctx, tag: int, bp: int, length: int) -> tuple[int, int]:
    names = ctx.state.names
    if tag == 46:
        if length < 1:
            ctx.w("[ERROR: length < 1 bytes]")
            return bp, length
        ctx.w(tok(NETBIOS_NODE, ctx.u8(bp), "unknown (0x%02x)"))
        return bp + 1, length - 1
    if tag == 52:
        if length < 1:
            ctx.w("[ERROR: length < 1 bytes]")
            return bp, length
        ctx.w(tok({1: "file", 2: "sname", 3: "file+sname"}, ctx.u8(bp), "unknown (0x%02x)"))
        return bp + 1, length - 1
    if tag == 61:
        if length < 1:
            ctx.w("[ERROR: length < 1 bytes]")
            return bp, length
        htype = ctx.u8(bp)
        bp += 1
        length -= 1
        if htype == 0:
            ctx.w('"')
            _printjn(ctx, bp, length)
            ctx.w('"')
            return bp + length, 0
        ctx.w("%s " % tok(ARP_HTYPES, htype, "hardware-type %u,"))
        ctx.w(":".join("%02x" % ctx.u8(bp + i) for i in range(length)))
        return bp + length, 0
    if tag == 81:
        if length < 3:
            ctx.w("[ERROR: length < 3 bytes]")
            return bp + length, 0
        flags = ctx.u8(bp)
        if flags & 0xF0:
            ctx.w("[ERROR: MBZ nibble 0x%x != 0] " % (flags & 0xF0))
        if flags & 0x0F:
            ctx.w("[%s] " % bittok({1: "S", 2: "O", 4: "E", 8: "N"}, flags & 0x0F, "", sep=""))
        if ctx.u8(bp + 1) or ctx.u8(bp + 2):
            ctx.w("%u/%u " % (ctx.u8(bp + 1), ctx.u8(bp + 2)))
        bp += 3
        length -= 3
        if flags & 0x04:
            from .dns import fqdn_print
            if fqdn_print(ctx, bp, bp) is None:
                ctx.w(" [|bootp]")
        else:
            ctx.w('"')
            _printjn(ctx, bp, length)
            ctx.w('"')
        return bp + length, 0
    if tag in (121, 249):
        first = True
        if length < 5:
            ctx.w("[ERROR: length < 5 bytes]")
            return bp + length, 0
        while length > 0:
            mask_width = ctx.u8(bp)
            bp += 1
            length -= 1
            if mask_width > 32:
                ctx.w("[ERROR: Mask width (%d) > 32]" % mask_width)
                return bp + length, 0
            significant = (mask_width + 7) // 8
            if length < significant + 4:
                ctx.w("[ERROR: Remaining length (%u) < %u bytes]" % (length, significant + 4))
                return bp + length, 0
            if not first:
                ctx.w(", ")
            net = ctx.bytes(bp, significant) + bytes(4 - significant)
            bp += significant
            ctx.w("(%s/%d:" % (names.ip(net), mask_width))
            bp_gw = ctx.bytes(bp, 4)
            bp += 4
            length -= significant + 4
            ctx.w("%s)" % names.ip(bp_gw))
            first = False
        return bp, 0
    if tag == 77:
        first = True
        if length < 1:
            ctx.w("[ERROR: length < 1 bytes]")
            return bp, length
        while length > 0:
            n = ctx.u8(bp)
            bp += 1
            length -= 1
            ctx.w("\n\t      ")
            ctx.w("instance#%u: " % (0 if first else 0))
            if n == 0:
                ctx.w("NONE")
                continue
            if n > length:
                ctx.w("[ERROR: suboption length (%u) > remaining length (%u)]" % (n, length))
                return bp + length, 0
            ctx.w('"')
            _printjn(ctx, bp, n)
            ctx.w('"')
            ctx.w(", length %u" % n)
            bp += n
            length -= n
            first = False
        return bp, 0
    ctx.w("[unknown special tag %u, size %u]" % (tag, length))
    return bp + length, 0
