"""Program.format("d"/"dd"/"ddd") against the tcpdump binary and libpcap's bpf_image(); the
assembler reading that text (and bpf_asm-style source) back; round trips."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.expressions import EXPRESSIONS, accept_corpus
from tests.support.oracle import (
    LINKTYPES,
    LibpcapError,
    libpcap_compile,
    libpcap_image,
    libpcap_image_line,
    tcpdump_program,
)
from vm import cbpf
from vm.cbpf import AssembleError, Insn, Program, assemble

FMTS = ("d", "dd", "ddd")


def _tcpdump_or_skip(expr, linktype, fmt, **kw):
    try:
        return tcpdump_program(expr, linktype, fmt, **kw)
    except LibpcapError as err:
        pytest.skip(f"tcpdump refuses {expr!r} on {linktype}: {err}")


def _check_tcpdump(expr, linktype, fmt, optimize=True, snaplen=None):
    want = _tcpdump_or_skip(expr, linktype, fmt, optimize=optimize, snaplen=snaplen)
    rows = libpcap_compile(expr, linktype, optimize=optimize, snaplen=snaplen or 262144)
    prog = Program.from_tuples(rows)
    assert prog.format(fmt) == want
    # and the text reads back into the same program
    back = assemble(want)
    assert back == (prog.canonical() if fmt == "d" else prog)


# --- against the tcpdump binary -------------------------------------------------------------

D_EXPRS = EXPRESSIONS[::2]
OTHER_EXPRS = EXPRESSIONS[1::12]


@pytest.mark.parametrize("expr", D_EXPRS, ids=[repr(e) for e in D_EXPRS])
def test_d_matches_tcpdump_en10mb(tcpdump_binary, expr):
    _check_tcpdump(expr, "EN10MB", "d")


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("linktype", LINKTYPES)
@pytest.mark.parametrize("expr", OTHER_EXPRS, ids=[repr(e) for e in OTHER_EXPRS])
def test_formats_match_tcpdump_per_linktype(tcpdump_binary, expr, linktype, fmt):
    _check_tcpdump(expr, linktype, fmt)


@pytest.mark.parametrize(
    "expr",
    [
        "ip6 protochain 6",
        "tcp port 80",
        "vlan and ip",
        "len > 100",
        "inbound",
        "ifindex 3",
        "ip broadcast or ether multicast",
    ],
)
@pytest.mark.parametrize("linktype", LINKTYPES)
def test_unoptimized_and_snaplen_match_tcpdump(tcpdump_binary, expr, linktype):
    _check_tcpdump(expr, linktype, "d", optimize=False)
    _check_tcpdump(expr, linktype, "dd", snaplen=96)


@pytest.mark.exhaustive
@pytest.mark.parametrize("optimize", [True, False], ids=["opt", "unopt"])
@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("linktype", LINKTYPES)
@pytest.mark.parametrize("expr", EXPRESSIONS, ids=[repr(e) for e in EXPRESSIONS])
def test_formats_match_tcpdump_exhaustive(tcpdump_binary, expr, linktype, fmt, optimize):
    _check_tcpdump(expr, linktype, fmt, optimize=optimize)


# --- against libpcap's bpf_image(), one instruction at a time -------------------------------

K_SAMPLES = [
    0,
    1,
    5,
    15,
    255,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    cbpf.SKF_AD_OFF - 1,
    *[cbpf.SKF_AD_OFF + off for off in range(0, 68, 2)],
    cbpf.SKF_NET_OFF,
    cbpf.SKF_LL_OFF,
]


@pytest.mark.parametrize("code", range(256), ids=lambda c: f"0x{c:02x}")
def test_every_opcode_prints_like_bpf_image(code):
    rnd = random.Random(code)
    for k in K_SAMPLES + [rnd.getrandbits(32) for _ in range(4)]:
        for pc in (0, 7, 999, 1000, 4095):
            jt, jf = rnd.getrandbits(8), rnd.getrandbits(8)
            assert Insn(code, jt, jf, k).format(pc) == libpcap_image_line((code, jt, jf, k), pc)


@pytest.mark.exhaustive
def test_every_16bit_opcode_prints_like_bpf_image():
    rnd = random.Random(7)
    for code in range(0x10000):
        k = rnd.choice(K_SAMPLES)
        pc = rnd.choice((0, 5, 1000))
        assert Insn(code, 3, 4, k).format(pc) == libpcap_image_line((code, 3, 4, k), pc)


def test_image_block_of_the_conformance_corpus_reads_back():
    """libpcap master's "bpf_image" test block prints every opcode with its code in a comment;
    the assembler must turn each line back into that code (master prints 0x81 as ldx #pktlen)."""
    blocks = [b for b in accept_corpus() if b.get("name") == "bpf_image"]
    if not blocks:
        pytest.skip("accept_blocks.json not available")
    lines = [
        ln
        for ln in (blocks[0].get("unopt") or blocks[0].get("optunopt")).splitlines()
        if ln.strip()
    ]
    assert len(lines) > 40
    text = "\n".join(lines)  # with master's "; 0x<code>" annotations: the assembler skips them
    prog = assemble(text)
    for pc, (insn, ln) in enumerate(zip(prog, lines)):
        code = int(ln.split(";")[1], 16)
        assert insn.code == code, ln
        if cbpf.OPCODES[code].printed:
            assert insn.format(pc).rstrip() == ln.split(";")[0].rstrip(), ln


# --- round trips ----------------------------------------------------------------------------

RT_EXPRS = EXPRESSIONS[::3]


@pytest.mark.parametrize("linktype", LINKTYPES)
def test_round_trips_on_compiled_programs(linktype):
    seen = 0
    for expr in RT_EXPRS:
        for optimize in (True, False):
            try:
                rows = libpcap_compile(expr, linktype, optimize=optimize)
            except LibpcapError:
                continue
            prog = Program.from_tuples(rows)
            assert prog.to_tuples() == [tuple(r) for r in rows]
            assert Program.from_tuples(prog.to_tuples()) == prog
            assert assemble(prog.format("dd")) == prog
            assert assemble(prog.format("ddd")) == prog
            assert assemble(prog.format("d")) == prog.canonical()
            assert assemble(prog.canonical().format("d")) == prog.canonical()
            seen += 1
    assert seen > 50


raw_insns = st.builds(
    Insn,
    st.integers(0, 0xFFFF),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 0xFFFFFFFF),
)
known_insns = st.builds(
    Insn,
    st.sampled_from(sorted(cbpf.OPCODES)),
    st.integers(0, 255),
    st.integers(0, 255),
    st.one_of(st.integers(0, 0xFFFFFFFF), st.sampled_from(K_SAMPLES)),
)
programs = st.lists(st.one_of(raw_insns, known_insns, known_insns), min_size=1, max_size=40).map(
    Program
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_round_trips_on_random_programs(prog):
    assert assemble(prog.format("dd")) == prog
    assert assemble(prog.format("ddd")) == prog
    assert assemble(prog.format("d")) == prog.canonical()
    assert prog.format("d") == prog.canonical().format("d")
    assert Program.from_tuples(prog.to_tuples()) == prog


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_format_d_matches_bpf_image_on_random_programs(prog):
    assert prog.format("d") == libpcap_image(prog.to_tuples())


def test_format_rejects_unknown_style():
    with pytest.raises(ValueError):
        Program([Insn(6)]).format("x")


# --- bpf_asm-style source -------------------------------------------------------------------

ASM_CASES = [
    (
        "ip",
        """
        ; IPv4 over Ethernet
            ldh [12]
            jeq #0x800, accept, reject
        accept: ret #262144
        reject: ret #0
     """,
    ),
    (
        "arp or rarp",
        """
            ldh [12]
            jeq #0x806, yes
            jneq #0x8035, no
        yes: ret #262144
        no:  ret #0
     """,
    ),
    (
        "len > 100",
        """
            ld #len
            jle #100, drop      // jle is jgt with the targets swapped
            ret #262144
        drop:
            ret #0
     """,
    ),
    (
        "ip[0] & 0xf > 5",
        """
            ldh [12]
            jne #0x800, drop
            ldb [14]
            and #0xf
            jgt #5, keep, drop
        keep: ret #262144
        drop: ret #0
     """,
    ),
    (
        "tcp[13] & 2 != 0",
        """
            ldh [12]
            jeq #0x800, ipv4, drop
        ipv4:
            ldb [23]
            jne #6, drop
            ldh [20]
            jset #0x1fff, drop
            ldxb 4*([14]&0xf)
            ldb [x + 27]
            jset #0x2, keep, drop
        keep: ret #262144
        drop: ret #0
     """,
    ),
]


@pytest.mark.parametrize("expr,source", ASM_CASES, ids=[c[0] for c in ASM_CASES])
def test_bpf_asm_source_assembles_to_libpcap_program(expr, source):
    want = libpcap_compile(expr, "EN10MB", optimize=True)
    assert assemble(source).to_tuples() == want


def test_bpf_asm_mnemonics():
    prog = assemble("""
        ldi #7
        ldxi 3
        ld M[0]
        st M[1]
        stx M[2]
        ldx M[3]
        ld [x+4]
        ldh [%x + 2]
        ldb [x]
        ld #proto
        ldh #vlan_avail
        ldb [type]
        ldx #len
        add %x
        sub #-1
        lsh #2
        rsh x
        mod #3
        xor #0xff
        neg
        tax
        txa
        jmp end
        ja end
        jlt #4, end, end
        jge x, end
    end: ret a
    """)
    assert prog.to_tuples() == [
        (0x00, 0, 0, 7),
        (0x01, 0, 0, 3),
        (0x60, 0, 0, 0),
        (0x02, 0, 0, 1),
        (0x03, 0, 0, 2),
        (0x61, 0, 0, 3),
        (0x40, 0, 0, 4),
        (0x48, 0, 0, 2),
        (0x50, 0, 0, 0),
        (0x20, 0, 0, cbpf.SKF_AD_OFF),
        (0x28, 0, 0, cbpf.SKF_AD_OFF + 48),
        (0x30, 0, 0, cbpf.SKF_AD_OFF + 4),
        (0x81, 0, 0, 0),
        (0x0C, 0, 0, 0),
        (0x14, 0, 0, 0xFFFFFFFF),
        (0x64, 0, 0, 2),
        (0x7C, 0, 0, 0),
        (0x94, 0, 0, 3),
        (0xA4, 0, 0, 0xFF),
        (0x84, 0, 0, 0),
        (0x07, 0, 0, 0),
        (0x87, 0, 0, 0),
        (0x05, 0, 0, 3),
        (0x05, 0, 0, 2),
        (0x35, 1, 1, 4),
        (0x3D, 0, 0, 0),
        (0x16, 0, 0, 0),
    ]


BAD_SOURCES = [
    ("unknown mnemonic", "ld [12]\nfoo #1\nret #0", r"^line 2: unknown mnemonic 'foo'$"),
    ("unknown label", "jeq #1, nowhere\nret #0", r"^line 1: unknown label 'nowhere'$"),
    ("duplicate label", "a: ret #0\na: ret #1", r"^line 2: label 'a' defined twice$"),
    ("bad operand", "ld [x * 2]\nret #0", r"^line 1: bad operand"),
    (
        "far jump",
        "jeq #0, far\n" + "ret #0\n" * 300 + "far: ret #1",
        r"^line 1: conditional jump from 0 to 301 out of range$",
    ),
    (
        "backward cond",
        "top: ret #0\njeq #0, top",
        r"^line 2: conditional jump from 1 to 0 out of range$",
    ),
    ("bad number", "ret #0xZZ", r"^line 1: expected '#number'"),
    ("too big", "ld #0x100000000\nret a", r"^line 1: number 0x100000000 out of 32-bit range$"),
    ("empty", "  \n ", r"^line 1: no instructions$"),
    (
        "d numbering",
        "(000) ret      #0\n(002) ret      #1",
        r"^line 2: instruction number 2, expected 1$",
    ),
    ("dd garbage", "{ 0x6, 0, 0, 0x00000000 },\n{ 0x6, 0, 0 },", r"^line 2: expected"),
    ("ddd count", "2\n6 0 0 0", r"^line 1: count 2 does not match 1 instructions$"),
    ("ldb imm", "ldb #1\nret a", r"^line 1: ldb cannot load an immediate$"),
    ("st needs mem", "st [1]\nret a", r"^line 1: st needs M\[k\]"),
]


@pytest.mark.parametrize(
    "source,pattern", [c[1:] for c in BAD_SOURCES], ids=[c[0] for c in BAD_SOURCES]
)
def test_assembler_errors_name_the_line(source, pattern):
    with pytest.raises(AssembleError) as info:
        assemble(source)
    assert re.search(pattern, str(info.value)), str(info.value)
    assert "\n" not in str(info.value)
