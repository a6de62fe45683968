"""Where matching packets go: the printer, a pcap writer, a counter, or several of them."""
from __future__ import annotations

import sys

from .errors import RuntimeFailure


class PrintSink:
    """Format each packet as tcpdump prints it and write the text to ``out``.

    Lines are written to ``out`` BATCH_LINES at a time (and at close), unless ``line_buffered``
    (-l: each line written and flushed) or ``out`` is interactive (a terminal: each line
    written as it is printed). `write_many(packets)` prints a sequence of packets at once."""

    BATCH_LINES = 64

    def __init__(self, options, out, line_buffered: bool = False):
        from .printer import Printer
        self.printer = Printer(options)
        self._format = self.printer.format
        self._out = out
        self._line_buffered = line_buffered
        self._each = line_buffered or _interactive(out)
        self._lines: list[str] = []
        self.count = 0

    def write(self, pkt) -> None:
        if self._each:
            self._out.write(self._format(pkt) + "\n")
            self.count += 1
            if self._line_buffered:
                self._out.flush()
            return
        lines = self._lines
        lines.append(self._format(pkt))
        self.count += 1
        if len(lines) >= self.BATCH_LINES:
            self._out.write("\n".join(lines) + "\n")
            lines.clear()

    def write_many(self, packets) -> None:
        """Print every packet of ``packets`` (an iterable of Packet) in order."""
        if self._each:
            for pkt in packets:
                self.write(pkt)
            return
        self._drain()
        fmt = self._format
        lines = [fmt(pkt) for pkt in packets]
        self.count += len(lines)
        if lines:
            self._out.write("\n".join(lines) + "\n")

    def _drain(self) -> None:
        if self._lines:
            self._out.write("\n".join(self._lines) + "\n")
            self._lines.clear()

    def close(self) -> None:
        self._drain()
        self._out.flush()


def _interactive(out) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class CountSink:
    """--count: print only the number of packets at the end."""

    def __init__(self, out):
        self._out = out
        self.count = 0

    def write(self, pkt) -> None:
        self.count += 1

    def write_batch(self, batch) -> None:
        self.count += len(batch)

    def close(self) -> None:
        self._out.write(f"{self.count} packet{'' if self.count == 1 else 's'}\n")
        self._out.flush()


class WriteSink:
    """-w FILE: write packets to a pcap file (with -C/-G/-W rotation)."""

    def __init__(self, path: str, linktype: int, snaplen: int, precision: str = "micro",
                 packet_buffered: bool = False, file_size=None, file_count=None,
                 rotate_seconds=None, linktype_ext: int = 0):
        from . import writer
        self._packet_buffered = packet_buffered
        target = sys.stdout.buffer if path == "-" else path
        try:
            if file_size or rotate_seconds:
                self._writer = writer.RotatingWriter(
                    path, linktype, snaplen, precision=precision,
                    file_size=file_size * 1_000_000 if file_size else None,
                    file_count=file_count, rotate_seconds=rotate_seconds,
                    linktype_ext=linktype_ext)
            else:
                self._writer = writer.PcapWriter(target, linktype, snaplen, precision=precision,
                                                 linktype_ext=linktype_ext)
        except OSError as exc:
            raise RuntimeFailure(f"{path}: {exc.strerror}") from None
        self.count = 0

    def write(self, pkt) -> None:
        try:
            self._writer.write(pkt)
            if self._packet_buffered:
                self._writer.flush()
        except OSError as exc:
            raise RuntimeFailure(f"write error: {exc.strerror}") from None
        self.count += 1

    def write_batch(self, batch) -> None:
        """A block of packets at once (the writer rotates between packets itself); with -U,
        packet by packet so that each one is flushed."""
        if self._packet_buffered:
            for pkt in batch.packets():
                self.write(pkt)
            return
        try:
            self._writer.write_batch(batch)
        except OSError as exc:
            raise RuntimeFailure(f"write error: {exc.strerror}") from None
        self.count += len(batch)

    @property
    def pcap_writer(self):
        """The PcapWriter when whole blocks of ready pcap records may be handed over with
        write_records (one plain file, no -U), else None."""
        from .writer import PcapWriter
        if self._packet_buffered or type(self._writer) is not PcapWriter:
            return None
        return self._writer

    def write_records(self, data, count: int) -> None:
        """`count` records already in the writer's format (see pcap_writer)."""
        try:
            self._writer.write_records(data, count)
        except OSError as exc:
            raise RuntimeFailure(f"write error: {exc.strerror}") from None
        self.count += count

    @property
    def file_limit(self) -> int | None:
        """-G with -W: the number of files once the last one allowed is done, else None."""
        if getattr(self._writer, "done", False):
            return self._writer.file_count
        return None

    def close(self) -> None:
        try:
            self._writer.close()
        except OSError as exc:
            raise RuntimeFailure(f"write error: {exc.strerror}") from None


class TeeSink:
    """-w FILE --print: every packet to each sink."""

    def __init__(self, sinks):
        self._sinks = list(sinks)
        self.count = 0

    def write(self, pkt) -> None:
        for sink in self._sinks:
            sink.write(pkt)
        self.count += 1

    def close(self) -> None:
        for sink in self._sinks:
            sink.close()
