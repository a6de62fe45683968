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


def build_filter(prog):
    """Return ``match(data, wirelen) -> int``: the bytes to keep for a packet (0 = drop)."""
    from vm import interp, translate, verifier
    eprog = translate.to_ebpf(prog)
    verifier.verify(eprog)
    return interp.load(eprog).run


def accepts_all(prog) -> bool:
    """True when the program is a lone `ret #k` with k > 0 (an empty expression)."""
    return len(prog) == 1 and prog[0].code == 0x06 and prog[0].k != 0


class RecordRing:
    """The producer and consumer ends of one in-process BPF ring buffer, draining into a sink."""

    def __init__(self, sink, size: int = RING_SIZE):
        from vm.ringbuf import Consumer, RingBuffer
        self._ring = RingBuffer(size)
        self._consumer = Consumer(self._ring)
        self._sink = sink

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

    def _deliver(self, record) -> int:
        ts, wirelen, ifindex, linktype = RECORD.unpack_from(record, 0)
        self._sink.write(Packet(ts, wirelen, bytes(record[RECORD.size:]), linktype, ifindex))
        return 0

    def drain(self) -> None:
        self._consumer.consume(self._deliver)


def run(source, prog, sink, count: int | None = None, keep: int = 262144) -> int:
    """Filter every packet of ``source`` through ``prog`` into ``sink``; return packets matched.

    ``prog`` None means the packets were filtered already (in the kernel): each keeps ``keep``
    bytes."""
    ring = RecordRing(sink)
    match = None if prog is None or accepts_all(prog) else build_filter(prog)
    keep_all = (keep if prog is None else prog[0].k) if match is None else 0
    matched = 0
    try:
        for pkt in source:
            keep = keep_all if match is None else match(pkt.data, pkt.wirelen)
            if keep:
                ring.push(pkt, keep)
                matched += 1
                if count is not None and matched >= count:
                    break
    finally:
        ring.drain()
    return matched
