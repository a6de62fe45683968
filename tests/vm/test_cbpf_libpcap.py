"""vm.cbpf.run against libpcap's own bpf_filter() (ctypes), on programs libpcap 1.10 compiled.

Default run: every other expression of tests.support.expressions x the 8 link types x every third
packet of the corpus, plus the accept_blocks corpus on a packet sample. ``-m exhaustive``: every
expression, optimized and unoptimized, x every packet.
"""

from __future__ import annotations

import ipaddress

import pytest

from tests.support.expressions import EXPRESSIONS, accept_corpus
from tests.support.oracle import LINKTYPES, LibpcapError, libpcap_compile, libpcap_run, libpcap_safe
from tests.support.packets import packets
from vm import cbpf


def _compare(rows, samples) -> list[str]:
    prog = cbpf.Program.from_tuples(rows)
    cbpf.validate(prog, "libpcap")
    assert libpcap_safe(rows)
    bad = []
    for sample in samples:
        want = libpcap_run(rows, sample.data, sample.wirelen)
        got = cbpf.run(prog, sample.data, sample.wirelen)
        if got != want:
            bad.append(f"{sample.name}: run={got} libpcap={want}")
    return bad


def _compile_or_skip(expr, linktype, **kw):
    try:
        return libpcap_compile(expr, linktype, **kw)
    except LibpcapError as err:
        pytest.skip(f"libpcap refuses {expr!r} on {linktype}: {err}")


def _check(expr, linktype, samples, **kw):
    rows = _compile_or_skip(expr, linktype, **kw)
    bad = _compare(rows, samples)
    assert (
        not bad
    ), f"{len(bad)} of {len(samples)} packets disagree for {expr!r} on {linktype}: " + "; ".join(
        bad[:5]
    )


# --- the project's expression corpus --------------------------------------------------------

DEFAULT_EXPRS = EXPRESSIONS[::2]


@pytest.mark.parametrize("linktype", LINKTYPES)
@pytest.mark.parametrize("expr", DEFAULT_EXPRS, ids=[repr(e) for e in DEFAULT_EXPRS])
def test_run_agrees_with_libpcap(expr, linktype):
    _check(expr, linktype, packets(linktype)[::3])


@pytest.mark.exhaustive
@pytest.mark.parametrize("optimize", [True, False], ids=["opt", "unopt"])
@pytest.mark.parametrize("linktype", LINKTYPES)
@pytest.mark.parametrize("expr", EXPRESSIONS, ids=[repr(e) for e in EXPRESSIONS])
def test_run_agrees_with_libpcap_exhaustive(expr, linktype, optimize):
    _check(expr, linktype, packets(linktype), optimize=optimize)


@pytest.mark.parametrize("snaplen", [1, 64, 65535])
@pytest.mark.parametrize("linktype", LINKTYPES)
def test_snaplen_is_the_return_value(linktype, snaplen):
    _check("ip or ip6 or arp or tcp", linktype, packets(linktype)[::5], snaplen=snaplen)


def test_expression_corpus_is_big_enough():
    assert len(EXPRESSIONS) >= 300
    assert len(DEFAULT_EXPRS) >= 200
    for linktype in LINKTYPES:
        assert len(packets(linktype)) >= 300, linktype
        assert any(len(s.data) < s.wirelen for s in packets(linktype)), linktype


# --- libpcap's own accept corpus ------------------------------------------------------------


def _accept_cases():
    out = []
    for block in accept_corpus():
        if block.get("DLT") not in LINKTYPES:
            continue
        for i, alias in enumerate(block.get("aliases", [])):
            if alias.startswith("_"):
                continue
            out.append(pytest.param(block, alias, id=f"{block['name']}[{i}]"))
    return out


ACCEPT_CASES = _accept_cases()


def _block_kw(block, optimize=True):
    kw = {"snaplen": int(block.get("snaplen") or 262144), "optimize": optimize}
    if block.get("netmask"):
        kw["netmask"] = int(ipaddress.IPv4Address(block["netmask"]))
    return kw


@pytest.mark.skipif(
    not ACCEPT_CASES, reason="../shared/conformance/libpcap/accept_blocks.json not found"
)
@pytest.mark.parametrize("block,expr", ACCEPT_CASES)
def test_accept_blocks_agree_with_libpcap(block, expr):
    linktype = block["DLT"]
    _check(expr, linktype, packets(linktype)[::4], **_block_kw(block))


@pytest.mark.exhaustive
@pytest.mark.skipif(
    not ACCEPT_CASES, reason="../shared/conformance/libpcap/accept_blocks.json not found"
)
@pytest.mark.parametrize("optimize", [True, False], ids=["opt", "unopt"])
@pytest.mark.parametrize("block,expr", ACCEPT_CASES)
def test_accept_blocks_agree_with_libpcap_exhaustive(block, expr, optimize):
    linktype = block["DLT"]
    _check(expr, linktype, packets(linktype), **_block_kw(block, optimize))


# --- hand-built programs for the interpreter's edge cases -----------------------------------


def S(code, k=0):
    return (code, 0, 0, k & 0xFFFFFFFF)


def J(code, k, jt, jf):
    return (code, jt, jf, k & 0xFFFFFFFF)


RET_A = S(0x16)
AD = cbpf.SKF_AD_OFF

EDGE_PROGRAMS = {
    "ret-k": [S(0x06, 1234)],
    "ret-k-max": [S(0x06, 0xFFFFFFFF)],
    "ld-w-abs": [S(0x20, 0), RET_A],
    "ld-h-abs-at-end": [S(0x28, 58), RET_A],
    "ld-b-abs-last": [S(0x30, 59), RET_A],
    "ld-w-abs-huge": [S(0x20, 0xFFFFFFFE), RET_A],
    "ld-h-abs-huge": [S(0x28, 0xFFFFFFFF), RET_A],
    "ld-ind": [S(0x01, 10), S(0x40, 4), RET_A],
    "ld-ind-x-wraps": [S(0x01, 0xFFFFFFFF), S(0x50, 2), RET_A],
    "ldh-ind-k-wraps": [S(0x01, 3), S(0x48, 0xFFFFFFFE), RET_A],
    "ldb-ind-past-end": [S(0x01, 60), S(0x50, 0), RET_A],
    "ldxb-msh": [S(0xB1, 14), S(0x87), RET_A],
    "ldxb-msh-past-end": [S(0xB1, 100), S(0x06, 1)],
    "ld-len": [S(0x80), RET_A],
    "ldx-len": [S(0x81), S(0x87), RET_A],
    "ld-imm": [S(0x00, 0xDEADBEEF), RET_A],
    "mem-roundtrip": [
        S(0x00, 7),
        S(0x02, 15),
        S(0x01, 9),
        S(0x03, 3),
        S(0x60, 3),
        S(0x61, 15),
        S(0x0C),
        RET_A,
    ],
    "add-wraps": [S(0x00, 0xFFFFFFFF), S(0x04, 2), RET_A],
    "sub-wraps": [S(0x00, 1), S(0x14, 2), RET_A],
    "mul-wraps": [S(0x00, 0x10001), S(0x24, 0x10001), RET_A],
    "div-k": [S(0x20, 0), S(0x34, 7), RET_A],
    "mod-k": [S(0x20, 0), S(0x94, 7), RET_A],
    "div-x-zero": [S(0x00, 5), S(0x01, 0), S(0x3C), S(0x06, 9)],
    "mod-x-zero": [S(0x00, 5), S(0x01, 0), S(0x9C), S(0x06, 9)],
    "div-x": [S(0x20, 2), S(0x01, 3), S(0x3C), RET_A],
    "mod-x": [S(0x20, 2), S(0x01, 3), S(0x9C), RET_A],
    "and-or-xor-k": [
        S(0x20, 0),
        S(0x54, 0xF0F0F0F0),
        S(0x44, 0x0000000F),
        S(0xA4, 0x12345678),
        RET_A,
    ],
    "and-or-xor-x": [
        S(0x20, 0),
        S(0x01, 0x0F0F0F0F),
        S(0x5C),
        S(0x01, 0x80000000),
        S(0x4C),
        S(0x01, 0xFFFF),
        S(0xAC),
        RET_A,
    ],
    "lsh-k": [S(0x20, 0), S(0x64, 31), RET_A],
    "rsh-k": [S(0x20, 0), S(0x74, 31), RET_A],
    "lsh-x-31": [S(0x20, 0), S(0x01, 31), S(0x6C), RET_A],
    "lsh-x-32": [S(0x20, 0), S(0x01, 32), S(0x6C), S(0x04, 1), RET_A],
    "rsh-x-33": [S(0x20, 0), S(0x01, 33), S(0x7C), S(0x04, 1), RET_A],
    "rsh-x-huge": [S(0x20, 0), S(0x01, 0xFFFFFFFF), S(0x7C), S(0x04, 1), RET_A],
    "neg": [S(0x30, 0), S(0x84), RET_A],
    "neg-zero": [S(0x00, 0), S(0x84), RET_A],
    "neg-int-min": [S(0x00, 0x80000000), S(0x84), RET_A],
    "tax-txa": [S(0x30, 1), S(0x07), S(0x00, 0), S(0x87), RET_A],
    "jeq-k": [S(0x30, 0), J(0x15, 0xFF, 0, 1), S(0x06, 1), S(0x06, 2)],
    "jgt-k": [S(0x30, 0), J(0x25, 0x10, 0, 1), S(0x06, 1), S(0x06, 2)],
    "jge-k": [S(0x30, 0), J(0x35, 0x45, 0, 1), S(0x06, 1), S(0x06, 2)],
    "jset-k": [S(0x30, 0), J(0x45, 0x01, 0, 1), S(0x06, 1), S(0x06, 2)],
    "jeq-x": [S(0x30, 0), S(0xB1, 0), J(0x1D, 0, 0, 1), S(0x06, 1), S(0x06, 2)],
    "jgt-x": [S(0x30, 1), S(0x01, 0x40), J(0x2D, 0, 0, 1), S(0x06, 1), S(0x06, 2)],
    "jge-x": [S(0x30, 1), S(0x01, 0x40), J(0x3D, 0, 0, 1), S(0x06, 1), S(0x06, 2)],
    "jset-x": [S(0x30, 1), S(0x01, 0x40), J(0x4D, 0, 0, 1), S(0x06, 1), S(0x06, 2)],
    "jgt-unsigned": [S(0x00, 0x80000000), J(0x25, 1, 0, 1), S(0x06, 1), S(0x06, 2)],
    "ja-forward": [S(0x05, 1), S(0x06, 1), S(0x06, 2)],
    "jt-jf-far": [J(0x15, 0, 255, 0)] + [S(0x06, i) for i in range(256)],
    "backward-ja-protochain-like": [
        S(0x01, 0),
        S(0x05, 2),
        S(0x87),
        S(0x06, 3),
        S(0x87),
        S(0x04, 1),
        S(0x07),
        J(0x25, 6, 0, 1),
        S(0x06, 7),
        S(0x05, 0xFFFFFFF8),
        S(0x06, 0),
    ],
    **{
        f"ancillary-{name}-{sz}": [S(code, AD + off), RET_A]
        for off, name in cbpf.ANCILLARY_NAMES.items()
        for sz, code in (("w", 0x20), ("h", 0x28), ("b", 0x30))
    },
    "net-off": [S(0x30, cbpf.SKF_NET_OFF), RET_A],
    "ll-off": [S(0x30, cbpf.SKF_LL_OFF), RET_A],
}

EDGE_PACKETS = [
    (b"", 0),
    (b"", 100),
    (b"\x45", 1),
    (bytes(range(60)), 60),
    (bytes(range(60)), 1500),
    (bytes(range(0x40, 0x7C)), 60),
    (bytes(range(14)), 90),
    (b"\xff" * 60, 60),
    (bytes(range(60))[:30], 60),
    (b"\x80" + bytes(59), 0xFFFFFFFF),
]


@pytest.mark.parametrize("rows", list(EDGE_PROGRAMS.values()), ids=list(EDGE_PROGRAMS))
def test_edge_programs_agree_with_libpcap(rows):
    assert libpcap_safe(rows)
    prog = cbpf.Program.from_tuples(rows)
    cbpf.validate(prog, "libpcap")
    for data, wirelen in EDGE_PACKETS:
        assert cbpf.run(prog, data, wirelen) == libpcap_run(rows, data, wirelen), (
            data.hex(),
            wirelen,
        )


def test_run_defaults_wirelen_to_len_packet():
    rows = [S(0x80), RET_A]
    for data in (b"", b"abc", bytes(1514)):
        assert (
            cbpf.run(cbpf.Program.from_tuples(rows), data) == libpcap_run(rows, data) == len(data)
        )


def test_run_accepts_tuples_and_bytes_like():
    rows = libpcap_compile("tcp port 80")
    pkt = next(s for s in packets("EN10MB") if s.name == "eth/ip4-tcp-dport80")
    assert cbpf.run(rows, bytearray(pkt.data)) == libpcap_run(rows, pkt.data) == 262144
    assert cbpf.run(cbpf.Program.from_tuples(rows), memoryview(pkt.data)) == 262144


def test_backward_ja_loop_is_cut_off():
    # libpcap 1.10 would spin forever on this; the interpreter stops after MAX_BACKWARD_JUMPS and
    # returns 0 as libpcap's current bpf_filter does.
    prog = cbpf.Program.from_tuples([S(0x00, 0), S(0x04, 1), S(0x05, 0xFFFFFFFD), RET_A])
    cbpf.validate(prog, "libpcap")
    assert cbpf.run(prog, b"") == 0
    with pytest.raises(cbpf.ValidationError, match="pc 2: jump out of range"):
        cbpf.validate(prog, "kernel")
