"""The offline fast path: capture records walked, filtered and handed on by JIT-compiled eBPF.

Two small eBPF programs of our own (programs.py) do the per-packet work, compiled to machine
code by `vm.jit` together with the filter:

- the *scan* program walks the records of a pcap or pcapng file in memory; for each one it
  fills the socket-filter context block (packet pointer, captured length, wire length), calls
  the filter as a bpf-to-bpf subprogram, and for a packet the filter keeps it writes one record
  into the BPF ring buffer exactly as `engine.RecordRing` does;
- the *drain* program is the consumer end for a pcap writer (drain.py): it turns the ring's
  records into pcap records in an output buffer, or, for --count, only counts them. Other
  sinks (the printer) take the records one by one from `engine.RecordRing.drain`.

The programs stop and hand control back to Python (scan.py) whenever something needs a
decision: the window is exhausted or ends in a partial record, the ring is full, a record is
one for the reader's careful path (pcap: captured length over the snapshot length; pcapng:
any block but a plain Enhanced Packet Block), or -c was reached. The unusual is therefore
handled by the readers' own Python code; the programs do the plain case, nearly every record.

`engine.run` uses it when `vm.jit.available()`; the environment variable BPFDUMP_JIT=0 turns
it off (then engine.py's numpy block path runs).
"""
from __future__ import annotations

from ..engine import jit_enabled       # (the JIT is x86-64 only: a little-endian machine)


def scan_class(source):
    """The Scan class for `source`, or None when the fast path can't take it: a pcap file
    whose records need no post-processing and whose length fields are in their modern order,
    or a pcapng file, where jit_enabled()."""
    if getattr(source, "_started", True):
        return None
    fmt = getattr(source, "format", "")
    if fmt == "pcap":
        from ..sources import needs_post_process
        from ..sources.pcap import NOT_SWAPPED
        if source._order != NOT_SWAPPED or needs_post_process(source.linktype,
                                                              source.byteorder):
            return None
    elif fmt != "pcapng":
        return None
    if not jit_enabled():
        return None
    from . import scan
    return scan.PcapScan if fmt == "pcap" else scan.PcapngScan


def run(source, eprog, keep_all: int, sink, count: int | None, stopped=None):
    """Filter `source` through `eprog` (None: keep `keep_all` bytes of every packet) into
    `sink` until the end, -c or `stopped()`; the packets matched, or None when the fast path
    can't take this source or program (nothing has been read then)."""
    cls = scan_class(source)
    if cls is None:
        return None
    from vm import jit
    try:
        scan = cls(source, eprog, keep_all, sink, count, stopped)
    except jit.JitError:
        return None
    return scan.run()


def run_live(source, eprog, keep_all: int, sink, count, stopped, poll_ms: int):
    """Capture from the live `source` until `stopped()`, -c or an error, block by block on
    the fast path; the packets matched, or None when it can't take this source."""
    from . import live
    if not live.usable(source) or not jit_enabled():
        return None
    from vm import jit
    try:
        scan = live.LiveScan(source, eprog, keep_all, sink, count, stopped)
    except jit.JitError:
        return None
    return scan.run(poll_ms)
