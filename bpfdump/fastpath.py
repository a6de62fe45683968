"""The offline fast path: pcap records walked, filtered and handed on by JIT-compiled eBPF.

Two small eBPF programs of our own do the per-packet work, compiled to machine code by
`vm.jit` together with the filter:

- the *scan* program walks the records of a pcap file in memory; for each one it fills the
  socket-filter context block (packet pointer, captured length, wire length), calls the filter
  as a bpf-to-bpf subprogram, and for a packet the filter keeps it writes one record into the
  BPF ring buffer exactly as `engine.RecordRing` does (kernel-layout ring header, the RECORD
  header: timestamp ns, wire length, interface, link type; the kept bytes);
- the *drain* program is the consumer end for a pcap writer: it turns the ring's records into
  pcap records (16-byte header in this machine's byte order, data cut to the writer's snap
  length) in an output buffer, or, for --count, only steps over them.

The programs stop and hand control back to Python whenever something needs a decision: the
input window is exhausted or ends in a partial record, the ring is full, a record needs the
careful path (captured length above the snapshot length), or -c was reached. Everything
unusual is therefore handled by the same Python code as before; the programs only do the plain
case, which is nearly every record.

Used by `engine.run` for pcap files (either byte order: the scan program swaps; not pcapng) when
`vm.jit.available()`; the environment variable BPFDUMP_JIT=0 turns it off (then the numpy
block path of engine.py runs).
"""
from __future__ import annotations

import ctypes
import os
import struct
import sys

from .engine import RECORD, HDR, RecordRing, BATCH_RING_SIZE

# scan program returns
NEED, FULL, SLOW, LIMIT = 0, 1, 2, 3
WINDOW = 8 << 20            # file bytes handed to the scan program at a time (mapped files)

# -- the scan program --------------------------------------------------------------------------

# state block (uint64 each)
S_POS, S_END, S_RING, S_MASK, S_PROD, S_CONS, S_CTX, S_MATCHED, S_MAX, S_LIMIT, S_SCALE, \
    S_LINKTYPE, S_SIZE = range(0, 13 * 8, 8)
_S_WORDS = 13


def _scan_text(hdrsize: int, swapped: bool) -> str:
    """The scan program (r1 = state block). The filter follows it as subprogram `filter`."""
    from vm import jit
    from vm.ringbuf import DATA_PAGE, PAGE_SHIFT

    def u32(dst, off):                     # a 32-bit field of the record header
        return f"ldxw {dst}, [%r6+{off}]" + (f"\n be32 {dst}" if swapped else "")

    sec = ("ldxsw %r2, [%r6+0]" if not swapped else
           "ldxw %r2, [%r6+0]\n be32 %r2\n movsx3264 %r2, %r2")
    return f"""
    mov %r9, %r1
loop:
    ldxdw %r6, [%r9+{S_POS}]
    ldxdw %r3, [%r9+{S_END}]
    sub %r3, %r6
    mov %r0, {NEED}
    jlt %r3, {hdrsize}, out
    {u32("%r7", 8)}
    ldxdw %r4, [%r9+{S_LIMIT}]
    mov %r0, {SLOW}
    jgt %r7, %r4, out
    sub %r3, {hdrsize}
    mov %r0, {NEED}
    jgt %r7, %r3, out
    ldxdw %r1, [%r9+{S_CTX}]
    mov %r2, %r6
    add %r2, {hdrsize}
    stxdw [%r1+{jit.CTX_DATA}], %r2
    stxw [%r1+{jit.CTX_DATA_LEN}], %r7
    {u32("%r2", 12)}
    stxw [%r1+0], %r2
    call local filter
    mov32 %r8, %r0
    jeq %r8, 0, next
    jle %r8, %r7, +1
    mov %r8, %r7
    mov %r3, %r8
    add %r3, {HDR + RECORD.size + 7}
    and %r3, -8
    ldxdw %r4, [%r9+{S_PROD}]
    mov %r2, %r4
    add %r2, %r3
    ldxdw %r5, [%r9+{S_CONS}]
    sub %r2, %r5
    ldxdw %r1, [%r9+{S_MASK}]
    mov %r0, {FULL}
    jgt %r2, %r1, out
    mov %r5, %r4
    and %r5, %r1
    ldxdw %r1, [%r9+{S_RING}]
    add %r1, %r5
    mov %r2, %r8
    add %r2, {RECORD.size}
    stxw [%r1+0], %r2
    rsh %r5, {PAGE_SHIFT}
    add %r5, {DATA_PAGE}
    stxw [%r1+4], %r5
    {sec}
    mul %r2, 1000000000
    {u32("%r5", 4)}
    ldxdw %r0, [%r9+{S_SCALE}]
    mul %r5, %r0
    add %r2, %r5
    stxdw [%r1+8], %r2
    {u32("%r2", 12)}
    stxw [%r1+16], %r2
    stw [%r1+20], 0
    ldxdw %r2, [%r9+{S_LINKTYPE}]
    stxdw [%r1+24], %r2
    add %r4, %r3
    stxdw [%r9+{S_PROD}], %r4
    add %r1, {HDR + RECORD.size}
    mov %r2, %r8
    mov %r3, %r6
    add %r3, {hdrsize}
    call 113
    add %r6, {hdrsize}
    add %r6, %r7
    stxdw [%r9+{S_POS}], %r6
    ldxdw %r2, [%r9+{S_MATCHED}]
    add %r2, 1
    stxdw [%r9+{S_MATCHED}], %r2
    ldxdw %r3, [%r9+{S_MAX}]
    mov %r0, {LIMIT}
    jge %r2, %r3, out
    ja loop
next:
    add %r6, {hdrsize}
    add %r6, %r7
    stxdw [%r9+{S_POS}], %r6
    ja loop
out:
    exit
filter:
"""


# -- the drain program -------------------------------------------------------------------------

# state block (uint64 each)
D_RING, D_MASK, D_CONS, D_PROD, D_OUT, D_OUT_END, D_SNAP, D_NANO, D_COUNT, D_COPY = \
    range(0, 10 * 8, 8)
_D_WORDS = 10
DRAIN_DONE, DRAIN_FULL = 0, 1


def _drain_text() -> str:
    """r1 = state block: records [cons, prod) of the ring into pcap records at out (or, when
    `copy` is 0, only counted); stops when the output would overflow."""
    from vm.ringbuf import DISCARD_BIT
    return f"""
    mov %r9, %r1
loop:
    ldxdw %r6, [%r9+{D_CONS}]
    ldxdw %r2, [%r9+{D_PROD}]
    mov %r0, {DRAIN_DONE}
    jge %r6, %r2, out
    ldxdw %r1, [%r9+{D_MASK}]
    mov %r7, %r6
    and %r7, %r1
    ldxdw %r1, [%r9+{D_RING}]
    add %r7, %r1
    ldxw %r8, [%r7+0]
    mov %r2, %r8
    and %r2, {DISCARD_BIT - 1}
    add %r2, {HDR + 7}
    and %r2, -8
    jset %r8, {DISCARD_BIT}, skip
    ldxdw %r1, [%r9+{D_COPY}]
    jeq %r1, 0, counted
    and %r8, {DISCARD_BIT - 1}
    sub %r8, {RECORD.size}
    ldxdw %r1, [%r9+{D_SNAP}]
    jle %r8, %r1, +1
    mov %r8, %r1
    ldxdw %r1, [%r9+{D_OUT}]
    ldxdw %r3, [%r9+{D_OUT_END}]
    sub %r3, %r1
    mov %r4, %r8
    add %r4, 16
    mov %r0, {DRAIN_FULL}
    jgt %r4, %r3, out
    ldxdw %r3, [%r7+8]
    jsge %r3, 0, +6
    neg %r3
    add %r3, 999999999
    div %r3, 1000000000
    neg %r3
    ldxdw %r4, [%r7+8]
    ja +2
    mov %r4, %r3
    div %r3, 1000000000
    mov %r5, %r3
    mul %r5, 1000000000
    sub %r4, %r5
    ldxdw %r5, [%r9+{D_NANO}]
    jne %r5, 0, +1
    div %r4, 1000
    stxw [%r1+0], %r3
    stxw [%r1+4], %r4
    stxw [%r1+8], %r8
    ldxw %r3, [%r7+16]
    stxw [%r1+12], %r3
    mov %r4, %r8
    add %r4, 16
    add %r4, %r1
    stxdw [%r9+{D_OUT}], %r4
    add %r1, 16
    mov %r6, %r2
    mov %r2, %r8
    mov %r3, %r7
    add %r3, {HDR + RECORD.size}
    call 113
    mov %r2, %r6
    ldxdw %r6, [%r9+{D_CONS}]
counted:
    ldxdw %r1, [%r9+{D_COUNT}]
    add %r1, 1
    stxdw [%r9+{D_COUNT}], %r1
skip:
    add %r6, %r2
    stxdw [%r9+{D_CONS}], %r6
    ja loop
out:
    exit
"""


# -- memory addresses ----------------------------------------------------------------------------

class _PyBuffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object), ("len", ctypes.c_ssize_t),
                ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int),
                ("ndim", ctypes.c_int), ("format", ctypes.c_char_p),
                ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
                ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p)]


class _Pinned:
    """The address of a buffer object's memory, held (the buffer stays exported, so an mmap
    can't be closed or a bytearray resized under the machine code) until release()."""

    def __init__(self, obj):
        self._view = _PyBuffer()
        ctypes.pythonapi.PyObject_GetBuffer(ctypes.py_object(obj), ctypes.byref(self._view), 0)
        self.address = self._view.buf or 0

    def release(self) -> None:
        if self._view is not None:
            ctypes.pythonapi.PyBuffer_Release(ctypes.byref(self._view))
            self._view = None


ctypes.pythonapi.PyObject_GetBuffer.argtypes = (ctypes.py_object, ctypes.c_void_p, ctypes.c_int)
ctypes.pythonapi.PyBuffer_Release.argtypes = (ctypes.c_void_p,)


# -- programs ------------------------------------------------------------------------------------

_CACHE: dict = {}


def _filter_program(eprog, keep_all: int):
    from vm import ebpf
    if eprog is not None:
        return eprog
    return ebpf.assemble(f"mov %r0, {keep_all}\nexit")


def scan_native(eprog, keep_all: int, hdrsize: int, swapped: bool):
    """The scan program with the filter (or `ret keep_all`) linked in, JIT-compiled."""
    from vm import ebpf, jit
    driver = ebpf.assemble(_scan_text(hdrsize, swapped))
    prog = ebpf.Program(list(driver) + list(_filter_program(eprog, keep_all)))
    # an out-of-bounds packet load ends the filter (returning 0), not the scan
    return jit.compile(prog, drop="function")


def drain_native():
    from vm import ebpf, jit
    native = _CACHE.get("drain")
    if native is None:
        native = _CACHE["drain"] = jit.compile(ebpf.assemble(_drain_text()))
    return native


def usable(source) -> bool:
    """Whether `source` can take the fast path: a pcap file whose records need no
    post-processing and whose length fields are in their modern order, on a machine where
    the JIT works."""
    from .sources import needs_post_process
    from .sources.pcap import NOT_SWAPPED, PcapSource
    if not isinstance(source, PcapSource) or getattr(source, "_started", True):
        return False
    if source._order != NOT_SWAPPED or needs_post_process(source.linktype, source.byteorder):
        return False
    if sys.byteorder != "little" or os.environ.get("BPFDUMP_JIT") == "0":
        return False
    try:
        from vm import jit
    except ImportError:
        return False
    return jit.available()


# -- the run -------------------------------------------------------------------------------------

class _Drainer:
    """The consumer end of the ring: natively into a pcap writer's buffer, natively counted
    (--count), or handed to the sink record by record (RecordRing's consumer, e.g. printing)."""

    def __init__(self, ring: RecordRing, sink):
        self._record_ring = ring
        self._ring = ring._ring
        self._sink = sink
        self._writer = getattr(sink, "pcap_writer", None)
        self._native = None
        self._out = self._out_pin = None
        if self._writer is None and not _counting(sink):
            return
        self._native = drain_native()
        st = self._state = (ctypes.c_uint64 * _D_WORDS)()
        self._ring_pin = _Pinned(self._ring._data)
        st[D_RING // 8] = self._ring_pin.address
        st[D_MASK // 8] = self._ring.mask
        if self._writer is not None:
            self._grow(OUT_SIZE)
            st[D_SNAP // 8] = self._writer.snaplen
            st[D_NANO // 8] = 1 if self._writer.precision == "nano" else 0
            st[D_COPY // 8] = 1

    def _grow(self, size: int) -> None:
        if self._out_pin is not None:
            self._out_pin.release()
        self._out = bytearray(size)
        self._out_pin = _Pinned(self._out)

    def drain(self) -> None:
        if self._native is None:
            self._record_ring.drain()
            return
        ring, st = self._ring, self._state
        st[D_CONS // 8] = ring._cons[0]
        st[D_PROD // 8] = ring._prod[0]
        while True:
            st[D_COUNT // 8] = 0
            if self._writer is not None:
                st[D_OUT // 8] = self._out_pin.address
                st[D_OUT_END // 8] = self._out_pin.address + len(self._out)
            status = self._native.call(ctypes.addressof(st))
            ring._cons[0] = st[D_CONS // 8]
            n = st[D_COUNT // 8]
            if self._writer is None:
                self._sink.count += n
            else:
                used = st[D_OUT // 8] - self._out_pin.address
                if used:
                    self._sink.write_records(memoryview(self._out)[:used], n)
                elif status == DRAIN_FULL:       # one record larger than the buffer
                    self._grow(2 * len(self._out))
            if status == DRAIN_DONE:
                return

    def close(self) -> None:
        if self._native is not None:
            self._ring_pin.release()
        if self._out_pin is not None:
            self._out_pin.release()


OUT_SIZE = 4 << 20


def _counting(sink) -> bool:
    from .sinks import CountSink
    return type(sink) is CountSink


class Scan:
    """One run of the scan program over a pcap source."""

    def __init__(self, source, eprog, keep_all: int, sink, count):
        from vm import jit
        self.source = source
        self.inp = source._in
        self.hdrsize = source._hdrsize
        self.eprog, self.keep_all = eprog, keep_all
        self.maxcap = _maxcap(source)
        self.native = scan_native(eprog, keep_all, self.hdrsize, source.byteorder != "<")
        self.ring = RecordRing(sink, BATCH_RING_SIZE)
        self.drainer = _Drainer(self.ring, sink)
        # the socket-filter context: an offline packet's __sk_buff is all zeros but `len`,
        # which the scan program sets per packet
        self._ctx = bytearray(jit.CTX_SIZE)
        self._pins = [_Pinned(self._ctx), _Pinned(self.ring._ring._data)]
        st = self.st = (ctypes.c_uint64 * _S_WORDS)()
        st[S_CTX // 8] = self._pins[0].address
        st[S_RING // 8] = self._pins[1].address
        st[S_MASK // 8] = self.ring._ring.mask
        st[S_SIZE // 8] = self.ring._ring.size
        self.limit = min(source.snaplen, self.maxcap)
        st[S_LIMIT // 8] = self.limit & 0xFFFFFFFF
        st[S_SCALE // 8] = 1 if source.precision == "nano" else 1000
        st[S_LINKTYPE // 8] = source.linktype
        st[S_MAX // 8] = count if count is not None else 1 << 62

    @property
    def matched(self) -> int:
        return self.st[S_MATCHED // 8]

    def run(self) -> int:
        source, inp = self.source, self.inp
        source._started = True
        pos = source._start
        try:
            while True:
                pos, stop = self._buffer(pos)
                if stop == LIMIT or inp.eof:
                    break
                need = self.hdrsize
                if inp.end - pos >= self.hdrsize:
                    cap = _caplen_at(source, pos)
                    if cap <= self.limit:
                        need += cap
                pos = inp.refill(pos, need)
            if stop != LIMIT and pos < inp.end:
                raise source._truncated(pos, source.snaplen, self.maxcap)
            return self.matched
        finally:
            try:
                self.drainer.drain()
            finally:
                self.drainer.close()
                for pin in self._pins:
                    pin.release()

    def _buffer(self, pos: int):
        """Scan the records of the input's current buffer from `pos`, a window at a time for
        a mapped file; returns (where it stopped, why: NEED or LIMIT)."""
        inp, st, ring = self.inp, self.st, self.ring._ring
        end = inp.end
        pin = _Pinned(inp.buf)
        base = pin.address
        released = 0
        window = min(end, pos + WINDOW) if inp.mapped else end
        try:
            while True:
                st[S_POS // 8] = base + pos
                st[S_END // 8] = base + window
                st[S_PROD // 8] = ring._prod[0]
                st[S_CONS // 8] = ring._cons[0]
                stop = self.native.call(ctypes.addressof(st))
                pos = st[S_POS // 8] - base
                ring._prod[1] = ring._prod[0] = st[S_PROD // 8]
                if stop == FULL and ring._prod[0] != ring._cons[0]:
                    self.drainer.drain()
                    continue
                if stop in (FULL, SLOW):      # (FULL on an empty ring: larger than the ring)
                    pos, stop = self._careful(pos)
                    if stop == SLOW:
                        continue
                if stop == LIMIT or window >= end:
                    return pos, stop
                # NEED before the end of the buffer: the next window, from the record the
                # scan stopped at (all the rest if that record is larger than a window)
                if inp.mapped:
                    released = _release(inp, released, pos - WINDOW)
                nxt = min(end, pos + WINDOW)
                window = nxt if nxt > window else end
        finally:
            pin.release()

    def _careful(self, pos: int):
        """One record the scan program leaves to Python: captured length over the snapshot
        length (the reader's careful path: it may raise the reader's error), or larger than
        the ring. Returns (next position, LIMIT if -c is reached, NEED if the record is cut
        by the end of the buffer, else SLOW)."""
        from vm import interp
        from .packet import Packet
        source, inp = self.source, self.inp
        sec, frac, caplen, wirelen = source._rec.unpack_from(inp.buf, pos)
        snap = source.snaplen
        caplen, wirelen, take = source._check(pos, caplen, wirelen, snap, self.maxcap)
        start = pos + self.hdrsize
        if start + caplen > inp.end:
            return pos, NEED
        data = bytes(inp.buf[start:start + take])
        keep = self.keep_all if self.eprog is None else interp.load(self.eprog).run(
            data, wirelen)
        if keep:
            scale = 1 if source.precision == "nano" else 1000
            self.ring.push(Packet(sec * 1_000_000_000 + frac * scale, wirelen, data,
                                  source.linktype, 0), keep)
            self.st[S_MATCHED // 8] += 1
            if self.st[S_MATCHED // 8] >= self.st[S_MAX // 8]:
                return start + caplen, LIMIT
        return start + caplen, SLOW


def run(source, eprog, keep_all: int, sink, count: int | None) -> int:
    """Filter the records of the pcap `source` (see usable()) through `eprog` (None: keep
    `keep_all` bytes of every packet) into `sink`; return the packets matched."""
    return Scan(source, eprog, keep_all, sink, count).run()


def _maxcap(source) -> int:
    from .sources import max_snaplen_for_dlt
    return max_snaplen_for_dlt(source.linktype)


def _caplen_at(source, pos: int) -> int:
    return struct.unpack_from(source.byteorder + "I", source._in.buf, pos + 8)[0]


def _release(inp, released: int, upto: int) -> int:
    from .sources.pcap import _release as release
    return release(inp, released, upto)
