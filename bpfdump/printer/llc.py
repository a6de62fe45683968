"""IEEE 802.2 LLC and SNAP (print-llc.c); no SAP-specific payload printers besides IP and SNAP."""
from __future__ import annotations

from .core import Ctx, tok
from .tables import ETHERTYPES, OUI

LLC_SAPS = {0x00: "Null", 0xFF: "Global", 0x02: "802.1B I", 0x03: "802.1B G", 0x06: "IP",
            0x04: "SNA", 0x0E: "ProWay NM", 0x42: "STP", 0x4E: "RS511", 0x7E: "ISO8208",
            0x8E: "ProWay", 0xAA: "SNAP", 0xE0: "IPX", 0xF0: "NetBeui", 0xFE: "OSI"}
LLC_CMDS = {0x03: "ui", 0xE3: "test", 0xAF: "xid", 0x63: "ua", 0x43: "disc", 0x0F: "dm",
            0x6F: "sabme", 0x87: "frmr"}
LLC_FLAGS = {0: "Command", 1: "Response", 0x10: "Poll", 0x11: "Final", 0x100: "Poll",
             0x101: "Final"}
SUPERVISORY = {0: "Receiver Ready", 1: "Receiver not Ready", 2: "Reject"}
CISCO_PIDS = {0x2000: "CDP", 0x2003: "VTP", 0x2004: "DTP", 0x0111: "UDLD", 0x010B: "PVST",
              0x010C: "VLAN Bridge"}
BRIDGED_PIDS = {0x0001: "Ethernet + FCS", 0x0007: "Ethernet w/o FCS", 0x0002: "802.4 + FCS",
                0x0008: "802.4 w/o FCS", 0x0003: "Token Ring + FCS",
                0x0009: "Token Ring w/o FCS", 0x0004: "FDDI + FCS", 0x000A: "FDDI w/o FCS",
                0x0005: "802.6 + FCS", 0x000B: "802.6 w/o FCS", 0x000E: "BPDU"}


def _pid_table(oui: int) -> dict:
    if oui in (0x000000, 0x0000F8, 0x080007):
        return ETHERTYPES
    if oui == 0x00000C:
        return CISCO_PIDS
    if oui == 0x0080C2:
        return BRIDGED_PIDS
    return {}


def llc_print(ctx: Ctx, frame_off: int | None, p: int, length: int) -> int:
    """An LLC PDU at p. Returns the header length if the payload was printed, its negative
    if the caller should dump the payload (tcpdump's convention)."""
    from .ether import default_print
    ctx.proto = "llc"
    caplen = ctx.avail(p)
    names = ctx.state.names
    if caplen < 3 or length < 3:
        ctx.w("[|llc]")
        default_print(ctx, p, caplen)
        return min(caplen, length)
    dsap_field = ctx.u8(p)
    ssap_field = ctx.u8(p + 1)
    control = ctx.u8(p + 2)
    if (control & 3) == 3:
        is_u = True
        hdrlen = 3
    else:
        if caplen < 4 or length < 4:
            ctx.w("[|llc]")
            default_print(ctx, p, caplen)
            return min(caplen, length)
        control = ctx.le16(p + 2)
        is_u = False
        hdrlen = 4
    if ssap_field == 0xFF and dsap_field == 0xFF:
        if ctx.opts.ether:
            ctx.w("IPX 802.3: ")
        return -0 if False else _unknown(ctx, p, length, 0)
    dsap = dsap_field & 0xFE
    ssap = ssap_field & 0xFE
    if ctx.opts.ether:
        ctx.w("LLC, dsap %s (0x%02x) %s, ssap %s (0x%02x) %s"
              % (tok(LLC_SAPS, dsap, "Unknown"), dsap,
                 "Group" if dsap_field & 1 else "Individual",
                 tok(LLC_SAPS, ssap, "Unknown"), ssap,
                 "Response" if ssap_field & 1 else "Command"))
        ctx.w((", ctrl 0x%02x: " if is_u else ", ctrl 0x%04x: ") % control)
    q = p + hdrlen
    rest = length - hdrlen
    if ssap == 0xAA and dsap == 0xAA and control == 0x03:
        ctx.hdrlen += hdrlen + 5
        if snap_print(ctx, frame_off, q, rest):
            return hdrlen + 5
        return -(hdrlen + 5)
    if ssap == 0x06 and dsap == 0x06 and control == 0x03:
        from .ip import ip_print
        ctx.hdrlen += hdrlen
        ip_print(ctx, q, rest)
        return hdrlen
    if not ctx.opts.ether:
        if ssap == dsap:
            if frame_off is None:
                ctx.w("%s " % tok(LLC_SAPS, dsap, "Unknown DSAP 0x%02x"))
            else:
                ctx.w("%s > %s %s " % (names.mac(ctx.bytes(frame_off + 6, 6)),
                                       names.mac(ctx.bytes(frame_off, 6)),
                                       tok(LLC_SAPS, dsap, "Unknown DSAP 0x%02x")))
        else:
            if frame_off is None:
                ctx.w("%s > %s " % (tok(LLC_SAPS, ssap, "Unknown SSAP 0x%02x"),
                                    tok(LLC_SAPS, dsap, "Unknown DSAP 0x%02x")))
            else:
                ctx.w("%s %s > %s %s " % (names.mac(ctx.bytes(frame_off + 6, 6)),
                                          tok(LLC_SAPS, ssap, "Unknown SSAP 0x%02x"),
                                          names.mac(ctx.bytes(frame_off, 6)),
                                          tok(LLC_SAPS, dsap, "Unknown DSAP 0x%02x")))
    if is_u:
        ctx.w("Unnumbered, %s, Flags [%s], length %u"
              % (tok(LLC_CMDS, control & 0xEF, "%02x"),
                 tok(LLC_FLAGS, (ssap_field & 1) | (control & 0x10), "?"), length))
        if (control & ~0x10) == 0xAF:
            if rest == 0:
                return hdrlen
            if ctx.avail(q) < 1:
                ctx.w("[|llc]")
                return hdrlen
            if ctx.u8(q) == 0x81:
                if ctx.avail(q) < 3 or rest < 3:
                    ctx.w("[|llc]")
                    default_print(ctx, q, ctx.avail(q))
                else:
                    ctx.w(": %02x %02x" % (ctx.u8(q + 1), ctx.u8(q + 2)))
                return hdrlen
    else:
        flags = tok(LLC_FLAGS, (ssap_field & 1) | (control & 0x100), "?")
        if control & 1:
            ctx.w("Supervisory, %s, rcv seq %u, Flags [%s], length %u"
                  % (tok(SUPERVISORY, (control >> 2) & 3, "?"), (control >> 9) & 0x7F, flags,
                     length))
            return hdrlen
        ctx.w("Information, send seq %u, rcv seq %u, Flags [%s], length %u"
              % ((control >> 1) & 0x7F, (control >> 9) & 0x7F, flags, length))
    return -hdrlen


def _unknown(ctx: Ctx, p: int, length: int, hdrlen: int) -> int:
    """IPX frames (no decoder here): tcpdump's IPX printer is not reproduced."""
    return -hdrlen


def snap_print(ctx: Ctx, frame_off: int | None, p: int, length: int) -> bool:
    ctx.need(p, 5)
    if length < 5:
        from .core import Truncated
        raise Truncated()
    oui = ctx.u24(p)
    et = ctx.u16(p + 3)
    if ctx.opts.ether:
        ctx.w("oui %s (0x%06x), %s %s (0x%04x), length %u: "
              % (tok(OUI, oui, "Unknown"), oui, "ethertype" if oui == 0 else "pid",
                 tok(_pid_table(oui), et, "Unknown"), et, length - 5))
    if oui in (0x000000, 0x0000F8) or (oui == 0x080007 and et == 0x809B):
        from .ether import ethertype_print
        if ethertype_print(ctx, et, p + 5, length - 5):
            return True
    names = ctx.state.names
    if not ctx.opts.ether:
        if frame_off is not None:
            ctx.w("%s > %s " % (names.mac(ctx.bytes(frame_off + 6, 6)),
                                names.mac(ctx.bytes(frame_off, 6))))
        if oui == 0:
            ctx.w("SNAP, ethertype %s (0x%04x), length %u: "
                  % (tok(ETHERTYPES, et, "Unknown"), et, length - 5))
        else:
            ctx.w("SNAP, oui %s (0x%06x), pid %s (0x%04x), length %u: "
                  % (tok(OUI, oui, "Unknown"), oui, tok(_pid_table(oui), et, "Unknown"), et,
                     length - 5))
    return False
