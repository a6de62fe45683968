"""Printing on worker processes (bpfdump.printpool) prints what tcpdump prints.

The captures are TCP conversations interleaved so that connections begin in one block of
records and go on in the next ones (the workers' tables are stale there and the main process
must print those packets again), reuse a 4-tuple after a new SYN, and quote whole segments in
ICMP errors (with -v a packet that touches two connections). The blocks are made tiny (a 4 KB
ring: ~20 packets a block) so that every run has hundreds of them. The oracle is the tcpdump
binary on the same file.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TCPDUMP = shutil.which("tcpdump")
pytestmark = [
    pytest.mark.skipif(TCPDUMP is None, reason="tcpdump not installed"),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="print workers need fork()"),
]

# bpfdump's CLI with a tiny pool ring, counting how blocks were checked; a worker can be told
# to die or raise at its Nth block (FAIL=exit:N / FAIL=raise:N)
RUNNER = r"""
import json, os, sys
import bpfdump.fastpath.scan as scan
import bpfdump.printpool as pp
scan.POOL_RING_SIZE = int(os.environ["RING"])
seen = {"blocks": 0, "spliced": 0, "here": 0, "workers": 0}
collect, splice, here, start = (pp.PrintPool._collect, pp.PrintPool._splice,
                                pp.PrintPool._print_here, pp.PrintPool._start)
def _collect(self):
    seen["blocks"] += 1
    collect(self)
def _splice(self, *a):
    seen["spliced"] += 1
    return splice(self, *a)
def _here(self, *a, **k):
    seen["here"] += 1
    return here(self, *a, **k)
def _start(self):
    start(self)
    seen["workers"] = len(self.workers)
pp.PrintPool._collect, pp.PrintPool._splice = _collect, _splice
pp.PrintPool._print_here, pp.PrintPool._start = _here, _start
fail = os.environ.get("FAIL")
if fail:
    how, nth = fail.split(":")
    block, done = pp._print_block, [0]
    def _print_block(*a):
        done[0] += 1
        if done[0] == int(nth):
            if how == "exit":
                os._exit(3)
            raise RuntimeError("printer bug")
        return block(*a)
    pp._print_block = _print_block
from bpfdump.cli import main
try:
    code = main(sys.argv[1:])
finally:
    try:
        sys.stdout.flush()
    except (AttributeError, OSError):
        pass
    print("POOL " + json.dumps(seen), file=sys.stderr)
sys.exit(code)
"""


def conversations(path: Path, flows: int = 40, seed: int = 7) -> Path:
    """A pcap of `flows` TCP connections (IPv4 and IPv6, random ISNs, handshake, data both
    ways, FIN), randomly interleaved, some 4-tuples reused after a new SYN, ICMP errors
    quoting whole segments, and a tunnelled (IP-in-IP) connection."""
    from scapy.layers.inet import ICMP, IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    rng = random.Random(seed)
    streams = []
    for n in range(flows):
        v6 = n % 4 == 3
        a, b = (f"2001:db8::{n + 1:x}", f"2001:db8:1::{n % 5 + 1:x}") if v6 else \
            (f"10.0.{n // 200}.{n % 200 + 1}", f"192.168.1.{n % 7 + 1}")
        sport, dport = 30000 + n % 11, rng.choice([22, 443, 5001, 8443])  # (4-tuples repeat)
        net = (lambda s, d: IPv6(src=s, dst=d)) if v6 else (lambda s, d: IP(src=s, dst=d))
        if n % 9 == 4:                                   # a connection inside IP-in-IP
            net = (lambda s, d, inner=net: IP(src="172.16.0.1", dst="172.16.0.2") / inner(s, d))
        isn_a, isn_b = rng.getrandbits(32), rng.getrandbits(32)
        seq_a, seq_b = isn_a + 1, isn_b + 1
        pkts = [net(a, b) / TCP(sport=sport, dport=dport, flags="S", seq=isn_a),
                net(b, a) / TCP(sport=dport, dport=sport, flags="SA", seq=isn_b, ack=seq_a),
                net(a, b) / TCP(sport=sport, dport=dport, flags="A", seq=seq_a, ack=seq_b)]
        for _ in range(rng.randrange(3, 30)):
            size = rng.choice([0, 10, 100, 1000])
            if rng.random() < 0.5:
                pkts.append(net(a, b) / TCP(sport=sport, dport=dport, flags="PA", seq=seq_a,
                                            ack=seq_b) / (b"x" * size))
                seq_a += size
            else:
                pkts.append(net(b, a) / TCP(sport=dport, dport=sport, flags="PA", seq=seq_b,
                                            ack=seq_a) / (b"y" * size))
                seq_b += size
            if not v6 and rng.random() < 0.05:          # an ICMP error quoting a segment
                quoted = IP(src=a, dst=b) / TCP(sport=sport, dport=dport, flags="PA",
                                                seq=seq_a, ack=seq_b)
                pkts.append(IP(src=b, dst=a) / ICMP(type=3, code=4, nexthopmtu=1400) / quoted)
        pkts.append(net(a, b) / TCP(sport=sport, dport=dport, flags="FA", seq=seq_a,
                                    ack=seq_b))
        streams.append(pkts)
    frames, ts = [], 1_700_000_000.0
    live = [s for s in streams[:6]]
    waiting = streams[6:]
    while live:
        s = rng.choice(live)
        ts += rng.randrange(1, 3000) / 1e6
        frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / s.pop(0)
        frame.time = ts
        frames.append(frame)
        if not s:
            live.remove(s)
            if waiting:
                live.append(waiting.pop(0))
        if waiting and rng.random() < 0.03:         # connections overlap more and more
            live.append(waiting.pop(0))
    wrpcap(str(path), frames)
    return path


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    return conversations(tmp_path_factory.mktemp("pool") / "conv.pcap")


def ours(path, flags, ring=4096, workers=2, fail=None, timeout=120):
    env = dict(os.environ, RING=str(ring), BPFDUMP_PRINT_WORKERS=str(workers))
    env.pop("BPFDUMP_JIT", None)
    if fail:
        env["FAIL"] = fail
    proc = subprocess.run([sys.executable, "-c", RUNNER, *flags, "-r", str(path)],
                          capture_output=True, env=env, timeout=timeout)
    pool = json.loads(proc.stderr.decode().rsplit("POOL ", 1)[1])
    return proc, pool


def theirs(path, flags) -> bytes:
    return subprocess.run([TCPDUMP, *flags, "-r", str(path)], capture_output=True,
                          timeout=120).stdout


def _jit_ready():
    try:
        from vm import jit
    except ImportError:
        return False
    return jit.available()


needs_fastpath = pytest.mark.skipif(not _jit_ready(), reason="the pool is on the JIT fast path")

OPTION_SETS = [["-n"], ["-n", "-v"], ["-n", "-S"], [], ["-n", "-e", "-tttt"], ["-nn", "-q"],
               ["-n", "-x"]]


@needs_fastpath
@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("flags", OPTION_SETS, ids=lambda f: " ".join(f) or "default")
def test_workers_print_what_tcpdump_prints(capture, flags, workers):
    proc, pool = ours(capture, flags, workers=workers)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == theirs(capture, flags)
    assert pool["workers"] == workers and pool["blocks"] > 30


@needs_fastpath
@pytest.mark.parametrize("flags", [["-n"], ["-n", "-v"]], ids=["-n", "-n -v"])
def test_stale_connections_are_printed_again(capture, flags):
    """Connections that began in a block another worker was printing: their packets are
    printed again by the main process and spliced in, and the text is still tcpdump's."""
    proc, pool = ours(capture, flags, workers=3)
    assert proc.stdout == theirs(capture, flags)
    assert pool["spliced"] > 0


def test_recorder_notes_first_values_touches_and_packets_with_two_keys():
    """The bookkeeping the checks rest on, by hand: a packet that reads two keys is one the
    main process can't splice alone (no capture of real traffic has been found that makes the
    printer do it, so this is checked directly)."""
    from bpfdump.printpool import _Recorder, stale_keys
    table = _Recorder({"a": [1, 2]})
    table.cur = 0
    assert table.get("a") == [1, 2]
    table.cur = 1
    assert table.get("b") is None
    table["b"] = [5, 6]
    table.cur = 2
    table.get("b")
    table.get("a")
    table["a"] = [7, 8]
    report = table.report()
    assert report == {"a": ([1, 2], [7, 8], table.seen["a"][1]),
                      "b": (None, [5, 6], table.seen["b"][1])}
    assert list(report["a"][2]) == [0, 2] and list(report["b"][2]) == [1, 2]
    assert table.multi == {2}
    truth = {"a": [1, 2], "b": [9, 9]}                  # b began in an earlier block
    assert stale_keys(report, table.multi, truth) is None   # and packet 2 touched a too
    assert stale_keys(report, set(), truth) == ["b"]
    assert stale_keys(report, table.multi, {"a": [1, 2]}) == []
    assert stale_keys({"b": report["b"]}, set(), truth) == ["b"]
    table.begin()
    assert table.report() == {} and table["a"] == [7, 8]


@needs_fastpath
@pytest.mark.parametrize("fail", ["exit:3", "raise:3"], ids=["worker-dies", "worker-raises"])
def test_a_failing_worker_loses_nothing(capture, fail):
    proc, pool = ours(capture, ["-n"], workers=2, fail=fail)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == theirs(capture, ["-n"])
    assert pool["here"] > 0


@needs_fastpath
@pytest.mark.parametrize("flags", [["-n", "-#"], ["-n", "-ttt"], ["-n", "-ttttt"], ["-n", "-l"]],
                         ids=lambda f: " ".join(f))
def test_options_that_need_the_packets_before_print_in_one_process(capture, flags):
    proc, pool = ours(capture, flags, workers=2)
    assert proc.stdout == theirs(capture, flags)
    assert pool["workers"] == 0


def test_a_file_of_one_block_starts_no_worker(tmp_path):
    small = conversations(tmp_path / "small.pcap", flows=1)
    proc, pool = ours(small, ["-n"], ring=1 << 20, workers=2)
    assert proc.stdout == theirs(small, ["-n"])
    assert pool["workers"] == 0


@needs_fastpath
@pytest.mark.parametrize("how", ["SIGINT", "closed-pipe"])
def test_interrupted_print_ends_cleanly(tmp_path, how):
    """Ctrl-C: exit 0 with whole lines, a prefix of tcpdump's text; a reader that goes away:
    no traceback. Either way no worker is left behind."""
    big = conversations(tmp_path / "big.pcap", flows=400, seed=3)
    marker = str(big)
    want = theirs(big, ["-n"])
    env = dict(os.environ, RING="4096", BPFDUMP_PRINT_WORKERS="2")
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, "-n", "-r", marker],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        first = os.read(proc.stdout.fileno(), 1)
        assert first, proc.stderr.read()
        if how == "SIGINT":
            proc.send_signal(signal.SIGINT)
            rest, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            got = first + rest
            assert got.endswith(b"\n") and want.startswith(got) and len(got) < len(want)
        else:
            proc.stdout.close()
            err = proc.stderr.read()
            proc.wait(timeout=60)
        assert b"Traceback" not in err
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = subprocess.run(["pgrep", "-f", marker], capture_output=True).stdout
        if not left:
            break
        time.sleep(0.1)
    assert not left, left
