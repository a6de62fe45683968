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


def timed(cmd, stdout=subprocess.DEVNULL) -> tuple[float, int, int]:
    """Run cmd; return (wall seconds, peak RSS in KiB, exit status)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def best(cmd, repeat, stdout=subprocess.DEVNULL):
    runs = [timed(cmd, stdout) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


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
        t_b, m_b = best([*bpfdump, "-r", cap, "-w", out, expr], args.repeat)
        t_t, m_t = best([tcpdump, "-r", cap, "-w", out, expr], args.repeat)
        t_p, _ = best([sys.executable, "-c", PCAPY_SCRIPT, cap, out, expr], args.repeat)
        rows.append((f"-r F -w out '{expr}'", t_b, t_t, t_p, m_b, m_t))
    t_b, m_b = best([*bpfdump, "-n", "-r", cap], args.repeat)
    t_t, m_t = best([tcpdump, "-n", "-r", cap], args.repeat)
    rows.append(("-n -r F > /dev/null", t_b, t_t, None, m_b, m_t))
    t_b, m_b = best([*bpfdump, "-d", FILTERS[-1]], max(args.repeat, 5))
    t_t, m_t = best([tcpdump, "-d", FILTERS[-1]], max(args.repeat, 5))
    rows.append(("-d EXPR (start-up)", t_b, t_t, None, m_b, m_t))
    print(f"capture: {args.count} packets, {os.path.getsize(cap) / 1e6:.1f} MB; "
          f"best of {args.repeat}; {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}\n")
    print("| job | bpfdump s | tcpdump s | ratio | pcapy-ng s | bpfdump MiB | tcpdump MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for job, tb, tt, tp, mb, mt in rows:
        pc = f"{tp:.2f}" if tp is not None else "–"
        print(f"| `{job}` | {tb:.3f} | {tt:.3f} | {tb / tt:.2f}× | {pc} | {mb / 1024:.0f} | "
              f"{mt / 1024:.0f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
