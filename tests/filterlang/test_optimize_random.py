"""filterlang.optimize on random loop-free classic BPF programs, judged by libpcap's bpf_filter.

Each seed builds a valid program (every opcode libpcap's interpreter knows, scratch memory
written before it is read, forward jumps only) and random packets; libpcap runs the input and
our output. Strict mode must agree on every packet; the default mode wherever the input
accepts (it may also accept packets on which a dropped load would have failed).
"""
from __future__ import annotations

import random

import pytest

from filterlang.errors import FilterError
from filterlang.optimize import optimize
from tests.support.oracle import libpcap_run, libpcap_safe
from vm.cbpf import Program

_ALU_K = [0x04, 0x14, 0x24, 0x34, 0x44, 0x54, 0x64, 0x74, 0x94, 0xA4]
_ALU_X = [c | 0x08 for c in _ALU_K]
_JMP_K = [0x15, 0x25, 0x35, 0x45]


def _stmt(rng: random.Random):
    kind = rng.random()
    small = rng.choice([0, 1, 2, 3, 4, 8, 12, 14, 20, 23, 0xF0, 0xFF, 0x800, 0xFFFFFFFF])
    if kind < 0.25:      # packet loads
        code = rng.choice([0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0xB1, 0x80, 0x81])
        return (code, 0, 0, rng.randrange(0, 40) if code != 0x80 else 0)
    if kind < 0.35:      # immediates
        return (rng.choice([0x00, 0x01]), 0, 0, small)
    if kind < 0.5:       # scratch memory
        return (rng.choice([0x02, 0x03, 0x60, 0x61]), 0, 0, rng.randrange(4))
    if kind < 0.75:
        code = rng.choice(_ALU_K)
        k = small
        if code in (0x34, 0x94) and k == 0:
            k = 3
        if code in (0x64, 0x74):
            k = rng.randrange(32)
        return (code, 0, 0, k)
    if kind < 0.85:
        return (rng.choice(_ALU_X + [0x84]), 0, 0, 0)
    return (rng.choice([0x07, 0x87]), 0, 0, 0)


def random_program(seed: int) -> list[tuple[int, int, int, int]]:
    rng = random.Random(seed)
    rows = []
    for slot in range(4):                      # M[0..3] written before any read
        rows += [(0x00, 0, 0, rng.randrange(256)), (0x02, 0, 0, slot)]
    body = rng.randrange(6, 40)
    rets = [(0x06, 0, 0, 0), (0x06, 0, 0, 96), (0x06, 0, 0, 262144), (0x16, 0, 0, 0)]
    n_ret = rng.randrange(2, 5)
    total = len(rows) + body + n_ret
    while len(rows) < total - n_ret:
        pc = len(rows)
        if rng.random() < 0.3:
            room = total - pc - 1
            jt, jf = min(rng.randrange(0, 6), room - 1), min(rng.randrange(0, 12), room - 1)
            k = rng.choice([0, 1, 2, 6, 17, 0x800, 0x45, rng.randrange(256)])
            if rng.random() < 0.15:
                rows.append((rng.choice(_JMP_K) | 0x08, jt, jf, 0))
            elif rng.random() < 0.1:
                rows.append((0x05, 0, 0, min(rng.randrange(0, 5), room - 1)))
            else:
                rows.append((rng.choice(_JMP_K), jt, jf, k))
        else:
            rows.append(_stmt(rng))
    rows += [rng.choice(rets) for _ in range(n_ret)]
    return rows


def random_packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed ^ 0x5EED)
    out = [b"", bytes(60), b"\xff" * 60]
    for _ in range(count):
        size = rng.choice([0, 1, 4, 13, 20, 24, 30, 40, 60, 64])
        out.append(bytes(rng.choice([0, 0, 1, 6, 0x45, 0x08, 0xFF, rng.randrange(256)])
                         for _ in range(size)))
    return out


def _check(seed: int, count: int):
    rows = random_program(seed)
    if not libpcap_safe(rows):
        pytest.skip("generated program is not one libpcap can run")
    pkts = random_packets(seed, count)
    want = [libpcap_run(rows, p) for p in pkts]
    prog = Program.from_tuples(rows)
    for strict in (True, False):
        try:
            out = optimize(prog, keep_failing_loads=strict).to_tuples()
        except FilterError:
            assert not any(want), "rejected a program that accepts something"
            continue
        assert libpcap_safe(out)
        got = [libpcap_run(out, p) for p in pkts]
        if strict:
            assert got == want
        else:
            assert all(g == w for g, w in zip(got, want) if w)


@pytest.mark.parametrize("seed", range(300))
def test_random_programs(seed):
    _check(seed, 40)


@pytest.mark.exhaustive
@pytest.mark.parametrize("seed", range(300, 20300))
def test_random_programs_exhaustive(seed):
    _check(seed, 60)
