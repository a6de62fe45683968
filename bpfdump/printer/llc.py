"""802.2 LLC headers in 802.3 frames (generic decoding; no SAP-specific payload printers)."""
from __future__ import annotations

from .core import Ctx, tok

LLC_SAPS = {
    0x00: "Null", 0x01: "Global", 0x02: "802.1B I Layer Management", 0x03: "802.1B Group LM",
    0x04: "SNA Path Control", 0x06: "IP", 0x08: "SNA", 0x0C: "SNA", 0x0E: "PROWAY NM",
    0x18: "Texas Instruments", 0x42: "STP", 0x4E: "RS511", 0x7E: "ISO8208", 0x80: "XNS",
    0x86: "Nestar", 0x8E: "PROWAY ASLM", 0x98: "ARP", 0xAA: "SNAP", 0xBC: "Banyan",
    0xE0: "IPX", 0xF0: "NetBeui", 0xF4: "LANMAN", 0xF8: "IMPL", 0xFA: "Ungermann-Bass",
    0xFC: "Remote Program Load", 0xFE: "OSI", 0xFF: "Global",
}
LLC_U_CMDS = {0x03: "ui", 0x83: "test", 0xAF: "xid", 0x0F: "dm", 0x43: "disc", 0x63: "ua",
              0x6F: "sabme", 0x87: "frmr"}
LLC_FLAGS = {0: "Command", 1: "Response", 0x10: "Command, Poll", 0x11: "Response, Final"}


def llc_print(ctx: Ctx, frame_off: int, p: int, length: int, eflag_done: bool) -> int:
    """Print an LLC PDU at p; returns the LLC header length (0 when nothing decoded)."""
    ctx.proto = "llc"
    caplen = ctx.avail(p)
    names = ctx.state.names
    src = names.mac(ctx.data[frame_off + 6:frame_off + 12])
    dst = names.mac(ctx.data[frame_off:frame_off + 6])
    if caplen < 3 or length < 3:
        ctx.w(" [|llc]")
        return min(caplen, length)
    dsap_field = ctx.u8(p)
    ssap_field = ctx.u8(p + 1)
    control = ctx.u8(p + 2)
    is_u = (control & 3) == 3
    hdrlen = 3 if is_u else 4
    if not is_u and (caplen < 4 or length < 4):
        ctx.w(" [|llc]")
        return min(caplen, length)
    if not is_u:
        control = ctx.u16(p + 2)
        control = (control >> 8) | ((control & 0xFF) << 8)
    dsap = dsap_field & 0xFE
    ssap = ssap_field & 0xFE
    if ctx.opts.ether:
        ctx.w("LLC, dsap %s (0x%02x) %s, ssap %s (0x%02x) %s"
              % (tok(LLC_SAPS, dsap, "Unknown"), dsap,
                 "Group" if dsap_field & 1 else "Individual",
                 tok(LLC_SAPS, ssap, "Unknown"), ssap,
                 "Response" if ssap_field & 1 else "Command"))
        ctx.w(", ctrl 0x%02x: " % control if is_u else ", ctrl 0x%04x: " % control)
    if not ctx.opts.ether:
        if ssap == dsap:
            ctx.w("%s > %s %s " % (src, dst, tok(LLC_SAPS, dsap, "Unknown DSAP 0x%02x")))
        else:
            ctx.w("%s %s > %s %s " % (src, tok(LLC_SAPS, ssap, "Unknown SSAP 0x%02x"), dst,
                                      tok(LLC_SAPS, dsap, "Unknown DSAP 0x%02x")))
    if is_u:
        ctx.w("Unnumbered, %s, Flags [%s], length %u"
              % (tok(LLC_U_CMDS, control & 0xEF, "%02x"),
                 tok(LLC_FLAGS, (ssap_field & 1) | (control & 0x10), "?"), length))
    else:
        if (control & 1) == 0:
            ctx.w("Information, send seq %u, rcv seq %u, Flags [%s], length %u"
                  % ((control >> 1) & 0x7F, (control >> 9) & 0x7F,
                     tok(LLC_FLAGS, (ssap_field & 1) | ((control >> 4) & 0x10 if False else 0), "?"),
                     length))
        else:
            ctx.w("Supervisory, %s, rcv seq %u, Flags [%s], length %u"
                  % ({0: "Receiver Ready", 4: "Receiver not Ready", 8: "Reject"}.get(control & 0xC, "?"),
                     (control >> 9) & 0x7F, tok(LLC_FLAGS, ssap_field & 1, "?"), length))
    from .ether import default_print
    default_print(ctx, p + hdrlen, min(length - hdrlen, ctx.avail(p + hdrlen)))
    return hdrlen
