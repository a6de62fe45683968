"""Filter expressions for differential tests.

    EXPRESSIONS       hand-written pcap-filter expressions, all valid on EN10MB (libpcap 1.10),
                      covering the whole language of pcap-filter(7)
    accept_corpus()   the blocks of ../shared/conformance/libpcap/accept_blocks.json ([] when absent)
    accept_expressions(dlt)  (name, expr) for every alias of every block for one DLT
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

__all__ = ["EXPRESSIONS", "INVALID_EXPRESSIONS", "accept_corpus", "accept_expressions", "CONFORMANCE_DIR", "ACCEPT_BLOCKS"]

CONFORMANCE_DIR = (Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance").resolve()
ACCEPT_BLOCKS = CONFORMANCE_DIR / "libpcap" / "accept_blocks.json"

_HOSTS_V4 = ["10.0.0.2", "192.168.1.1", "8.8.8.8", "127.0.0.1", "224.0.0.1"]
_HOSTS_V6 = ["2001:db8::1", "2001:db8::2", "fe80::1", "ff02::1", "::1"]

EXPRESSIONS: list[str] = [
    # empty / trivial
    "", "ip", "ip6", "arp", "rarp", "tcp", "udp", "sctp", "icmp", "icmp6", "igmp", "igrp", "pim",
    "vrrp", "carp", "ah", "esp", "atalk", "aarp", "decnet", "lat", "sca", "moprc", "mopdl",
    "iso", "esis", "es-is", "isis", "is-is", "clnp", "stp", "ipx", "netbeui", "llc",
    "l1", "l2", "iih", "lsp", "snp", "csnp", "psnp",
    "ip and tcp", "ip6 and tcp", "ip or ip6", "not ip", "not tcp", "!udp", "ip && !tcp",
    "tcp || udp", "tcp or udp or icmp", "not (tcp or udp)", "ip and not icmp",
    # hosts
    *[f"host {h}" for h in _HOSTS_V4], *[f"src host {h}" for h in _HOSTS_V4[:3]],
    *[f"dst host {h}" for h in _HOSTS_V4[:3]], *[f"host {h}" for h in _HOSTS_V6],
    "src or dst host 10.0.0.1", "src and dst host 10.0.0.1", "ip host 10.0.0.1", "ip6 host 2001:db8::1",
    "arp host 10.0.0.1", "rarp host 10.0.0.1", "ip src 10.0.0.1", "ip dst 10.0.0.2",
    "ip6 src 2001:db8::1", "ip6 dst 2001:db8::2", "src 10.0.0.1", "dst 10.0.0.2",
    "host 10.0.0.1 and host 10.0.0.2", "host 10.0.0.1 or 10.0.0.2", "src 10.0.0.1 and dst 10.0.0.2",
    "host 10.0.0.1 and not host 10.0.0.2", "src host 10.0.0.1 or dst host 8.8.8.8",
    "host localhost", "ip6 src fe80::1 or ip6 dst ff02::1", "src 2001:db8::1 and dst 2001:db8::2",
    "tcp and host 10.0.0.1", "udp and src host 192.168.1.1", "icmp and dst host 192.168.1.1",
    "host 10.0.0.1 and (tcp or udp)", "host 2001:db8::1 and tcp",
    # networks
    "net 10.0.0.0/8", "net 192.168.1.0/24", "net 192.168.0.0/16", "net 172.16.0.0/12", "net 10",
    "net 192.168.1", "net 192.168.1.0 mask 255.255.255.0", "net 10.0.0.0 mask 255.0.0.0",
    "src net 10.0.0.0/8", "dst net 192.168.1.0/24", "src net 10.0.0.0/24 and dst net 8.0.0.0/8",
    "net 2001:db8::/32", "net 2001:db8::/64", "src net fe80::/10", "dst net ff00::/8",
    "ip6 net 2001:db8:1::/48", "net 0.0.0.0/0", "net 10.0.0.1/32", "net 128.0.0.0/1",
    "net ::/0", "net 2001:db8::1/128", "not net 10.0.0.0/8", "net 224.0.0.0/4",
    "ip and net 127.0.0.0/8", "arp and net 10.0.0.0/24",
    # ports
    *[f"port {p}" for p in (0, 20, 21, 22, 53, 80, 443, 8080, 65535)],
    *[f"tcp port {p}" for p in (22, 80, 443)], *[f"udp port {p}" for p in (53, 67, 4789)],
    "sctp port 80", "sctp port 2905", "src port 80", "dst port 80", "tcp src port 80", "tcp dst port 443",
    "udp src port 53", "udp dst port 53", "src or dst port 22", "src and dst port 53",
    "port http", "port domain", "tcp port ssh", "port https", "udp port bootps",
    "ip and port 80", "ip6 and port 80", "ip6 and tcp port 443", "ip and udp port 53",
    "port 80 or port 443", "tcp port 80 and not src host 10.0.0.1", "not port 22",
    "portrange 20-22", "portrange 1-1024", "tcp portrange 80-443", "udp portrange 50-60",
    "src portrange 1024-65535", "dst portrange 0-100", "portrange 8080-8080", "portrange 65535-0",
    "ip6 and portrange 20-80", "sctp portrange 1-100", "tcp dst portrange 80-90",
    "tcp port 80 or udp port 53 or icmp", "port 80 and (tcp[tcpflags] & tcp-syn != 0)",
    # gateway-free protocol selectors
    "ip proto 6", "ip proto 17", "ip proto \\tcp", "ip proto \\udp", "ip proto \\icmp", "ip6 proto 6",
    "ip6 proto 58", "ip6 proto \\udp", "proto 6", "proto \\tcp", "proto 132", "proto 47", "proto 50",
    "ip proto 103", "ip proto 112", "ip proto 2", "ip6 proto 0", "ip6 proto 43", "ip6 proto 44",
    "ip protochain 6", "ip6 protochain 6", "ip6 protochain 17", "ip6 protochain 58", "protochain 6",
    "ip protochain 17", "ip6 protochain 50", "ip6 protochain 51", "protochain \\udp",
    "tcp or ip6 protochain 17",
    # ethernet
    "ether host 00:11:22:33:44:55", "ether src 00:11:22:33:44:55", "ether dst 66:77:88:99:aa:bb",
    "ether host 0:11:22:33:44:55", "ether host 0011.2233.4455", "ether host 00-11-22-33-44-55",
    "ether host 001122334455", "ether host 00:11:22:33:44:55 and ip",
    "ether src 00:11:22:33:44:55 or ether dst 00:11:22:33:44:55",
    "ether broadcast", "ether multicast", "broadcast", "multicast", "not ether broadcast",
    "ether proto 0x800", "ether proto 0x86dd", "ether proto 0x806", "ether proto \\ip", "ether proto \\ip6",
    "ether proto \\arp", "ether proto \\rarp", "ether proto \\atalk",
    "ether proto \\decnet", "ether proto \\sca", "ether proto \\lat", "ether proto \\mopdl",
    "ether proto \\moprc", "ether proto \\iso", "ether proto \\stp", "ether proto \\ipx",
    "ether proto \\netbeui", "ether proto 0x88cc", "ether proto 1500", "ether proto 0x8863",
    "link proto 0x800", "ether[0] & 1 != 0", "ether[12:2] = 0x800", "ether[6:4] = 0x00112233",
    "ether[0:4] = 0xffffffff", "link[12:2] > 1500", "ether src 66:77:88:99:aa:bb and not arp",
    "fddi host 00:11:22:33:44:55", "tr src 00:11:22:33:44:55", "wlan host 00:11:22:33:44:55",
    "ip broadcast", "ip multicast", "ip6 multicast", "ip multicast or ip6 multicast",
    "not ip multicast",
    # arithmetic and relations
    "ip[0] & 0xf > 5", "ip[0] & 0xf != 5", "ip[6:2] & 0x1fff = 0", "ip[6:2] & 0x1fff != 0",
    "ip[6] & 0x20 != 0", "ip[2:2] > 576", "ip[8] < 5", "ip[9] = 6", "ip[12:4] = 0x0a000001",
    "ip[16] >= 224", "ip[1] & 0xfc = 0", "ip6[6] = 6", "ip6[6] == 17", "ip6[40] = 128",
    "ip6[0:4] & 0x0ff00000 != 0", "tcp[0:2] = 80", "tcp[2:2] = 443", "tcp[13] = 2", "tcp[13] & 2 != 0",
    "tcp[13] & 0x12 = 0x12", "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "tcp[tcpflags] = tcp-syn",
    "tcp[tcpflags] & tcp-fin != 0", "tcp[tcpflags] & tcp-rst != 0", "tcp[tcpflags] & tcp-push != 0",
    "tcp[tcpflags] & tcp-urg != 0", "tcp[tcpflags] & tcp-ece != 0", "tcp[tcpflags] & tcp-cwr != 0",
    "tcp[12] >> 4 > 5", "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", "udp[0:2] = 53",
    "udp[2:2] = 4789", "udp[4:2] > 100", "icmp[0] = 8", "icmp[icmptype] = icmp-echo",
    "icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply", "icmp[icmpcode] = 3",
    "icmp[icmptype] = icmp-unreach", "icmp[icmptype] = icmp-timxceed", "icmp[icmptype] = icmp-tstamp",
    "icmp[icmptype] = icmp-maskreq", "icmp[icmptype] = icmp-redirect", "icmp[icmptype] = icmp-sourcequench",
    "icmp6[icmp6type] = icmp6-echo", "icmp6[icmp6type] = icmp6-neighborsolicit",
    "icmp6[icmp6type] = icmp6-routeradvert", "icmp6[0] = 135", "icmp6[icmp6code] = 0",
    "ip[2:2] - ((ip[0] & 0xf) << 2) > 40", "len > 100", "len < 60", "len = 60", "len >= 1500",
    "len <= 64", "len != 98", "less 64", "greater 100", "less 1500 and greater 60", "len - 14 > 40",
    "ip[0] + ip[1] > 70", "ip[0] * 2 = 0x8a", "ip[0] / 16 = 4", "ip[0] % 16 = 5", "ip[0] ^ 0x45 = 0",
    "ip[0] | 0x0f = 0x4f", "ip[0] & 0xf0 = 0x40", "ip[0] << 1 = 0x8a", "ip[0] >> 4 = 4", "-ip[0] < 0",
    "ip[9] - 6 = 0", "(ip[2:2] + 4) / 2 > 30", "2 + 3 = 5", "1 = 1", "len % 2 = 0",
    "ip[ip[0] & 0xf] = 0", "tcp[0:4] & 0xffff = 80", "ether[len - 1] = 0", "ip[0:1] > 0x44",
    "ip[6:2] & 0x3fff = 0", "ip[0] & 0xf0 = 0x60", "len > 0x40", "len > 0100", "ip[4:2] = 1",
    "arp[6:2] = 1", "arp[6:2] = 2", "arp[24:4] = 0x0a000002", "rarp[6:2] = 3",
    "udp[8] & 0x08 != 0", "sctp[0:2] = 2905", "igmp[0] = 0x11", "pim[0] & 0xf = 0", "vrrp[0] >> 4 = 2",
    "ether[14] = 0xaa", "link[0] = 0xff", "ip6[40] & 0x80 = 0",
    # vlan / mpls / pppoe / tunnels
    "vlan", "vlan 10", "vlan 100", "vlan 4094", "vlan and ip", "vlan 10 and ip", "vlan and tcp port 80",
    "vlan and vlan", "vlan 100 and vlan 200", "vlan and vlan and ip", "vlan 10 or vlan 20",
    "vlan and ip6", "vlan and arp", "not vlan", "vlan and mpls", "vlan and pppoes",
    "mpls", "mpls 16", "mpls 100", "mpls and ip", "mpls 16 and ip", "mpls and mpls", "mpls 100 and mpls 200",
    "mpls and mpls and mpls", "mpls and ip6", "mpls and tcp port 80", "mpls and udp",
    "pppoed", "pppoes", "pppoes 1", "pppoes 0x1234", "pppoes and ip", "pppoes and ip6",
    "pppoes 1 and tcp", "pppoes and udp port 53", "pppoed or pppoes",
    "geneve", "geneve 1", "geneve 100", "geneve and ip", "geneve and udp port 53",
    "geneve and ether host 00:11:22:33:44:55", "udp port 4789 and udp[8] & 8 != 0",
    # llc / iso / misc link
    "llc", "llc i", "llc s", "llc u", "llc rr", "llc rnr", "llc rej", "llc ui", "llc ua", "llc disc",
    "llc dm", "llc sabme", "llc test", "llc xid", "llc frmr", "stp or ipx", "netbeui or iso",
    "isis and l1", "l2 or iih", "lsp", "ipx and ether broadcast", "decnet src 1.2", "decnet dst 1.1",
    "decnet host 1.2", "decnet host 1.1 or decnet host 1.2", "atalk or aarp", "iso and clnp",
    # combinations and precedence
    "tcp and port 80 or udp and port 53", "not tcp and not udp", "ip and (tcp or udp) and not port 22",
    "!(ip or ip6)", "tcp and (port 80 or port 443) and host 10.0.0.1", "ip6 and (tcp or icmp6)",
    "(tcp[13] & 2 != 0) and (tcp[13] & 16 = 0)", "arp or (ip and icmp)", "ip and ip[8] = 64",
    "ether broadcast or ip multicast or ip6 multicast", "host 10.0.0.1 and port 80 and tcp",
    "src host 10.0.0.1 and (dst port 80 or dst port 443)", "not src net 10.0.0.0/8 and tcp",
    "(ip or ip6) and udp and len > 60", "udp and not (port 53 or port 67 or port 68)",
    "tcp[13] & 7 != 0 or tcp[13] = 0", "host 10.0.0.1 or host 10.0.0.2 or host 8.8.8.8",
    "vlan and not ip", "ip proto 6 or ip6 proto 6",
    "icmp or icmp6 or igmp", "ip[9] = 1 and icmp[0] = 0", "ether multicast and not broadcast",
    "ip6 and not ip6 multicast and tcp", "(port 80) and (host 10.0.0.1 or host 192.168.1.1)",
    "greater 1000 or less 80", "ip && tcp && port 80 && !host 8.8.8.8", "ip6 protochain 6 or ip protochain 6",
]


# Expressions libpcap 1.10 refuses on EN10MB, with (part of) its message. libpcap 1.10 has no
# "vxlan" keyword (it arrived later); filterlang may accept it as an extension.
INVALID_EXPRESSIONS: list[tuple[str, str]] = [
    ("10.0.0.1", "syntax error"), ("ether proto \\aarp", "unknown ether proto 'aarp'"),
    ("0 = 1", "expression rejects all packets"), ("ah[0] = 6", "unsupported index operation"),
    ("esp[0:4] != 0", "unsupported index operation"), ("ip and ip6", "expression rejects all packets"),
    ("tcp and udp", "expression rejects all packets"), ("port 99999", "illegal port number 99999 > 65535"),
    ("tcp port", "syntax error"), ("host", "syntax error"), ("ip[", "syntax error"),
    ("net 10.0.0.1/33", "mask length must be <= 32"), ("portrange 5-", "syntax error"),
    ("ether host 00:11:22:33:44", "bogus ethernet address"), ("vlan 5000", "VLAN tag 5000 greater than maximum 4095"),
    ("udp[0:3] = 1", "data size must be 1, 2, or 4"), ("tcp src", "syntax error"), ("(tcp", "syntax error"),
    ("icmp[icmptype] = icmp-bogus", "syntax error"),
]


def _dedupe(items: list[str]) -> list[str]:
    seen = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


EXPRESSIONS = _dedupe(EXPRESSIONS)


@functools.lru_cache(maxsize=1)
def _load_blocks() -> tuple:
    if not ACCEPT_BLOCKS.is_file():
        return ()
    with ACCEPT_BLOCKS.open() as fh:
        return tuple(json.load(fh))


def accept_corpus() -> list[dict]:
    """The blocks of libpcap's accept_blocks.json (copies), or [] when the conformance data is absent."""
    return [dict(block) for block in _load_blocks()]


def accept_expressions(dlt: str = "EN10MB", include_skipped: bool = False) -> list[tuple[str, str, dict]]:
    """(id, expression, block) for every alias of every block with this DLT.

    Blocks marked ``skip`` (they need /etc/hosts or /etc/ethers entries, a little-endian host...) and
    the pseudo-expressions libpcap's test driver enumerates itself (names starting with "_") are left
    out unless ``include_skipped``."""
    out = []
    for block in _load_blocks():
        if block.get("DLT") != dlt:
            continue
        if not include_skipped and block.get("skip"):
            continue
        for i, alias in enumerate(block.get("aliases", [])):
            if alias.startswith("_"):
                continue
            out.append((f"{block['name']}[{i}]", alias, block))
    return out
