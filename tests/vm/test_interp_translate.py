"""vm.interp on translated libpcap programs: libpcap's compiled filter, translated to eBPF by
vm.translate and run by vm.interp, must give what libpcap's own bpf_filter gives."""
from __future__ import annotations

from pathlib import Path

import pytest

from vm import cbpf, interp

pcapy = pytest.importorskip("pcapy")
dpkt = pytest.importorskip("dpkt")
translate = pytest.importorskip("vm.translate")

SAVEFILES = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "libpcap" / "savefiles"
CAPTURES = ["vrrp.pcap", "carp.pcap", "pppoe.pcap", "geneve.pcap", "vxlan.pcap",
            "dhcp-rfc3004.pcap", "ipv6_ext_headers.pcap", "ah-ipip-ping.pcap", "llc.pcap",
            "pim-packet-assortment.pcap", "isakmp4500.pcap", "gateway_or_not.pcap", "decnet.pcap"]

EXPRESSIONS = [
    "ip", "ip6", "arp", "tcp", "udp", "icmp", "tcp port 80", "udp port 53 or udp port 67",
    "host 192.168.1.1", "net 10.0.0.0/8", "ip[8] > 64", "ip[2:2] > 100", "len > 100",
    "len <= 64", "ether broadcast", "ether multicast", "vlan", "pppoes", "ip proto 112",
    "ip6 proto 58", "tcp[tcpflags] & tcp-syn != 0", "udp[8:2] = 0x0800", "ip[0] & 0xf != 5",
    "greater 200", "less 80", "ip multicast", "ip6 multicast", "ip and not udp",
    "ip[6:2] & 0x1fff = 0", "udp dst portrange 1-1024", "ether proto 0x88b5",
    "ip protochain 50", "ip6 protochain 6", "icmp6", "igmp", "pim", "vrrp", "llc", "stp",
    "tcp[13] = 2 or (udp and udp[4:2] > 100)", "ip[ip[0] & 0xf] = 0x45", "ether[12:2] = 0x8100",
]


def _packets():
    packets = []
    for name in CAPTURES:
        path = SAVEFILES / name
        if not path.exists():
            continue
        with open(path, "rb") as fh:
            reader = dpkt.pcap.Reader(fh)
            if reader.datalink() != 1:
                continue
            packets += [bytes(buf) for _, buf in reader][:40]
    packets += _synthetic()
    # truncated copies exercise the out-of-bounds rule (the program returns 0)
    packets += [p[:cut] for p in packets[::7] for cut in (14, 20, 34, 40)]
    return packets


def _synthetic():
    out = []
    for sport, dport, flags, payload in ((1234, 80, dpkt.tcp.TH_SYN, b""),
                                         (80, 40000, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK, b"x" * 300),
                                         (5555, 443, dpkt.tcp.TH_ACK, b"hello")):
        tcp = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, data=payload)
        ip = dpkt.ip.IP(src=bytes([192, 168, 1, 1]), dst=bytes([10, 1, 2, 3]), p=6, data=tcp)
        ip.len = len(ip)
        eth = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\xff" * 6, type=0x0800, data=ip)
        out.append(bytes(eth))
        ip6 = dpkt.ip6.IP6(src=b"\xfe\x80" + b"\0" * 13 + b"\1", dst=b"\xff\x02" + b"\0" * 13 + b"\1",
                           nxt=6, hlim=64, data=tcp, plen=len(tcp))
        out.append(bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x33" * 6, type=0x86DD, data=ip6)))
    return out


PACKETS = _packets() if SAVEFILES.is_dir() else []


@pytest.mark.skipif(not PACKETS, reason=f"no Ethernet captures under {SAVEFILES}")
@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_translated_libpcap_programs_agree_with_bpf_filter(expr):
    compiled = pcapy.compile(1, 262144, expr, 1, 0xFFFFFFFF)
    program = translate.to_ebpf(cbpf.Program.from_tuples(compiled.get_bpf()))
    loaded = interp.load(program)
    for packet in PACKETS + [b"", b"\xff" * 13, b"\x00" * 60]:
        assert loaded.run(packet) == compiled.filter(packet), (expr, packet.hex())
