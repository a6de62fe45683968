"""vm.interp: socket-filter runs against the Linux kernel (BPF_PROG_TEST_RUN), the memory model,
calls, budget, and the "nothing but VMError" property."""
from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from vm import ebpf, interp
from vm.ebpf import FORMS, Insn, Program, assemble
from vm.interp import (BudgetExceeded, CallDepthExceeded, HelperError, IllegalProgram,
                       MemoryFault, SkBuff, VMError)

try:
    from vm import kernel
    KERNEL_OK, KERNEL_WHY = kernel.available()
except ImportError as exc:          # vm.kernel is another room's module
    KERNEL_OK, KERNEL_WHY = False, str(exc)
need_kernel = pytest.mark.skipif(not KERNEL_OK, reason=f"bpf(2) unavailable: {KERNEL_WHY}")

M64 = (1 << 64) - 1
DUMMY_ETHERTYPE = 0x88B5          # what vm.kernel.test_run_packet puts in front of the packet


def kernel_result(program: Program, packet: bytes) -> int:
    fd = kernel.load_socket_filter(program)
    try:
        return kernel.test_run_packet(fd, packet)
    finally:
        kernel.close(fd)


def ours(program: Program, packet: bytes, **kw) -> int:
    return interp.run(program, packet, skb=SkBuff(protocol=DUMMY_ETHERTYPE), **kw)


# -- random straight-line-and-forward-jump programs, for the kernel differential -------------

REGS = (0, 1, 2, 3, 4, 5, 7, 8, 9)           # r6 holds the context, r10 the frame pointer
INTERESTING = (0, 1, 2, 7, 31, 32, 63, 64, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF,
               0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000, 0x7FFFFFFFFFFFFFFF,
               0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF80000000)


def _value(rng: random.Random, bits: int) -> int:
    if rng.random() < 0.5:
        value = rng.choice(INTERESTING)
        if rng.random() < 0.3:
            value = -value
    else:
        value = rng.getrandbits(bits)
    return value & ((1 << bits) - 1)


def _imm(rng: random.Random) -> int:
    value = _value(rng, 32)
    return value - (1 << 32) if value >> 31 else value


def _random_program(rng: random.Random, packet_len: int, size: int = 40) -> Program:
    lines = ["mov %r6, %r1"]
    for r in REGS:
        lines.append(f"lddw %r{r}, {_value(rng, 64):#x}")
    for slot in range(8, 72, 8):        # every stack slot is written before any jump
        lines.append(f"stxdw [%r10-{slot}], %r{rng.choice(REGS)}")
    written = set(range(8, 72, 8))
    body: list[str] = []
    for _ in range(size):
        kind = rng.random()
        d, s = rng.choice(REGS), rng.choice(REGS)
        sfx = rng.choice(("", "32"))
        if kind < 0.45:
            op = rng.choice(("add", "sub", "mul", "div", "sdiv", "mod", "smod", "or", "and",
                             "lsh", "rsh", "arsh", "xor", "mov"))
            if rng.random() < 0.5:
                body.append(f"{op}{sfx} %r{d}, %r{s}")
            else:
                width = 32 if sfx else 64
                imm = rng.randrange(width) if op in ("lsh", "rsh", "arsh") else _imm(rng)
                if op in ("div", "sdiv", "mod", "smod") and imm == 0:
                    imm = rng.choice((1, -1, 3, -7))
                body.append(f"{op}{sfx} %r{d}, {imm}")
        elif kind < 0.55:
            body.append(rng.choice((f"neg{sfx} %r{d}", f"le{rng.choice((16, 32, 64))} %r{d}",
                                    f"be{rng.choice((16, 32, 64))} %r{d}",
                                    f"bswap{rng.choice((16, 32, 64))} %r{d}",
                                    f"movsx{rng.choice(('832', '1632', '864', '1664', '3264'))} "
                                    f"%r{d}, %r{s}")))
        elif kind < 0.70:
            op = rng.choice(("jeq", "jne", "jgt", "jge", "jlt", "jle", "jset", "jsgt", "jsge",
                             "jslt", "jsle"))
            right = f"%r{s}" if rng.random() < 0.5 else str(_imm(rng))
            body.append(f"{op}{sfx} %r{d}, {right}, +{rng.randrange(4)}")
        elif kind < 0.85:
            slot = rng.randrange(1, 9) * 8
            if slot not in written or rng.random() < 0.3:
                if rng.random() < 0.5:
                    body.append(f"stxdw [%r10-{slot}], %r{s}")
                else:
                    body.append(f"stdw [%r10-{slot}], {_imm(rng)}")
                written.add(slot)
            else:
                size_name, width = rng.choice((("b", 1), ("h", 2), ("w", 4), ("dw", 8)))
                off = -slot + rng.randrange(0, 8, width)
                choice = rng.random()
                if choice < 0.4:
                    body.append(f"ldx{size_name} %r{d}, [%r10{off:+d}]")
                elif choice < 0.55 and width < 8:
                    body.append(f"ldxs{size_name} %r{d}, [%r10{off:+d}]")
                elif choice < 0.7 and width < 8:
                    body.append(f"st{size_name} [%r10{off:+d}], {_imm(rng)}")
                else:
                    op = rng.choice(("add", "or", "and", "xor", "fetch add", "fetch or",
                                     "fetch and", "fetch xor", "xchg", "cmpxchg"))
                    wide = rng.random() < 0.5
                    off = -slot if wide else -slot + rng.choice((0, 4))
                    body.append(f"lock {op}{'' if wide else '32'} [%r10{off:+d}], %r{s}")
        elif kind < 0.93:
            size_name = rng.choice("bhw")
            if rng.random() < 0.6:
                body.append(f"ldabs{size_name} {rng.randrange(packet_len + 6)}")
            else:
                body.append(f"mov32 %r7, {rng.randrange(packet_len + 4)}")
                body.append(f"ldind{size_name} %r7, {rng.randrange(-3, 6)}")
            # legacy loads clobber r1-r5: give them fresh values
            body.extend(f"mov %r{r}, {_imm(rng)}" for r in range(1, 6))
        else:
            field = rng.choice((0, 0, 16, 4, 8, 2, 18))
            body.append(f"ldx{'w' if field % 4 == 0 else 'h'} %r{d}, [%r6+{field}]")
    # jumps only skip forward inside the body: clamp their offsets
    for i, line in enumerate(body):
        if line.startswith("j") and ", +" in line:
            head, _, off = line.rpartition(", +")
            body[i] = f"{head}, +{min(int(off), len(body) - 1 - i)}"
    lines += body
    for r in REGS[1:]:
        lines.append(f"xor %r0, %r{r}")
    lines += ["mov %r1, %r0", "rsh %r1, 32", "xor %r0, %r1", "exit"]
    return assemble("\n".join(lines))


def _differential(seed: int) -> None:
    rng = random.Random(seed)
    packet = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 48)))
    program = _random_program(rng, len(packet))
    expected = kernel_result(program, packet)
    assert ours(program, packet) == expected, (seed, program.format())


def _alu_or_jump(rng: random.Random, regs: tuple[int, ...], room: int) -> str:
    d, s = rng.choice(regs), rng.choice(regs)
    sfx = rng.choice(("", "32"))
    if rng.random() < 0.25 and room > 0:
        op = rng.choice(("jeq", "jne", "jgt", "jsge", "jlt", "jset", "jsle"))
        right = f"%r{s}" if rng.random() < 0.5 else str(_imm(rng))
        return f"{op}{sfx} %r{d}, {right}, +{rng.randrange(min(room, 3) + 1)}"
    op = rng.choice(("add", "sub", "mul", "div", "sdiv", "mod", "smod", "or", "and", "lsh",
                     "rsh", "arsh", "xor", "mov"))
    if rng.random() < 0.5:
        return f"{op}{sfx} %r{d}, %r{s}"
    imm = rng.randrange(32 if sfx else 64) if op in ("lsh", "rsh", "arsh") else _imm(rng)
    if op in ("div", "sdiv", "mod", "smod") and imm == 0:
        imm = 5
    return f"{op}{sfx} %r{d}, {imm}"


def _random_calls_program(rng: random.Random) -> Program:
    """main sets r1-r9, calls f (and maybe f again); f computes on r0-r5 and its own stack."""
    main = ["mov %r6, %r1"] + [f"lddw %r{r}, {_value(rng, 64):#x}" for r in range(1, 10)]
    main += ["call local f", "mov %r7, %r0"]
    if rng.random() < 0.5:
        main += [f"lddw %r{r}, {_value(rng, 64):#x}" for r in range(1, 6)]
        main += ["call local f", "xor %r7, %r0"]
    main += ["mov %r0, %r7", "xor %r0, %r6", "xor %r0, %r8", "xor %r0, %r9",
             "mov %r1, %r0", "rsh %r1, 32", "xor %r0, %r1", "exit"]
    callee = [f"mov %r0, {_imm(rng)}", "stxdw [%r10-8], %r1", "mov %r6, %r2", "mov %r7, 0",
              "mov %r8, %r3", "mov %r9, %r4"]
    size = rng.randrange(5, 25)
    for i in range(size):
        callee.append(_alu_or_jump(rng, (0, 1, 2, 3, 4, 5), size - 1 - i))
    callee += ["ldxdw %r1, [%r10-8]", "add %r0, %r1", "add %r0, %r6", "exit"]
    return assemble("\n".join(main + ["f:"] + callee))


def _calls_differential(seed: int) -> None:
    program = _random_calls_program(random.Random(seed))
    assert ours(program, b"\0" * 8) == kernel_result(program, b"\0" * 8), (seed, program.format())


@need_kernel
@pytest.mark.parametrize("seed", range(40))
def test_random_local_calls_match_the_kernel(seed):
    _calls_differential(seed)


@need_kernel
@pytest.mark.exhaustive
def test_random_local_calls_match_the_kernel_exhaustive():
    for seed in range(1000, 4000):
        _calls_differential(seed)


@need_kernel
@pytest.mark.parametrize("seed", range(150))
def test_random_programs_match_the_kernel(seed):
    _differential(seed)


@need_kernel
@pytest.mark.exhaustive
@pytest.mark.parametrize("block", range(40))
def test_random_programs_match_the_kernel_exhaustive(block):
    for seed in range(10_000 + block * 250, 10_000 + (block + 1) * 250):
        _differential(seed)


# -- hand-written kernel comparisons: context fields, legacy loads, helpers, maps ------------

KERNEL_CASES = [
    ("ctx_len", "ldxw %r0, [%r1+0]\nexit", b"abcdefgh"),
    ("ctx_protocol", "ldxw %r0, [%r1+16]\nexit", b"abcdefgh"),
    ("ctx_narrow", "ldxh %r0, [%r1+16]\nldxb %r2, [%r1+0]\nadd %r0, %r2\nexit", b"x" * 300),
    ("ctx_cb_write_read", "stw [%r1+48], 77\nldxw %r0, [%r1+48]\nexit", b"abc"),
    ("ld_abs_in", "mov %r6, %r1\nldabsw 2\nexit", bytes(range(16))),
    ("ld_abs_last_byte", "mov %r6, %r1\nldabsb 15\nexit", bytes(range(16))),
    ("ld_abs_out", "mov %r6, %r1\nldabsh 15\nmov %r0, 9\nexit", bytes(range(16))),
    ("ld_ind_negative", "mov %r6, %r1\nmov %r7, 2\nldindb %r7, -3\nmov %r0, 9\nexit", bytes(8)),
    ("ld_ind_wraps", "mov %r6, %r1\nlddw %r7, 0x100000002\nldindb %r7, 1\nexit", bytes(range(8))),
    ("ld_abs_net_off", "mov %r6, %r1\nldabsb -0x100000\nexit", bytes(range(1, 9))),
    ("skb_load_bytes", "mov %r2, 3\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 4\ncall 26\n"
                       "ldxw %r0, [%r10-8]\nexit", bytes(range(10, 30))),
    ("skb_load_bytes_oob", "stdw [%r10-8], -1\nmov %r2, 18\nmov %r3, %r10\nadd %r3, -8\n"
                           "mov %r4, 4\ncall 26\nldxw %r1, [%r10-8]\nadd %r0, %r1\nexit",
     bytes(range(20))),
    ("bounded_loop", "mov %r0, 0\nmov %r2, 10\nloop:\nadd %r0, %r2\nsub %r2, 1\n"
                     "jne32 %r2, 0, loop\nexit", b""),
    ("gotol_loop", "mov %r0, 1\nmov %r2, 5\nloop:\nmul %r0, 3\nsub %r2, 1\njeq %r2, 0, +1\n"
                   "ja32 loop\nexit", b""),
    ("local_calls", "mov %r1, 5\ncall local f\nadd %r0, 1\nexit\nf:\nmov %r0, %r1\nmul %r0, 3\n"
                    "stdw [%r10-8], 4\nldxdw %r2, [%r10-8]\nadd %r0, %r2\nexit", b"\0" * 4),
]


@need_kernel
@pytest.mark.parametrize("text,packet", [c[1:] for c in KERNEL_CASES], ids=[c[0] for c in KERNEL_CASES])
def test_matches_kernel(text, packet):
    program = assemble(text)
    assert ours(program, packet) == kernel_result(program, packet)


@need_kernel
def test_maps_match_the_kernel():
    maps_mod = pytest.importorskip("vm.maps")
    text = """
        stw [%r10-4], 0
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_fd({array})
        call 1
        mov %r6, 0
        jeq %r0, 0, +3
        mov %r1, 1
        lock add [%r0], %r1
        ldxdw %r6, [%r0+0]
        stw [%r10-4], 5
        stdw [%r10-16], 42
        mov %r2, %r10
        add %r2, -4
        mov %r3, %r10
        add %r3, -16
        mov %r4, 0
        lddw %r1, map_fd({hash})
        call 2
        mov %r7, %r0
        stw [%r10-4], 9
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_fd({hash})
        call 3
        add %r0, %r7
        lsh %r6, 8
        add %r0, %r6
        exit
    """
    with kernel.KernelMap(2, 4, 8, 4) as k_array, kernel.KernelMap(1, 4, 8, 16) as k_hash:
        program = assemble(text.format(array=k_array.fd, hash=k_hash.fd))
        our_array = maps_mod.create_map(2, 4, 8, 4)
        our_hash = maps_mod.create_map(1, 4, 8, 16)
        our_maps = {k_array.fd: our_array, k_hash.fd: our_hash}
        fd = kernel.load_socket_filter(program)
        try:
            for _ in range(3):
                assert ours(program, b"p" * 20, maps=our_maps) == kernel.test_run_packet(fd, b"p" * 20)
        finally:
            kernel.close(fd)
        key0, key5 = (0).to_bytes(4, "little"), (5).to_bytes(4, "little")
        assert bytes(our_array.lookup(key0)) == k_array.lookup(key0)
        assert bytes(our_hash.lookup(key5)) == k_hash.lookup(key5)


# -- memory model -----------------------------------------------------------------------------

FAULTS = [
    ("stack_above_fp", "ldxdw %r0, [%r10+0]\nexit", r"pc 0: read of 8 bytes at stack\+512 out of bounds"),
    ("stack_below", "stb [%r10-513], 1\nexit", r"pc 0: write of 1 bytes at 0xffffffff: an address outside every region"),
    ("null", "mov %r1, 0\nldxw %r0, [%r1+4]\nexit", r"pc 1: read of 4 bytes at 0x4: null pointer"),
    ("ctx_readonly_field", "stw [%r1+0], 1\nexit", r"pc 0: write of 4 bytes at context\+0 is not an accessible field"),
    ("ctx_data_field", "ldxw %r0, [%r1+76]\nexit", r"pc 0: read of 4 bytes at context\+76 is not an accessible"),
    ("ctx_unaligned", "ldxw %r0, [%r1+2]\nexit", r"not an accessible field"),
    ("ctx_end", "ldxw %r0, [%r1+192]\nexit", r"context\+192 out of bounds \(size 192\)"),
    ("pointer_arith_out", "mov %r2, %r10\nadd %r2, 0x10000000\nldxb %r0, [%r2+0]\nexit",
     r"pc 2: read of 1 bytes at stack\+268435968 out of bounds \(size 512\)"),
]


@pytest.mark.parametrize("text,message", [c[1:] for c in FAULTS], ids=[c[0] for c in FAULTS])
def test_memory_faults_name_the_pc(text, message):
    with pytest.raises(MemoryFault, match=message):
        interp.run(assemble(text), b"packet")


def test_raw_mode_memory_is_bounded_and_writable():
    program = assemble("stb [%r1+3], 0x41\nldxw %r0, [%r1+0]\nexit")
    assert interp.run_raw(program, b"\1\2\3\4") == 0x41030201
    with pytest.raises(MemoryFault, match=r"pc 0: read of 4 bytes at memory\+2 out of bounds \(size 4\)"):
        interp.run_raw(assemble("ldxw %r0, [%r1+2]\nexit"), b"\1\2\3\4")
    assert interp.run_raw(assemble("mov %r0, %r2\nexit"), b"xyz") == 3
    assert interp.run_raw(assemble("lddw %r0, 0x1122334455667788\nexit")) == 0x1122334455667788
    assert interp.run(assemble("lddw %r0, 0x1122334455667788\nexit"), b"") == 0x55667788


def test_wirelen_sets_skb_len_but_loads_see_the_capture():
    program = assemble("mov %r6, %r1\nldxw %r7, [%r1+0]\nldabsb 3\nlsh %r0, 16\nor %r0, %r7\nexit")
    assert interp.run(program, b"\0\0\0\x05", wirelen=1500) == (5 << 16) | 1500
    assert interp.run(program, b"\0\0\0", wirelen=1500) == 0       # byte 3 not captured


# -- control: calls, budget, helpers ----------------------------------------------------------

def _nested_calls(depth: int) -> Program:
    lines = []
    for level in range(depth):
        lines += [f"f{level}:", "mov %r6, 1", f"call local f{level + 1}" if level + 1 < depth else "mov %r0, 0",
                  "add %r0, %r6", "exit"]
    return assemble("\n".join(lines))


def test_call_depth():
    assert interp.run(_nested_calls(interp.MAX_FRAMES), b"") == interp.MAX_FRAMES
    with pytest.raises(CallDepthExceeded, match=r"pc \d+: call nests more than 8 frames"):
        interp.run(_nested_calls(interp.MAX_FRAMES + 1), b"")


def test_frames_have_their_own_stack_and_restore_callee_saved():
    program = assemble("""
        stdw [%r10-8], 11
        mov %r6, 6
        mov %r1, %r10
        call local f
        ldxdw %r2, [%r10-8]
        add %r0, %r2
        add %r0, %r6
        exit
    f:
        stdw [%r10-8], 1000
        ldxdw %r0, [%r1-8]
        mov %r6, 0
        exit
    """)
    assert interp.run(program, b"") == 11 + 11 + 6


def test_callx_to_code_and_to_helper():
    program = assemble("lddw %r2, func(f)\ncall %r2\nmov %r3, 8\ncall %r3\nadd %r0, 1\nexit\n"
                       "f:\nmov %r0, 40\nexit")
    assert interp.run(program, b"") == 1                     # helper 8 returned cpu 0
    with pytest.raises(HelperError, match=r"pc 2: callx to 0x100000000: neither code"):
        interp.run(assemble("lddw %r2, 0x100000000\ncall %r2\nexit"), b"")


@pytest.mark.parametrize("text,pc", [("ja -1", 0), ("mov %r0, 0\nadd %r0, 1\nja -2", 1)],
                         ids=["self_loop", "counting_loop"])
def test_budget(text, pc):
    with pytest.raises(BudgetExceeded, match=rf"pc {pc}: instruction budget of 5000 exhausted"):
        interp.run(assemble(text), b"", budget=5000)


def test_errors_at_load_and_fall_off():
    with pytest.raises(IllegalProgram, match=r"pc 1: unknown opcode 0xff"):
        interp.run(Program([Insn(0xB7), Insn(0xFF)]), b"")
    with pytest.raises(VMError, match=r"pc 0: execution fell off the end"):
        interp.run(assemble("mov %r0, 1"), b"")
    with pytest.raises(HelperError, match=r"pc 0: call to unknown helper 999"):
        interp.run(assemble("call 999\nexit"), b"")
    with pytest.raises(HelperError, match=r"pc 0: lddw: no map with fd/index 3"):
        interp.run(assemble("lddw %r1, map_fd(3)\nexit"), b"")


class FakeRing:
    def __init__(self):
        self.records, self.pending = [], {}

    def reserve(self, size, flags=0):
        view = memoryview(bytearray(size))
        self.pending[id(view)] = view
        return view

    def submit(self, view, flags=0):
        self.records.append(bytes(self.pending.pop(id(view))))

    def discard(self, view, flags=0):
        self.pending.pop(id(view))

    def output(self, data, flags=0):
        self.records.append(bytes(data))
        return 0

    def query(self, flags):
        return len(self.records) * 100 + flags


def test_ringbuf_helpers():
    ring = FakeRing()
    program = assemble("""
        lddw %r1, map_fd(0)
        mov %r2, 8
        mov %r3, 0
        call 131
        jeq %r0, 0, +8
        stdw [%r0+0], 0x1234
        mov %r1, %r0
        mov %r2, 0
        call 132
        stw [%r10-4], 0x55
        lddw %r1, map_fd(0)
        mov %r2, %r10
        add %r2, -4
        mov %r3, 4
        mov %r4, 0
        call 130
        lddw %r1, map_fd(0)
        mov %r2, 3
        call 134
        exit
    """)
    assert interp.run(program, b"", maps=[ring]) == 203
    assert ring.records == [(0x1234).to_bytes(8, "little"), b"\x55\0\0\0"]


def test_ringbuf_record_is_gone_after_submit():
    ring = FakeRing()
    program = assemble("lddw %r1, map_fd(0)\nmov %r2, 8\nmov %r3, 0\ncall 131\nmov %r6, %r0\n"
                       "mov %r1, %r0\nmov %r2, 0\ncall 133\nldxb %r0, [%r6+0]\nexit")
    with pytest.raises(MemoryFault, match=r"pc 9: read of 1 bytes .*outside every region"):
        interp.run(program, b"", maps=[ring])


def test_trace_printk_and_helper_errors():
    trace = []
    program = assemble("""
        lddw %r1, 0x0000000a7525206425
        stdw [%r10-16], 0
        stxdw [%r10-16], %r1
        mov %r1, %r10
        add %r1, -16
        mov %r2, 8
        mov %r3, -5
        mov %r4, 7
        call 6
        exit
    """)
    assert interp.run(program, b"", trace=trace) == len("-5 7\n")
    assert trace == ["-5 7\n"]
    with pytest.raises(HelperError, match=r"pc 2: map_lookup_elem: argument 1 \(0x0\) is not a map"):
        interp.run(assemble("mov %r1, 0\nmov %r2, %r10\ncall 1\nexit"), b"")


def test_custom_helpers_and_exit():
    from vm.helpers import Exit

    def boom(m, *args):
        raise RuntimeError("kaput")

    def stop(m, r1, *args):
        raise Exit(r1 + 1)

    assert interp.run(assemble("mov %r1, 41\ncall 200\nmov %r0, 0\nexit"), b"", helpers={200: stop}) == 42
    with pytest.raises(HelperError, match=r"pc 0: helper boom failed: kaput"):
        interp.run(assemble("call 201\nexit"), b"", helpers={201: boom})


# -- the interpreter raises nothing but VMError -----------------------------------------------

@st.composite
def legal_insn(draw):
    form = draw(st.sampled_from(FORMS))
    regs = st.integers(0, 10)
    small = st.sampled_from((0, 1, -1, 4, -8, 8, 16, 0x7FFFFFFF, -2**31))

    def field(name):
        lo, hi = getattr(form, name)
        if lo == hi:
            return lo
        if (lo, hi) == ebpf.REG:
            return draw(regs)
        return draw(st.one_of(small.filter(lambda v: lo <= v <= hi), st.integers(lo, hi)))
    first = Insn(form.opcode, field("dst"), field("src"), field("off"), field("imm"))
    if form.opcode == ebpf.LDDW:
        return [first, Insn(0, imm=draw(small) if form.src[0] in (0, 2, 6) else 0)]
    return [first]


hostile = st.lists(st.one_of(legal_insn(), st.builds(lambda b: [Insn.decode(b)], st.binary(min_size=8, max_size=8))),
                   min_size=1, max_size=25).map(lambda chunks: Program([i for c in chunks for i in c]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile, st.binary(max_size=40))
def test_hostile_programs_raise_only_vmerror(program, packet):
    for runner in (lambda: interp.run(program, packet, budget=2000, maps=[FakeRing()]),
                   lambda: interp.run_raw(program, packet, budget=2000)):
        try:
            result = runner()
        except VMError as exc:
            assert re.match(r"pc -?\d+: ", str(exc)) and "internal error" not in str(exc), str(exc)
        else:
            assert 0 <= result <= M64


@pytest.mark.exhaustive
@settings(max_examples=20_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile, st.binary(max_size=40))
def test_hostile_programs_raise_only_vmerror_exhaustive(program, packet):
    test_hostile_programs_raise_only_vmerror.hypothesis.inner_test(program, packet)


RINGBUF_PROGRAM = """
    lddw %r1, map_fd({fd})
    mov %r2, 12
    mov %r3, 0
    call 131
    jeq %r0, 0, skip
    stw [%r0+0], 0x11223344
    mov %r1, %r0
    mov %r2, 0
    call 132
skip:
    lddw %r1, map_fd({fd})
    mov %r2, %r10
    add %r2, -8
    stdw [%r10-8], 7
    mov %r3, 8
    mov %r4, 0
    call 130
    mov %r6, %r0
    lddw %r1, map_fd({fd})
    mov %r2, {query}
    call 134
    lsh %r6, 16
    add %r0, %r6
    exit
"""


@need_kernel
@pytest.mark.parametrize("query", [0, 1, 2, 3], ids=["avail_data", "ring_size", "cons_pos", "prod_pos"])
def test_ringbuf_helpers_match_the_kernel(query):
    maps_mod = pytest.importorskip("vm.maps")
    ours_ring = maps_mod.create_map(27, 0, 0, 4096)
    k_ring = kernel.KernelMap(27, 0, 0, 4096)
    try:
        program = assemble(RINGBUF_PROGRAM.format(fd=k_ring.fd, query=query))
        assert (ours(program, b"abc", maps={k_ring.fd: ours_ring})
                == kernel_result(program, b"abc"))
    finally:
        k_ring.close()
    records = []
    ours_ring.consumer().consume(lambda data: records.append(bytes(data)))
    assert records == [(0x11223344).to_bytes(4, "little") + bytes(8), (7).to_bytes(8, "little")]


def test_time_and_randomness_come_from_the_caller():
    program = assemble("call 5\nmov %r6, %r0\ncall 7\nadd %r0, %r6\nexit")
    expected = random.Random(7).getrandbits(32) + 1000
    assert interp.run(program, b"", rng=random.Random(7), clock=lambda: 1000) == expected
    assert interp.run_raw(program, rng=random.Random(7), clock=lambda: 1000) == expected


@need_kernel
def test_direct_map_value_matches_the_kernel():
    maps_mod = pytest.importorskip("vm.maps")
    value = bytes(range(1, 17))
    with kernel.KernelMap(2, 4, 16, 1) as k_array:
        our_array = maps_mod.create_map(2, 4, 16, 1)
        for m in (k_array, our_array):
            assert m.update(bytes(4), value) == 0
        program = assemble(f"lddw %r1, map_value({k_array.fd}, 4)\nldxw %r0, [%r1+0]\n"
                           f"stw [%r1+4], 0x5a\nldxb %r2, [%r1-4]\nlsh %r2, 24\nor %r0, %r2\nexit")
        assert ours(program, b"", maps={k_array.fd: our_array}) == kernel_result(program, b"")
        assert bytes(our_array.lookup(bytes(4))) == k_array.lookup(bytes(4))


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, list], ids=lambda k: k.__name__)
def test_packet_buffer_types(kind):
    program = assemble("mov %r6, %r1\nldabsw 0\nmov %r7, %r0\nmov %r8, 1\nldindh %r8, 3\nlsh %r7, 16\n"
                       "xor %r0, %r7\nmov %r9, %r0\nmov %r2, 0\nmov %r3, %r10\nadd %r3, -4\nmov %r4, 4\n"
                       "mov %r1, %r6\ncall 26\nldxw %r0, [%r10-4]\nadd %r0, %r9\nexit")
    data = bytes(range(1, 9))
    assert interp.run(program, kind(data)) == interp.run(program, data)
    assert interp.run(program, data) == ((0x01020304 << 16) ^ 0x0506 ^ 0) + 0x04030201 & 0xFFFFFFFF
