"""The classic pcap savefile format (pcap-savefile(5)), read the way libpcap reads it.

File header (24 bytes): magic, version major/minor, thiszone, sigfigs, snaplen, linktype.
Record header (16 bytes; 24 for Kuznetzov's patched format): seconds (signed 32-bit), micro- or
nanoseconds, captured length, original length; then the captured bytes.
"""
from __future__ import annotations

import struct

from ..packet import Packet
from . import (CaptureError, Source, adjust_snaplen, linktype_to_dlt, max_snaplen_for_dlt,
               needs_post_process, post_process)

# magic as it appears in the file -> (byte order, nanosecond stamps, record header size)
MAGICS = {
    bytes.fromhex("d4c3b2a1"): ("<", False, 16),
    bytes.fromhex("a1b2c3d4"): (">", False, 16),
    bytes.fromhex("4d3cb2a1"): ("<", True, 16),
    bytes.fromhex("a1b23c4d"): (">", True, 16),
    bytes.fromhex("34cdb2a1"): ("<", False, 24),   # Kuznetzov's patched libpcap
    bytes.fromhex("a1b2cd34"): (">", False, 24),
}
FILE_HEADER_LEN = 24
DLT_EN10MB = 1

# How the caplen/len fields are ordered, by version (they were interchanged in 2.3).
NOT_SWAPPED, SWAPPED, MAYBE_SWAPPED = 0, 1, 2

# linktype field: low 16 bits link type, bits 16-25 reserved (must be 0), bit 26 "FCS length
# present", bits 28-31 FCS length in 16-bit words.
LT_LINKTYPE_MASK = 0x0000FFFF
LT_RESERVED_MASK = 0x03FF0000
LT_FCS_PRESENT = 0x04000000


def _lengths_order(major: int, minor: int) -> int:
    if major == 543:
        return SWAPPED
    if minor < 3:
        return SWAPPED
    if minor == 3:
        return MAYBE_SWAPPED
    return NOT_SWAPPED


class PcapSource(Source):
    """A pcap savefile. Attributes beyond Source's: `byteorder` ("<" or ">"),
    `version` (major, minor), `thiszone`, `sigfigs`, `linktype_ext` (the header's upper
    linktype bits), `fcs_len` (bytes of FCS at the end of each packet, None if unknown)."""
    format = "pcap"

    def __init__(self, inp):
        super().__init__(inp)
        pos = inp.ensure(0, FILE_HEADER_LEN)
        have = inp.end - pos
        buf = inp.buf
        order, nano, hdrsize = MAGICS[bytes(buf[pos:pos + 4])]
        if have < FILE_HEADER_LEN:
            raise self._error(f"truncated dump file; tried to read {FILE_HEADER_LEN} file header "
                              f"bytes, only got {have - 4}", 0)
        major, minor, thiszone, sigfigs, snaplen, rawlt = struct.unpack_from(
            order + "HHiIII", buf, pos + 4)
        if not ((major == 2 and minor <= 4) or (major == 543 and minor == 0)):
            raise self._error(f"unsupported pcap savefile version {major}.{minor}", 4)
        if rawlt & LT_RESERVED_MASK:
            raise self._error(f"savefile linktype reserved field not zero "
                              f"(0x{rawlt & LT_RESERVED_MASK:08x})", 20)
        self.byteorder = order
        self.version = (major, minor)
        self.thiszone = thiszone
        self.sigfigs = sigfigs
        self.linktype = linktype_to_dlt(rawlt & LT_LINKTYPE_MASK)
        self.linktype_ext = rawlt & 0xFC000000
        self.fcs_len = ((rawlt >> 28) & 0xF) * 2 if rawlt & LT_FCS_PRESENT else None
        self.snaplen = adjust_snaplen(self.linktype, snaplen)
        if hdrsize == 24 and self.linktype == DLT_EN10MB:
            self.snaplen = min(self.snaplen + 14, 0x7FFFFFFF)
        self.precision = "nano" if nano else "micro"
        # the first 16 bytes of a record header; Kuznetzov's 8 more (ifindex, protocol,
        # packet type, padding) are skipped
        self._rec = struct.Struct(order + "iIII")
        self._hdrsize = hdrsize
        self._order = _lengths_order(major, minor)
        self._start = pos + FILE_HEADER_LEN
        self._started = False

    # -- records ----------------------------------------------------------------------------------

    def _packets(self):
        if self._started:
            raise ValueError("a capture file can be iterated only once")
        self._started = True
        if needs_post_process(self.linktype, self.byteorder):
            return self._post_processed(self._records())
        return self._records()

    def _post_processed(self, records):
        dlt, order = self.linktype, self.byteorder
        for pkt in records:
            data, wirelen = post_process(dlt, order, pkt.data, pkt.wirelen)
            yield pkt._replace(data=data, wirelen=wirelen)

    def _records(self):
        inp = self._in
        unpack = self._rec.unpack_from
        hdrsize = self._hdrsize
        new = tuple.__new__
        P = Packet
        lt = self.linktype
        snap = self.snaplen
        maxcap = max_snaplen_for_dlt(lt)
        scale = 1 if self.precision == "nano" else 1000
        # records longer than this, and all records of files with interchanged length
        # fields, take the careful path
        limit = min(snap, maxcap) if self._order == NOT_SWAPPED else -1
        pos = self._start
        while True:
            buf = inp.buf
            end = inp.end
            need = hdrsize
            while pos + hdrsize <= end:
                sec, frac, caplen, wirelen = unpack(buf, pos)
                take = caplen
                if caplen > limit:
                    caplen, wirelen, take = self._check(pos, caplen, wirelen, snap, maxcap)
                start = pos + hdrsize
                nxt = start + caplen
                if nxt > end:
                    need = hdrsize + caplen
                    break
                yield new(P, (sec * 1_000_000_000 + frac * scale, wirelen,
                              buf[start:start + take], lt, 0))
                pos = nxt
            if inp.eof:
                break
            pos = inp.refill(pos, need)
        if pos < inp.end:
            raise self._truncated(pos, snap, maxcap)

    def _check(self, pos, caplen, wirelen, snap, maxcap):
        """The rare path: interchanged length fields, captured length over the snapshot length.
        Returns (bytes the record holds, wire length, bytes to keep)."""
        if self._order == SWAPPED or (self._order == MAYBE_SWAPPED and caplen > wirelen):
            caplen, wirelen = wirelen, caplen
        if caplen > maxcap:
            if caplen > snap:
                msg = f"invalid packet capture length {caplen}, bigger than snaplen of {snap}"
            else:
                msg = (f"invalid packet capture length {caplen}, bigger than maximum of "
                       f"{maxcap}")
            raise self._error(msg, self._in.offset(pos))
        return caplen, wirelen, min(caplen, snap)

    def _truncated(self, pos, snap, maxcap) -> CaptureError:
        inp = self._in
        have = inp.end - pos
        off = inp.offset(pos)
        if have < self._hdrsize:
            return self._error(f"truncated dump file; tried to read {self._hdrsize} header "
                               f"bytes, only got {have}", off)
        rec = self._rec.unpack_from(inp.buf, pos)
        caplen, _wirelen, take = self._check(pos, rec[2], rec[3], snap, maxcap)
        got = have - self._hdrsize
        tried = take if got < take else caplen
        return self._error(f"truncated dump file; tried to read {tried} captured bytes, "
                           f"only got {got}", off)
