"""Printing a capture file on every core: worker processes format blocks of ring records.

The printer is the slow stage of `bpfdump -r FILE` (microseconds of Python a packet, against
tens of nanoseconds for the filter), and formatting one packet needs nothing of the others but
a little state. So blocks of ring records (engine.records layout, one drain of the ring each)
go to forked worker processes, each with its own copy of the sink's Printer, and this process
writes their text in block order.

The one piece of printer state a packet's text depends on is the TCP table behind relative
sequence numbers (`printer.state.tcp_seq`: a connection's first seq/ack, read with `get`
before it is stored). Each worker keeps a replica of that table and records, per block, every
key it touched: the value it found at the first touch, the value it left, and which packets
touched it. This process keeps the true table and checks each block in order: where a key's
first value was the true one, every line of that block is what a single printer would have
printed (a key's later values follow from its first and the block's packets alone), and the
block's final values become the truth. A key that was stale (a connection that began in a
block still being printed elsewhere) has its packets printed again here, from the true
table, and spliced in; a packet that touched two keys (a tunnel, an ICMP error quoting a
segment) sends the whole block through this process's printer. Workers get the changes they
have not seen with their next block.

Taken only where the output is the same whichever process formats a packet: a PrintSink
writing to a file or pipe (not -l, not a terminal), without -# and -ttt/-ttttt (whose text
depends on the packets before), on a machine with more than one core. BPFDUMP_PRINT_WORKERS=N
sets the number of workers (0: print in this process).
"""
from __future__ import annotations

import os
import pickle
import struct
from array import array
from collections import deque

from .engine import records

LENGTH = struct.Struct("<Q")
DEPTH = 2                   # blocks queued per worker


def workers_for(sink) -> int:
    """How many worker processes should print for `sink` (0: print in this process)."""
    from .sinks import PrintSink
    if type(sink) is not PrintSink or sink._each or not hasattr(os, "fork"):
        return 0
    o = sink.printer.opts
    if o.number or o.ts_format in (3, 5):
        return 0
    env = os.environ.get("BPFDUMP_PRINT_WORKERS")
    if env is not None:
        return int(env) if env.isdigit() else 0
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return cores if cores > 1 else 0


class _Recorder(dict):
    """A worker's replica of the TCP table, noting every key a block touches: key -> (value
    at the first touch, array of packet numbers); packets that touched two keys in `multi`."""

    __slots__ = ("cur", "seen", "multi", "_key", "_pkt")

    def __init__(self, table):
        super().__init__(table)
        self.begin()

    def begin(self) -> None:
        self.cur = 0
        self.seen: dict = {}
        self.multi: set = set()
        self._key = self._pkt = None

    def get(self, key, default=None):
        seen = self.seen.get(key)
        cur = self.cur
        if seen is None:
            seen = self.seen[key] = (dict.get(self, key), array("I"))
        touched = seen[1]
        if not touched or touched[-1] != cur:
            touched.append(cur)
        if self._pkt == cur and self._key != key:
            self.multi.add(cur)
        self._key, self._pkt = key, cur
        return dict.get(self, key, default)

    def report(self) -> dict:
        """key -> (first value, last value, packet numbers) for the block just printed."""
        get = dict.get
        return {key: (first, get(self, key), touched)
                for key, (first, touched) in self.seen.items()}


def stale_keys(report: dict, multi, truth: dict):
    """The keys of a block's `report` whose first value was not the true one, or None when a
    packet touched one of them and another key (the block must be printed again whole)."""
    stale = [key for key, (first, _last, _t) in report.items() if truth.get(key) != first]
    if any(i in multi for key in stale for i in report[key][2]):
        return None
    return stale


def _print_block(fmt, table: _Recorder, blob):
    """The block's text, the end offset of each packet's line, the table's report, the
    packets that touched two keys, and the number of packets."""
    table.begin()
    lines = []
    ends = array("I")
    total = 0
    for i, pkt in enumerate(records(blob)):
        table.cur = i
        line = fmt(pkt)
        lines.append(line)
        total += len(line) + 1
        ends.append(total)
    text = "\n".join(lines) + "\n" if lines else ""
    return text, ends, table.report(), table.multi, len(lines)


def _send(fd: int, payload: bytes) -> None:
    data = memoryview(LENGTH.pack(len(payload)) + payload)
    while data:
        data = data[os.write(fd, data):]


def _receive(reader):
    """One message from a buffered reader, or None at the end of the stream."""
    head = reader.read(LENGTH.size)
    if len(head) < LENGTH.size:
        return None
    size, = LENGTH.unpack(head)
    body = reader.read(size)
    return body if len(body) == size else None


def _worker(requests: int, results: int, printer) -> None:
    """A worker's life: blocks in, text and reports out, until its request pipe closes."""
    import queue
    import signal
    import threading
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is the main process's to handle
    table = _Recorder(printer.state.tcp_seq)
    printer.state.tcp_seq = table
    fmt = printer.format
    inbox: queue.SimpleQueue = queue.SimpleQueue()

    def read_requests():
        # always reading, so the main process never waits on a full request pipe while this
        # worker waits on a full result pipe
        with open(requests, "rb", buffering=1 << 20) as reader:
            while True:
                body = _receive(reader)
                inbox.put(body)
                if body is None:
                    return

    threading.Thread(target=read_requests, daemon=True).start()
    while True:
        body = inbox.get()
        if body is None:
            return
        blob, changes = pickle.loads(body)
        dict.update(table, changes)
        try:
            result = _print_block(fmt, table, blob)
        except Exception:           # the main process prints this block itself
            result = None
        _send(results, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))


class _Worker:
    __slots__ = ("pid", "requests", "results", "reader", "changes")

    def __init__(self, pid, requests, results):
        self.pid, self.requests, self.results = pid, requests, results
        self.reader = open(results, "rb", buffering=1 << 20)
        self.changes: dict = {}         # true-table entries this worker has not been sent


class PrintPool:
    """Blocks of ring records in (feed), the sink's output written in order by this process."""

    def __init__(self, sink, nworkers: int):
        self.sink = sink
        self.printer = sink.printer
        self.nworkers = nworkers
        self.workers: list[_Worker] = []
        self.queued: deque = deque()        # (worker, blob), oldest first
        self.turn = 0
        self.failed = False

    @property
    def truth(self) -> dict:
        return self.printer.state.tcp_seq

    # -- the main process's side -------------------------------------------------------------

    def feed(self, blob: bytes) -> None:
        """Print a block of ring records (in order after every block fed before)."""
        if self.failed:
            self._print_here(blob)
            return
        if not self.workers:
            self._start()
        while len(self.queued) >= DEPTH * len(self.workers):
            self._collect()
            if self.failed:
                self._print_here(blob)
                return
        worker = self.workers[self.turn]
        self.turn = (self.turn + 1) % len(self.workers)
        changes, worker.changes = worker.changes, {}
        try:
            _send(worker.requests, pickle.dumps((blob, changes), protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            self._fail()
            self._print_here(blob)
            return
        self.queued.append((worker, blob))

    def finish(self) -> None:
        """Write the text of every block still being printed."""
        while self.queued:
            self._collect()

    def close(self) -> None:
        """Let the workers go (they exit when their request pipe closes) and reap them."""
        workers, self.workers = self.workers, []
        for w in workers:
            for close in (lambda: os.close(w.requests), w.reader.close):
                try:
                    close()
                except OSError:
                    pass
        for w in workers:
            try:
                os.waitpid(w.pid, 0)
            except ChildProcessError:
                pass

    def _start(self) -> None:
        self.sink._drain()
        out = self.sink._out
        out.flush()                     # nothing buffered is written twice by a child
        fds = []
        for _ in range(self.nworkers):
            req_r, req_w = os.pipe()
            res_r, res_w = os.pipe()
            pid = os.fork()
            if pid == 0:                # the worker
                code = 1
                try:
                    for fd in fds + [req_w, res_r]:
                        os.close(fd)
                    _worker(req_r, res_w, self.printer)
                    code = 0
                finally:
                    os._exit(code)
            os.close(req_r)
            os.close(res_w)
            fds += [req_w, res_r]
            self.workers.append(_Worker(pid, req_w, res_r))

    def _collect(self) -> None:
        """Take the oldest block's result, check it against the true table and write it."""
        worker, blob = self.queued.popleft()
        body = _receive(worker.reader)
        if body is None:                # the worker is gone: this process prints from here on
            self._print_here(blob)
            self._fail()
            return
        result = pickle.loads(body)
        if result is None:              # the worker's printer raised: so will this one's
            self._print_here(blob, resend=True)
            return
        text, ends, report, multi, n = result
        truth = self.truth
        stale = stale_keys(report, multi, truth)
        if stale is None:
            self._print_here(blob, resend=True)
            return
        if stale:
            text = self._splice(blob, text, ends, report, stale)
        for key, (_first, last, _t) in report.items():
            if key not in stale:
                truth[key] = last
        for other in self.workers:
            sent = other.changes
            for key in (report if other is not worker else stale):
                sent[key] = truth[key]
        self.sink._out.write(text)
        self.sink.count += n

    def _splice(self, blob, text: str, ends, report: dict, stale: list) -> str:
        """`text` with the lines of the packets that touched a stale key printed again here,
        in order, from the true table (those packets touched no other key)."""
        again = sorted({i for key in stale for i in report[key][2]})
        packets = list(records(blob))
        fmt = self.printer.format
        parts, at = [], 0
        for i in again:
            start = ends[i - 1] if i else 0
            parts.append(text[at:start])
            parts.append(fmt(packets[i]) + "\n")
            at = ends[i]
        parts.append(text[at:])
        return "".join(parts)

    def _print_here(self, blob, resend: bool = False) -> None:
        """Print a block with this process's printer (its table is the truth)."""
        self.sink.write_many(records(blob))
        self.sink._drain()
        if resend:              # the workers' replicas may differ anywhere now
            for other in self.workers:
                other.changes = dict(self.truth)

    def _fail(self) -> None:
        """A worker is gone: print every block still queued here, in order, and stop using
        workers."""
        self.failed = True
        queued, self.queued = list(self.queued), deque()
        for _worker_, blob in queued:
            self._print_here(blob)
        self.close()
