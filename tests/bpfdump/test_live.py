"""bpfdump.sources.live against tcpdump, in private network namespaces joined by a veth pair.

Each test builds its own pair of namespaces (names carry the pid, so parallel runs don't
collide), with IPv6 off and static neighbour entries so the only traffic is what the test sends.
tcpdump (the oracle) and LiveSource capture the same device at the same time; their packets
(wire length and captured bytes, in order) must be identical.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import pytest

pytestmark = pytest.mark.live

IP = shutil.which("ip")
TCPDUMP = shutil.which("tcpdump")
CLONE_NEWNET = 0x40000000


def _run(*args, ns=None, check=True):
    cmd = ([IP, "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


class Pair:
    """Namespaces A and B; veth vA (in A, 10.77.0.1) <-> vB (in B, 10.77.0.2)."""

    def __init__(self, tag: str):
        uid = f"{os.getpid() % 100000}{tag}"
        self.a, self.b = f"bpfdE{uid}a", f"bpfdE{uid}b"
        self.va, self.vb = f"vE{uid}a"[:15], f"vE{uid}b"[:15]
        self.ip_a, self.ip_b = "10.77.0.1", "10.77.0.2"
        for ns in (self.a, self.b):
            _run(IP, "netns", "add", ns)
            _run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", ns=ns)
            _run("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", ns=ns)
        _run(IP, "link", "add", self.va, "netns", self.a, "type", "veth", "peer", "name", self.vb,
             "netns", self.b)
        for ns, dev, ip in ((self.a, self.va, self.ip_a), (self.b, self.vb, self.ip_b)):
            _run(IP, "addr", "add", f"{ip}/24", "dev", dev, ns=ns)
            _run(IP, "link", "set", dev, "up", ns=ns)
        self.mac_a = self._mac(self.a, self.va)
        self.mac_b = self._mac(self.b, self.vb)
        _run(IP, "neigh", "replace", self.ip_b, "lladdr", self.mac_b, "dev", self.va, "nud",
             "permanent", ns=self.a)
        _run(IP, "neigh", "replace", self.ip_a, "lladdr", self.mac_a, "dev", self.vb, "nud",
             "permanent", ns=self.b)

    @staticmethod
    def _mac(ns, dev):
        return _run(IP, "-br", "link", "show", dev, ns=ns).stdout.split()[2]

    def close(self):
        for ns in (self.a, self.b):
            _run(IP, "netns", "del", ns, check=False)


@pytest.fixture
def pair(request):
    if os.geteuid() != 0 or IP is None:
        pytest.skip("needs root and iproute2 for network namespaces")
    try:
        p = Pair(str(abs(hash(request.node.name)) % 1000))
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot build a veth pair: {e.stderr.strip()}")
    yield p
    p.close()


# -- helpers running in a namespace --------------------------------------------------------

def _setns(ns: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


class _Collect:
    def __init__(self):
        self.packets = []
        self.count = 0

    def write(self, pkt):
        self.packets.append(pkt)

    def close(self):
        pass


def _blocks(src, stop, expected) -> list:
    """The packets as the block path takes them (bpfdump.fastpath.live: ring blocks walked
    by the JIT scan program, no filter), until `stop` and then tcpdump's count or 2 s."""
    from bpfdump.fastpath.live import LiveScan
    sink = _Collect()
    deadline = []

    def stopped():
        if not stop.is_set():
            return False
        if not deadline:
            deadline.append(time.monotonic() + 2)
        return len(sink.packets) > expected.value or time.monotonic() > deadline[0]
    LiveScan(src, None, src.snaplen, sink, None, stopped).run(100)
    return sink.packets


def _live_child(ns, kwargs, attach, ready, stop, expected, result, blocks=False):
    try:
        _setns(ns)
        from bpfdump.sources.live import LiveSource
        src = LiveSource(**kwargs)
        if attach is not None:
            src.attach(attach() if callable(attach) else attach)
        ready.set()
        packets = []
        if blocks:
            packets = _blocks(src, stop, expected)
        while not blocks and not stop.is_set():
            packets.extend(src.next_batch(100))
        # drain what is still in the ring: up to tcpdump's count, or 2 s without progress
        while not blocks and len(packets) < expected.value:
            batch = src.next_batch(2000)
            if not batch:
                break
            packets.extend(batch)
        if not blocks:
            packets.extend(src.next_batch(100))                 # and anything beyond it
        stats = src.stats()
        src.close()
        result.put(("ok", [(p.wirelen, p.data, p.linktype) for p in packets], stats))
    except BaseException as e:
        ready.set()
        result.put(("error", f"{type(e).__name__}: {e}", None))


SENDER = r"""
import socket, sys
dst, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(count):
    port = 7000 + i % 4
    s.sendto(bytes((i + j) & 0xFF for j in range(10 + (i * 37) % 900)), (dst, port))
"""


def _capture_both(pair, live_kwargs, tcpdump_args, count=60, attach=None, sender=None,
                  blocks=False):
    """Run LiveSource in B (packet by packet, or with `blocks` on the JIT block path) and
    tcpdump in B on the same device while A sends ``count`` UDP datagrams; (ours, tcpdump's,
    our stats)."""
    ctx = multiprocessing.get_context("fork")
    ready, stop, result = ctx.Event(), ctx.Event(), ctx.Queue()
    expected = ctx.Value("l", 0)
    proc = ctx.Process(target=_live_child,
                       args=(pair.b, live_kwargs, attach, ready, stop, expected, result,
                             blocks))
    proc.start()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "oracle.pcap")
        dump = subprocess.Popen([IP, "netns", "exec", pair.b, TCPDUMP, "-U", "-w", out,
                                 *tcpdump_args], stderr=subprocess.PIPE, text=True)
        try:
            line = dump.stderr.readline()
            while line and "listening on" not in line:      # "data link type ..." first
                line = dump.stderr.readline()
            assert "listening on" in line, "tcpdump did not start"
            assert ready.wait(30)
            time.sleep(0.2)
            script, args = sender or (SENDER, [pair.ip_b, str(count)])
            _run(sys.executable, "-c", script, *args, ns=pair.a)
            _wait_until_stable(out)
        finally:
            dump.send_signal(signal.SIGINT)
            _, tail = dump.communicate(timeout=30)
            theirs = _read_pcap(out) if os.path.exists(out) else []
            expected.value = len(theirs)
            stop.set()
        status, ours, stats = result.get(timeout=60)
        proc.join(30)
        assert status == "ok", ours
    # tcpdump must have read everything its socket received (or the oracle is incomplete);
    # with -Q the kernel count also holds the other direction, which libpcap drops itself
    counts = dict(reversed(line.split(" ", 1)) for line in tail.splitlines() if " packet" in line)
    assert counts.get("packets dropped by kernel") == "0", tail
    if "-Q" not in tcpdump_args:
        assert counts.get("packets captured") == counts.get("packets received by filter"), tail
    return ours, theirs, stats


def _wait_until_stable(path, quiet=1.5, limit=20.0):
    """Until tcpdump (-U: one write per packet) has not written for ``quiet`` seconds, longer
    than its ring's 1 s block timeout. (tcpdump runs without --immediate-mode: libpcap then
    uses TPACKET_V2 with one snaplen-sized frame per packet, and a burst overflows it.)"""
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        size = os.path.getsize(path) if os.path.exists(path) else 0
        if size != last:
            last, since = size, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


def _read_pcap(path):
    import dpkt
    with open(path, "rb") as f:
        reader = dpkt.pcap.Reader(f)
        linktype = reader.datalink()
        packets = []
        for _, buf in reader:
            packets.append((buf, linktype))
        # dpkt does not expose the wire length; re-read the record headers for it
    lens = []
    with open(path, "rb") as f:
        f.read(24)
        while True:
            head = f.read(16)
            if len(head) < 16:
                break
            caplen, wirelen = struct.unpack_from("<II", head, 8)
            f.read(caplen)
            lens.append(wirelen)
    return [(wl, data, lt) for wl, (data, lt) in zip(lens, packets)]


def _assert_same_capture(ours, theirs, direction=lambda data: data[6:12]):
    """Same packets; in the same order within each direction (incoming and outgoing packets
    reach two sockets from different CPUs, so their interleaving may legitimately differ)."""
    assert sorted(ours) == sorted(theirs)
    for way in {direction(p[1]) for p in theirs}:
        assert [p for p in ours if direction(p[1]) == way] == \
            [p for p in theirs if direction(p[1]) == way]


needs_tools = pytest.mark.skipif(TCPDUMP is None or IP is None, reason="needs tcpdump and ip")

CASES = [
    # id, LiveSource kwargs (iface filled in), tcpdump args (device filled in), expect traffic
    ("inout", {}, []),
    ("direction-in", {"direction": "in"}, ["-Q", "in"]),
    ("direction-out", {"direction": "out"}, ["-Q", "out"]),
    ("snaplen-64", {"snaplen": 64}, ["-s", "64"]),
    ("no-promisc-buffer-1m", {"promisc": False, "buffer_kib": 1024}, ["-p"]),
]


def _jit_ok() -> bool:
    try:
        from vm import jit
    except ImportError:
        return False
    return jit.available()


BLOCKS = [False, pytest.param(True, marks=pytest.mark.skipif(
    not _jit_ok(), reason="the block path needs the JIT (x86-64 Linux)"))]


@needs_tools
@pytest.mark.parametrize("blocks", BLOCKS, ids=["packets", "blocks"])
@pytest.mark.parametrize("kwargs,args", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_capture_matches_tcpdump(pair, kwargs, args, blocks):
    if blocks and kwargs.get("direction") == "out":
        pytest.skip("-Q out is not on the block path (every incoming frame would be Python's)")
    ours, theirs, (received, dropped) = _capture_both(
        pair, {"iface": pair.vb, "immediate": True, **kwargs}, ["-i", pair.vb, *args],
        blocks=blocks)
    assert theirs, "tcpdump captured nothing"
    assert dropped == 0 and received >= len(ours)
    _assert_same_capture(ours, theirs)
    assert all(lt == 1 for _, _, lt in ours)


@needs_tools
def test_any_gives_sll2_like_tcpdump(pair):
    ours, theirs, _ = _capture_both(pair, {"iface": "any", "immediate": True, "snaplen": 200},
                                    ["-i", "any", "-s", "200"])
    assert theirs and theirs[0][2] == 276
    _assert_same_capture(ours, theirs, direction=lambda data: data[10])    # SLL2 pkttype


@needs_tools
def test_kernel_filter_captures_exactly_the_matching_packets(pair, pcapy_module):
    expr = "udp dst port 7001 or udp dst port 7003"
    rows = [tuple(r) for r in pcapy_module.compile(1, 262144, expr, 1, 0).get_bpf()]
    ours, theirs, _ = _capture_both(pair, {"iface": pair.vb, "immediate": True,
                                           "kernel_filter": rows},
                                    ["-i", pair.vb, expr], count=80)
    assert len(theirs) == 40                       # half of the 80 datagrams match
    _assert_same_capture(ours, theirs)


def _translated(expr):
    import filterlang
    from vm import translate
    return translate.to_ebpf(filterlang.compile(expr, linktype="EN10MB", snaplen=262144))


@needs_tools
def test_ebpf_kernel_filter_matches_tcpdump(pair):
    from vm import kernel
    ok, why = kernel.available()
    if not ok:
        pytest.skip(f"bpf(2) unavailable: {why}")
    try:
        program = _translated("udp dst port 7002")
    except Exception as e:                          # another room's work in progress
        pytest.skip(f"filterlang/translate not usable yet: {e}")
    ours, theirs, _ = _capture_both(pair, {"iface": pair.vb, "immediate": True},
                                    ["-i", pair.vb, "udp dst port 7002"], count=40,
                                    attach=program)
    assert len(theirs) == 10
    _assert_same_capture(ours, theirs)


RAW_VLAN_SENDER = r"""
import socket, struct, sys
dev, dst, src = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
for i in range(int(sys.argv[4])):
    tpid = 0x88A8 if i % 3 == 2 else 0x8100          # some 802.1ad outer tags
    tci = ((i % 8) << 13) | (5 + i % 3)                 # priority bits and VLAN ids 5..7
    body = bytes((i + j) & 0xFF for j in range(30 + i * 11))
    s.send(dst + src + struct.pack(">HH", tpid, tci) + b"\x08\x00" + body)
"""


@needs_tools
@pytest.mark.parametrize("blocks", BLOCKS, ids=["packets", "blocks"])
def test_vlan_tag_is_put_back_like_tcpdump(pair, blocks):
    """Tagged frames reach B's veth; the kernel moves the tag out of band (vlan_tci) before
    the taps see the frame, and both tcpdump and we must put it back."""
    mac = lambda text: text.replace(":", "")
    args = [pair.va, mac(pair.mac_b), mac(pair.mac_a), "20"]
    ours, theirs, _ = _capture_both(pair, {"iface": pair.vb, "immediate": True},
                                    ["-i", pair.vb], sender=(RAW_VLAN_SENDER, args),
                                    blocks=blocks)
    assert len(theirs) == 20
    assert {data[12:14] for _, data, _ in theirs} == {b"\x81\x00", b"\x88\xa8"}
    _assert_same_capture(ours, theirs)


# -- errors ---------------------------------------------------------------------------------

def _error_child(ns, kwargs, drop_privileges, result):
    try:
        _setns(ns)
        from bpfdump.sources.live import LiveError, LiveSource     # before losing file access
        if drop_privileges:
            os.setgid(65534)
            os.setuid(65534)
        try:
            LiveSource(**kwargs).close()
            result.put("no error")
        except LiveError as e:
            result.put(str(e))
    except BaseException as e:
        result.put(f"unexpected {type(e).__name__}: {e}")


def _error_in(ns, kwargs, drop_privileges=False):
    ctx = multiprocessing.get_context("fork")
    result = ctx.Queue()
    proc = ctx.Process(target=_error_child, args=(ns, kwargs, drop_privileges, result))
    proc.start()
    message = result.get(timeout=30)
    proc.join(10)
    return message


def _tcpdump_error(ns, args, drop_privileges=False):
    cmd = [IP, "netns", "exec", ns]
    if drop_privileges:
        cmd += ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    out = subprocess.run(cmd + [TCPDUMP, "-c", "1", *args], capture_output=True, text=True,
                         timeout=30)
    return " ".join(out.stderr.replace("tcpdump: ", "", 1).split("\n")).strip()


@needs_tools
def test_errors_are_worded_like_tcpdump(pair):
    _run(IP, "link", "add", "dwnE0", "type", "veth", "peer", "name", "dwnE1", ns=pair.b)  # down
    cases = [
        ({"iface": "nosuchE0"}, ["-i", "nosuchE0"], False),
        ({"iface": "dwnE0"}, ["-i", "dwnE0"], False),
        ({"iface": pair.vb}, ["-i", pair.vb], True),
    ]
    for kwargs, args, drop in cases:
        ours = _error_in(pair.b, kwargs, drop)
        theirs = _tcpdump_error(pair.b, args, drop)
        assert "\n" not in ours
        # tcpdump: "dev: message\n(detail)"; ours: "dev: message" or "dev: message (detail)"
        assert theirs.startswith(ours.split(" (")[0]), (ours, theirs)
        if drop:
            assert ours == theirs


@pytest.mark.exhaustive
@needs_tools
def test_20k_datagrams_match_tcpdump(pair):
    ours, theirs, (received, dropped) = _capture_both(
        pair, {"iface": pair.vb, "buffer_kib": 8192}, ["-i", pair.vb, "-B", "8192"],
        count=20_000)
    assert dropped == 0
    assert len(theirs) >= 20_000
    _assert_same_capture(ours, theirs)


def _late_attach_child(ns, iface, rows, ready, sent, result):
    try:
        _setns(ns)
        from bpfdump.sources.live import LiveSource
        src = LiveSource(iface, immediate=True)
        ready.set()
        sent.wait(30)                      # traffic is now queued in the ring, unfiltered
        src.attach(rows)
        packets = []
        while True:
            batch = src.next_batch(500)
            if not batch:
                break
            packets.extend(batch)
        src.close()
        result.put(("ok", len(packets)))
    except BaseException as e:
        ready.set()
        result.put(("error", f"{type(e).__name__}: {e}"))


def test_attach_discards_packets_queued_before_the_filter(pair, pcapy_module):
    rows = [tuple(r) for r in pcapy_module.compile(1, 262144, "udp port 9", 1, 0).get_bpf()]
    ctx = multiprocessing.get_context("fork")
    ready, sent, result = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_late_attach_child,
                       args=(pair.b, pair.vb, rows, ready, sent, result))
    proc.start()
    assert ready.wait(30)
    _run(sys.executable, "-c", SENDER, pair.ip_b, "20", ns=pair.a)
    time.sleep(0.2)
    sent.set()
    status, value = result.get(timeout=60)
    proc.join(10)
    assert (status, value) == ("ok", 0)


def _down_up_child(ns, iface, ready, result):
    try:
        _setns(ns)
        from bpfdump.sources.live import LiveError, LiveSource
        src = LiveSource(iface, immediate=True)
        ready.set()
        packets = 0
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                packets += len(src.next_batch(100))
            result.put(("no error", packets))
        except LiveError as e:
            result.put((str(e), packets))
    except BaseException as e:
        ready.set()
        result.put((f"unexpected {type(e).__name__}: {e}", 0))


@needs_tools
def test_device_down_up_and_removal_like_tcpdump(pair):
    """Taken down and up again: capture goes on (packets sent after are seen); deleted: the
    capture ends with "The interface disappeared", as tcpdump's does."""
    ctx = multiprocessing.get_context("fork")
    ready, result = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_down_up_child, args=(pair.b, pair.vb, ready, result))
    proc.start()
    dump = subprocess.Popen([IP, "netns", "exec", pair.b, TCPDUMP, "-i", pair.vb, "-U",
                             "--immediate-mode", "-w", "/dev/null"],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = dump.stderr.readline()
        assert "listening on" in line, line
        assert ready.wait(30)
        _run(IP, "link", "set", pair.vb, "down", ns=pair.b)
        time.sleep(0.5)
        _run(IP, "link", "set", pair.vb, "up", ns=pair.b)
        time.sleep(1.0)                                    # veth carrier comes back
        _run(sys.executable, "-c", SENDER, pair.ip_b, "5", ns=pair.a)
        time.sleep(1.0)
        _run(IP, "link", "del", pair.vb, ns=pair.b)
        message, packets = result.get(timeout=40)
        _, tail = dump.communicate(timeout=30)
    finally:
        if dump.poll() is None:
            dump.kill()
        proc.join(10)
    assert message == f"{pair.vb}: The interface disappeared"
    assert "pcap_loop: The interface disappeared" in tail
    captured = int(tail.split(" packets captured")[0].split()[-1])
    assert packets == captured >= 5


ANY_KERNEL_FILTERS = [
    ("udp-port", "udp dst port 7001"),
    ("inbound-udp", "inbound and udp"),
    ("outbound", "outbound"),
    ("ip-header-field", "ip[8] = 64 and udp[2:2] > 7001"),
]


@needs_tools
@pytest.mark.parametrize("expr", [c[1] for c in ANY_KERNEL_FILTERS],
                         ids=[c[0] for c in ANY_KERNEL_FILTERS])
def test_any_with_kernel_filter_matches_tcpdump(pair, pcapy_module, expr):
    """An SLL2 program rewritten for the cooked socket selects what tcpdump -i any selects
    (libpcap rewrites its kernel filter the same way)."""
    from bpfdump.sources.live import sll2_for_cooked_socket
    rows = [tuple(r) for r in pcapy_module.compile(276, 262144, expr, 1, 0).get_bpf()]
    assert sll2_for_cooked_socket(rows) is not None
    ours, theirs, _ = _capture_both(pair, {"iface": "any", "immediate": True,
                                           "kernel_filter": rows},
                                    ["-i", "any", expr], count=40)
    assert theirs
    _assert_same_capture(ours, theirs, direction=lambda data: data[10])


REWRITES = [
    # id, rows, expected (None: not expressible on a cooked socket)
    ("protocol", [(0x28, 0, 0, 0)], [(0x28, 0, 0, 0xFFFFF000)]),
    ("ifindex", [(0x20, 0, 0, 4)], [(0x20, 0, 0, 0xFFFFF008)]),
    ("hatype", [(0x28, 0, 0, 8)], [(0x28, 0, 0, 0xFFFFF01C)]),
    ("pkttype", [(0x30, 0, 0, 10)], [(0x30, 0, 0, 0xFFFFF004)]),
    ("payload-abs", [(0x30, 0, 0, 29)], [(0x30, 0, 0, 9)]),
    ("payload-ind", [(0x48, 0, 0, 22)], [(0x48, 0, 0, 2)]),
    ("msh", [(0xB1, 0, 0, 20)], [(0xB1, 0, 0, 0)]),
    ("ancillary-kept", [(0x20, 0, 0, 0xFFFFF000)], [(0x20, 0, 0, 0xFFFFF000)]),
    ("jumps-and-ret-kept", [(0x15, 1, 2, 7), (0x06, 0, 0, 262144)],
     [(0x15, 1, 2, 7), (0x06, 0, 0, 262144)]),
    ("protocol-as-byte", [(0x30, 0, 0, 1)], None),
    ("address-bytes", [(0x20, 0, 0, 12)], None),
    ("reserved-field", [(0x28, 0, 0, 2)], None),
    ("header-through-x", [(0x50, 0, 0, 4)], None),
    ("packet-length", [(0x80, 0, 0, 0)], None),
    ("msh-in-header", [(0xB1, 0, 0, 3)], None),
]


@pytest.mark.parametrize("rows,expected", [r[1:] for r in REWRITES], ids=[r[0] for r in REWRITES])
def test_sll2_rewrite_for_cooked_socket(rows, expected):
    from bpfdump.sources.live import sll2_for_cooked_socket
    assert sll2_for_cooked_socket(rows) == expected
