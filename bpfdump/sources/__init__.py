"""Packet sources: capture files (pcap, pcapng) read offline.

`open_offline(path_or_fileobj)` looks at the first four bytes and returns a `Source`:
`.linktype` (DLT of the first interface), `.snaplen`, `.precision` ("micro" | "nano"),
`.path`; iterating yields `bpfdump.packet.Packet`; `.batches(max_packets)` yields `Batch`es
(numpy arrays over the file's own bytes: data offsets, captured and wire lengths, timestamps)
for block-at-a-time filtering; `.close()`; usable as a context manager.

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
import struct
import sys

from ..packet import Packet

__all__ = ["CaptureError", "Source", "Batch", "open_offline", "linktype_to_dlt",
           "dlt_to_linktype", "max_snaplen_for_dlt", "adjust_snaplen"]

BATCH_PACKETS = 65536


PCAPNG_MAGIC = bytes.fromhex("0a0d0d0a")   # a pcapng file starts with a section header block


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


# -- pseudo-headers in the writer's byte order -----------------------------------------------------
# A few link types start with fields in the byte order of the host that captured them. Reading a
# file written on a host of the other byte order, libpcap turns those fields round; so do we.

DLT_PFLOG, DLT_LINUX_SLL, DLT_LINUX_SLL2 = 117, 113, 276
DLT_USB_LINUX, DLT_USB_LINUX_MMAPPED, DLT_NFLOG = 189, 220, 239
SLL_P_CAN, SLL_P_CANFD = 0x000C, 0x000D
SWAPPED_PSEUDO_HEADERS = frozenset({DLT_PFLOG, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_USB_LINUX,
                                    DLT_USB_LINUX_MMAPPED, DLT_NFLOG})


def _flip(buf: bytearray, off: int, size: int) -> None:
    buf[off:off + size] = buf[off:off + size][::-1]


def _swap_pflog(buf: bytearray, wirelen: int) -> None:
    # uid, pid, rule_uid, rule_pid: 32-bit fields at 44..60, each only if the header's own
    # length byte and both lengths cover it
    for off in (44, 48, 52, 56):
        end = off + 4
        if len(buf) < end or wirelen < end or buf[0] < end:
            return
        _flip(buf, off, 4)


def _swap_sll_can(buf: bytearray, wirelen: int, hdrlen: int, proto_at: int) -> None:
    if len(buf) < hdrlen or wirelen < hdrlen:
        return
    if int.from_bytes(buf[proto_at:proto_at + 2], "big") not in (SLL_P_CAN, SLL_P_CANFD):
        return
    if len(buf) < hdrlen + 4 or wirelen < hdrlen + 4:
        return
    _flip(buf, hdrlen, 4)   # the SocketCAN ID


def _swap_usb(buf: bytearray, mmapped: bool) -> None:
    caplen = len(buf)
    # (offset, size) of each host-order field, in order; stop at the first not captured
    fields = [(0, 8), (12, 2), (16, 8), (24, 4), (28, 4), (32, 4), (36, 4)]
    isochronous = caplen > 9 and buf[9] == 0
    if isochronous:
        fields += [(40, 4), (44, 4)]
    if mmapped:
        fields += [(48, 4), (52, 4), (56, 4), (60, 4)]
    for off, size in fields:
        if caplen < off + size:
            return
        _flip(buf, off, size)
    if mmapped and isochronous:
        ndesc = int.from_bytes(buf[60:64], sys.byteorder)
        off = 64
        for _ in range(ndesc):
            for field in (0, 4, 8):
                if caplen < off + field + 4:
                    return
                _flip(buf, off + field, 4)
            off += 16


def _swap_nflog(buf: bytearray, wirelen: int) -> None:
    caplen = len(buf)
    if caplen < 4 or wirelen < 4 or buf[1] != 0:
        return
    pos, caplen, wirelen = 4, caplen - 4, wirelen - 4
    while caplen >= 4:
        _flip(buf, pos, 2)          # tlv_length
        _flip(buf, pos + 2, 2)      # tlv_type
        size = int.from_bytes(buf[pos:pos + 2], sys.byteorder)
        size = (size + 3) & ~3
        if size < 4 or caplen < size or wirelen < size:
            return
        pos, caplen, wirelen = pos + size, caplen - size, wirelen - size


def swap_pseudo_header(dlt: int, data: bytes, wirelen: int) -> bytes:
    """`data` of link type `dlt`, captured on a host of the other byte order, with its
    host-order pseudo-header fields turned into this host's order (libpcap's
    swap_pseudo_headers)."""
    buf = bytearray(data)
    if dlt == DLT_PFLOG:
        _swap_pflog(buf, wirelen)
    elif dlt == DLT_LINUX_SLL:
        _swap_sll_can(buf, wirelen, 16, 14)
    elif dlt == DLT_LINUX_SLL2:
        _swap_sll_can(buf, wirelen, 20, 0)
    elif dlt in (DLT_USB_LINUX, DLT_USB_LINUX_MMAPPED):
        _swap_usb(buf, dlt == DLT_USB_LINUX_MMAPPED)
    elif dlt == DLT_NFLOG:
        _swap_nflog(buf, wirelen)
    return bytes(buf)


NATIVE_ORDER = "<" if sys.byteorder == "little" else ">"
_USB_MMAPPED = struct.Struct("=QBBBBHBBqiiIIiiiiII")   # the 64-byte mmapped USB header


def _fix_usb_mmapped_length(data: bytes, wirelen: int) -> int:
    """The wire length libpcap reports for a memory-mapped Linux USB packet: older libpcaps
    computed it wrongly for completed incoming isochronous transfers (fix_linux_usb_mmapped_
    length)."""
    caplen = len(data)
    if caplen < 64:
        return wirelen
    (_id, event, xfer, endpoint, _dev, _bus, _setup, data_flag, _sec, _usec, _status, urb_len,
     _data_len, _err, _numdesc, _interval, _start, _flags, ndesc) = _USB_MMAPPED.unpack_from(data)
    if (data_flag or xfer != 0 or event != 0x43 or not endpoint & 0x80
            or wirelen != 64 + ndesc * 16 + urb_len):
        return wirelen
    end = 0
    left = caplen - 64
    for i in range(ndesc):
        if left < 16:
            break
        _st, off, length = struct.unpack_from("=iII", data, 64 + 16 * i)
        if length:
            end = max(end, (off + length) & 0xFFFFFFFF)
        left -= 16
    total = (64 + ndesc * 16 + end) & 0xFFFFFFFF
    if total >= caplen:
        wirelen = total
    return max(wirelen, caplen)


def needs_post_process(dlt: int, order: str) -> bool:
    return dlt == DLT_USB_LINUX_MMAPPED or (order != NATIVE_ORDER
                                             and dlt in SWAPPED_PSEUDO_HEADERS)


def post_process(dlt: int, order: str, data: bytes, wirelen: int) -> tuple[bytes, int]:
    """What libpcap does to a packet after reading it (pcap_post_process): turn round a
    pseudo-header written in the other byte order, mend old USB wire lengths."""
    if order != NATIVE_ORDER and dlt in SWAPPED_PSEUDO_HEADERS:
        data = swap_pseudo_header(dlt, data, wirelen)
    if dlt == DLT_USB_LINUX_MMAPPED:
        wirelen = _fix_usb_mmapped_length(data, wirelen)
    return data, wirelen


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
        self._released = 0          # mapped bytes given back (release_before)
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
            try:
                chunk = self._read(want - have)
            except OSError as exc:
                raise CaptureError(f"error reading dump file: {exc.strerror or exc}",
                                   self.base + have, self.path) from None
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

    def release_before(self, pos: int) -> None:
        """A mapped file: let the kernel drop its pages before `pos` (read-only file pages:
        they come back from the page cache if touched again), so memory stays flat however
        long the file."""
        upto = pos & ~(mmap.PAGESIZE - 1)
        if self._mmap is None or upto <= self._released:
            return
        try:
            self._mmap.madvise(mmap.MADV_DONTNEED, self._released, upto - self._released)
        except (AttributeError, OSError, ValueError):
            pass
        self._released = upto

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

    def batches(self, max_packets: int = BATCH_PACKETS):
        """Yield `Batch`es of at most `max_packets` packets, in file order. Like iteration, a
        damaged record raises CaptureError once the good records before it were yielded.
        This generic form packs the iterated packets; formats may index their records in
        place (see PcapSource)."""
        chunk: list = []
        for pkt in self._packets():
            chunk.append(pkt)
            if len(chunk) >= max_packets:
                yield Batch.from_packets(chunk)
                chunk = []
        if chunk:
            yield Batch.from_packets(chunk)

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


class Batch:
    """A block of packets as numpy arrays: packet i is ``buf[base[i]:base[i] + caplen[i]]``.

    `buf` is a uint8 array (for a memory-mapped file the map itself, not a copy); `base`,
    `caplen`, `wirelen`, `ts` (ns) are int64 arrays; `linktype` and `ifindex` are ints when
    every packet shares them, else int64 arrays. `records` (record header offsets in `buf`)
    and `hdrsize` are set when each packet's record in the file is
    ``buf[records[i]:base[i] + caplen[i]]`` with a 16-byte pcap header in `byteorder` and
    `precision` (so a writer with the same layout may copy records as they are)."""
    __slots__ = ("buf", "base", "caplen", "wirelen", "ts", "linktype", "ifindex", "records",
                 "byteorder", "precision", "__weakref__")

    def __init__(self, buf, base, caplen, wirelen, ts, linktype, ifindex=0, records=None,
                 byteorder=None, precision=None):
        self.buf = buf
        self.base = base
        self.caplen = caplen
        self.wirelen = wirelen
        self.ts = ts
        self.linktype = linktype
        self.ifindex = ifindex
        self.records = records
        self.byteorder = byteorder
        self.precision = precision

    def __len__(self) -> int:
        return len(self.base)

    @classmethod
    def from_packets(cls, packets) -> "Batch":
        import numpy as np
        n = len(packets)
        caplen = np.fromiter((len(p.data) for p in packets), dtype=np.int64, count=n)
        base = np.zeros(n, dtype=np.int64)
        if n > 1:
            np.cumsum(caplen[:-1], out=base[1:])
        buf = np.frombuffer(b"".join([p.data for p in packets]) + b"\0", dtype=np.uint8)
        wirelen = np.fromiter((p.wirelen for p in packets), dtype=np.int64, count=n)
        ts = np.fromiter((p.ts for p in packets), dtype=np.int64, count=n)
        lts = {p.linktype for p in packets}
        ifs = {p.ifindex for p in packets}
        linktype = lts.pop() if len(lts) == 1 else np.fromiter(
            (p.linktype for p in packets), dtype=np.int64, count=n)
        ifindex = ifs.pop() if len(ifs) == 1 else np.fromiter(
            (p.ifindex for p in packets), dtype=np.int64, count=n)
        return cls(buf, base, caplen, wirelen, ts, linktype, ifindex)

    def linktypes(self):
        """The distinct link types in this batch."""
        import numpy as np
        if isinstance(self.linktype, int):
            return [self.linktype]
        return np.unique(self.linktype).tolist()

    def packet(self, i: int) -> Packet:
        b = int(self.base[i])
        lt = self.linktype if isinstance(self.linktype, int) else int(self.linktype[i])
        ifi = self.ifindex if isinstance(self.ifindex, int) else int(self.ifindex[i])
        return Packet(int(self.ts[i]), int(self.wirelen[i]),
                      self.buf[b:b + int(self.caplen[i])].tobytes(), lt, ifi)

    def packets(self, indices=None):
        """Packet objects for the given indices (all when None), data copied out."""
        import numpy as np
        if indices is None:
            indices = slice(None)
        base = self.base[indices].tolist()
        end = (self.base[indices] + self.caplen[indices]).tolist()
        ts = self.ts[indices].tolist()
        wire = self.wirelen[indices].tolist()
        n = len(base)
        lt, ifi = self.linktype, self.ifindex
        lts = [lt] * n if isinstance(lt, int) else np.asarray(lt)[indices].tolist()
        ifs = [ifi] * n if isinstance(ifi, int) else np.asarray(ifi)[indices].tolist()
        mem = memoryview(self.buf)
        new = tuple.__new__
        try:
            return [new(Packet, (t, w, mem[b:e].tobytes(), k, f))
                    for t, w, b, e, k, f in zip(ts, wire, base, end, lts, ifs)]
        finally:
            mem.release()


def open_offline(path_or_fileobj) -> Source:
    """Open a pcap or pcapng capture. Accepts a path (str / PathLike / "-" for stdin) or a
    binary file object. Raises CaptureError (bad format) or OSError (missing file...)."""
    from . import pcap

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
        if magic == PCAPNG_MAGIC:
            from . import pcapng
            return pcapng.PcapngSource(inp)
        raise CaptureError("unknown file format", 0, path)
    except BaseException:
        if inp is not None:
            inp.close()
        elif owned:
            fileobj.close()
        raise
