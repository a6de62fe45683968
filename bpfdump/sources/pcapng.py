"""The pcapng format (RFC 9669 draft / IETF opsawg-pcapng), read the way libpcap reads it.

Every block is: type (u32), total length (u32), body, total length again. A file is one or
more sections; each starts with a Section Header Block (SHB: byte-order magic 0x1A2B3C4D,
version, section length, options) and numbers its interfaces (IDB: link type, snapshot length,
options such as if_tsresol / if_tsoffset) from 0. Packets come in Enhanced (EPB), Simple (SPB)
and obsolete (OPB) Packet Blocks. Other blocks are skipped.

Where this reader is more permissive than libpcap 1.10: interfaces may have different link
types and snapshot lengths (each Packet carries its interface's link type), and sections may
change byte order.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..packet import Packet
from . import (PCAPNG_MAGIC, CaptureError, Source, adjust_snaplen, linktype_to_dlt,
               max_snaplen_for_dlt, needs_post_process, post_process)

SHB_MAGIC = PCAPNG_MAGIC
BT_SHB = 0x0A0D0D0A
BT_IDB = 1
BT_OPB = 2      # obsolete Packet Block
BT_SPB = 3
BT_EPB = 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
SHB_INSANE_MAX = 1024 * 1024
INITIAL_MAX_BLOCKSIZE = 16 * 1024 * 1024
NS = 1_000_000_000

# option codes -> (name, kind); kind: "str", "u8", "u32", "u64", "i64", "bytes"
SHB_OPTIONS = {2: ("shb_hardware", "str"), 3: ("shb_os", "str"), 4: ("shb_userappl", "str")}
IDB_OPTIONS = {
    2: ("if_name", "str"), 3: ("if_description", "str"), 4: ("if_IPv4addr", "bytes"),
    5: ("if_IPv6addr", "bytes"), 6: ("if_MACaddr", "bytes"), 7: ("if_EUIaddr", "bytes"),
    8: ("if_speed", "u64"), 9: ("if_tsresol", "u8"), 10: ("if_tzone", "u32"),
    11: ("if_filter", "bytes"), 12: ("if_os", "str"), 13: ("if_fcslen", "u8"),
    14: ("if_tsoffset", "i64"), 15: ("if_hardware", "str"), 16: ("if_txspeed", "u64"),
    17: ("if_rxspeed", "u64"),
}
EPB_OPTIONS = {2: ("epb_flags", "u32"), 3: ("epb_hash", "bytes"), 4: ("epb_dropcount", "u64"),
               5: ("epb_packetid", "u64"), 6: ("epb_queue", "u32"),
               7: ("epb_verdict", "bytes")}


@dataclass(frozen=True, slots=True)
class Interface:
    """One IDB. `linktype` is a DLT value, `snaplen` as libpcap adjusts it, `tsresol` the
    number of timestamp units per second, `tsoffset` seconds added to every timestamp."""
    linktype: int
    snaplen: int
    tsresol: int = 1_000_000
    tsoffset: int = 0
    section: int = 0
    options: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Section:
    byteorder: str
    version: tuple
    length: int
    offset: int
    options: dict = field(default_factory=dict, compare=False)


def _decode_option(kind: str, value: bytes, order: str):
    if kind == "str":
        return value.decode("utf-8", "replace")
    if kind == "bytes":
        return bytes(value)
    fmt = {"u8": "B", "u32": "I", "u64": "Q", "i64": "q"}[kind]
    if len(value) != struct.calcsize(fmt):
        return bytes(value)
    return struct.unpack(order + fmt, value)[0]


def parse_options(buf, pos: int, end: int, order: str, table: dict, strict: bool = True):
    """Options in buf[pos:end] -> (dict, list of (code, raw value)). Comments (code 1) and
    repeated options collect into lists. Raises ValueError when an option runs past `end`
    (strict) or stops quietly (not strict)."""
    opts: dict = {}
    raw: list = []
    hdr = struct.Struct(order + "HH")
    while pos < end:
        if end - pos < 4:
            if strict:
                raise ValueError("option header cut short")
            break
        code, length = hdr.unpack_from(buf, pos)
        padded = (length + 3) & ~3
        if end - pos - 4 < padded:
            if strict:
                raise ValueError("option value cut short")
            break
        value = bytes(buf[pos + 4:pos + 4 + length])
        pos += 4 + padded
        if code == 0:
            raw.append((0, value))
            break
        raw.append((code, value))
        if code == 1:
            opts.setdefault("comment", []).append(value.decode("utf-8", "replace"))
            continue
        name, kind = table.get(code, (code, "bytes"))
        val = _decode_option(kind, value, order)
        if name in opts:
            prev = opts[name]
            opts[name] = (prev if isinstance(prev, list) else [prev]) + [val]
        else:
            opts[name] = val
    return opts, raw


class PcapngSource(Source):
    """A pcapng file. Beyond Source: `interfaces` (every IDB seen so far, in file order),
    `sections` (every SHB seen so far), `byteorder` of the current section. A Packet's
    `ifindex` is its interface's index in `interfaces` (the pcapng interface id when the file
    has one section)."""
    format = "pcapng"

    def __init__(self, inp):
        super().__init__(inp)
        self.interfaces: list[Interface] = []
        self.sections: list[Section] = []
        self._ifaces: list = []          # current section: per-interface fast tuples
        self._max_block = INITIAL_MAX_BLOCKSIZE
        self._started = False
        pos = inp.ensure(0, 12)
        if inp.end - pos < 12:
            raise self._error("unknown file format", 0)
        bom = bytes(inp.buf[pos + 8:pos + 12])
        if bom == b"\x4d\x3c\x2b\x1a":
            order = "<"
        elif bom == b"\x1a\x2b\x3c\x4d":
            order = ">"
        else:
            raise self._error("unknown file format", 0)
        total = struct.unpack_from(order + "I", inp.buf, pos + 4)[0]
        if total < 28 or total > SHB_INSANE_MAX:
            raise self._error(f"Section Header Block in pcapng dump file has invalid length "
                              f"28 < _{total}_ < {SHB_INSANE_MAX} (BT_SHB_INSANE_MAX)", 4)
        pos = inp.ensure(pos, total)
        if inp.end - pos < total:
            raise self._error(f"truncated pcapng dump file; tried to read {total - 12} bytes, "
                              f"only got {inp.end - pos - 12}", 12)
        major, minor = struct.unpack_from(order + "HH", inp.buf, pos + 12)
        if not (major == 1 and minor in (0, 2)):
            raise self._error(f"unsupported pcapng savefile version {major}.{minor}", 12)
        self._set_order(order)
        # libpcap checks neither the first SHB's trailer nor its options
        self._add_section(pos, total, strict=False)
        pos += total
        # find the first IDB: it gives the capture its link type and snapshot length
        while True:
            block = self._next_block(pos)
            if block is None:
                raise self._error("the capture file has no Interface Description Blocks",
                                  inp.offset(inp.end))
            pos, btype, total = block
            if btype in (BT_EPB, BT_SPB, BT_OPB):
                raise self._error("the capture file has a packet block before any Interface "
                                  "Description Blocks", inp.offset(pos))
            if btype == BT_SHB:
                pos = self._new_section(pos, total)
                continue
            if btype == BT_IDB:
                self._add_interface(pos, total)
                pos += total
                break
            pos += total
        first = self.interfaces[0]
        self.linktype = first.linktype
        self.snaplen = first.snaplen
        self.precision = "nano" if first.tsresol > 1_000_000 else "micro"
        self._pos = pos

    # -- helpers shared by the opening scan and the packet loop -----------------------------------

    def _set_order(self, order: str) -> None:
        self.byteorder = order
        self._u32 = struct.Struct(order + "I")
        self._bhdr = struct.Struct(order + "II")
        self._epb = struct.Struct(order + "IIIII")
        self._epb_block = struct.Struct(order + "IIIIIII")
        self._opb = struct.Struct(order + "HHIIII")

    def _next_block(self, pos: int):
        """Validate the block at pos (making all of it available); returns (pos, type, total)
        or None at a clean end of file."""
        inp = self._in
        pos = inp.ensure(pos, 8)
        have = inp.end - pos
        if have == 0:
            return None
        if have < 8:
            raise self._error(f"truncated pcapng dump file; tried to read 8 bytes, only got "
                              f"{have}", inp.offset(pos))
        btype, total = self._bhdr.unpack_from(inp.buf, pos)
        order = self.byteorder
        if btype == BT_SHB:
            pos, order = self._shb_order(pos)
            total = struct.unpack_from(order + "I", inp.buf, pos + 4)[0]
        self._check_length(pos, total)
        pos = inp.ensure(pos, total)
        self._check_body(pos, total, order)
        return pos, btype, total

    def _shb_order(self, pos: int):
        """An SHB may switch byte order: its length and trailer are in the order its magic
        says. Returns (pos, order)."""
        inp = self._in
        pos = inp.ensure(pos, 12)
        if inp.end - pos < 12:
            return pos, self.byteorder
        bom = bytes(inp.buf[pos + 8:pos + 12])
        return pos, {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}.get(bom, self.byteorder)

    def _check_length(self, pos: int, total: int) -> None:
        off = self._in.offset(pos) + 4
        if total < 12:
            raise self._error(f"block in pcapng dump file has a length of {total} < 12", off)
        if total % 4:
            raise self._error(f"block in pcapng dump file has a length of {total} that is not "
                              f"a multiple of 4", off)
        if total > self._max_block:
            raise self._error(f"pcapng block size {total} > maximum {self._max_block}", off)

    def _check_body(self, pos: int, total: int, order: str) -> None:
        inp = self._in
        have = inp.end - pos
        if have < total:
            raise self._error(f"truncated pcapng dump file; tried to read {total - 8} bytes, "
                              f"only got {have - 8}", inp.offset(pos) + 8)
        trailer = struct.unpack_from(order + "I", inp.buf, pos + total - 4)[0]
        if trailer != total:
            raise self._error(f"block total length in header {total} and trailer {trailer} "
                              f"don't match", inp.offset(pos) + total - 4)

    def _too_short(self, pos: int, btype: int) -> CaptureError:
        return self._error(f"block of type {btype} in pcapng dump file is too short",
                           self._in.offset(pos))

    def _add_section(self, pos: int, total: int, strict: bool) -> None:
        inp = self._in
        order = self.byteorder
        major, minor, length = struct.unpack_from(order + "HHq", inp.buf, pos + 12)
        opts, _ = parse_options(inp.buf, pos + 24, pos + total - 4, order, SHB_OPTIONS,
                                strict=False)
        self.sections.append(Section(order, (major, minor), length, inp.offset(pos), opts))
        self._ifaces = []

    def _new_section(self, pos: int, total: int) -> int:
        """An SHB after the first: new byte order, new interface numbering."""
        inp = self._in
        if total < 28:
            raise self._too_short(pos, BT_SHB)
        bom = bytes(inp.buf[pos + 8:pos + 12])
        order = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}.get(bom)
        if order is None:
            raise self._error("the file has a section with a bad byte order magic field",
                              inp.offset(pos) + 8)
        if order != self.byteorder:
            self._set_order(order)
        major = struct.unpack_from(order + "H", inp.buf, pos + 12)[0]
        if major != 1:
            raise self._error(f"unknown pcapng savefile major version number {major}",
                              inp.offset(pos) + 12)
        self._add_section(pos, total, strict=False)
        return pos + total

    def _add_interface(self, pos: int, total: int) -> None:
        inp = self._in
        order = self.byteorder
        if total < 20:
            raise self._too_short(pos, BT_IDB)
        rawlt, _reserved, snaplen = struct.unpack_from(order + "HHI", inp.buf, pos + 8)
        try:
            opts, raw = parse_options(inp.buf, pos + 16, pos + total - 4, order, IDB_OPTIONS)
        except ValueError:
            raise self._too_short(pos, BT_IDB) from None
        tsresol, tsoffset = 1_000_000, 0
        seen = set()
        off = inp.offset(pos)
        for code, value in raw:
            if code == 0 and value:
                raise self._error(f"Interface Description Block has opt_endofopt option with "
                                  f"length {len(value)} != 0", off)
            if code == 9:
                if len(value) != 1:
                    raise self._error(f"Interface Description Block has if_tsresol option with "
                                      f"length {len(value)} != 1", off)
                if 9 in seen:
                    raise self._error("Interface Description Block has more than one "
                                      "if_tsresol option", off)
                res = value[0]
                if res & 0x80:
                    if res & 0x7F > 63:
                        raise self._error(f"Interface Description Block if_tsresol option "
                                          f"resolution 2^-{res & 0x7F} is too high", off)
                    tsresol = 1 << (res & 0x7F)
                else:
                    if res > 19:
                        raise self._error(f"Interface Description Block if_tsresol option "
                                          f"resolution 10^-{res} is too high", off)
                    tsresol = 10 ** res
            elif code == 14:
                if len(value) != 8:
                    raise self._error(f"Interface Description Block has if_tsoffset option "
                                      f"with length {len(value)} != 8", off)
                if 14 in seen:
                    raise self._error("Interface Description Block has more than one "
                                      "if_tsoffset option", off)
                tsoffset = struct.unpack(order + "q", value)[0]
            seen.add(code)
        dlt = linktype_to_dlt(rawlt)
        snap = adjust_snaplen(dlt, snaplen)
        iface = Interface(dlt, snap, tsresol, tsoffset, len(self.sections) - 1, opts)
        self.interfaces.append(iface)
        # fast form for the packet loop: ts = t * mult + off_ns when mult, else the long way;
        # packets libpcap post-processes (pseudo-headers in the other byte order, USB lengths)
        # go the careful way: their hot-loop snapshot length is -1
        mult = NS // tsresol if NS % tsresol == 0 else 0
        post = order if needs_post_process(dlt, order) else None
        self._ifaces.append((dlt, -1 if post else snap, mult, tsresol, tsoffset * NS,
                             len(self.interfaces) - 1, snap, post))
        limit = 8 + 20 + max_snaplen_for_dlt(dlt) + 131072 + 4
        if limit > self._max_block:
            self._max_block = limit

    # -- packets ----------------------------------------------------------------------------------

    def _packets(self):
        if self._started:
            raise ValueError("a capture file can be iterated only once")
        self._started = True
        inp = self._in
        new = tuple.__new__
        P = Packet
        pos = self._pos
        while True:
            head = self._epb_block.unpack_from     # block header + EPB fixed part, 28 bytes
            u32 = self._u32.unpack_from
            ifaces = self._ifaces
            nif = len(ifaces)
            maxblock = self._max_block
            buf = inp.buf
            end = inp.end
            need = 28
            relook = False
            cur = -1        # the interface whose fields are in the locals below
            while pos + 28 <= end:
                btype, total, ifid, hi, lo, caplen, wirelen = head(buf, pos)
                if btype != BT_EPB or total & 3 or total < 32 or total > maxblock:
                    relook = True
                    break
                nxt = pos + total
                if nxt > end:
                    need = total
                    break
                if u32(buf, nxt - 4)[0] != total:
                    relook = True
                    break
                if ifid != cur:
                    if ifid >= nif:
                        relook = True
                        break
                    dlt, snap, mult, res, offns, index, _, _ = ifaces[ifid]
                    cur = ifid
                if caplen > snap or caplen > total - 32:
                    relook = True
                    break
                if mult:
                    ts = ((hi << 32) | lo) * mult + offns
                else:
                    t = (hi << 32) | lo
                    ts = (t // res) * NS + (t % res) * NS // res + offns
                yield new(P, (ts, wirelen, buf[pos + 28:pos + 28 + caplen], dlt, index))
                pos = nxt
            if relook or (inp.eof and pos < inp.end):
                # anything but a well-formed EPB, or a short block at the end: the careful
                # path (which also raises on a cut block)
                pkt, pos = self._slow_block(pos)
                if pkt is not None:
                    yield pkt
                continue
            if inp.eof:
                break
            pos = inp.refill(pos, need)
        self._pos = pos

    def _slow_block(self, pos: int):
        """Handle one block of any kind at pos; returns (Packet or None, next pos)."""
        block = self._next_block(pos)
        if block is None:  # pragma: no cover - the caller only comes here with bytes left
            return None, pos
        pos, btype, total = block
        buf = self._in.buf
        nxt = pos + total
        if btype == BT_EPB or btype == BT_OPB:
            if total < 32:
                raise self._too_short(pos, btype)
            if btype == BT_EPB:
                ifid, hi, lo, caplen, wirelen = self._epb.unpack_from(buf, pos + 8)
            else:
                ifid, _drops, hi, lo, caplen, wirelen = self._opb.unpack_from(buf, pos + 8)
            t = (hi << 32) | lo
            data_at = pos + 28
        elif btype == BT_SPB:
            if total < 16:
                raise self._too_short(pos, btype)
            ifid, t = 0, 0
            wirelen = self._u32.unpack_from(buf, pos + 8)[0]
            caplen = wirelen
            if self._ifaces:
                caplen = min(wirelen, self._ifaces[0][6])
            data_at = pos + 12
        elif btype == BT_IDB:
            self._add_interface(pos, total)
            return None, nxt
        elif btype == BT_SHB:
            return None, self._new_section(pos, total)
        else:
            return None, nxt
        if ifid >= len(self._ifaces):
            raise self._error(f"a packet arrived on interface {ifid}, but there's no Interface "
                              f"Description Block for that interface", self._in.offset(pos))
        dlt, _, mult, res, offns, index, snap, post = self._ifaces[ifid]
        if caplen > snap:
            raise self._error(f"invalid packet capture length {caplen}, bigger than snaplen "
                              f"of {snap}", self._in.offset(pos))
        if caplen > nxt - 4 - data_at:
            raise self._too_short(pos, btype)
        if mult:
            ts = t * mult + offns
        else:
            ts = (t // res) * NS + (t % res) * NS // res + offns
        data = bytes(buf[data_at:data_at + caplen])
        if post:
            data, wirelen = post_process(dlt, post, data, wirelen)
        return tuple.__new__(Packet, (ts, wirelen, data, dlt, index)), nxt
