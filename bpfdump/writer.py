"""Writing pcap savefiles, as libpcap's pcap_dump does, and tcpdump's -C/-G/-W file rotation.

`PcapWriter(path_or_fileobj, linktype, snaplen, precision="micro")`: the file header goes out at
open, so the file is a valid (empty) capture from the start and after every `flush()`.
Records are collected in a buffer and written in large writes. When the disk fills up, what
fits is written, a regular file is cut back to its last whole record, and `WriteError` (an
OSError with a one-line message) is raised.

`RotatingWriter(template, linktype, snaplen, ...)` adds -C (file size), -W (file count) and -G
(seconds per file, strftime in the name) with tcpdump's file names: see `rotation_name`.
"""
from __future__ import annotations

import errno
import os
import stat
import struct
import sys
import time

from .sources import dlt_to_linktype

__all__ = ["PcapWriter", "RotatingWriter", "WriteError", "rotation_name", "file_header"]

MAGIC_MICRO = 0xA1B2C3D4
MAGIC_NANO = 0xA1B23C4D
_FILE_HEADER = struct.Struct("=IHHiIII")
_RECORD = struct.Struct("=IIII")
BUFFER_SIZE = 1 << 20
NATIVE = "<" if sys.byteorder == "little" else ">"


class WriteError(OSError):
    """Writing a capture failed (disk full, broken pipe...). str() is one line."""

    def __str__(self) -> str:
        where = f"{self.filename}: " if self.filename else ""
        return f"{where}{self.strerror}"


def file_header(linktype: int, snaplen: int, precision: str = "micro",
                linktype_ext: int = 0) -> bytes:
    """The 24-byte pcap file header, in this machine's byte order as libpcap writes it.
    `linktype` is a DLT value (converted to the LINKTYPE value files carry); `linktype_ext`
    the upper bits (FCS length) a source file had, which libpcap copies."""
    if precision not in ("micro", "nano"):
        raise ValueError(f"precision must be 'micro' or 'nano', not {precision!r}")
    magic = MAGIC_NANO if precision == "nano" else MAGIC_MICRO
    return _FILE_HEADER.pack(magic, 2, 4, 0, 0, snaplen & 0xFFFFFFFF,
                             (dlt_to_linktype(linktype) | linktype_ext) & 0xFFFFFFFF)


class PcapWriter:
    """A pcap file being written. `write(pkt)` takes a bpfdump.packet.Packet (or anything with
    .ts in ns, .wirelen and .data); data longer than `snaplen` is cut to it. Pass a source's
    `linktype_ext` to keep its FCS-length bits in the header, as tcpdump -w does."""

    def __init__(self, path_or_fileobj, linktype: int, snaplen: int, precision: str = "micro",
                 buffer_size: int = BUFFER_SIZE, linktype_ext: int = 0):
        self.linktype = linktype
        self.snaplen = snaplen
        self.precision = precision
        self._header = file_header(linktype, snaplen, precision, linktype_ext)
        self._nano = precision == "nano"
        self._limit = buffer_size
        self._buf = bytearray()
        self._closed = False
        self._fd = None
        self._file = None
        self._owned = False
        if isinstance(path_or_fileobj, (str, bytes, os.PathLike)):
            self.path = os.fsdecode(path_or_fileobj)
            if self.path == "-":
                self._use_fileobj(sys.stdout.buffer)
            else:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                self._owned = True
        else:
            name = getattr(path_or_fileobj, "name", None)
            self.path = os.fsdecode(name) if isinstance(name, (str, bytes)) else "-"
            self._use_fileobj(path_or_fileobj)
        self._regular = False
        if self._fd is not None:
            try:
                self._regular = stat.S_ISREG(os.fstat(self._fd).st_mode)
            except OSError:
                pass
        self.bytes_written = 0    # bytes handed to the OS
        self.count_flushed = 0    # flushes that completed
        self.size = 0             # bytes written or buffered: what ftell would say
        self.count = 0
        self._buf += self._header
        self.size = len(self._header)
        try:
            self.flush()
        except BaseException:
            self._abandon()
            raise

    def _use_fileobj(self, fileobj) -> None:
        # a file object with a real descriptor is written through the descriptor (so a full
        # disk can be handled exactly); anything else through its write()
        try:
            fileobj.flush()
            self._fd = fileobj.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None
            self._file = fileobj

    # -- writing ----------------------------------------------------------------------------------

    def write(self, pkt) -> None:
        data = pkt.data
        caplen = len(data)
        if caplen > self.snaplen:
            data = data[:self.snaplen]
            caplen = self.snaplen
        sec, frac = divmod(pkt.ts, 1_000_000_000)
        if not self._nano:
            frac //= 1000
        buf = self._buf
        buf += _RECORD.pack(sec & 0xFFFFFFFF, frac, caplen, pkt.wirelen)
        buf += data
        self.size += 16 + caplen
        self.count += 1
        if len(buf) >= self._limit:
            self.flush()

    def write_batch(self, batch, indices=None) -> None:
        """Write the packets of a `bpfdump.sources.Batch` (those at `indices`, else all) as
        `write` would, one block of records at a time."""
        if indices is not None:
            batch = select(batch, indices)
        if not len(batch):
            return
        block = None
        if batch.records is not None and batch.byteorder == NATIVE and \
                batch.precision == self.precision and int(batch.caplen.max()) <= self.snaplen:
            # the input's records are already what we would write: copy them as they are
            block = gather_ranges(batch.buf, batch.records,
                                  batch.base - batch.records + batch.caplen)
        if block is None:
            block = pcap_records(batch, self.snaplen, self._nano)
        self.write_records(block.data, len(batch))

    def write_records(self, data, count: int) -> None:
        """Append `count` records already in this writer's format (16-byte headers in this
        machine's byte order and precision, data at most `snaplen` long), e.g. from
        bpfdump.fastpath's drain program, or write_batch's block). A large block is written
        from where it is, without a copy into the buffer."""
        self.size += len(data)
        self.count += count
        if len(self._buf) + len(data) < self._limit:
            self._buf += data
            return
        self.flush()
        self._buf = data
        self.flush()

    def flush(self) -> None:
        """Hand everything buffered to the OS; the file is then a complete capture."""
        if not len(self._buf):
            if self._file is not None:
                self._file.flush()
            return
        data = self._buf
        self._buf = bytearray()
        if self._file is not None:
            try:
                self._file.write(data)
                self._file.flush()
            except OSError as exc:
                raise self._error(exc) from None
            self.bytes_written += len(data)
            return
        view = memoryview(data)
        done = 0
        try:
            while done < len(view):
                done += os.write(self._fd, view[done:])
        except OSError as exc:
            self.bytes_written += done
            self._cut_back(data, done)
            raise self._error(exc) from None
        finally:
            view.release()
        self.bytes_written += done
        self.count_flushed += 1

    def _cut_back(self, data: bytearray, done: int) -> None:
        """After a short write of `data` (records from a record boundary on; `done` bytes of
        it reached the file), drop the partial record at the end of a regular file so what is
        on disk still reads cleanly."""
        if not self._regular:
            return
        keep = _whole_records(data, done, self._header if self.count_flushed == 0 else b"")
        try:
            end = os.lseek(self._fd, 0, os.SEEK_CUR)
            os.ftruncate(self._fd, end - done + keep)
            os.lseek(self._fd, end - done + keep, os.SEEK_SET)
            self.bytes_written -= done - keep
        except OSError:
            pass

    def _error(self, exc: OSError) -> WriteError:
        code = exc.errno or errno.EIO
        return WriteError(code, exc.strerror or os.strerror(code),
                          None if self.path == "-" else self.path)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.flush()
        finally:
            self._abandon()

    def _abandon(self) -> None:
        self._closed = True
        if self._owned and self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def select(batch, indices):
    """The packets of `batch` at `indices`, as a Batch over the same buffer."""
    from .sources import Batch
    lt, ifi = batch.linktype, batch.ifindex
    return Batch(batch.buf, batch.base[indices], batch.caplen[indices],
                 batch.wirelen[indices], batch.ts[indices],
                 lt if isinstance(lt, int) else lt[indices],
                 ifi if isinstance(ifi, int) else ifi[indices],
                 None if batch.records is None else batch.records[indices],
                 batch.byteorder, batch.precision)


def range_mask(starts, lengths, size: int):
    """A bool array of `size` bytes, True inside the ranges [starts[i], starts[i] +
    lengths[i]) (ascending, not overlapping) and False elsewhere."""
    import numpy as np
    n = len(starts)
    counts = np.empty(2 * n + 1, dtype=np.int64)
    counts[0] = starts[0] if n else size
    if n:
        counts[2:-1:2] = starts[1:] - (starts[:-1] + lengths[:-1])
        counts[1::2] = lengths
        counts[-1] = size - (starts[-1] + lengths[-1])
    pattern = np.zeros(2 * n + 1, dtype=bool)
    pattern[1::2] = True
    return np.repeat(pattern, counts)


def gather_ranges(src, starts, lengths):
    """The bytes of the ranges src[starts[i]:starts[i] + lengths[i]] (ascending, not
    overlapping) one after the other, as a uint8 array."""
    import numpy as np
    if not len(starts):
        return np.empty(0, dtype=np.uint8)
    lo = int(starts[0])
    hi = int(starts[-1] + lengths[-1])
    return src[lo:hi][range_mask(starts - lo, lengths, hi - lo)]


def pcap_records(batch, snaplen: int, nano: bool) -> bytearray:
    """The pcap records (16-byte header, in this machine's byte order, then the data cut to
    `snaplen`) of every packet of `batch`, in one block."""
    import numpy as np
    n = len(batch)
    caplen = np.minimum(batch.caplen, snaplen)
    ts = batch.ts
    sec = ts // 1_000_000_000
    frac = ts - sec * 1_000_000_000
    if not nano:
        frac //= 1000
    head = np.empty((n, 4), dtype=np.uint32)
    head[:, 0] = sec & 0xFFFFFFFF
    head[:, 1] = frac
    head[:, 2] = caplen
    head[:, 3] = batch.wirelen
    size = caplen + 16
    at = np.zeros(n, dtype=np.int64)
    np.cumsum(size[:-1], out=at[1:])
    total = int(at[-1] + size[-1])
    out = np.empty(total, dtype=np.uint8)
    data = range_mask(at + 16, caplen, total)
    out[data] = gather_ranges(batch.buf, batch.base, caplen)
    # the headers, one 32-bit field at a time through an unaligned view
    fields = np.ndarray((total - 3,), dtype=np.uint32, buffer=out, strides=(1,))
    for j in range(4):
        fields[at + 4 * j] = head[:, j]
    return out


def _whole_records(data, done: int, header: bytes) -> int:
    """How many of the first `done` bytes of `data` (our own records, preceded by the file
    header when it was in this write) make whole records."""
    pos = 0
    if header:
        if done < len(header):
            return done    # a cut header cannot be mended; leave it as it is
        pos = len(header)
    while pos + 16 <= done:
        caplen = _RECORD.unpack_from(data, pos)[2]
        if pos + 16 + caplen > done:
            break
        pos += 16 + caplen
    return pos


# -- rotation ------------------------------------------------------------------------------------

def _count_digits(file_count: int | None) -> int:
    """How many digits tcpdump pads file numbers to with -W N: those of N-1."""
    if not file_count:
        return 0
    n, digits = file_count - 1, 0
    while n > 0:
        digits += 1
        n //= 10
    return digits


def rotation_name(template: str, count: int = 0, file_count: int | None = None,
                  when: float | None = None) -> str:
    """The name tcpdump gives an output file: `template` through strftime (local time `when`)
    when -G is used, then the file number `count` appended, zero-padded to the digits of
    file_count-1 when -W is given; nothing is appended for the first file without -W."""
    name = time.strftime(template, time.localtime(when)) if when is not None else template
    digits = _count_digits(file_count)
    if count == 0 and digits == 0:
        return name
    return f"{name}{count:0{digits}d}"


class RotatingWriter:
    """-w with -C / -W / -G, as tcpdump does it.

    file_size (bytes): before writing a packet, if the current file already holds more than
    this, the next file is started (file, file1, file2...; with file_count they wrap round after
    file_count files). rotate_seconds: a new file (name through strftime) when that many seconds
    have passed since the current one was opened (checked when a packet comes); with file_count
    and no file_size, stop after that many files: `.done` becomes True and later writes are
    ignored (tcpdump then prints "Maximum file limit reached: N" and exits). `clock` gives the
    time (default time.time).
    """

    def __init__(self, template: str, linktype: int, snaplen: int, precision: str = "micro",
                 file_size: int | None = None, file_count: int | None = None,
                 rotate_seconds: int | None = None, clock=time.time, linktype_ext: int = 0):
        self.template = template
        self.linktype_ext = linktype_ext
        self.linktype = linktype
        self.snaplen = snaplen
        self.precision = precision
        self.file_size = file_size
        self.file_count = file_count
        self.rotate_seconds = rotate_seconds
        self._clock = clock
        self._size_count = 0      # -C file number
        self._time_count = 0      # -G files opened so far
        self.done = False
        self.names: list[str] = []
        self._opened_at = clock() if rotate_seconds else None
        self._writer = self._open()

    def _name(self) -> str:
        when = self._opened_at if self.rotate_seconds else None
        if self.file_size:
            return rotation_name(self.template, self._size_count, self.file_count, when)
        return rotation_name(self.template, 0, None, when)

    def _open(self) -> PcapWriter:
        name = self._name()
        self.names.append(name)
        return PcapWriter(name, self.linktype, self.snaplen, self.precision,
                          linktype_ext=self.linktype_ext)

    @property
    def path(self) -> str:
        return self.names[-1]

    def write(self, pkt) -> None:
        if self.done:
            return
        if self.rotate_seconds:
            now = self._clock()
            if now - self._opened_at >= self.rotate_seconds:
                self._time_count += 1
                self._writer.close()
                if not self.file_size and self.file_count and \
                        self._time_count >= self.file_count:
                    # tcpdump prints "Maximum file limit reached: N" and stops here
                    self.done = True
                    return
                self._opened_at = now
                self._size_count = 0
                self._writer = self._open()
        if self.file_size and self._writer.size > self.file_size:
            self._writer.close()
            self._size_count += 1
            if self.file_count and self._size_count >= self.file_count:
                self._size_count = 0
            self._writer = self._open()
        self._writer.write(pkt)

    def write_batch(self, batch, indices=None) -> None:
        if indices is not None:
            batch = select(batch, indices)
        for pkt in batch.packets():
            self.write(pkt)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
