"""vm.cbpf.validate against the Linux kernel's classic checker (SO_ATTACH_FILTER) and libpcap's
bpf_validate(); property tests: the validator never crashes and the interpreter never raises on a
validated program (and agrees with libpcap's bpf_filter on it), whatever the packet."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.oracle import kernel_accepts, libpcap_run, libpcap_safe, libpcap_validate
from vm import cbpf
from vm.cbpf import SKF_AD_OFF, Program, ValidationError, validate


def S(code, k=0):
    return (code, 0, 0, k & 0xFFFFFFFF)


def J(code, k, jt, jf):
    return (code, jt, jf, k & 0xFFFFFFFF)


RET0 = S(0x06, 0)
RET_A = S(0x16)

# (id, rows, kernel rule or None, libpcap rule or None): the rule text the error must contain.
CASES = [
    ("ret-k", [RET0], None, None),
    ("ret-a", [RET_A], None, None),
    ("empty", [], "empty program", "empty program"),
    ("unknown-opcode", [S(0xE4), RET0], "pc 0: unknown opcode 0xe4", "pc 0: unknown opcode 0xe4"),
    ("ret-x", [S(0x0E), RET0], "pc 0: unknown opcode 0x0e", "pc 0: unknown opcode 0x0e"),
    ("ld-h-imm", [S(0x08, 1), RET0], "pc 0: unknown opcode 0x08", "pc 0: unknown opcode 0x08"),
    ("code-over-255", [S(0x106), RET0], "pc 0: unknown opcode 0x106", "pc 0: unknown opcode 0x106"),
    (
        "no-ret",
        [S(0x00, 1)],
        "pc 0: last instruction is not a return",
        "pc 0: last instruction is not a return",
    ),
    (
        "ends-in-ja",
        [RET0, S(0x05, 0xFFFFFFFE)],
        "pc 1: jump out of range",
        "pc 1: last instruction is not a return",
    ),
    ("div-zero", [S(0x34, 0), RET0], "pc 0: division by zero", "pc 0: division by zero"),
    ("mod-zero", [S(0x94, 0), RET0], "pc 0: division by zero", "pc 0: division by zero"),
    ("div-x", [S(0x3C), RET0], None, None),
    (
        "lsh-32",
        [S(0x64, 32), RET0],
        "pc 0: shift by 32 out of range",
        "pc 0: shift by 32 out of range",
    ),
    ("rsh-31", [S(0x74, 31), RET0], None, None),
    (
        "mem-16",
        [S(0x02, 16), RET0],
        "pc 0: scratch memory index 16 out of range",
        "scratch memory index 16",
    ),
    (
        "ldx-mem-huge",
        [S(0x61, 0xFFFFFFFF), RET0],
        "pc 0: scratch memory index -1 out of range",
        "index -1",
    ),
    ("mem-unwritten", [S(0x60, 3), RET0], "pc 0: scratch memory M[3] read before written", None),
    ("mem-written", [S(0x02, 3), S(0x60, 3), RET_A], None, None),
    (
        "mem-one-path",
        [J(0x15, 0, 0, 1), S(0x02, 1), S(0x61, 1), RET_A],
        "pc 2: scratch memory M[1] read before written",
        None,
    ),
    (
        "mem-other-path",
        [J(0x15, 0, 0, 1), S(0x02, 1), S(0x03, 2), S(0x61, 1), RET_A],
        "pc 3: scratch memory M[1]",
        None,
    ),
    (
        "mem-before-branch",
        [S(0x02, 1), J(0x15, 0, 0, 1), S(0x02, 2), S(0x61, 1), RET_A],
        None,
        None,
    ),
    ("ja-out", [S(0x05, 1), RET0], "pc 0: jump out of range", "pc 0: jump out of range"),
    ("ja-ok", [S(0x05, 1), RET0, RET0], None, None),
    ("ja-back", [RET0, S(0x05, 0xFFFFFFFE), RET0], "pc 1: jump out of range", None),
    (
        "ja-before-start",
        [RET0, S(0x05, 0xFFFFFFFD), RET0],
        "pc 1: jump out of range",
        "pc 1: jump out of range",
    ),
    ("ja-self", [S(0x05, 0xFFFFFFFF), RET0], "pc 0: jump out of range", "pc 0: jump to itself"),
    ("jt-out", [J(0x15, 0, 1, 0), RET0], "pc 0: jump out of range", "pc 0: jump out of range"),
    (
        "jf-out",
        [J(0x15, 0, 0, 2), RET0, RET0],
        "pc 0: jump out of range",
        "pc 0: jump out of range",
    ),
    ("ancillary-known", [S(0x20, SKF_AD_OFF + 4), RET_A], None, None),
    (
        "ancillary-unknown",
        [S(0x20, SKF_AD_OFF + 64), RET_A],
        "pc 0: unknown ancillary load -4032",
        None,
    ),
    ("ancillary-odd", [S(0x30, SKF_AD_OFF + 1), RET_A], "pc 0: unknown ancillary load -4095", None),
    ("net-off", [S(0x30, cbpf.SKF_NET_OFF), RET_A], None, None),
    ("ldx-len", [S(0x81), RET0], None, None),
    ("max-len", [RET0] * 4096, None, None),
    ("too-long", [RET0] * 4097, "program has 4097 instructions, more than 4096", None),
]


@pytest.mark.parametrize(
    "rows,kernel_rule,libpcap_rule", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_validate_rules(rows, kernel_rule, libpcap_rule):
    prog = Program.from_tuples(rows)
    for mode, rule in (("kernel", kernel_rule), ("libpcap", libpcap_rule)):
        if rule is None:
            validate(prog, mode)
        else:
            with pytest.raises(ValidationError) as info:
                validate(prog, mode)
            assert rule in str(info.value), mode
            assert "\n" not in str(info.value)
    # The kernel's own verdict is the oracle for the kernel mode.
    assert kernel_accepts(rows) == (kernel_rule is None)


def test_validation_error_names_the_pc():
    with pytest.raises(ValidationError) as info:
        validate(Program.from_tuples([RET0, S(0x34, 0), RET0]))
    assert info.value.pc == 1
    assert str(info.value) == "pc 1: division by zero"
    assert info.value.rule == "division by zero"


def test_validate_rejects_bad_mode():
    with pytest.raises(ValueError):
        validate(Program.from_tuples([RET0]), "bsd")


def test_libpcap_mode_accepts_protochain():
    from tests.support.oracle import libpcap_compile

    rows = libpcap_compile("ip6 protochain 6")
    assert any(code == 0x05 and k & 0x80000000 for code, _, _, k in rows)
    validate(Program.from_tuples(rows), "libpcap")
    with pytest.raises(ValidationError, match="jump out of range"):
        validate(Program.from_tuples(rows), "kernel")


# --- random programs --------------------------------------------------------------------------

KNOWN = sorted(cbpf.OPCODES)
INTERESTING_K = [
    0,
    1,
    2,
    3,
    4,
    6,
    12,
    14,
    15,
    16,
    20,
    23,
    31,
    32,
    33,
    40,
    54,
    60,
    255,
    256,
    0x800,
    0xFFFF,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFE,
    0xFFFFFFFF,
    SKF_AD_OFF,
    SKF_AD_OFF + 4,
    SKF_AD_OFF + 44,
    SKF_AD_OFF + 48,
    SKF_AD_OFF + 64,
    cbpf.SKF_NET_OFF,
    cbpf.SKF_LL_OFF,
]

# Mostly known opcodes (one branch in twelve is any byte, one any 16-bit code), so that a fair
# share of random programs is valid and the kernel comparison sees both verdicts.
codes = st.tuples(st.integers(0, 11), st.sampled_from(KNOWN), st.integers(0, 0xFFFF)).map(
    lambda t: t[1] if t[0] < 10 else (t[2] & 0xFF if t[0] == 10 else t[2])
)
ks = st.one_of(st.sampled_from(INTERESTING_K), st.integers(0, 70), st.integers(0, 0xFFFFFFFF))


small_jump = st.one_of(st.integers(0, 3), st.integers(0, 16), st.integers(0, 255))
insns = st.tuples(codes, small_jump, small_jump, ks)
rets = st.sampled_from([(0x06, 0, 0, 0), (0x06, 0, 0, 96), (0x16, 0, 0, 0)])


def programs(max_len=14):
    """Random programs, mostly known opcodes and short jumps, usually ending in a return."""
    body = st.lists(insns, min_size=0, max_size=max_len - 1)
    return st.tuples(body, st.one_of(rets, rets, rets, insns)).map(lambda t: [*t[0], t[1]])


@st.composite
def valid_programs(draw, max_len=14):
    """Kernel-valid programs, built to be valid: forward in-range jumps, every M[] read preceded by
    a store, a return at the end."""
    n = draw(st.integers(1, max_len))
    body = []
    for pc in range(n):
        code = draw(st.sampled_from(KNOWN))
        k = draw(ks)
        spec = cbpf.OPCODES[code]
        room = n - pc  # instructions after this one, counting the final return
        jt = jf = 0
        if spec.operand is cbpf.Operand.MEM:
            k %= cbpf.MEMWORDS
        if code in (0x34, 0x94) and k == 0:
            k = 1
        if code in (0x64, 0x74):
            k %= 32
        if code & 0x07 == 0x00 and spec.operand is cbpf.Operand.ABS and k >= SKF_AD_OFF:
            k = SKF_AD_OFF + draw(st.sampled_from(sorted(cbpf.ANCILLARY_NAMES)))
        if code == 0x05:
            k = draw(st.integers(0, room - 1))
        elif spec.is_cond_jump:
            jt = draw(st.integers(0, min(255, room - 1)))
            jf = draw(st.integers(0, min(255, room - 1)))
        body.append((code, jt, jf, k))
    body.append(draw(st.sampled_from([(0x06, 0, 0, 0), (0x06, 0, 0, 0xFFFF), (0x16, 0, 0, 0)])))
    reads = sorted({k for code, _, _, k in body if code in (0x60, 0x61)})
    prefix = [(0x02, 0, 0, k) for k in reads]
    return prefix + body


packets_st = st.tuples(st.binary(max_size=72), st.integers(0, 128)).map(
    lambda t: (t[0], len(t[0]) + t[1])
)
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(programs())
def test_validator_never_crashes_and_agrees_with_the_kernel(rows):
    prog = Program.from_tuples(rows)
    try:
        validate(prog, "kernel")
        ok = True
    except ValidationError as err:
        assert str(err).startswith("pc ") or err.pc is None
        ok = False
    assert ok == kernel_accepts(rows), Program.from_tuples(rows).format("dd")


@SETTINGS
@given(programs())
def test_libpcap_mode_is_no_looser_than_libpcap(rows):
    prog = Program.from_tuples(rows)
    try:
        validate(prog, "libpcap")
    except ValidationError:
        return
    assert libpcap_validate(rows)


@SETTINGS
@given(valid_programs(), st.lists(packets_st, min_size=1, max_size=6))
def test_run_agrees_with_libpcap_on_valid_programs(rows, pkts):
    prog = Program.from_tuples(rows)
    validate(prog, "kernel")
    assert kernel_accepts(rows)
    assert libpcap_safe(rows)
    for data, wirelen in pkts:
        got = cbpf.run(prog, data, wirelen)
        assert got == libpcap_run(rows, data, wirelen), (prog.format("dd"), data.hex(), wirelen)


@SETTINGS
@given(programs(max_len=20), st.lists(packets_st, min_size=1, max_size=4))
def test_run_never_raises_on_libpcap_valid_programs(rows, pkts):
    prog = Program.from_tuples(rows)
    try:
        validate(prog, "libpcap")
    except ValidationError:
        return
    for data, wirelen in pkts:
        result = cbpf.run(prog, data, wirelen)
        assert 0 <= result <= 0xFFFFFFFF


@pytest.mark.exhaustive
@settings(max_examples=20000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(max_len=30))
def test_validator_agrees_with_the_kernel_exhaustive(rows):
    ok = cbpf.is_valid(rows, "kernel")
    assert ok == kernel_accepts(rows), Program.from_tuples(rows).format("dd")


@pytest.mark.exhaustive
@settings(max_examples=20000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_programs(max_len=40), st.lists(packets_st, min_size=1, max_size=8))
def test_run_agrees_with_libpcap_exhaustive(rows, pkts):
    prog = Program.from_tuples(rows)
    for data, wirelen in pkts:
        assert cbpf.run(prog, data, wirelen) == libpcap_run(rows, data, wirelen), (
            prog.format("dd"),
            data.hex(),
            wirelen,
        )
