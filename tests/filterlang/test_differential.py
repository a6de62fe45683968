"""filterlang.compile vs libpcap 1.10 (system library via ctypes): same accept/reject decision,
same verdict from libpcap's own bpf_filter() on every packet of the per-link-type corpus.

Default run: every expression on every supported link type, over a sample of the packets.
``-m exhaustive``: every packet.
"""
from __future__ import annotations

import functools

import pytest

import filterlang
from tests.filterlang.test_differential_oracle import (SUPPORTED, OracleError, libpcap_compile,
                                                       verdict_pair)
from tests.support import expressions, packets

# Expressions aimed at the compiler's corners (in addition to tests/support's corpus).
EXTRA = [
    # qualifier inheritance, precedence, parenthesised ids
    "host 10.0.0.1 or 10.0.0.2 and 8.8.8.8", "port 80 or 443 and tcp", "tcp port 80 or 443",
    "src host 10.0.0.1 or dst 10.0.0.2", "port 53 and not 80", "port 53 and (80 or 443)",
    "port 1 or (2 or (3))", "port 1 and not (2 or not 3)", "ip proto 6 or 17",
    "src net 10.0.0.0/8 or 10.2.0.0/16", "host 10.0.0.1 or not 10.0.0.2", "ip src 10.0.0.1 or 8.8.8.8",
    "ip or tcp and udp", "not ip or ip6", "!tcp && !udp || icmp", "port 1 or ((2))",
    "tcp or 80", "ip and 1", "(ip) and (1)", "1 = 1 and 1", "less 10 or 5",
    "port 80 and (len > 5 or 53)", "port 80 and (53 or len > 5)", "port 1 or ((2 or 3) or 4)",
    "host 10.0.0.1 && (pim) or 10.0.0.2", "arp host 10.0.0.1 || (tcp[13] != 0) || (10.0.0.2)",
    "tcp or (udp) or 80", "(host 10.0.0.1) or 10.0.0.2", "port 53 and (not (tcp)) or 80",
    # arithmetic corners
    "5 % 3 * 2 = 5", "2 * 5 % 3 = 4", "5 % 3 + 1 = 2", "7 % 4 % 2 = 1", "len % 7 + 1 > 3",
    "1 + 2 * 3 = 7", "1 | 2 ^ 3 = 3", "2 * 3 ^ 1 = 7", "1 ^ 2 + 1 = 2", "- - 1 = 1", "-1 = 0xffffffff",
    "5 / ip[0] = 1", "5 / (0 + 1) = 5", "len / (len - len) = 0", "len % (len - len) = 0",
    "ip[0] + arp[0] = 1", "ip[0] + tcp[0] > 1", "tcp[0] + ip[0] > 1", "tcp[udp[0]] = 1",
    "ip[-1] = 1", "ip[65535] = 0", "ether[len - 1] & 1 = 1", "len << 31 = 0", "len >> 31 = 0",
    "ip[1:0] = 1", "ip[0:3] = 1", "1 / 0 = 1", "1 % 0 = 1", "5 >> 33 = 0", "5 << 32 = 5",
    "icmp6[0] = 1 or icmp6[1] = 0", "ip6[0:4] >> 28 = 6", "ah[0] = 6", "esp[0] = 0",
    "4294967296 = 0", "099 = 81", "0x = 0", "len-1 > 0", "len - 1 > 0",
    # addresses
    "host 1.2.3", "host 1.2", "host 1", "net 10", "net 10.1/16", "net 10.0.0.1/8", "net 10/8",
    "net 10.0.0.0/33", "host 256.1.1.1", "net 10 mask 255.0.0.0", "host 10.0.0.0/8",
    "ip6 net fe80::/10", "host ::", "host ::ffff:10.0.0.2", "net ::/129", "host fe80::/10",
    "port 10.0.0.1", "proto 1.2.3.4", "gateway 1.2.3.4", "host 1:2:3:4:5:6",
    "ether host 1:2:3:4:5:6:7:8", "ether host 0:1:2:3:4:5z", "host 2001:db8::1 and ip",
    "ip6 host 10.0.0.1", "ip host 2001:db8::1", "tcp host 10.0.0.1", "ether net 10.0.0.0/8",
    "arp host 2001:db8::1", "src and dst net 10.0.0.0/8", "dst or src host 2001:db8::2",
    "port 65536", "portrange 1-70000", "proto 256", "ether proto 65536", "ip proto 300",
    # protocols and link layer
    "ip proto \\tcp or ip6 proto \\udp", "ether proto \\aarp", "ether proto \\loopback",
    "ether proto \\lldp", "iso proto \\clnp", "iso proto \\esis", "iso proto 0x83",
    "isis proto 0x1a or 0x18", "esis proto 1", "clnp proto 1", "arp proto 1", "tcp proto 1",
    "link proto 1501", "link proto 0", "link proto 255", "protochain \\tcp", "ip6 protochain 44",
    "ip6 protochain 60", "ip6 protochain 59", "ip protochain 51", "arp protochain 6",
    "src proto 6", "l1 or l2", "csnp and psnp", "snp", "llc xyz", "llc RR", "llc Ui",
    # link-type dependent keywords
    "inbound", "outbound", "not inbound", "inbound and ip", "ifindex 1", "ifindex 3",
    "ether host 00:11:22:33:44:55 or ip", "ether src 00:11:22:33:44:55", "broadcast or multicast",
    "ip6 broadcast", "arp multicast", "tcp broadcast", "link multicast",
    "vlan 1 or vlan 2 and ip", "vlan and mpls and ip", "mpls and vlan", "mpls and arp",
    "mpls and host 10.0.0.2", "mpls 1048576", "mpls 0 and mpls 1 and ip6", "pppoes 65536",
    "pppoes and mpls 123", "pppoes and vlan", "pppoes and ether host 00:11:22:33:44:55",
    "pppoes and host 10.0.0.2", "pppoes and stp", "pppoes and ipx", "pppoes and iso",
    "pppoes 5 and pppoes and ip", "vlan and pppoes and ip6", "vlan 10 and vlan 20 and tcp",
    "vlan and llc", "vlan and stp", "vlan and ether broadcast", "geneve and vlan",
    "decnet host 1.2.3", "decnet host 10", "decnet src 63.1023", "decnet host foo",
    "decnet and tcp", "atalk and aarp", "type mgt", "fisu", "vpi 1", "on eth0", "reason match",
    "radio", "link", "ip6 gateway foo", "gateway foo",
    "icmp[icmptype] = icmp-bogus", "tcp[tcpflags] & tcp-bogus != 0", "gateway localhost",
    # found by random differential testing (registers read before written, check order)
    "len > 100 && geneve 5 || not proto 50", "clnp || geneve or byte 12 = 8",
    "ip[0] & 0xf > 5 and isis or geneve 5 && arp host 10.0.0.1 || not 10.0.0.1 or icmp",
    "host 10.0.0.1 || ether[12:2] = 0x8100 || not protochain 51 and pppoes && port 80 || (443)"
    " or (byte 3 & 1 or geneve 5) && len > 100 or not tcp port 22",
    "sctp[0] > atalk[0] or not ip6", "pppoes and inbound", "pppoes and outbound",
    "pppoes and ifindex 3", "geneve and inbound", "geneve and ifindex 3", "vlan and inbound",
    "mpls and outbound", "sctp[igmp[0]] > ip[ip[0]] or ip6",
    "0x10 >= 14 ^ (len * 3) % link[tcp-syn:2] << tcpflags",
    "igmp[len + ip[255] ^ 8] < 14 or not icmp6[icmptype >> udp[0:2]:1] = vrrp[2:2]",
]


@functools.lru_cache(maxsize=None)
def corpus(linktype: str, step: int):
    return tuple(packets.packets(linktype)[::step])


@functools.lru_cache(maxsize=None)
def oracle(expr: str, linktype: str):
    try:
        return tuple(libpcap_compile(expr, linktype, 262144, False, 0)), None
    except OracleError as exc:
        return None, str(exc)


def ours(expr: str, linktype: str):
    try:
        return filterlang.compile(expr, linktype, 262144, False, 0).to_tuples(), None
    except filterlang.FilterError as exc:
        assert exc.expr == expr and exc.span is not None
        return None, exc.message


ALL = sorted({e for e in expressions.EXPRESSIONS if isinstance(e, str)} |
             {e for e, _ in expressions.INVALID_EXPRESSIONS} | set(EXTRA))


def check(expr: str, linktype: str, step: int):
    theirs, their_err = oracle(expr, linktype)
    mine, my_err = ours(expr, linktype)
    if theirs is None or mine is None:
        assert (theirs is None) == (mine is None), \
            f"libpcap: {their_err or 'accepts'}; filterlang: {my_err or 'accepts'}"
        return
    for sample in corpus(linktype, step):
        want, got = verdict_pair(theirs, mine, sample.data, sample.wirelen)
        assert got == want, f"{sample.name}: filterlang {got}, libpcap {want}"


def test_corpus_sizes():
    assert len(ALL) >= 300
    for linktype in SUPPORTED:
        assert len(packets.packets(linktype)) >= 300


@pytest.mark.parametrize("linktype", SUPPORTED)
def test_sample(linktype):
    failures = []
    for expr in ALL:
        try:
            check(expr, linktype, 11)
        except AssertionError as exc:
            failures.append(f"{expr!r}: {exc}")
    assert not failures, f"{len(failures)}/{len(ALL)} disagree:\n" + "\n".join(failures[:40])


@pytest.mark.exhaustive
@pytest.mark.parametrize("linktype", SUPPORTED)
@pytest.mark.parametrize("expr", ALL)
def test_every_packet(expr, linktype):
    check(expr, linktype, 1)
