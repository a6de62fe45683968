"""Live capture on the fast path: the scan program walks the frames of each TPACKET_V3 ring
block the kernel hands over; frames it leaves (VLAN tag to put back, outgoing packets) are the
live source's own (LiveSource._packet)."""
from __future__ import annotations

from . import programs as P
from .pin import Pinned
from .scan import Scan


def usable(source) -> bool:
    """A raw (not cooked) device captured in both directions or incoming only."""
    return not source.cooked and source.direction in ("inout", "in")


class LiveScan(Scan):
    """The scan program over the blocks of a LiveSource's TPACKET_V3 ring."""

    drop_on_stop = False

    def __init__(self, source, eprog, keep_all, sink, count, stopped=None):
        super().__init__(source, eprog, keep_all, sink, count, stopped)
        st = self.st
        st[P.S_LIMIT // 8] = source.snaplen
        st[P.S_LINKTYPE // 8] = source.linktype

    def head(self) -> str:
        from ..sources import live
        return P.tpacket3_head(live.PACKET_OUTGOING,
                               live.TP_STATUS_VLAN_VALID | live.TP_STATUS_VLAN_TPID_VALID)

    def take(self, pos: int):
        raise AssertionError("LiveScan takes frames in run()")   # pragma: no cover

    def run(self, poll_ms: int = 100) -> int:
        """Blocks until `stopped()` (checked between blocks), -c, or an error of the source."""
        stopped = self.stopped
        source = self.source
        mm_pin = Pinned(source._mm)
        base_addr = mm_pin.address
        try:
            while not stopped() and not source._closed:
                ready = source.ready_block()
                if ready is None:
                    source.wait(poll_ms)
                    continue
                base, _count, used = ready
                stop = self._block(base_addr, base, used)
                source.release_block()
                self.drainer.drain()
                if stop == P.LIMIT:
                    break
            return self.matched
        finally:
            mm_pin.release()
            self.finish()

    def _block(self, base_addr: int, base: int, used: int) -> int:
        """The frames of one block; NEED when all are done, or LIMIT."""
        source = self.source
        off, end = source.first_frame(base), base + used
        while True:
            off, stop = self.scan(base_addr, off, end)
            if stop not in (P.FULL, P.SLOW):
                return stop
            pkt = source._packet(source._mm, off)
            off = source.next_frame(off, end)
            if pkt is not None and self.hand_on(pkt):
                return P.LIMIT
