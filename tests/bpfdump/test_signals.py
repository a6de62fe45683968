"""Ctrl-C (SIGINT) and SIGTERM while reading a capture file: like tcpdump, the read ends, what
was read so far is printed / written completely, and the exit status is 0."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys

import pytest

from tests.bpfdump.test_engine import mixed_capture

TCPDUMP = shutil.which("tcpdump")
pytestmark = pytest.mark.skipif(TCPDUMP is None, reason="tcpdump not installed")


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """125,000 packets: printing them takes seconds, far longer than the test waits."""
    return mixed_capture(tmp_path_factory.mktemp("sig") / "big.pcap", repeat=200)


@pytest.mark.parametrize("jit", ["1", "0"], ids=["fast-path", "numpy-path"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_ends_the_read_with_complete_output(big, sig, jit, tmp_path):
    import os
    out = tmp_path / "out.pcap"
    proc = subprocess.Popen([sys.executable, "-m", "bpfdump", "-r", str(big), "-w", str(out),
                             "--print", "-n", "ip or ip6"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, BPFDUMP_JIT=jit))
    try:
        first = b""                                # printing has begun (read unbuffered:
        while not first.endswith(b"\n"):           # communicate() reads the fd itself)
            byte = os.read(proc.stdout.fileno(), 1)
            assert byte, proc.stderr.read()
            first += byte
        proc.send_signal(sig)
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()                                # (no-op once it has ended)
        proc.wait()
    printed = first + rest
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    want = subprocess.run([TCPDUMP, "-r", str(big), "-w", "-", "ip or ip6"],
                          capture_output=True).stdout
    got = out.read_bytes()
    assert 24 < len(got) < len(want) and want.startswith(got)   # a prefix, whole records
    # every packet both printed and kept: what was printed is what the file prints
    again = subprocess.run([sys.executable, "-m", "bpfdump", "-n", "-r", str(out)],
                           capture_output=True, env=dict(os.environ, BPFDUMP_JIT=jit))
    assert printed == again.stdout
