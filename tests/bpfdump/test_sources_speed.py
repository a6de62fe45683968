"""Throughput on a 1M-packet capture (exhaustive only; reports packets/s, asserts no timing).
The packet count is checked against tcpdump --count."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bpfdump.sources import open_offline
from bpfdump.writer import PcapWriter

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
TCPDUMP = shutil.which("tcpdump")
N = 1_000_000


@pytest.fixture(scope="module")
def million(tmp_path_factory):
    with open_offline(PCAPS / "sample.pcap") as src:
        pkts = list(src)
    path = tmp_path_factory.mktemp("speed") / "million.pcap"
    with PcapWriter(path, 1, 262144) as w:
        for i in range(N):
            p = pkts[i % len(pkts)]
            w.write(p._replace(ts=p.ts + i * 1000))
    return path


def _rate(fn):
    start = time.perf_counter()
    n = fn()
    return n, n / (time.perf_counter() - start)


@pytest.mark.exhaustive
@pytest.mark.parametrize("mode", ["mmap", "stream"])
def test_read_million(million, mode):
    cat = None

    def run():
        nonlocal cat
        n = 0
        if mode == "mmap":
            src = open_offline(million)
        else:   # a pipe: read through the buffered stream
            cat = subprocess.Popen(["cat", str(million)], stdout=subprocess.PIPE)
            src = open_offline(cat.stdout)
            assert not src._in.mapped
        with src:
            for _ in src:
                n += 1
        return n
    n, rate = _rate(run)
    if cat is not None:
        cat.stdout.close()
        cat.wait()
    print(f"\nread ({mode}): {n} packets, {rate:,.0f} packets/s")
    if TCPDUMP:
        out = subprocess.run([TCPDUMP, "-r", str(million), "--count"], capture_output=True)
        assert out.stdout.decode().split()[0] == str(n)
    assert n == N


@pytest.mark.exhaustive
def test_write_million(million, tmp_path):
    with open_offline(million) as src:
        pkts = list(src)
    out = tmp_path / "copy.pcap"

    def run():
        with PcapWriter(out, 1, 262144) as w:
            for p in pkts:
                w.write(p)
        return len(pkts)
    n, rate = _rate(run)
    print(f"\nwrite: {n} packets, {rate:,.0f} packets/s")
    assert out.read_bytes() == million.read_bytes()
