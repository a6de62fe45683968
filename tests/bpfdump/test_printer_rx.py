"""AFS RX over UDP 7000-7009: the cases bpfdump decodes print as tcpdump prints them."""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys

import pytest

TCPDUMP = shutil.which("tcpdump")
pytestmark = pytest.mark.skipif(TCPDUMP is None, reason="tcpdump binary not installed")


def _capture(path):
    from scapy.all import IP, UDP, Ether, Raw, wrpcap
    pkts = []
    for kind in [0] + list(range(3, 16)):               # every type but DATA (1) and ACK (2)
        hdr = struct.pack(">IIIIIBBBBHH", 1, 2, 3, 1, 5, kind, 1, 0, 0, 0, 52)
        pkts.append(Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=7001, dport=7000)
                    / Raw(hdr + b"\0" * 8))
    for port, size in [(7000, 0), (7005, 27), (7009, 3), (7003, 12)]:   # header cut short
        pkts.append(Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=1234, dport=port)
                    / Raw(b"\1" * size))
    wrpcap(str(path), pkts)


@pytest.mark.parametrize("opts", [["-n"], ["-nn", "-e"], ["-tt", "-n"]], ids=" ".join)
def test_rx_lines_match_tcpdump(tmp_path, opts):
    cap = tmp_path / "rx.pcap"
    _capture(cap)
    env = dict(os.environ, TZ="UTC")
    ours = subprocess.run([sys.executable, "-m", "bpfdump", *opts, "-r", str(cap)],
                          capture_output=True, env=env)
    theirs = subprocess.run([TCPDUMP, *opts, "-r", str(cap)], capture_output=True, env=env)
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout.decode().splitlines() == theirs.stdout.decode().splitlines()
