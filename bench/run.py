#!/usr/bin/env python3
"""bpfdump against tcpdump (and pcapy-ng/libpcap) on the same capture in the same run.

Usage: python3 bench/run.py [--count N] [--repeat R] [--out bench/out]
Prints a Markdown table of wall times, ratios to tcpdump and peak memory (max RSS).
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


def timed(cmd, stdout=subprocess.DEVNULL) -> tuple[float, float, int]:
    """Run cmd; return (wall seconds, CPU seconds (user + system), peak RSS in KiB). A run
    that fails stops the benchmark (a failed run is fast, not a result)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n"
                     f"{err.read().decode(errors='replace')[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def best(cmd, repeat, stdout=subprocess.DEVNULL):
    """(best wall s, best CPU s, largest peak RSS KiB) over `repeat` runs."""
    runs = [timed(cmd, stdout) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--capture", help="use this capture instead of building one")
    args = ap.parse_args()
    tcpdump = shutil.which("tcpdump")
    bpfdump = [sys.executable, "-m", "bpfdump"]
    work = Path(tempfile.mkdtemp(prefix="bpfdump-bench-"))
    cap = args.capture or str(work / "mixed.pcap")
    if not args.capture:
        subprocess.run([sys.executable, str(HERE / "make_capture.py"), cap, "-n", str(args.count)],
                       check=True)
    out = str(work / "out.pcap")
    rows = []
    for expr in FILTERS:
        b = best([*bpfdump, "-r", cap, "-w", out, expr], args.repeat)
        t = best([tcpdump, "-r", cap, "-w", out, expr], args.repeat)
        p = best([sys.executable, "-c", PCAPY_SCRIPT, cap, out, expr], args.repeat)
        rows.append((f"-r F -w out '{expr}'", b, t, p))
    b = best([*bpfdump, "-n", "-r", cap], args.repeat)
    t = best([tcpdump, "-n", "-r", cap], args.repeat)
    rows.append(("-n -r F > /dev/null", b, t, None))
    b = best([*bpfdump, "-d", FILTERS[-1]], max(args.repeat, 5))
    t = best([tcpdump, "-d", FILTERS[-1]], max(args.repeat, 5))
    rows.append(("-d EXPR (start-up)", b, t, None))
    load = os.getloadavg()[0]
    print(f"capture: {args.count} packets, {os.path.getsize(cap) / 1e6:.1f} MB; "
          f"best of {args.repeat}; {os.cpu_count()} cores; load average {load:.1f} at the end; "
          f"{time.strftime('%Y-%m-%d %H:%M')}\n")
    print("| job | bpfdump wall s | tcpdump wall s | wall ratio | bpfdump CPU s | tcpdump CPU s "
          "| CPU ratio | pcapy-ng wall s | bpfdump MiB | tcpdump MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for job, (wb, cb, mb), (wt, ct, mt), p in rows:
        pc = f"{p[0]:.2f}" if p is not None else "–"
        print(f"| `{job}` | {wb:.3f} | {wt:.3f} | {wb / wt:.2f}× | {cb:.3f} | {ct:.3f} | "
              f"{cb / max(ct, 1e-3):.2f}× | {pc} | {mb / 1024:.0f} | {mt / 1024:.0f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
