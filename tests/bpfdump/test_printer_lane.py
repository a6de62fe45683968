"""The printer's fast lane (bpfdump.printer.lane) against the tcpdump binary: the shapes it
takes, the edges where it must hand a packet back to the general printers, and packets whose
bytes only the general path can print, cut at every snapshot length (exhaustive)."""
from __future__ import annotations

import pytest

from bpfdump.packet import Packet
from bpfdump.printer import PrintOptions, Printer
from tests.bpfdump.test_printer import TCPDUMP, _pcap_bytes, _records, compare

scapy_all = pytest.importorskip("scapy.all")
pytestmark = pytest.mark.skipif(TCPDUMP is None, reason="tcpdump binary not installed")


def lane_cases() -> list:
    """(name, scapy packet) pairs: what the lane prints itself, and its fallbacks."""
    from scapy.all import (ARP, DNS, DNSQR, DNSRROPT, ICMP, IP, TCP, UDP, Dot1Q, Ether,
                           ICMPv6EchoRequest, IPv6)
    e = Ether(src="00:11:22:33:44:55", dst="66:77:88:99:aa:bb")
    a, b = "10.1.0.1", "10.1.0.2"
    v6a, v6b = "2001:db8::a", "2001:db8::b"
    opts = [("MSS", 1460), ("NOP", None), ("WScale", 7), ("SAckOK", b""),
            ("Timestamp", (123456, 654321))]
    get = b"GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n"
    return [
        ("syn_opts", e / IP(src=a, dst=b) / TCP(sport=41000, dport=80, flags="S", seq=100,
                                                options=opts)),
        ("synack_opts", e / IP(src=b, dst=a) / TCP(sport=80, dport=41000, flags="SA", seq=900,
                                                   ack=101, options=opts)),
        ("ack_ts", e / IP(src=a, dst=b, flags="DF") / TCP(
            sport=41000, dport=80, flags="A", seq=101, ack=901,
            options=[("NOP", None), ("NOP", None), ("Timestamp", (123457, 654322))])),
        ("http_get_ts", e / IP(src=a, dst=b) / TCP(
            sport=41000, dport=80, flags="PA", seq=101, ack=901,
            options=[("NOP", None), ("NOP", None), ("Timestamp", (1, 2))]) / get),
        ("http_response", e / IP(src=b, dst=a) / TCP(sport=80, dport=41000, flags="PA", seq=901,
                                                     ack=143) / b"HTTP/1.1 200 OK\r\n\r\n"),
        ("http_lf_only", e / IP(src=a, dst=b) / TCP(sport=41000, dport=80, flags="PA", seq=143,
                                                    ack=920) / b"POST /x HTTP/1.0\nA: b\n\n"),
        ("http_cr_no_lf", e / IP(src=a, dst=b) / TCP(sport=41000, dport=80, flags="PA", seq=166,
                                                     ack=920) / b"GET /x HTTP/1.0\rjunk"),
        ("http_no_eol", e / IP(src=a, dst=b) / TCP(sport=41000, dport=8080, flags="PA", seq=1,
                                                   ack=1) / b"GET /unfinished"),
        ("sack_after_ack", e / IP(src=b, dst=a) / TCP(
            sport=80, dport=41000, flags="A", seq=920, ack=166,
            options=[("NOP", None), ("NOP", None), ("SAck", (170, 180))])),
        ("opt_eol_pad", e / IP(src=a, dst=b) / TCP(sport=41001, dport=443, flags="S",
                                                   options=[("MSS", 536), ("EOL", None)])),
        ("opt_bad_len", e / IP(src=a, dst=b) / TCP(sport=41002, dport=443, flags="S",
                                                   options=[(2, b"\x05")])),
        ("opt_unknown", e / IP(src=a, dst=b) / TCP(sport=41003, dport=443, flags="S",
                                                   options=[(99, b"\x00\x01\x02")])),
        ("smtp_line", e / IP(src=b, dst=a) / TCP(sport=25, dport=41004, flags="PA", seq=5,
                                                 ack=6) / b"220 mx ESMTP ready\r\n"),
        ("ssh_banner", e / IP(src=b, dst=a) / TCP(sport=22, dport=41005, flags="PA", seq=5,
                                                  ack=6) / b"SSH-2.0-Test\r\n"),
        ("tcp_urg_rst", e / IP(src=a, dst=b) / TCP(sport=41006, dport=9999, flags="RU", seq=7,
                                                   urgptr=3)),
        ("eth_padding", e / IP(src=a, dst=b) / TCP(sport=41007, dport=9999, flags="A", seq=1,
                                                   ack=1) / (b"\0" * 6)),
        ("dns_query_rd", e / IP(src=a, dst=b) / UDP(sport=5000, dport=53)
         / DNS(id=4660, rd=1, qd=DNSQR(qname="www.example.org", qtype="A"))),
        ("dns_query_edns", e / IP(src=a, dst=b) / UDP(sport=5001, dport=53)
         / DNS(id=1, rd=1, qd=DNSQR(qname="example.org", qtype="AAAA"), ar=DNSRROPT())),
        ("dns_query_cd_ad", e / IP(src=a, dst=b) / UDP(sport=5002, dport=53)
         / DNS(id=2, rd=0, cd=1, ad=1, qd=DNSQR(qname="x.y", qtype="TXT", qclass="CH"))),
        ("dns_query_root", e / IP(src=a, dst=b) / UDP(sport=5003, dport=53)
         / DNS(id=3, qd=DNSQR(qname=".", qtype="NS"))),
        ("dns_query_odd_label", e / IP(src=a, dst=b) / UDP(sport=5004, dport=53)
         / DNS(id=4, qd=DNSQR(qname=b"a\x01b.example", qtype="A"))),
        ("dns_query_two", e / IP(src=a, dst=b) / UDP(sport=5005, dport=53)
         / DNS(id=5, qd=[DNSQR(qname="a.example"), DNSQR(qname="b.example")])),
        ("dns_garbage", e / IP(src=a, dst=b) / UDP(sport=5006, dport=53) / (b"y" * 40)),
        ("mdns_query", e / IP(src=a, dst="224.0.0.251") / UDP(sport=5353, dport=5353)
         / DNS(id=0, qd=DNSQR(qname="printer.local", qtype="A", unicastresponse=1))),
        ("udp_bad_length", e / IP(src=a, dst=b) / UDP(sport=7000, dport=7001, len=200)
         / b"short"),
        ("udp_rx_port", e / IP(src=a, dst=b) / UDP(sport=7000, dport=7001) / b"abc"),
        ("icmp_echo_reply", e / IP(src=b, dst=a) / ICMP(type=0, id=77, seq=88) / b"pong"),
        ("icmp_info", e / IP(src=b, dst=a) / ICMP(type=15)),
        ("arp_reply", e / ARP(op=2, psrc=b, hwsrc="00:11:22:33:44:66", pdst=a,
                              hwdst="00:11:22:33:44:55")),
        ("arp_request_tha", e / ARP(op=1, psrc=a, pdst=b, hwdst="00:00:00:00:00:01")),
        ("arp_ipv6_proto", e / ARP(op=1, ptype=0x86DD, plen=16, psrc="::1", pdst="::2")),
        ("vlan_tcp_opts", e / Dot1Q(vlan=5) / IP(src=a, dst=b) / TCP(
            sport=42000, dport=80, flags="S", options=opts)),
        ("vlan_ip6_tcp", e / Dot1Q(vlan=6) / IPv6(src=v6a, dst=v6b) / TCP(
            sport=42001, dport=443, flags="PA", seq=1, ack=1) / b"data"),
        ("vlan_dns", e / Dot1Q(vlan=7) / IP(src=a, dst=b) / UDP(sport=42002, dport=53)
         / DNS(id=9, rd=1, qd=DNSQR(qname="vlan.example"))),
        ("vlan_icmp", e / Dot1Q(vlan=8) / IP(src=a, dst=b) / ICMP(id=1, seq=2)),
        ("vlan_arp_reply", e / Dot1Q(vlan=9) / ARP(op=2, psrc=b, pdst=a)),
        ("ip6_udp_dns", e / IPv6(src=v6a, dst=v6b) / UDP(sport=42003, dport=53)
         / DNS(id=10, rd=1, qd=DNSQR(qname="six.example", qtype="AAAA"))),
        ("ip6_icmp6", e / IPv6(src=v6a, dst=v6b) / ICMPv6EchoRequest(id=3, seq=4)),
        ("ip6_no_next", e / IPv6(src=v6a, dst=v6b, nh=59)),
        ("ip_proto_unknown", e / IP(src=a, dst=b, proto=99) / b"\0\0\x08\0"),
        ("ip_in_ip", e / IP(src=a, dst=b) / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(
            sport=1, dport=2)),
        ("ip_total_too_long", e / IP(src=a, dst=b, len=500) / UDP(sport=1, dport=2)),
        ("ip_total_too_short", e / IP(src=a, dst=b, len=24) / UDP(sport=1, dport=2)),
    ]


OPTION_SETS = [["-n"], [], ["-n", "-e"], ["-e"], ["-n", "-x"], ["-n", "-XX"], ["-n", "-S"],
               ["-n", "-#"], ["-n", "-tttt"], ["-q", "-n"], ["-n", "-vv"]]


def _ids(sets):
    return [" ".join(s) or "default" for s in sets]


@pytest.fixture(scope="module")
def lane_pcap(tmp_path_factory):
    path = tmp_path_factory.mktemp("lane") / "lane.pcap"
    path.write_bytes(_pcap_bytes(_records(lane_cases()), 1))
    return path


@pytest.mark.parametrize("args", OPTION_SETS, ids=_ids(OPTION_SETS))
def test_lane_shapes_match_tcpdump(lane_pcap, args):
    same, total, diff = compare(lane_pcap, args)
    assert same == total and not diff, "%d/%d lines identical\n%s" % (same, total, diff)


def _snapped_pcap(base, snap: int):
    recs = [(ts, wirelen, data[:snap]) for ts, wirelen, data in _records(lane_cases())]
    path = base / ("lane_snap%d.pcap" % snap)
    path.write_bytes(_pcap_bytes(recs, 1, snaplen=snap))
    return path


SNAPLENS = [14, 34, 38, 40, 54, 58, 62, 66, 74, 80]


@pytest.mark.parametrize("snap", SNAPLENS)
def test_lane_truncated_captures_match_tcpdump(tmp_path, snap):
    path = _snapped_pcap(tmp_path, snap)
    for args in (["-n"], ["-n", "-x"]):
        same, total, diff = compare(path, args)
        assert same == total and not diff, "%s: %d/%d\n%s" % (args, same, total, diff)


@pytest.mark.exhaustive
@pytest.mark.parametrize("args", [["-n"], ["-n", "-e", "-x"], []], ids=_ids)
def test_lane_every_snaplen_matches_tcpdump(tmp_path, args):
    failures = []
    for snap in range(1, 140):
        same, total, diff = compare(_snapped_pcap(tmp_path, snap), args)
        if same != total or diff:
            failures.append("snaplen %d: %d/%d\n%s" % (snap, same, total, diff[:2000]))
    assert not failures, "\n".join(failures[:5])


def test_lane_uses_tcp_table_as_contracted():
    """Each key is read with get before it is stored in the same packet, and stored values are
    never mutated afterwards (what bpfdump.printpool's recording table relies on)."""

    class Table(dict):
        def __init__(self):
            super().__init__()
            self.read: set = set()
            self.frozen: dict = {}

        def get(self, key, default=None):
            self.read.add(key)
            return super().get(key, default)

        def __setitem__(self, key, value):
            assert key in self.read, "stored before it was read: %r" % (key,)
            self.frozen[key] = (value, list(value))
            super().__setitem__(key, value)

    printer = Printer(PrintOptions(numeric=1))
    table = printer.state.tcp_seq = Table()
    for ts, wirelen, data in _records(lane_cases()):
        table.read.clear()
        printer.format(Packet(ts, wirelen, data, 1))
    assert table.frozen
    for value, copy in table.frozen.values():
        assert list(value) == copy
