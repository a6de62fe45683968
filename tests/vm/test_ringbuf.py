"""vm.ringbuf: byte-for-byte against the kernel's BPF ring buffer, and across processes.

Oracle: a kernel BPF_MAP_TYPE_RINGBUF fed by socket-filter programs calling
bpf_ringbuf_output / reserve+submit / reserve+discard (run with BPF_PROG_TEST_RUN), read
through its mmap (consumer page writable, producer page and double-mapped data read-only). The
same steps go to our RingBuffer; return codes, positions and the whole data area must match.
"""
from __future__ import annotations

import errno
import mmap
import multiprocessing
import os
import struct

import pytest

from vm import kernel
from vm.ebpf import Insn
from vm.ringbuf import (BUSY_BIT, DISCARD_BIT, HDR_SIZE, Consumer, Query, RingBuffer,
                        RingBufMap, WakeFlag, valid_size)
from vm.maps import create_map

PAGE = mmap.PAGESIZE
KERNEL_OK, KERNEL_WHY = kernel.available()
needs_kernel = pytest.mark.skipif(not KERNEL_OK, reason=f"bpf(2) unavailable: {KERNEL_WHY}")

# helper ids (include/uapi/linux/bpf.h)
RINGBUF_OUTPUT, RINGBUF_RESERVE, RINGBUF_SUBMIT, RINGBUF_DISCARD = 130, 131, 132, 133


def _payload(step: int, size: int) -> bytes:
    return bytes((step * 31 + i * 7 + 1) & 0xFF for i in range(size))


class KernelRing:
    """A kernel ring buffer map driven by tiny loaded programs; we play its consumer."""

    def __init__(self, size: int):
        self.size = size
        self.map = kernel.KernelMap(27, 0, 0, size)
        self.cons = mmap.mmap(self.map.fd, PAGE, mmap.MAP_SHARED,
                              mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self.prod = mmap.mmap(self.map.fd, PAGE + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ,
                              offset=PAGE)

    def close(self):
        self.cons.close()
        self.prod.close()
        self.map.close()

    def _run(self, insns) -> int:
        fd = kernel.load_socket_filter(insns)
        try:
            ret = kernel.test_run_packet(fd, bytes(20))
        finally:
            kernel.close(fd)
        return ret - (1 << 32) if ret & (1 << 31) else ret

    def _map_ld(self, reg: int):
        return [Insn(0x18, reg, 1, 0, self.map.fd), Insn(0, 0, 0, 0, 0)]   # lddw reg, map

    def output(self, data: bytes, flags: int = 0) -> int:
        insns = [Insn(0x72, 10, 0, -512 + i, b) for i, b in enumerate(data)]   # stb [fp-512+i]
        insns += self._map_ld(1) + [
            Insn(0xBF, 2, 10), Insn(0x07, 2, 0, 0, -512),        # r2 = fp - 512
            Insn(0xB7, 3, 0, 0, len(data)), Insn(0xB7, 4, 0, 0, flags),
            Insn(0x85, 0, 0, 0, RINGBUF_OUTPUT), Insn(0x95)]
        return self._run(insns)

    def reserve_commit(self, data: bytes, discard: bool) -> int:
        """1 when reserve returned NULL, else 0 after submit/discard."""
        fill = [Insn(0x72, 6, 0, i, b) for i, b in enumerate(data)]          # stb [r6+i]
        insns = self._map_ld(1) + [
            Insn(0xB7, 2, 0, 0, len(data)), Insn(0xB7, 3, 0, 0, 0),
            Insn(0x85, 0, 0, 0, RINGBUF_RESERVE),
            Insn(0x55, 0, 0, 2, 0),                                # if r0 != 0 goto +2
            Insn(0xB7, 0, 0, 0, 1), Insn(0x95),
            Insn(0xBF, 6, 0)] + fill + [
            Insn(0xBF, 1, 6), Insn(0xB7, 2, 0, 0, 0),
            Insn(0x85, 0, 0, 0, RINGBUF_DISCARD if discard else RINGBUF_SUBMIT),
            Insn(0xB7, 0, 0, 0, 0), Insn(0x95)]
        return self._run(insns)

    @property
    def consumer_pos(self) -> int:
        return struct.unpack_from("<Q", self.cons, 0)[0]

    @consumer_pos.setter
    def consumer_pos(self, pos: int) -> None:
        struct.pack_into("<Q", self.cons, 0, pos)

    @property
    def producer_pos(self) -> int:
        return struct.unpack_from("<Q", self.prod, 0)[0]

    def data(self) -> bytes:
        return self.prod[PAGE:PAGE + self.size]


def _ours_step(ring: RingBuffer, op, arg, flags):
    if op == "out":
        return ring.output(arg, flags)
    view = ring.reserve(len(arg))
    if view is None:
        return 1
    view[:] = arg
    (ring.discard if op == "discard" else ring.submit)(view)
    return 0


def _scenario(seed: int, size: int, steps: int):
    """Steps mixing outputs of many sizes (some too big), reserve+submit/discard, and
    consumer advances, enough to fill, refuse and wrap the ring several times."""
    import random
    rng = random.Random(seed)
    plan = []
    for step in range(steps):
        kind = rng.random()
        if kind < 0.12:
            plan.append(("consume", rng.choice([1, 2, 3, 5, 100]), 0))
            continue
        length = rng.choice([0, 1, 3, 8, 13, 40, 100, 250, 480])
        op = "out" if kind < 0.7 else ("submit" if kind < 0.85 else "discard")
        flags = rng.choice([0, 0, 0, WakeFlag.NO_WAKEUP, WakeFlag.FORCE_WAKEUP])
        plan.append((op, _payload(step, length), flags if op == "out" else 0))
    return plan


def _consume_records(pos: int, prod: int, data: bytes, size: int, count: int) -> int:
    """Advance a consumer position as libbpf's ring_buffer__consume_n does: over committed
    records until ``count`` non-discarded ones have been seen (kernel header format)."""
    seen = 0
    while pos < prod and seen < count:
        head = struct.unpack_from("<I", data, pos & (size - 1))[0]
        assert not head & BUSY_BIT
        pos += ((head & ~DISCARD_BIT) + HDR_SIZE + 7) & ~7
        seen += not head & DISCARD_BIT
    return pos


SCENARIOS = [("page-a", 1, 4096, 300), ("page-b", 2, 4096, 300), ("two-pages", 7, 8192, 400),
             ("page-c", 4, 4096, 400)]


@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize("seed,size,steps", [s[1:] for s in SCENARIOS],
                         ids=[s[0] for s in SCENARIOS])
def test_matches_kernel_ring_byte_for_byte(seed, size, steps):
    theirs = KernelRing(size)
    ours = RingBuffer(size)
    refused = 0
    try:
        for n, (op, arg, flags) in enumerate(_scenario(seed, size, steps)):
            if op == "consume":
                pos = _consume_records(theirs.consumer_pos, theirs.producer_pos, theirs.data(),
                                       size, arg)
                theirs.consumer_pos = pos
                got = []
                Consumer(ours).consume(lambda s: got.append(bytes(s)), limit=arg)
                assert ours.consumer_pos == pos, f"step {n}"
                continue
            if op == "out":
                want = theirs.output(arg, flags)
            else:
                want = theirs.reserve_commit(arg, op == "discard")
            assert _ours_step(ours, op, arg, flags) == want, f"step {n}: {op} {len(arg)}"
            refused += want != 0
            assert ours.producer_pos == theirs.producer_pos, f"step {n}"
            assert bytes(ours._data[:size]) == theirs.data(), f"step {n}: data areas differ"
            assert ours.query(Query.AVAIL_DATA) == theirs.producer_pos - theirs.consumer_pos
        assert refused and ours.dropped == refused            # the scenario filled the ring
        assert theirs.producer_pos > 2 * size                 # ... and wrapped around it
    finally:
        theirs.close()
        ours.close()


def test_wraparound_view_is_contiguous():
    ring = RingBuffer(PAGE)
    consumer = Consumer(ring)
    try:
        got = []
        sizes = [1000, 1000, 1000, 700]             # the fourth record crosses the end
        for i, size in enumerate(sizes):
            assert ring.output(_payload(i, size)) == 0
            assert consumer.consume(lambda s: got.append(bytes(s))) == 1
        big = _payload(9, PAGE - 2 * HDR_SIZE)     # the largest record that fits an empty ring
        view = ring.reserve(len(big))
        assert view is not None and len(view) == len(big)
        view[:] = big
        ring.submit(view)
        consumer.consume(lambda s: got.append(bytes(s)))
        assert got == [_payload(i, s) for i, s in enumerate(sizes)] + [big]
        assert ring.consumer_pos == ring.producer_pos == sum(
            (s + HDR_SIZE + 7) & ~7 for s in sizes) + PAGE - HDR_SIZE
    finally:
        ring.close()


def test_full_ring_refuses_counts_and_keeps_unread_data():
    ring = RingBuffer(PAGE)
    try:
        accepted, refused = [], 0
        for i in range(100):
            data = _payload(i, 50 + i % 7)
            if ring.output(data) == 0:
                accepted.append(data)
            else:
                refused += 1
        assert refused and ring.dropped == refused
        assert ring.reserve(PAGE) is None and ring.dropped == refused + 1     # never fits
        assert ring.query(Query.AVAIL_DATA) <= PAGE - 1
        got = []
        assert Consumer(ring).consume(lambda s: got.append(bytes(s))) == len(accepted)
        assert got == accepted
    finally:
        ring.close()


def test_discard_is_skipped_and_busy_blocks_consumer():
    ring = RingBuffer(PAGE)
    consumer = Consumer(ring)
    try:
        first = ring.reserve(5)
        second = ring.reserve(6)
        first[:] = b"first"
        second[:] = b"second"
        ring.submit(second)
        got = []
        assert consumer.consume(lambda s: got.append(bytes(s))) == 0      # first still busy
        ring.discard(first)
        assert consumer.consume(lambda s: got.append(bytes(s))) == 1
        assert got == [b"second"]
        with pytest.raises(ValueError, match="not reserved"):
            ring.submit(second)
        assert ring.output(b"x", flags=8) == -errno.EINVAL
        assert ring.reserve(4, flags=1) is None
    finally:
        ring.close()


def test_callback_error_stops_and_keeps_position():
    ring = RingBuffer(PAGE)
    try:
        for i in range(3):
            ring.output(bytes([i]))
        seen = []

        def stop_at_second(sample):
            seen.append(bytes(sample))
            return -7 if len(seen) == 2 else 0

        assert Consumer(ring).consume(stop_at_second) == -7
        assert Consumer(ring).consume(lambda s: seen.append(bytes(s))) == 1
        assert seen == [b"\0", b"\1", b"\2"]
    finally:
        ring.close()


@pytest.mark.parametrize("size,ok", [(PAGE, True), (PAGE * 16, True), (PAGE * 3, False),
                                     (PAGE // 2, False), (0, False), (1 << 31, True)],
                         ids=["page", "16pages", "3pages", "half", "zero", "2g"])
def test_valid_size(size, ok):
    assert valid_size(size) is ok


def test_map_wrapper_and_query():
    rb = create_map(27, 0, 0, 2 * PAGE)
    try:
        assert isinstance(rb, RingBufMap) and rb.max_entries == 2 * PAGE
        assert rb.query(Query.RING_SIZE) == 2 * PAGE and rb.query(99) == 0
        assert rb.output(b"abc") == 0
        assert rb.query(Query.PROD_POS) == 16 and rb.query(Query.CONS_POS) == 0
        assert rb.query(Query.AVAIL_DATA) == 16
    finally:
        rb.close()


# -- across processes ----------------------------------------------------------------------

def _record(seq: int) -> bytes:
    size = 8 + (seq * 2654435761 >> 7) % 193           # 8..200 bytes, varying
    body = bytes(((seq + i) * 13) & 0xFF for i in range(size - 8))
    return struct.pack("<Q", seq) + body


def _producer(ring: RingBuffer, count: int, start) -> None:
    start.wait()
    seq = 0
    while seq < count:
        if ring.output(_record(seq)) == 0:
            seq += 1
        else:
            os.sched_yield()                           # full: let the consumer catch up


def _consumer(ring: RingBuffer, count: int, start, result) -> None:
    consumer = Consumer(ring)
    state = {"next": 0, "bad": None}

    def check(sample):
        seq = struct.unpack_from("<Q", sample)[0]
        if state["bad"] is None and (seq != state["next"] or bytes(sample) != _record(seq)):
            state["bad"] = f"expected record {state['next']}, got {seq} ({len(sample)} bytes)"
        state["next"] += 1

    start.wait()
    idle = 0
    while state["next"] < count and idle < 20:
        idle = 0 if consumer.poll(500, check) else idle + 1
    result.put((state["next"], state["bad"]))


def _exchange(count: int, ctx_name: str = "fork", size: int = 1 << 16):
    ctx = multiprocessing.get_context(ctx_name)
    ring = RingBuffer(size)
    try:
        start, result = ctx.Barrier(2), ctx.Queue()
        consumer = ctx.Process(target=_consumer, args=(ring, count, start, result))
        producer = ctx.Process(target=_producer, args=(ring, count, start))
        consumer.start()
        producer.start()
        received, bad = result.get(timeout=600)
        producer.join(60)
        consumer.join(60)
        assert producer.exitcode == 0 and consumer.exitcode == 0
        assert bad is None, bad
        assert received == count
        assert ring.consumer_pos == ring.producer_pos
    finally:
        ring.close()


def test_two_processes_exchange_50k_records():
    _exchange(50_000)


def test_spawned_processes_share_the_ring():
    _exchange(2_000, "spawn", size=PAGE)


@pytest.mark.exhaustive
def test_two_processes_exchange_1m_records():
    _exchange(1_000_000)


def _sleepy_consumer(ring, result):
    got = []
    count = Consumer(ring).poll(-1, lambda s: got.append(bytes(s)))
    result.put((count, got))


def test_blocked_consumer_is_woken_by_another_process():
    ctx = multiprocessing.get_context("fork")
    ring = RingBuffer(PAGE)
    try:
        result = ctx.Queue()
        proc = ctx.Process(target=_sleepy_consumer, args=(ring, result))
        proc.start()
        assert ring.output(b"wake up") == 0
        assert result.get(timeout=30) == (1, [b"wake up"])
        proc.join(10)
    finally:
        ring.close()


def test_poll_times_out_with_nothing():
    ring = RingBuffer(PAGE)
    try:
        assert Consumer(ring).poll(50, lambda s: None) == 0
        assert Consumer(ring).poll(0, lambda s: None) == 0
    finally:
        ring.close()


def test_dropped_rings_release_descriptors_and_mappings():
    import gc

    def usage():
        with open("/proc/self/maps") as f:
            return len(os.listdir("/proc/self/fd")), len(f.readlines())

    gc.collect()
    before = usage()
    for _ in range(50):
        ring = RingBuffer(1 << 16)
        ring.output(b"abc")
        Consumer(ring).consume(lambda s: None)
        del ring
    gc.collect()
    assert usage() == before


def _signalled(consumer) -> bool:
    """Whether a wake-up is pending on the consumer's eventfd (and clear it)."""
    import select
    ready = select.select([consumer.fileno()], [], [], 0)[0]
    if ready:
        os.eventfd_read(consumer.fileno())
    return bool(ready)


# id, records before (left unconsumed), flags of the next output, expect a wake-up
WAKEUPS = [
    ("caught-up-wakes", 0, 0, True),
    ("behind-does-not-wake", 1, 0, False),
    ("no-wakeup-flag", 0, WakeFlag.NO_WAKEUP, False),
    ("force-wakeup-when-behind", 1, WakeFlag.FORCE_WAKEUP, True),
    ("force-wakeup-caught-up", 0, WakeFlag.FORCE_WAKEUP, True),
]


@pytest.mark.parametrize("backlog,flags,wakes", [w[1:] for w in WAKEUPS],
                         ids=[w[0] for w in WAKEUPS])
def test_wakeup_rules(backlog, flags, wakes):
    """The kernel's bpf_ringbuf_commit rule: wake when the consumer has caught up to the
    record (or with FORCE_WAKEUP), never with NO_WAKEUP."""
    ring = RingBuffer(PAGE)
    consumer = Consumer(ring)
    try:
        for _ in range(backlog):
            ring.output(b"old", WakeFlag.NO_WAKEUP)
        _signalled(consumer)
        assert ring.output(b"new", flags) == 0
        assert _signalled(consumer) is wakes
    finally:
        ring.close()


@pytest.mark.exhaustive
@needs_kernel
def test_many_scenarios_match_kernel_ring():
    for seed in range(100, 160):
        size = PAGE if seed % 3 else 2 * PAGE
        theirs, ours = KernelRing(size), RingBuffer(size)
        try:
            for n, (op, arg, flags) in enumerate(_scenario(seed, size, 250)):
                if op == "consume":
                    pos = _consume_records(theirs.consumer_pos, theirs.producer_pos,
                                           theirs.data(), size, arg)
                    theirs.consumer_pos = pos
                    Consumer(ours).consume(lambda s: None, limit=arg)
                    assert ours.consumer_pos == pos, f"seed {seed} step {n}"
                    continue
                want = theirs.output(arg, flags) if op == "out" else \
                    theirs.reserve_commit(arg, op == "discard")
                assert _ours_step(ours, op, arg, flags) == want, f"seed {seed} step {n}"
                assert bytes(ours._data[:size]) == theirs.data(), f"seed {seed} step {n}"
        finally:
            theirs.close()
            ours.close()


def _map_child(rb, result):
    result.put((type(rb).__name__, int(rb.map_type), rb.max_entries, rb.output(b"from child")))


def test_ringbuf_map_pickles_into_a_spawned_process():
    ctx = multiprocessing.get_context("spawn")
    rb = create_map(27, 0, 0, 2 * PAGE)
    try:
        result = ctx.Queue()
        proc = ctx.Process(target=_map_child, args=(rb, result))
        proc.start()
        assert result.get(timeout=60) == ("RingBufMap", 27, 2 * PAGE, 0)
        proc.join(30)
        got = []
        assert Consumer(rb).consume(lambda s: got.append(bytes(s))) == 1
        assert got == [b"from child"]
    finally:
        rb.close()
