#!/usr/bin/env python3
"""Highest packet rate each capturer takes without a drop, on a veth pair in private namespaces.

For each rate (packets/s, rising), a sender in namespace B sends UDP datagrams to namespace A for
a fixed number of packets; bpfdump (VM filter), bpfdump --kernel-filter and tcpdump capture on
A's side with the same filter (matching one packet in two) and write to a file. A run passes
when the capturer reports every matching packet captured and none dropped. Needs root and
iproute2; all traffic stays inside the two namespaces this script creates and deletes.

Usage: sudo python3 bench/live_rate.py [--packets N] [--rates 1000,2000,...]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

SENDER = r"""
import socket, sys, time
n, rate = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = b"x" * 64
start = time.perf_counter()
for i in range(n):
    s.sendto(payload, ("10.78.0.1", 5000 + (i & 1)))
    if i % 64 == 63:                               # pace in small bursts
        ahead = (i + 1) / rate - (time.perf_counter() - start)
        if ahead > 0:
            time.sleep(ahead)
print(n / (time.perf_counter() - start))
"""


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True)


class Pair:
    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.a, self.b = f"rateA{tag}", f"rateB{tag}"
        ip = shutil.which("ip")
        sh(ip, "netns", "add", self.a)
        sh(ip, "netns", "add", self.b)
        sh(ip, "link", "add", f"ra{tag}", "type", "veth", "peer", "name", f"rb{tag}")
        sh(ip, "link", "set", f"ra{tag}", "netns", self.a)
        sh(ip, "link", "set", f"rb{tag}", "netns", self.b)
        sh(ip, "-n", self.a, "link", "set", f"ra{tag}", "name", "a0")
        sh(ip, "-n", self.b, "link", "set", f"rb{tag}", "name", "b0")
        sh(ip, "-n", self.a, "addr", "add", "10.78.0.1/24", "dev", "a0")
        sh(ip, "-n", self.b, "addr", "add", "10.78.0.2/24", "dev", "b0")
        for ns, dev in ((self.a, "a0"), (self.b, "b0")):
            sh(ip, "-n", ns, "link", "set", dev, "up")
        # neighbour entries up front: no ARP in the measured traffic
        mac = sh(ip, "-n", self.a, "-br", "link", "show", "a0").stdout.split()[2].decode()
        sh(ip, "-n", self.b, "neigh", "add", "10.78.0.1", "lladdr", mac, "dev", "b0")

    def close(self):
        sh("ip", "netns", "del", self.a, check=False)
        sh("ip", "netns", "del", self.b, check=False)


def trial(pair: Pair, capturer: list[str], packets: int, rate: int, out: str) -> tuple[bool, str]:
    expr = "udp and dst port 5001"
    cap = subprocess.Popen(["ip", "netns", "exec", pair.a, *capturer, "-i", "a0", "-w", out, expr],
                           stderr=subprocess.PIPE)
    seen = b""
    while b"listening on" not in seen:
        line = cap.stderr.readline()
        if not line:
            return False, "did not start: " + seen.decode()
        seen += line
    send = subprocess.run(["ip", "netns", "exec", pair.b, sys.executable, "-c", SENDER,
                           str(packets), str(rate)], capture_output=True, text=True)
    time.sleep(1.5)
    cap.send_signal(signal.SIGINT)
    err = cap.communicate(timeout=60)[1].decode()
    captured = int(re.search(r"(\d+) packets? captured", err).group(1))
    dropped = int(re.search(r"(\d+) packets? dropped by kernel", err).group(1))
    achieved = float(send.stdout.strip() or 0)
    want = packets // 2
    ok = captured == want and dropped == 0
    return ok, f"sent at {achieved:,.0f}/s, captured {captured}/{want}, dropped {dropped}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--packets", type=int, default=20000)
    ap.add_argument("--rates", default="1000,2000,5000,10000,20000,40000,80000")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("live_rate.py: needs root (network namespaces)")
    rates = [int(r) for r in args.rates.split(",")]
    capturers = {
        "bpfdump (VM)": [sys.executable, "-m", "bpfdump"],
        "bpfdump --kernel-filter": [sys.executable, "-m", "bpfdump", "--kernel-filter"],
        "tcpdump": [shutil.which("tcpdump")],
    }
    pair = Pair()
    work = tempfile.mkdtemp(prefix="bpfdump-rate-")
    best = {}
    try:
        for name, cmd in capturers.items():
            best[name] = 0
            for rate in rates:
                ok, detail = trial(pair, cmd, args.packets, rate, os.path.join(work, "o.pcap"))
                print(f"{name:26} {rate:>7}/s  {'ok  ' if ok else 'LOSS'}  {detail}", flush=True)
                if not ok:
                    break
                best[name] = rate
    finally:
        pair.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.packets} packets a trial (half match the filter); {time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} cores\n")
    print("| capturer | highest rate with no loss (packets/s) |\n|---|---:|")
    for name, rate in best.items():
        print(f"| {name} | {rate:,} |")


if __name__ == "__main__":
    main()
