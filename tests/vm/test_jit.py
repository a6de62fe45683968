"""vm.jit: native code gives what the independent oracles give.

Oracles: the eBPF conformance suite's expected results, libpcap 1.10's bpf_filter on translated
filters, the Linux kernel (BPF_PROG_TEST_RUN) and, for random ALU/jump programs that
vm.verifier accepts, the kernel where it loads them (vm.interp otherwise, whose rules are the
kernel's and are themselves tested against the kernel).
"""
from __future__ import annotations

import ctypes
import random
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from tests.support.expressions import EXPRESSIONS
from tests.support.oracle import LibpcapError, libpcap_compile, libpcap_run
from tests.support.packets import LINKTYPES, packets
from vm import conformance, ebpf, interp, jit, kernel, verifier
from vm.cbpf import Program as CProgram
from vm.translate import to_ebpf

pytestmark = pytest.mark.skipif(not jit.available(),
                                reason="vm.jit needs x86-64 Linux with executable mappings")

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CONFORMANCE = SHARED / "conformance" / "ebpf" / "tests"
CONFORMANCE_FILES = sorted(CONFORMANCE.glob("*.data")) if CONFORMANCE.is_dir() else []


def asm(text: str) -> ebpf.Program:
    return ebpf.assemble(text)


# -- 1. the conformance suite --------------------------------------------------------------------

def _run_mem(native: jit.Native, mem: bytes) -> int:
    buf = ctypes.create_string_buffer(mem, max(len(mem), 1))
    return native.call(ctypes.addressof(buf), len(mem))


@pytest.mark.skipif(not CONFORMANCE_FILES, reason=f"no conformance data under {CONFORMANCE}")
@pytest.mark.parametrize("path", CONFORMANCE_FILES, ids=[p.stem for p in CONFORMANCE_FILES])
def test_conformance(path):
    case = conformance.parse(path.read_text(), path.stem)
    program = conformance._program(case)          # the runner's own assembly/decoding
    assert case.result is not None
    native = jit.compile(program, helpers={5: "unwind"})
    assert _run_mem(native, case.mem) == case.result


NEGATIVE = CONFORMANCE.parent / "negative"
NEGATIVE_UNUSED = sorted(NEGATIVE.glob("unused-*.data")) if NEGATIVE.is_dir() else []


@pytest.mark.skipif(not NEGATIVE_UNUSED, reason=f"no negative conformance data under {NEGATIVE}")
@pytest.mark.parametrize("path", NEGATIVE_UNUSED, ids=[p.stem for p in NEGATIVE_UNUSED])
def test_negative_conformance_illegal_fields_are_refused(path):
    """Non-zero unused fields: the JIT refuses the program, naming the pc."""
    program = conformance._program(conformance.parse(path.read_text(), path.stem))
    with pytest.raises(jit.JitError, match=r"^pc 0: "):
        jit.compile(program)


# -- 2. translated filters against libpcap ---------------------------------------------------------

SAMPLE = random.Random(8).sample(EXPRESSIONS, 60)


def _check_libpcap(linktype: str, exprs, optimize: bool = True, every: int = 1) -> int:
    corpus = packets(linktype)[::every]
    checked = 0
    for expr in exprs:
        try:
            rows = libpcap_compile(expr, linktype, optimize=optimize)
        except LibpcapError:
            continue
        native = jit.compile(to_ebpf(CProgram.from_tuples(rows)))
        got = [native.run(s.data, s.wirelen) for s in corpus]
        want = [libpcap_run(rows, s.data, s.wirelen) for s in corpus]
        assert got == want, expr
        native.close()
        checked += 1
    return checked


def test_translated_filters_agree_with_libpcap_en10mb():
    assert _check_libpcap("EN10MB", SAMPLE) > 50


@pytest.mark.parametrize("linktype", [lt for lt in LINKTYPES if lt != "EN10MB"])
def test_translated_filters_agree_with_libpcap(linktype):
    assert _check_libpcap(linktype, SAMPLE[:12], every=3) > 0


@pytest.mark.exhaustive
@pytest.mark.parametrize("linktype", LINKTYPES)
@pytest.mark.parametrize("optimize", [True, False], ids=["opt", "unopt"])
def test_translated_filters_agree_with_libpcap_everywhere(linktype, optimize):
    assert _check_libpcap(linktype, EXPRESSIONS, optimize) > 0


# -- 3. the kernel, and random verified programs ------------------------------------------------

KERNEL_OK, KERNEL_WHY = kernel.available()
needs_kernel = pytest.mark.skipif(not KERNEL_OK, reason=f"bpf(2) unavailable: {KERNEL_WHY}")


@needs_kernel
@pytest.mark.parametrize("expr", SAMPLE[:15])
def test_translated_filters_agree_with_the_kernel(expr):
    rows = libpcap_compile(expr, "EN10MB")
    program = to_ebpf(CProgram.from_tuples(rows))
    native = jit.compile(program)
    fd = kernel.load_socket_filter(program)
    try:
        for sample in packets("EN10MB")[::5]:
            data = sample.data
            assert native.run(data) == kernel.test_run_packet(fd, data), data.hex()
    finally:
        kernel.close(fd)


_ALU = ["add", "sub", "mul", "div", "or", "and", "lsh", "rsh", "mod", "xor", "mov", "arsh",
        "sdiv", "smod"]
_JMP = ["jeq", "jne", "jgt", "jge", "jlt", "jle", "jset", "jsgt", "jsge", "jslt", "jsle"]
_UNARY = ["neg", "neg32", "le16", "le32", "le64", "be16", "be32", "be64", "bswap16", "bswap32",
          "bswap64"]
_MOVSX = ["movsx832", "movsx1632", "movsx864", "movsx1664", "movsx3264"]
_REGS = [0, 1, 2, 3, 4, 5, 7, 8, 9]               # r6 keeps the context
_IMMS = st.one_of(st.integers(-2**31, 2**31 - 1),
                  st.sampled_from([0, 1, -1, 7, 31, 32, 33, 63, 64, -2**31, 2**31 - 1, 0xFFFF]))


@st.composite
def alu_programs(draw):
    """Random verified-shape programs: every ALU/JMP form over r0..r9, packet loads, the stack."""
    regs = st.sampled_from(_REGS)
    lines = ["mov %r6, %r1"]
    for r in _REGS:
        value = draw(st.integers(-2**63, 2**64 - 1))
        lines.append(f"lddw %r{r}, {value}")
    n = draw(st.integers(3, 30))
    for i in range(n):
        lines.append(f"L{i}:")
        kind = draw(st.sampled_from(["alu", "alu", "alu", "unary", "jmp", "ld", "ind", "st"]))
        d, s = draw(regs), draw(regs)
        if kind == "alu":
            op = draw(st.sampled_from(_ALU)) + draw(st.sampled_from(["", "32"]))
            if draw(st.booleans()):
                src = f"%r{s}"
                if op.startswith("mov") and draw(st.booleans()):
                    op = draw(st.sampled_from(_MOVSX))
            elif op.rstrip("32") in ("lsh", "rsh", "arsh"):
                src = str(draw(st.integers(0, 31 if op.endswith("32") else 63)))
            else:
                src = str(draw(_IMMS))
            lines.append(f"{op} %r{d}, {src}")
        elif kind == "unary":
            lines.append(f"{draw(st.sampled_from(_UNARY))} %r{d}")
        elif kind == "jmp":
            op = draw(st.sampled_from(_JMP)) + draw(st.sampled_from(["", "32"]))
            src = f"%r{s}" if draw(st.booleans()) else str(draw(_IMMS))
            lines.append(f"{op} %r{d}, {src}, L{draw(st.integers(i + 1, n))}")
        elif kind == "ld":
            lines.append(f"ldabs{draw(st.sampled_from('bhw'))} {draw(st.integers(0, 70))}")
        elif kind == "ind":
            lines.append(f"ldind{draw(st.sampled_from('bhw'))} %r{s}, "
                         f"{draw(st.integers(-20, 70))}")
        if kind in ("ld", "ind"):         # a packet load clobbers r1..r5
            lines += [f"lddw %r{r}, {draw(st.integers(0, 2**64 - 1))}" for r in range(1, 6)]
        else:
            size = draw(st.sampled_from(["b", "h", "w", "dw"]))
            slot = draw(st.sampled_from([-8, -16, -24, -64, -512]))
            signed = "s" if size != "dw" and draw(st.booleans()) else ""
            lines.append(f"stx{size} [%r10{slot}], %r{s}")
            lines.append(f"ldx{signed}{size} %r{d}, [%r10{slot}]")
    lines.append(f"L{n}:")
    # fold every register into r0 so that a wrong value anywhere shows
    for r in _REGS[1:]:
        lines.append(f"xor %r0, %r{r}")
        lines.append("lsh %r0, 3" if r % 2 else "arsh %r0, 5")
    lines.append("exit")
    return ebpf.assemble("\n".join(lines))


RANDOM_PACKETS = [bytes((i + j * 37) % 256 for j in range(80))[:ln] for i, ln in
                  [(0, 80), (7, 60), (200, 14), (3, 0), (9, 1), (100, 40), (40, 79)]]


def _verified(program: ebpf.Program) -> bool:
    try:
        verifier.verify(program)
    except verifier.VerifierError:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alu_programs())
def test_random_programs_match_the_interpreter(program):
    assume(_verified(program))
    native = jit.compile(program)
    for packet in RANDOM_PACKETS:
        wire = len(packet) + 3
        assert native.run(packet, wire) == interp.run(program, packet, wire), packet.hex()


@needs_kernel
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alu_programs())
def test_random_programs_match_the_kernel(program):
    assume(_verified(program))
    try:
        fd = kernel.load_socket_filter(program)
    except kernel.KernelError:
        assume(False)                 # an older kernel may lack a form (sdiv, movsx, bswap)
    native = jit.compile(program)
    try:
        for packet in RANDOM_PACKETS:
            assert native.run(packet) == kernel.test_run_packet(fd, packet), packet.hex()
    finally:
        kernel.close(fd)


def _alu_lines(draw, n: int, regs, label: str) -> list[str]:
    lines = []
    for i in range(n):
        lines.append(f"{label}{i}:")
        d, s = draw(regs), draw(regs)
        op = draw(st.sampled_from(_ALU)) + draw(st.sampled_from(["", "32"]))
        if draw(st.booleans()):
            lines.append(f"{op} %r{d}, %r{s}")
        elif op.rstrip("32") in ("lsh", "rsh", "arsh"):
            lines.append(f"{op} %r{d}, {draw(st.integers(0, 31))}")
        else:
            lines.append(f"{op} %r{d}, {draw(_IMMS)}")
        if draw(st.integers(0, 4)) == 0:
            jmp = draw(st.sampled_from(_JMP)) + draw(st.sampled_from(["", "32"]))
            lines.append(f"{jmp} %r{d}, %r{s}, {label}{draw(st.integers(i + 1, n))}")
    lines.append(f"{label}{n}:")
    return lines


@st.composite
def call_programs(draw):
    """A main function and two subprograms calling each other, with their own stacks."""
    def init(regs):
        return [f"lddw %r{r}, {draw(st.integers(0, 2**64 - 1))}" for r in regs]
    lines = init(range(0, 10)) + ["stxdw [%r10-8], %r9"]
    for k in range(draw(st.integers(2, 4))):
        lines += _alu_lines(draw, draw(st.integers(0, 8)), st.sampled_from(range(10)), f"m{k}_")
        callee = "fg"[k] if k < 2 else draw(st.sampled_from("fg"))
        lines += [f"call local {callee}", "add %r9, %r0"]
        lines += init(range(1, 6))
    lines += ["ldxdw %r1, [%r10-8]", "xor %r0, %r1"]
    for r in range(1, 10):
        lines += [f"xor %r0, %r{r}", "lsh %r0, 7" if r % 2 else "arsh %r0, 3"]
    lines.append("exit")
    for name in ("f", "g"):
        lines.append(f"{name}:")
        lines += init([0] + list(range(6, 10))) + ["stxdw [%r10-16], %r7"]
        lines += _alu_lines(draw, draw(st.integers(0, 12)), st.sampled_from(range(10)), f"{name}_")
        if name == "f" and draw(st.booleans()):
            lines += ["mov %r1, %r0", "call local g", "add %r0, %r8"]
        lines += ["ldxdw %r1, [%r10-16]", "add %r0, %r1", "add %r0, %r6", "exit"]
    return ebpf.assemble("\n".join(lines))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call_programs())
def test_random_local_calls_match_the_interpreter(program):
    assume(_verified(program))
    assert jit.compile(program).run(b"") == interp.run(program, b"")


# -- 4. hostile but verified ---------------------------------------------------------------------

PKT = bytes(range(100, 160))
HOSTILE = [
    ("ldind-huge-x-wraps", "mov %r7, 0xfffffff0\nldindb %r7, 0x14", {}),
    ("ldind-x-plus-k-overflows", "lddw %r7, 0x17fffffff\nldindw %r7, 2", {}),
    ("ldind-negative-before-packet", "mov %r7, -1\nldindb %r7, 0", {}),
    ("ldind-net-off", "mov %r7, -0x100000\nldindh %r7, 2", {"net_offset": 14}),
    ("ldind-net-off-past-end", "mov %r7, -0x100000\nldindw %r7, 58", {"net_offset": 14}),
    ("ldind-ll-off", "mov %r7, -0x200000\nldindw %r7, 3", {}),
    ("ldind-below-ll-off", "mov %r7, -0x200001\nldindb %r7, 0", {}),
    ("ldabs-net-off", "ldabsb -0x100000", {"net_offset": 20}),
    ("ldabs-net-off-plus", "ldabsw -0xffff0", {"net_offset": 2}),
    ("ldabs-ll-off", "ldabsh -0x1ffff0", {}),
    ("ldabs-below-ll-off", "ldabsb -0x200001", {}),
    ("ldabs-huge", "ldabsb 0x7fffffff", {}),
    ("ldabs-last-byte", "ldabsb 59", {}),
    ("ldabs-word-straddles-end", "ldabsw 57", {}),
    ("ldabs-then-continue", "ldabsb 1\nadd %r0, 1", {}),
    ("div-by-zero-reg", "mov %r0, 77\nmov %r2, 0\ndiv %r0, %r2", {}),
    ("div32-by-zero-reg", "lddw %r0, 0x1234567800000077\nmov %r2, 0\ndiv32 %r0, %r2", {}),
    ("mod-by-zero-reg", "mov %r0, 77\nmov %r2, 0\nmod %r0, %r2", {}),
    ("mod32-by-zero-high-bits", "lddw %r0, 0x1234567800000077\nlddw %r2, 0x100000000\n"
                                "mod32 %r0, %r2", {}),
    ("sdiv-intmin-by-minus-one", "lddw %r0, 0x8000000000000000\nmov %r2, -1\nsdiv %r0, %r2", {}),
    ("smod32-intmin-by-minus-one", "mov %r0, 0x80000000\nsmod32 %r0, -1", {}),
    ("lsh-by-64", "mov %r0, 1\nmov %r2, 64\nlsh %r0, %r2", {}),
    ("lsh32-by-33", "mov %r0, 1\nmov %r2, 33\nlsh32 %r0, %r2", {}),
    ("rsh32-by-32-clears-high", "mov %r0, -1\nmov %r4, 32\nrsh32 %r0, %r4", {}),
    ("arsh-by-65", "mov %r0, -256\nmov %r4, 65\narsh %r0, %r4", {}),
    ("shift-count-in-r4-by-itself", "mov %r4, 35\nlsh %r4, %r4\nmov %r0, %r4", {}),
    ("div-dividend-in-r3", "mov %r3, 1000\nmov %r0, 7\ndiv %r3, %r0\nmov %r0, %r3", {}),
    ("mod-divisor-in-r0", "mov %r3, 1000\nmov %r0, 7\nmod %r3, %r0\nadd %r0, %r3", {}),
]


@pytest.mark.parametrize("text,skb", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_but_verified(text, skb):
    program = asm("mov %r6, %r1\nmov %r7, 0\n" + text + "\nexit")
    assert _verified(program)
    want = interp.run(program, PKT, skb=interp.SkBuff(network_offset=skb.get("net_offset", 0)))
    assert jit.compile(program).run(PKT, **skb) == want


# refused by verifiers (division by a constant 0), defined all the same: as vm.interp
UNVERIFIED = [
    ("div-by-zero-imm", "mov %r0, 77\ndiv %r0, 0", {}),
    ("mod-by-zero-imm", "mov %r0, 77\nmod %r0, 0", {}),
    ("mod32-by-zero-imm", "lddw %r0, 0x1234567800000077\nmod32 %r0, 0", {}),
    ("sdiv32-by-zero-imm", "mov %r0, -5\nsdiv32 %r0, 0", {}),
    ("smod-by-zero-imm", "mov %r0, -5\nsmod %r0, 0", {}),
    ("lsh-imm-65", "mov %r0, 3\nlsh %r0, 65", {}),
    ("rsh32-imm-32", "mov %r0, -1\nrsh32 %r0, 32", {}),
]


@pytest.mark.parametrize("text,skb", [h[1:] for h in UNVERIFIED], ids=[h[0] for h in UNVERIFIED])
def test_unverified_corners_match_the_interpreter(text, skb):
    program = asm("mov %r6, %r1\nmov %r7, 0\n" + text + "\nexit")
    want = interp.run(program, PKT, skb=interp.SkBuff(network_offset=skb.get("net_offset", 0)))
    assert jit.compile(program).run(PKT, **skb) == want


# the kernel's SKF_NET_OFF / SKF_LL_OFF bases are its own skb headers (a test run's dummy
# Ethernet header), not ours: those cases are compared with vm.interp only
KERNEL_HOSTILE = [h for h in HOSTILE if "-0x" not in h[1]]


@needs_kernel
@pytest.mark.parametrize("text,skb", [h[1:] for h in KERNEL_HOSTILE],
                         ids=[h[0] for h in KERNEL_HOSTILE])
def test_hostile_programs_agree_with_the_kernel(text, skb):
    program = asm("mov %r6, %r1\nmov %r7, 0\n" + text + "\nexit")
    fd = kernel.load_socket_filter(program)
    try:
        assert jit.compile(program).run(PKT) == kernel.test_run_packet(fd, PKT)
    finally:
        kernel.close(fd)


# -- what the lead's driver relies on ------------------------------------------------------------

LOCAL_CALLS = """
    mov %r6, 6
    mov %r1, 10
    mov %r2, 20
    call local sum
    add %r0, %r6          # r6 survives the call
    stxdw [%r10-8], %r0
    mov %r1, 3
    call local fact
    ldxdw %r1, [%r10-8]   # so does the caller's stack
    lsh %r0, 32
    or %r0, %r1
    exit
sum:
    mov %r6, 1000         # callee-saved: the caller keeps its own
    stxdw [%r10-8], %r6   # a frame of its own
    mov %r0, %r1
    add %r0, %r2
    exit
fact:
    mov %r0, 1
    jle %r1, 1, done
    mov %r6, %r1
    sub %r1, 1
    call local fact
    mul %r0, %r6
done:
    exit
"""


def test_local_calls_have_their_own_frames_and_keep_r6_to_r9():
    assert jit.compile(asm(LOCAL_CALLS)).call() == (6 << 32) | 36


SUBPROGRAM_DROP = """
    mov %r6, %r1
    mov %r7, 5
    call local filter
    add %r0, 1000
    exit
filter:
    ldabsb 100
    mov %r0, 7
    exit
"""


@pytest.mark.parametrize("drop,want", [("program", 0), ("function", 1000)])
def test_out_of_bounds_load_in_a_subprogram(drop, want):
    program = asm(SUBPROGRAM_DROP)
    assert jit.compile(program, drop=drop).run(PKT) == want
    assert jit.compile(program, drop=drop).run(bytes(101)) == 1007
    if drop == "program":
        assert interp.run(program, PKT) == want


def test_context_block_layout():
    """The offsets the driver writes: data pointer, captured length, net offset, skb->len."""
    program = asm("""
        ldxdw %r2, [%r1+192]
        ldxb %r0, [%r2+3]
        ldxw %r3, [%r1+200]
        lsh %r3, 8
        or %r0, %r3
        ldxw %r3, [%r1+204]
        lsh %r3, 16
        or %r0, %r3
        ldxw %r3, [%r1+0]
        lsh %r3, 24
        or %r0, %r3
        exit""")
    assert (jit.CTX_DATA, jit.CTX_DATA_LEN, jit.CTX_NET_OFF) == (192, 200, 204)
    got = jit.compile(program).run(PKT, 70, net_offset=9)
    assert got == (PKT[3] | 60 << 8 | 9 << 16 | 70 << 24)


def test_caller_built_context_block():
    rows = libpcap_compile("tcp port 80", "EN10MB")
    native = jit.compile(to_ebpf(CProgram.from_tuples(rows)))
    ctx = ctypes.create_string_buffer(jit.CTX_SIZE)
    for sample in packets("EN10MB")[::4]:
        data = ctypes.create_string_buffer(sample.data, max(len(sample.data), 1))
        struct.pack_into("<I", ctx, 0, sample.wirelen)
        struct.pack_into("<QI", ctx, jit.CTX_DATA, ctypes.addressof(data), len(sample.data))
        assert native.call(ctypes.addressof(ctx)) & 0xFFFFFFFF == \
            libpcap_run(rows, sample.data, sample.wirelen)


def test_probe_read_kernel_copies():
    src = ctypes.create_string_buffer(b"0123456789abcdef")
    dst = ctypes.create_string_buffer(16)
    program = asm("mov %r6, %r3\ncall 113\nldxdw %r0, [%r6+5]\nexit")
    native = jit.compile(program)
    # r1 = dst, r2 = size, r3 = src; r6 = src (for the check afterwards)
    got = native.call(ctypes.addressof(dst), 13, ctypes.addressof(src))
    assert dst.raw[:13] == b"0123456789abc" and dst.raw[13:] == bytes(3)
    assert got == int.from_bytes(b"56789abc", "little")


def test_probe_read_kernel_returns_zero():
    src, dst = ctypes.create_string_buffer(b"xy"), ctypes.create_string_buffer(2)
    assert jit.compile(asm("mov %r0, 9\ncall 113\nexit")).call(
        ctypes.addressof(dst), 2, ctypes.addressof(src)) == 0


def test_helpers_7_and_8():
    native = jit.compile(asm("call 7\nmov %r6, %r0\ncall 7\nlsh %r0, 32\nor %r0, %r6\n"
                             "mov %r6, %r0\ncall 8\nadd %r0, %r6\nexit"))
    values = {native.call() for _ in range(20)}
    assert len(values) == 20                          # a running PRNG
    assert all(v >> 32 != v & 0xFFFFFFFF for v in values)


REFUSED = [
    ("map-lddw", "lddw %r1, map_fd(3)\nmov %r0, 0\nexit", 0, "lddw with src 1"),
    ("helper-1", "call 1\nexit", 0, "helper 1"),
    ("unwind-not-requested", "mov %r1, 0\ncall 5\nexit", 1, "helper 5"),
    ("write-r10", "mov %r10, 0\nexit", 0, "r10 is read-only"),
    ("falls-off-the-end", "mov %r0, 0", 0, "fall off"),
    ("kfunc", "call runtime 4\nexit", 0, "call_runtime"),
]


@pytest.mark.parametrize("text,pc,fragment", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_unsupported_programs_raise_jit_error_naming_the_pc(text, pc, fragment):
    with pytest.raises(jit.JitError, match=fragment) as info:
        jit.compile(asm(text))
    assert info.value.pc == pc and str(info.value).startswith(f"pc {pc}: ")
    assert isinstance(info.value, ValueError)


def test_illegal_program_is_a_jit_error():
    with pytest.raises(jit.JitError, match="^pc 0: "):
        jit.compile(ebpf.Program([ebpf.Insn(0xFF)]))


def test_close_unmaps_and_is_idempotent():
    native = jit.compile(asm("mov %r0, 1\nexit"))
    assert native.call() == 1
    native.close()
    native.close()
    with pytest.raises(ValueError, match="closed"):
        native.call()
    with pytest.raises(ValueError, match="closed"):
        native.run(b"")


def test_run_accepts_bytes_like_packets():
    native = jit.compile(asm("mov %r6, %r1\nldabsh 2\nexit"))
    for packet in (PKT, bytearray(PKT), memoryview(PKT)):
        assert native.run(packet) == int.from_bytes(PKT[2:4], "big")


# the lead's offline path in miniature: an eBPF loop over packet records that sets the context
# block and calls a translated filter as a bpf-to-bpf subprogram, storing each verdict
DRIVER = """
    mov %r6, %r1          # r1 = context block
    mov %r7, %r2          # r2 = records: u32 caplen, u32 wirelen, u64 data, u64 verdict
    mov %r8, %r3          # r3 = number of records
loop:
    jeq %r8, 0, done
    ldxw %r2, [%r7+0]
    stxw [%r6+200], %r2
    ldxw %r2, [%r7+4]
    stxw [%r6+0], %r2
    ldxdw %r2, [%r7+8]
    stxdw [%r6+192], %r2
    mov %r1, %r6
    call local filter
    stxdw [%r7+16], %r0
    add %r7, 24
    sub %r8, 1
    ja loop
done:
    mov %r0, 0
    exit
filter:
    exit
"""


@pytest.mark.parametrize("expr", SAMPLE[:10])
def test_driver_calls_translated_filters_as_subprograms(expr):
    rows = libpcap_compile(expr, "EN10MB")
    driver = asm(DRIVER)
    program = ebpf.Program(driver.insns[:-1] + to_ebpf(CProgram.from_tuples(rows)).insns)
    native = jit.compile(program, drop="function")
    corpus = packets("EN10MB")
    datas = [ctypes.create_string_buffer(s.data, max(len(s.data), 1)) for s in corpus]
    records = ctypes.create_string_buffer(24 * len(corpus))
    for i, (sample, data) in enumerate(zip(corpus, datas)):
        struct.pack_into("<IIQQ", records, 24 * i, len(sample.data), sample.wirelen,
                         ctypes.addressof(data), 0xDEAD)
    ctx = ctypes.create_string_buffer(jit.CTX_SIZE)
    assert native.call(ctypes.addressof(ctx), ctypes.addressof(records), len(corpus)) == 0
    got = [struct.unpack_from("<Q", records, 24 * i + 16)[0] for i in range(len(corpus))]
    assert got == [libpcap_run(rows, s.data, s.wirelen) for s in corpus]


CALLX = """
    lddw %r2, func(double)
    mov %r1, 21
    call %r2
    mov %r6, %r0
    mov %r3, 8                # a helper number: get_smp_processor_id
    call %r3
    add %r0, %r6
    mov %r3, 9999             # no such helper: the program ends, returning 0
    jeq %r7, 0, +1
    call %r3
    exit
double:
    mov %r0, %r1
    add %r0, %r1
    exit
"""


@pytest.mark.parametrize("r7,want", [(0, 42), (1, 0)])
def test_callx_to_code_and_to_helpers(r7, want):
    program = asm(f"mov %r7, {r7}\n" + CALLX)
    assert jit.compile(program).call() == want
    if r7 == 0:
        assert interp.run_raw(program) == want


def test_unknown_builtin_helper_name_is_a_value_error():
    with pytest.raises(ValueError, match="unknown built-in"):
        jit.compile(asm("mov %r0, 0\nexit"), helpers={5: "nope"})


def test_call_zeroes_the_missing_arguments():
    native = jit.compile(asm("mov %r0, %r1\nor %r0, %r2\nor %r0, %r3\nor %r0, %r4\n"
                             "or %r0, %r5\nexit"))
    assert native.call(1 << 40, 2, 4, 8, 16) == (1 << 40) | 30
    assert [native.call(*[1 << i for i in range(k)]) for k in range(6)] == \
        [0, 1, 3, 7, 15, 31]
    assert native.call(-1) == (1 << 64) - 1
    with pytest.raises(TypeError, match="at most 5"):
        native.call(1, 2, 3, 4, 5, 6)
