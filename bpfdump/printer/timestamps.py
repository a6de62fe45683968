"""Timestamp prefixes for -t (none), default, -tt, -ttt, -tttt, -ttttt, with micro/nano precision.

The clock prints many packets of the same second in a row: the local-time text of the last
second seen ("HH:MM:SS." or "YYYY-MM-DD HH:MM:SS.") is kept, so only the fraction is formatted
per packet.
"""
from __future__ import annotations

import time


def _hms(sec: int) -> str:
    return "%02d:%02d:%02d." % (sec // 3600, (sec % 3600) // 60, sec % 60)


class Clock:
    """Formats packet timestamps; remembers the reference time for -ttt and -ttttt."""

    def __init__(self, ts_format: int = 0, nano: bool = False):
        if not 0 <= ts_format <= 5:
            raise ValueError("ts_format must be 0..5, got %r" % ts_format)
        self.ts_format = ts_format
        self.nano = nano
        self._ref: int | None = None
        self._frac = "%09d " if nano else "%06d "
        self._unit = 1 if nano else 1000        # nanoseconds per printed fraction digit step
        self._sec_ns = -(1 << 80)               # the second whose text is in self._prefix, in ns
        self._prefix = ""
        self.format = (self._local, self._none, self._epoch, self._delta, self._local,
                       self._delta)[ts_format]

    def _none(self, ts: int) -> str:
        return ""

    def _local(self, ts: int) -> str:
        """Default and -tttt: local time of day (with the date for -tttt)."""
        ns = ts - self._sec_ns
        if not 0 <= ns < 1_000_000_000:     # another second: its text is made once
            sec, ns = divmod(ts, 1_000_000_000)
            tm = time.localtime(sec)
            text = _hms(tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec)
            if self.ts_format == 4:
                text = "%04d-%02d-%02d %s" % (tm.tm_year, tm.tm_mon, tm.tm_mday, text)
            self._sec_ns = sec * 1_000_000_000
            self._prefix = text
        return self._prefix + self._frac % (ns // self._unit)

    def _epoch(self, ts: int) -> str:
        """-tt: seconds since the epoch."""
        sec, ns = divmod(ts, 1_000_000_000)
        return "%d.%s" % (sec, self._frac % (ns // self._unit))

    def _delta(self, ts: int) -> str:
        """-ttt (since the previous packet) and -ttttt (since the first packet)."""
        ts_q = ts - ts % self._unit
        if not self._ref:  # tcpdump treats a zero reference time as "not set yet"
            self._ref = ts_q
        delta = ts_q - self._ref
        sign = "-" if delta < 0 else " "
        sec, ns = divmod(abs(delta), 1_000_000_000)
        if self.ts_format == 3:
            self._ref = ts_q
        # tcpdump formats the delta as a UTC time of day: whole days drop out.
        return sign + _hms(sec % 86400) + self._frac % (ns // self._unit)
