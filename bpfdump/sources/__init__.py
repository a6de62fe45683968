"""Packet sources: capture files (pcap, pcapng) read offline.

`open_offline(path_or_fileobj)` looks at the first four bytes and returns a `Source`:
`.linktype` (DLT of the first interface), `.snaplen`, `.precision` ("micro" | "nano"),
`.path`; iterating yields `bpfdump.packet.Packet`; `.close()`; usable as a context manager.

Regular files are read through mmap; pipes, stdin ("-") and other file objects through a
buffered stream. Bad input raises `CaptureError`, one line with libpcap's wording that names
the file offset it applies to. A damaged record after good ones is raised only once the good
ones have been yielded.
"""
from __future__ import annotations

import io
import mmap
import os
import stat
import sys

__all__ = ["CaptureError", "Source", "open_offline", "linktype_to_dlt", "dlt_to_linktype",
           "max_snaplen_for_dlt", "adjust_snaplen"]


class CaptureError(Exception):
    """A capture file libpcap would refuse. `.message` is libpcap's text, `.offset` the file
    offset it applies to (None when there is none), `.path` the file."""

    def __init__(self, message: str, offset: int | None = None, path: str | None = None):
        self.message = message
        self.offset = offset
        self.path = path
        super().__init__(message)

    def __str__(self) -> str:
        if self.offset is None:
            return self.message
        return f"{self.message} (file offset {self.offset})"


# -- link types -----------------------------------------------------------------------------------
# File headers hold LINKTYPE_ values; the rest of the project speaks DLT_ values (Linux numbering).
# They are equal except for a few historical DLTs whose numbers differ between platforms.

# (From 104 up, LINKTYPE_ and DLT_ values are the same by design.)
_LINKTYPE_TO_DLT = {
    100: 11,    # ATM_RFC1483
    101: 12,    # RAW
    102: 15,    # SLIP_BSDOS
    103: 16,    # PPP_BSDOS
}
_DLT_TO_LINKTYPE = {dlt: lt for lt, dlt in _LINKTYPE_TO_DLT.items()}
_DLT_TO_LINKTYPE.update({14: 101,    # DLT_RAW on OpenBSD
                         19: 106})   # DLT_ATM_CLIP on Linux

# Largest captured length accepted per DLT (libpcap's max_snaplen_for_dlt).
_MAX_SNAPLEN = {231: 128 * 1024 * 1024,   # DBUS
                279: 8 * 1024 * 1024,     # EBHSCR
                249: 1024 * 1024}         # USBPCAP
DEFAULT_MAX_SNAPLEN = 262144
INT_MAX = 0x7FFFFFFF


def linktype_to_dlt(linktype: int) -> int:
    """LINKTYPE_ value from a file header -> DLT_ value."""
    return _LINKTYPE_TO_DLT.get(linktype, linktype)


def dlt_to_linktype(dlt: int) -> int:
    """DLT_ value -> LINKTYPE_ value to put in a file header."""
    return _DLT_TO_LINKTYPE.get(dlt, dlt)


def max_snaplen_for_dlt(dlt: int) -> int:
    return _MAX_SNAPLEN.get(dlt, DEFAULT_MAX_SNAPLEN)


def adjust_snaplen(dlt: int, snaplen: int) -> int:
    """The snapshot length libpcap 1.10 reports for a file header's value."""
    if snaplen == 0 or snaplen > INT_MAX:
        return max_snaplen_for_dlt(dlt)
    return snaplen


# -- byte input ------------------------------------------------------------------------------------

class _Input:
    """A window of file bytes for the record parsers.

    `buf[0:end]` holds file bytes starting at file offset `base`. For an mmap'ed regular file
    the window is the whole file and `eof` is set from the start; for a stream,
    `refill(pos, need)` drops `buf[:pos]` and reads until at least `need` bytes follow it (or
    the stream ends, which sets `eof`). Parsers loop over complete records in the window and
    call `refill` when one is cut by the window's end.
    """
    CHUNK = 1 << 20

    def __init__(self, fileobj, owned: bool, path: str):
        self.path = path
        self._file = fileobj
        self._owned = owned
        self._mmap = None
        self.base = 0
        self.eof = False
        fd = None
        try:
            fd = fileobj.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            fd = None
        if fd is not None:
            try:
                st = os.fstat(fd)
                regular = stat.S_ISREG(st.st_mode)
                pos = fileobj.tell() if regular else 0
            except (OSError, ValueError, io.UnsupportedOperation):
                regular = False
            if regular and st.st_size > pos and pos == 0:
                try:
                    self._mmap = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
                except (OSError, ValueError):
                    self._mmap = None
        if self._mmap is not None:
            try:
                self._mmap.madvise(mmap.MADV_SEQUENTIAL)
            except (AttributeError, OSError):
                pass
            self.buf = self._mmap
            self.end = len(self._mmap)
            self.eof = True
        else:
            self.buf = b""
            self.end = 0
            reader = getattr(fileobj, "read1", None) or fileobj.read
            self._read = reader

    @property
    def mapped(self) -> bool:
        return self._mmap is not None

    def refill(self, pos: int, need: int) -> int:
        """Keep buf[pos:] and read until at least `need` bytes follow it, or EOF (then `eof`
        is set). Returns where the byte that was at `pos` is now (0 after a refill)."""
        if self.eof:
            return pos
        rest = self.buf[pos:self.end]
        self.base += pos
        parts = [rest]
        have = len(rest)
        want = max(need, self.CHUNK)
        while have < need or (have < want and len(parts) == 1):
            chunk = self._read(want - have)
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            have += len(chunk)
        self.buf = b"".join(parts) if len(parts) > 1 else bytes(rest)
        self.end = len(self.buf)
        return 0

    def ensure(self, pos: int, need: int) -> int:
        """Make buf[pos:pos+need] available if the file has that much; returns the new `pos`
        (the window may have moved); compare `end - pos` with `need` to see what came."""
        while self.end - pos < need and not self.eof:
            pos = self.refill(pos, need)
        return pos

    def offset(self, pos: int) -> int:
        return self.base + pos

    def close(self) -> None:
        if self._mmap is not None:
            try:
                self._mmap.close()
            except BufferError:
                pass  # a caller still holds a view; the map goes when it does
            self._mmap = None
        self.buf = b""
        if self._owned:
            self._file.close()


class Source:
    """Common part of the offline sources. Subclasses set linktype/snaplen/precision and
    implement `_packets()`."""
    linktype: int
    snaplen: int
    precision: str
    format: str = ""
    linktype_ext: int = 0     # upper bits of a pcap header's link type (FCS length)
    fcs_len: int | None = None

    def __init__(self, inp: _Input):
        self._in = inp
        self.path = inp.path

    def __iter__(self):
        return self._packets()

    def close(self) -> None:
        self._in.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _error(self, message: str, offset: int | None) -> CaptureError:
        return CaptureError(message, offset, self.path)

    def _packets(self):  # pragma: no cover - abstract
        raise NotImplementedError


def open_offline(path_or_fileobj) -> Source:
    """Open a pcap or pcapng capture. Accepts a path (str / PathLike / "-" for stdin) or a
    binary file object. Raises CaptureError (bad format) or OSError (missing file...)."""
    from . import pcap, pcapng

    if isinstance(path_or_fileobj, (str, bytes, os.PathLike)):
        path = os.fsdecode(path_or_fileobj)
        if path == "-":
            fileobj, owned = sys.stdin.buffer, False
        else:
            fileobj, owned = open(path, "rb"), True
    else:
        fileobj, owned = path_or_fileobj, False
        path = getattr(fileobj, "name", None)
        path = os.fsdecode(path) if isinstance(path, (str, bytes)) else "-"
    inp = None
    try:
        inp = _Input(fileobj, owned, path)
        pos = inp.ensure(0, 4)
        have = inp.end - pos
        if have < 4:
            raise CaptureError(f"truncated dump file; tried to read 4 file header bytes, "
                               f"only got {have}", 0, path)
        magic = bytes(inp.buf[pos:pos + 4])
        if magic in pcap.MAGICS:
            return pcap.PcapSource(inp)
        if magic == pcapng.SHB_MAGIC:
            return pcapng.PcapngSource(inp)
        raise CaptureError("unknown file format", 0, path)
    except BaseException:
        if inp is not None:
            inp.close()
        elif owned:
            fileobj.close()
        raise
