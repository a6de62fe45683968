"""filterlang.names against libpcap 1.10 (pcapy-ng) and glibc's own lookups.

Two kinds of oracle:
- the system databases: glibc (``socket.getaddrinfo`` / ``getprotobyname``) and libpcap's
  compiled programs (``port NAME`` must compile to the same program as ``tcp port N`` ...);
- crafted databases: a private copy of /etc with odd entries is bind-mounted over /etc in a new
  mount namespace (root only), libpcap compiles ``net NAME`` / ``ether host NAME`` / ... there,
  and our resolver reads the same files directly.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest

from filterlang import names

pcapy = pytest.importorskip("pcapy")

DLT_EN10MB = 1
DLT_RAW = 12
# Names the pcap-filter lexer reads as one identifier.
LEXER_ID = re.compile(r"[A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?")
KEYWORDS = {
    "dst", "src", "host", "net", "mask", "port", "portrange", "less", "greater", "proto",
    "protochain", "byte", "broadcast", "multicast", "and", "or", "not", "len", "inbound",
    "outbound", "ifindex", "vlan", "mpls", "pppoed", "pppoes", "geneve", "vxlan", "ip", "ip6",
    "arp", "rarp", "tcp", "udp", "sctp", "icmp", "icmp6", "igmp", "igrp", "pim", "vrrp", "carp",
    "ah", "esp", "atalk", "aarp", "decnet", "lat", "sca", "moprc", "mopdl", "iso", "esis",
    "isis", "clnp", "stp", "ipx", "netbeui", "gateway", "link", "ether", "fddi", "tr", "wlan",
    "ppp", "slip", "llc", "radio", "type", "subtype", "dir", "address1", "address2",
    "address3", "address4", "ra", "ta", "on", "ifname", "rnr", "rulenum", "reason", "rset",
    "ruleset", "srnr", "subrulenum", "action", "lane", "metac", "bcc", "oam", "oamf4", "oamf4ec",
    "oamf4sc", "sc", "ilmisc", "vpi", "vci", "connectmsg", "metaconnect", "l1", "l2", "iih",
    "lsp", "snp", "csnp", "psnp", "hdlc", "fisu", "lssu", "msu", "sio", "opc", "dpc", "sls",
    "hfisu", "hlssu", "hmsu", "hsio", "hopc", "hdpc", "hsls", "ip6", "icmp6", "atm", "ah",
}


def bpf(expr: str, dlt: int = DLT_EN10MB):
    """libpcap's optimized program as tuples, or the error text."""
    try:
        return [tuple(i) for i in pcapy.compile(dlt, 262144, expr, 1, 0).get_bpf()]
    except Exception as exc:  # pcapy raises PcapError
        return str(exc)


def service_names() -> list[str]:
    seen: list[str] = []
    for fields in names._records("/etc/services"):
        for name in (fields[0], *fields[2:]):
            if LEXER_ID.fullmatch(name) and name not in KEYWORDS and name not in seen:
                seen.append(name)
    return seen


def protocol_names() -> list[str]:
    seen: list[str] = []
    for fields in names._records("/etc/protocols"):
        for name in (fields[0], *fields[2:]):
            if name not in seen:
                seen.append(name)
    return seen


# --- system databases ------------------------------------------------------------------------

@pytest.mark.parametrize("name", service_names())
def test_port_names_compile_like_libpcap(name):
    got = bpf(f"port {name}")
    if isinstance(got, str):
        with pytest.raises(LookupError):
            names.resolve_port(name)
        return
    port, proto = names.resolve_port(name)
    qualifier = {None: "", names.IPPROTO_TCP: "tcp ", names.IPPROTO_UDP: "udp "}[proto]
    assert got == bpf(f"{qualifier}port {port}")


@pytest.mark.parametrize("expr,expected", [
    ("ftp-http", "tcp portrange 21-80"),
    ("ftp-bootps", "portrange 21-67"),
    ("domain-bootpc", "portrange 53-68"),
    ("bootps-bootpc", "udp portrange 67-68"),
    ("20-ftp", "portrange 20-21"),
    ("ftp-20", "portrange 21-20"),
    ("100-200", "portrange 100-200"),
    ("200-100", "portrange 200-100"),
    ("http-https", "portrange 80-443"),
], ids=lambda v: v if isinstance(v, str) and " " not in v else None)
def test_portrange_names_compile_like_libpcap(expr, expected):
    lo, hi, proto = names.resolve_portrange(expr)
    qualifier = {None: "", names.IPPROTO_TCP: "tcp ", names.IPPROTO_UDP: "udp "}[proto]
    assert bpf(f"portrange {expr}") == bpf(f"{qualifier}portrange {lo}-{hi}")
    assert bpf(f"{qualifier}portrange {lo}-{hi}") == bpf(expected)


@pytest.mark.parametrize("expr", ["ftp-data", "ftp-nosuch", "nosuch-ftp", "ftp", "HTTP-ftp"])
def test_portrange_unknown(expr):
    assert "unknown port in range" in bpf(f"portrange {expr}")
    with pytest.raises(LookupError, match="unknown port in range"):
        names.resolve_portrange(expr)


@pytest.mark.parametrize("name", ["HTTP", "nosuchservice", "80x", "ftp-20"])
def test_unknown_ports(name):
    assert "unknown port" in bpf(f"port {name}")
    with pytest.raises(LookupError, match="unknown port"):
        names.resolve_port(name)


@pytest.mark.parametrize("name", protocol_names())
def test_protocols_like_getprotobyname(name):
    try:
        expected = socket.getprotobyname(name)
    except OSError:
        with pytest.raises(LookupError):
            names.resolve_proto(name)
        return
    assert names.resolve_proto(name) == expected
    if LEXER_ID.fullmatch(name):
        assert bpf(f"ip proto \\{name}", DLT_RAW) == bpf(f"ip proto {expected}", DLT_RAW)


@pytest.mark.parametrize("name", ["icmp6", "carp", "nosuch", "Tcp"])
def test_unknown_protocols(name):
    assert "unknown ip proto" in bpf(f"ip proto \\{name}", DLT_RAW)
    with pytest.raises(LookupError, match="unknown ip proto"):
        names.resolve_proto(name)


@pytest.mark.parametrize("name", [*names.ETHER_PROTOCOLS, *names.LLC_SAPS, "IP", "foo"])
def test_ether_protocol_builtins(name):
    got = bpf(f"ether proto \\{name}")
    if name in names.ETHER_PROTOCOLS:
        assert got == bpf(f"ether proto {names.resolve_eproto(name)}")
    elif name in names.LLC_SAPS:
        # libpcap tests an LLC SAP as the DSAP byte (stp) or both SAP bytes (the others)
        assert got == bpf(f"ether proto {names.resolve_llc(name)}")
    else:
        assert "unknown ether proto" in got
        with pytest.raises(LookupError):
            names.resolve_eproto(name)
        with pytest.raises(LookupError):
            names.resolve_llc(name)


def system_host_names() -> list[str]:
    seen = ["localhost"]
    for fields in names._records("/etc/hosts"):
        for name in fields[1:]:
            if name not in seen:
                seen.append(name)
    return seen + ["LOCALHOST", socket.gethostname()]


def getaddrinfo_set(name: str) -> set:
    infos = socket.getaddrinfo(name, None, socket.AF_UNSPEC, socket.SOCK_STREAM,
                               socket.IPPROTO_TCP)
    return {ipaddress.ip_address(i[4][0].split("%")[0]) for i in infos}


@pytest.mark.parametrize("name", system_host_names())
def test_hosts_like_getaddrinfo(name):
    assert set(names.resolve_host(name)) == getaddrinfo_set(name)


def test_host_single_address_compiles_like_libpcap():
    (addr,) = names.resolve_host("localhost")
    assert bpf("host localhost") == bpf(f"host {addr}")


def test_unknown_host():
    with pytest.raises(LookupError, match="unknown host"):
        names.resolve_host("no-such-host.invalid")


def test_unknown_net_and_ether_on_this_system():
    assert "unknown network" in bpf("net nosuchnet")
    with pytest.raises(LookupError, match="unknown network"):
        names.resolve_net("nosuchnet")
    assert "unknown ether host" in bpf("ether host nosuchmac")
    with pytest.raises(LookupError, match="unknown ether host"):
        names.resolve_ether("nosuchmac")


# --- pure parsing, oracle-free edge cases with glibc's documented behaviour --------------------

@pytest.mark.parametrize("text,value", [
    ("127.0.0.1", 0x7F000001), ("10", 0x0A), ("10.1", 0x0A01), ("0x0a.0x01", 0x0A01),
    ("012.1", 0x0A01), ("1.2.3.4.5", 0xFFFFFFFF), ("256", 0xFFFFFFFF), ("1..2", 0xFFFFFFFF),
    ("", 0xFFFFFFFF), ("abc", 0xFFFFFFFF),
], ids=lambda v: repr(v) if isinstance(v, str) else None)
def test_inet_network_matches_libc(text, value):
    import ctypes
    libc = ctypes.CDLL(None)
    libc.inet_network.restype = ctypes.c_uint32
    libc.inet_network.argtypes = [ctypes.c_char_p]
    assert libc.inet_network(text.encode()) == value
    assert names.inet_network(text) == value


# --- crafted databases in a private mount namespace -------------------------------------------

NETWORKS = """\
# comment line
loopback  127.0.0.0
ten       10            tenalias
tenone    10.1
tenonetwo 10.1.2
hexy      0x0b.2
octal     012.3
big       300.1
MiXed     12.3.4        # trailing comment
zero      0.0.0.0
lowbyte   0.10
ten       11            # second entry for a name: the first one wins
"""

ETHERS = """\
# comment
0:1:2:3:4:5 alpha
aa:BB:cc:dd:ee:ff Beta  # trailing
 0x10:2:3:4:5:6 gamma
1:2:3:4:5:100 delta
1:2:3:4:5 eps
01-02-03-04-05-06 zeta
2:2:2:2:2:2\talpha
"""

PROTOCOLS = """\
tcp 6 TCP
udp 17 UDP
weird 99 Weird w3
octal 010
badnum x10
tcp 77 dup
"""

SERVICES = """\
tcpish     1000/tcp   tcpalias
udpish     1001/udp
both       1002/tcp   bothalias
both       1002/udp   bothalias
split      1003/tcp
split      1004/udp
udpfirst   1005/udp
udpfirst   1006/tcp
hexport    0x10/tcp
octport    010/udp
sctponly   1007/sctp
dupe       1008/tcp
dupe       1009/tcp
Upper      1010/tcp
"""

HOSTS = """\
127.0.0.1 localhost
::1 localhost ip6-localhost
10.9.8.7 multi Multi-Alias
10.9.8.6 multi
fe80::1%lo linklocal
2001:db8::5 multi
not-an-address broken
"""

CRAFTED = {"networks": NETWORKS, "ethers": ETHERS, "protocols": PROTOCOLS,
           "services": SERVICES, "hosts": HOSTS}

NAMESPACE_SCRIPT = r"""
import json, socket, sys
import pcapy
out = {}
for expr in json.loads(sys.argv[1]):
    try:
        out[expr] = [list(i) for i in pcapy.compile(1, 262144, expr, 1, 0).get_bpf()]
    except Exception as exc:
        out[expr] = str(exc)
hosts = {}
for name in json.loads(sys.argv[2]):
    try:
        hosts[name] = sorted({i[4][0].split("%")[0] for i in socket.getaddrinfo(
            name, None, socket.AF_UNSPEC, socket.SOCK_STREAM, socket.IPPROTO_TCP)})
    except OSError:
        hosts[name] = []
print(json.dumps({"bpf": out, "hosts": hosts}))
"""


@pytest.fixture(scope="module")
def crafted_etc(tmp_path_factory):
    """A copy of /etc with the crafted databases, and a runner for libpcap inside it."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to mount a private /etc")
    root = tmp_path_factory.mktemp("etc")
    etc = root / "etc"
    shutil.copytree("/etc", etc, symlinks=True, ignore_dangling_symlinks=True,
                    ignore=shutil.ignore_patterns("ssl", "ssh", "shadow*", "gshadow*"))
    for fname, text in CRAFTED.items():
        (etc / fname).write_text(text)
    for fname in ("nsswitch.conf",):
        text = (etc / fname).read_text()
        # the crafted files are the only source: no "db" or "dns" backends
        text = re.sub(r"^(hosts|networks|ethers|protocols|services):.*$",
                      lambda m: f"{m.group(1)}: files", text, flags=re.M)
        (etc / fname).write_text(text)

    def run(exprs: list[str], hosts: list[str] = ()):
        probe = subprocess.run(
            ["unshare", "-m", "sh", "-c", f'mount --bind "{etc}" /etc && exec "$0" "$@"',
             sys.executable, "-c", NAMESPACE_SCRIPT, json.dumps(exprs), json.dumps(list(hosts))],
            capture_output=True, text=True, timeout=120)
        if probe.returncode != 0:
            pytest.skip(f"private mount namespace unavailable: {probe.stderr.strip()[:200]}")
        return json.loads(probe.stdout)

    return etc, run


def _net_expr(number: int) -> str:
    """The explicit form of what libpcap generates for ``net NAME`` resolving to number."""
    mask = 0xFFFFFFFF
    while number and not number & 0xFF000000:
        number = (number << 8) & 0xFFFFFFFF
        mask = (mask << 8) & 0xFFFFFFFF
    return f"net {ipaddress.IPv4Address(number)} mask {ipaddress.IPv4Address(mask)}"


NET_NAMES = ["loopback", "ten", "tenalias", "TEN", "tenone", "tenonetwo", "hexy", "octal", "big",
             "mixed", "MIXED", "zero", "lowbyte", "nosuch"]
ETHER_NAMES = ["alpha", "ALPHA", "beta", "Beta", "gamma", "delta", "eps", "zeta", "nosuch"]
PROTO_NAMES = ["tcp", "TCP", "udp", "weird", "Weird", "w3", "octal", "badnum", "dup", "nosuch"]
PORT_NAMES = ["tcpish", "tcpalias", "udpish", "both", "bothalias", "split", "udpfirst",
              "hexport", "octport", "sctponly", "dupe", "Upper", "upper", "nosuch"]
RANGE_NAMES = ["tcpish-udpish", "both-tcpish", "udpish-octport", "split-both", "1-both",
               "both-2", "hexport-nosuch"]
HOST_NAMES = ["localhost", "ip6-localhost", "multi", "MULTI", "multi-alias", "linklocal"]


def test_crafted_databases_like_libpcap(crafted_etc):
    etc, run = crafted_etc
    exprs = ([f"net {n}" for n in NET_NAMES] + [f"ether host {n}" for n in ETHER_NAMES]
             + [f"ip proto \\{n}" for n in PROTO_NAMES] + [f"port {n}" for n in PORT_NAMES]
             + [f"portrange {n}" for n in RANGE_NAMES])
    got = run(exprs, HOST_NAMES)
    lib, hosts = got["bpf"], got["hosts"]
    explicit: dict[str, str] = {}
    failures = []
    for name in NET_NAMES:
        expr = f"net {name}"
        try:
            explicit[expr] = _net_expr(names.resolve_net(name, path=str(etc / "networks")))
        except LookupError:
            explicit[expr] = None
    for name in ETHER_NAMES:
        expr = f"ether host {name}"
        try:
            mac = names.resolve_ether(name, path=str(etc / "ethers"))
            explicit[expr] = "ether host " + ":".join(f"{b:02x}" for b in mac)
        except LookupError:
            explicit[expr] = None
    for name in PROTO_NAMES:
        expr = f"ip proto \\{name}"
        try:
            explicit[expr] = f"ip proto {names.resolve_proto(name, path=str(etc / 'protocols'))}"
        except LookupError:
            explicit[expr] = None
    qual = {None: "", names.IPPROTO_TCP: "tcp ", names.IPPROTO_UDP: "udp "}
    for name in PORT_NAMES:
        expr = f"port {name}"
        try:
            port, proto = names.resolve_port(name, path=str(etc / "services"))
            explicit[expr] = f"{qual[proto]}port {port}"
        except LookupError:
            explicit[expr] = None
    for name in RANGE_NAMES:
        expr = f"portrange {name}"
        try:
            lo, hi, proto = names.resolve_portrange(name, path=str(etc / "services"))
            explicit[expr] = f"{qual[proto]}portrange {lo}-{hi}"
        except LookupError:
            explicit[expr] = None
    for expr in exprs:
        theirs = lib[expr]
        ours = explicit[expr]
        if ours is None:
            if not isinstance(theirs, str) or "unknown" not in theirs:
                failures.append((expr, "we reject", theirs))
        elif isinstance(theirs, str):
            failures.append((expr, ours, theirs))
        elif [list(i) for i in bpf(ours)] != theirs:
            failures.append((expr, ours, "different program"))
    for name in HOST_NAMES:
        try:
            ours = sorted(str(a) for a in names.resolve_host(
                name, path=str(etc / "hosts"), use_resolver=False))
        except LookupError:
            ours = []
        if ours != hosts[name]:
            failures.append((name, ours, hosts[name]))
    assert failures == []
