"""The consumer end of the fast path's ring buffer."""
from __future__ import annotations

import ctypes

from . import programs as P
from .pin import Pinned

OUT_SIZE = 4 << 20          # pcap records built per drain call (grown for a larger record)
POOL_RING_SIZE = 1 << 20    # ring records handed to a print worker at a time


def print_workers(sink) -> int:
    """Worker processes to print for `sink` (bpfdump.printpool), 0 for none."""
    from ..sinks import PrintSink
    if type(sink) is not PrintSink:
        return 0
    from ..printpool import workers_for
    return workers_for(sink)


class Drainer:
    """Empties the ring: natively into the -w writer's pcap records (a sink with a
    `pcap_writer` takes blocks through `write_records`), natively counted (--count), or handed
    to the sink one Packet at a time (engine.RecordRing.drain: printing and everything else),
    or, with `workers`, handed a ring's worth at a time to a bpfdump.printpool.PrintPool."""

    def __init__(self, record_ring, sink, workers: int = 0):
        from ..sinks import CountSink
        self._record_ring = record_ring
        self._ring = record_ring._ring
        self._sink = sink
        self._writer = getattr(sink, "pcap_writer", None)
        self._native = self._pool = None
        self._out = self._out_pin = self._ring_pin = None
        if workers:
            from ..printpool import PrintPool
            self._pool = PrintPool(sink, workers)
            return
        if self._writer is None and type(sink) is not CountSink:
            return
        self._native = P.build_drain()
        st = self._state = (ctypes.c_uint64 * P.D_WORDS)()
        self._ring_pin = Pinned(self._ring._data)
        st[P.D_RING // 8] = self._ring_pin.address
        st[P.D_MASK // 8] = self._ring.mask
        if self._writer is not None:
            self._grow(OUT_SIZE)
            st[P.D_SNAP // 8] = self._writer.snaplen
            st[P.D_NANO // 8] = 1 if self._writer.precision == "nano" else 0
            st[P.D_COPY // 8] = 1

    def _grow(self, size: int) -> None:
        if self._out_pin is not None:
            self._out_pin.release()
        self._out = bytearray(size)
        self._out_pin = Pinned(self._out)

    def drain(self, final: bool = False) -> None:
        """Empty the ring (`final`: at the end of the run)."""
        if self._pool is not None:
            self._to_pool(final)
            return
        if self._native is None:
            self._record_ring.drain()
            return
        ring, st = self._ring, self._state
        st[P.D_CONS // 8] = ring._cons[0]
        st[P.D_PROD // 8] = ring._prod[0]
        while True:
            st[P.D_COUNT // 8] = 0
            if self._writer is not None:
                st[P.D_OUT // 8] = self._out_pin.address
                st[P.D_OUT_END // 8] = self._out_pin.address + len(self._out)
            status = self._native.call(ctypes.addressof(st))
            ring._cons[0] = st[P.D_CONS // 8]
            n = st[P.D_COUNT // 8]
            if self._writer is None:
                self._sink.count += n
            else:
                used = st[P.D_OUT // 8] - self._out_pin.address
                if used:
                    self._sink.write_records(memoryview(self._out)[:used], n)
                elif status == P.DRAIN_FULL:       # one record larger than the buffer
                    self._grow(2 * len(self._out))
            if status == P.DRAIN_DONE:
                return

    def _to_pool(self, final: bool) -> None:
        record_ring, ring, pool = self._record_ring, self._ring, self._pool
        cons, prod = ring._cons[0], ring._prod[0]
        if cons >= prod or record_ring._stopped():  # (stopped: dropped, as RecordRing does)
            return
        if final and not pool.workers and not pool.failed:
            record_ring.drain()     # all of it fitted in one ring: not worth a process
            return
        first = cons & ring.mask
        blob = ring._data[first:first + (prod - cons)].tobytes()
        ring._cons[0] = prod
        pool.feed(blob)

    def close(self) -> None:
        try:
            if self._pool is not None:
                self._pool.finish()
        finally:
            if self._pool is not None:
                self._pool.close()
            for pin in (self._ring_pin, self._out_pin):
                if pin is not None:
                    pin.release()
