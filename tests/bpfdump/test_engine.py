"""The offline engine against tcpdump: `bpfdump -r F -w OUT EXPR` writes exactly the bytes
`tcpdump -r F -w OUT EXPR` writes. Every test runs on both block data paths: "jit" (pcap records
walked by JIT-compiled eBPF, bpfdump.fastpath) and "numpy" (records indexed with numpy, vm.batch,
records through the ring buffer in blocks, the writer's block path; BPFDUMP_JIT=0).

The in-process tests run libpcap's own program for each expression (so they test the data path,
not our compiler); a few CLI runs go through the whole tool, stdin included.
"""
from __future__ import annotations

import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import dpkt
import pytest

from bpfdump import engine
from bpfdump.sources import CaptureError, open_offline
from bpfdump.sources import pcap as pcapmod
from bpfdump.writer import PcapWriter
from tests.support.expressions import EXPRESSIONS
from tests.support.oracle import LibpcapError, libpcap_compile, libpcap_run
from tests.support.packets import packets
from vm.cbpf import Program

REPO = Path(__file__).resolve().parents[2]
PCAPS = REPO / "pcaps"
TCPDUMP = shutil.which("tcpdump")
pytestmark = pytest.mark.skipif(TCPDUMP is None, reason="tcpdump not installed")

BENCH_FILTERS = [
    "tcp",
    "udp port 53",
    "tcp port 80 and host 10.1.2.3",
    "vlan 100 and (udp or tcp) and not net 192.168.3.0/24",
    "(tcp[tcpflags] & (tcp-syn|tcp-fin) != 0 and portrange 1000-30000) or (ip6 and tcp port 443)",
]
_ALL = [e for e in EXPRESSIONS if "protochain" not in e]   # (protochain loops: scalar VM)
SAMPLE = BENCH_FILTERS + random.Random(8).sample(_ALL, 30)
REST = [e for e in _ALL if e not in SAMPLE]


@pytest.fixture(autouse=True, params=["jit", "numpy"])
def data_path(request, monkeypatch):
    if request.param == "numpy":
        monkeypatch.setenv("BPFDUMP_JIT", "0")
    else:
        try:
            from vm import jit
        except ImportError:
            pytest.skip("vm.jit is not there")
        if not jit.available():
            pytest.skip("the JIT needs x86-64 Linux and executable memory")
        monkeypatch.delenv("BPFDUMP_JIT", raising=False)
    return request.param


class WriterSink:
    """The -w sink as the CLI builds it (a PcapWriter behind write/write_batch/write_records)."""

    def __init__(self, path, source):
        self._writer = PcapWriter(path, source.linktype, source.snaplen, "micro",
                                  linktype_ext=getattr(source, "linktype_ext", 0))
        self.pcap_writer = self._writer
        self.count = 0
        self.batches = 0
        self.blocks = 0

    def write_records(self, data, count):
        self._writer.write_records(data, count)
        self.count += count
        self.blocks += 1

    def write(self, pkt):
        self._writer.write(pkt)
        self.count += 1

    def write_batch(self, batch):
        self._writer.write_batch(batch)
        self.count += len(batch)
        self.batches += 1

    def close(self):
        self._writer.close()


def mixed_capture(path: Path, repeat: int = 6, seed: int = 1) -> Path:
    """The EN10MB corpus (truncated captures, tiny and empty packets included), shuffled and
    repeated, as a little-endian microsecond pcap."""
    corpus = list(packets("EN10MB"))
    rng = random.Random(seed)
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        ts = 1_700_000_000 * 1_000_000
        for _ in range(repeat):
            rng.shuffle(corpus)
            for s in corpus:
                ts += rng.randrange(1, 5000)
                f.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(s.data),
                                    s.wirelen))
                f.write(s.data)
    return path


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return mixed_capture(tmp_path_factory.mktemp("engine") / "mixed.pcap")


def tcpdump_write(path, expr, *extra) -> bytes:
    proc = subprocess.run([TCPDUMP, "-r", str(path), "-w", "-", *extra, "--", expr],
                          capture_output=True, timeout=120)
    return proc.stdout


def ours_write(path, rows, out: Path, count=None) -> tuple[bytes, WriterSink]:
    with open_offline(path) as src:
        sink = WriterSink(out, src)
        try:
            engine.run(src, Program.from_tuples(rows), sink, count=count)
        finally:
            sink.close()
    return out.read_bytes(), sink


def _rows(expr, linktype="EN10MB"):
    try:
        return libpcap_compile(expr, linktype, optimize=True)
    except LibpcapError:
        pytest.skip("libpcap rejects it")


@pytest.mark.parametrize("expr", SAMPLE, ids=SAMPLE)
def test_filter_to_file_like_tcpdump(mixed, expr, tmp_path, data_path):
    rows = _rows(expr)
    got, sink = ours_write(mixed, rows, tmp_path / "out.pcap")
    assert got == tcpdump_write(mixed, expr)
    blocks = sink.blocks if data_path == "jit" else sink.batches
    assert blocks > 0 or sink.count == 0          # the block path was taken


@pytest.mark.exhaustive
@pytest.mark.parametrize("expr", REST, ids=REST)
def test_filter_to_file_like_tcpdump_all(mixed, expr, tmp_path):
    got, _ = ours_write(mixed, _rows(expr), tmp_path / "out.pcap")
    assert got == tcpdump_write(mixed, expr)


@pytest.mark.exhaustive
@pytest.mark.parametrize("expr", [e for e in EXPRESSIONS if "protochain" in e])
def test_protochain_runs_packet_by_packet(mixed, expr, tmp_path, data_path):
    """Programs with loops take the scalar path without the JIT; the bytes are the same."""
    got, sink = ours_write(mixed, _rows(expr), tmp_path / "out.pcap")
    assert sink.batches == 0
    assert got == tcpdump_write(mixed, expr)


@pytest.mark.parametrize("lane,chunk", [(64, 4096), (256, 1 << 16), (1000, 7000)],
                         ids=["tiny-lanes", "small-lanes", "odd-sizes"])
@pytest.mark.parametrize("expr", ["", "tcp", "udp port 53 or arp", "ip6 and tcp"])
def test_lane_sizes_do_not_change_results(mixed, expr, lane, chunk, tmp_path, monkeypatch):
    """Many lanes and windows per file: wrong guesses and stitching on every window."""
    monkeypatch.setattr(pcapmod, "LANE_BYTES", lane)
    monkeypatch.setattr(pcapmod, "CHUNK_BYTES", chunk)
    rows = _rows(expr)
    got, _ = ours_write(mixed, rows, tmp_path / "out.pcap")
    assert got == tcpdump_write(mixed, expr)


@pytest.mark.parametrize("count", [1, 2, 7, 100, 1000, 5000], ids=str)
@pytest.mark.parametrize("expr", ["", "tcp", "icmp or icmp6"])
def test_count_stops_after_exactly_n(mixed, expr, count, tmp_path):
    rows = _rows(expr)
    got, _ = ours_write(mixed, rows, tmp_path / "out.pcap", count=count)
    assert got == tcpdump_write(mixed, expr, "-c", str(count))


@pytest.mark.parametrize("name", ["sample.pcap", "sample-nano.pcap", "sample-be.pcap",
                                  "sample-snap96.pcap", "linux-sll.pcap", "raw-ip.pcap",
                                  "sample.pcapng"])
@pytest.mark.parametrize("expr", ["", "tcp", "ip6 or arp", "udp and len > 100"])
def test_sample_files(name, expr, tmp_path):
    with open_offline(PCAPS / name) as src:
        lt = src.linktype
    from filterlang.linktypes import lookup
    try:
        rows = libpcap_compile(expr, lookup(lt).name, optimize=True)
    except LibpcapError:
        pytest.skip("libpcap rejects it on this link type")
    got, _ = ours_write(PCAPS / name, rows, tmp_path / "out.pcap")
    assert got == tcpdump_write(PCAPS / name, expr)


@pytest.mark.parametrize("expr", ["", "tcp", "arp"])
def test_truncated_file_writes_everything_before_the_cut(expr, tmp_path):
    rows = _rows(expr)
    out = tmp_path / "out.pcap"
    with open_offline(PCAPS / "truncated.pcap") as src:
        sink = WriterSink(out, src)
        with pytest.raises(CaptureError) as err:
            engine.run(src, Program.from_tuples(rows), sink)
        sink.close()
    assert "truncated dump file; tried to read 75 captured bytes, only got 38" in str(err.value)
    assert out.read_bytes() == tcpdump_write(PCAPS / "truncated.pcap", expr)


def _cut_capture(mixed: Path, tmp_path: Path, cut: int) -> Path:
    data = mixed.read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:len(data) - cut])
    return path


@pytest.mark.parametrize("cut", [1, 10, 15, 16, 17, 100], ids=str)
def test_cut_anywhere_in_the_last_record(mixed, cut, tmp_path):
    path = _cut_capture(mixed, tmp_path, cut)
    rows = _rows("")
    out = tmp_path / "out.pcap"
    with open_offline(path) as src:
        sink = WriterSink(out, src)
        with pytest.raises(CaptureError) as err:
            engine.run(src, Program.from_tuples(rows), sink)
        sink.close()
    proc = subprocess.run([TCPDUMP, "-r", str(path), "-w", "-"], capture_output=True)
    assert out.read_bytes() == proc.stdout
    assert err.value.message in proc.stderr.decode()


class Collect:
    def __init__(self):
        self.packets = []

    def write(self, pkt):
        self.packets.append(pkt)

    def close(self):
        pass


@pytest.mark.parametrize("expr", ["", "ip", "tcp or udp", "ip6"])
def test_pcapng_with_two_link_types(expr):
    """libpcap refuses two link types in one file; its bpf_filter is the oracle per packet."""
    rows = _rows(expr)
    with open_offline(PCAPS / "two-interfaces.pcapng") as src:
        every = list(src)
    with open_offline(PCAPS / "two-interfaces.pcapng") as src:
        sink = Collect()
        engine.run(src, Program.from_tuples(rows), sink)
    keep = [libpcap_run(rows, p.data, p.wirelen) for p in every]
    want = [p._replace(data=p.data[:k]) for p, k in zip(every, keep) if k]
    assert sink.packets == want
    assert {p.linktype for p in every} == {1, 12}


def test_batches_match_dpkt(mixed):
    """Record indexing against dpkt's reader: same timestamps, lengths and bytes."""
    with open(mixed, "rb") as f:
        want = [(round(ts * 1e6), buf) for ts, buf in dpkt.pcap.Reader(f)]
    got = []
    with open_offline(mixed) as src:
        for b in src.batches(max_packets=1000):
            for p in b.packets():
                got.append((p.ts // 1000, p.data))
    assert got == want


def _weird_capture(path: Path, seed: int) -> Path:
    """Records built to fool the guesses: zero-length records, runs of zeros, payloads that
    hold copies of record headers, jumbo records."""
    rng = random.Random(seed)
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        sec = 1_700_000_000
        for i in range(3000):
            kind = rng.randrange(6)
            if kind == 0:
                data = b""
            elif kind == 1:
                data = bytes(rng.randrange(1, 400))
            elif kind == 2:
                fake = struct.pack("<IIII", sec, 5, 20, 20) + bytes(20)
                data = fake * rng.randrange(1, 30)
            elif kind == 3:
                data = rng.randbytes(rng.randrange(3000, 20000))
            else:
                data = rng.randbytes(rng.randrange(14, 200))
            sec += rng.randrange(0, 2)
            f.write(struct.pack("<IIII", sec, rng.randrange(1_000_000), len(data),
                                len(data) + rng.randrange(0, 3)))
            f.write(data)
    return path


ADVERSARIAL = [(seed, lane) for seed in range(4) for lane in (64, 512, 8192)]
ADVERSARIAL_QUICK = [(0, 64), (1, 512), (2, 8192)]


@pytest.mark.parametrize("seed,lane", ADVERSARIAL_QUICK + [
    pytest.param(*case, marks=pytest.mark.exhaustive) for case in ADVERSARIAL
    if case not in ADVERSARIAL_QUICK])
def test_adversarial_records(seed, lane, tmp_path, monkeypatch):
    monkeypatch.setattr(pcapmod, "LANE_BYTES", lane)
    monkeypatch.setattr(pcapmod, "CHUNK_BYTES", 1 << 17)
    path = _weird_capture(tmp_path / "weird.pcap", seed)
    got, _ = ours_write(path, _rows(""), tmp_path / "out.pcap")
    assert got == tcpdump_write(path, "")


# -- through the CLI -------------------------------------------------------------------------

def _cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "bpfdump", *args], capture_output=True,
                          stdin=stdin, timeout=300)


@pytest.mark.parametrize("expr", BENCH_FILTERS[:3], ids=BENCH_FILTERS[:3])
def test_cli_file_and_stdin(mixed, expr, tmp_path):
    want = tcpdump_write(mixed, expr)
    out = tmp_path / "out.pcap"
    proc = _cli("-r", str(mixed), "-w", str(out), expr)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == want
    with open(mixed, "rb") as f:
        proc = _cli("-r", "-", "-w", "-", expr, stdin=f)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == want


def test_cli_count_and_stdin_pipe(mixed, tmp_path):
    want = tcpdump_write(mixed, "udp", "-c", "33")
    cat = subprocess.Popen(["cat", str(mixed)], stdout=subprocess.PIPE)
    proc = _cli("-r", "-", "-w", "-", "-c", "33", "udp", stdin=cat.stdout)
    cat.stdout.close()
    cat.wait()
    assert proc.stdout == want


def test_stream_batches_match_dpkt(mixed):
    """A pipe is read in windows; records cut by a window's end are carried over."""
    import os
    import threading
    data = mixed.read_bytes()
    rfd, wfd = os.pipe()

    def feed():
        with os.fdopen(wfd, "wb") as w:
            for i in range(0, len(data), 4099):
                w.write(data[i:i + 4099])
    thread = threading.Thread(target=feed)
    thread.start()
    got = []
    with os.fdopen(rfd, "rb") as r:
        src = open_offline(r)
        for b in src.batches(max_packets=777):
            got += [(p.ts // 1000, p.data) for p in b.packets()]
    thread.join()
    with open(mixed, "rb") as f:
        want = [(round(ts * 1e6), buf) for ts, buf in dpkt.pcap.Reader(f)]
    assert got == want


def _snap_capture(path: Path, snaplen: int, caplens) -> Path:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1))
        for i, cap in enumerate(caplens):
            data = bytes((i + j) & 0xFF for j in range(cap))
            f.write(struct.pack("<IIII", 1_700_000_000 + i, i, cap, cap + 4))
            f.write(data)
    return path


@pytest.mark.parametrize("caplens", [[60, 150, 99, 100, 101], [300] * 50 + [20, 5000, 20]],
                         ids=["around-snaplen", "long-records"])
def test_records_longer_than_snaplen_are_cut(caplens, tmp_path):
    path = _snap_capture(tmp_path / "snap.pcap", 100, caplens)
    got, _ = ours_write(path, _rows(""), tmp_path / "out.pcap")
    assert got == tcpdump_write(path, "")


def test_record_over_the_maximum_is_an_error_after_the_good_ones(tmp_path):
    path = _snap_capture(tmp_path / "big.pcap", 65535, [64] * 40 + [262145] + [64])
    out = tmp_path / "out.pcap"
    with open_offline(path) as src:
        sink = WriterSink(out, src)
        with pytest.raises(CaptureError) as err:
            engine.run(src, Program.from_tuples(_rows("")), sink)
        sink.close()
    proc = subprocess.run([TCPDUMP, "-r", str(path), "-w", "-"], capture_output=True)
    assert out.read_bytes() == proc.stdout
    assert err.value.message in proc.stderr.decode()
