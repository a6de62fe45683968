"""The JIT fast path (bpfdump.fastpath) at its edges, against tcpdump's output bytes: a ring
buffer too small for the matches (drains mid-scan) or for one record (handed to the sink
directly), file windows smaller than a record, an output buffer smaller than a record, streams
read in small pieces, -c on the careful path, both byte orders, --count and printing."""
from __future__ import annotations

import io
import os
import random
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bpfdump import engine
from bpfdump.fastpath import drain as fdrain
from bpfdump.fastpath import scan as fscan
from bpfdump.sinks import CountSink
from bpfdump.sources import open_offline
from tests.bpfdump.test_engine import (WriterSink, _rows, _snap_capture, _weird_capture,
                                       mixed_capture, tcpdump_write)
from tests.bpfdump.test_writer import small_tmpfs  # noqa: F401 - a fixture
from vm.cbpf import Program

TCPDUMP = shutil.which("tcpdump")


def _jit_ok() -> bool:
    try:
        from vm import jit
    except ImportError:
        return False
    return jit.available()


pytestmark = [pytest.mark.skipif(TCPDUMP is None, reason="tcpdump not installed"),
              pytest.mark.skipif(not _jit_ok(), reason="the JIT needs x86-64 Linux and "
                                 "executable memory")]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return mixed_capture(tmp_path_factory.mktemp("fast") / "mixed.pcap")


@pytest.fixture(scope="module")
def weird(tmp_path_factory):
    return _weird_capture(tmp_path_factory.mktemp("fast") / "weird.pcap", 3)


def _write(path, expr, out, count=None, fileobj=None):
    """Run the engine on `path` (or an open file object) and return the bytes written and
    how many scans ran."""
    runs = []
    real = fscan.Scan.run

    def counted(self):
        runs.append(self)
        return real(self)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fscan.Scan, "run", counted)
        with open_offline(fileobj if fileobj is not None else path) as src:
            sink = WriterSink(out, src)
            try:
                engine.run(src, Program.from_tuples(_rows(expr)), sink, count=count)
            finally:
                sink.close()
    return out.read_bytes(), len(runs)


@pytest.mark.parametrize("expr", ["", "tcp", "len > 1000"])
@pytest.mark.parametrize("ring", [4096, 1 << 14], ids=["one-page-ring", "16k-ring"])
def test_small_ring_drains_in_the_middle(weird, expr, ring, tmp_path, monkeypatch):
    """Records larger than the ring go to the sink directly, in order."""
    monkeypatch.setattr(fscan, "BATCH_RING_SIZE", ring)
    got, runs = _write(weird, expr, tmp_path / "out.pcap")
    assert runs == 1
    assert got == tcpdump_write(weird, expr)


@pytest.mark.parametrize("window", [64, 4096, 65536])
def test_windows_smaller_than_records(weird, window, tmp_path, monkeypatch):
    monkeypatch.setattr(fscan, "WINDOW", window)
    got, _ = _write(weird, "", tmp_path / "out.pcap")
    assert got == tcpdump_write(weird, "")


def test_output_buffer_smaller_than_a_record(weird, tmp_path, monkeypatch):
    monkeypatch.setattr(fdrain, "OUT_SIZE", 64)
    got, _ = _write(weird, "", tmp_path / "out.pcap")
    assert got == tcpdump_write(weird, "")


def _record_boundary(data: bytes, near: int) -> int:
    pos = 24
    while pos + 16 <= len(data):
        nxt = pos + 16 + struct.unpack_from("<I", data, pos + 8)[0]
        if nxt > near:
            break
        pos = nxt
    return pos


@pytest.mark.parametrize("piece", [1, 17, 4099])
@pytest.mark.parametrize("expr", ["", "udp"])
def test_stream_in_small_pieces(mixed, expr, piece, tmp_path, monkeypatch):
    """A pipe is read a window at a time; records cut by a window's end are carried over."""
    from bpfdump import sources
    monkeypatch.setattr(sources._Input, "CHUNK", 4096 if piece > 1 else 600)
    data = mixed.read_bytes()
    if piece == 1:                     # (a byte at a time: the first ~100 records)
        data = data[:_record_boundary(data, 20000)]
    rfd, wfd = os.pipe()

    def feed():
        with os.fdopen(wfd, "wb") as w:
            for i in range(0, len(data), piece):
                w.write(data[i:i + piece])
                w.flush()
    thread = threading.Thread(target=feed)
    thread.start()
    with os.fdopen(rfd, "rb") as r:
        got, runs = _write(None, expr, tmp_path / "out.pcap", fileobj=r)
    thread.join()
    src = tmp_path / "in.pcap"
    src.write_bytes(data)
    assert runs == 1
    assert got == tcpdump_write(src, expr)


@pytest.mark.parametrize("count", [1, 3, 51, 52, 53])
def test_count_on_the_careful_path(count, tmp_path):
    """Records over the snapshot length are taken by Python; -c counts them too."""
    caplens = [60, 150, 99, 100, 101] * 20 + [300] * 10
    path = _snap_capture(tmp_path / "snap.pcap", 100, caplens)
    got, _ = _write(path, "", tmp_path / "out.pcap", count=count)
    assert got == tcpdump_write(path, "", "-c", str(count))


def _swap_capture(src: Path, dst: Path, nano: bool) -> Path:
    """The same records as a big-endian (and maybe nanosecond) file."""
    data = src.read_bytes()
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    _, major, minor, zone, sig, snap, lt = struct.unpack_from("<IHHiIII", data, 0)
    out = bytearray(struct.pack(">IHHiIII", magic, major, minor, zone, sig, snap, lt))
    pos = 24
    while pos < len(data):
        sec, frac, cap, wire = struct.unpack_from("<IIII", data, pos)
        out += struct.pack(">IIII", sec, frac * 1000 if nano else frac, cap, wire)
        out += data[pos + 16:pos + 16 + cap]
        pos += 16 + cap
    dst.write_bytes(out)
    return dst


@pytest.mark.parametrize("nano", [False, True], ids=["micro", "nano"])
@pytest.mark.parametrize("expr", ["", "tcp or icmp6", "vlan and udp"])
def test_big_endian_files(mixed, nano, expr, tmp_path):
    path = _swap_capture(mixed, tmp_path / "be.pcap", nano)
    got, runs = _write(path, expr, tmp_path / "out.pcap")
    assert runs == 1
    assert got == tcpdump_write(path, expr)


def test_negative_and_huge_timestamps(tmp_path):
    """Seconds are signed in the file: the drain program floors like Python's divmod."""
    path = tmp_path / "ts.pcap"
    rng = random.Random(5)
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for sec in [0, 1, -1, -2, 0x7FFFFFFF, -0x80000000, 1_700_000_000] * 3:
            data = rng.randbytes(60)
            f.write(struct.pack("<iIII", sec, rng.randrange(1_000_000), 60, 60) + data)
    got, _ = _write(path, "", tmp_path / "out.pcap")
    assert got == tcpdump_write(path, "")


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "bpfdump", *args], capture_output=True,
                          timeout=120, env=env)


@pytest.mark.parametrize("expr", ["", "tcp", "udp port 53 or arp"])
def test_cli_count_and_print_through_the_fast_path(mixed, expr):
    env = dict(os.environ)
    env.pop("BPFDUMP_JIT", None)
    want = subprocess.run([TCPDUMP, "-r", str(mixed), "--count", expr],
                          capture_output=True).stdout
    proc = _cli("-r", str(mixed), "--count", expr, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == want
    sample = Path(__file__).resolve().parents[2] / "pcaps" / "sample.pcap"
    want = subprocess.run([TCPDUMP, "-n", "-r", str(sample), expr], capture_output=True).stdout
    proc = _cli("-n", "-r", str(sample), expr, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == want


def test_count_sink_counts_natively(mixed):
    with open_offline(mixed) as src:
        sink = CountSink(io.StringIO())
        n = engine.run(src, Program.from_tuples(_rows("tcp")), sink)
    want = subprocess.run([TCPDUMP, "-r", str(mixed), "--count", "tcp"],
                          capture_output=True).stdout.decode()
    assert sink.count == n == int(want.split()[0])


def test_full_disk_keeps_whole_records(mixed, small_tmpfs):
    """-w on a full disk through the fast path: a one-line error, exit 1, and the file on
    disk is a valid capture whose records are the first ones tcpdump writes."""
    out = small_tmpfs / "out.pcap"
    env = dict(os.environ)
    env.pop("BPFDUMP_JIT", None)
    proc = _cli("-r", str(mixed), "-w", str(out), env=env)
    assert proc.returncode == 1
    err = proc.stderr.decode().strip().splitlines()
    assert "No space left on device" in err[-1] and "Traceback" not in proc.stderr.decode()
    check = subprocess.run([TCPDUMP, "-r", str(out), "-w", "-"], capture_output=True)
    assert check.returncode == 0, check.stderr
    want = tcpdump_write(mixed, "")
    assert 40_000 < len(check.stdout) and want.startswith(check.stdout)


# -- the readers' variants and malformed files, through the fast path ---------------------------

def _file_cases():
    from tests.bpfdump.test_sources import _mutations, _variants
    cases = [pytest.param(p.values[0], id=f"variant-{p.id}") for p in _variants()]
    cases += [pytest.param(p.values[0], id=f"malformed-{p.id}") for p in _mutations()]
    cases.append(pytest.param(_sections(), id="pcapng-sections-byte-orders-spb-custom"))
    return cases


def _sections() -> bytes:
    """Three sections whose interfaces have different resolutions, Simple Packet Blocks and a
    custom block between the Enhanced ones. (A section in the other byte order, which libpcap
    1.10 refuses, is pcaps/two-interfaces.pcapng: test_engine runs it on the fast path with
    libpcap's bpf_filter as the oracle.)"""
    from tests.bpfdump.test_sources import (ng_block, ng_epb, ng_idb, ng_opt, ng_shb,
                                            sample_records)
    recs = sample_records(12)
    out = b""
    for order, res in (("<", 6), ("<", 9), ("<", 3)):
        opts = ng_opt(order, 9, bytes([res])) + struct.pack(order + "HH", 0, 0)
        out += ng_shb(order) + ng_idb(order, options=opts) + ng_idb(order, options=opts)
        for i, (ts, wirelen, data) in enumerate(recs):
            units = ts * 10**res // 10**9
            out += ng_epb(order, i % 2, units, data, wirelen)
            if i == 3:
                out += ng_block(order, 3, struct.pack(order + "I", len(data)) +
                                data + bytes(-len(data) % 4))
            if i == 5:
                out += ng_block(order, 0xBAD, b"custom!!")
    return out


@pytest.mark.parametrize("data", _file_cases())
def test_files_write_like_tcpdump(data, tmp_path):
    """Every format variant the readers know (pcap byte orders, precisions, Kuznetzov,
    snapshot lengths; pcapng byte orders, resolutions, offsets, sections) and every malformed
    file: the records written before any error are tcpdump's, and an error comes iff tcpdump
    has one."""
    from bpfdump.sinks import WriteSink
    from bpfdump.sources import CaptureError
    path = tmp_path / "in.cap"
    path.write_bytes(data)
    proc = subprocess.run([TCPDUMP, "-r", str(path), "-w", "-"], capture_output=True)
    out = tmp_path / "out.pcap"
    failed = False
    try:
        src = open_offline(path)
    except CaptureError:
        assert proc.returncode != 0 and proc.stdout == b""
        return
    with src:
        sink = WriteSink(str(out), src.linktype, src.snaplen,
                         linktype_ext=getattr(src, "linktype_ext", 0))
        try:
            engine.run(src, Program.from_tuples(_rows("")), sink)
        except CaptureError:
            failed = True
        finally:
            sink.close()
    assert out.read_bytes() == proc.stdout
    assert failed == (proc.returncode != 0)
