"""802.3 frames with -e: the header's length is the length field, or what the frame holds when
that is less — as tcpdump prints it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

TCPDUMP = shutil.which("tcpdump")


@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump binary not installed")
@pytest.mark.parametrize("opts", [["-nn", "-e"], ["-nn"], ["-nn", "-e", "-x"]], ids=" ".join)
def test_8023_length_matches_tcpdump(tmp_path, opts):
    from scapy.all import Ether, Raw, wrpcap
    cap = tmp_path / "e3.pcap"
    frames = [Ether(dst="00:aa:bb:cc:dd:ee", src="00:11:22:33:44:55", type=field)
              / Raw(b"\0\0\0\0" + b"\x11" * (size - 18))
              for field, size in [(40, 100), (46, 96), (200, 60), (1500, 64), (60, 60)]]
    wrpcap(str(cap), frames)
    env = dict(os.environ, TZ="UTC")
    ours = subprocess.run([sys.executable, "-m", "bpfdump", *opts, "-r", str(cap)],
                          capture_output=True, env=env)
    theirs = subprocess.run([TCPDUMP, *opts, "-r", str(cap)], capture_output=True, env=env)
    assert ours.stdout.decode().splitlines() == theirs.stdout.decode().splitlines()
