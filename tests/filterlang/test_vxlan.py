"""``vxlan [vni]`` (libpcap 1.11 syntax; libpcap 1.10, the system library, has no vxlan).

Oracle: libpcap master's programs in ../shared/conformance/libpcap/accept_blocks.json (tcpdump
-d text), run by libpcap's own bpf_filter through ctypes. Our program, unoptimized and
optimized, must give the same verdict on every packet of the corpus (which carries VXLAN over
IPv4 and IPv6 on udp 4789, matching and other VNIs, truncated copies). Rejections come from
master's reject_tests.json, with master's wording."""
from __future__ import annotations

import functools
import json
import struct

import pytest

import filterlang
from tests.filterlang.test_differential_oracle import SUPPORTED, verdict_pair
from tests.support import expressions, packets
from tests.support.oracle import libpcap_run
from vm.cbpf import assemble

REJECT_TESTS = expressions.CONFORMANCE_DIR / "libpcap" / "reject_tests.json"
KEYS = (("unopt", False), ("opt", True), ("optunopt", False), ("optunopt", True))


def _accept_cases():
    out = []
    for block in expressions.accept_corpus():
        if block.get("DLT") not in SUPPORTED:
            continue
        for i, alias in enumerate(block.get("aliases", [])):
            if "vxlan" not in alias:
                continue
            for key, opt in KEYS:
                if key in block:
                    label = f"{block['name']}[{i}]-{key}-{'opt' if opt else 'unopt'}"
                    out.append(pytest.param(block, alias, key, opt, id=label))
    return out


@functools.lru_cache(maxsize=1)
def _reject_entries():
    if not REJECT_TESTS.is_file():
        return ()
    with REJECT_TESTS.open() as fh:
        data = json.load(fh)
    return tuple(e for e in data if e.get("DLT") in SUPPORTED and "vxlan" in e.get("expr", ""))


ACCEPT = _accept_cases()
REJECT = [pytest.param(e, id=e["name"]) for e in _reject_entries()]


@functools.lru_cache(maxsize=None)
def _corpus(linktype: str):
    return tuple(packets.packets(linktype))


def _vxlan_samples(linktype: str):
    return [s for s in _corpus(linktype) if "vxlan" in s.name]


def test_corpus_present():
    if not ACCEPT:
        pytest.skip("accept_blocks.json not found")
    assert len(ACCEPT) >= 6
    assert len(_vxlan_samples("EN10MB")) >= 4


@pytest.mark.parametrize("block, alias, key, opt", ACCEPT)
def test_verdicts_match_libpcap_master(block, alias, key, opt):
    linktype = block["DLT"]
    snaplen = int(block.get("snaplen", 262144))
    theirs = assemble(block[key]).to_tuples()
    mine = filterlang.compile(alias, linktype, snaplen, opt).to_tuples()
    samples = [(s.name, s.data, s.wirelen) for s in _corpus(linktype)]
    if linktype == "EN10MB":
        samples += _extra_samples()
    accepted = 0
    for name, data, wirelen in samples:
        want, got = verdict_pair(theirs, mine, data, wirelen)
        assert got == want, f"{name}: filterlang {got}, libpcap master {want}"
        accepted += bool(want)
    # the comparison means something only if master's program accepts some of the corpus
    assert accepted > 0


@pytest.mark.parametrize("entry", REJECT)
def test_rejects_like_libpcap_master(entry):
    if any(word in entry["expr"] for word in (".test", ".invalid", "nosuch")):
        pytest.skip("needs a failing name lookup: test_reject's exhaustive run covers it")
    with pytest.raises(filterlang.FilterError) as err:
        filterlang.compile(entry["expr"], entry["DLT"], 262144, True)
    assert entry["errstr"] in err.value.message
    assert err.value.span is not None


def _eth(ethertype: int, payload: bytes) -> bytes:
    return (b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"
            + struct.pack("!H", ethertype) + payload)


def _ipv4(dst: str, payload: bytes, proto: int = 17) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                       bytes([192, 0, 2, 1]), bytes(map(int, dst.split(".")))) + payload


def _ipv6(payload: bytes) -> bytes:
    return (struct.pack("!IHBB", 0x60000000, len(payload), 17, 64)
            + bytes(15) + b"\x01" + bytes(15) + b"\x02" + payload)


def _udp(dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", 5555, dport, 8 + len(payload), 0) + payload


def _vxlan(vni: int, inner: bytes, flags: int = 0x08) -> bytes:
    return _udp(4789, struct.pack("!II", flags << 24, vni << 8) + inner)


def _inner_sample(vni: int, inner_dst: str) -> bytes:
    """Ethernet/IPv4/UDP 4789/VXLAN(vni)/Ethernet/IPv4 to inner_dst/UDP 53, built by hand."""
    inner = _eth(0x0800, _ipv4(inner_dst, _udp(53, b"x" * 12)))
    return _eth(0x0800, _ipv4("192.0.2.2", _vxlan(vni, inner)))


@functools.lru_cache(maxsize=1)
def _extra_samples() -> tuple:
    """Hand-built EN10MB frames the corpus lacks: master's VNI 12345, VXLAN in VXLAN, VXLAN
    over IPv6, a wrong flags byte, and truncated copies."""
    out = []
    for vni in (12345, 7):
        inner = _eth(0x0800, _ipv4("10.0.0.1", _udp(53, b"q" * 8)))
        nested = _eth(0x0800, _ipv4("10.0.0.3", _vxlan(vni, inner)))
        for flags in (0x08, 0x0C):
            out.append(_eth(0x0800, _ipv4("192.0.2.2", _vxlan(vni, inner, flags))))
            out.append(_eth(0x0800, _ipv4("192.0.2.2", _vxlan(vni, nested, flags))))
            out.append(_eth(0x86DD, _ipv6(_vxlan(vni, inner, flags))))
            out.append(_eth(0x86DD, _ipv6(_vxlan(vni, _eth(0x86DD, _ipv6(_vxlan(vni, inner)))))))
    for frame in list(out):
        for cut in (40, 50, 60, 80):
            out.append(frame[:cut])
    return tuple((f"extra{i}", f, len(f)) for i, f in enumerate(out))


@pytest.mark.parametrize("expr, vni, inner_dst, want", [
    ("vxlan and ip host 10.0.0.1", 7, "10.0.0.1", True),
    ("vxlan and ip host 10.0.0.1", 7, "10.0.0.2", False),
    ("vxlan 7 and udp port 53", 7, "10.0.0.1", True),
    ("vxlan 8 and udp port 53", 7, "10.0.0.1", False),
    ("vxlan and host 192.0.2.2", 7, "10.0.0.1", False),     # the outer address is not seen
    ("host 192.0.2.2 and vxlan and host 10.0.0.1", 7, "10.0.0.1", True),
], ids=str)
def test_later_tests_look_inside(expr, vni, inner_dst, want):
    """Inner-packet semantics, judged by libpcap's bpf_filter running our program against a
    hand-built packet (libpcap 1.10 cannot compile these; the expectation is RFC 7348's
    layout: 8-byte VXLAN header, then the inner Ethernet frame)."""
    pkt = _inner_sample(vni, inner_dst)
    for opt in (False, True):
        rows = filterlang.compile(expr, "EN10MB", 262144, opt).to_tuples()
        assert bool(libpcap_run(rows, pkt)) is want


# --- inner semantics against libpcap 1.10 run on the inner frame ----------------------------
# "vxlan and (X)" on a VXLAN-wrapped frame must equal libpcap 1.10's "X" on the frame itself.
# Expressions whose meaning depends on the whole packet (len, less, greater), that need the
# capture-side direction, or that we refuse inside a tunnel are left out.
_WHOLE_PACKET = ("len", "less", "greater", "inbound", "outbound", "ifindex")


def _inner_cases(limit=None):
    out = []
    for expr in expressions.EXPRESSIONS:
        if not isinstance(expr, str) or not expr.strip():
            continue
        if any(word in expr for word in _WHOLE_PACKET):
            continue
        out.append(expr)
    return out if limit is None else out[::limit]


def _wrap(frame: bytes, vni: int, v6: bool) -> bytes:
    payload = _vxlan(vni, frame)
    return _eth(0x86DD, _ipv6(payload)) if v6 else _eth(0x0800, _ipv4("192.0.2.2", payload))


def _check_inner(expr: str, frames):
    from tests.filterlang.test_differential_oracle import OracleError, libpcap_compile
    try:
        theirs = libpcap_compile(expr, "EN10MB", 262144, False, 0)
    except OracleError:
        pytest.skip("libpcap 1.10 rejects it")
    try:
        progs = [filterlang.compile(f"vxlan and ({expr})", "EN10MB", 262144, opt).to_tuples()
                 for opt in (False, True)]
    except filterlang.FilterError as exc:
        pytest.skip(f"refused inside VXLAN: {exc.message}")
    for name, frame in frames:
        want = bool(libpcap_run(theirs, frame))
        for v6 in (False, True):
            pkt = _wrap(frame, 99, v6)
            for rows in progs:
                assert bool(libpcap_run(rows, pkt)) is want, f"{name} (outer IPv6: {v6})"


@pytest.mark.parametrize("expr", _inner_cases(limit=12))
def test_inner_frame_like_libpcap_on_the_frame(expr):
    _check_inner(expr, packets.ethernet_frames()[::3])


@pytest.mark.exhaustive
@pytest.mark.parametrize("expr", _inner_cases())
def test_inner_frame_like_libpcap_on_the_frame_every_expression(expr):
    _check_inner(expr, packets.ethernet_frames())
