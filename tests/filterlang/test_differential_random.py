"""Random pcap-filter expressions (seeded, reproducible) compiled by filterlang and by libpcap
1.10: same accept/reject decision and same verdicts on the packet corpus.

Default run: a small sample; ``-m exhaustive``: thousands of expressions."""
from __future__ import annotations

import functools
import random

import pytest

import filterlang
from tests.filterlang.test_differential_oracle import (SUPPORTED, OracleError, libpcap_compile,
                                                       verdict_pair)
from tests.support import packets

PRIMITIVES = [
    "ip", "ip6", "arp", "rarp", "tcp", "udp", "sctp", "icmp", "icmp6", "igmp", "pim", "vrrp", "ah",
    "esp", "stp", "ipx", "iso", "clnp", "esis", "isis", "l1", "iih", "netbeui", "atalk", "aarp",
    "decnet", "lat", "sca", "mopdl", "moprc", "llc", "llc i", "llc u", "llc ui", "llc rr", "llc s",
    "host 10.0.0.1", "src host 10.0.0.2", "dst 192.168.1.1", "host 2001:db8::1", "ip6 src fe80::1",
    "net 10.0.0.0/8", "net 192.168", "src net 2001:db8::/32", "arp host 10.0.0.1", "net 127",
    "src and dst net 10.0.0.0/8", "host localhost", "ip6 net ::1/128",
    "port 80", "src port 53", "dst port 443", "tcp port 22", "udp port 53", "sctp port 2905",
    "portrange 20-80", "tcp dst portrange 1-1024", "dst or src port 53", "udp port domain",
    "ip proto 6", "ip6 proto 17", "proto 50", "proto \\udp", "ip proto \\tcp",
    "ip protochain 6", "ip6 protochain 17", "protochain 51", "ip6 protochain 44",
    "ether host 00:11:22:33:44:55", "ether src 66:77:88:99:aa:bb", "ether dst ff:ff:ff:ff:ff:ff",
    "ether broadcast", "ether multicast", "ip multicast", "ip6 multicast", "ether proto 0x800",
    "ether proto 0x86dd", "link proto 1500", "ether proto \\ipx", "ether proto \\atalk",
    "vlan", "vlan 10", "vlan 100", "mpls", "mpls 16", "pppoed", "pppoes", "pppoes 1", "geneve",
    "geneve 5", "vlan and vlan", "mpls and mpls", "pppoes and ip6", "geneve and geneve",
    "less 64", "greater 200", "len > 100", "inbound", "outbound", "ifindex 3", "decnet host 1.2",
    "decnet src 63.1023", "byte 12 = 8", "byte 3 & 1",
    "tcp[13] & 2 != 0", "ip[9] = 17", "udp[2:2] = 53", "icmp[0] = 8", "ip6[6] = 58",
    "icmp6[0] = 135", "ether[12:2] = 0x8100", "ip[0] & 0xf > 5", "tcp[tcpflags] & tcp-syn != 0",
    "ip[2:2] - ((ip[0] & 0xf) << 2) > 20", "len - 14 > 40", "ip[6:2] & 0x1fff = 0",
    "link[0] & 1 = 1", "ip[ip[0] & 0xf] = 0", "tcp[ip[0] & 3] > 1", "arp[6:2] = 1",
    "udp[8] & 8 != 0", "sctp[0:2] = 2905", "ip6[40] = 58",
]
IDS = ["10.0.0.2", "80", "53", "8.8.8.8", "(443)", "not 10.0.0.1"]
INDEXED = ["ip", "tcp", "udp", "icmp", "ip6", "icmp6", "arp", "link", "ether", "igmp", "sctp",
           "pim", "vrrp", "rarp", "decnet", "atalk", "ah", "carp"]
CONSTANTS = ["0", "1", "2", "3", "4", "8", "14", "0x10", "255", "len", "tcpflags", "icmptype",
             "tcp-syn"]
OPS = ["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"]
RELOPS = [">", "<", ">=", "<=", "=", "==", "!="]


class Generator:
    def __init__(self, seed: int):
        self.rnd = random.Random(seed)

    def boolean(self, depth=0) -> str:
        r = self.rnd.random()
        if depth > 3 or r < 0.35:
            return self.rnd.choice(PRIMITIVES) if self.rnd.random() < 0.8 else self.relation()
        if r < 0.45:
            return "not " + self.boolean(depth + 1)
        if r < 0.55:
            return "(" + self.boolean(depth + 1) + ")"
        op = self.rnd.choice([" and ", " or ", " && ", " || "])
        left = self.boolean(depth + 1)
        if self.rnd.random() < 0.15:
            return left + op + self.rnd.choice(IDS)
        return left + op + self.boolean(depth + 1)

    def atom(self, depth) -> str:
        r = self.rnd.random()
        if depth > 2 or r < 0.3:
            return self.rnd.choice(CONSTANTS)
        if r < 0.6:
            size = self.rnd.choice(["", ":1", ":2", ":4"])
            return f"{self.rnd.choice(INDEXED)}[{self.arith(depth + 1)}{size}]"
        if r < 0.7:
            return "-" + self.atom(depth + 1)
        return f"({self.arith(depth + 1)})"

    def arith(self, depth=0) -> str:
        if depth > 2 or self.rnd.random() < 0.4:
            return self.atom(depth)
        return f"{self.atom(depth)} {self.rnd.choice(OPS)} {self.arith(depth + 1)}"

    def relation(self) -> str:
        return f"{self.arith()} {self.rnd.choice(RELOPS)} {self.arith()}"


@functools.lru_cache(maxsize=None)
def corpus(linktype: str, step: int):
    return tuple(packets.packets(linktype)[::step])


def check(seed: int, step: int):
    gen = Generator(seed)
    expr = gen.boolean()
    linktype = gen.rnd.choice(SUPPORTED)
    try:
        theirs = libpcap_compile(expr, linktype, 262144, False, 0)
    except OracleError as exc:
        with pytest.raises(filterlang.FilterError):
            filterlang.compile(expr, linktype, 262144, False, 0)
        return f"both reject: {exc}"
    mine = filterlang.compile(expr, linktype, 262144, False, 0).to_tuples()
    for sample in corpus(linktype, step):
        want, got = verdict_pair(theirs, mine, sample.data, sample.wirelen)
        assert got == want, f"[{linktype}] {expr!r} on {sample.name}: {got} vs libpcap {want}"
    return "ok"


@pytest.mark.parametrize("seed", range(60))
def test_sample(seed):
    check(seed, 6)


@pytest.mark.exhaustive
@pytest.mark.parametrize("seed", range(1000, 5000))
def test_many(seed):
    check(seed, 2)
