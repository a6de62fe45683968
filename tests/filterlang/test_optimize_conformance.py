"""filterlang.optimize on libpcap's own test programs (../shared/conformance, libpcap master).

accept_blocks.json holds, for 892 expressions over many link types, libpcap master's
unoptimized and optimized programs as ``tcpdump -d`` text. Every one of those programs (also
the ones libpcap 1.10 cannot compile, e.g. ``vxlan``) goes through our optimizer; libpcap's
bpf_filter then runs the input and our output on the same packets:
- strict mode (``keep_failing_loads=True``) must give the input's verdict on every packet;
- the default mode must give the input's verdict whenever the input accepts (it may accept
  more when a load past the end is dropped, as libpcap's optimizer does).
Sizes are compared with master's optimized programs (reported, and bounded loosely).
"""
from __future__ import annotations

import random
import re

import pytest

from filterlang.errors import FilterError
from filterlang.optimize import optimize
from tests.support.expressions import accept_corpus
from tests.support.oracle import LINKTYPES, libpcap_run, libpcap_safe, libpcap_validate
from tests.support.packets import packets
from vm.cbpf import Program

_LINE = re.compile(r"\((\d+)\)\s+(\S+)\s*(.*?)\s*(?:;.*)?$")
_ALU = {"add": 0x00, "sub": 0x10, "mul": 0x20, "div": 0x30, "or": 0x40, "and": 0x50,
        "lsh": 0x60, "rsh": 0x70, "mod": 0x90, "xor": 0xA0}
_JMP = {"jeq": 0x10, "jgt": 0x20, "jge": 0x30, "jset": 0x40}
_SIZE = {"ld": 0x00, "ldh": 0x08, "ldb": 0x10}


def _num(text: str) -> int:
    return int(text, 0)


def parse_image(text: str) -> list[tuple[int, int, int, int]] | None:
    """``tcpdump -d`` text -> rows; None for programs using Linux extension loads."""
    rows = []
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        pc, op, arg = int(m.group(1)), m.group(2), m.group(3).strip()
        assert pc == len(rows), line
        targets = re.findall(r"j[tf] (\d+)", arg)
        arg = re.sub(r"\s*jt \d+\s*jf \d+", "", arg).strip()
        if op in _SIZE:
            size = _SIZE[op]
            if arg == "#pktlen":
                rows.append((0x80, 0, 0, 0))
            elif arg.startswith("#"):
                rows.append((0x00, 0, 0, _num(arg[1:])))
            elif arg.startswith("M["):
                rows.append((0x60, 0, 0, _num(arg[2:-1])))
            elif arg.startswith("[x + "):
                rows.append((0x40 | size, 0, 0, _num(arg[5:-1])))
            elif re.fullmatch(r"\[\d+\]", arg):
                rows.append((0x20 | size, 0, 0, _num(arg[1:-1])))
            else:
                return None          # [vlanp], [ifidx], ...: Linux extensions
        elif op == "ldx":
            if arg == "#pktlen":
                rows.append((0x81, 0, 0, 0))
            elif arg.startswith("#"):
                rows.append((0x01, 0, 0, _num(arg[1:])))
            else:
                rows.append((0x61, 0, 0, _num(arg[2:-1])))
        elif op == "ldxb":
            rows.append((0xB1, 0, 0, _num(re.search(r"\[(\w+)\]", arg).group(1))))
        elif op in ("st", "stx"):
            rows.append((0x02 if op == "st" else 0x03, 0, 0, _num(arg[2:-1])))
        elif op in _ALU:
            if arg == "x":
                rows.append((0x0C | _ALU[op], 0, 0, 0))
            else:
                rows.append((0x04 | _ALU[op], 0, 0, _num(arg[1:])))
        elif op == "neg":
            rows.append((0x84, 0, 0, 0))
        elif op in _JMP:
            jt, jf = (int(t) - pc - 1 for t in targets)
            if arg == "x":
                rows.append((0x0D | _JMP[op], jt, jf, 0))
            else:
                rows.append((0x05 | _JMP[op], jt, jf, _num(arg[1:])))
        elif op == "ja":
            rows.append((0x05, 0, 0, (_num(arg) - pc - 1) & 0xFFFFFFFF))
        elif op == "ret":
            rows.append((0x16, 0, 0, 0) if arg in ("", "a") else (0x06, 0, 0, _num(arg[1:])))
        elif op == "tax":
            rows.append((0x07, 0, 0, 0))
        elif op == "txa":
            rows.append((0x87, 0, 0, 0))
        else:
            raise AssertionError(f"unknown mnemonic in {line!r}")
    return rows


def programs():
    """(id, dlt, kind, rows) for every parsable program of the accept corpus."""
    out = []
    for block in accept_corpus():
        for kind in ("unopt", "opt", "optunopt"):
            text = block.get(kind)
            if not text:
                continue
            rows = parse_image(text)
            if rows and libpcap_safe(rows):
                out.append((f"{block['name']}-{kind}", block["DLT"], kind, rows))
    return out


_PROGRAMS = programs()
if not _PROGRAMS:
    pytestmark = pytest.mark.skip(reason="conformance data (accept_blocks.json) not available")


def sample_packets(dlt: str, count: int, seed: int) -> list[bytes]:
    """Corpus packets of the link type (or Ethernet's), plus byte-flipped copies."""
    rng = random.Random(seed)
    base = [s.data for s in packets(dlt if dlt in LINKTYPES else "EN10MB")]
    picked = rng.sample(base, min(count, len(base)))
    flipped = []
    for data in picked[: count // 2]:
        buf = bytearray(data)
        for _ in range(3):
            if buf:
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        flipped.append(bytes(buf))
    noise = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120)))
             for _ in range(count // 4)]
    return picked + flipped + noise + [b"", bytes(64), b"\xff" * 64]


def _check(rows, dlt: str, count: int, seed: int):
    pkts = sample_packets(dlt, count, seed)
    want = [libpcap_run(rows, p) for p in pkts]
    prog = Program.from_tuples(rows)
    try:
        strict = optimize(prog, keep_failing_loads=True).to_tuples()
    except FilterError:
        strict = None
    if strict is None:
        assert not any(want)
    else:
        assert libpcap_validate(strict)
        assert [libpcap_run(strict, p) for p in pkts] == want
    try:
        pure = optimize(prog).to_tuples()
    except FilterError:
        pure = None
    if pure is None:
        assert not any(want)
        return None
    assert libpcap_validate(pure)
    got = [libpcap_run(pure, p) for p in pkts]
    assert all(g == w for g, w in zip(got, want) if w)
    return len(pure)


_DEFAULT = _PROGRAMS[::6]


@pytest.mark.parametrize("rows,dlt", [(p[3], p[1]) for p in _DEFAULT], ids=[p[0] for p in _DEFAULT])
def test_accept_corpus_programs(rows, dlt):
    _check(rows, dlt, 40, len(rows))


@pytest.mark.exhaustive
@pytest.mark.parametrize("rows,dlt", [(p[3], p[1]) for p in _PROGRAMS], ids=[p[0] for p in _PROGRAMS])
def test_accept_corpus_programs_exhaustive(rows, dlt):
    _check(rows, dlt, 200, len(rows) + 1)


def test_accept_corpus_sizes_against_master():
    """Optimizing master's unoptimized programs: in total no longer than master's optimizer."""
    opt_of: dict[str, int] = {}
    unopt_of: dict[str, list] = {}
    for name, _dlt, kind, rows in _PROGRAMS:
        base = name.rsplit("-", 1)[0]
        if kind == "opt":
            opt_of[base] = len(rows)
        elif kind == "unopt":
            unopt_of[base] = rows
        else:
            opt_of[base] = len(rows)
            unopt_of[base] = rows
    ours = theirs = 0
    for base, rows in unopt_of.items():
        if base not in opt_of:
            continue
        try:
            n = len(optimize(Program.from_tuples(rows)))
        except FilterError:
            continue
        ours += n
        theirs += opt_of[base]
    assert ours <= theirs


def _tunnel_packets():
    """VXLAN and Geneve packets, nested once, with the VNIs the corpus programs test."""
    scapy = pytest.importorskip("scapy.all")
    from scapy.contrib.geneve import GENEVE
    inner = [scapy.Ether() / scapy.ARP(), scapy.Ether() / scapy.IP() / scapy.TCP(),
             scapy.Ether() / scapy.IPv6() / scapy.UDP()]

    def vxlan(vni, payload):
        return (scapy.Ether() / scapy.IP() / scapy.UDP(sport=1234, dport=4789)
                / scapy.VXLAN(flags=0x08, vni=vni) / payload)

    def geneve(vni, payload):
        return (scapy.Ether() / scapy.IP() / scapy.UDP(sport=1234, dport=6081)
                / GENEVE(vni=vni, proto=0x6558) / payload)

    out = []
    for wrap in (vxlan, geneve):
        for vni in (12345, 7):
            for payload in inner:
                out.append(bytes(wrap(vni, payload)))
                out.append(bytes(wrap(vni, wrap(vni, payload))))
                out.append(bytes(wrap(vni, wrap(vni, payload)))[:60])
    return out


@pytest.mark.parametrize("name", ["vxlan_nullary-unopt", "vxlan_unary-unopt",
                                  "vxlan_and_vxlan-unopt", "geneve_nullary-optunopt",
                                  "geneve_unary-optunopt", "geneve_and_geneve-optunopt"])
def test_tunnel_programs_keep_their_offset_stores(name):
    """libpcap #1670/#1726: vxlan code keeps the inner offsets in M[]; a store the inner tests
    read must survive. Nested tunnels make the second header's tests read them."""
    found = [p for p in _PROGRAMS if p[0] == name]
    if not found:
        pytest.skip(f"{name} not in the accept corpus")
    rows = found[0][3]
    pkts = _tunnel_packets()
    want = [libpcap_run(rows, p) for p in pkts]
    assert any(want)
    for strict in (True, False):
        out = optimize(Program.from_tuples(rows), keep_failing_loads=strict).to_tuples()
        got = [libpcap_run(out, p) for p in pkts]
        if strict:
            assert got == want
        else:
            assert all(g == w for g, w in zip(got, want) if w)
