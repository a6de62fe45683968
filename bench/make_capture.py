#!/usr/bin/env python3
"""Build a large mixed-traffic pcap for the benchmarks (default 1,000,000 packets).

A few hundred distinct packets are built with scapy once; the file repeats them with rising
timestamps and varied addresses and ports, written record by record (memory stays flat).
"""
from __future__ import annotations

import argparse
import random
import struct


def templates() -> list[bytes]:
    from scapy.all import (ARP, DNS, DNSQR, ICMP, IP, TCP, UDP, Dot1Q, Ether, ICMPv6EchoRequest,
                           IPv6, Raw)
    rng = random.Random(7)
    out = []
    for i in range(400):
        src = f"10.{i % 4}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        dst = f"192.168.{rng.randrange(4)}.{rng.randrange(1, 255)}"
        eth = Ether(src=f"02:00:00:00:{i % 256:02x}:01", dst="02:00:00:00:00:02")
        kind = i % 10
        if kind < 4:
            dport = rng.choice([80, 443, 22, 8080, 25, rng.randrange(1024, 65535)])
            flags = rng.choice(["S", "SA", "A", "PA", "FA", "R"])
            pay = Raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * rng.randrange(0, 20))
            out.append(eth / IP(src=src, dst=dst) / TCP(sport=rng.randrange(1024, 65535),
                                                         dport=dport, flags=flags) / pay)
        elif kind < 6:
            out.append(eth / IP(src=src, dst=dst) / UDP(sport=rng.randrange(1024, 65535), dport=53)
                       / DNS(qd=DNSQR(qname=f"host{i}.example.com")))
        elif kind == 6:
            out.append(eth / IP(src=src, dst=dst) / ICMP() / Raw(b"x" * 56))
        elif kind == 7:
            out.append(eth / ARP(psrc=src, pdst=dst))
        elif kind == 8:
            out.append(eth / IPv6(src=f"2001:db8::{i:x}", dst="2001:db8::1")
                       / TCP(sport=40000 + i, dport=rng.choice([80, 443])))
        else:
            out.append(eth / Dot1Q(vlan=rng.choice([10, 100, 200])) / IP(src=src, dst=dst)
                       / UDP(sport=1000 + i, dport=rng.choice([53, 123, 5000])) / Raw(b"y" * 40))
        if i % 50 == 0:
            out.append(eth / IPv6(src="2001:db8::2", dst="ff02::1") / ICMPv6EchoRequest())
    return [bytes(p) for p in out]


def write(path: str, count: int) -> None:
    packets = templates()
    rec = struct.Struct("<IIII")
    ts = 1_700_000_000 * 1_000_000
    rng = random.Random(11)
    with open(path, "wb", buffering=1 << 20) as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        n = len(packets)
        for i in range(count):
            data = packets[(i * 7919) % n]
            ts += rng.randrange(1, 2000)
            f.write(rec.pack(ts // 1_000_000, ts % 1_000_000, len(data), len(data)))
            f.write(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path")
    ap.add_argument("-n", "--count", type=int, default=1_000_000)
    args = ap.parse_args()
    write(args.path, args.count)


if __name__ == "__main__":
    main()
