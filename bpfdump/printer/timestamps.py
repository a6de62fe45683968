"""Timestamp prefixes for -t (none), default, -tt, -ttt, -tttt, -ttttt, with micro/nano precision."""
from __future__ import annotations

import time


def _hms(sec: int, frac: int, nano: bool) -> str:
    if nano:
        return "%02d:%02d:%02d.%09d" % (sec // 3600, (sec % 3600) // 60, sec % 60, frac)
    return "%02d:%02d:%02d.%06d" % (sec // 3600, (sec % 3600) // 60, sec % 60, frac)


class Clock:
    """Formats packet timestamps; remembers the reference time for -ttt and -ttttt."""

    def __init__(self, ts_format: int = 0, nano: bool = False):
        self.ts_format = ts_format
        self.nano = nano
        self._ref: int | None = None

    def _split(self, ts: int) -> tuple[int, int]:
        sec, ns = divmod(ts, 1_000_000_000)
        return sec, (ns if self.nano else ns // 1000)

    def format(self, ts: int) -> str:
        """The prefix printed before the packet (with its trailing space), '' for -t."""
        fmt = self.ts_format
        if self.nano:
            ts_q = ts
        else:
            ts_q = ts - ts % 1000
        if fmt == 0:
            sec, frac = self._split(ts_q)
            tm = time.localtime(sec)
            return _hms(tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec, frac, self.nano) + " "
        if fmt == 1:
            return ""
        if fmt == 2:
            sec, frac = self._split(ts_q)
            return ("%d.%09d " if self.nano else "%d.%06d ") % (sec, frac)
        if fmt in (3, 5):
            if not self._ref:  # tcpdump treats a zero reference time as "not set yet"
                self._ref = ts_q
            delta = ts_q - self._ref
            sign = "-" if delta < 0 else " "
            sec, frac = self._split(abs(delta))
            if fmt == 3:
                self._ref = ts_q
            # tcpdump formats the delta as a UTC time of day: whole days drop out.
            return sign + _hms(sec % 86400, frac, self.nano) + " "
        if fmt == 4:
            sec, frac = self._split(ts_q)
            tm = time.localtime(sec)
            return "%04d-%02d-%02d %s " % (tm.tm_year, tm.tm_mon, tm.tm_mday,
                                           _hms(tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec,
                                                frac, self.nano))
        raise ValueError("ts_format must be 0..5, got %r" % fmt)
