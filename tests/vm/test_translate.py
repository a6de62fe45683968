"""vm.translate: cBPF -> eBPF the way Linux converts socket filters.

Oracles: libpcap compiles the programs (pcapy-ng) and runs them (bpf_filter via ctypes); the
Linux kernel loads the translation as a BPF_PROG_TYPE_SOCKET_FILTER (its verifier must accept
it) and runs it with BPF_PROG_TEST_RUN. On every corpus packet libpcap, vm.cbpf.run,
vm.interp.run (on the translation) and the kernel must return the same value. The kernel sees
``len == len(data)``, so it is compared with libpcap run with ``wirelen = len(data)``.
"""
from __future__ import annotations

import functools
import struct

import pytest

from tests.support.expressions import EXPRESSIONS
from tests.support.oracle import LINKTYPES, LibpcapError, libpcap_compile, libpcap_run
from tests.support.packets import packets
from vm import cbpf, interp, kernel, translate, verifier

pytest.importorskip("pcapy", reason="pcapy-ng not installed")

KERNEL_OK, KERNEL_WHY = kernel.available()
needs_kernel = [pytest.mark.kernel,
                pytest.mark.skipif(not KERNEL_OK, reason=f"bpf(2) unavailable: {KERNEL_WHY}")]

SKF_AD_OFF = 0xFFFFF000            # SKF_AD_OFF (-0x1000) as an unsigned k


def S(code, k=0):
    return (code, 0, 0, k & 0xFFFFFFFF)


def J(code, k, jt, jf):
    return (code, jt, jf, k & 0xFFFFFFFF)


RET_A = S(0x16)


@functools.lru_cache(maxsize=None)
def _compiled(expr, linktype, optimize):
    try:
        rows = tuple(libpcap_compile(expr, linktype, optimize=optimize))
    except LibpcapError as err:
        return None, str(err)
    return rows, translate.translate(cbpf.Program.from_tuples(rows))


def _compile_or_skip(expr, linktype, optimize=True):
    rows, tr = _compiled(expr, linktype, optimize)
    if rows is None:
        pytest.skip(f"libpcap refuses {expr!r} on {linktype}: {tr}")
    return rows, tr


def _check_userland(rows, tr, samples):
    """The translation verifies; cbpf.run == interp.run(translation) == libpcap on every packet."""
    verifier.verify(tr.program)
    prog = cbpf.Program.from_tuples(rows)
    bad = []
    for s in samples:
        want = libpcap_run(rows, s.data, s.wirelen)
        got_c = cbpf.run(prog, s.data, s.wirelen)
        got_e = interp.run(tr.program, s.data, s.wirelen)
        if not want == got_c == got_e:
            bad.append(f"{s.name}: libpcap={want} cbpf={got_c} ebpf={got_e}")
    return bad


def _check_kernel(rows, tr, samples):
    """The kernel accepts the translation and agrees with libpcap (wirelen = captured length)."""
    fd = kernel.load_socket_filter(tr.program)
    bad = []
    try:
        for s in samples:
            want = libpcap_run(rows, s.data, len(s.data))
            got = kernel.test_run_packet(fd, s.data)
            if got != want:
                bad.append(f"{s.name}: libpcap={want} kernel={got}")
    finally:
        kernel.close(fd)
    return bad


# --- differential: the expression corpus ---------------------------------------------------

DEFAULT_EXPRS = EXPRESSIONS[::3]
OTHER_LINKTYPES = [lt for lt in LINKTYPES if lt != "EN10MB"]


@pytest.mark.parametrize("expr", DEFAULT_EXPRS, ids=[repr(e) for e in DEFAULT_EXPRS])
def test_translation_agrees_with_libpcap(expr):
    rows, tr = _compile_or_skip(expr, "EN10MB")
    bad = _check_userland(rows, tr, packets("EN10MB")[::2])
    assert not bad, f"{len(bad)} packets disagree for {expr!r}: " + "; ".join(bad[:5])


KERNEL_CASES = ([(e, "EN10MB", True) for e in DEFAULT_EXPRS]
                + [(e, lt, False) for e in EXPRESSIONS[1::12] for lt in ("EN10MB", "LINUX_SLL", "RAW")])


@pytest.mark.kernel
@pytest.mark.parametrize("expr,linktype,optimize", KERNEL_CASES,
                         ids=[f"{e!r}-{lt}-{'opt' if o else 'unopt'}" for e, lt, o in KERNEL_CASES])
def test_translation_agrees_with_kernel(expr, linktype, optimize):
    if not KERNEL_OK:
        pytest.skip(f"bpf(2) unavailable: {KERNEL_WHY}")
    rows, tr = _compile_or_skip(expr, linktype, optimize)
    verifier.verify(tr.program)
    bad = _check_kernel(rows, tr, packets(linktype))
    assert not bad, f"{len(bad)} packets disagree for {expr!r} on {linktype}: " + "; ".join(bad[:5])


@pytest.mark.exhaustive
@pytest.mark.parametrize("expr", EXPRESSIONS, ids=[repr(e) for e in EXPRESSIONS])
def test_translation_agrees_exhaustive(expr):
    """Every expression x every link type x optimized/unoptimized x every corpus packet."""
    bad = []
    for linktype in LINKTYPES:
        samples = packets(linktype)
        for optimize in (True, False):
            rows, tr = _compiled(expr, linktype, optimize)
            if rows is None:
                continue
            found = _check_userland(rows, tr, samples)
            if KERNEL_OK:
                found += _check_kernel(rows, tr, samples)
            bad += [f"{linktype}/{'opt' if optimize else 'unopt'} {b}" for b in found]
    assert not bad, f"{len(bad)} disagreements for {expr!r}: " + "; ".join(bad[:5])


def test_default_sample_covers_the_corpus():
    assert len(DEFAULT_EXPRS) >= 100
    assert any("protochain" in e for e in DEFAULT_EXPRS)


# --- the kernel's conversion rules, instruction by instruction -----------------------------

def _body(rows):
    """The translated instructions for cBPF pc 0 (after the prologue)."""
    tr = translate.translate(cbpf.Program.from_tuples(list(rows)))
    end = tr.ebpf_pc(1) if len(rows) > 1 and tr.ebpf_pc(1) is not None else len(tr.program)
    return [(i.opcode, i.dst, i.src, i.off, i.imm) for i in tr.program.insns[tr.ebpf_pc(0):end]]


RETS = [S(0x06, 1), S(0x06, 0)]

# id, cBPF rows (pc 0 is the instruction under test), expected eBPF for pc 0:
# (opcode, dst, src, off, imm) as bpf_convert_filter() emits it (A = r0, X = r7, tmp = r2).
SHAPES = [
    ("jeq-jf-next", [J(0x15, 7, 1, 0)] + RETS, [(0x15, 0, 0, 2, 7)]),
    ("jeq-jt-next-inverts-to-jne", [J(0x15, 7, 0, 1)] + RETS, [(0x55, 0, 0, 2, 7)]),
    ("jgt-jt-next-inverts-to-jle", [J(0x25, 7, 0, 1)] + RETS, [(0xB5, 0, 0, 2, 7)]),
    ("jge-jt-next-inverts-to-jlt", [J(0x35, 7, 0, 1)] + RETS, [(0xA5, 0, 0, 2, 7)]),
    ("jset-jt-next-needs-ja", [J(0x45, 7, 0, 1)] + RETS, [(0x45, 0, 0, 1, 7), (0x05, 0, 0, 2, 0)]),
    ("jeq-x", [J(0x1D, 0, 1, 0)] + RETS, [(0x1D, 0, 7, 2, 0)]),
    ("negative-k-goes-through-tmp", [J(0x15, 0x80000000, 1, 0)] + RETS,
     [(0xB4, 2, 0, 0, -0x80000000), (0x1D, 0, 2, 2, 0)]),
    ("div-x-guards-zero", [S(0x3C), RET_A], [(0x55, 7, 0, 2, 0), (0xAC, 0, 0, 0, 0), (0x95, 0, 0, 0, 0),
                                             (0x3C, 0, 7, 0, 0)]),
    ("mod-x-guards-zero", [S(0x9C), RET_A], [(0x55, 7, 0, 2, 0), (0xAC, 0, 0, 0, 0), (0x95, 0, 0, 0, 0),
                                             (0x9C, 0, 7, 0, 0)]),
    ("add-k", [S(0x04, 5), RET_A], [(0x04, 0, 0, 0, 5)]),
    ("neg", [S(0x84), RET_A], [(0x84, 0, 0, 0, 0)]),
    ("ld-imm", [S(0x00, 9), RET_A], [(0xB4, 0, 0, 0, 9)]),
    ("ldx-imm", [S(0x01, 9), RET_A], [(0xB4, 7, 0, 0, 9)]),
    ("ld-abs-h", [S(0x28, 12), RET_A], [(0x28, 0, 0, 0, 12)]),
    ("ld-ind-b", [S(0x50, 14), RET_A], [(0x50, 0, 7, 0, 14)]),
    ("ld-len", [S(0x80), RET_A], [(0x61, 0, 6, 0, 0)]),
    ("ldx-len", [S(0x81), RET_A], [(0x61, 7, 6, 0, 0)]),
    ("st-m3", [S(0x02, 3), RET_A], [(0x63, 10, 0, -52, 0)]),
    ("stx-m15", [S(0x03, 15), RET_A], [(0x63, 10, 7, -4, 0)]),
    ("tax", [S(0x07), RET_A], [(0xBF, 7, 0, 0, 0)]),
    ("txa", [S(0x87), RET_A], [(0xBF, 0, 7, 0, 0)]),
    ("ret-k", [S(0x06, 96)], [(0xB4, 0, 0, 0, 96), (0x95, 0, 0, 0, 0)]),
    ("ret-a", [RET_A], [(0x95, 0, 0, 0, 0)]),
    ("ldx-msh", [S(0xB1, 14), RET_A], [(0xBF, 7, 0, 0, 0), (0x30, 0, 0, 0, 14), (0x54, 0, 0, 0, 15),
                                       (0x64, 0, 0, 0, 2), (0xBF, 2, 7, 0, 0), (0xBF, 7, 0, 0, 0),
                                       (0xBF, 0, 2, 0, 0)]),
    ("ancillary-protocol", [S(0x28, SKF_AD_OFF + 0), RET_A], [(0x61, 0, 6, 16, 0), (0xDC, 0, 0, 0, 16)]),
    ("ancillary-alu-xor-x", [S(0x20, SKF_AD_OFF + 40), RET_A], [(0xAC, 0, 7, 0, 0)]),
]


@pytest.mark.parametrize("rows,expected", [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_conversion_follows_the_kernel(rows, expected):
    assert _body(rows) == expected


def test_prologue_zeroes_a_and_x_and_saves_ctx():
    tr = translate.translate(cbpf.Program.from_tuples([RET_A]))
    head = [(i.opcode, i.dst, i.src, i.imm) for i in tr.program.insns[:3]]
    assert head == [(0xB4, 0, 0, 0), (0xB4, 7, 0, 0), (0xBF, 6, 1, 0)]
    assert tr.cbpf_pc(0) == -1 and tr.cbpf_pc(3) == 0


def test_pc_mapping_round_trips():
    rows, tr = _compile_or_skip("tcp port 80 or udp port 53", "EN10MB")
    for cpc in range(len(rows)):
        epc = tr.ebpf_pc(cpc)
        assert epc is not None and tr.cbpf_pc(epc) == cpc
    assert len(tr.origin) == len(tr.program)


# --- values the kernel computes: run the translation in the kernel -----------------------

PKT = bytes(range(7, 7 + 60))


def _kernel_run(rows, packet):
    tr = translate.translate(cbpf.Program.from_tuples(rows))
    verifier.verify(tr.program)
    fd = kernel.load_socket_filter(tr.program)
    try:
        return kernel.test_run_packet(fd, packet)
    finally:
        kernel.close(fd)


# id, cBPF rows, packet: libpcap's answer (wirelen = len(packet)) is the expected value
LIBPCAP_CASES = [
    ("div-by-x-zero-returns-0", [S(0x01, 0), S(0x00, 5), S(0x3C), S(0x06, 9)], PKT),
    ("mod-by-x-zero-returns-0", [S(0x01, 0), S(0x00, 5), S(0x9C), S(0x06, 9)], PKT),
    ("div-by-x", [S(0x01, 3), S(0x20, 0), S(0x3C), RET_A], PKT),
    ("mod-by-x", [S(0x01, 7), S(0x20, 4), S(0x9C), RET_A], PKT),
    ("jgt-k-above-2^31", [S(0x00, 0x90000000), J(0x25, 0x80000000, 0, 1), S(0x06, 1), S(0x06, 2)], PKT),
    ("jset-k-above-2^31", [S(0x00, 0x80000001), J(0x45, 0x80000000, 0, 1), S(0x06, 1), S(0x06, 2)], PKT),
    ("jge-x", [S(0x01, 8), S(0x30, 1), J(0x3D, 0, 0, 1), S(0x06, 1), S(0x06, 2)], PKT),
    ("ld-abs-out-of-bounds", [S(0x20, 58), S(0x06, 1)], PKT),
    ("ld-ind-out-of-bounds", [S(0x01, 50), S(0x48, 9), S(0x06, 1)], PKT),
    ("ldx-msh", [S(0xB1, 3), S(0x87), RET_A], PKT),
    ("ldx-msh-keeps-a", [S(0x00, 77), S(0xB1, 3), RET_A], PKT),
    ("scratch-memory", [S(0x00, 5), S(0x02, 0), S(0x01, 9), S(0x03, 15), S(0x60, 0), S(0x0C), S(0x61, 15),
                        S(0x0C), RET_A], PKT),
    ("len", [S(0x80), RET_A], PKT),
    ("ldx-len", [S(0x81), S(0x87), RET_A], PKT),
    ("neg-and-shifts", [S(0x20, 0), S(0x84), S(0x74, 3), S(0x64, 1), S(0x01, 5), S(0x6C), S(0x7C), RET_A], PKT),
    ("alu-x-ops", [S(0x20, 4), S(0x01, 0x0F0F0F0F), S(0x5C), S(0x4C), S(0xAC), S(0x1C), S(0x2C), RET_A], PKT),
    ("dead-code-is-dropped", [S(0x06, 3), S(0x00, 1), RET_A], PKT),
    ("ret-zero", [S(0x06, 0)], PKT),
    ("empty-packet", [S(0x80), S(0x04, 1), RET_A], b""),
]


@pytest.mark.parametrize("rows,packet", [c[1:] for c in LIBPCAP_CASES], ids=[c[0] for c in LIBPCAP_CASES])
def test_kernel_semantics_match_libpcap(rows, packet):
    want = libpcap_run(rows, packet, len(packet))
    prog = translate.to_ebpf(cbpf.Program.from_tuples(rows))
    assert interp.run(prog, packet) == want
    assert cbpf.run(cbpf.Program.from_tuples(rows), packet) == want
    if not KERNEL_OK:
        pytest.skip(f"kernel part: bpf(2) unavailable: {KERNEL_WHY}")
    assert _kernel_run(rows, packet) == want


def test_ld_ind_offset_wraps_like_the_kernel():
    # The kernel adds X and k in 64 bits and passes the sum to its load helper as an int, so
    # X + k wraps at 2**32 (libpcap's bpf_filter refuses the overflow and returns 0 instead).
    # The translation follows the kernel; libpcap-generated programs never get near this.
    rows = [S(0x01, 0xFFFFFFF0), S(0x50, 0x20), RET_A]
    eprog = translate.to_ebpf(cbpf.Program.from_tuples(rows))
    assert libpcap_run(rows, PKT) == 0
    assert interp.run(eprog, PKT) == PKT[0x10]
    if KERNEL_OK:
        assert _kernel_run(rows, PKT) == PKT[0x10]


@pytest.mark.parametrize("k,expected", [
    (0, 0x88B5),               # SKF_AD_PROTOCOL: test_run_packet's dummy EtherType
    (4, 0),                    # SKF_AD_PKTTYPE: PACKET_HOST
    (20, 0),                   # SKF_AD_MARK
    (44, 0),                   # SKF_AD_VLAN_TAG
    (48, 0),                   # SKF_AD_VLAN_TAG_PRESENT
], ids=["protocol", "pkttype", "mark", "vlan_tci", "vlan_present"])
@pytest.mark.parametrize("_", [pytest.param(None, marks=needs_kernel)], ids=[""])
def test_ancillary_loads_in_kernel(k, expected, _):
    assert _kernel_run([S(0x20, SKF_AD_OFF + k), RET_A], PKT) == expected


@pytest.mark.parametrize("_", [pytest.param(None, marks=needs_kernel)], ids=[""])
def test_ancillary_helpers_load_and_run(_):
    import os
    for k in (36, 56):              # SKF_AD_CPU, SKF_AD_RANDOM: helper calls
        got = _kernel_run([S(0x20, SKF_AD_OFF + k), RET_A], PKT)
        if k == 36:
            assert 0 <= got < (os.cpu_count() or 1024)
    # A ^= X
    assert _kernel_run([S(0x00, 0x1234), S(0x01, 0xFF), S(0x20, SKF_AD_OFF + 40), RET_A], PKT) == 0x1234 ^ 0xFF


@pytest.mark.parametrize("k,name", [(28, "hatype"), (52, "pay_offset"), (12, "nlattr"),
                                    (16, "nlattr_nest")], ids=lambda v: str(v))
def test_ancillary_loads_without_socket_filter_equivalent_are_refused(k, name):
    rows = [S(0x00, 1), S(0x20, SKF_AD_OFF + k), RET_A]
    with pytest.raises(translate.TranslateError, match=rf"pc 1: ancillary load '{name}'"):
        translate.to_ebpf(cbpf.Program.from_tuples(rows))


# id, rows, error
BAD_PROGRAMS = [
    ("empty", [], "pc 0: empty program"),
    ("jump-out", [J(0x15, 1, 5, 0), RET_A], r"pc 0: jump out of range"),
    ("div-by-const-0", [S(0x34, 0), RET_A], r"pc 0: division by constant zero"),
    ("shift-too-far", [S(0x64, 32), RET_A], r"pc 0: shift by 32"),
    ("bad-mem-index", [S(0x02, 16), RET_A], r"pc 0: scratch memory index 16"),
    ("unknown-opcode", [S(0xFF), RET_A], r"pc 0: unknown"),
    ("falls-off", [S(0x00, 1)], r"pc 0: jump out of range"),
]


@pytest.mark.parametrize("rows,error", [b[1:] for b in BAD_PROGRAMS], ids=[b[0] for b in BAD_PROGRAMS])
def test_bad_programs_are_refused_naming_the_pc(rows, error):
    with pytest.raises(translate.TranslateError, match=error):
        translate.to_ebpf(cbpf.Program.from_tuples(rows))


# --- backward jumps: libpcap's protochain loop becomes a bounded loop -----------------------

# Scan for the first 0xff byte: X = index; a backward ja per byte.
SCAN = [S(0x01, 0),                     # 0: ldx #0
        S(0x50, 0),                     # 1: ldb [x+0]
        J(0x15, 0xFF, 4, 0),            # 2: jeq #0xff -> 7
        S(0x87),                        # 3: txa
        S(0x04, 1),                     # 4: add #1
        S(0x07),                        # 5: tax
        S(0x05, 0xFFFFFFFA),            # 6: ja 1 (backward)
        S(0x87),                        # 7: txa
        S(0x04, 1000),                  # 8: add #1000
        RET_A]                          # 9


@pytest.mark.parametrize("where", [0, 1, 30, 63, 64, 65, 100])
def test_backward_loop_is_bounded_like_libpcap(where):
    packet = bytes(120)[:where] + b"\xff" + bytes(120 - where)
    prog = cbpf.Program.from_tuples(SCAN)
    want = cbpf.run(prog, packet)
    if where <= translate.LOOP_LIMIT:
        assert want == libpcap_run(SCAN, packet) == where + 1000     # libpcap 1.10 has no bound
    else:
        assert want == 0
    eprog = translate.to_ebpf(prog)
    verifier.verify(eprog)
    assert interp.run(eprog, packet) == want
    if KERNEL_OK:
        assert _kernel_run(SCAN, packet) == want


def _ip6_frame(n_dest_opts: int, proto: int, payload: bytes) -> bytes:
    """Ethernet + IPv6 + n destination-options headers (8 bytes each, PadN) + payload."""
    chain = b""
    nxt = proto
    for _ in range(n_dest_opts):
        chain = bytes([nxt, 0, 1, 4, 0, 0, 0, 0]) + chain        # next header, len 0, PadN(4)
        nxt = 60
    body = chain + payload
    ip6 = (struct.pack(">IHBB", 6 << 28, len(body), nxt, 64)
           + bytes.fromhex("20010db8000000000000000000000001")
           + bytes.fromhex("20010db8000000000000000000000002"))
    return bytes.fromhex("66778899aabb001122334455") + b"\x86\xdd" + ip6 + body


def test_protochain_with_extension_headers():
    tcp = struct.pack(">HHIIBBHHH", 1234, 80, 0, 0, 5 << 4, 2, 8192, 0, 0)
    udp = struct.pack(">HHHH", 1234, 53, 8, 0)
    frames = [(n, _ip6_frame(n, proto, l4)) for n in (0, 1, 3, 6, 63, 70)
              for proto, l4 in ((6, tcp), (17, udp))]
    for expr in ("ip6 protochain 6", "ip6 protochain 17", "protochain 6"):
        rows, tr = _compile_or_skip(expr, "EN10MB")
        verifier.verify(tr.program)
        fd = kernel.load_socket_filter(tr.program) if KERNEL_OK else None
        try:
            for n, data in frames:
                want = cbpf.run(cbpf.Program.from_tuples(rows), data)
                if n < translate.LOOP_LIMIT:
                    assert want == libpcap_run(rows, data)
                else:
                    assert want == 0            # more headers than backward jumps allowed
                assert interp.run(tr.program, data) == want
                if fd is not None:
                    assert kernel.test_run_packet(fd, data) == want
        finally:
            if fd is not None:
                kernel.close(fd)


def test_uninitialized_scratch_reads_as_zero():
    rows = [S(0x60, 3), S(0x61, 7), S(0x0C), S(0x04, 1), RET_A]      # A = M[3] + M[7] + 1
    assert cbpf.run(cbpf.Program.from_tuples(rows), PKT) == 1
    eprog = translate.to_ebpf(cbpf.Program.from_tuples(rows))
    verifier.verify(eprog)
    assert interp.run(eprog, PKT) == 1
    if KERNEL_OK:
        assert _kernel_run(rows, PKT) == 1
