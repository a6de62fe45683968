"""bpfdump -i in a private network namespace pair, next to tcpdump on the same traffic."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.live

TCPDUMP = shutil.which("tcpdump")
IP = shutil.which("ip")


def _can_netns() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if IP is None:
        return "iproute2 not installed"
    if TCPDUMP is None:
        return "tcpdump not installed"
    name = f"bpfdchk{uuid.uuid4().hex[:6]}"
    ok = subprocess.run([IP, "netns", "add", name], capture_output=True).returncode == 0
    if ok:
        subprocess.run([IP, "netns", "del", name], capture_output=True)
        return None
    return "ip netns add failed (no namespace support here)"


REASON = _can_netns()
if REASON:
    pytestmark = [pytestmark, pytest.mark.skip(reason=REASON)]


@pytest.fixture
def pair():
    """Namespaces A and B joined by veth a0 <-> b0 (10.77.0.1/24 <-> 10.77.0.2/24)."""
    tag = uuid.uuid4().hex[:6]
    a, b = f"bpfdA{tag}", f"bpfdB{tag}"
    cmds = [
        ["netns", "add", a], ["netns", "add", b],
        ["link", "add", f"a0{tag}", "type", "veth", "peer", "name", f"b0{tag}"],
        ["link", "set", f"a0{tag}", "netns", a], ["link", "set", f"b0{tag}", "netns", b],
        ["-n", a, "link", "set", f"a0{tag}", "name", "a0"],
        ["-n", b, "link", "set", f"b0{tag}", "name", "b0"],
        ["-n", a, "addr", "add", "10.77.0.1/24", "dev", "a0"],
        ["-n", b, "addr", "add", "10.77.0.2/24", "dev", "b0"],
        ["-n", a, "link", "set", "a0", "up"], ["-n", b, "link", "set", "b0", "up"],
        ["-n", a, "link", "set", "lo", "up"], ["-n", b, "link", "set", "lo", "up"],
    ]
    try:
        for c in cmds:
            subprocess.run([IP, *c], check=True, capture_output=True)
        yield a, b
    finally:
        subprocess.run([IP, "netns", "del", a], capture_output=True)
        subprocess.run([IP, "netns", "del", b], capture_output=True)


SENDER = r"""
import socket, sys, time
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    port = 5000 + (i % 3)          # 5000, 5001, 5002
    s.sendto(bytes([i % 256]) * (20 + i % 50), ("10.77.0.1", port))
    time.sleep(0.002)
"""


def _in_ns(ns, *cmd, **kw):
    return subprocess.Popen([IP, "netns", "exec", ns, *cmd], **kw)


def _wait_listening(proc, timeout=15.0):
    """Read stderr until the 'listening on' line (both tools print it once the socket is up)."""
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if b"listening on" in line:
            return seen
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"never started listening: {seen!r}")


def _read(path):
    out = subprocess.run([TCPDUMP, "-r", path, "-nn", "-t"], capture_output=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.decode().splitlines()


@pytest.mark.parametrize("jit", ["1", "0"], ids=["block-path", "packet-path"])
@pytest.mark.parametrize("extra", [[], ["--kernel-filter"]], ids=["vm", "kernel-filter"])
def test_captures_exactly_what_tcpdump_captures(pair, tmp_path, extra, jit):
    """Ring blocks through the JIT scan (bpfdump.fastpath.live) or packet by packet
    (BPFDUMP_JIT=0): the same packets as tcpdump."""
    a, b = pair
    ours, theirs = str(tmp_path / "ours.pcap"), str(tmp_path / "theirs.pcap")
    expr = "udp and dst port 5001"
    bp = _in_ns(a, sys.executable, "-m", "bpfdump", "-i", "a0", "-w", ours, *extra, expr,
                stderr=subprocess.PIPE, env=dict(os.environ, BPFDUMP_JIT=jit))
    td = _in_ns(a, TCPDUMP, "-i", "a0", "-w", theirs, "-U", expr, stderr=subprocess.PIPE)
    _wait_listening(bp)
    _wait_listening(td)
    _in_ns(b, sys.executable, "-c", SENDER, "90").wait(timeout=60)
    time.sleep(1.5)
    for p in (bp, td):
        p.send_signal(signal.SIGINT)
    err = bp.communicate(timeout=30)[1].decode()
    td.communicate(timeout=30)
    assert bp.returncode == 0, err
    assert "30 packets captured" in err
    mine, ref = _read(ours), _read(theirs)
    assert len(mine) == 30
    assert mine == ref


def test_sigint_leaves_a_complete_file(pair, tmp_path):
    a, b = pair
    out = str(tmp_path / "cut.pcap")
    bp = _in_ns(a, sys.executable, "-m", "bpfdump", "-i", "a0", "-w", out, "udp",
                stderr=subprocess.PIPE)
    _wait_listening(bp)
    sender = _in_ns(b, sys.executable, "-c", SENDER, "800")
    time.sleep(random.uniform(1.0, 2.0))      # mid-stream: the sender runs for ~2 s
    bp.send_signal(signal.SIGINT)
    err = bp.communicate(timeout=30)[1].decode()
    sender.wait(timeout=60)
    captured = int(err.split(" packets captured")[0].split()[-1])
    assert captured > 0
    assert len(_read(out)) == captured


def test_count_stops_after_n(pair):
    a, b = pair
    bp = _in_ns(a, sys.executable, "-m", "bpfdump", "-i", "a0", "-n", "-c", "7", "udp",
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_listening(bp)
    sender = _in_ns(b, sys.executable, "-c", SENDER, "100")
    out, err = bp.communicate(timeout=60)
    sender.wait(timeout=60)
    assert bp.returncode == 0
    assert len(out.decode().splitlines()) == 7
    assert b"7 packets captured" in err


ERRORS = [
    (["-i", "nosuch0"], "nosuch0: No such device exists"),
]


@pytest.mark.parametrize("args,text", ERRORS, ids=["no-such-device"])
def test_live_errors(args, text):
    out = subprocess.run([sys.executable, "-m", "bpfdump", *args], capture_output=True,
                         timeout=30)
    assert out.returncode == 1
    assert text in out.stderr.decode()
    assert "Traceback" not in out.stderr.decode()


def test_interface_down(pair):
    a, _ = pair
    subprocess.run([IP, "-n", a, "link", "set", "a0", "down"], check=True)
    out = subprocess.run([IP, "netns", "exec", a, sys.executable, "-m", "bpfdump", "-i", "a0"],
                         capture_output=True, timeout=30)
    assert out.returncode == 1
    assert "a0: That device is not up" in out.stderr.decode()
