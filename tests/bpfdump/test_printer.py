"""Differential tests: bpfdump.printer against the tcpdump binary (4.99) on scapy-built captures.

Every capture is written to a pcap file, printed by `tcpdump -r FILE <options>` (TZ=UTC) and by
our Printer over the same records; the outputs must be identical line for line.
"""
from __future__ import annotations

import difflib
import io
import os
import shutil
import struct
import subprocess
import time

import pytest

from bpfdump.packet import Packet
from bpfdump.printer import PrintOptions, Printer

scapy_all = pytest.importorskip("scapy.all")
TCPDUMP = shutil.which("tcpdump")
pytestmark = pytest.mark.skipif(TCPDUMP is None, reason="tcpdump binary not installed")

BASE_TS = 1_700_000_000


# --------------------------------------------------------------------------- captures

def ether_cases() -> list:
    """(name, scapy packet) pairs covering every protocol family the printer knows."""
    from scapy.all import (ARP, DNS, DNSQR, DNSRR, ICMP, IP, TCP, UDP, Dot1Q, Ether, IPOption_NOP,
                           IPOption_RR, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                           IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, ICMPv6DestUnreach,
                           ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6MLReport, ICMPv6ND_NA,
                           ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6ND_RS, ICMPv6NDOptDstLLAddr,
                           ICMPv6NDOptMTU, ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr,
                           ICMPv6PacketTooBig, ICMPv6TimeExceeded, RouterAlert)
    from scapy.contrib.mpls import MPLS
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.ntp import NTP

    e = Ether(src="00:11:22:33:44:55", dst="66:77:88:99:aa:bb")
    a, b = "10.0.0.1", "10.0.0.2"
    v6a, v6b = "2001:db8::1", "2001:db8::2"
    c = [
        ("tcp_syn", e / IP(src=a, dst=b) / TCP(sport=1234, dport=80, flags="S", seq=1000, options=[
            ("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)])),
        ("tcp_synack", e / IP(src=b, dst=a) / TCP(sport=80, dport=1234, flags="SA", seq=5000,
                                                  ack=1001)),
        ("tcp_http_get", e / IP(src=a, dst=b) / TCP(sport=1234, dport=80, flags="PA", seq=1001,
                                                    ack=5001) / b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("tcp_http_resp", e / IP(src=b, dst=a) / TCP(sport=80, dport=1234, flags="PA", seq=5001,
                                                     ack=1028)
         / b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ("tcp_http_body", e / IP(src=b, dst=a) / TCP(sport=80, dport=1234, flags="PA", seq=5039,
                                                     ack=1028) / b"\x00\x01binary"),
        ("tcp_sack", e / IP(src=a, dst=b) / TCP(sport=1234, dport=80, flags="A", seq=1028,
                                                ack=5001, options=[("NOP", None), ("NOP", None),
                                                                   ("SAck", (5100, 5200, 5300, 5400))])),
        ("tcp_fin", e / IP(src=a, dst=b) / TCP(sport=1234, dport=80, flags="FA", seq=1028,
                                               ack=5040)),
        ("tcp_rst", e / IP(src=b, dst=a) / TCP(sport=80, dport=1234, flags="R", seq=5040)),
        ("tcp_allflags", e / IP(src=a, dst=b) / TCP(sport=2000, dport=3000, flags="FSRPAUEC",
                                                    seq=1, ack=2, urgptr=5)),
        ("tcp_noflags", e / IP(src=a, dst=b) / TCP(sport=2002, dport=3002, flags=0, seq=9)),
        ("tcp_eol", e / IP(src=a, dst=b) / TCP(sport=2001, dport=3001, flags="S", options=[
            ("MSS", 536), ("EOL", None)])),
        ("tcp_opt_unknown", e / IP(src=a, dst=b) / TCP(sport=2003, dport=3003, flags="S",
                                                       options=[(99, b"\x01\x02"), ("NOP", None),
                                                                ("NOP", None)])),
        ("tcp_ssh", e / IP(src=a, dst=b) / TCP(sport=40000, dport=22, flags="PA", seq=7, ack=9)
         / b"SSH-2.0-OpenSSH_9.2\r\n"),
        ("tcp_ftp", e / IP(src=b, dst=a) / TCP(sport=21, dport=40001, flags="PA", seq=7, ack=9)
         / b"220 Welcome\r\n"),
        ("tcp_smtp", e / IP(src=b, dst=a) / TCP(sport=25, dport=40002, flags="PA", seq=7, ack=9)
         / b"220 mail ESMTP\r\n"),
        ("tcp_badsum", e / IP(src=a, dst=b) / TCP(sport=5555, dport=6666, flags="A", seq=1, ack=1,
                                                  chksum=0xbeef)),
        ("udp_plain", e / IP(src=a, dst=b) / UDP(sport=40000, dport=40001) / b"hello"),
        ("udp_badsum", e / IP(src=a, dst=b) / UDP(sport=40000, dport=40002, chksum=0x1234)
         / b"hello"),
        ("udp_nosum", e / IP(src=a, dst=b) / UDP(sport=40000, dport=40003, chksum=0) / b"hello"),
        ("dns_query", e / IP(src=a, dst="8.8.8.8") / UDP(sport=33000, dport=53)
         / DNS(id=0x1234, rd=1, qd=DNSQR(qname="example.com", qtype="AAAA"))),
        ("dns_answer", e / IP(src="8.8.8.8", dst=a) / UDP(sport=53, dport=33000)
         / DNS(id=0x1234, qr=1, rd=1, ra=1, qd=DNSQR(qname="example.com"),
               an=DNSRR(rrname="example.com", type="A", rdata="93.184.216.34", ttl=300))),
        ("dns_cname_chain", e / IP(src="8.8.8.8", dst=a) / UDP(sport=53, dport=33001)
         / DNS(id=77, qr=1, rd=1, ra=1, qd=DNSQR(qname="www.example.com"),
               an=[DNSRR(rrname="www.example.com", type="CNAME", rdata="example.com", ttl=60),
                   DNSRR(rrname="example.com", type="A", rdata="1.2.3.4", ttl=60),
                   DNSRR(rrname="example.com", type="AAAA", rdata="2001:db8::5", ttl=60)])),
        ("dns_nxdomain", e / IP(src="8.8.8.8", dst=a) / UDP(sport=53, dport=33002)
         / DNS(id=7, qr=1, rcode=3, qd=DNSQR(qname="nope.example", qtype="MX"))),
        ("dns_mx", e / IP(src="8.8.8.8", dst=a) / UDP(sport=53, dport=33003)
         / DNS(id=8, qr=1, aa=1, qd=DNSQR(qname="ex.com", qtype="MX"),
               an=DNSRR(rrname="ex.com", type="MX", rdata=b"\x00\x0a\x04mail\x02ex\x03com\x00"))),
        ("dns_txt_ptr", e / IP(src="8.8.8.8", dst=a) / UDP(sport=53, dport=33004)
         / DNS(id=9, qr=1, ra=1, qd=DNSQR(qname="4.3.2.1.in-addr.arpa", qtype="PTR"),
               an=[DNSRR(rrname="4.3.2.1.in-addr.arpa", type="PTR", rdata="host.example."),
                   DNSRR(rrname="ex.com", type="TXT", rdata=[b"v=spf1", b"-all"])])),
        ("mdns_query", e / IP(src=a, dst="224.0.0.251") / UDP(sport=5353, dport=5353)
         / DNS(id=0, qd=DNSQR(qname="_http._tcp.local", qtype="PTR", unicastresponse=1))),
        ("icmp_echo", e / IP(src=a, dst=b) / ICMP(id=5, seq=6) / b"abcdefgh"),
        ("icmp_reply", e / IP(src=b, dst=a) / ICMP(type=0, id=5, seq=6) / b"abcdefgh"),
        ("icmp_port_unreach", e / IP(src=b, dst=a) / ICMP(type=3, code=3)
         / IP(src=a, dst=b) / UDP(sport=1111, dport=2222)),
        ("icmp_host_unreach", e / IP(src=b, dst=a) / ICMP(type=3, code=1)
         / IP(src=a, dst="10.9.9.9") / TCP(sport=1111, dport=2222)),
        ("icmp_needfrag", e / IP(src=b, dst=a) / ICMP(type=3, code=4, nexthopmtu=1400)
         / IP(src=a, dst=b) / TCP(sport=1111, dport=2222)),
        ("icmp_ttl", e / IP(src=b, dst=a) / ICMP(type=11, code=0) / IP(src=a, dst=b)
         / UDP(sport=1111, dport=33434)),
        ("icmp_redirect", e / IP(src=b, dst=a) / ICMP(type=5, code=1, gw="10.0.0.254")
         / IP(src=a, dst="10.8.0.1") / UDP(sport=1, dport=2)),
        ("icmp_badsum", e / IP(src=a, dst=b) / ICMP(id=1, seq=1, chksum=0x1111)),
        ("icmp_tstamp", e / IP(src=a, dst=b) / ICMP(type=13, id=3, seq=4)),
        ("arp_request", e / ARP(psrc=a, pdst=b)),
        ("arp_reply", e / ARP(op=2, psrc=b, hwsrc="00:11:22:33:44:66", pdst=a,
                              hwdst="00:11:22:33:44:55")),
        ("rarp_request", Ether(src="00:11:22:33:44:55", dst="ff:ff:ff:ff:ff:ff", type=0x8035)
         / ARP(op=3, hwsrc="00:11:22:33:44:55", hwdst="00:11:22:33:44:55")),
        ("vlan", e / Dot1Q(vlan=10, prio=3) / IP(src=a, dst=b) / UDP(sport=1, dport=2)),
        ("qinq", Ether(src="00:11:22:33:44:55", dst="66:77:88:99:aa:bb", type=0x88a8)
         / Dot1Q(vlan=100) / Dot1Q(vlan=200) / IP(src=a, dst=b) / ICMP()),
        ("vlan_arp", e / Dot1Q(vlan=7) / ARP(psrc=a, pdst=b)),
        ("mpls", e / MPLS(label=100, s=1, ttl=64) / IP(src=a, dst=b) / ICMP()),
        ("mpls_stack", e / MPLS(label=100, s=0, ttl=64) / MPLS(label=200, s=1, ttl=63, cos=5)
         / IP(src=a, dst=b) / UDP(sport=5, dport=6)),
        ("ethertype_unknown", Ether(src="00:11:22:33:44:55", dst="66:77:88:99:aa:bb",
                                    type=0x88b5) / b"xyzxyzxyzxyzxyzxyzxyz"),
        ("ip_proto_unknown", e / IP(src=a, dst=b, proto=99) / b"abcd"),
        ("ip_frag_first", e / IP(src=a, dst=b, id=77, flags="MF", frag=0)
         / UDP(sport=1000, dport=2000, len=1000) / (b"x" * 32)),
        ("ip_frag_later", e / IP(src=a, dst=b, id=77, frag=5, proto=17) / (b"y" * 40)),
        ("ip_df_tos_ttl", e / IP(src=a, dst=b, flags="DF", tos=0x10, ttl=3)
         / UDP(sport=1000, dport=2000)),
        ("ip_ecn", e / IP(src=a, dst=b, tos=0x3) / UDP(sport=1000, dport=2000)),
        ("ip_options", e / IP(src=a, dst=b, options=[IPOption_RR(routers=["1.2.3.4"]),
                                                     IPOption_NOP()]) / ICMP()),
        ("ip_badsum", e / IP(src=a, dst=b, chksum=0x1234) / ICMP()),
        ("ipip", e / IP(src=a, dst=b) / IP(src="192.168.0.1", dst="192.168.0.2") / ICMP()),
        ("ip6_udp", e / IPv6(src=v6a, dst=v6b) / UDP(sport=1000, dport=2000) / b"zz"),
        ("ip6_tcp", e / IPv6(src=v6a, dst=v6b, tc=0x20, fl=0x12345)
         / TCP(sport=1000, dport=443, flags="S")),
        ("ip6_tcp_ack", e / IPv6(src=v6b, dst=v6a) / TCP(sport=443, dport=1000, flags="SA",
                                                         seq=10, ack=1)),
        ("ip6_hbh_mld", e / IPv6(src="fe80::1", dst="ff02::16")
         / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / ICMPv6MLReport()),
        ("ip6_frag", e / IPv6(src=v6a, dst=v6b) / IPv6ExtHdrFragment(id=99, m=1)
         / UDP(sport=1, dport=2) / (b"q" * 16)),
        ("ip6_routing", e / IPv6(src=v6a, dst=v6b) / IPv6ExtHdrRouting(addresses=["2001:db8::3"])
         / ICMPv6EchoRequest()),
        ("ip6_dstopt", e / IPv6(src=v6a, dst=v6b) / IPv6ExtHdrDestOpt() / TCP(sport=1, dport=2)),
        ("ip6_in_ip", e / IP(src=a, dst=b) / IPv6(src=v6a, dst=v6b) / UDP(sport=7, dport=8)),
        ("icmp6_echo", e / IPv6(src="fe80::1", dst="ff02::1")
         / ICMPv6EchoRequest(id=1, seq=2, data=b"ping")),
        ("icmp6_reply", e / IPv6(src="ff02::1", dst="fe80::1") / ICMPv6EchoReply(id=1, seq=2)),
        ("icmp6_ns", e / IPv6(src="fe80::1", dst="ff02::1:ff00:2") / ICMPv6ND_NS(tgt="fe80::2")
         / ICMPv6NDOptSrcLLAddr(lladdr="00:11:22:33:44:55")),
        ("icmp6_na", e / IPv6(src="fe80::2", dst="fe80::1")
         / ICMPv6ND_NA(tgt="fe80::2", R=0, S=1, O=1)
         / ICMPv6NDOptDstLLAddr(lladdr="00:11:22:33:44:66")),
        ("icmp6_rs", e / IPv6(src="fe80::1", dst="ff02::2") / ICMPv6ND_RS()),
        ("icmp6_ra", e / IPv6(src="fe80::1", dst="ff02::1")
         / ICMPv6ND_RA(chlim=64, routerlifetime=1800, M=1)
         / ICMPv6NDOptSrcLLAddr(lladdr="00:11:22:33:44:55") / ICMPv6NDOptMTU(mtu=1500)
         / ICMPv6NDOptPrefixInfo(prefix="2001:db8::", prefixlen=64)),
        ("icmp6_unreach_port", e / IPv6(src=v6b, dst=v6a) / ICMPv6DestUnreach(code=4)
         / IPv6(src=v6a, dst=v6b) / UDP(sport=3, dport=4)),
        ("icmp6_unreach_addr", e / IPv6(src=v6b, dst=v6a) / ICMPv6DestUnreach(code=3)
         / IPv6(src=v6a, dst="2001:db8::9") / UDP(sport=3, dport=4)),
        ("icmp6_toobig", e / IPv6(src=v6b, dst=v6a) / ICMPv6PacketTooBig(mtu=1280)
         / IPv6(src=v6a, dst=v6b) / UDP(sport=3, dport=4)),
        ("icmp6_timeexceeded", e / IPv6(src=v6b, dst=v6a) / ICMPv6TimeExceeded(code=0)
         / IPv6(src=v6a, dst=v6b) / UDP(sport=3, dport=4)),
        ("dhcp_discover", Ether(src="00:11:22:33:44:55", dst="ff:ff:ff:ff:ff:ff")
         / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67)
         / BOOTP(chaddr=bytes.fromhex("001122334455"), xid=0x1234, flags=0x8000)
         / DHCP(options=[("message-type", "discover"), ("hostname", "box"),
                         ("client_id", b"\x01\x00\x11\x22\x33\x44\x55"),
                         ("param_req_list", [1, 3, 6, 15, 28]), "end"])),
        ("dhcp_offer", e / IP(src=b, dst=a) / UDP(sport=67, dport=68)
         / BOOTP(op=2, yiaddr=a, siaddr=b, chaddr=bytes.fromhex("001122334455"), xid=0x1234)
         / DHCP(options=[("message-type", "offer"), ("server_id", b), ("lease_time", 3600),
                         ("subnet_mask", "255.255.255.0"), ("router", b),
                         ("name_server", "8.8.8.8"), ("domain", "example.org"), "end"])),
        ("ntp_client", e / IP(src=a, dst=b) / UDP(sport=123, dport=123)
         / NTP(version=4, mode=3, orig=None, sent=3900000000.5)),
        ("ntp_server", e / IP(src=b, dst=a) / UDP(sport=123, dport=123)
         / NTP(version=4, mode=4, stratum=2, ref=3900000000.5, orig=3900000000.25,
               recv=3900000000.3, sent=3900000000.4, id="1.2.3.4")),
        ("ntp_primary", e / IP(src=b, dst=a) / UDP(sport=123, dport=123)
         / NTP(version=3, mode=4, stratum=1, leap=1, poll=6, precision=-20, id="71.80.83.0",
               ref=3900000000, orig=3900000001, recv=3900000000, sent=3900000002)),
        ("short_padded", e / IP(src=a, dst=b) / UDP(sport=7, dport=9) / (b"\x00" * 18)),
    ]
    return c + edge_cases()


def edge_cases() -> list:
    """Less common shapes: DNS over TCP and more record types, malformed lengths, IPv6 TCP
    conversations, more ICMP/ICMPv6/ARP/DHCP variants."""
    from scapy.all import (ARP, DNS, DNSQR, DNSRR, DNSRROPT, DNSRRSOA, DNSRRSRV, ICMP, IP, TCP,
                           UDP, Dot1Q, Ether, ICMPv6DestUnreach, ICMPv6MLDMultAddrRec,
                           ICMPv6MLQuery2, ICMPv6MLReport2, ICMPv6ND_RA, ICMPv6ND_Redirect,
                           ICMPv6NDOptAdvInterval, ICMPv6NDOptDNSSL, ICMPv6NDOptRDNSS,
                           ICMPv6NDOptRouteInfo, ICMPv6ParamProblem, ICMPv6Unknown,
                           IPOption_LSRR, IPOption_Router_Alert, IPOption_Timestamp, IPv6,
                           IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, RouterAlert)
    from scapy.layers.dhcp import BOOTP, DHCP

    e = Ether(src="00:11:22:33:44:55", dst="66:77:88:99:aa:bb")
    a, b = "10.0.0.1", "10.0.0.2"
    v6a, v6b = "2001:db8::1", "2001:db8::2"
    dnsq = DNS(id=5, rd=1, qd=DNSQR(qname="example.org", qtype="SOA"))
    dnst = bytes(dnsq)
    c = [
     e/IP(src=a,dst=b)/TCP(sport=40000,dport=53,flags="PA",seq=1,ack=1)/(struct.pack(">H",len(dnst))+dnst),
     e/IP(src="8.8.8.8",dst=a)/UDP(sport=53,dport=3333)/DNS(id=5,qr=1,aa=1,ra=1,qd=DNSQR(qname="example.org",qtype="SOA"),
        an=DNSRRSOA(rrname="example.org",mname="ns1.example.org",rname="admin.example.org",serial=2024,refresh=7200,retry=900,expire=1209600,minimum=300),
        ns=DNSRR(rrname="example.org",type="NS",rdata="ns1.example.org"), ar=DNSRR(rrname="ns1.example.org",type="A",rdata="1.1.1.1")),
     e/IP(src="8.8.8.8",dst=a)/UDP(sport=53,dport=3334)/DNS(id=6,qr=1,ra=1,qd=DNSQR(qname="_sip._tcp.example.org",qtype="SRV"),
        an=DNSRRSRV(rrname="_sip._tcp.example.org",priority=10,weight=5,port=5060,target="sip.example.org")),
     e/IP(src=a,dst="8.8.8.8")/UDP(sport=3335,dport=53)/DNS(id=7,rd=1,ad=1,qd=DNSQR(qname="example.net",qtype="A"),ar=DNSRROPT(rclass=4096,z=0x8000)),
     e/IP(src="8.8.8.8",dst=a)/UDP(sport=53,dport=3335)/DNS(id=7,qr=1,rd=1,ra=1,rcode=2,qd=DNSQR(qname="example.net",qtype="A"),ar=DNSRROPT(rclass=1232)),
     e/IP(src=a,dst="8.8.8.8")/UDP(sport=3336,dport=53)/DNS(id=8,rd=1,qd=DNSQR(qname="x.example",qtype=255,qclass=3)),
     e/IP(src=a,dst=b)/TCP(sport=40001,dport=8080,flags="PA",seq=100,ack=200)/b"POST /api HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi",
     e/IP(src=a,dst=b)/TCP(sport=40002,dport=80,flags="PA",seq=100,ack=200)/b"GET /partial HTTP/1.1",
     e/IPv6(src=v6a,dst=v6b)/TCP(sport=5000,dport=6000,flags="S",seq=111),
     e/IPv6(src=v6b,dst=v6a)/TCP(sport=6000,dport=5000,flags="SA",seq=999,ack=112),
     e/IPv6(src=v6a,dst=v6b)/TCP(sport=5000,dport=6000,flags="A",seq=112,ack=1000,options=[("SAck",(1100,1200))]),
     e/IPv6(src=v6a,dst=v6b)/TCP(sport=5000,dport=6000,flags="PA",seq=112,ack=1000)/b"data",
     e/IP(src=a,dst=b,options=[IPOption_Timestamp(flg=0, timestamp=[12345])])/ICMP(),
     e/IP(src=a,dst=b,options=[IPOption_Router_Alert()])/ICMP(),
     e/IP(src=a,dst=b,options=[IPOption_LSRR(routers=["1.1.1.1","2.2.2.2"])])/UDP(sport=1,dport=2),
     e/IP(src=a,dst=b,ihl=4)/ICMP(),
     e/IP(src=a,dst=b,len=10)/ICMP(),
     e/IP(src=a,dst=b,len=200)/ICMP(),
     e/IP(src=a,dst=b)/UDP(sport=1,dport=2,len=4),
     e/IP(src=a,dst=b)/UDP(sport=1,dport=2,len=100)/b"x",
     e/IP(src=a,dst=b)/TCP(sport=1,dport=2,dataofs=3),
     e/IP(src=a,dst=b)/TCP(sport=1,dport=2,dataofs=15),
     e/IP(src=b,dst=a)/ICMP(type=12,code=0,ptr=20)/IP(src=a,dst=b)/UDP(),
     e/IP(src=b,dst=a)/ICMP(type=4)/IP(src=a,dst=b)/UDP(),
     e/IP(src=a,dst=b)/ICMP(type=17),
     e/IP(src=a,dst=b)/ICMP(type=18, addr_mask="255.255.255.0"),
     e/IP(src=a,dst=b)/ICMP(type=14, ts_ori=1000, ts_rx=2000, ts_tx=3000),
     e/IP(src=a,dst=b)/ICMP(type=42, code=1),
     e/IPv6(src="fe80::1",dst="ff02::16")/IPv6ExtHdrHopByHop(options=[RouterAlert()])/ICMPv6MLReport2(records=[ICMPv6MLDMultAddrRec(dst="ff02::fb", sources=["2001:db8::9"])]),
     e/IPv6(src="fe80::1",dst="ff02::1")/IPv6ExtHdrHopByHop(options=[RouterAlert()])/ICMPv6MLQuery2(),
     e/IPv6(src="fe80::1",dst="fe80::2")/ICMPv6ND_Redirect(tgt="fe80::3",dst="2001:db8::99"),
     e/IPv6(src=v6b,dst=v6a)/ICMPv6ParamProblem(code=1,ptr=40)/IPv6(src=v6a,dst=v6b)/UDP(),
     e/IPv6(src=v6b,dst=v6a)/ICMPv6DestUnreach(code=1)/IPv6(src=v6a,dst=v6b)/UDP(),
     e/IPv6(src=v6b,dst=v6a)/ICMPv6DestUnreach(code=2)/IPv6(src=v6a,dst=v6b)/UDP(),
     e/IPv6(src=v6b,dst=v6a)/ICMPv6DestUnreach(code=0)/IPv6(src=v6a,dst=v6b)/TCP(sport=1,dport=80),
     e/IPv6(src=v6a,dst=v6b)/ICMPv6Unknown(type=200)/b"abcd",
     e/IPv6(src=v6a,dst=v6b, nh=59)/b"",
     e/IPv6(src=v6a,dst=v6b)/IPv6ExtHdrFragment(offset=100,id=5)/b"zzzzzzzz",
     e/IPv6(src=v6a,dst=v6b, plen=100)/UDP(sport=1,dport=2),
     e/IPv6(src="fe80::1",dst="ff02::1")/ICMPv6ND_RA(prf=3, O=1, H=1)/ICMPv6NDOptRDNSS(dns=["2001:db8::53"])/ICMPv6NDOptDNSSL(searchlist=["example.com."])/ICMPv6NDOptRouteInfo(prefix="2001:db8:1::", plen=48)/ICMPv6NDOptAdvInterval(advint=1000),
     e/ARP(hwtype=6, psrc=a, pdst=b),
     e/ARP(op=4, psrc=b, hwsrc="00:11:22:33:44:66", pdst=a, hwdst="00:11:22:33:44:55"),
     e/ARP(op=8, psrc=b, pdst=a),
     e/ARP(ptype=0x86dd, plen=16, psrc="::1", pdst="::2"),
     e/ARP(psrc=a, pdst=b, hwdst="00:11:22:33:44:77"),
     e/IP(src=a,dst=b)/UDP(sport=68,dport=67)/BOOTP(ciaddr=a, giaddr="10.0.0.254", hops=2, secs=5, sname=b"server", file=b"boot.img", chaddr=bytes.fromhex("001122334455"))/DHCP(options=[("message-type","request"),("requested_addr",a),("renewal_time",1800),("rebinding_time",3150),("vendor_class_id",b"MSFT 5.0"),("classless_static_routes",["10.0.0.0/8:10.0.0.254"]),("NTP_server","1.2.3.4"),(200, b"\x01\x02\x03"),"pad","end"]),
     e/IP(src=a,dst=b)/UDP(sport=68,dport=67)/BOOTP(htype=6, hlen=6, chaddr=bytes.fromhex("001122334455"))/b"\x00\x00\x00\x00",
     e/IP(src=a,dst="224.0.0.251")/UDP(sport=5353,dport=5353)/DNS(qr=1,aa=1,an=DNSRR(rrname="host.local",type="A",rdata="10.0.0.1",rclass=0x8001)),
     e/IP(src=a,dst=b)/TCP(sport=2222,dport=3333,flags="R",seq=5)/b"reset reason text",
     e/Dot1Q(vlan=4095, prio=7, dei=1)/IP(src=a,dst=b)/ICMP(),
     Ether(src="00:00:0c:11:22:33", dst="00:00:5e:00:01:01")/IP(src=a,dst=b)/ICMP(),
    ]
    return [("edge_%d" % i, p) for i, p in enumerate(c)]


def _pcap_bytes(records, linktype: int, nano: bool = False, snaplen: int = 65535) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for ts, wirelen, data in records:
        sec, frac = divmod(ts, 1_000_000_000)
        if not nano:
            frac //= 1000
        out.append(struct.pack("<IIII", sec, frac, len(data), wirelen) + data)
    return b"".join(out)


def _read_pcap(path) -> list[Packet]:
    raw = open(path, "rb").read()
    magic, = struct.unpack("<I", raw[:4])
    nano = magic == 0xA1B23C4D
    linktype, = struct.unpack("<I", raw[20:24])
    off, pkts = 24, []
    while off + 16 <= len(raw):
        sec, frac, caplen, wirelen = struct.unpack("<IIII", raw[off:off + 16])
        data = raw[off + 16:off + 16 + caplen]
        off += 16 + caplen
        pkts.append(Packet(sec * 1_000_000_000 + (frac if nano else frac * 1000), wirelen,
                           data, linktype))
    return pkts


def _records(cases, step_ns: int = 250_000_000, jitter: bool = True) -> list:
    recs = []
    for i, (_, pkt) in enumerate(cases):
        data = bytes(pkt)
        ts = BASE_TS * 1_000_000_000 + i * step_ns + (i * 1_234_567 if jitter else 0)
        recs.append((ts, len(data), data))
    return recs


# --------------------------------------------------------------------------- oracle


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    """tcpdump runs with TZ=UTC; local-time formats (-tttt, default) must use it here too."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _tcpdump(path, args: list[str]) -> list[str]:
    proc = subprocess.run([TCPDUMP, "-r", str(path)] + args, capture_output=True,
                          env=dict(os.environ, TZ="UTC"), timeout=60)
    text = proc.stdout.decode("latin-1")
    return text[:-1].split("\n") if text else []


def _ours(path, opts: PrintOptions) -> list[str]:
    printer = Printer(opts)
    lines: list[str] = []
    for pkt in _read_pcap(path):
        lines.extend(printer.format(pkt).split("\n"))
    return lines


def _opts(args: list[str]) -> PrintOptions:
    o = PrintOptions()
    for a in args:
        if a == "--nano":
            o.nano = True
        elif a == "--micro":
            o.nano = False
        elif a == "-#":
            o.number = True
        elif a.startswith("-t"):
            o.ts_format = 1 if a == "-t" else len(a) - 1
        else:
            for ch in a[1:]:
                if ch == "n":
                    o.numeric += 1
                elif ch == "q":
                    o.quiet += 1
                elif ch == "v":
                    o.verbose += 1
                elif ch == "e":
                    o.ether = True
                elif ch == "x":
                    o.hex += 1
                elif ch == "X":
                    o.hexascii += 1
                elif ch == "A":
                    o.ascii += 1
                elif ch == "S":
                    o.absolute_seq = True
    return o


def compare(path, args: list[str]) -> tuple[int, int, str]:
    """(identical lines, tcpdump's line count, unified diff) for one capture and option set."""
    theirs = _tcpdump(path, args)
    ours = _ours(path, _opts(args))
    same = sum(1 for x, y in zip(theirs, ours) if x == y)
    diff = "\n".join(difflib.unified_diff(theirs, ours, "tcpdump", "bpfdump", lineterm="", n=1))
    return same, len(theirs), diff


OPTION_SETS = [
    [], ["-n"], ["-nn"], ["-q"], ["-n", "-q"], ["-n", "-v"], ["-n", "-vv"], ["-n", "-vvv"],
    ["-e"], ["-n", "-e"], ["-n", "-x"], ["-n", "-xx"], ["-n", "-X"], ["-n", "-XX"], ["-n", "-A"],
    ["-n", "-AA"], ["-n", "-t"], ["-n", "-tt"], ["-n", "-ttt"], ["-n", "-tttt"],
    ["-n", "-ttttt"], ["-n", "--nano"], ["-n", "-tt", "--nano"], ["-n", "-ttt", "--nano"],
    ["-n", "-#"], ["-n", "-S"], ["-n", "-S", "-v"], ["-n", "-e", "-vv", "-XX"],
    ["-q", "-e", "-x"], ["-nn", "-v", "-#", "-ttttt"],
]


def _ids(sets):
    return [" ".join(s) or "default" for s in sets]


@pytest.fixture(scope="module")
def ether_pcap(tmp_path_factory):
    path = tmp_path_factory.mktemp("printer") / "ether.pcap"
    path.write_bytes(_pcap_bytes(_records(ether_cases()), 1))
    return path


@pytest.fixture(scope="module")
def ether_pcap_nano(tmp_path_factory):
    path = tmp_path_factory.mktemp("printer") / "ether_nano.pcap"
    path.write_bytes(_pcap_bytes(_records(ether_cases()), 1, nano=True))
    return path


@pytest.mark.parametrize("args", OPTION_SETS, ids=_ids(OPTION_SETS))
def test_ethernet_capture_matches_tcpdump(ether_pcap, args):
    same, total, diff = compare(ether_pcap, args)
    assert same == total and not diff, "%d/%d lines identical\n%s" % (same, total, diff)


NANO_SETS = [["-n"], ["-n", "--nano"], ["-n", "-ttt", "--nano"], ["-n", "-ttttt", "--nano"],
             ["-n", "-tttt", "--nano"], ["-n", "-tt"]]


@pytest.mark.parametrize("args", NANO_SETS, ids=_ids(NANO_SETS))
def test_nanosecond_capture_matches_tcpdump(ether_pcap_nano, args):
    same, total, diff = compare(ether_pcap_nano, args)
    assert same == total and not diff, "%d/%d lines identical\n%s" % (same, total, diff)


# --------------------------------------------------------------------------- other link types


def _link_captures() -> dict[str, tuple[int, list[bytes]]]:
    """linktype name -> (DLT, frames): the Ethernet cases re-framed for each link layer."""
    cases = [(n, p) for n, p in ether_cases() if p.type in (0x0800, 0x86DD, 0x0806, 0x8100,
                                                             0x88B5, 0x8847)]
    mac = bytes.fromhex("0011223344550000")
    sll, sll2 = [], []
    for i, (_, p) in enumerate(cases):
        payload = bytes(p.payload)
        sll.append(struct.pack(">HHH8sH", i % 5, 1, 6, mac, p.type) + payload)
        sll2.append(struct.pack(">HHIHBB8s", p.type, 0, 1 + i % 4, 1, i % 5, 6, mac) + payload)
    first_ip = bytes(cases[0][1].payload)
    sll.append(struct.pack(">HHH8sH", 0, 772, 0, bytes(8), 0x0800) + first_ip)
    sll.append(struct.pack(">HHH8sH", 4, 1, 6, mac, 0x0004) + b"\xaa\xaa\x03\x00\x00\x00\x08\x00"
               + first_ip)
    ip_only = [bytes(p.payload) for _, p in cases if p.type in (0x0800, 0x86DD)]
    v4 = [bytes(p.payload) for _, p in cases if p.type == 0x0800]
    v6 = [bytes(p.payload) for _, p in cases if p.type == 0x86DD]
    null = [struct.pack("<I", 2 if d[0] >> 4 == 4 else 30) + d for d in ip_only]
    null += [struct.pack("<I", 99) + b"abcdefgh", struct.pack(">I", 2) + ip_only[0],
             struct.pack("<I", 24) + v6[0], struct.pack("<I", 28) + v6[0]]
    loop = [struct.pack(">I", 2 if d[0] >> 4 == 4 else 24) + d for d in ip_only]
    loop += [struct.pack(">I", 99) + b"abcdefgh"]
    raw = ip_only + [b"\x50" + bytes(30)]
    return {"LINUX_SLL": (113, sll), "LINUX_SLL2": (276, sll2), "NULL": (0, null),
            "LOOP": (108, loop), "RAW": (101, raw), "RAW12": (12, raw), "IPV4": (228, v4),
            "IPV6": (229, v6)}


def _llc_frames() -> list[bytes]:
    from scapy.all import ICMP, IP, LLC, SNAP, Dot1Q, Dot3, Ether
    addrs = dict(src="00:11:22:33:44:55", dst="66:77:88:99:aa:bb")
    ip = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / ICMP())
    frames = [
        Dot3(**addrs) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x0800) / ip,
        Dot3(**addrs) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x88B5) / b"abcdefgh",
        Dot3(**addrs) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0x123456, code=0x1234)
        / b"abcdefgh",
        Dot3(**addrs) / LLC(dsap=0x06, ssap=0x06, ctrl=3) / ip,
        Dot3(**addrs) / LLC(dsap=0x80, ssap=0x80, ctrl=3) / b"hello world",
        Dot3(**addrs) / LLC(dsap=0x80, ssap=0x81, ctrl=0xE3) / b"hello world",
        Dot3(**addrs) / LLC(dsap=0x04, ssap=0x04, ctrl=0xAF) / b"\x81\x01\x00",
        Dot3(**addrs) / LLC(dsap=0x0E, ssap=0x04, ctrl=0x12) / b"\x34hello",
        Dot3(**addrs) / LLC(dsap=0xF4, ssap=0xF4, ctrl=0x05) / b"\x06",
        Ether(**addrs) / Dot1Q(vlan=5, type=20) / LLC(dsap=0x80, ssap=0x80, ctrl=3)
        / b"hello world",
    ]
    out = []
    for f in frames:
        data = bytes(f)
        out.append(data + bytes(max(0, 60 - len(data))))
    return out


LINK_SETS = [["-n"], ["-n", "-e"], ["-e"], ["-n", "-e", "-q"], ["-n", "-q"], ["-n", "-xx"],
             ["-n", "-X"], ["-n", "-vv"], ["-n", "-e", "-v", "-A"]]


@pytest.fixture(scope="module")
def link_pcaps(tmp_path_factory):
    base = tmp_path_factory.mktemp("links")
    paths = {}
    captures = dict(_link_captures())
    captures["EN10MB_LLC"] = (1, _llc_frames())
    for name, (dlt, frames) in captures.items():
        recs = [(BASE_TS * 1_000_000_000 + i * 100_000_000, len(d), d)
                for i, d in enumerate(frames)]
        path = base / ("%s.pcap" % name)
        path.write_bytes(_pcap_bytes(recs, dlt))
        paths[name] = path
    return paths


LINK_NAMES = ["LINUX_SLL", "LINUX_SLL2", "NULL", "LOOP", "RAW", "RAW12", "IPV4", "IPV6",
              "EN10MB_LLC"]


@pytest.mark.parametrize("args", LINK_SETS, ids=_ids(LINK_SETS))
@pytest.mark.parametrize("link", LINK_NAMES)
def test_link_types_match_tcpdump(link_pcaps, link, args):
    same, total, diff = compare(link_pcaps[link], args)
    assert same == total and not diff, "%d/%d lines identical\n%s" % (same, total, diff)


# --------------------------------------------------------------------------- truncated captures


def _truncated_pcap(base, snap: int):
    recs = []
    for i, (_, pkt) in enumerate(ether_cases()):
        data = bytes(pkt)
        recs.append((BASE_TS * 1_000_000_000 + i * 100_000_000, len(data), data[:snap]))
    path = base / ("snap%d.pcap" % snap)
    path.write_bytes(_pcap_bytes(recs, 1, snaplen=snap))
    return path


SNAPLENS = [14, 16, 20, 34, 38, 42, 54, 58, 62, 70, 80, 100]
SNAP_SETS = [["-n"], ["-n", "-vv"], ["-n", "-X"], ["-n", "-e", "-vv", "-XX"]]


@pytest.fixture(scope="module")
def snap_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("snap")


@pytest.mark.parametrize("args", SNAP_SETS, ids=_ids(SNAP_SETS))
@pytest.mark.parametrize("snap", SNAPLENS)
def test_truncated_captures_match_tcpdump(snap_dir, snap, args):
    path = snap_dir / ("snap%d.pcap" % snap)
    if not path.exists():
        _truncated_pcap(snap_dir, snap)
    same, total, diff = compare(path, args)
    assert same == total and not diff, "%d/%d lines identical\n%s" % (same, total, diff)


EXHAUSTIVE_SETS = [["-n"], ["-n", "-vv"], ["-n", "-X"], ["-n", "-e", "-v", "-A"], ["-n", "-q", "-e"]]


@pytest.mark.exhaustive
@pytest.mark.parametrize("args", EXHAUSTIVE_SETS, ids=_ids(EXHAUSTIVE_SETS))
def test_every_snaplen_matches_tcpdump(snap_dir, args):
    failures = []
    for snap in range(1, 200):
        path = snap_dir / ("snap%d.pcap" % snap)
        if not path.exists():
            _truncated_pcap(snap_dir, snap)
        same, total, diff = compare(path, args)
        if same != total or diff:
            failures.append("snaplen %d: %d/%d\n%s" % (snap, same, total, diff[:2000]))
    assert not failures, "\n".join(failures[:5])


# --------------------------------------------------------------------------- timestamps

TS_VALUES = [1_700_000_000_500_000_000, 1_700_000_000_100_000_000, 1_700_000_003_999_999_999,
             1_700_000_003_000_000_000, 1_600_000_000_000_000_000, 1_800_000_000_123_456_789,
             1_800_000_000_123_456_789, 0, 86_399_999_999_999]
TS_SETS = [[], ["-t"], ["-tt"], ["-ttt"], ["-tttt"], ["-ttttt"], ["--nano"], ["-tt", "--nano"],
           ["-ttt", "--nano"], ["-tttt", "--nano"], ["-ttttt", "--nano"], ["-#", "-ttt"]]


@pytest.fixture(scope="module")
def ts_pcaps(tmp_path_factory):
    base = tmp_path_factory.mktemp("ts")
    frame = bytes.fromhex("66778899aabb00112233445588b5") + b"abcd"
    recs = [(ts, len(frame), frame) for ts in TS_VALUES]
    out = {}
    for nano in (False, True):
        path = base / ("ts_%s.pcap" % ("nano" if nano else "micro"))
        path.write_bytes(_pcap_bytes(recs, 1, nano=nano))
        out[nano] = path
    return out


@pytest.mark.parametrize("args", TS_SETS, ids=_ids(TS_SETS))
@pytest.mark.parametrize("nano_file", [False, True], ids=["micro-file", "nano-file"])
def test_timestamps_match_tcpdump(ts_pcaps, nano_file, args):
    same, total, diff = compare(ts_pcaps[nano_file], ["-q"] + args)
    assert same == total and not diff, "%d/%d lines identical\n%s" % (same, total, diff)


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_local_time_formats_follow_tz(ts_pcaps, zone, monkeypatch):
    if not os.path.exists(os.path.join("/usr/share/zoneinfo", zone)):
        pytest.skip("zoneinfo for %s not installed" % zone)
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    for args in ([], ["-tttt"], ["-tttt", "--nano"]):
        proc = subprocess.run([TCPDUMP, "-r", str(ts_pcaps[True]), "-q"] + args,
                              capture_output=True, env=dict(os.environ, TZ=zone), timeout=60)
        theirs = proc.stdout.decode("latin-1")[:-1].split("\n")
        ours = _ours(ts_pcaps[True], _opts(["-q"] + args))
        assert ours == theirs, "\n".join(difflib.unified_diff(theirs, ours, lineterm=""))


# --------------------------------------------------------------------------- the print sink

class _Recorder(io.StringIO):
    """A text sink that counts the flushes it is asked for."""

    def __init__(self):
        super().__init__()
        self.flushes = 0

    def flush(self):
        self.flushes += 1
        super().flush()


@pytest.fixture(scope="module")
def long_pcap(tmp_path_factory):
    """Every case three times over (more lines than PrintSink writes at once)."""
    path = tmp_path_factory.mktemp("printer") / "long.pcap"
    cases = ether_cases() * 3
    path.write_bytes(_pcap_bytes(_records(cases, step_ns=100_000_000), 1))
    return path


@pytest.mark.parametrize("mode", ["write", "write_many", "line_buffered"])
def test_print_sink_output_matches_tcpdump(long_pcap, mode):
    """PrintSink's batched writes, write_many and -l's line-by-line writes give tcpdump's text."""
    from bpfdump.sinks import PrintSink
    args = ["-n", "-v"]
    theirs = _tcpdump(long_pcap, args)
    packets = _read_pcap(long_pcap)
    out = _Recorder()
    sink = PrintSink(_opts(args), out, line_buffered=mode == "line_buffered")
    if mode == "write_many":
        sink.write_many(packets[:5])
        sink.write_many(packets[5:])
    else:
        for pkt in packets:
            sink.write(pkt)
    assert sink.count == len(packets)
    sink.close()
    assert out.getvalue() == "\n".join(theirs) + "\n"
    if mode == "line_buffered":
        assert out.flushes >= len(packets)
