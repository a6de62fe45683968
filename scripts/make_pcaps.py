#!/usr/bin/env python3
"""Write the project's small, deterministic sample captures into pcaps/.

    python3 scripts/make_pcaps.py [OUTDIR]

Packets are built with scapy (a test dependency; the bpfdump package never imports it); the
files are written with plain struct code here, so their bytes do not depend on scapy's writers.
Running the script twice gives byte-identical files.

  sample.pcap            ~300 Ethernet packets: ARP/RARP, DNS, HTTP over TCP (handshakes,
                         options, FIN/RST), ICMP, IPv4 options and fragments, IPv6 with
                         extension headers, ICMPv6 echo and neighbour discovery, 802.1Q, QinQ,
                         MPLS, NTP, DHCP, and a few packets of unknown protocols
  sample-nano.pcap       the first 40 of those with nanosecond timestamps (magic a1b23c4d)
  sample-be.pcap         the first 40, big-endian (as written on a big-endian machine)
  sample-snap96.pcap     all of sample.pcap cut to a 96-byte snapshot length
  two-interfaces.pcapng  pcapng, interface 0 Ethernet (microseconds), interface 1 raw IP
                         (nanoseconds, if_tsoffset), EPBs from both, an SPB, comments, a block
                         of unknown type, and a second section (big-endian) with one Ethernet
                         interface
  sample.pcapng          60 of the frames in a pcapng libpcap reads too: three Ethernet
                         interfaces (if_tsresol 10^-6, 10^-9 with if_tsoffset, 2^-20), EPBs
                         with options, OPBs, an SPB, skipped NRB/ISB/unknown blocks, and a
                         second section
  linux-sll.pcap         Linux cooked (SLL) packets
  raw-ip.pcap            raw IPv4/IPv6 packets (LINKTYPE_RAW)
  truncated.pcap         sample.pcap's first 20 packets with the last record cut short
"""
from __future__ import annotations

import os
import struct
import sys

from scapy.all import (ARP, BOOTP, DHCP, DNS, DNSQR, DNSRR, ICMP, IP, NTP, TCP, UDP,  # noqa
                       Dot1AD, Dot1Q, Ether, ICMPv6EchoReply, ICMPv6EchoRequest,
                       ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6ND_RS,
                       ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr, ICMPv6NDOptDstLLAddr,
                       IPOption_RR, IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, Raw, CookedLinux, fragment)
from scapy.contrib.mpls import MPLS

BASE_TS = 1_700_000_000  # 2023-11-14 22:13:20 UTC

CLIENT_MAC = "00:11:22:33:44:55"
GW_MAC = "00:aa:bb:cc:dd:ee"
OTHER_MAC = "00:de:ad:be:ef:01"
BCAST = "ff:ff:ff:ff:ff:ff"
CLIENT = "192.168.1.10"
GW = "192.168.1.1"
SERVER = "93.184.216.34"
CLIENT6 = "2001:db8::10"
SERVER6 = "2001:db8:1::80"
LL_CLIENT6 = "fe80::211:22ff:fe33:4455"
LL_GW6 = "fe80::2aa:bbff:fecc:ddee"

TCP_OPTS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1000, 0)), ("NOP", None),
            ("WScale", 7)]


def eth(src=CLIENT_MAC, dst=GW_MAC):
    return Ether(src=src, dst=dst)


def dns_exchange(qid, name, sport):
    q = eth() / IP(src=CLIENT, dst=GW, id=qid) / UDP(sport=sport, dport=53) / DNS(
        id=qid, rd=1, qd=DNSQR(qname=name, qtype="A"))
    r = eth(GW_MAC, CLIENT_MAC) / IP(src=GW, dst=CLIENT, id=qid + 1) / UDP(
        sport=53, dport=sport) / DNS(
        id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype="A"),
        an=[DNSRR(rrname=name, type="CNAME", ttl=300, rdata="edge." + name),
            DNSRR(rrname="edge." + name, type="A", ttl=60, rdata=SERVER)])
    q6 = eth() / IP(src=CLIENT, dst=GW, id=qid + 2) / UDP(sport=sport + 1, dport=53) / DNS(
        id=qid + 1, rd=1, qd=DNSQR(qname=name, qtype="AAAA"))
    r6 = eth(GW_MAC, CLIENT_MAC) / IP(src=GW, dst=CLIENT, id=qid + 3) / UDP(
        sport=53, dport=sport + 1) / DNS(
        id=qid + 1, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype="AAAA"),
        an=[DNSRR(rrname=name, type="AAAA", ttl=60, rdata=SERVER6)])
    return [q, r, q6, r6]


def http_conversation(n, sport, client=CLIENT, path="/"):
    """A TCP handshake, a GET, a two-segment response, and a FIN exchange."""
    cseq, sseq = 1000 * n + 1, 5000 * n + 7
    c = lambda **kw: eth() / IP(src=client, dst=SERVER, id=100 * n + kw.pop("i")) / TCP(  # noqa
        sport=sport, dport=80, window=502, **kw)
    s = lambda **kw: eth(GW_MAC, CLIENT_MAC) / IP(src=SERVER, dst=client, ttl=52,  # noqa
                                                 id=200 * n + kw.pop("i")) / TCP(
        sport=80, dport=sport, window=65535, **kw)
    req = (f"GET {path} HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bpfdump-sample\r\n"
           f"Accept: */*\r\n\r\n").encode()
    body = b"<html><body>" + b"sample " * (20 + n) + b"</body></html>\n"
    resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)
    half = len(resp) // 2
    ts = lambda a, b: [("NOP", None), ("NOP", None), ("Timestamp", (a, b))]  # noqa
    pkts = [
        c(i=0, flags="S", seq=cseq, options=TCP_OPTS),
        s(i=0, flags="SA", seq=sseq, ack=cseq + 1,
          options=[("MSS", 1400), ("SAckOK", b""), ("Timestamp", (7000, 1000)),
                   ("NOP", None), ("WScale", 9)]),
        c(i=1, flags="A", seq=cseq + 1, ack=sseq + 1, options=ts(1001, 7000)),
        c(i=2, flags="PA", seq=cseq + 1, ack=sseq + 1, options=ts(1002, 7000)) / Raw(req),
        s(i=1, flags="A", seq=sseq + 1, ack=cseq + 1 + len(req), options=ts(7001, 1002)),
        s(i=2, flags="A", seq=sseq + 1, ack=cseq + 1 + len(req),
          options=ts(7002, 1002)) / Raw(resp[:half]),
        s(i=3, flags="PA", seq=sseq + 1 + half, ack=cseq + 1 + len(req),
          options=ts(7002, 1002)) / Raw(resp[half:]),
        c(i=3, flags="A", seq=cseq + 1 + len(req), ack=sseq + 1 + len(resp),
          options=[("NOP", None), ("NOP", None), ("Timestamp", (1003, 7002)),
                   ("NOP", None), ("NOP", None),
                   ("SAck", (sseq + 1, sseq + 1 + half))]),
        c(i=4, flags="FA", seq=cseq + 1 + len(req), ack=sseq + 1 + len(resp)),
        s(i=4, flags="FA", seq=sseq + 1 + len(resp), ack=cseq + 2 + len(req)),
        c(i=5, flags="A", seq=cseq + 2 + len(req), ack=sseq + 2 + len(resp)),
    ]
    return pkts


def icmp_pings(n, ident):
    out = []
    for seq in range(n):
        payload = bytes(range(seq, seq + 48))
        out.append(eth() / IP(src=CLIENT, dst=SERVER, id=3000 + seq) /
                   ICMP(type=8, id=ident, seq=seq) / Raw(payload))
        out.append(eth(GW_MAC, CLIENT_MAC) / IP(src=SERVER, dst=CLIENT, ttl=52, id=4000 + seq)
                   / ICMP(type=0, id=ident, seq=seq) / Raw(payload))
    return out


def ipv6_packets():
    mc_ns = "ff02::1:ff00:80"
    out = [
        eth() / IPv6(src=CLIENT6, dst=SERVER6) / ICMPv6EchoRequest(id=7, seq=1, data=b"ping6"),
        eth(GW_MAC, CLIENT_MAC) / IPv6(src=SERVER6, dst=CLIENT6, hlim=60) /
        ICMPv6EchoReply(id=7, seq=1, data=b"ping6"),
        eth(CLIENT_MAC, "33:33:ff:00:00:80") / IPv6(src=LL_CLIENT6, dst=mc_ns, hlim=255) /
        ICMPv6ND_NS(tgt="fe80::80") / ICMPv6NDOptSrcLLAddr(lladdr=CLIENT_MAC),
        eth(GW_MAC, CLIENT_MAC) / IPv6(src="fe80::80", dst=LL_CLIENT6, hlim=255) /
        ICMPv6ND_NA(tgt="fe80::80", R=0, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=GW_MAC),
        eth(CLIENT_MAC, "33:33:00:00:00:02") / IPv6(src=LL_CLIENT6, dst="ff02::2", hlim=255) /
        ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr=CLIENT_MAC),
        eth(GW_MAC, "33:33:00:00:00:01") / IPv6(src=LL_GW6, dst="ff02::1", hlim=255) /
        ICMPv6ND_RA(chlim=64, routerlifetime=1800) / ICMPv6NDOptSrcLLAddr(lladdr=GW_MAC) /
        ICMPv6NDOptPrefixInfo(prefix="2001:db8::", prefixlen=64, validlifetime=86400,
                              preferredlifetime=14400),
        eth() / IPv6(src=CLIENT6, dst=SERVER6) / TCP(sport=40000, dport=80, flags="S",
                                                     seq=42, options=TCP_OPTS),
        eth(GW_MAC, CLIENT_MAC) / IPv6(src=SERVER6, dst=CLIENT6) / TCP(
            sport=80, dport=40000, flags="SA", seq=900, ack=43, options=[("MSS", 1440)]),
        eth() / IPv6(src=CLIENT6, dst=SERVER6) / IPv6ExtHdrHopByHop() /
        UDP(sport=5000, dport=5001) / Raw(b"hop-by-hop"),
        eth() / IPv6(src=CLIENT6, dst=SERVER6) / IPv6ExtHdrDestOpt() /
        ICMPv6EchoRequest(id=8, seq=2),
        eth() / IPv6(src=CLIENT6, dst=SERVER6) /
        IPv6ExtHdrRouting(addresses=["2001:db8:2::1"]) / UDP(sport=5000, dport=5002),
    ]
    big = IPv6(src=CLIENT6, dst=SERVER6) / IPv6ExtHdrFragment(id=0x1234) / UDP(
        sport=5000, dport=5003) / Raw(bytes(range(256)) * 6)
    for frag in _fragment6(big, 600):
        out.append(eth() / frag)
    return out


def _fragment6(pkt, size):
    from scapy.all import fragment6
    return fragment6(pkt, size)


def vlan_mpls_packets():
    return [
        eth() / Dot1Q(vlan=100, prio=3) / IP(src="10.100.0.5", dst="10.100.0.1") /
        ICMP(type=8, id=9, seq=1) / Raw(b"vlan-ping"),
        eth(GW_MAC, CLIENT_MAC) / Dot1Q(vlan=100, prio=3) / IP(src="10.100.0.1",
                                                                dst="10.100.0.5") /
        ICMP(type=0, id=9, seq=1) / Raw(b"vlan-ping"),
        eth() / Dot1AD(vlan=200) / Dot1Q(vlan=300) / IP(src="10.30.0.5", dst="10.30.0.1") /
        UDP(sport=7000, dport=7001) / Raw(b"qinq payload"),
        eth() / Dot1Q(vlan=42) / ARP(op=1, hwsrc=CLIENT_MAC, psrc="10.42.0.5",
                                     pdst="10.42.0.1"),
        Ether(src=CLIENT_MAC, dst=GW_MAC, type=0x8847) / MPLS(label=16, cos=0, s=1, ttl=64) /
        IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=8, id=11, seq=1),
        Ether(src=CLIENT_MAC, dst=GW_MAC, type=0x8847) / MPLS(label=100, s=0, ttl=64) /
        MPLS(label=200, s=1, ttl=64) / IP(src="10.0.0.1", dst="10.0.0.3") /
        UDP(sport=4000, dport=4001) / Raw(b"two labels"),
    ]


def arp_packets():
    return [
        eth(CLIENT_MAC, BCAST) / ARP(op=1, hwsrc=CLIENT_MAC, psrc=CLIENT, pdst=GW),
        eth(GW_MAC, CLIENT_MAC) / ARP(op=2, hwsrc=GW_MAC, psrc=GW, hwdst=CLIENT_MAC,
                                      pdst=CLIENT),
        eth(OTHER_MAC, BCAST) / ARP(op=1, hwsrc=OTHER_MAC, psrc="0.0.0.0", pdst="192.168.1.77"),
        Ether(src=OTHER_MAC, dst=BCAST, type=0x8035) / ARP(op=3, hwsrc=OTHER_MAC,
                                                           hwdst=OTHER_MAC),
        Ether(src=GW_MAC, dst=OTHER_MAC, type=0x8035) / ARP(op=4, hwsrc=GW_MAC, psrc=GW,
                                                            hwdst=OTHER_MAC,
                                                            pdst="192.168.1.77"),
    ]


def dhcp_packets():
    mac = bytes.fromhex(OTHER_MAC.replace(":", ""))
    common = dict(chaddr=mac + bytes(10), xid=0x3903F326)
    c = lambda: Ether(src=OTHER_MAC, dst=BCAST) / IP(src="0.0.0.0", dst="255.255.255.255")  # noqa
    s = lambda: eth(GW_MAC, BCAST) / IP(src=GW, dst="255.255.255.255")  # noqa
    return [
        c() / UDP(sport=68, dport=67) / BOOTP(op=1, **common) / DHCP(options=[
            ("message-type", "discover"), ("param_req_list", [1, 3, 6, 15]), "end"]),
        s() / UDP(sport=67, dport=68) / BOOTP(op=2, yiaddr="192.168.1.77", siaddr=GW,
                                              **common) / DHCP(options=[
            ("message-type", "offer"), ("server_id", GW), ("lease_time", 86400),
            ("subnet_mask", "255.255.255.0"), ("router", GW), ("name_server", GW), "end"]),
        c() / UDP(sport=68, dport=67) / BOOTP(op=1, **common) / DHCP(options=[
            ("message-type", "request"), ("requested_addr", "192.168.1.77"),
            ("server_id", GW), "end"]),
        s() / UDP(sport=67, dport=68) / BOOTP(op=2, yiaddr="192.168.1.77", siaddr=GW,
                                              **common) / DHCP(options=[
            ("message-type", "ack"), ("server_id", GW), ("lease_time", 86400),
            ("subnet_mask", "255.255.255.0"), ("router", GW), "end"]),
    ]


def ntp_packets():
    return [
        eth() / IP(src=CLIENT, dst="192.0.2.123", id=555) / UDP(sport=123, dport=123) /
        NTP(version=4, mode=3, stratum=0, poll=6, precision=-20, ref=0, orig=0, recv=0,
            sent=3908000000.5),
        eth(GW_MAC, CLIENT_MAC) / IP(src="192.0.2.123", dst=CLIENT, id=556) /
        UDP(sport=123, dport=123) /
        NTP(version=4, mode=4, stratum=2, poll=6, precision=-23, ref_id=0xC0000201,
            ref=3907999900.25, orig=3908000000.5, recv=3908000000.75, sent=3908000000.875),
    ]


def ipv4_misc():
    big = IP(src=CLIENT, dst=SERVER, id=0x4242) / UDP(sport=9000, dport=9001) / Raw(
        bytes(range(256)) * 8)
    out = [eth() / f for f in fragment(big, fragsize=800)]
    out += [
        eth() / IP(src=CLIENT, dst=SERVER, id=777, options=[IPOption_RR(routers=[
            "0.0.0.0"] * 3)]) / ICMP(type=8, id=12, seq=1),
        eth() / IP(src=CLIENT, dst=SERVER, id=778, tos=0x10, ttl=1) / UDP(
            sport=33434, dport=33435) / Raw(b"traceroute"),
        eth(GW_MAC, CLIENT_MAC) / IP(src=GW, dst=CLIENT, id=779) / ICMP(type=11, code=0) /
        IP(src=CLIENT, dst=SERVER, id=778, ttl=1) / UDP(sport=33434, dport=33435),
        eth(GW_MAC, CLIENT_MAC) / IP(src=SERVER, dst=CLIENT, id=780) / ICMP(type=3, code=3) /
        IP(src=CLIENT, dst=SERVER, id=700) / UDP(sport=40123, dport=9999),
        eth() / IP(src=CLIENT, dst=SERVER, id=781) / TCP(sport=40999, dport=80, flags="S",
                                                         seq=1, options=TCP_OPTS),
        eth(GW_MAC, CLIENT_MAC) / IP(src=SERVER, dst=CLIENT, id=782) / TCP(
            sport=80, dport=40999, flags="RA", seq=0, ack=2),
        eth() / IP(src=CLIENT, dst=SERVER, id=783, proto=253) / Raw(b"experimental"),
        Ether(src=CLIENT_MAC, dst=GW_MAC, type=0x88B5) / Raw(b"local experimental ethertype"),
        Ether(src=CLIENT_MAC, dst=GW_MAC, type=0x0060) / Raw(b"\x00" * 46),  # 802.3 length
        eth() / IP(src=CLIENT, dst=SERVER, id=784) / UDP(sport=5353, dport=5353) / DNS(
            id=0, qd=DNSQR(qname="printer.local", qtype="PTR")),
        eth() / IP(src=CLIENT, dst=GW, id=785) / UDP(sport=33000, dport=53) / DNS(
            id=0x7777, rd=1, qd=DNSQR(qname="example.com", qtype="MX")),
        eth(GW_MAC, CLIENT_MAC) / IP(src=GW, dst=CLIENT, id=786) / UDP(sport=53, dport=33000) /
        DNS(id=0x7777, qr=1, rd=1, ra=1, qd=DNSQR(qname="example.com", qtype="MX"),
            an=DNSRR(rrname="example.com", type="MX", ttl=3600,
                     rdata=b"\x00\x0a\x04mail\x07example\x03com\x00")),
        eth(GW_MAC, CLIENT_MAC) / IP(src=GW, dst=CLIENT, id=787) / UDP(sport=53, dport=33001) /
        DNS(id=0x7778, qr=1, rd=1, ra=1, rcode=3, qd=DNSQR(qname="nx.example.com")),
    ]
    return out


def sample_packets():
    pkts = []
    pkts += arp_packets()
    names = ["example.com", "example.org", "example.net", "www.example.com", "api.example.com",
             "cdn.example.org", "mail.example.net", "docs.example.com"]
    for i, name in enumerate(names):
        pkts += dns_exchange(0x1000 + 16 * i, name, 50000 + 2 * i)
    for n in range(1, 21):
        pkts += http_conversation(n, 41000 + n, path=f"/page{n}.html")
    pkts += icmp_pings(6, ident=0x1F)
    pkts += ipv6_packets()
    pkts += vlan_mpls_packets()
    pkts += dhcp_packets()
    pkts += ntp_packets()
    pkts += ipv4_misc()
    return [bytes(p) for p in pkts]


def timestamps(count, nano=False):
    """Deterministic, increasing timestamps in ns: 1-40 ms apart, not round numbers."""
    out, t = [], BASE_TS * 1_000_000_000 + 123_456_789
    for i in range(count):
        t += (1_000_000 + (i * 7_919_011) % 39_000_000)
        out.append(t if nano else t - t % 1000)
    return out


# -- file writers (independent of bpfdump and of scapy's writers) ---------------------------------

def pcap_bytes(records, linktype=1, snaplen=262144, nano=False, order="<"):
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for ts, wirelen, data in records:
        sec, frac = divmod(ts, 1_000_000_000)
        if not nano:
            frac //= 1000
        data = data[:snaplen]
        out.append(struct.pack(order + "IIII", sec, frac, len(data), wirelen) + data)
    return b"".join(out)


def _pad(b):
    return b + bytes(-len(b) % 4)


def _options(opts, order):
    out = b""
    for code, value in opts:
        out += struct.pack(order + "HH", code, len(value)) + _pad(value)
    if opts:
        out += struct.pack(order + "HH", 0, 0)
    return out


def _block(btype, body, order):
    total = 12 + len(body)
    return struct.pack(order + "II", btype, total) + body + struct.pack(order + "I", total)


def shb(order, options=()):
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + _options(list(options), order)
    return _block(0x0A0D0D0A, body, order)


def idb(order, linktype, snaplen, options=()):
    body = struct.pack(order + "HHI", linktype, 0, snaplen) + _options(list(options), order)
    return _block(1, body, order)


def epb(order, ifid, units, data, wirelen=None, options=()):
    wirelen = len(data) if wirelen is None else wirelen
    body = struct.pack(order + "IIIII", ifid, units >> 32, units & 0xFFFFFFFF, len(data),
                       wirelen) + _pad(data) + _options(list(options), order)
    return _block(6, body, order)


def spb(order, data, wirelen=None):
    wirelen = len(data) if wirelen is None else wirelen
    return _block(3, struct.pack(order + "I", wirelen) + _pad(data), order)


def two_interfaces_pcapng(eth_frames, ip_packets):
    o = "<"
    out = [shb(o, [(1, b"bpfdump sample: two interfaces of different link types"),
                   (2, b"sample hardware"), (3, b"Linux"), (4, b"scripts/make_pcaps.py")])]
    out.append(idb(o, 1, 262144, [(2, b"eth0"), (9, b"\x06"), (12, b"Linux")]))
    tsoffset = struct.pack(o + "q", 0)
    out.append(idb(o, 101, 65535, [(2, b"tun0"), (9, b"\x09"), (14, tsoffset)]))
    out.append(_block(0x0000_0BAD, _pad(b"unknown block type, skipped"), o))
    ts = timestamps(len(eth_frames) + len(ip_packets))
    k = 0
    for i in range(max(len(eth_frames), len(ip_packets))):
        if i < len(eth_frames):
            opts = [(1, f"ethernet frame {i}".encode())] if i % 5 == 0 else []
            out.append(epb(o, 0, ts[k] // 1000, eth_frames[i], options=opts))
            k += 1
        if i < len(ip_packets):
            out.append(epb(o, 1, ts[k] + 17, ip_packets[i]))
            k += 1
    out.append(spb(o, eth_frames[0]))
    # a second section, big-endian, one Ethernet interface with millisecond stamps
    b = ">"
    out.append(shb(b, [(4, b"second section")]))
    out.append(idb(b, 1, 128, [(2, b"eth1"), (9, b"\x03")]))
    for i, frame in enumerate(eth_frames[5:10]):
        out.append(epb(b, 0, ts[-1] // 1_000_000 + 1000 * (i + 1), frame[:128], len(frame)))
    return b"".join(out)


def opb(order, ifid, units, data, wirelen=None):
    wirelen = len(data) if wirelen is None else wirelen
    body = struct.pack(order + "HHIIII", ifid, 0, units >> 32, units & 0xFFFFFFFF, len(data),
                       wirelen) + _pad(data)
    return _block(2, body, order)


def sample_pcapng(frames):
    """What libpcap can read too: every interface Ethernet with the same snapshot length."""
    o = "<"
    ts = timestamps(len(frames), nano=True)
    out = [shb(o, [(1, b"bpfdump sample pcapng"), (4, b"scripts/make_pcaps.py")])]
    out.append(idb(o, 1, 262144, [(2, b"eth0"), (9, b"\x06")]))
    out.append(idb(o, 1, 262144, [(2, b"eth1"), (9, b"\x09"),
                                  (14, struct.pack(o + "q", 3600))]))
    out.append(idb(o, 1, 262144, [(2, b"eth2"), (9, b"\x94")]))          # 2^-20 s
    out.append(_block(4, struct.pack(o + "HH", 0, 0), o))                 # empty NRB
    out.append(_block(0x0000_0BAD, _pad(b"unknown block type, skipped"), o))
    half = len(frames) // 2
    for i, (t, f) in enumerate(zip(ts[:half], frames[:half])):
        ifid = i % 3
        if ifid == 0:
            units = t // 1000
        elif ifid == 1:
            units = t - 3600 * 1_000_000_000
        else:
            units = (t << 20) // 1_000_000_000
        if i % 10 == 9:
            out.append(opb(o, ifid, units, f))
        else:
            out.append(epb(o, ifid, units, f, options=[(2, struct.pack(o + "I", 1))]
                           if i % 7 == 0 else []))
    out.append(spb(o, frames[0]))
    out.append(_block(5, struct.pack(o + "III", 0, 0, 0), o))            # ISB, skipped
    out.append(shb(o, [(4, b"second section")]))
    out.append(idb(o, 1, 262144, [(2, b"eth3")]))
    for t, f in zip(ts[half:], frames[half:]):
        out.append(epb(o, 0, t // 1000, f))
    return b"".join(out)


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    frames = sample_packets()
    ts = timestamps(len(frames))
    records = [(t, len(f), f) for t, f in zip(ts, frames)]
    write = lambda name, data: open(os.path.join(outdir, name), "wb").write(data)  # noqa
    write("sample.pcap", pcap_bytes(records))
    nts = timestamps(40, nano=True)
    write("sample-nano.pcap", pcap_bytes([(t, len(f), f) for t, f in zip(nts, frames)],
                                         nano=True))
    write("sample-be.pcap", pcap_bytes(records[:40], order=">"))
    write("sample-snap96.pcap", pcap_bytes(records, snaplen=96))

    ip_packets = [bytes(IP(src="10.8.0.2", dst="10.8.0.1", id=i) / ICMP(type=8, id=99, seq=i))
                  for i in range(5)]
    ip_packets += [bytes(IPv6(src="fd00::2", dst="fd00::1") / UDP(sport=6000 + i, dport=53) /
                         DNS(id=i, rd=1, qd=DNSQR(qname="vpn.example.com")))
                   for i in range(3)]
    write("two-interfaces.pcapng", two_interfaces_pcapng(frames[:12], ip_packets))
    write("sample.pcapng", sample_pcapng(frames[:60]))
    write("raw-ip.pcap", pcap_bytes([(t, len(p), p) for t, p in zip(ts, ip_packets)],
                                    linktype=101, snaplen=65535))
    sll = []
    for i, f in enumerate(frames[:30]):
        inner = Ether(f)
        pkt = CookedLinux(pkttype=4 if i % 2 == 0 else 0, lladdrtype=1, lladdrlen=6,
                          src=bytes.fromhex(inner.src.replace(":", "")) + b"\0\0",
                          proto=inner.type) / inner.payload
        sll.append(bytes(pkt))
    write("linux-sll.pcap", pcap_bytes([(t, len(p), p) for t, p in zip(ts, sll)],
                                       linktype=113, snaplen=262144))
    trunc = pcap_bytes(records[:20])
    write("truncated.pcap", trunc[:-(len(frames[19]) // 2)])
    return len(frames)


if __name__ == "__main__":
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    n = main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "pcaps"))
    print(f"wrote {n} packets to sample.pcap and the other samples", file=sys.stderr)
