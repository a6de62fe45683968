"""Live capture: an AF_PACKET socket with a memory-mapped TPACKET_V3 receive ring.

``LiveSource(iface, snaplen, promisc, buffer_kib, direction, immediate)`` opens the device the
way libpcap 1.10 does on Linux and iterates :class:`bpfdump.packet.Packet` records (ts in ns,
wirelen, data, linktype, ifindex):

- an Ethernet or loopback device is captured raw (DLT_EN10MB); a VLAN tag the kernel took off
  (``tp_vlan_tci``) is put back into the frame, as libpcap does;
- ``any`` (and devices with other link layers) are captured cooked (SOCK_DGRAM) and each packet
  gets a 20-byte LINUX_SLL2 header built from the ring's sockaddr_ll (protocol, ifindex,
  hardware type, packet type, link-layer address);
- on the loopback device the outgoing copy of each packet is skipped (it is seen again as
  incoming), and ``direction`` ("in", "out", "inout") filters on the packet type;
- ``stats() -> (received, dropped)`` accumulates PACKET_STATISTICS (each read resets the
  kernel's counters), as libpcap's ps_recv / ps_drop.

The ring holds ``buffer_kib`` KiB in blocks; a block is handed to us when full or after the
retire timeout (1000 ms like tcpdump, 1 ms with ``immediate``). ``attach(program)`` (or
``kernel_filter=``) puts a filter in the kernel (SO_ATTACH_FILTER for cBPF, SO_ATTACH_BPF for
eBPF); on a cooked socket the kernel's filter sees the packet from its network header, so an
SLL2 cBPF program is rewritten for it as libpcap does, or left to userspace when it can't be.

Failures are :class:`LiveError`, one line worded as tcpdump/libpcap word them: at open "No such
device exists", "That device is not up", "You don't have permission to perform this capture on
that device (socket: Operation not permitted)"; while capturing "The interface disappeared" when
the device is deleted (taken down, it is waited for, as tcpdump does).
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import select
import socket
import struct
import time

from ..packet import Packet

__all__ = ["LiveError", "LiveSource", "sll2_for_cooked_socket", "DLT_EN10MB", "DLT_LINUX_SLL2"]

DLT_EN10MB = 1
DLT_LINUX_SLL2 = 276

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
TPACKET_V3 = 2
PACKET_OUTGOING = 4

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
TPACKET_ALIGNMENT = 16
TPACKET3_HDR = struct.Struct("<IIIIIIHHIIHH")        # next, sec, nsec, snaplen, len, status,
                                                    # mac, net, rxhash, vlan_tci, vlan_tpid, pad
SOCKADDR_LL = struct.Struct("<HHiHBB8s")            # family, protocol(BE), ifindex, hatype,
                                                    # pkttype, halen, addr
BLOCK_HDR = struct.Struct("<IIIIII")                # version, offset_to_priv, block_status,
                                                    # num_pkts, offset_to_first_pkt, blk_len
SLL2_HDR = struct.Struct(">HHIHBB8s")
SLL2_LEN = SLL2_HDR.size                            # 20

SIOCGIFFLAGS = 0x8913
SIOCGIFHWADDR = 0x8927
IFF_UP = 0x1
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
RAW_ARPHRD = {ARPHRD_ETHER: DLT_EN10MB, ARPHRD_LOOPBACK: DLT_EN10MB}

DEFAULT_BUFFER_KIB = 2048                           # libpcap's default (2 MiB)
MAX_FRAME = 65535 + 256                             # a GRO'd packet plus headers
DIRECTIONS = ("inout", "in", "out")


def _align(n: int) -> int:
    return (n + TPACKET_ALIGNMENT - 1) & ~(TPACKET_ALIGNMENT - 1)


TPACKET3_HDRLEN = _align(48) + SOCKADDR_LL.size     # where the packet data may start


# cBPF encodings used by the cooked-socket rewrite
_LD, _LDX = 0x00, 0x01
_ABS, _IND, _MSH, _LEN = 0x20, 0x40, 0xA0, 0x80
_W, _H, _B = 0x00, 0x08, 0x10
SKF_AD_OFF = 0xFFFFF000                             # -0x1000 as u32
# SLL2 header field (offset, load size) -> the kernel's ancillary load giving the same value
_SLL2_ANCILLARY = {
    (0, _H): SKF_AD_OFF + 0,                        # protocol  -> SKF_AD_PROTOCOL
    (4, _W): SKF_AD_OFF + 8,                        # ifindex   -> SKF_AD_IFINDEX
    (8, _H): SKF_AD_OFF + 28,                       # hatype    -> SKF_AD_HATYPE
    (10, _B): SKF_AD_OFF + 4,                       # pkttype   -> SKF_AD_PKTTYPE
}


def sll2_for_cooked_socket(rows):
    """A cBPF program written for LINUX_SLL2 records, rewritten for a cooked AF_PACKET socket
    whose filter sees the packet from the network header: loads past the 20-byte SLL2 header
    move back by 20, loads of the protocol / ifindex / hatype / packet type fields become
    the kernel's ancillary loads. None when the program reads anything else of the header
    (addresses, or through an index register), or the packet length (``len`` counts the
    header), which the kernel cannot give."""
    out = []
    for code, jt, jf, k in rows:
        cls, mode, size = code & 0x07, code & 0xE0, code & 0x18
        if cls in (_LD, _LDX) and mode == _LEN:
            return None
        packet_load = (cls == _LD and mode in (_ABS, _IND)) or (cls == _LDX and mode == _MSH)
        if packet_load and k < 0x80000000:          # negative k: already an ancillary load
            if k >= SLL2_LEN:
                k -= SLL2_LEN
            elif cls == _LD and mode == _ABS and (k, size) in _SLL2_ANCILLARY:
                k = _SLL2_ANCILLARY[(k, size)]
            else:
                return None
        out.append((code, jt, jf, k))
    return out


class LiveError(Exception):
    """A device that cannot be captured on; ``iface`` names it. One line."""

    def __init__(self, iface: str, message: str):
        self.iface = iface
        super().__init__(f"{iface}: {message}")


def _ifreq(sock: socket.socket, iface: str, request: int) -> bytes:
    return fcntl.ioctl(sock.fileno(), request, struct.pack("16s16x", iface.encode()[:15]))


def _open_socket(iface: str, kind: int) -> socket.socket:
    try:
        # protocol 0: nothing is queued until bind() names the device and ETH_P_ALL
        return socket.socket(socket.AF_PACKET, kind, 0)
    except PermissionError as e:
        raise LiveError(iface, "You don't have permission to perform this capture on that "
                        f"device (socket: {os.strerror(e.errno)})") from None
    except OSError as e:
        raise LiveError(iface, f"socket: {os.strerror(e.errno)}") from None


def _device(sock: socket.socket, iface: str) -> tuple[int, int]:
    """(ifindex, ARPHRD type) of an existing, up device."""
    try:
        index = socket.if_nametoindex(iface)
    except OSError:
        raise LiveError(iface, "No such device exists") from None
    try:
        flags = struct.unpack_from("<h", _ifreq(sock, iface, SIOCGIFFLAGS), 16)[0]
        hatype = struct.unpack_from("<H", _ifreq(sock, iface, SIOCGIFHWADDR), 16)[0]
    except OSError as e:
        if e.errno == errno.ENODEV:
            raise LiveError(iface, "No such device exists") from None
        raise LiveError(iface, f"SIOCGIFFLAGS: {os.strerror(e.errno)}") from None
    if not flags & IFF_UP:
        raise LiveError(iface, "That device is not up")
    return index, hatype


class LiveSource:
    """Packets from a network device (or ``any``) through a TPACKET_V3 ring."""

    precision = "nano"
    format = "live"

    def __init__(self, iface: str, snaplen: int = 262144, promisc: bool = True,
                 buffer_kib: int = DEFAULT_BUFFER_KIB, direction: str = "inout",
                 immediate: bool = False, timeout_ms: int = 1000, kernel_filter=None):
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
        self.iface = iface
        self.path = iface
        self.snaplen = snaplen if 0 < snaplen <= 262144 else 262144
        self.direction = direction
        self.immediate = immediate
        self._kstats = [0, 0]
        self._closed = False
        self._mm = None
        self.any = iface == "any"
        probe = _open_socket(iface, socket.SOCK_RAW)
        try:
            if self.any:
                self.ifindex, hatype = 0, 0
            else:
                self.ifindex, hatype = _device(probe, iface)
        finally:
            probe.close()
        self.cooked = self.any or hatype not in RAW_ARPHRD
        self.linktype = DLT_LINUX_SLL2 if self.cooked else RAW_ARPHRD[hatype]
        self.loopback = hatype == ARPHRD_LOOPBACK
        self.sock = _open_socket(iface, socket.SOCK_DGRAM if self.cooked else socket.SOCK_RAW)
        self._retire_ms = 1 if immediate else max(timeout_ms, 1)
        try:
            self._setup_ring(buffer_kib, self._retire_ms)
            self.kernel_filtered = False
            if kernel_filter is not None:
                form = self._kernel_form(kernel_filter)
                if form is not None:               # before bind(): nothing unfiltered queues
                    self._attach(form)
                    self.kernel_filtered = True
            self._bind()
            if promisc and not self.any:
                mreq = struct.pack("<iHH8s", self.ifindex, PACKET_MR_PROMISC, 0, b"")
                self.sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        except BaseException:
            self.close()
            raise
        self._poller = select.poll()
        self._poller.register(self.sock.fileno(), select.POLLIN)   # ERR/HUP/NVAL always
        self._block = 0

    # -- setup --------------------------------------------------------------------------------

    def _setup_ring(self, buffer_kib: int, retire_ms: int) -> None:
        self.sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        frame = _align(TPACKET3_HDRLEN + min(self.snaplen, MAX_FRAME) + 64)
        block = mmap.PAGESIZE
        while block < frame:
            block <<= 1
        nblocks = max((max(buffer_kib, 1) * 1024) // block, 2)
        req = struct.pack("<7I", block, nblocks, frame, (block // frame) * nblocks,
                          max(retire_ms, 1), 0, 0)
        try:
            self.sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
            self._mm = mmap.mmap(self.sock.fileno(), block * nblocks, mmap.MAP_SHARED,
                                 mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as e:
            raise LiveError(self.iface, f"can't create rx ring on packet socket: "
                            f"{os.strerror(e.errno)}") from None
        self.block_size, self.block_count = block, nblocks

    def _bind(self) -> None:
        try:
            if self.any:
                addr = struct.pack("<HHi12x", socket.AF_PACKET, socket.htons(ETH_P_ALL), 0)
                buf = ctypes.create_string_buffer(addr, len(addr))
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.bind(self.sock.fileno(), buf, len(addr)) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
            else:
                self.sock.bind((self.iface, ETH_P_ALL))
        except OSError as e:
            if e.errno == errno.ENETDOWN:
                raise LiveError(self.iface, "That device is not up") from None
            if e.errno == errno.ENODEV:
                raise LiveError(self.iface, "No such device exists") from None
            raise LiveError(self.iface, f"bind: {os.strerror(e.errno)}") from None

    def attach(self, program) -> bool:
        """Filter in the kernel too; True when a filter is now in place.

        A vm.cbpf.Program or (code, jt, jf, k) rows go through SO_ATTACH_FILTER; a
        vm.ebpf.Program, encoded bytes or an already loaded program fd (int) through
        SO_ATTACH_BPF. On a cooked socket (``any``) the kernel sees packets from the network
        header on, so a cBPF program written for LINUX_SLL2 is rewritten as libpcap does
        (:func:`sll2_for_cooked_socket`); when it cannot be, nothing is attached and False is
        returned (filter in userspace, as libpcap falls back to). An eBPF program cannot be
        rewritten: on a cooked socket it raises KernelError (EOPNOTSUPP) so the caller can
        offer the cBPF instead. The kernel refusing a program raises vm.kernel.KernelError.

        As libpcap does, packets queued before the filter are thrown away: a reject-all
        filter goes in first and the ring is drained (this waits for the block timeout).
        Passing ``kernel_filter=`` to the constructor avoids the wait."""
        from vm import kernel
        form = self._kernel_form(program)
        if form is None:
            return False
        kernel.attach_filter(self.sock, [(0x06, 0, 0, 0)])          # ret #0
        deadline = time.monotonic() + (self._retire_ms + 50) / 1000
        while time.monotonic() < deadline:
            self.next_batch(max(int((deadline - time.monotonic()) * 1000), 1))
        self._attach(form)
        self.kernel_filtered = True
        return True

    def _kernel_form(self, program):
        """("bpf", fd | program) or ("filter", rows) for this socket; None if inexpressible."""
        from vm import kernel
        program = getattr(program, "program", program)          # a vm.translate.Translation
        ebpf = isinstance(program, (int, bytes, bytearray)) or (
            hasattr(program, "encode") and not hasattr(program, "to_tuples"))
        if ebpf:
            if self.cooked:
                raise kernel.KernelError(
                    f"{self.iface}: an eBPF filter for {self.linktype} can't run on a cooked "
                    f"socket", errno.EOPNOTSUPP)
            return ("bpf", program)
        rows = program.to_tuples() if hasattr(program, "to_tuples") else list(program)
        if self.cooked:
            rows = sll2_for_cooked_socket(rows)
            if rows is None:
                return None
        return ("filter", rows)

    def _attach(self, form) -> None:
        from vm import kernel
        kind, program = form
        if kind == "filter":
            kernel.attach_filter(self.sock, program)
        elif isinstance(program, int):
            kernel.attach_bpf(self.sock, program)
        else:
            fd = kernel.load_socket_filter(program)
            try:
                kernel.attach_bpf(self.sock, fd)
            finally:
                kernel.close(fd)

    # -- reading ------------------------------------------------------------------------------

    def fileno(self) -> int:
        return self.sock.fileno()

    def _keep(self, pkttype: int, ifindex: int) -> bool:
        outgoing = pkttype == PACKET_OUTGOING
        if outgoing and self.loopback and not self.any:
            return False                   # seen again as incoming
        if self.direction == "in":
            return not outgoing
        if self.direction == "out":
            return outgoing
        return True

    def _packet(self, mm, off: int) -> Packet | None:
        (_, sec, nsec, caplen, wirelen, status, mac, net, _, tci, tpid,
         _) = TPACKET3_HDR.unpack_from(mm, off)
        family, proto, ifindex, hatype, pkttype, halen, addr = \
            SOCKADDR_LL.unpack_from(mm, off + _align(48))
        if not self._keep(pkttype, ifindex):
            return None
        ts = sec * 1_000_000_000 + nsec
        if self.cooked:
            start = off + net
            head = SLL2_HDR.pack(socket.ntohs(proto), 0, ifindex, hatype, pkttype,
                                 min(halen, 8), addr)
            data = head + mm[start:start + min(caplen, self.snaplen - SLL2_LEN)]
            return Packet(ts, wirelen + SLL2_LEN, data, self.linktype, ifindex)
        start = off + mac
        if status & TP_STATUS_VLAN_VALID or tci:
            tag = struct.pack(">HH", tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100, tci)
            data = mm[start:start + 12] + tag + mm[start + 12:start + min(caplen, self.snaplen)]
            return Packet(ts, wirelen + 4, data[:self.snaplen], self.linktype, ifindex)
        return Packet(ts, wirelen, mm[start:start + min(caplen, self.snaplen)], self.linktype,
                      ifindex)

    def ready_block(self) -> tuple[int, int, int] | None:
        """(block offset in the ring, frames, bytes used) of the current block if the kernel
        has handed it over, else None. Give it back with release_block()."""
        base = self._block * self.block_size
        _, _, status, count, _, used = BLOCK_HDR.unpack_from(self._mm, base)
        if not status & TP_STATUS_USER:
            return None
        return base, count, used

    def first_frame(self, base: int) -> int:
        return base + BLOCK_HDR.unpack_from(self._mm, base)[4]

    def next_frame(self, off: int, end: int) -> int:
        """The frame after the one at `off` (`end` after a block's last frame)."""
        step = TPACKET3_HDR.unpack_from(self._mm, off)[0]
        return off + step if step else end

    def release_block(self) -> None:
        """Give the current block back to the kernel."""
        struct.pack_into("<I", self._mm, self._block * self.block_size + 8, TP_STATUS_KERNEL)
        self._block = (self._block + 1) % self.block_count

    def _take_block(self) -> list[Packet] | None:
        """The packets of the current block if the kernel has handed it over, else None."""
        ready = self.ready_block()
        if ready is None:
            return None
        base, count, used = ready
        mm = self._mm
        packets = []
        off = self.first_frame(base)
        for _ in range(count):
            pkt = self._packet(mm, off)
            if pkt is not None:
                packets.append(pkt)
            off = self.next_frame(off, base + used)
        self.release_block()
        return packets

    def next_batch(self, timeout_ms: int = -1) -> list[Packet]:
        """Packets from the next retired block; [] when ``timeout_ms`` passes first (or the
        source is closed)."""
        while not self._closed:
            packets = self._take_block()
            if packets is not None:
                if packets:
                    return packets
                continue                   # a block of filtered-out packets
            if not self.wait(timeout_ms):
                return []
        return []

    def wait(self, timeout_ms: int) -> bool:
        """Wait up to ``timeout_ms`` for the kernel to hand over a block; False on timeout or
        when the source was closed. Raises LiveError when the device goes away."""
        while True:
            try:
                events = self._poller.poll(timeout_ms)
            except InterruptedError:       # pragma: no cover - PEP 475 retries
                continue
            if not events:
                return False
            revents = events[0][1]
            if revents & select.POLLERR:
                err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)   # clears it
                if err == errno.ENETDOWN and not self._device_gone():
                    return True            # taken down: like tcpdump, wait for it to come up
                if err in (errno.ENETDOWN, errno.ENXIO, errno.ENODEV):
                    raise LiveError(self.iface, "The interface disappeared")
                if err:
                    raise LiveError(self.iface, f"Error condition on packet socket: "
                                    f"{os.strerror(err)}")
            if revents & select.POLLHUP:
                raise LiveError(self.iface, "Hangup on packet socket")
            if revents & select.POLLNVAL:
                return False               # closed under us
            return True

    def _device_gone(self) -> bool:
        if self.any:
            return False
        try:
            return socket.if_nametoindex(self.iface) != self.ifindex
        except OSError:
            return True

    def __iter__(self):
        """Packets until close() (say, from a signal handler)."""
        while not self._closed:
            yield from self.next_batch(250)

    def stats(self) -> tuple[int, int]:
        """(received, dropped) by the kernel so far (PACKET_STATISTICS, accumulated)."""
        if not self._closed:
            raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12)
            packets, drops = struct.unpack_from("<II", raw)
            self._kstats[0] += packets
            self._kstats[1] += drops
        return self._kstats[0], self._kstats[1]

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.stats()
        except OSError:
            pass
        self._closed = True
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:            # a caller still holds a view: dies with it
                pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
