"""Running the scan program over a capture: windows, refills, and the records left to Python."""
from __future__ import annotations

import ctypes
import struct

from ..engine import BATCH_RING_SIZE, RecordRing, _never
from . import programs as P
from .drain import POOL_RING_SIZE, Drainer, print_workers
from .pin import Pinned

WINDOW = 8 << 20            # file bytes handed to the scan program at a time (mapped files)
AGAIN = -1                  # the input's buffer was replaced (a stream refilled): pin it again


class Scan:
    """One run of a scan program over `source` into `sink`. Subclasses give the format's
    program head and what Python does with a record the program leaves to it."""

    # once stopped, records still in the ring are dropped (a file: as if not read yet);
    # a live capture delivers what it counted as captured
    drop_on_stop = True

    def __init__(self, source, eprog, keep_all: int, sink, count, stopped=None):
        from vm import jit
        self.source, self.inp = source, getattr(source, "_in", None)
        self.eprog, self.keep_all = eprog, keep_all
        self.stopped = stopped or _never      # asked between windows: end the run early
        self._natives: dict = {}
        self._match = None
        # a file printed by worker processes goes to them a ring's worth at a time
        workers = print_workers(sink) if self.drop_on_stop else 0
        self.ring = RecordRing(sink, POOL_RING_SIZE if workers else BATCH_RING_SIZE,
                               self.stopped if self.drop_on_stop else None)
        self.drainer = Drainer(self.ring, sink, workers)
        # the socket-filter context: an offline packet's __sk_buff is all zeros but `len`,
        # which the scan program sets per packet
        self._ctx = bytearray(jit.CTX_SIZE)
        self._pins = [Pinned(self._ctx), Pinned(self.ring._ring._data)]
        st = self.st = (ctypes.c_uint64 * P.S_WORDS)()
        st[P.S_CTX // 8] = self._pins[0].address
        st[P.S_RING // 8] = self._pins[1].address
        st[P.S_MASK // 8] = self.ring._ring.mask
        st[P.S_MAX // 8] = count if count is not None else 1 << 62
        self.native = self.program(self.head())

    # -- per format ------------------------------------------------------------------------------

    def head(self) -> str:                              # pragma: no cover - abstract
        raise NotImplementedError

    def start(self) -> int:                             # pragma: no cover - abstract
        raise NotImplementedError

    def take(self, pos: int):                           # pragma: no cover - abstract
        """Python's reading of the record at `pos`: (next position, Packet or None), or
        (None, None) when the record is cut by the end of the buffer; may raise the reader's
        CaptureError."""
        raise NotImplementedError

    def need(self, pos: int) -> int:                    # pragma: no cover - abstract
        """Bytes to read from `pos` before scanning on (a stream's refill)."""
        raise NotImplementedError

    def at_end(self, pos: int):                         # pragma: no cover - abstract
        """Bytes are left at the end of the file that the program did not take: (position,
        status) after Python takes a record, or raise."""
        raise NotImplementedError

    def refresh(self) -> None:
        """After Python took a record (the reader's state may have moved on)."""

    # -- the run ---------------------------------------------------------------------------------

    def program(self, head: str):
        native = self._natives.get(head)
        if native is None:
            native = self._natives[head] = P.build_scan(head, self.eprog, self.keep_all)
        return native

    @property
    def matched(self) -> int:
        return self.st[P.S_MATCHED // 8]

    def run(self) -> int:
        inp = self.inp
        self.source._started = True
        pos = self.start()
        try:
            while True:
                pos, stop = self._buffer(pos)
                if stop == P.LIMIT:
                    break
                if stop == AGAIN:
                    continue
                if inp.eof:                       # NEED at the end of the file
                    if pos >= inp.end:
                        break
                    pos, stop = self.at_end(pos)
                    if stop == P.LIMIT:
                        break
                    continue
                pos = inp.refill(pos, self.need(pos))
            return self.matched
        finally:
            self.finish()

    def finish(self) -> None:
        """Hand what is left in the ring to the sink and let go of the memory."""
        try:
            self.drainer.drain(final=True)
        finally:
            self.drainer.close()
            for pin in self._pins:
                pin.release()

    def _buffer(self, pos: int):
        """Scan the input's current buffer from `pos`, a window at a time for a mapped file;
        returns (where it stopped, why: NEED, LIMIT or AGAIN)."""
        inp = self.inp
        buf, end = inp.buf, inp.end
        pin = Pinned(buf)
        base = pin.address
        window = min(end, pos + WINDOW) if inp.mapped else end
        try:
            while True:
                if self.stopped():
                    return pos, P.LIMIT
                pos, stop = self.scan(base, pos, window)
                if stop in (P.FULL, P.SLOW):   # (FULL: larger than the whole ring)
                    pos, stop = self.python_record(pos)
                    if inp.buf is not buf:
                        return pos, AGAIN
                    if stop == P.SLOW:
                        continue
                if stop == P.LIMIT or window >= end:
                    return pos, stop
                # NEED before the end of the buffer: the next window, from the record the
                # scan stopped at (all the rest if that record is larger than a window)
                inp.release_before(pos - WINDOW)
                nxt = min(end, pos + WINDOW)
                window = nxt if nxt > window else end
        finally:
            pin.release()

    def scan(self, base: int, pos: int, end: int):
        """Run the scan program over the records at [pos, end) of the memory at address
        `base`; returns (where it stopped, why). Its ring records are published, and a full
        ring is drained on the way: FULL comes back only for a record larger than the ring."""
        st, ring = self.st, self.ring._ring
        while True:
            st[P.S_POS // 8] = base + pos
            st[P.S_END // 8] = base + end
            st[P.S_PROD // 8] = ring._prod[0]
            st[P.S_CONS // 8] = ring._cons[0]
            stop = self.native.call(ctypes.addressof(st))
            pos = st[P.S_POS // 8] - base
            ring._prod[1] = ring._prod[0] = st[P.S_PROD // 8]
            if stop == P.FULL and ring._prod[0] != ring._cons[0]:
                self.drainer.drain()
                if self.stopped():            # (the drain stopped handing records over)
                    return pos, P.LIMIT
                continue
            return pos, stop

    def python_record(self, pos: int):
        """Python takes the record at `pos`; returns (next position, SLOW to scan on, LIMIT
        when -c is reached, or NEED when the record is cut by the end of the buffer)."""
        nxt, pkt = self.take(pos)
        if nxt is None:
            return pos, P.NEED
        if pkt is not None and self.hand_on(pkt):
            return nxt, P.LIMIT
        self.refresh()
        return nxt, P.SLOW

    def hand_on(self, pkt) -> bool:
        """Filter a packet Python read and put it in the ring if kept; True when that makes
        -c's count."""
        keep = self.keep_all if self.eprog is None else self.match(pkt.data, pkt.wirelen)
        if not keep:
            return False
        self.ring.push(pkt, keep)
        self.st[P.S_MATCHED // 8] += 1
        return self.st[P.S_MATCHED // 8] >= self.st[P.S_MAX // 8]

    def match(self, data, wirelen):
        if self._match is None:
            from ..engine import build_filter
            self._match = build_filter(self.eprog)
        return self._match(data, wirelen)


class PcapScan(Scan):
    """pcap-savefile(5) records; those over the snapshot length are the reader's (it cuts
    them, or refuses one over the link type's maximum)."""

    def __init__(self, source, eprog, keep_all, sink, count, stopped=None):
        from ..sources import max_snaplen_for_dlt
        self.maxcap = max_snaplen_for_dlt(source.linktype)
        self.limit = min(source.snaplen, self.maxcap)
        super().__init__(source, eprog, keep_all, sink, count, stopped)
        st = self.st
        st[P.S_LIMIT // 8] = self.limit & 0xFFFFFFFF
        st[P.S_SCALE // 8] = 1 if source.precision == "nano" else 1000
        st[P.S_LINKTYPE // 8] = source.linktype

    def head(self) -> str:
        return P.pcap_head(self.source._hdrsize, self.source.byteorder != "<")

    def start(self) -> int:
        return self.source._start

    def _caplen_at(self, pos: int) -> int:
        return struct.unpack_from(self.source.byteorder + "I", self.inp.buf, pos + 8)[0]

    def take(self, pos: int):
        return self.source._record_at(pos) or (None, None)

    def need(self, pos: int) -> int:
        hdrsize = self.source._hdrsize
        if self.inp.end - pos >= hdrsize:
            cap = self._caplen_at(pos)
            if cap <= self.limit:
                return hdrsize + cap
        return hdrsize

    def at_end(self, pos: int):
        raise self.source._truncated(pos, self.source.snaplen, self.maxcap)


class PcapngScan(Scan):
    """pcapng Enhanced Packet Blocks of the interfaces whose timestamps convert exactly to
    nanoseconds and whose packets need no post-processing; every other block (section and
    interface headers, other packet blocks, anything odd) is the reader's."""

    def __init__(self, source, eprog, keep_all, sink, count, stopped=None):
        self._table_pin = None
        self._ifaces = None
        super().__init__(source, eprog, keep_all, sink, count, stopped)
        self.refresh()

    def head(self) -> str:
        return P.pcapng_head(self.source.byteorder != "<")

    def start(self) -> int:
        return self.source._pos

    def refresh(self) -> None:
        """The interface table and byte order of the current section, as the reader has
        them now."""
        source, st = self.source, self.st
        self.native = self.program(self.head())
        st[P.S_MAXBLOCK // 8] = source._max_block
        if self._ifaces is source._ifaces and len(self._ifaces) == st[P.S_NIF // 8]:
            return
        self._ifaces = source._ifaces
        rows = bytearray(P.E_SIZE * max(1, len(self._ifaces)))
        for i, (dlt, snap, mult, _res, offns, index, _, _post) in enumerate(self._ifaces):
            fast = snap >= 0 and mult and abs(offns) < (1 << 62)
            hi_limit = ((1 << 62) // mult) >> 32 if fast else 0
            struct.pack_into("<QQQqQQ", rows, i * P.E_SIZE, max(snap, 0),
                             mult if fast else 0, hi_limit, offns if fast else 0, dlt, index)
        if self._table_pin is not None:
            self._table_pin.release()
        self._table_pin = Pinned(rows)        # (which holds the table)
        self._pins.append(self._table_pin)
        st[P.S_TABLE // 8] = self._table_pin.address
        st[P.S_NIF // 8] = len(self._ifaces)

    def take(self, pos: int):
        pkt, nxt = self.source._slow_block(pos)
        return nxt, pkt

    def need(self, pos: int) -> int:
        source, inp = self.source, self.inp
        if inp.end - pos >= 8:
            total = struct.unpack_from(source.byteorder + "I", inp.buf, pos + 4)[0]
            if 28 <= total <= source._max_block:
                return total
        return 28

    def at_end(self, pos: int):
        return self.python_record(pos)
