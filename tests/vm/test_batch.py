"""vm.batch: lane-parallel execution returns, for every packet, what libpcap and the scalar
eBPF interpreter return."""
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tests.support.expressions import EXPRESSIONS
from tests.support.oracle import LibpcapError, libpcap_compile, libpcap_run
from tests.support.packets import LINKTYPES, packets
from vm import batch, ebpf, interp
from vm.cbpf import Program
from vm.translate import to_ebpf

SAMPLE = random.Random(3).sample(EXPRESSIONS, 60)


def _programs(exprs, linktype, optimize):
    for expr in exprs:
        try:
            rows = libpcap_compile(expr, linktype, optimize=optimize)
        except LibpcapError:
            continue
        yield expr, rows


def _check(linktype, exprs, optimize=True):
    corpus = packets(linktype)
    datas = [s.data for s in corpus]
    wires = [s.wirelen for s in corpus]
    checked = 0
    for expr, rows in _programs(exprs, linktype, optimize):
        eprog = to_ebpf(Program.from_tuples(rows))
        got = batch.run_many(eprog, datas, wires)
        want = [libpcap_run(rows, s.data, s.wirelen) for s in corpus]
        assert got == want, expr
        checked += 1
    return checked


@pytest.mark.parametrize("linktype", LINKTYPES)
def test_batch_agrees_with_libpcap(linktype):
    assert _check(linktype, SAMPLE[:25]) > 0


@pytest.mark.parametrize("optimize", [True, False], ids=["opt", "unopt"])
def test_translated_filters_are_batchable(optimize):
    """The whole point: the CLI's programs run batched, not one packet at a time."""
    missed = []
    for expr, rows in _programs(SAMPLE, "EN10MB", optimize):
        if "protochain" in expr:
            continue                      # a backward jump: scalar by design
        if batch.compile_batch(to_ebpf(Program.from_tuples(rows))) is None:
            missed.append(expr)
    assert missed == []


@pytest.mark.exhaustive
@pytest.mark.parametrize("linktype", LINKTYPES)
@pytest.mark.parametrize("optimize", [True, False], ids=["opt", "unopt"])
def test_batch_agrees_with_libpcap_everywhere(linktype, optimize):
    assert _check(linktype, EXPRESSIONS, optimize) > 0


# -- straight-line eBPF against the scalar interpreter ------------------------------------------

_ALU = ["add", "sub", "mul", "div", "or", "and", "lsh", "rsh", "mod", "xor", "mov", "arsh"]
_JMP = ["jeq", "jne", "jgt", "jge", "jlt", "jle", "jset", "jsgt", "jsge", "jslt", "jsle"]


@st.composite
def straight_programs(draw):
    """Random loop-free programs over r0..r5 with packet loads, stack slots and forward jumps."""
    regs = st.sampled_from([0, 2, 3, 4, 5, 7])      # r1 and its copy r6 keep the context
    lines = ["mov %r6, %r1"]
    for r in (0, 2, 3, 4, 5, 7):
        lines.append(f"mov %r{r}, {draw(st.integers(-2**31, 2**31 - 1))}")
    n = draw(st.integers(3, 25))
    for i in range(n):
        kind = draw(st.sampled_from(["alu", "alu", "jmp", "ld", "ind", "st", "len"]))
        d, s = draw(regs), draw(regs)
        if kind == "alu":
            op = draw(st.sampled_from(_ALU)) + draw(st.sampled_from(["", "32"]))
            src = f"%r{s}" if draw(st.booleans()) else str(draw(st.integers(-2**31, 2**31 - 1)))
            lines.append(f"{op} %r{d}, {src}")
        elif kind == "jmp":
            op = draw(st.sampled_from(_JMP)) + draw(st.sampled_from(["", "32"]))
            src = f"%r{s}" if draw(st.booleans()) else str(draw(st.integers(-2**31, 2**31 - 1)))
            lines.append(f"{op} %r{d}, {src}, +{draw(st.integers(0, n - i))}")
        elif kind == "ld":
            lines.append(f"ldabs{draw(st.sampled_from('bhw'))} {draw(st.integers(0, 70))}")
        elif kind == "ind":
            lines.append(f"ldind{draw(st.sampled_from('bhw'))} %r{s}, "
                         f"{draw(st.integers(-20, 70))}")
        elif kind == "st":
            slot = draw(st.sampled_from([-8, -16, -24]))
            lines.append(f"stxdw [%r10{slot}], %r{s}")
            lines.append(f"ldxdw %r{d}, [%r10{slot}]")
        else:
            lines.append(f"ldxw %r{d}, [%r6]")
    lines += ["exit"] * (n + 2)
    return ebpf.assemble("\n".join(lines))


PACKETS = [bytes((i + j * 37) % 256 for j in range(80))[:ln] for i, ln in
           [(0, 80), (7, 60), (200, 14), (3, 0), (9, 1), (100, 40), (40, 79)]]


@settings(max_examples=150, deadline=None)
@given(straight_programs())
def test_batch_matches_scalar_interpreter(prog):
    b = batch.compile_batch(prog)
    assert b is not None
    wires = [len(p) + 3 for p in PACKETS]
    buf, base, caplen = batch.pack(PACKETS)
    got = b.run(buf, base, caplen, np.asarray(wires, dtype=np.uint64),
                scalar=lambda i: interp.run(prog, PACKETS[i], wires[i])).tolist()
    assert got == [interp.run(prog, p, w) for p, w in zip(PACKETS, wires)]


def test_programs_with_calls_or_loops_are_left_to_the_scalar_vm():
    assert batch.compile_batch(ebpf.assemble("call 7\nexit")) is None
    assert batch.compile_batch(ebpf.assemble("mov %r0, 3\nsub %r0, 1\njne %r0, 0, -2\nexit")) \
        is None
