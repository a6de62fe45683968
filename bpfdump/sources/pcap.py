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
        return self._records_from(self._start)

    def _records_from(self, pos):
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

    def _record_at(self, pos: int):
        """The record at `pos` the careful way (what the record loop does for a captured
        length over the snapshot length): (next position, Packet), or None when the buffer
        ends inside it; raises on a capture length over the link type's maximum."""
        inp = self._in
        sec, frac, caplen, wirelen = self._rec.unpack_from(inp.buf, pos)
        caplen, wirelen, take = self._check(pos, caplen, wirelen, self.snaplen,
                                            max_snaplen_for_dlt(self.linktype))
        start = pos + self._hdrsize
        if start + caplen > inp.end:
            return None
        scale = 1 if self.precision == "nano" else 1000
        return start + caplen, Packet(sec * 1_000_000_000 + frac * scale, wirelen,
                                      bytes(inp.buf[start:start + take]), self.linktype, 0)

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


# -- batches: record offsets indexed with numpy --------------------------------------------------
#
# Records form a chain (each header gives the length of what follows), which is sequential by
# nature. To index it without a Python step per record, a window of the file is cut into lanes;
# every lane after the first starts at a guessed record boundary (a position whose header, and
# the header after it, look plausible) and all lanes step through their headers at once, until
# each reaches the next lane's start. Then the lanes are stitched from the true start of the
# window: a lane is used from the first position the true chain shares with it (the chain from
# a position is determined by that position, so a shared position proves everything after it).
# A wrong guess costs speed only: the true chain is walked one record at a time up to the next
# lane it meets.

CHUNK_BYTES = 8 << 20         # file bytes indexed per window
LANE_BYTES = 8192             # bytes per lane
GUESS_WINDOW = 1024            # positions tried for a lane's first record
SEC_SPAN = 7 * 86400          # guessed records are within a week of the window's first


class _Walk:
    """Index the records of one window. Holds numpy views of `buf` (bytes of file offset
    `inp.base` on)."""

    def __init__(self, buf, end, order, hdrsize, snap, maxcap, fracmax):
        import numpy as np
        self.np = np
        self.end = end
        self.hdrsize = hdrsize
        self.maxcap = maxcap
        self.snap = snap
        self.fracmax = fracmax
        self.bytes = np.frombuffer(buf, dtype=np.uint8, count=end)
        self.little = order == "<"
        n = max(end - 3, 0)
        self.u32 = np.ndarray((n,), dtype=order + "u4", buffer=buf, strides=(1,))
        self.i32 = np.ndarray((n,), dtype=order + "i4", buffer=buf, strides=(1,))

    def _hdr(self, pos):
        """(fracs, caplens, wirelens) at header positions pos (all with a full header)."""
        u32 = self.u32
        return u32[pos + 4], u32[pos + 8], u32[pos + 12]

    def guess(self, starts, window=GUESS_WINDOW):
        """For each guessed lane start, the first plausible record position at or after it
        within `window` bytes, or -1."""
        np = self.np
        out = np.full(len(starts), -1, dtype=np.int64)
        if not len(starts):
            return out
        first = int(starts[0])
        lanes = len(starts)
        while lanes and int(starts[lanes - 1]) + window + 16 > self.end:
            lanes -= 1
        if not lanes:
            return out
        step = np.diff(starts[:lanes])
        if lanes > 1 and (step == step[0]).all():
            from numpy.lib.stride_tricks import as_strided
            step = int(step[0])
            def top(off):
                # the most significant byte of the 32-bit field at `off` of each position
                at = first + off + (3 if self.little else 0)
                return as_strided(self.bytes[at:], (lanes, window), (step, 1))
            # captured length and fraction below 2**24 (snapshot lengths and stamps are):
            # a byte compare, aligned; the exact tests follow on the few that pass
            ok = top(8) == 0
            ok &= top(4) == 0
            lane, col = np.nonzero(ok)
            cand = starts[lane] + col
            frac, cap, wire = self._hdr(cand)
            ok = (cap <= self.snap) & (frac < self.fracmax) & (wire >= cap)
            cand, cap = cand[ok], cap[ok]
        else:
            cand = (starts[:lanes, None] + np.arange(window, dtype=np.int64)[None, :]).ravel()
            cand = cand[self.u32[cand + 8] <= self.snap]
            frac, cap, wire = self._hdr(cand)
            ok = (frac < self.fracmax) & (wire >= cap)
            cand, cap = cand[ok], cap[ok]
        nxt = cand + self.hdrsize + cap.astype(np.int64)
        inside = nxt + 16 <= self.end
        cand, nxt = cand[inside], nxt[inside]
        frac, cap, wire = self._hdr(nxt)
        ok = (frac < self.fracmax) & (wire >= cap) & (cap <= self.snap)
        cand, nxt = cand[ok], nxt[ok]
        sec0, sec1 = self.i32[cand], self.i32[nxt]
        ref = self.ref_sec
        good = cand[(sec1 >= sec0) & (sec1 - sec0 <= 86400) & (np.abs(sec0 - ref) <= SEC_SPAN)]
        lane = np.searchsorted(starts, good, side="right") - 1
        ids, at = np.unique(lane, return_index=True)   # first plausible position per lane
        out[ids] = good[at]
        return out

    def lanes(self, starts, limits):
        """Walk every lane from starts[j] until it reaches limits[j]; returns (positions
        matrix, step x lane, -1 where a lane had ended; caplens alike; ends)."""
        np = self.np
        cur = starts.copy()
        u32 = self.u32
        top = len(u32) - 1
        hdrsize = self.hdrsize
        mats, caps = [], []
        active = cur < limits
        while active.any():
            cap = u32[np.minimum(cur + 8, top)].astype(np.int64)
            mats.append(np.where(active, cur, -1))
            caps.append(cap)
            cur = np.where(active, cur + hdrsize + cap, cur)
            active = cur < limits
        if not mats:
            empty = np.empty((0, len(cur)), dtype=np.int64)
            return empty, empty, cur
        return np.stack(mats), np.stack(caps), cur

    def serial(self, pos, limit):
        """Walk one record at a time from pos to limit; (positions, end, stopped)."""
        out = []
        u32 = self.u32
        hdrsize, end, maxcap = self.hdrsize, self.end, self.maxcap
        while pos < limit:
            if pos + hdrsize > end:
                return out, pos, True
            cap = int(u32[pos + 8])
            nxt = pos + hdrsize + cap
            if nxt > end or cap > maxcap:
                return out, pos, True
            out.append(pos)
            pos = nxt
        return out, pos, False

    def index(self, start, stop):
        """Record positions from the true position `start` until one at or past `stop` (or a
        stop); returns (positions int64 array, end, stopped)."""
        np = self.np
        stop = min(stop, self.end)
        self.ref_sec = int(self.i32[start]) if start + 16 <= self.end else 0
        nlanes = max(1, (stop - start) // LANE_BYTES)
        guesses = start + np.arange(nlanes, dtype=np.int64) * LANE_BYTES
        if nlanes > 1:
            picked = self.guess(guesses[1:])
            picked = picked[(picked >= 0) & (picked < stop)]
            starts = np.concatenate(([start], picked))
            starts = np.unique(starts)
        else:
            starts = np.array([start], dtype=np.int64)
        limits = np.append(starts[1:], stop)
        mat, caps, ends = self.lanes(starts, limits)
        # a record whose header or data runs past the end, or too long: its lane stops there
        valid = mat >= 0
        bad = valid & ((mat + self.hdrsize > self.end) | (mat + self.hdrsize + caps > self.end)
                       | (caps > self.maxcap))
        stopped = bad.any(axis=0)
        if stopped.any():
            first_bad = np.argmax(bad, axis=0)
            rows = np.arange(len(mat))[:, None]
            cut = stopped[None, :] & (rows >= first_bad[None, :])
            ends = np.where(stopped, mat[first_bad, np.arange(mat.shape[1])], ends)
            mat = np.where(cut, -1, mat)
            valid = mat >= 0
        counts = valid.sum(axis=0)
        if (ends[:-1] == starts[1:]).all() and not stopped[:-1].any():
            flat = mat.T.ravel()
            return flat[flat >= 0], int(ends[-1]), bool(stopped[-1])
        # stitch lane by lane
        parts = []
        cur = start
        nl = len(starts)
        j = 0
        while j < nl:
            if cur >= limits[j]:
                j += 1
                continue
            s = int(starts[j])
            col = mat[:counts[j], j]
            if cur == s:
                parts.append(col)
                cur = int(ends[j])
                if stopped[j]:
                    return self._join(parts), cur, True
                j += 1
                continue
            hit = np.searchsorted(col, cur) if cur > s else len(col)
            if hit < len(col) and col[hit] == cur:
                parts.append(col[hit:])
                cur = int(ends[j])
                if stopped[j]:
                    return self._join(parts), cur, True
                j += 1
                continue
            # no lane shares this position: one record at a time up to the next lane start
            # (or past it)
            nxt_limit = int(limits[j]) if cur >= s else s
            pos_list, cur, stop_here = self.serial(cur, max(nxt_limit, cur + 1))
            parts.append(np.array(pos_list, dtype=np.int64))
            if stop_here:
                return self._join(parts), cur, True
        return self._join(parts), cur, False

    def _join(self, parts):
        np = self.np
        parts = [p for p in parts if len(p)]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _pcap_batches(self, max_packets=65536):
    """PcapSource.batches: records indexed in place (see _Walk)."""
    import numpy as np
    from . import Batch
    if self._started:
        raise ValueError("a capture file can be iterated only once")
    if self._order != NOT_SWAPPED or needs_post_process(self.linktype, self.byteorder):
        yield from Source.batches(self, max_packets)
        return
    self._started = True
    inp = self._in
    hdrsize = self._hdrsize
    snap = self.snaplen
    lt = self.linktype
    maxcap = max_snaplen_for_dlt(lt)
    nano = self.precision == "nano"
    fracmax = 1_000_000_000 if nano else 1_000_000
    scale = 1 if nano else 1000
    order = self.byteorder
    pos = self._start
    inp.CHUNK = max(inp.CHUNK, CHUNK_BYTES)     # streams: windows of many lanes
    while True:
        buf, end = inp.buf, inp.end
        walk = _Walk(buf, end, order, hdrsize, snap, maxcap, fracmax)
        while pos < end:
            inp.release_before(pos - CHUNK_BYTES)
            recs, pos, stopped = walk.index(pos, pos + CHUNK_BYTES)
            for lo in range(0, len(recs), max_packets):
                rec = recs[lo:lo + max_packets]
                sec = walk.i32[rec].astype(np.int64)
                frac = walk.u32[rec + 4].astype(np.int64)
                filecap = walk.u32[rec + 8].astype(np.int64)
                wirelen = walk.u32[rec + 12].astype(np.int64)
                caplen = np.minimum(filecap, snap)
                ts = sec * 1_000_000_000 + frac * scale
                same = hdrsize == 16 and bool((caplen == filecap).all())
                yield Batch(walk.bytes, rec + hdrsize, caplen, wirelen, ts, lt, 0,
                            rec if same else None, order, self.precision)
            if stopped:
                break
        del walk
        if inp.eof:
            break
        need = hdrsize
        if inp.end - pos >= hdrsize:
            cap = struct.unpack_from(order + "I", inp.buf, pos + 8)[0]
            if cap > maxcap:
                break
            need = hdrsize + cap
        pos = inp.refill(pos, need)
    if pos < inp.end:
        # a damaged or cut record: the careful path names it (after everything before it)
        for pkt in self._records_from(pos):  # pragma: no cover - it raises
            yield Batch.from_packets([pkt])


PcapSource.batches = _pcap_batches
