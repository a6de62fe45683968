"""The pcap writer against tcpdump, tshark and dpkt: what we write reads back identically, and
-C/-W/-G rotation names and fills files exactly as tcpdump does."""
from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import dpkt
import pytest

from bpfdump.packet import Packet
from bpfdump.sources import open_offline
from bpfdump.writer import (PcapWriter, RotatingWriter, WriteError, file_header,
                            rotation_name)

REPO = Path(__file__).resolve().parents[2]
PCAPS = REPO / "pcaps"
TCPDUMP = shutil.which("tcpdump")
TSHARK = shutil.which("tshark")
needs_tcpdump = pytest.mark.skipif(TCPDUMP is None, reason="tcpdump not installed")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed")


def packets(name):
    with open_offline(PCAPS / name) as src:
        return list(src), src.linktype, src.snaplen


def tcpdump_rewrite(path, *extra) -> bytes:
    """What tcpdump writes when it copies a capture: `tcpdump -r F -w - ...`."""
    proc = subprocess.run([TCPDUMP, "-r", str(path), "-w", "-", *extra], capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# -- byte-identical to tcpdump's copy ----------------------------------------------------------

@needs_tcpdump
@pytest.mark.parametrize("name,precision", [
    ("sample.pcap", "micro"), ("sample-nano.pcap", "nano"), ("sample-nano.pcap", "micro"),
    ("sample-be.pcap", "micro"), ("sample-snap96.pcap", "micro"), ("sample.pcapng", "micro"),
    ("sample.pcapng", "nano"), ("linux-sll.pcap", "micro"), ("raw-ip.pcap", "micro"),
], ids=lambda v: str(v))
def test_copy_is_byte_identical_to_tcpdump(name, precision, tmp_path):
    pkts, linktype, snaplen = packets(name)
    out = tmp_path / "out.pcap"
    with PcapWriter(out, linktype, snaplen, precision=precision) as w:
        for p in pkts:
            w.write(p)
    extra = ["--nano"] if precision == "nano" else []
    assert out.read_bytes() == tcpdump_rewrite(PCAPS / name, *extra)


@needs_tcpdump
@pytest.mark.parametrize("count", [0, 1, 5, 311])
def test_tcpdump_reads_what_we_wrote(count, tmp_path):
    pkts, linktype, snaplen = packets("sample.pcap")
    out = tmp_path / "out.pcap"
    with PcapWriter(str(out), linktype, snaplen) as w:
        for p in pkts[:count]:
            w.write(p)
    proc = subprocess.run([TCPDUMP, "-r", str(out), "-w", "-"], capture_output=True)
    assert proc.returncode == 0 and proc.stderr.decode().startswith("reading from file")
    recs = list(dpkt.pcap.Reader(io.BytesIO(proc.stdout)))
    assert [bytes(b) for _, b in recs] == [p.data for p in pkts[:count]]


@needs_tshark
def test_tshark_reads_what_we_wrote(tmp_path):
    pkts, linktype, snaplen = packets("sample.pcap")
    out = tmp_path / "out.pcap"
    with PcapWriter(out, linktype, snaplen, precision="nano") as w:
        for p in pkts:
            w.write(p)
    proc = subprocess.run([TSHARK, "-r", str(out), "-T", "fields", "-e", "frame.len",
                           "-e", "frame.cap_len", "-e", "frame.time_epoch"],
                          capture_output=True, timeout=120)
    assert proc.returncode == 0
    rows = [line.split("\t") for line in proc.stdout.decode().splitlines()]
    assert len(rows) == len(pkts)
    for row, p in zip(rows, pkts):
        sec, frac = row[2].split(".")
        assert (int(row[0]), int(row[1])) == (p.wirelen, len(p.data))
        assert int(sec) * 10**9 + int(frac.ljust(9, "0")[:9]) == p.ts


@needs_tcpdump
@pytest.mark.parametrize("snaplen", [14, 64, 96, 1500])
def test_snaplen_cuts_like_tcpdump(snaplen, tmp_path):
    """Data beyond the snapshot length is dropped, the wire length kept (dpkt reads it so), and
    tcpdump copies the file unchanged."""
    pkts, linktype, _ = packets("sample.pcap")
    out = tmp_path / "out.pcap"
    with PcapWriter(out, linktype, snaplen) as w:
        for p in pkts:
            w.write(p)
    reader = dpkt.pcap.Reader(open(out, "rb"))
    assert reader.snaplen == snaplen
    assert [bytes(b) for _, b in reader] == [p.data[:snaplen] for p in pkts]
    with open_offline(out) as src:
        assert [p.wirelen for p in src] == [p.wirelen for p in pkts]
    # tcpdump agrees on every record's lengths
    proc = subprocess.run([TCPDUMP, "-r", str(out), "-w", "-"], capture_output=True)
    assert proc.stdout == out.read_bytes()


@needs_tcpdump
@pytest.mark.parametrize("dlt,name", [(1, "EN10MB"), (12, "RAW"), (113, "LINUX_SLL"),
                                      (0, "NULL"), (127, "IEEE802_11_RADIO"), (14, "RAW")],
                         ids=lambda v: str(v))
def test_header_linktype_names(dlt, name, tmp_path):
    out = tmp_path / "lt.pcap"
    PcapWriter(out, dlt, 65535).close()
    proc = subprocess.run([TCPDUMP, "-r", str(out)], capture_output=True)
    assert f"link-type {name} " in proc.stderr.decode()
    with open_offline(out) as src:
        assert src.linktype == (12 if dlt == 14 else dlt)


@needs_tcpdump
def test_fcs_bits_copied_like_tcpdump(tmp_path):
    """A source header's FCS-length bits survive a copy, as with tcpdump -w."""
    pkts, _, _ = packets("sample.pcap")
    src_path = tmp_path / "fcs.pcap"
    data = bytearray((PCAPS / "sample.pcap").read_bytes())
    data[20:24] = struct.pack("<I", 0x14000001)
    src_path.write_bytes(bytes(data))
    out = tmp_path / "out.pcap"
    with open_offline(src_path) as src:
        assert (src.linktype, src.linktype_ext, src.fcs_len) == (1, 0x14000000, 2)
        with PcapWriter(out, src.linktype, src.snaplen, linktype_ext=src.linktype_ext) as w:
            for p in src:
                w.write(p)
    assert out.read_bytes() == tcpdump_rewrite(src_path)


def test_file_header_layout():
    hdr = file_header(1, 262144, "nano")
    assert struct.unpack("=IHHiIII", hdr) == (0xA1B23C4D, 2, 4, 0, 0, 262144, 1)
    with pytest.raises(ValueError):
        file_header(1, 100, "milli")


# -- flushing, file objects, stdout --------------------------------------------------------------

@needs_tcpdump
def test_valid_after_every_flush(tmp_path):
    pkts, linktype, snaplen = packets("sample.pcap")
    out = tmp_path / "live.pcap"
    w = PcapWriter(out, linktype, snaplen)
    try:
        for n in (0, 1, 10, 100):
            while w.count < n:
                w.write(pkts[w.count])
            w.flush()
            proc = subprocess.run([TCPDUMP, "-r", str(out), "-w", "-"], capture_output=True)
            assert proc.returncode == 0, proc.stderr
            assert len(list(dpkt.pcap.Reader(io.BytesIO(proc.stdout)))) == n
    finally:
        w.close()


def test_header_written_at_open(tmp_path):
    out = tmp_path / "h.pcap"
    w = PcapWriter(out, 1, 262144)
    assert out.stat().st_size == 24
    w.write(Packet(10**18, 60, bytes(60), 1))
    assert out.stat().st_size == 24          # buffered until flush
    w.flush()
    assert out.stat().st_size == 24 + 16 + 60
    w.close()
    w.close()                                # closing twice is harmless


def test_large_buffered_writes(tmp_path):
    """Many packets reach the OS in a few large writes."""
    pkts, linktype, snaplen = packets("sample.pcap")
    out = tmp_path / "big.pcap"
    w = PcapWriter(out, linktype, snaplen, buffer_size=1 << 16)
    for i in range(2000):
        w.write(pkts[i % len(pkts)])
    assert w.bytes_written < w.size and out.stat().st_size == w.bytes_written
    w.close()
    assert out.stat().st_size == w.size


def test_fileobj_bytesio():
    pkts, linktype, snaplen = packets("sample.pcap")
    buf = io.BytesIO()
    w = PcapWriter(buf, linktype, snaplen)
    for p in pkts:
        w.write(p)
    w.close()
    assert buf.getvalue() == (PCAPS / "sample.pcap").read_bytes()


@needs_tcpdump
def test_stdout_dash():
    code = ("from bpfdump.sources import open_offline\nfrom bpfdump.writer import PcapWriter\n"
            f"src = open_offline({str(PCAPS / 'sample.pcap')!r})\n"
            "w = PcapWriter('-', src.linktype, src.snaplen)\n"
            "for p in src: w.write(p)\nw.close()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout == tcpdump_rewrite(PCAPS / "sample.pcap")


# -- a full disk ---------------------------------------------------------------------------------

def test_dev_full_one_line_error():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with pytest.raises(WriteError) as info:
        PcapWriter("/dev/full", 1, 262144)
    text = str(info.value)
    assert "\n" not in text and "No space left on device" in text
    assert isinstance(info.value, OSError) and info.value.errno == 28


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                          capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {proc.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], capture_output=True)


@needs_tcpdump
def test_enospc_keeps_what_fits(small_tmpfs):
    pkts, linktype, snaplen = packets("sample.pcap")
    out = small_tmpfs / "full.pcap"
    w = PcapWriter(out, linktype, snaplen, buffer_size=5000)
    written = 0
    with pytest.raises(WriteError) as info:
        for i in range(100000):
            w.write(pkts[i % len(pkts)])
            written += 1
    assert "No space left on device" in str(info.value) and "\n" not in str(info.value)
    w.close()    # nothing left buffered: closing does not raise again
    # what is on disk reads cleanly: whole records only, a prefix of what we wrote
    proc = subprocess.run([TCPDUMP, "-r", str(out), "-w", "-"], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    recs = [bytes(b) for _, b in dpkt.pcap.Reader(io.BytesIO(proc.stdout))]
    assert 0 < len(recs) <= written
    assert recs == [pkts[i % len(pkts)].data for i in range(len(recs))]
    assert out.stat().st_size > 40_000


# -- rotation ------------------------------------------------------------------------------------

@pytest.mark.parametrize("template,count,file_count,expected", [
    ("out", 0, None, "out"), ("out", 1, None, "out1"), ("out", 12, None, "out12"),
    ("out", 0, 1, "out"), ("out", 0, 2, "out0"), ("out", 1, 2, "out1"),
    ("out", 0, 10, "out0"), ("out", 0, 11, "out00"), ("out", 7, 11, "out07"),
    ("out", 3, 1000, "out003"), ("out", 0, 1001, "out0000"),
])
def test_rotation_name(template, count, file_count, expected):
    assert rotation_name(template, count, file_count) == expected


def _big_input(tmp_path, copies=30):
    """~1.2 MB pcap: sample.pcap's records repeated, timestamps moving on."""
    pkts, linktype, snaplen = packets("sample.pcap")
    path = tmp_path / "in.pcap"
    with PcapWriter(path, linktype, snaplen) as w:
        for i in range(copies):
            for p in pkts:
                w.write(p._replace(ts=p.ts + i * 10**10))
    return path


@needs_tcpdump
@pytest.mark.parametrize("file_size_mb,file_count", [(1, None), (1, 2), (1, 11), (None, 3)],
                         ids=lambda v: str(v))
def test_rotation_matches_tcpdump(file_size_mb, file_count, tmp_path):
    src = _big_input(tmp_path, copies=60)
    theirs, mine = tmp_path / "theirs", tmp_path / "mine"
    theirs.mkdir()
    mine.mkdir()
    args = [TCPDUMP, "-Z", "root", "-r", str(src), "-w", str(theirs / "out")]
    if file_size_mb:
        args += ["-C", str(file_size_mb)]
    if file_count:
        args += ["-W", str(file_count)]
    proc = subprocess.run(args, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open_offline(src) as s:
        w = RotatingWriter(str(mine / "out"), s.linktype, s.snaplen,
                           file_size=file_size_mb * 1_000_000 if file_size_mb else None,
                           file_count=file_count)
        for p in s:
            w.write(p)
        w.close()
    names = sorted(os.listdir(theirs))
    assert sorted(os.listdir(mine)) == names
    for name in names:
        assert (mine / name).read_bytes() == (theirs / name).read_bytes(), name


@needs_tcpdump
def test_strftime_name_matches_tcpdump(tmp_path):
    src = PCAPS / "sample.pcap"
    template = str(tmp_path / "g-%Y%m%d-%H")
    before = time.time()
    proc = subprocess.run([TCPDUMP, "-Z", "root", "-r", str(src), "-w", template, "-G", "3600"],
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    made = os.listdir(tmp_path)
    assert rotation_name(template, when=before).rsplit("/", 1)[1] in made or \
        rotation_name(template, when=time.time()).rsplit("/", 1)[1] in made


def test_rotate_seconds_with_fake_clock(tmp_path):
    """-G: a new file when a packet comes after the interval; -W stops after N files."""
    now = [1_700_000_000.0]
    pkts, linktype, snaplen = packets("sample.pcap")
    w = RotatingWriter(str(tmp_path / "t-%H%M%S"), linktype, snaplen, rotate_seconds=60,
                       file_count=3, clock=lambda: now[0])
    for i in range(10):
        w.write(pkts[i])
        now[0] += 25
    w.close()
    assert w.done
    assert w.names == [rotation_name(str(tmp_path / "t-%H%M%S"), when=1_700_000_000.0 + s)
                       for s in (0, 75, 150)]
    counts = []
    for name in w.names:
        with open_offline(name) as s:
            counts.append(len(list(s)))
    assert counts == [3, 3, 3]     # packets 0-2, 3-5, 6-8; the 10th comes after the limit


def test_rotate_seconds_and_size(tmp_path):
    """-G with -C: each interval restarts the -C numbering."""
    now = [1_700_000_000.0]
    pkts, linktype, snaplen = packets("sample.pcap")
    tpl = str(tmp_path / "x-%M-")
    w = RotatingWriter(tpl, linktype, snaplen, rotate_seconds=600, file_size=2000,
                       clock=lambda: now[0])
    for i in range(60):
        w.write(pkts[i])
        if i == 29:
            now[0] += 600
    w.close()
    first = rotation_name(tpl, when=1_700_000_000.0)
    second = rotation_name(tpl, when=1_700_000_600.0)
    assert w.names[0] == first and first + "1" in w.names
    assert second in w.names and w.names.index(second) > w.names.index(first + "1")
