"""filterlang.optimize against libpcap 1.10, independently of our own compiler.

The optimizer's input is libpcap's UNOPTIMIZED program (pcapy-ng, optimize=0); its output is
run with libpcap's own bpf_filter (ctypes) on the packet corpus and compared with:
- the unoptimized program, exactly, in strict mode (``keep_failing_loads=True``);
- libpcap's optimized program in the default mode, which like libpcap treats loads as pure (a
  load whose value is unused may go, so a truncated packet may pass): the verdict must be
  libpcap's, or the unoptimized one where libpcap's own optimizer changed the verdict.
Sizes are compared with libpcap's optimized programs, and "expression rejects all packets"
with libpcap's decision.
"""
from __future__ import annotations

import functools

import pytest

from filterlang.errors import FilterError
from filterlang.optimize import optimize
from tests.support.expressions import EXPRESSIONS, accept_expressions
from tests.support.oracle import (LINKTYPES, LibpcapError, libpcap_compile, libpcap_run,
                                  libpcap_validate)
from tests.support.packets import packets
from vm.cbpf import Insn, Program

pytest.importorskip("pcapy")

# Expressions libpcap 1.10 wrongly optimizes to "expression rejects all packets" (the same
# family as libpcap issue #1699): the unoptimized program accepts packets whose byte is 0.
LIBPCAP_WRONG_REJECTS = {
    ("RAW", "link[0:1] & 0xFFFFFFFF == 0"),
    ("RAW", "link[0:2] & 0xFFFFFFFF == 0"),
    ("RAW", "link[0:4] & 0xFFFFFFFF == 0"),
}

# The default run covers these; the exhaustive run covers every supported link type.
DEFAULT_SIZE_LINKTYPES = ("EN10MB", "RAW", "IPV6", "LINUX_SLL2")
DEFAULT_VERDICT_LINKTYPES = ("EN10MB",)


def corpus(linktype: str) -> list[str]:
    seen = dict.fromkeys(EXPRESSIONS)
    for _name, expr, _block in accept_expressions(linktype):
        seen.setdefault(expr)
    return list(seen)


def case(expr: str, linktype: str):
    """(unoptimized, libpcap optimized or None, libpcap says "rejects all") or None."""
    try:
        unopt = libpcap_compile(expr, linktype, optimize=False)
    except LibpcapError:
        return None
    try:
        return unopt, libpcap_compile(expr, linktype), False
    except LibpcapError as err:
        if "rejects all packets" not in err.message:
            return None
        return unopt, None, True


def ours(unopt, strict: bool = False):
    """Our optimized rows, or None for "expression rejects all packets"."""
    return _ours(tuple(unopt), strict)


@functools.lru_cache(maxsize=None)
def _ours(unopt: tuple, strict: bool):
    try:
        return optimize(Program.from_tuples(unopt), keep_failing_loads=strict).to_tuples()
    except FilterError as err:
        assert str(err) == "expression rejects all packets"
        return None


def verdicts(rows, samples):
    return [libpcap_run(rows, s.data, s.wirelen) for s in samples]


# --- size and "rejects all packets" ------------------------------------------------------------

def _size_params():
    return [pytest.param(lt, marks=() if lt in DEFAULT_SIZE_LINKTYPES else pytest.mark.exhaustive)
            for lt in LINKTYPES]


@pytest.mark.parametrize("linktype", _size_params())
def test_sizes_and_rejections_against_libpcap(linktype):
    total_ours = total_lib = 0
    too_long, reject_mismatch = [], []
    for expr in corpus(linktype):
        got = case(expr, linktype)
        if got is None:
            continue
        unopt, lib, lib_rejects = got
        mine = ours(unopt)
        if (mine is None) != lib_rejects and (linktype, expr) not in LIBPCAP_WRONG_REJECTS:
            reject_mismatch.append((expr, "we reject" if mine is None else "libpcap rejects"))
        if mine is None or lib is None:
            continue
        total_ours += len(mine)
        total_lib += len(lib)
        if len(mine) > len(lib) + 2:
            too_long.append((expr, len(mine), len(lib)))
    assert reject_mismatch == []
    assert too_long == []
    assert total_ours <= total_lib


# --- verdicts ---------------------------------------------------------------------------------

def _verdict_check(linktype: str, full: bool = True):
    samples = packets(linktype) if full else packets(linktype)[::2]
    strict_bad, default_bad = [], []
    agree = total = 0
    for expr in (corpus(linktype) if full else EXPRESSIONS):
        got = case(expr, linktype)
        if got is None:
            continue
        unopt, lib, _lib_rejects = got
        want = verdicts(unopt, samples)
        strict = ours(unopt, strict=True)
        if strict is not None:
            assert libpcap_validate(strict), expr
            if verdicts(strict, samples) != want:
                strict_bad.append(expr)
        elif any(want):
            strict_bad.append(expr)
        if lib is None or tuple(lib) == tuple(unopt):
            continue      # libpcap did not optimize it (protochain, geneve): nor will the compiler
        mine = ours(unopt)
        if mine is None:
            continue
        assert libpcap_validate(mine), expr
        for v_ours, v_lib, v_un, sample in zip(verdicts(mine, samples), verdicts(lib, samples),
                                              want, samples):
            total += 1
            agree += v_ours == v_lib
            if v_ours != v_lib and not (v_ours == v_un and v_lib != v_un):
                default_bad.append((expr, sample.name, v_ours, v_lib, v_un))
    return strict_bad, default_bad, agree, total


@pytest.mark.parametrize("linktype", DEFAULT_VERDICT_LINKTYPES)
def test_verdicts(linktype):
    """The project's expressions on every other packet (the exhaustive run does all of them
    and the accept corpus too)."""
    strict_bad, default_bad, agree, total = _verdict_check(linktype, full=False)
    assert strict_bad == []
    assert default_bad == []
    assert agree >= total * 0.999


@pytest.mark.exhaustive
@pytest.mark.parametrize("linktype", LINKTYPES)
def test_verdicts_all_linktypes(linktype):
    strict_bad, default_bad, agree, total = _verdict_check(linktype)
    assert strict_bad == []
    assert default_bad == []
    assert agree >= total * 0.999


# --- libpcap's optimizer bugs, not reproduced -------------------------------------------------

ISSUE_112 = ("(ip[12:4] = 0x0a0a0a0a or ip[16:4] = 0x0a0a0a0a) and "
             "(not ((ip[12:4] = 0x0a0a0a0b or ip[16:4] = 0x0a0a0a0b)))")

REGRESSIONS = [
    ("issue1699", "1/2=1/3&&1>4/5&&1>6/7", "EN10MB"),
    ("issue1699-variant", "1/2=1/3", "EN10MB"),
    ("issue112", ISSUE_112, "EN10MB"),
    ("issue112-raw", ISSUE_112, "RAW"),
    ("link-and-all-ones-1", "link[0:1] & 0xFFFFFFFF == 0", "RAW"),
    ("link-and-all-ones-4", "link[0:4] & 0xFFFFFFFF == 0", "RAW"),
]


@pytest.mark.parametrize("expr,linktype", [r[1:] for r in REGRESSIONS], ids=[r[0] for r in REGRESSIONS])
def test_libpcap_optimizer_bugs_not_reproduced(expr, linktype):
    unopt = libpcap_compile(expr, linktype, optimize=False)
    samples = packets(linktype)
    extra = [bytes(64), bytes([0x45]) + bytes(63), b"\x0a" * 64]
    want = verdicts(unopt, samples) + [libpcap_run(unopt, p) for p in extra]
    for strict in (False, True):
        mine = ours(unopt, strict)
        assert mine is not None, "the unoptimized program accepts some packets"
        got = verdicts(mine, samples) + [libpcap_run(mine, p) for p in extra]
        assert got == want


def test_issue1699_accepts_everything():
    mine = ours(libpcap_compile("1/2=1/3&&1>4/5&&1>6/7", "EN10MB", optimize=False))
    assert mine == [(0x06, 0, 0, 262144)]


# A program shaped like libpcap issues #1670/#1726 ("vxlan and arp", "vxlan and ip"): a block
# stores the inner offset in M[1], then ends in a test whose two branches meet; the block after
# the meeting point reads M[1]. The store must survive.
def _live_store_program():
    return Program([
        Insn(0x30, 0, 0, 0),          # 0: ldb [0]
        Insn(0x04, 0, 0, 8),          # 1: add #8
        Insn(0x02, 0, 0, 1),          # 2: st M[1]
        Insn(0x30, 0, 0, 1),          # 3: ldb [1]
        Insn(0x15, 1, 0, 7),          # 4: jeq #7 -> 6 / 5
        Insn(0x05, 0, 0, 0),          # 5: ja 6
        Insn(0x61, 0, 0, 1),          # 6: ldx M[1]
        Insn(0x50, 0, 0, 0),          # 7: ldb [x + 0]
        Insn(0x15, 0, 1, 0x2A),       # 8: jeq #0x2a -> 9 / 10
        Insn(0x06, 0, 0, 262144),     # 9: ret #262144
        Insn(0x06, 0, 0, 0),          # 10: ret #0
    ])


@pytest.mark.parametrize("first", [0, 1, 2, 5, 20])
def test_live_store_before_a_meeting_test_survives(first):
    prog = _live_store_program()
    rows = prog.to_tuples()
    mine = optimize(prog).to_tuples()
    for second in (0, 7, 9):
        for value in (0x2A, 0):
            pkt = bytearray(40)
            pkt[0], pkt[1] = first, second
            if first + 8 < len(pkt):
                pkt[first + 8] = value
            assert libpcap_run(mine, bytes(pkt)) == libpcap_run(rows, bytes(pkt))


@pytest.mark.parametrize("expr", ["vxlan and arp", "vxlan and ip", "vxlan and ip6",
                                  "vxlan 18 and arp"])
def test_vxlan_regressions_with_our_compiler(expr):
    """#1670/#1726 need vxlan (libpcap 1.11 syntax): the unoptimized program comes from our own
    compiler, the verdicts from libpcap's bpf_filter on both programs."""
    import filterlang
    try:
        unopt = filterlang.compile(expr, optimize=False)
    except (ImportError, NotImplementedError, AttributeError, FilterError) as err:
        pytest.skip(f"compiler not available for {expr!r}: {err}")
    scapy = pytest.importorskip("scapy.all")
    inner = [scapy.Ether() / scapy.ARP(), scapy.Ether() / scapy.IP(dst="10.1.2.4") / scapy.TCP(),
             scapy.Ether() / scapy.IPv6() / scapy.UDP()]
    samples = []
    for vni in (18, 5):
        for payload in inner:
            outer = (scapy.Ether() / scapy.IP() / scapy.UDP(sport=4789, dport=4789)
                     / scapy.VXLAN(flags=0x08, vni=vni) / payload)   # scapy's default is 0x0c
            samples.append(bytes(outer))
    rows = unopt.to_tuples()
    mine = optimize(unopt).to_tuples()
    want = [libpcap_run(rows, p) for p in samples]
    assert any(want)
    assert [libpcap_run(mine, p) for p in samples] == want


# --- structure ----------------------------------------------------------------------------------

@pytest.mark.parametrize("expr", ["ip protochain 6", "ip6 protochain 17", "protochain 6"])
def test_backward_jumps_come_back_unchanged(expr):
    unopt = libpcap_compile(expr, "EN10MB", optimize=False)
    prog = Program.from_tuples(unopt)
    assert optimize(prog) is prog


@pytest.mark.parametrize("rows", [
    [(0x06, 0, 0, 1), (0x06, 0, 0, 0)][:1],
    [(0x15, 0, 0, 1)],                          # runs off the end
    [(0x20, 0, 0, 0), (0xFF, 0, 0, 0), (0x06, 0, 0, 0)],     # unknown opcode
    [(0x15, 5, 0, 1), (0x06, 0, 0, 0)],          # jumps past the end
], ids=["ret-only", "off-the-end", "unknown-opcode", "past-the-end"])
def test_programs_it_does_not_understand_are_left_alone_or_valid(rows):
    prog = Program.from_tuples(rows)
    assert optimize(prog) == prog


@pytest.mark.parametrize("expr", ["ip and not ip", "tcp and udp", "ip and ip6", "1=2",
                                  "ip[0]=1 and ip[0]=2", "ether[12:2]=0x800 and ether[12:2]=0x806"])
def test_rejects_all_packets_like_libpcap(expr):
    with pytest.raises(LibpcapError, match="rejects all packets"):
        libpcap_compile(expr, "EN10MB")
    with pytest.raises(FilterError, match="^expression rejects all packets$"):
        optimize(Program.from_tuples(libpcap_compile(expr, "EN10MB", optimize=False)))


@pytest.mark.parametrize("count", [40, 90])
def test_long_jumps_get_a_ja(count):
    expr = " or ".join(f"host 10.0.{i // 200}.{i % 200 + 1}" for i in range(count))
    unopt = libpcap_compile(expr, "EN10MB", optimize=False)
    mine = ours(unopt)
    assert libpcap_validate(mine)
    assert all(jt <= 255 and jf <= 255 for _c, jt, jf, _k in mine)
    assert len(mine) <= len(libpcap_compile(expr, "EN10MB"))
    if count > 60:
        assert any(code == 0x05 for code, _jt, _jf, _k in mine)    # a ja was needed
    samples = packets("EN10MB")
    for v_ours, v_lib, v_un in zip(verdicts(mine, samples),
                                   verdicts(libpcap_compile(expr, "EN10MB"), samples),
                                   verdicts(unopt, samples)):
        assert v_ours == v_lib or v_ours == v_un != v_lib
    strict = ours(unopt, strict=True)
    assert all(jt <= 255 and jf <= 255 for _c, jt, jf, _k in strict)
    assert verdicts(strict, samples) == verdicts(unopt, samples)


# --- byte-identical output ------------------------------------------------------------------

SAME_AS_LIBPCAP = [
    "tcp port 80", "host 10.0.0.1", "port 80 or port 443", "tcp and port 80 or udp and port 53",
    "host 10.0.0.1 and host 10.0.0.2", "net 10.0.0.0/8", "icmp", "ip6 and tcp",
    "tcp[tcpflags] & tcp-syn != 0", "vlan 100 and tcp", "mpls 5 and ip", "pppoes and ip",
    "ether broadcast", "udp portrange 50-60", "not port 22",
    "src net 192.168.0.0/16 and dst port 53", "ip[0] & 0xf > 5",
    "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", "ip multicast",
    "ether host 00:11:22:33:44:55", "arp or rarp", "ip6 net 2001:db8::/32",
    "icmp6 and ip6[40] = 128", "less 100", "greater 1000", "ip proto 47", "vlan and vlan",
    "udp and not (port 53 or port 67 or port 68)",
    "host 10.0.0.1 or host 10.0.0.2 or host 8.8.8.8", "sctp port 2905", "ether[len - 1] = 0",
]


@pytest.mark.parametrize("linktype", ["EN10MB", "LINUX_SLL2", "RAW"])
@pytest.mark.parametrize("expr", SAME_AS_LIBPCAP)
def test_same_program_as_libpcap(expr, linktype):
    """Not required (verdicts are), but what `tcpdump -dd` prints should not change."""
    got = case(expr, linktype)
    if got is None or got[1] is None:
        pytest.skip("libpcap does not compile it for this link type")
    assert ours(got[0]) == got[1]
