"""Ending a capture on SIGINT, SIGTERM or SIGHUP the way tcpdump does: the loop stops at the next
block, everything captured so far still reaches the printer or the file, and the exit is normal."""
from __future__ import annotations

import _signal as signal          # (the signal module adds only enum wrappers: ~2 ms to load)


class Stopper:
    """While entered, the signals set `stopped` instead of interrupting; the capture loop asks
    it between blocks of packets."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self):
        self.stopped = False
        self._old = {}

    def __enter__(self):
        for sig in self.SIGNALS:
            self._old[sig] = signal.signal(sig, self._stop)
        return self

    def _stop(self, signum, frame) -> None:
        self.stopped = True

    def __call__(self) -> bool:
        return self.stopped

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
