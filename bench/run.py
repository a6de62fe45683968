#!/usr/bin/env python3
"""bpfdump against tcpdump (and pcapy-ng/libpcap) on the same capture in the same run.

Usage: python3 bench/run.py [--count N] [--repeat R] [--capture FILE]
Prints a Markdown table of wall times, ratios to tcpdump and peak memory (max RSS); the last
column is bpfdump's numpy block path (BPFDUMP_JIT=0) for comparison with the JIT fast path.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILTERS = [
    "tcp",
    "udp port 53",
    "tcp port 80 and host 10.1.2.3",
    "vlan 100 and (udp or tcp) and not net 192.168.3.0/24",
    "(tcp[tcpflags] & (tcp-syn|tcp-fin) != 0 and portrange 1000-30000) or (ip6 and tcp port 443)",
]
PCAPY_SCRIPT = r"""
import sys, pcapy
r = pcapy.open_offline(sys.argv[1]); r.setfilter(sys.argv[3])
d = r.dump_open(sys.argv[2])
def cb(h, data): d.dump(h, data)
r.loop(-1, cb); d.close()
"""


def timed(cmd, stdout=subprocess.DEVNULL, env=None) -> tuple[float, float, int]:
    """Run cmd; return (wall seconds, CPU seconds (user + system), peak RSS in KiB). A run
    that fails stops the benchmark (a failed run is fast, not a result)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n"
                     f"{err.read().decode(errors='replace')[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def best_of(cmds, repeat):
    """For each (cmd, env) of `cmds`: (best wall s, best CPU s, largest peak RSS KiB) over
    `repeat` rounds; the commands take turns within a round, so a change of load on the
    machine falls on all of them alike."""
    runs = [[] for _ in cmds]
    for _ in range(repeat):
        for i, (cmd, env) in enumerate(cmds):
            runs[i].append(timed(cmd, env=env))
    return [(min(r[0] for r in rs), min(r[1] for r in rs), max(r[2] for r in rs))
            for rs in runs]


def byte_compile() -> None:
    """Write the bytecode caches of bpfdump's packages, as `pip install` does: without them
    (e.g. an editable install under PYTHONDONTWRITEBYTECODE=1) every run compiles the sources
    again, which is start-up time no installed copy pays."""
    import compileall
    import importlib.util
    for name in ("bpfdump", "filterlang", "vm"):
        spec = importlib.util.find_spec(name)
        compileall.compile_dir(os.path.dirname(spec.origin), quiet=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--capture", help="use this capture instead of building one")
    args = ap.parse_args()
    tcpdump = shutil.which("tcpdump")
    bpfdump = [sys.executable, "-m", "bpfdump"]
    byte_compile()
    work = Path(tempfile.mkdtemp(prefix="bpfdump-bench-"))
    cap = args.capture or str(work / "mixed.pcap")
    if not args.capture:
        subprocess.run([sys.executable, str(HERE / "make_capture.py"), cap, "-n", str(args.count)],
                       check=True)
    out = str(work / "out.pcap")
    numpy_env = dict(os.environ, BPFDUMP_JIT="0")
    rows = []
    for expr in FILTERS:
        b, n, t, p = best_of([([*bpfdump, "-r", cap, "-w", out, expr], None),
                              ([*bpfdump, "-r", cap, "-w", out, expr], numpy_env),
                              ([tcpdump, "-r", cap, "-w", out, expr], None),
                              ([sys.executable, "-c", PCAPY_SCRIPT, cap, out, expr], None)],
                             args.repeat)
        rows.append((f"-r F -w out '{expr}'", b, t, p, n))
    b, t = best_of([([*bpfdump, "-n", "-r", cap], None), ([tcpdump, "-n", "-r", cap], None)],
                   args.repeat)
    rows.append(("-n -r F > /dev/null", b, t, None, None))
    b, t = best_of([([*bpfdump, "-d", FILTERS[-1]], None), ([tcpdump, "-d", FILTERS[-1]], None)],
                   max(args.repeat, 5))
    rows.append(("-d EXPR (start-up)", b, t, None, None))
    # the floor under every bpfdump row: the interpreter starting and stopping (with this
    # machine's site-packages .pth files)
    b, t = best_of([([sys.executable, "-c", "pass"], None), ([tcpdump, "--version"], None)],
                   max(args.repeat, 5))
    rows.append(("python3 -c pass / tcpdump --version", b, t, None, None))
    load = os.getloadavg()[0]
    print(f"capture: {args.count} packets, {os.path.getsize(cap) / 1e6:.1f} MB; "
          f"best of {args.repeat}; {os.cpu_count()} cores; load average {load:.1f} at the end; "
          f"{time.strftime('%Y-%m-%d %H:%M')}\n")
    print("| job | bpfdump wall s | tcpdump wall s | wall ratio | bpfdump CPU s | tcpdump CPU s "
          "| CPU ratio | pcapy-ng wall s | bpfdump MiB | tcpdump MiB | numpy path wall s / CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for job, (wb, cb, mb), (wt, ct, mt), p, n in rows:
        pc = f"{p[0]:.2f}" if p is not None else "–"
        nc = f"{n[0]:.3f} / {n[1]:.3f}" if n is not None else "–"
        print(f"| `{job}` | {wb:.3f} | {wt:.3f} | {wb / wt:.2f}× | {cb:.3f} | {ct:.3f} | "
              f"{cb / max(ct, 1e-3):.2f}× | {pc} | {mb / 1024:.0f} | {mt / 1024:.0f} | {nc} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
