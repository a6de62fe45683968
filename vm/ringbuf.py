"""The BPF ring buffer (kernel/bpf/ringbuf.c layout) over shared memory, and its consumer.

Layout of the shared region (a memfd), in pages of ``mmap.PAGESIZE`` from its start, as in the
kernel's ``struct bpf_ringbuf``::

    page 0      our metadata: magic, data size, dropped-record counter
    page 1      consumer_pos (u64)            -- written by the consumer only
    page 2      producer_pos (u64), pending_pos (u64)   -- written by the producer only
    page 3...   data area: ``size`` bytes (a power of two, a multiple of the page size),
                mapped twice back to back so a record that wraps is contiguous in memory

Positions only grow; ``pos & (size - 1)`` is the data offset. Each record is an 8-byte header
(u32 ``len`` with BUSY bit 31 and DISCARD bit 30, u32 ``pg_off`` = page offset of the header
from the region start) followed by ``len`` bytes, rounded up to 8. The producer never lets
``producer_pos - consumer_pos`` exceed ``size - 1``: a record that does not fit is refused
(None / -EAGAIN) and counted in ``dropped``; unread data is never overwritten.

Producer (one process; threads are serialised by a lock): :class:`RingBuffer` with
``reserve``/``submit``/``discard``/``output``/``query``. Consumer (any process):
:class:`Consumer` with ``consume`` and ``poll`` like libbpf's ring_buffer. A RingBuffer passed
to a forked child is shared as is; with other start methods it pickles by duplicating its file
descriptors (multiprocessing's DupFd).

Wake-ups follow the kernel's rule: a submit wakes the consumer (an eventfd) when the consumer
has caught up to that record, or always with BPF_RB_FORCE_WAKEUP, never with
BPF_RB_NO_WAKEUP. The consumer never spins: it sleeps on the eventfd, re-checking the ring at
least every ``RECHECK_MS`` as a guard against a wake-up lost to memory-ordering on CPUs weaker
than x86.
"""
from __future__ import annotations

import ctypes
import errno as _errno
import mmap
import os
import time
from _thread import allocate_lock         # threading.Lock, without importing threading
from .enums import int_enum, int_flag

__all__ = [
    "RingBuffer", "Consumer", "RingBufMap", "Query", "WakeFlag", "valid_size",
    "BUSY_BIT", "DISCARD_BIT", "HDR_SIZE", "MAX_RECORD_SIZE",
]

PAGE = mmap.PAGESIZE
PAGE_SHIFT = PAGE.bit_length() - 1
HDR_SIZE = 8
BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
MAX_RECORD_SIZE = 0xFFFFFFFF // 4      # RINGBUF_MAX_RECORD_SZ
DATA_PAGE = 3                          # the data area starts on page 3 of the region
RECHECK_MS = 100
_MAGIC = int.from_bytes(b"BPFRING1", "little")


@int_enum
class Query:
    AVAIL_DATA = 0
    RING_SIZE = 1
    CONS_POS = 2
    PROD_POS = 3


@int_flag
class WakeFlag:
    NO_WAKEUP = 1
    FORCE_WAKEUP = 2


def __getattr__(name):
    if name == "RingBufMap":          # the map type lives with the other maps, in vm.maps
        from .maps import RingBufMap
        return RingBufMap
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def valid_size(size: int) -> bool:
    """True for a data-area size the kernel accepts: a power of two, a page multiple."""
    return size >= PAGE and size & (size - 1) == 0 and size % PAGE == 0 and size <= 1 << 31


def _round8(n: int) -> int:
    return (n + 7) & ~7


# -- the shared, double-mapped region ------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_MAP_FAILED = ctypes.c_void_p(-1).value
_PROT_NONE = 0
_MAP_FIXED = 0x10
_MAP_NORESERVE = 0x4000


def _mmap(addr, length, prot, flags, fd, offset) -> int:
    ret = _libc.mmap(addr, length, prot, flags, fd, offset)
    if ret is None or ret == _MAP_FAILED:
        err = ctypes.get_errno()
        raise OSError(err, f"ring buffer mmap failed: {os.strerror(err)}")
    return ret


def _map_region(fd: int, size: int):
    """Map the memfd as the kernel maps a ring buffer: header pages, data, data again.
    Returns a ctypes array over the whole region; unmapped when the last view of it dies."""
    total = DATA_PAGE * PAGE + 2 * size
    rw = mmap.PROT_READ | mmap.PROT_WRITE
    base = _mmap(None, total, _PROT_NONE,
                 mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE, -1, 0)
    try:
        _mmap(base, DATA_PAGE * PAGE + size, rw, mmap.MAP_SHARED | _MAP_FIXED, fd, 0)
        _mmap(base + DATA_PAGE * PAGE + size, size, rw, mmap.MAP_SHARED | _MAP_FIXED, fd,
              DATA_PAGE * PAGE)
    except OSError:
        _libc.munmap(base, total)
        raise

    def unmap(self, _munmap=_libc.munmap):
        _munmap(base, total)

    region_type = type("RingRegion", (ctypes.c_char * total,), {"__del__": unmap})
    return region_type.from_address(base)


_fence_lock = allocate_lock()


def _reset_fence_lock() -> None:
    global _fence_lock
    _fence_lock = allocate_lock()


os.register_at_fork(after_in_child=_reset_fence_lock)


def _fence() -> None:
    """A full memory barrier (the lock's atomic read-modify-write; lock-prefixed on x86)."""
    _fence_lock.acquire()
    _fence_lock.release()


class _Ring:
    """Views over a mapped region shared by the producer and the consumer sides."""

    def __init__(self, size: int, memfd: int, eventfd: int):
        self.size = size
        self.mask = size - 1
        self.memfd = memfd
        self.eventfd = eventfd
        region = _map_region(memfd, size)
        mem = memoryview(region).cast("B")
        self._mem = mem
        self._meta = mem[0:PAGE].cast("Q")
        self._cons = mem[PAGE:PAGE + 8].cast("Q")
        self._prod = mem[2 * PAGE:2 * PAGE + 16].cast("Q")
        self._data = mem[DATA_PAGE * PAGE:DATA_PAGE * PAGE + 2 * size]
        self._hdr = self._data.cast("I")

    @property
    def dropped(self) -> int:
        """Records refused because they did not fit (counted by the producer)."""
        return self._meta[2]

    @property
    def consumer_pos(self) -> int:
        return self._cons[0]

    @property
    def producer_pos(self) -> int:
        return self._prod[0]

    def _release(self) -> None:
        for view in (self._hdr, self._data, self._prod, self._cons, self._meta, self._mem):
            view.release()


def _new_memfd(size: int) -> int:
    fd = os.memfd_create("bpf-ringbuf", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, DATA_PAGE * PAGE + size)
    except OSError:
        os.close(fd)
        raise
    return fd


def _rebuild(cls, size, memfd, eventfd):
    ring = cls.__new__(cls)
    RingBuffer._attach(ring, size, memfd.detach(), eventfd.detach())
    return ring


class RingBuffer(_Ring):
    """The producer side (and owner) of a BPF ring buffer of ``size`` data bytes."""

    def __init__(self, size: int):
        if not valid_size(size):
            raise ValueError(f"ring buffer size {size} is not a power-of-two multiple of "
                             f"the page size ({PAGE})")
        memfd = _new_memfd(size)
        eventfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._attach(size, memfd, eventfd)
        self._meta[0] = _MAGIC
        self._meta[1] = size

    def _attach(self, size, memfd, eventfd):
        _Ring.__init__(self, size, memfd, eventfd)
        self._lock = allocate_lock()
        self._pending: dict[int, tuple[memoryview, int]] = {}
        self._closed = False

    def __reduce__(self):
        from multiprocessing.reduction import DupFd
        return _rebuild, (type(self), self.size, DupFd(self.memfd), DupFd(self.eventfd))

    # -- producing ------------------------------------------------------------------------

    def _reserve(self, size: int) -> int | None:
        """Reserve a record; the data offset of its sample, or None (counted as dropped)."""
        total = _round8(size + HDR_SIZE)
        if size < 0 or size > MAX_RECORD_SIZE or total > self.size:
            self._meta[2] += 1
            return None
        hdr, mask = self._hdr, self.mask
        with self._lock:
            cons = self._cons[0]
            prod, pend = self._prod[0], self._prod[1]
            # advance past records committed since: the oldest busy one bounds the producer
            while pend < prod:
                head = hdr[(pend & mask) >> 2]
                if head & BUSY_BIT:
                    break
                pend += _round8((head & ~DISCARD_BIT) + HDR_SIZE)
            self._prod[1] = pend
            new_prod = prod + total
            if new_prod - cons > mask or new_prod - pend > mask:
                self._meta[2] += 1
                return None
            off = prod & mask
            hdr[off >> 2] = size | BUSY_BIT
            hdr[(off >> 2) + 1] = DATA_PAGE + (off >> PAGE_SHIFT)
            self._prod[0] = new_prod                # publish after the header is written
        return off + HDR_SIZE

    def reserve(self, size: int, flags: int = 0) -> memoryview | None:
        """A writable view of ``size`` bytes in the ring, or None when it does not fit (the
        drop is counted) or ``flags`` is not 0. Pass the view to submit() or discard()."""
        if flags:
            return None
        off = self._reserve(size)
        if off is None:
            return None
        view = self._data[off:off + size]
        self._pending[id(view)] = (view, off)
        return view

    def offset_of(self, sample) -> int:
        """The data-area offset of a sample given as a view from reserve() or an int."""
        if isinstance(sample, int):
            return sample
        hit = self._pending.get(id(sample))
        if hit is not None and hit[0] is sample:
            return hit[1]
        addr = ctypes.addressof(ctypes.c_char.from_buffer(sample))
        base = ctypes.addressof(ctypes.c_char.from_buffer(self._data))
        return addr - base

    def _commit(self, sample, flags: int, discard: bool) -> None:
        off = self.offset_of(sample)
        self._pending.pop(id(sample), None)
        head_off = off - HDR_SIZE
        if head_off < 0 or head_off >= self.size or head_off % 8:
            raise ValueError(f"not a ring buffer sample (data offset {off})")
        index = head_off >> 2
        head = self._hdr[index]
        if not head & BUSY_BIT:
            raise ValueError(f"ring buffer record at data offset {head_off} is not reserved")
        self._hdr[index] = (head & ~BUSY_BIT) | (DISCARD_BIT if discard else 0)
        _fence()
        if flags & WakeFlag.FORCE_WAKEUP or \
                (not flags & WakeFlag.NO_WAKEUP and (self._cons[0] & self.mask) == head_off):
            os.eventfd_write(self.eventfd, 1)

    def submit(self, sample, flags: int = 0) -> None:
        """Commit a reserved record so the consumer sees it (bpf_ringbuf_submit)."""
        self._commit(sample, flags, discard=False)

    def discard(self, sample, flags: int = 0) -> None:
        """Give a reserved record back: the consumer skips it (bpf_ringbuf_discard)."""
        self._commit(sample, flags, discard=True)

    def output(self, data, flags: int = 0) -> int:
        """Copy ``data`` into a new record (bpf_ringbuf_output): 0, -EINVAL for bad flags,
        -EAGAIN when it does not fit (counted as dropped)."""
        if flags & ~int(WakeFlag.NO_WAKEUP | WakeFlag.FORCE_WAKEUP):
            return -_errno.EINVAL
        data = memoryview(data).cast("B")
        off = self._reserve(len(data))
        if off is None:
            return -_errno.EAGAIN
        self._data[off:off + len(data)] = data
        self._commit(off, flags, discard=False)
        return 0

    def query(self, flags: int) -> int:
        """bpf_ringbuf_query: AVAIL_DATA, RING_SIZE, CONS_POS or PROD_POS; 0 for anything else."""
        if flags == Query.AVAIL_DATA:
            return self._prod[0] - self._cons[0]
        if flags == Query.RING_SIZE:
            return self.size
        if flags == Query.CONS_POS:
            return self._cons[0]
        if flags == Query.PROD_POS:
            return self._prod[0]
        return 0

    def consumer(self) -> "Consumer":
        return Consumer(self)

    def close(self) -> None:
        """Release this process's mapping and descriptors (views from reserve() become
        invalid once dropped)."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        self._pending.clear()
        self._release()
        os.close(self.memfd)
        os.close(self.eventfd)

    def __del__(self):
        try:
            self.close()
        except (OSError, ValueError, BufferError):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Consumer:
    """Reads records from a RingBuffer, in this or another process (libbpf ring_buffer). One
    consumer per ring at a time: consumer_pos has a single writer.

    ``callback(sample: memoryview) -> int | None`` gets each committed, non-discarded record;
    the view is valid only during the call (copy with ``bytes(sample)`` to keep it). A negative
    return stops consumption and is returned.
    """

    def __init__(self, ring: RingBuffer):
        self.ring = ring
        self.size = ring.size
        self._mask = ring.mask
        self._hdr = ring._hdr
        self._data = ring._data
        self._cons = ring._cons
        self._prod = ring._prod
        import select
        self._poller = select.poll()
        self._poller.register(ring.eventfd, select.POLLIN)

    def fileno(self) -> int:
        """The eventfd that becomes readable on wake-ups (for select/poll loops)."""
        return self.ring.eventfd

    @property
    def dropped(self) -> int:
        return self.ring.dropped

    def available(self) -> int:
        """Bytes of records (headers included) not yet consumed."""
        return self._prod[0] - self._cons[0]

    def _process(self, callback, limit: int) -> int:
        hdr, data, mask, cons_view = self._hdr, self._data, self._mask, self._cons
        count = 0
        cons = cons_view[0]
        fenced = False
        while True:
            prod = self._prod[0]
            if cons >= prod or hdr[(cons & mask) >> 2] & BUSY_BIT:
                if fenced:
                    return count
                _fence()                  # our consumer_pos store before the re-check
                fenced = True
                continue
            fenced = False
            off = cons & mask
            head = hdr[off >> 2]
            length = head & ~(BUSY_BIT | DISCARD_BIT)
            cons += _round8(length + HDR_SIZE)
            if not head & DISCARD_BIT:
                ret = callback(data[off + HDR_SIZE:off + HDR_SIZE + length])
                if ret is not None and ret < 0:
                    cons_view[0] = cons
                    return ret
                count += 1
            cons_view[0] = cons
            if count >= limit:
                return count

    def consume(self, callback, limit: int | None = None) -> int:
        """Process every record available now (at most ``limit``); the number processed, or
        the callback's negative return."""
        return self._process(callback, limit if limit is not None else 1 << 62)

    def _drain_wakeups(self) -> None:
        try:
            os.eventfd_read(self.ring.eventfd)
        except BlockingIOError:
            pass

    def poll(self, timeout_ms: int, callback) -> int:
        """Wait up to ``timeout_ms`` (-1: forever) for records, then consume them; the number
        processed (0 on timeout), or the callback's negative return."""
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        while True:
            self._drain_wakeups()
            count = self._process(callback, 1 << 62)
            if count:
                return count
            wait = RECHECK_MS
            if deadline is not None:
                left = (deadline - time.monotonic()) * 1000
                if left <= 0:
                    return 0
                wait = min(wait, max(int(left) + 1, 1))
            try:
                self._poller.poll(wait)
            except InterruptedError:      # pragma: no cover - PEP 475 retries for us
                pass
