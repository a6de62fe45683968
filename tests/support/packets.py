"""A deterministic packet corpus for differential tests, per link type, built with scapy.

    packets("EN10MB") -> [Sample(name, data, wirelen), ...]

The corpus is built once from a list of network-layer packets (IPv4, IPv6, ARP, ...) and a list of
Ethernet-only frames (VLAN, MPLS, PPPoE, LLC/SNAP, STP, IPX, DECnet ...), then wrapped for each link
type: Ethernet header for EN10MB, the cooked headers for LINUX_SLL / LINUX_SLL2 (with packet types
host/broadcast/multicast/otherhost/outgoing and several ifindex values), the 4-byte address family
for NULL (host order) and LOOP (network order), nothing for RAW / IPV4 / IPV6. Every link type also
gets truncated captures (data shorter than wirelen) and tiny or empty packets.
"""

from __future__ import annotations

import functools
import struct
import sys
from typing import NamedTuple

__all__ = ["Sample", "packets", "LINKTYPES", "network_packets", "ethernet_frames"]

LINKTYPES = ("EN10MB", "LINUX_SLL", "LINUX_SLL2", "RAW", "IPV4", "IPV6", "NULL", "LOOP")


class Sample(NamedTuple):
    name: str
    data: bytes
    wirelen: int


# --- addresses --------------------------------------------------------------------------------

MAC_A = "00:11:22:33:44:55"
MAC_B = "66:77:88:99:aa:bb"
MAC_BCAST = "ff:ff:ff:ff:ff:ff"
MAC_MCAST4 = "01:00:5e:00:00:01"
MAC_MCAST6 = "33:33:00:00:00:01"
MAC_STP = "01:80:c2:00:00:00"

V4 = [
    "10.0.0.1",
    "10.0.0.2",
    "192.168.1.1",
    "192.168.1.255",
    "192.168.2.7",
    "172.16.0.1",
    "127.0.0.1",
    "8.8.8.8",
    "1.2.3.4",
    "0.0.0.0",
    "10.1.2.3",
    "128.3.112.9",
]
V4_MCAST = ["224.0.0.1", "224.0.0.5", "239.255.255.250"]
V4_BCAST = ["255.255.255.255", "192.168.1.255", "10.255.255.255"]
V6 = [
    "2001:db8::1",
    "2001:db8::2",
    "2001:db8:1::5",
    "fe80::1",
    "::1",
    "2001:4860::8888",
    "2001:db8::ffff:1",
]
V6_MCAST = ["ff02::1", "ff02::2", "ff02::1:ff00:1", "ff05::1:3"]

PORTS = [0, 20, 21, 22, 53, 80, 443, 8080, 65535]


def _mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


# --- network-layer packets: (name, ethertype, bytes) -------------------------------------------


def _ipv4_packets():
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_Router_Alert, IPOption_RR
    from scapy.layers.inet import IPOption_NOP, IPOption_LSRR
    from scapy.layers.l2 import GRE, Ether
    from scapy.layers.sctp import SCTP, SCTPChunkData, SCTPChunkInit
    from scapy.layers.ipsec import AH, ESP
    from scapy.layers.vrrp import VRRP
    from scapy.layers.vxlan import VXLAN
    from scapy.packet import Raw

    out = []

    def add(name, pkt):
        out.append((name, 0x0800, bytes(pkt)))

    # TCP: every port on both sides, between various hosts.
    for i, port in enumerate(PORTS):
        src, dst = V4[i % len(V4)], V4[(i + 1) % len(V4)]
        add(
            f"ip4-tcp-sport{port}",
            IP(src=src, dst=dst) / TCP(sport=port, dport=40000 + i, flags="A"),
        )
        add(
            f"ip4-tcp-dport{port}",
            IP(src=dst, dst=src) / TCP(sport=50000 + i, dport=port, flags="S"),
        )
        add(f"ip4-udp-sport{port}", IP(src=src, dst=dst) / UDP(sport=port, dport=33000 + i))
        add(f"ip4-udp-dport{port}", IP(src=dst, dst=src) / UDP(sport=34000 + i, dport=port))
        add(
            f"ip4-sctp-dport{port}",
            IP(src=src, dst=dst) / SCTP(sport=35000 + i, dport=port) / SCTPChunkData(data=b"x"),
        )
    # TCP: all combinations of the low six flags, plus ECE/CWR.
    for flags in range(64):
        add(
            f"ip4-tcp-flags{flags:02x}",
            IP(src=V4[flags % 4], dst=V4[(flags + 5) % len(V4)])
            / TCP(sport=1024 + flags, dport=PORTS[flags % len(PORTS)], flags=flags),
        )
    for flags in (0x40, 0x80, 0xC2, 0xFF, 0x52, 0x92):
        add(
            f"ip4-tcp-flags{flags:02x}",
            IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=80, dport=8080, flags=flags),
        )
    add(
        "ip4-tcp-payload-http",
        IP(src="192.168.1.1", dst="10.0.0.1")
        / TCP(sport=51000, dport=80, flags="PA")
        / Raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    )
    add(
        "ip4-tcp-payload-443",
        IP(src="10.0.0.1", dst="192.168.1.1")
        / TCP(sport=443, dport=51000, flags="PA")
        / Raw(b"\x16\x03\x01" + bytes(range(64))),
    )
    add(
        "ip4-tcp-options",
        IP(src="10.0.0.2", dst="10.0.0.1")
        / TCP(
            sport=22,
            dport=60000,
            flags="S",
            options=[("MSS", 1460), ("NOP", None), ("WScale", 7), ("SAckOK", b"")],
        ),
    )
    add(
        "ip4-udp-dns",
        IP(src="10.0.0.1", dst="8.8.8.8")
        / UDP(sport=5353, dport=53)
        / Raw(b"\x12\x34\x01\x00\x00\x01" + bytes(6)),
    )
    # Address coverage: every source/destination pair shape.
    for i, src in enumerate(V4 + V4_MCAST + V4_BCAST):
        dst = (V4 + V4_MCAST + V4_BCAST)[(i * 7 + 3) % len(V4 + V4_MCAST + V4_BCAST)]
        add(f"ip4-udp-{src}-{dst}", IP(src=src, dst=dst) / UDP(sport=1000 + i, dport=2000 + i))
        add(
            f"ip4-tcp-{dst}-{src}",
            IP(src=dst, dst=src) / TCP(sport=3000 + i, dport=80 if i % 2 else 22),
        )
    for dst in V4_MCAST:
        add(
            f"ip4-mcast-udp-{dst}",
            IP(src="192.168.1.1", dst=dst, ttl=1) / UDP(sport=5000, dport=5000),
        )
    for dst in V4_BCAST:
        add(
            f"ip4-bcast-udp-{dst}",
            IP(src="192.168.1.7", dst=dst) / UDP(sport=68, dport=67) / Raw(bytes(20)),
        )
    # ICMP types and codes.
    for t, c in [
        (0, 0),
        (8, 0),
        (3, 0),
        (3, 1),
        (3, 3),
        (3, 4),
        (4, 0),
        (5, 1),
        (11, 0),
        (11, 1),
        (12, 0),
        (13, 0),
        (14, 0),
        (15, 0),
        (16, 0),
        (17, 0),
        (18, 0),
        (9, 0),
        (10, 0),
    ]:
        add(
            f"ip4-icmp-{t}-{c}",
            IP(src="10.0.0.1", dst="192.168.1.1")
            / ICMP(type=t, code=c, ts_ori=1, ts_rx=2, ts_tx=3)
            / Raw(b"abcdefgh"),
        )
    add(
        "ip4-icmp-unreach-inner",
        IP(src="10.0.0.2", dst="10.0.0.1")
        / ICMP(type=3, code=3)
        / IP(src="10.0.0.1", dst="10.0.0.2")
        / UDP(sport=53, dport=53),
    )
    # IPv4 options (IHL > 5) in front of TCP, UDP, ICMP.
    opts = [
        ("ra", [IPOption_Router_Alert()]),
        ("rr", [IPOption_RR(routers=["10.0.0.9"])]),
        ("nops", [IPOption_NOP()] * 4),
        ("lsrr", [IPOption_LSRR(routers=["1.2.3.4", "10.0.0.1"])]),
    ]
    for oname, opt in opts:
        add(
            f"ip4-opt-{oname}-tcp80",
            IP(src="10.0.0.1", dst="10.0.0.2", options=opt) / TCP(sport=80, dport=1234, flags="SA"),
        )
        add(
            f"ip4-opt-{oname}-udp53",
            IP(src="192.168.1.1", dst="10.0.0.1", options=opt) / UDP(sport=53, dport=53),
        )
        add(f"ip4-opt-{oname}-icmp", IP(src="10.0.0.2", dst="10.0.0.1", options=opt) / ICMP(type=8))
    add(
        "ip4-opt-ra-igmp",
        IP(src="192.168.1.1", dst="224.0.0.1", ttl=1, proto=2, options=[IPOption_Router_Alert()])
        / Raw(b"\x11\x64\xee\x9b\x00\x00\x00\x00"),
    )
    # Fragments: first (MF, off 0), middle and last (off != 0) that look like TCP/UDP port 80.
    tcp80 = bytes(TCP(sport=80, dport=80, flags="S"))
    udp53 = bytes(UDP(sport=53, dport=53, len=8, chksum=0))
    add(
        "ip4-frag-first-tcp",
        IP(src="10.0.0.1", dst="10.0.0.2", flags="MF", frag=0, proto=6) / Raw(tcp80),
    )
    add(
        "ip4-frag-middle-tcp",
        IP(src="10.0.0.1", dst="10.0.0.2", flags="MF", frag=3, proto=6) / Raw(tcp80),
    )
    add("ip4-frag-last-tcp", IP(src="10.0.0.1", dst="10.0.0.2", frag=185, proto=6) / Raw(tcp80))
    add(
        "ip4-frag-first-udp",
        IP(src="192.168.1.1", dst="10.0.0.1", flags="MF", proto=17) / Raw(udp53 + bytes(8)),
    )
    add("ip4-frag-last-udp", IP(src="192.168.1.1", dst="10.0.0.1", frag=1, proto=17) / Raw(udp53))
    add("ip4-frag-df-tcp", IP(src="10.0.0.2", dst="10.0.0.1", flags="DF", proto=6) / Raw(tcp80))
    add(
        "ip4-frag-first-icmp",
        IP(src="10.0.0.2", dst="10.0.0.1", flags="MF", proto=1)
        / Raw(bytes(ICMP(type=8)) + bytes(16)),
    )
    add(
        "ip4-frag-last-icmp",
        IP(src="10.0.0.2", dst="10.0.0.1", frag=2, proto=1) / Raw(bytes(ICMP(type=0))),
    )
    add(
        "ip4-frag-opt-first-tcp",
        IP(src="10.0.0.1", dst="10.0.0.2", flags="MF", proto=6, options=[IPOption_Router_Alert()])
        / Raw(tcp80),
    )
    add(
        "ip4-frag-opt-last-tcp",
        IP(src="10.0.0.1", dst="10.0.0.2", frag=7, proto=6, options=[IPOption_Router_Alert()])
        / Raw(tcp80),
    )
    # Other protocols over IPv4.
    igmp = {
        "query": b"\x11\x64\xee\x9b\x00\x00\x00\x00",
        "report-v2": b"\x16\x00\xfa\x04\xe0\x00\x00\xfb",
        "leave": b"\x17\x00\x08\xfc\xe0\x00\x00\x02",
        "report-v3": b"\x22\x00\xf9\xfc\x00\x00\x00\x00",
    }
    for iname, body in igmp.items():
        add(f"ip4-igmp-{iname}", IP(src="192.168.1.1", dst="224.0.0.1", ttl=1, proto=2) / Raw(body))
    add(
        "ip4-pim-hello",
        IP(src="10.0.0.1", dst="224.0.0.13", proto=103)
        / Raw(b"\x20\x00\x00\x00\x00\x01\x00\x02\x00\x69"),
    )
    add(
        "ip4-pim-register",
        IP(src="10.0.0.2", dst="10.0.0.1", proto=103) / Raw(b"\x21\x00\x00\x00" + bytes(8)),
    )
    add(
        "ip4-vrrp",
        IP(src="192.168.1.1", dst="224.0.0.18", ttl=255)
        / VRRP(vrid=1, priority=100, addrlist=["192.168.1.254"]),
    )
    add(
        "ip4-carp",
        IP(src="192.168.1.2", dst="224.0.0.18", ttl=255, proto=112)
        / Raw(b"\x21\x01\x64\x01\x00\x01" + bytes(30)),
    )
    add(
        "ip4-gre-ip",
        IP(src="10.0.0.1", dst="10.0.0.2")
        / GRE()
        / IP(src="192.168.1.1", dst="192.168.1.2")
        / ICMP(),
    )
    add(
        "ip4-gre-eth",
        IP(src="10.0.0.1", dst="10.0.0.2")
        / GRE(proto=0x6558)
        / Ether(src=MAC_A, dst=MAC_B)
        / IP()
        / UDP(),
    )
    add(
        "ip4-ah-tcp",
        IP(src="10.0.0.1", dst="10.0.0.2")
        / AH(spi=0x100, nh=6, seq=1, icv=b"\x00" * 12)
        / TCP(sport=22, dport=80),
    )
    add(
        "ip4-ah-udp",
        IP(src="10.0.0.2", dst="10.0.0.1")
        / AH(spi=0x101, nh=17, seq=2, icv=b"\x00" * 12)
        / UDP(sport=53, dport=53),
    )
    add("ip4-esp", IP(src="10.0.0.1", dst="10.0.0.2") / ESP(spi=0x200, seq=1) / Raw(bytes(32)))
    add(
        "ip4-esp-natt",
        IP(src="10.0.0.1", dst="10.0.0.2")
        / UDP(sport=4500, dport=4500)
        / Raw(b"\x00\x00\x02\x00" + bytes(20)),
    )
    add(
        "ip4-sctp-init",
        IP(src="10.0.0.1", dst="10.0.0.2") / SCTP(sport=2905, dport=2905) / SCTPChunkInit(),
    )
    add(
        "ip4-ipip",
        IP(src="10.0.0.1", dst="10.0.0.2")
        / IP(src="192.168.1.1", dst="192.168.1.2")
        / TCP(dport=80),
    )
    add(
        "ip4-ip6in4",
        IP(src="10.0.0.1", dst="10.0.0.2", proto=41)
        / Raw(bytes.fromhex("6000000000083a40") + bytes(32) + bytes(8)),
    )
    for proto in (0, 9, 47, 50, 51, 58, 88, 89, 115, 132, 137, 253, 255):
        add(
            f"ip4-proto{proto}",
            IP(src="10.0.0.2", dst="10.0.0.1", proto=proto)
            / Raw(bytes(range(proto % 7, proto % 7 + 24))),
        )
    # Tunnels carrying Ethernet: VXLAN (udp 4789) and Geneve (udp 6081).
    inner_tcp = (
        Ether(src=MAC_B, dst=MAC_A)
        / IP(src="192.168.1.1", dst="10.0.0.1")
        / TCP(sport=1234, dport=80, flags="S")
    )
    inner_udp = (
        Ether(src=MAC_A, dst=MAC_BCAST)
        / IP(src="172.16.0.1", dst="10.0.0.2")
        / UDP(sport=53, dport=53)
    )
    inner_v6 = Ether(src=MAC_A, dst=MAC_MCAST6, type=0x86DD) / _ipv6_udp()
    for vni, inner, iname in [
        (1, inner_tcp, "tcp"),
        (100, inner_udp, "udp"),
        (0xFFFFFF, inner_v6, "ip6"),
        (4096, inner_tcp, "tcp"),
    ]:
        add(
            f"ip4-vxlan-vni{vni}-{iname}",
            IP(src="10.0.0.1", dst="10.0.0.2")
            / UDP(sport=55000, dport=4789)
            / VXLAN(vni=vni, flags=0x08)
            / inner,
        )
        gen = struct.pack("!BBHI", 0, 0, 0x6558, (vni << 8) & 0xFFFFFFFF)
        add(
            f"ip4-geneve-vni{vni}-{iname}",
            IP(src="10.0.0.2", dst="10.0.0.1")
            / UDP(sport=55001, dport=6081)
            / Raw(gen + bytes(inner)),
        )
    add(
        "ip4-geneve-opts",
        IP(src="10.0.0.2", dst="10.0.0.1")
        / UDP(sport=55001, dport=6081)
        / Raw(struct.pack("!BBHI", 2, 0, 0x6558, 7 << 8) + bytes(8) + bytes(inner_tcp)),
    )
    add(
        "ip4-vxlan-sport",
        IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=4789, dport=4789) / VXLAN(vni=5) / inner_udp,
    )
    # Odd headers: IHL < 5, version 6 in an IPv4 ethertype, zero-length.
    add("ip4-bad-ihl", bytes.fromhex("4300001400000000400600000a0000010a000002") + bytes(20))
    add("ip4-version6", bytes.fromhex("65000014000000004006000a0a0000010a000002") + bytes(20))
    add(
        "ip4-totlen-short",
        bytes.fromhex("4500000a000000004011000a0a0000010a000002") + bytes(UDP(sport=53, dport=53)),
    )
    return out


def _ipv6_udp():
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import IPv6

    return IPv6(src="2001:db8::1", dst="ff02::1") / UDP(sport=546, dport=547)


def _ipv6_packets():
    from scapy.layers.inet import TCP, UDP
    from scapy.layers.inet6 import (
        ICMPv6DestUnreach,
        ICMPv6EchoReply,
        ICMPv6EchoRequest,
        ICMPv6MLQuery,
        ICMPv6MLReport,
        ICMPv6ND_NA,
        ICMPv6ND_NS,
        ICMPv6ND_RA,
        ICMPv6ND_RS,
        ICMPv6PacketTooBig,
        ICMPv6TimeExceeded,
        IPv6,
        IPv6ExtHdrDestOpt,
        IPv6ExtHdrFragment,
        IPv6ExtHdrHopByHop,
        IPv6ExtHdrRouting,
    )
    from scapy.layers.ipsec import AH, ESP
    from scapy.layers.sctp import SCTP, SCTPChunkData
    from scapy.layers.l2 import GRE
    from scapy.layers.inet import IP, ICMP
    from scapy.packet import Raw

    out = []

    def add(name, pkt):
        out.append((name, 0x86DD, bytes(pkt)))

    for i, port in enumerate(PORTS):
        src, dst = V6[i % len(V6)], V6[(i + 1) % len(V6)]
        add(
            f"ip6-tcp-sport{port}",
            IPv6(src=src, dst=dst) / TCP(sport=port, dport=40000 + i, flags="A"),
        )
        add(
            f"ip6-tcp-dport{port}",
            IPv6(src=dst, dst=src) / TCP(sport=50000 + i, dport=port, flags="S"),
        )
        add(f"ip6-udp-sport{port}", IPv6(src=src, dst=dst) / UDP(sport=port, dport=33000 + i))
        add(f"ip6-udp-dport{port}", IPv6(src=dst, dst=src) / UDP(sport=34000 + i, dport=port))
        add(
            f"ip6-sctp-dport{port}",
            IPv6(src=src, dst=dst) / SCTP(sport=35000 + i, dport=port) / SCTPChunkData(data=b"y"),
        )
    for flags in (0x02, 0x12, 0x10, 0x11, 0x04, 0x18, 0x01, 0x29, 0x3F, 0x00, 0xC2):
        add(
            f"ip6-tcp-flags{flags:02x}",
            IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=443, dport=51000, flags=flags),
        )
    for i, src in enumerate(V6 + V6_MCAST):
        dst = (V6 + V6_MCAST)[(i * 5 + 2) % len(V6 + V6_MCAST)]
        add(f"ip6-udp-{src}-{dst}", IPv6(src=src, dst=dst) / UDP(sport=1000 + i, dport=2000 + i))
    icmp6 = [
        ("echo-req", ICMPv6EchoRequest(id=1, seq=1)),
        ("echo-rep", ICMPv6EchoReply(id=1, seq=1)),
        ("ns", ICMPv6ND_NS(tgt="2001:db8::2")),
        ("na", ICMPv6ND_NA(tgt="2001:db8::1", R=0, S=1, O=1)),
        ("rs", ICMPv6ND_RS()),
        ("ra", ICMPv6ND_RA()),
        ("unreach", ICMPv6DestUnreach(code=4) / IPv6() / UDP()),
        ("toobig", ICMPv6PacketTooBig(mtu=1280)),
        ("timex", ICMPv6TimeExceeded()),
        ("mld-query", ICMPv6MLQuery()),
        ("mld-report", ICMPv6MLReport()),
    ]
    for iname, body in icmp6:
        dst = "ff02::1:ff00:1" if iname == "ns" else ("ff02::2" if iname == "rs" else "2001:db8::2")
        add(
            f"ip6-icmp6-{iname}",
            IPv6(src="fe80::1" if iname in ("ns", "rs", "ra") else "2001:db8::1", dst=dst, hlim=255)
            / body,
        )
    hbh = IPv6ExtHdrHopByHop()
    rt = IPv6ExtHdrRouting(addresses=["2001:db8::5"])
    dst_opt = IPv6ExtHdrDestOpt()
    frag0 = IPv6ExtHdrFragment(offset=0, m=1, id=7)
    frag1 = IPv6ExtHdrFragment(offset=100, m=0, id=7)
    tcp = TCP(sport=1234, dport=80, flags="S")
    udp = UDP(sport=53, dport=53)
    chains = [
        ("hbh-tcp", hbh / tcp),
        ("hbh-udp", hbh / udp),
        ("rt-tcp", rt / tcp),
        ("dst-udp", dst_opt / udp),
        ("frag-first-tcp", frag0 / tcp),
        ("frag-last-tcp", frag1 / Raw(bytes(tcp))),
        ("frag-first-udp", frag0 / udp),
        ("hbh-rt-dst-tcp", hbh / rt / dst_opt / tcp),
        ("hbh-frag-tcp", hbh / frag0 / tcp),
        ("dst-frag-udp", dst_opt / frag0 / udp),
        ("hbh-icmp6", hbh / ICMPv6MLReport()),
        ("rt-icmp6", rt / ICMPv6EchoRequest()),
        ("ah-tcp", AH(nh=6, spi=1, seq=1, icv=b"\x00" * 12) / tcp),
        ("hbh-ah-udp", hbh / AH(nh=17, spi=2, seq=1, icv=b"\x00" * 12) / udp),
        ("esp", ESP(spi=3, seq=1) / Raw(bytes(24))),
        ("hbh-esp", hbh / ESP(spi=4, seq=1) / Raw(bytes(16))),
        ("dst-sctp", dst_opt / SCTP(sport=9, dport=80) / SCTPChunkData(data=b"z")),
        ("hbh-hbh-tcp", hbh / IPv6ExtHdrHopByHop() / tcp),
        ("rt-rt-dst-dst-tcp", rt / IPv6ExtHdrRouting() / dst_opt / IPv6ExtHdrDestOpt() / tcp),
        ("frag-nonfirst-udp", frag1 / Raw(bytes(udp))),
        ("nonext", IPv6ExtHdrDestOpt(nh=59)),
    ]
    for cname, chain in chains:
        add(f"ip6-ext-{cname}", IPv6(src="2001:db8::1", dst="2001:db8::2") / chain)
    add(
        "ip6-gre",
        IPv6(src="2001:db8::1", dst="2001:db8::2")
        / GRE()
        / IP(src="10.0.0.1", dst="10.0.0.2")
        / ICMP(),
    )
    add(
        "ip6-ipip",
        IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(dport=80),
    )
    add(
        "ip6-6in6",
        IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IPv6(src="fe80::1", dst="ff02::1")
        / UDP(dport=53),
    )
    add(
        "ip6-pim",
        IPv6(src="fe80::1", dst="ff02::d", nh=103)
        / Raw(b"\x20\x00\x00\x00\x00\x01\x00\x02\x00\x69"),
    )
    add(
        "ip6-vrrp",
        IPv6(src="fe80::1", dst="ff02::12", nh=112, hlim=255)
        / Raw(b"\x31\x01\x64\x01\x00\x01\x00\x00" + bytes(16)),
    )
    for nh in (0, 2, 17, 43, 44, 50, 51, 58, 59, 60, 132, 135, 253):
        add(
            f"ip6-nh{nh}-raw",
            IPv6(src="2001:db8::2", dst="2001:db8::1", nh=nh)
            / Raw(bytes(range(nh % 5, nh % 5 + 40))),
        )
    add("ip6-bad-version4", bytes.fromhex("4500003c") + bytes(36) + bytes(TCP(dport=80)))
    return out


def _arp_packets():
    from scapy.layers.l2 import ARP

    out = []
    for i, (op, psrc, pdst) in enumerate(
        [
            (1, "10.0.0.1", "10.0.0.2"),
            (2, "10.0.0.2", "10.0.0.1"),
            (1, "192.168.1.1", "192.168.1.255"),
            (1, "0.0.0.0", "192.168.1.7"),
            (2, "172.16.0.1", "8.8.8.8"),
        ]
    ):
        out.append(
            (
                f"arp-op{op}-{psrc}-{pdst}",
                0x0806,
                bytes(
                    ARP(
                        op=op,
                        psrc=psrc,
                        pdst=pdst,
                        hwsrc=MAC_A,
                        hwdst=MAC_B if op == 2 else "00:00:00:00:00:00",
                    )
                ),
            )
        )
    for op in (3, 4):
        out.append(
            (
                f"rarp-op{op}",
                0x8035,
                bytes(ARP(op=op, psrc="10.0.0.1", pdst="10.0.0.2", hwsrc=MAC_A, hwdst=MAC_A)),
            )
        )
    return out


def _other_l3():
    """Ethertypes other than IP/ARP, usable on any link type that carries an ethertype."""
    out = []
    # DECnet routing layer: data packet (short and long header) and hello.
    out.append(
        (
            "decnet-long",
            0x6003,
            bytes.fromhex("2000")
            + bytes(
                [
                    0x26,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0xAA,
                    0,
                    4,
                    0,
                    0x02,
                    0x04,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0xAA,
                    0,
                    4,
                    0,
                    0x01,
                    0x04,
                    0,
                    0,
                    0,
                    0,
                ]
            )
            + bytes(10),
        )
    )
    out.append(
        (
            "decnet-short",
            0x6003,
            bytes.fromhex("0800") + bytes([0x02, 0x02, 0x04, 0x01, 0x04, 0x00]) + bytes(20),
        )
    )
    out.append(
        (
            "decnet-padded",
            0x6003,
            bytes.fromhex("0c00") + bytes([0x81, 0x02, 0x02, 0x04, 0x01, 0x04, 0x00]) + bytes(20),
        )
    )
    out.append(("lat", 0x6004, bytes(24)))
    out.append(("moprc", 0x6002, bytes(24)))
    out.append(("mopdl", 0x6001, bytes(24)))
    out.append(("sca", 0x6007, bytes(24)))
    out.append(("atalk-ethertype", 0x809B, bytes(24)))
    out.append(("aarp-ethertype", 0x80F3, bytes(28)))
    out.append(
        (
            "ipx-ethertype",
            0x8137,
            bytes.fromhex("ffff001e0000000000000000ffffffffffff0452") + bytes(10),
        )
    )
    out.append(("lldp", 0x88CC, bytes.fromhex("020704001122334455040704001122334455060200780000")))
    out.append(("eapol", 0x888E, bytes.fromhex("01010000")))
    out.append(("ethertype-0x0800-short", 0x0800, b"\x45"))
    return out


def _all_l3() -> list[tuple[str, int, bytes]]:
    return _ipv4_packets() + _ipv6_packets() + _arp_packets() + _other_l3()


@functools.lru_cache(maxsize=1)
def network_packets() -> tuple[tuple[str, int, bytes], ...]:
    """(name, ethertype, bytes) for every network-layer packet of the corpus."""
    return tuple(_all_l3())


# --- Ethernet-only frames ---------------------------------------------------------------------


def _eth(dst: str, src: str, ethertype: int, payload: bytes) -> bytes:
    return _mac(dst) + _mac(src) + struct.pack("!H", ethertype) + payload


def _dot3(dst: str, src: str, payload: bytes) -> bytes:
    return _mac(dst) + _mac(src) + struct.pack("!H", len(payload)) + payload


@functools.lru_cache(maxsize=1)
def ethernet_frames() -> tuple[tuple[str, bytes], ...]:
    """(name, frame) for frames that only make sense with an Ethernet header."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, LLC, SNAP, STP, Dot1Q, Ether
    from scapy.packet import Raw

    ip_tcp = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1234, dport=80, flags="S"))
    ip_udp = bytes(IP(src="192.168.1.1", dst="224.0.0.5") / UDP(sport=53, dport=53))
    ip_frag = bytes(
        IP(src="10.0.0.1", dst="10.0.0.2", frag=10, proto=6) / Raw(bytes(TCP(dport=80)))
    )
    ip6_tcp = bytes(
        IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=22, dport=443, flags="PA")
    )
    ip6_icmp = bytes(IPv6(src="fe80::1", dst="ff02::1") / Raw(b"\x80\x00\x00\x00\x00\x01\x00\x01"))
    arp = bytes(ARP(op=1, psrc="10.0.0.1", pdst="10.0.0.2", hwsrc=MAC_A))
    out: list[tuple[str, bytes]] = []

    def vlan(vid, ethertype, pcp=0, dei=0):
        return struct.pack("!HH", (pcp << 13) | (dei << 12) | vid, ethertype)

    # 802.1Q and QinQ.
    for vid in (0, 1, 10, 100, 200, 4094, 4095):
        out.append(
            (
                f"vlan{vid}-ip-tcp",
                _eth(MAC_B, MAC_A, 0x8100, vlan(vid, 0x0800, pcp=vid % 8) + ip_tcp),
            )
        )
    out.append(("vlan10-ip6", _eth(MAC_B, MAC_A, 0x8100, vlan(10, 0x86DD) + ip6_tcp)))
    out.append(("vlan20-arp", _eth(MAC_BCAST, MAC_A, 0x8100, vlan(20, 0x0806) + arp)))
    out.append(("vlan30-ipfrag", _eth(MAC_B, MAC_A, 0x8100, vlan(30, 0x0800) + ip_frag)))
    out.append(("vlan100-mcast-udp", _eth(MAC_MCAST4, MAC_A, 0x8100, vlan(100, 0x0800) + ip_udp)))
    out.append(
        (
            "qinq-8100-100-200-ip",
            _eth(MAC_B, MAC_A, 0x8100, vlan(100, 0x8100) + vlan(200, 0x0800) + ip_tcp),
        )
    )
    out.append(
        (
            "qinq-88a8-10-20-ip",
            _eth(MAC_B, MAC_A, 0x88A8, vlan(10, 0x8100) + vlan(20, 0x0800) + ip_udp),
        )
    )
    out.append(
        (
            "qinq-9100-5-6-ip6",
            _eth(MAC_B, MAC_A, 0x9100, vlan(5, 0x8100) + vlan(6, 0x86DD) + ip6_tcp),
        )
    )
    out.append(
        (
            "qinq3-ip",
            _eth(
                MAC_B, MAC_A, 0x8100, vlan(1, 0x8100) + vlan(2, 0x8100) + vlan(3, 0x0800) + ip_tcp
            ),
        )
    )
    out.append(("vlan-88a8-ip", _eth(MAC_B, MAC_A, 0x88A8, vlan(300, 0x0800) + ip_tcp)))
    out.append(
        (
            "vlan10-mpls-ip",
            _eth(
                MAC_B,
                MAC_A,
                0x8100,
                vlan(10, 0x8847) + struct.pack("!I", (16 << 12) | 0x100 | 64) + ip_tcp,
            ),
        )
    )
    out.append(
        (
            "vlan10-pppoes-ip",
            _eth(
                MAC_B,
                MAC_A,
                0x8100,
                vlan(10, 0x8864)
                + struct.pack("!BBHH", 0x11, 0, 5, len(ip_tcp) + 2)
                + b"\x00\x21"
                + ip_tcp,
            ),
        )
    )
    out.append(
        (
            "vlan10-llc",
            _eth(
                MAC_B,
                MAC_A,
                0x8100,
                vlan(10, 40) + b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + ip_tcp[:32],
            ),
        )
    )
    out.append(("vlan-truncated-tag", _eth(MAC_B, MAC_A, 0x8100, b"\x00")))

    # MPLS stacks.
    def mpls(labels, inner, ttl=64):
        words = b""
        for i, label in enumerate(labels):
            bos = 1 if i == len(labels) - 1 else 0
            words += struct.pack("!I", (label << 12) | (i % 8) << 9 | (bos << 8) | ttl)
        return words + inner

    for labels, inner, iname in [
        ((16,), ip_tcp, "ip"),
        ((100, 200), ip_udp, "ip"),
        ((3, 4, 5), ip_tcp, "ip"),
        ((1048575,), ip6_tcp, "ip6"),
        ((0,), ip_tcp, "ip"),
        ((2,), ip6_icmp, "ip6"),
        ((16, 17, 18, 19), ip_udp, "ip"),
        ((42,), ip_frag, "ip"),
    ]:
        out.append(
            (
                f"mpls-{'-'.join(map(str, labels))}-{iname}",
                _eth(MAC_B, MAC_A, 0x8847, mpls(labels, inner)),
            )
        )
    out.append(("mpls-mcast-8848", _eth(MAC_MCAST4, MAC_A, 0x8848, mpls((300,), ip_udp))))
    out.append(
        ("mpls-no-bos", _eth(MAC_B, MAC_A, 0x8847, struct.pack("!I", (7 << 12) | 64) + ip_tcp))
    )

    # PPPoE discovery and session.
    for code, cname in (
        (0x09, "padi"),
        (0x07, "pado"),
        (0x19, "padr"),
        (0x65, "pads"),
        (0xA7, "padt"),
    ):
        sess = 0x1234 if code in (0x65, 0xA7) else 0
        tags = b"\x01\x01\x00\x00"
        out.append(
            (
                f"pppoed-{cname}",
                _eth(
                    MAC_BCAST if code == 0x09 else MAC_B,
                    MAC_A,
                    0x8863,
                    struct.pack("!BBHH", 0x11, code, sess, len(tags)) + tags,
                ),
            )
        )
    for sess, proto, inner, iname in [
        (1, 0x0021, ip_tcp, "ip"),
        (0x1234, 0x0021, ip_udp, "ip"),
        (0xFFFF, 0x0057, ip6_tcp, "ip6"),
        (7, 0xC021, b"\x01\x01\x00\x04", "lcp"),
        (7, 0x8021, b"\x01\x01\x00\x04", "ipcp"),
        (3, 0x0021, ip_frag, "ipfrag"),
    ]:
        body = proto.to_bytes(2, "big") + inner
        out.append(
            (
                f"pppoes-{sess}-{iname}",
                _eth(MAC_B, MAC_A, 0x8864, struct.pack("!BBHH", 0x11, 0, sess, len(body)) + body),
            )
        )

    # 802.3 with LLC/SNAP, STP, IPX, NetBEUI, ISO.
    out.append(
        (
            "llc-snap-ip",
            _dot3(
                MAC_B,
                MAC_A,
                bytes(LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x0800)) + ip_tcp,
            ),
        )
    )
    out.append(
        (
            "llc-snap-arp",
            _dot3(
                MAC_BCAST,
                MAC_A,
                bytes(LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x0806)) + arp,
            ),
        )
    )
    out.append(
        ("llc-snap-appletalk", _dot3(MAC_B, MAC_A, b"\xaa\xaa\x03\x08\x00\x07\x80\x9b" + bytes(24)))
    )
    out.append(
        ("llc-snap-aarp", _dot3(MAC_B, MAC_A, b"\xaa\xaa\x03\x00\x00\x00\x80\xf3" + bytes(28)))
    )
    out.append(
        ("llc-snap-cdp", _dot3(MAC_STP, MAC_A, b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + bytes(20)))
    )
    out.append(
        ("stp-config", _dot3(MAC_STP, MAC_A, bytes(LLC(dsap=0x42, ssap=0x42, ctrl=3) / STP())))
    )
    out.append(("stp-rstp", _dot3(MAC_STP, MAC_B, b"\x42\x42\x03\x00\x00\x02\x02\x3c" + bytes(28))))
    out.append(
        (
            "ipx-8022",
            _dot3(
                MAC_B,
                MAC_A,
                b"\xe0\xe0\x03"
                + bytes.fromhex("ffff001e0000000000000000ffffffffffff0452")
                + bytes(10),
            ),
        )
    )
    out.append(
        (
            "ipx-novell-raw",
            _dot3(
                MAC_BCAST,
                MAC_A,
                bytes.fromhex("ffff001e0004000000010000ffffffffffff0452") + bytes(10),
            ),
        )
    )
    out.append(
        (
            "ipx-snap",
            _dot3(
                MAC_B,
                MAC_A,
                b"\xaa\xaa\x03\x00\x00\x00\x81\x37" + bytes.fromhex("ffff001e00") + bytes(25),
            ),
        )
    )
    out.append(("netbeui", _dot3(MAC_B, MAC_A, b"\xf0\xf0\x03" + bytes(30))))
    out.append(("iso-clnp", _dot3(MAC_B, MAC_A, b"\xfe\xfe\x03\x81\x1e\x01\x00\x1b" + bytes(30))))
    out.append(("iso-esis", _dot3(MAC_B, MAC_A, b"\xfe\xfe\x03\x82\x0a\x01\x00\x02" + bytes(20))))
    for pdu in (15, 16, 17, 18, 20, 24, 25, 26, 27):
        out.append(
            (
                f"iso-isis-pdu{pdu}",
                _dot3(
                    "01:80:c2:00:00:14",
                    MAC_A,
                    b"\xfe\xfe\x03\x83\x1b\x01" + bytes([pdu]) + b"\x01\x00\x00" + bytes(20),
                ),
            )
        )
    out.append(("llc-ui-other", _dot3(MAC_B, MAC_A, b"\x06\x06\x03" + bytes(20))))
    out.append(("llc-i-frame", _dot3(MAC_B, MAC_A, b"\x42\x42\x10\x00" + bytes(20))))
    out.append(("llc-s-frame", _dot3(MAC_B, MAC_A, b"\x42\x42\x01\x00" + bytes(20))))
    out.append(("llc-u-xid", _dot3(MAC_B, MAC_A, b"\x42\x42\xaf\x81\x01\x00")))
    out.append(("llc-u-test", _dot3(MAC_B, MAC_A, b"\x42\x42\xe3" + bytes(8))))
    out.append(
        ("dot3-len-1500", _mac(MAC_B) + _mac(MAC_A) + b"\x05\xdc" + b"\xaa\xaa\x03" + bytes(20))
    )
    out.append(
        ("dot3-len-1501", _mac(MAC_B) + _mac(MAC_A) + b"\x05\xdd" + b"\xaa\xaa\x03" + bytes(20))
    )
    out.append(("dot3-len-0x5ff", _mac(MAC_B) + _mac(MAC_A) + b"\x05\xff" + bytes(20)))

    # Ethernet addresses: broadcast, multicast, the common test MACs.
    for dst, dname in (
        (MAC_BCAST, "bcast"),
        (MAC_MCAST4, "mcast4"),
        (MAC_MCAST6, "mcast6"),
        ("01:00:0c:cc:cc:cc", "cisco-mcast"),
        (MAC_A, "mac-a"),
        (MAC_B, "mac-b"),
        ("02:00:00:00:00:01", "local"),
        ("00:00:00:00:00:00", "zero"),
    ):
        out.append(
            (f"eth-dst-{dname}-ip", _eth(dst, MAC_A if dst != MAC_A else MAC_B, 0x0800, ip_udp))
        )
        out.append((f"eth-src-{dname}-arp", _eth(MAC_BCAST, dst, 0x0806, arp)))
    out.append(("eth-bcast-ip6", _eth(MAC_MCAST6, MAC_A, 0x86DD, ip6_icmp)))
    out.append(("eth-unknown-type", _eth(MAC_B, MAC_A, 0x1234, bytes(30))))
    out.append(("eth-type-ffff", _eth(MAC_B, MAC_A, 0xFFFF, bytes(30))))
    out.append(
        (
            "eth-scapy-dot1q-icmp",
            bytes(
                Ether(dst=MAC_B, src=MAC_A)
                / Dot1Q(vlan=7)
                / IP(src="10.0.0.1", dst="10.0.0.2")
                / ICMP()
            ),
        )
    )
    return tuple(out)


# --- wrapping per link type -------------------------------------------------------------------

SLL_PKTTYPES = (0, 1, 2, 3, 4)  # host, broadcast, multicast, otherhost, outgoing
IFINDEXES = (1, 2, 3, 7, 1000)
AF_INET = 2
AF_INET6_VARIANTS = (10, 24, 28, 30)  # Linux, NetBSD/OpenBSD, FreeBSD, Darwin


def _sll(
    pkttype: int, proto: int, payload: bytes, hatype: int = 1, addr: bytes = _mac(MAC_A)
) -> bytes:
    return (
        struct.pack("!HHH", pkttype, hatype, len(addr))
        + addr.ljust(8, b"\0")
        + struct.pack("!H", proto)
        + payload
    )


def _sll2(
    pkttype: int,
    proto: int,
    ifindex: int,
    payload: bytes,
    hatype: int = 1,
    addr: bytes = _mac(MAC_A),
) -> bytes:
    return (
        struct.pack("!HHIHBB", proto, 0, ifindex, hatype, pkttype, len(addr))
        + addr.ljust(8, b"\0")
        + payload
    )


def _split_frame(frame: bytes) -> tuple[int, bytes]:
    """(SLL protocol, payload) for an Ethernet frame: the ethertype, or 802.2 / raw 802.3."""
    etype = int.from_bytes(frame[12:14], "big")
    payload = frame[14:]
    if etype <= 1500:
        return (0x0001 if payload[:2] == b"\xff\xff" else 0x0004), payload
    return etype, payload


def _tiny(prefix: str) -> list[Sample]:
    out = [Sample(f"{prefix}empty", b"", 0), Sample(f"{prefix}empty-wire60", b"", 60)]
    for n in (1, 2, 3, 4, 5, 7, 12, 13, 14, 15, 16, 19, 20, 23):
        data = bytes((i * 37 + 0x45) & 0xFF for i in range(n))
        out.append(Sample(f"{prefix}junk{n}", data, n))
    out.append(Sample(f"{prefix}zeros64", bytes(64), 64))
    out.append(Sample(f"{prefix}ones64", b"\xff" * 64, 64))
    return out


_CUTS = (1, 4, 12, 14, 16, 20, 22, 24, 26, 30, 34, 38, 40, 44, 54, 60, 62)


def _with_truncations(samples: list[Sample]) -> list[Sample]:
    out = list(samples)
    for i, sample in enumerate(samples):
        if i % 5 == 0 and len(sample.data) > 1:
            cut = _CUTS[(i // 5) % len(_CUTS)]
            if cut < len(sample.data):
                out.append(Sample(f"{sample.name}/trunc{cut}", sample.data[:cut], sample.wirelen))
        if i % 23 == 0 and len(sample.data) > 8:
            out.append(
                Sample(
                    f"{sample.name}/trunc-half",
                    sample.data[: len(sample.data) // 2],
                    sample.wirelen,
                )
            )
    # Captures shorter than the wire by a fixed snaplen, as tcpdump -s would produce.
    for i, sample in enumerate(samples[::11]):
        if len(sample.data) > 68:
            out.append(Sample(f"{sample.name}/snap68", sample.data[:68], sample.wirelen))
    # A few with wirelen larger than the packet without truncation marks (jumbo wirelen).
    for sample in samples[3::37]:
        out.append(Sample(f"{sample.name}/wire9000", sample.data, max(sample.wirelen, 9000)))
    return out


def _ethernet() -> list[Sample]:
    out = []
    macs = [
        (MAC_B, MAC_A),
        (MAC_A, MAC_B),
        (MAC_BCAST, MAC_A),
        (MAC_MCAST4, MAC_B),
        (MAC_MCAST6, MAC_A),
    ]
    for i, (name, etype, payload) in enumerate(network_packets()):
        dst, src = macs[i % len(macs)]
        if etype == 0x86DD and dst == MAC_MCAST4:
            dst = MAC_MCAST6
        frame = _eth(dst, src, etype, payload)
        out.append(Sample(f"eth/{name}", frame, len(frame)))
    for name, frame in ethernet_frames():
        out.append(Sample(f"eth/{name}", frame, len(frame)))
    return out


def _sll_samples(two: bool) -> list[Sample]:
    kind = "sll2" if two else "sll"
    out = []
    frames = [
        (f"{name}", _eth(MAC_B, MAC_A, etype, payload))
        for name, etype, payload in network_packets()
    ]
    frames += list(ethernet_frames())
    for i, (name, frame) in enumerate(frames):
        proto, payload = _split_frame(frame)
        pkttype = SLL_PKTTYPES[i % len(SLL_PKTTYPES)]
        if two:
            ifindex = IFINDEXES[(i // 3) % len(IFINDEXES)]
            data = _sll2(pkttype, proto, ifindex, payload)
            out.append(Sample(f"{kind}/{name}/pt{pkttype}/if{ifindex}", data, len(data)))
        else:
            data = _sll(pkttype, proto, payload)
            out.append(Sample(f"{kind}/{name}/pt{pkttype}", data, len(data)))
    # Non-Ethernet hardware types and odd protocol values.
    from scapy.layers.inet import IP, UDP

    ip = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=53, dport=53))
    extras = [
        ("hatype-loopback", 772, 0x0800, ip, b""),
        ("hatype-ipgre", 778, 0x0800, ip, bytes(4)),
        ("hatype-none", 0xFFFE, 0x0800, ip, b""),
        ("proto-0003", 1, 0x0003, ip, _mac(MAC_A)),
        ("proto-can", 280, 0x000C, bytes(16), b""),
        ("proto-8100-vlan", 1, 0x8100, b"\x00\x0a\x08\x00" + ip, _mac(MAC_A)),
    ]
    for j, (name, hatype, proto, payload, addr) in enumerate(extras):
        for pkttype in (0, 4):
            if two:
                data = _sll2(pkttype, proto, IFINDEXES[j % len(IFINDEXES)], payload, hatype, addr)
            else:
                data = _sll(pkttype, proto, payload, hatype, addr)
            out.append(Sample(f"{kind}/{name}/pt{pkttype}", data, len(data)))
    return out


def _ip_only(kind: str) -> list[Sample]:
    out = []
    for name, etype, payload in network_packets():
        if etype in (0x0800, 0x86DD):
            out.append(Sample(f"{kind}/{name}", payload, len(payload)))
    # IP packets carried inside the Ethernet-only frames (after VLAN/MPLS/PPPoE) are not plain IP;
    # add non-IP payloads to exercise version checks.
    for name, etype, payload in network_packets():
        if etype not in (0x0800, 0x86DD):
            out.append(Sample(f"{kind}/non-ip/{name}", payload, len(payload)))
    return out


def _null_like(kind: str, byteorder: str) -> list[Sample]:
    out = []
    v6_idx = 0
    for name, etype, payload in network_packets():
        if etype == 0x0800:
            fams = (AF_INET,)
        elif etype == 0x86DD:
            fams = (AF_INET6_VARIANTS[v6_idx % len(AF_INET6_VARIANTS)],)
            v6_idx += 1
        else:
            continue
        for fam in fams:
            data = fam.to_bytes(4, byteorder) + payload
            out.append(Sample(f"{kind}/af{fam}/{name}", data, len(data)))
    # Families in the wrong byte order and unknown families.
    other = "big" if byteorder == "little" else "little"
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6

    ip = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=80))
    ip6 = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(dport=80))
    for fam, payload, pname in [
        (AF_INET, ip, "ip"),
        (10, ip6, "ip6"),
        (24, ip6, "ip6"),
        (28, ip6, "ip6"),
        (30, ip6, "ip6"),
    ]:
        data = fam.to_bytes(4, other) + payload
        out.append(Sample(f"{kind}/af{fam}-swapped/{pname}", data, len(data)))
    for fam in (0, 1, 7, 17, 23, 0x1000000):
        data = fam.to_bytes(4, byteorder) + ip
        out.append(Sample(f"{kind}/af{fam}-unknown", data, len(data)))
    return out


@functools.lru_cache(maxsize=None)
def _build(linktype: str) -> tuple[Sample, ...]:
    if linktype == "EN10MB":
        base = _ethernet()
    elif linktype == "LINUX_SLL":
        base = _sll_samples(two=False)
    elif linktype == "LINUX_SLL2":
        base = _sll_samples(two=True)
    elif linktype in ("RAW", "IPV4", "IPV6"):
        base = _ip_only(linktype.lower())
    elif linktype == "NULL":
        base = _null_like("null", sys.byteorder)
    elif linktype == "LOOP":
        base = _null_like("loop", "big")
    else:
        raise ValueError(f"no packet corpus for link type {linktype!r}")
    samples = _with_truncations(base) + _tiny(f"{linktype.lower()}/tiny/")
    names = set()
    unique = []
    for sample in samples:
        name = sample.name
        n = 2
        while name in names:
            name = f"{sample.name}#{n}"
            n += 1
        names.add(name)
        unique.append(Sample(name, sample.data, sample.wirelen))
    return tuple(unique)


def packets(linktype: str) -> list[Sample]:
    """The corpus for ``linktype`` (one of LINKTYPES): a fresh list of deterministic samples."""
    return list(_build(linktype.upper()))
