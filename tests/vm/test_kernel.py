"""vm.kernel: bpf(2) load / test-run / attach, checked against independent expectations.

Packet values come from Python's struct on the test packet; socket filtering is compared with
libpcap (pcapy-ng's compiled program run on the same frames) inside a private network
namespace, so nothing else on the machine's loopback interferes.
"""
from __future__ import annotations

import ctypes
import errno
import multiprocessing
import os
import socket
import struct
import subprocess

import pytest

from vm import kernel
from vm.ebpf import Insn, Program

KERNEL_OK, KERNEL_WHY = kernel.available()
pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(not KERNEL_OK, reason=f"bpf(2) unavailable: {KERNEL_WHY}")]

EXIT = Insn(0x95)


def mov(dst, imm):
    return Insn(0xB7, dst, 0, 0, imm)


def ldabs(size_code, off):
    """LD_ABS: r0 = ntoh(packet[off]) (size_code 0x00 W, 0x08 H, 0x10 B); needs r6 = ctx."""
    return Insn(0x20 | size_code, 0, 0, 0, off)


CTX = Insn(0xBF, 6, 1)                        # r6 = r1 (the skb)

PKT = bytes(range(1, 61))

# id, instructions, packet, expected return value (computed independently with struct)
PROGRAMS = [
    ("return-constant", [mov(0, 42), EXIT], PKT, 42),
    ("return-minus-one-is-u32", [mov(0, -1), EXIT], PKT, 0xFFFFFFFF),
    ("ldabs-byte-0", [CTX, ldabs(0x10, 0), EXIT], PKT, PKT[0]),
    ("ldabs-half-10", [CTX, ldabs(0x08, 10), EXIT], PKT, struct.unpack_from(">H", PKT, 10)[0]),
    ("ldabs-word-56", [CTX, ldabs(0x00, 56), EXIT], PKT, struct.unpack_from(">I", PKT, 56)[0]),
    ("ldabs-out-of-bounds-returns-0", [CTX, ldabs(0x00, 58), mov(0, 7), EXIT], PKT, 0),
    ("skb-len", [Insn(0x61, 0, 1, 0, 0), EXIT], PKT, len(PKT)),            # r0 = skb->len
    ("alu-and-jump", [CTX, ldabs(0x10, 3), Insn(0x57, 0, 0, 0, 0x0F),      # r0 &= 0xf
                      Insn(0x15, 0, 0, 1, 4), mov(0, 0), EXIT], PKT, 4),   # if r0 == 4 keep
    ("empty-packet-len", [Insn(0x61, 0, 1, 0, 0), EXIT], b"", 0),
]


@pytest.mark.parametrize("insns,packet,expected", [p[1:] for p in PROGRAMS],
                         ids=[p[0] for p in PROGRAMS])
def test_hand_assembled_programs(insns, packet, expected):
    fd = kernel.load_socket_filter(insns)
    try:
        assert kernel.test_run_packet(fd, packet) == expected
        assert kernel.test_run_packet(fd, packet, repeat=3) == expected
    finally:
        kernel.close(fd)


@pytest.mark.parametrize("form", ["bytes", "program", "list"])
def test_program_forms(form):
    insns = [CTX, ldabs(0x10, 1), EXIT]
    arg = {"bytes": Program(insns).encode(), "program": Program(insns), "list": insns}[form]
    fd = kernel.load_socket_filter(arg)
    try:
        assert kernel.test_run_packet(fd, PKT) == PKT[1]
    finally:
        kernel.close(fd)


def test_test_run_strips_the_ethernet_header():
    fd = kernel.load_socket_filter([Insn(0x61, 0, 1, 0, 0), EXIT])        # r0 = skb->len
    try:
        frame = bytes(12) + b"\x88\xb5" + PKT
        assert kernel.test_run(fd, frame) == len(frame) - kernel.ETH_HLEN
        assert kernel.test_run_packet(fd, PKT) == len(PKT)
        with pytest.raises(kernel.KernelError) as info:
            kernel.test_run(fd, b"short")                                  # < 14 bytes
        assert info.value.errno == errno.EINVAL
    finally:
        kernel.close(fd)


REFUSED = [
    ("no-exit", [mov(0, 0)], "exit"),
    ("uninitialised-r0", [EXIT], "R0 !read_ok"),
    ("ldabs-without-ctx-in-r6", [ldabs(0x10, 0), EXIT], "R6 !read_ok"),
    ("jump-out-of-range", [Insn(0x05, 0, 0, 5, 0), mov(0, 0), EXIT], "jump out of range"),
    ("infinite-loop", [mov(0, 0), Insn(0x55, 0, 0, -1, 1), EXIT], "infinite loop"),
    ("unreachable", [mov(0, 0), Insn(0x05, 0, 0, -1, 0), EXIT], "unreachable insn 2"),
    ("bad-register", [Insn(0xB7, 11, 0, 0, 0), EXIT], "R11"),
]


@pytest.mark.parametrize("insns,fragment", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refusal_carries_the_verifier_log(insns, fragment):
    with pytest.raises(kernel.KernelError) as info:
        kernel.load_socket_filter(insns)
    err = info.value
    assert err.errno in (errno.EINVAL, errno.EACCES)
    first = str(err).splitlines()[0]
    assert first.startswith("bpf(BPF_PROG_LOAD) refused the program: E")
    assert fragment in err.log and fragment in str(err)


def test_bad_program_length_is_a_value_error():
    with pytest.raises(ValueError, match="multiple of 8"):
        kernel.load_socket_filter(b"1234567")


def test_kernel_map_roundtrip():
    with kernel.KernelMap(1, 4, 4, 2) as m:
        assert m.update(b"aaaa", b"1111") == 0
        assert m.lookup(b"aaaa") == b"1111"
        assert m.lookup(b"bbbb") is None
        assert m.delete(b"bbbb") == -errno.ENOENT
        assert list(m) == [b"aaaa"]


# -- attaching to sockets, in a private network namespace ----------------------------------

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
PORTS = [5555, 5556, 5557]


def _in_netns(func, *args):
    """Run func(*args) in a forked child inside a new network namespace (lo up); its result."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def child():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            queue.put(("ok", func(*args)))
        except BaseException as e:                      # report, don't hang the parent
            queue.put(("error", f"{type(e).__name__}: {e}"))

    proc = ctx.Process(target=child)
    proc.start()
    status, value = queue.get(timeout=60)
    proc.join(10)
    if status == "error" and ("unshare" in value or "ip" in value.split(":")[0]):
        pytest.skip(f"cannot create a network namespace: {value}")
    assert status == "ok", value
    return value


def _packet_socket():
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind(("lo", 0))
    sock.settimeout(0.3)
    return sock


def _drain(sock):
    frames = []
    try:
        while True:
            frames.append(sock.recv(65535))
    except socket.timeout:
        return frames


def _capture_with(attach):
    """Send UDP datagrams to several ports; frames seen by an unfiltered and by a filtered
    packet socket on lo."""
    everything, filtered = _packet_socket(), _packet_socket()
    attach(filtered)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for round_ in range(3):
        for port in PORTS:
            sender.sendto(b"payload %d %d" % (port, round_), ("127.0.0.1", port))
    return _drain(everything), _drain(filtered)


def _attach_cbpf(rows):
    return _capture_with(lambda sock: kernel.attach_filter(sock, rows))


def test_attach_filter_matches_libpcap(pcapy_module):
    expr = "udp dst port 5556"
    program = pcapy_module.compile(1, 65535, expr, 1, 0)                 # DLT_EN10MB
    rows = [tuple(r) for r in program.get_bpf()]
    everything, filtered = _in_netns(_attach_cbpf, rows)
    expected = [f for f in everything if program.filter(f) > 0]
    assert len(everything) > len(expected) > 0
    assert filtered == expected


def _ebpf_udp_port_filter(port):
    """IPv4 (ethertype 0x0800), protocol UDP, IHL 5, destination port == port -> keep all."""
    return [CTX,
            ldabs(0x08, 12), Insn(0x55, 0, 0, 6, 0x0800),                 # jne -> drop
            ldabs(0x10, 23), Insn(0x55, 0, 0, 4, 17),
            ldabs(0x08, 36), Insn(0x55, 0, 0, 2, port),
            mov(0, 0x40000), EXIT,
            mov(0, 0), EXIT]


def _attach_ebpf(port):
    fd = kernel.load_socket_filter(_ebpf_udp_port_filter(port))
    try:
        return _capture_with(lambda sock: kernel.attach_bpf(sock, fd))
    finally:
        kernel.close(fd)


def test_attach_bpf_matches_libpcap(pcapy_module):
    program = pcapy_module.compile(1, 65535, "ip and udp dst port 5557", 1, 0)
    everything, filtered = _in_netns(_attach_ebpf, 5557)
    expected = [f for f in everything if program.filter(f) > 0]
    assert len(everything) > len(expected) > 0
    assert filtered == expected


def _detach_then_capture(rows):
    def attach(sock):
        kernel.attach_filter(sock, rows)
        kernel.detach_filter(sock)
    return _capture_with(attach)


def test_detach_filter_lets_everything_through():
    everything, filtered = _in_netns(_detach_then_capture, [(0x06, 0, 0, 0)])   # ret #0
    assert filtered == everything and everything


def test_attach_errors_are_kernel_errors():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with pytest.raises(kernel.KernelError) as info:
            kernel.attach_filter(sock, [(0x06, 0, 0, 0)] * 5000)          # > BPF_MAXINSNS
        assert info.value.errno == errno.EINVAL
        with pytest.raises(kernel.KernelError) as info:
            kernel.attach_bpf(sock, 1_000_000)                              # not an fd
        assert info.value.errno == errno.EBADF
    finally:
        sock.close()


def test_available_reports_a_reason():
    ok, why = kernel.available()
    assert ok is True and why == ""


@pytest.mark.skipif(os.sysconf("SC_PAGE_SIZE") != 4096, reason="limit stated for 4 KiB pages")
@pytest.mark.parametrize("size,ok", [(3712 - 14, True), (3712 - 13, False)],
                         ids=["largest", "one-too-many"])
def test_test_run_size_limit(size, ok):
    fd = kernel.load_socket_filter([Insn(0x61, 0, 1, 0, 0), EXIT])
    try:
        if ok:
            assert kernel.test_run_packet(fd, bytes(size)) == size
        else:
            with pytest.raises(kernel.KernelError, match=f"on {size + 14} bytes: EINVAL"):
                kernel.test_run_packet(fd, bytes(size))
    finally:
        kernel.close(fd)
