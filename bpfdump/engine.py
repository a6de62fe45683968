"""Source -> filter program -> ring buffer -> sink.

The filter is the cBPF program translated to eBPF and verified once; it runs in the VM as a socket
filter whose return value is the number of bytes to keep (0 = drop). Matching packets are written
as records (a header plus the kept bytes) into a BPF ring buffer; the consumer side hands them to
the sink (printer, pcap writer, counter).
"""
from __future__ import annotations

import struct

from .packet import Packet

# ring-buffer record header: timestamp ns, wire length, interface index, link type
RECORD = struct.Struct("<QIIH6x")
RING_SIZE = 1 << 22
BATCH_RING_SIZE = 1 << 23
HDR = 8                     # the ring's own record header (length, page offset)


def verified_ebpf(prog):
    """The cBPF program translated to eBPF and verified (once per run)."""
    from vm import translate, verifier
    eprog = translate.to_ebpf(prog)
    verifier.verify(eprog)
    return eprog


def jit_enabled() -> bool:
    """Whether programs run as machine code: vm.jit works here (x86-64 Linux) and the
    environment does not say BPFDUMP_JIT=0."""
    import os
    if os.environ.get("BPFDUMP_JIT") == "0":
        return False
    try:
        from vm import jit
    except ImportError:
        return False
    return jit.available()


def build_filter(eprog):
    """Return ``match(data, wirelen) -> int``: the bytes to keep for a packet (0 = drop):
    the program JIT-compiled where jit_enabled(), else run by the interpreter."""
    if jit_enabled():
        from vm import jit
        try:
            return jit.compile(eprog).run
        except jit.JitError:
            pass
    from vm import interp
    return interp.load(eprog).run


def accepts_all(prog) -> bool:
    """True when the program is a lone `ret #k` with k > 0 (an empty expression)."""
    return len(prog) == 1 and prog[0].code == 0x06 and prog[0].k != 0


STOP_EVERY = 1024


class RecordRing:
    """The producer and consumer ends of one in-process BPF ring buffer, draining into a sink."""

    def __init__(self, sink, size: int = RING_SIZE, stopped=None):
        from vm.ringbuf import RingBuffer
        self._ring = RingBuffer(size)
        self._sink = sink
        # asked every STOP_EVERY records handed over one by one (a printer is slow): once it
        # says stop, the records still in the ring are dropped, as tcpdump drops the packets
        # it has not read when Ctrl-C ends its loop
        self._stopped = stopped or _never

    def push(self, pkt: Packet, keep: int) -> None:
        data = pkt.data if keep >= len(pkt.data) else pkt.data[:keep]
        size = RECORD.size + len(data)
        view = self._ring.reserve(size)
        if view is None:
            self.drain()
            view = self._ring.reserve(size)
            if view is None:  # larger than the whole ring: hand it over directly
                self._sink.write(pkt._replace(data=data))
                return
        RECORD.pack_into(view, 0, pkt.ts, pkt.wirelen, pkt.ifindex, pkt.linktype)
        view[RECORD.size:size] = data
        self._ring.submit(view)

    def drain(self) -> None:
        """Hand every committed record to the sink, oldest first, as a Packet (what
        vm.ringbuf.Consumer.consume does, in one loop: both ends are in this process, so no
        fences, and no call per record beyond the sink's). The records are copied out in one
        piece first (the data area is mapped twice, so they are contiguous)."""
        ring = self._ring
        cons, prod = ring._cons[0], ring._prod[0]
        if cons >= prod or self._stopped():
            return
        first = cons & ring.mask
        blob = ring._data[first:first + (prod - cons)].tobytes()
        ring._cons[0] = prod            # (once stopped, the rest is dropped)
        write, stopped, ask = self._sink.write, self._stopped, STOP_EVERY
        for pkt in records(blob):
            ask -= 1
            if not ask:
                if stopped():
                    return
                ask = STOP_EVERY
            write(pkt)


def records(blob):
    """The Packets of a block of ring records (kernel layout, as RecordRing.drain copies
    them out), oldest first; stops at a record still being written."""
    from vm.ringbuf import BUSY_BIT, DISCARD_BIT
    head_of = struct.Struct("<I").unpack_from
    unpack = RECORD.unpack_from
    new = tuple.__new__
    skip = HDR + RECORD.size
    off, end = 0, len(blob)
    while off < end:
        head, = head_of(blob, off)
        if head & BUSY_BIT:
            return
        length = head & (DISCARD_BIT - 1)
        at = off
        off += (length + HDR + 7) & ~7
        if not head & DISCARD_BIT:
            ts, wirelen, ifindex, linktype = unpack(blob, at + HDR)
            yield new(Packet, (ts, wirelen, blob[at + skip:at + HDR + length], linktype,
                               ifindex))


# -- batches: a block of packets at a time ---------------------------------------------------------

class BatchRing(RecordRing):
    """RecordRing that also moves whole blocks of records: `push_batch` lays the matching
    packets of a Batch into the ring (each one kernel-layout record: 8-byte ring header, the
    RECORD header, the kept bytes) and publishes them together; `drain` walks the committed
    records with numpy and hands the sink a Batch over the ring's memory."""

    def __init__(self, sink, size: int = BATCH_RING_SIZE, stopped=None):
        super().__init__(sink, size, stopped)
        import numpy as np
        ring = self._ring
        self._np = np
        self._bytes = np.frombuffer(ring._data, dtype=np.uint8)
        self._u64 = self._bytes.view(np.uint64)
        self._u32 = self._bytes.view(np.uint32)
        self._u16 = self._bytes.view(np.uint16)
        self._write = batch_writer(sink, self._stopped)

    def push_batch(self, batch, sel, keep) -> None:
        """Lay the packets `sel` of `batch`, keeping `keep[i]` bytes of each, into the ring."""
        from vm.ringbuf import DATA_PAGE, PAGE_SHIFT
        from .writer import gather_ranges, range_mask
        np = self._np
        ring = self._ring
        mask = ring.mask
        caplen = np.minimum(batch.caplen[sel], keep)
        slot = (caplen + (HDR + RECORD.size + 7)) & ~7
        done = 0
        n = len(sel)
        while done < n:
            prod, cons = int(ring._prod[0]), int(ring._cons[0])
            free = mask - (prod - cons)
            ends = np.cumsum(slot[done:])
            fit = int(np.searchsorted(ends, free, side="right"))
            if fit == 0:
                if prod != cons:
                    self.drain()
                    continue
                # a record larger than the whole ring: handed to the sink directly
                i = int(sel[done])
                pkt = batch.packet(i)
                self._sink.write(pkt._replace(data=pkt.data[:int(caplen[done])]))
                done += 1
                continue
            part = slice(done, done + fit)
            idx = sel[part]
            cap = caplen[part]
            start = np.empty(fit, dtype=np.int64)
            start[0] = 0
            start[1:] = ends[:fit - 1]
            off = (prod & mask) + start      # in the doubly mapped area: no wrapping
            w = off >> 3
            self._u64[w] = (cap + RECORD.size) | ((DATA_PAGE + ((off & mask) >> PAGE_SHIFT))
                                                  << 32)   # len, pg_off (native order)
            self._u64[w + 1] = batch.ts[idx]
            self._u64[w + 2] = batch.wirelen[idx].astype(np.uint64) | \
                (_column(batch.ifindex, idx) << np.uint64(32))
            self._u64[w + 3] = _column(batch.linktype, idx)
            lo = int(off[0]) + HDR + RECORD.size
            hi = int(off[-1]) + HDR + RECORD.size + int(cap[-1])
            region = self._bytes[lo:hi]
            region[range_mask(off + (HDR + RECORD.size) - lo, cap, hi - lo)] = \
                gather_ranges(batch.buf, batch.base[idx], cap)
            new_prod = prod + int(ends[fit - 1])
            ring._prod[1] = new_prod     # no record is left busy
            ring._prod[0] = new_prod
            done += fit

    def drain(self) -> None:
        from vm.ringbuf import BUSY_BIT, DATA_PAGE, DISCARD_BIT, PAGE_SHIFT
        from .sources import Batch
        np = self._np
        ring = self._ring
        cons, prod = int(ring._cons[0]), int(ring._prod[0])
        if cons >= prod:
            return
        mask = ring.mask
        first = cons & mask
        nslots = (prod - cons) >> 3
        # every 8-byte slot that could hold a record header: its page-offset word names the
        # slot's page, its length word is not busy
        lens = self._u32[first >> 2:(first >> 2) + 2 * nslots:2]
        pgs = self._u32[(first >> 2) + 1:(first >> 2) + 2 * nslots:2]
        pages = (ring.size >> PAGE_SHIFT) + 1
        idx = np.flatnonzero((pgs - np.uint32(DATA_PAGE)) < np.uint32(pages))
        at = first + 8 * idx
        idx = idx[pgs[idx] == DATA_PAGE + ((at & mask) >> PAGE_SHIFT)]
        at = first + 8 * idx
        length = lens[idx].astype(np.int64)
        flags = length & (BUSY_BIT | DISCARD_BIT)
        idx = np.flatnonzero((flags & BUSY_BIT) == 0)
        at, length, flags = at[idx], length[idx], flags[idx]
        length &= DISCARD_BIT - 1
        nxt = at + ((length + HDR + 7) & ~7)
        # the records are the chain from the first slot: follow it by pointer doubling
        k = len(at)
        if not k or at[0] != first:
            return                        # the oldest record is not committed yet
        link = np.searchsorted(at, nxt)
        link[(link >= k) | (at[np.minimum(link, k - 1)] != nxt)] = k
        link = np.append(link, k)
        on = np.zeros(k + 1, dtype=bool)
        on[0] = True
        while True:
            grown = on.copy()
            grown[link[on]] = True
            grown[k] = False
            if (grown == on).all():
                break
            on = grown
            link = link[link]
        on = on[:k]
        on &= (flags & DISCARD_BIT) == 0
        rec, length = at[on], length[on]
        if len(rec):
            w = rec >> 3
            info = self._u64[w + 2]
            batch = Batch(self._bytes, rec + HDR + RECORD.size, length - RECORD.size,
                          (info & 0xFFFFFFFF).astype(np.int64),
                          self._u64[w + 1].astype(np.int64),
                          _single(self._u64[w + 3] & 0xFFFF),
                          _single(info >> 32))
            self._write(batch)
        ring._cons[0] = prod


def _column(value, idx):
    """A per-packet column (int for all, or an array) as uint64 values for `idx`."""
    import numpy as np
    if isinstance(value, int):
        return np.uint64(value)
    return value[idx].astype(np.uint64)


def _single(values):
    """An int when every value is the same, else the values as int64."""
    import numpy as np
    values = values.astype(np.int64)
    if len(values) and (values == values[0]).all():
        return int(values[0])
    return values


def batch_writer(sink, stopped=None):
    """How to hand a whole Batch to `sink`: its own `write_batch`, else one `write` per packet
    (until `stopped()`, asked every STOP_EVERY packets)."""
    fn = getattr(sink, "write_batch", None)
    if fn is not None:
        return fn
    stopped = stopped or _never

    def each(batch):
        for lo in range(0, len(batch), STOP_EVERY):
            if stopped():
                return
            for pkt in batch.packets(slice(lo, lo + STOP_EVERY)):
                sink.write(pkt)
    return each


def build_batch(eprog):
    """(BatchProgram, scalar match) for `eprog`, or None when it must run packet by packet."""
    from vm import batch as vmbatch
    bprog = vmbatch.compile_batch(eprog)
    if bprog is None:
        return None
    return bprog, build_filter(eprog)


def _run_batches(source, fast, keep_all, sink, count, stopped) -> int:
    """Block by block: ``fast`` from build_batch, or None to keep ``keep_all`` bytes of every
    packet."""
    import numpy as np
    ring = BatchRing(sink, stopped=stopped)
    matched = 0
    try:
        for batch in source.batches():
            if stopped():
                break
            if fast is None:
                keep = np.full(len(batch), keep_all, dtype=np.int64)
            else:
                bprog, match = fast
                keep = bprog.run(batch.buf, batch.base, batch.caplen, batch.wirelen,
                                 scalar=lambda i, b=batch, m=match: m(b.packet(i).data,
                                                                       int(b.wirelen[i])))
            sel = np.flatnonzero(keep)
            if count is not None and matched + len(sel) >= count:
                sel = sel[:count - matched]
            if len(sel):
                ring.push_batch(batch, sel, keep[sel].astype(np.int64))
                matched += len(sel)
            if count is not None and matched >= count:
                break
    finally:
        ring.drain()
    return matched


def _never() -> bool:
    return False


def run(source, prog, sink, count: int | None = None, keep: int = 262144,
        stopped=None) -> int:
    """Filter every packet of ``source`` through ``prog`` into ``sink`` until the end, -c
    (``count``) or ``stopped()`` (asked between blocks of packets: a signal handler's flag);
    return packets matched.

    ``prog`` None means the packets were filtered already (in the kernel): each keeps ``keep``
    bytes. Capture files go through the JIT fast path (bpfdump.fastpath) where it works, else
    a block at a time through vm.batch for loop-free programs; everything else one packet at
    a time."""
    stopped = stopped or _never
    eprog, keep_all = _program(prog, keep)
    if prog is not None and count != 0:
        from . import fastpath
        matched = fastpath.run(source, eprog, keep_all, sink, count, stopped)
        if matched is not None:
            return matched
    if prog is not None and hasattr(source, "batches") and count != 0:
        fast = None if eprog is None else build_batch(eprog)
        if eprog is None or fast is not None:
            return _run_batches(source, fast, keep_all, sink, count, stopped)
    return _run_packets(source, eprog, keep_all, sink, count, stopped)


def _run_packets(packets, eprog, keep_all, sink, count, stopped) -> int:
    """One packet at a time: through ``eprog``, or keeping ``keep_all`` bytes when None."""
    ring = RecordRing(sink, stopped=stopped)
    match = None if eprog is None else build_filter(eprog)
    matched = 0
    try:
        for pkt in packets:
            if stopped():
                break
            keep = keep_all if match is None else match(pkt.data, pkt.wirelen)
            if keep:
                ring.push(pkt, keep)
                matched += 1
                if count is not None and matched >= count:
                    break
    finally:
        ring.drain()
    return matched


def _program(prog, keep: int):
    """(verified eBPF program or None, bytes to keep of every packet when there is none)."""
    eprog = None if prog is None or accepts_all(prog) else verified_ebpf(prog)
    keep_all = keep if prog is None else prog[0].k if eprog is None else 0
    return eprog, keep_all


def run_live(source, packets, prog, sink, count, keep: int, stopped, poll_ms: int) -> int:
    """A live capture: the source's ring blocks through the fast path (bpfdump.fastpath.live)
    where it can take them, else ``packets`` (the source's packets until ``stopped()``) one
    at a time; ``prog`` None: filtered in the kernel already, keep ``keep`` bytes."""
    from . import fastpath
    eprog, keep_all = _program(prog, keep)
    if count != 0:
        matched = fastpath.run_live(source, eprog, keep_all, sink, count, stopped, poll_ms)
        if matched is not None:
            return matched
    return _run_packets(packets, eprog, keep_all, sink, count, _never)
