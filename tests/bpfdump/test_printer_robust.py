"""The printer never raises: conformance savefiles and mutated packets, every option set.

These tests check robustness only (a string comes back for every packet); agreement with
tcpdump is checked by test_printer.py.
"""
from __future__ import annotations

import os
import random

import pytest

from bpfdump.packet import Packet
from bpfdump.printer import PrintOptions, Printer

SAVEFILES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "conformance",
                         "libpcap", "savefiles")

# Numeric throughout: name lookups of random addresses would only measure the resolver.
OPTION_SETS = [
    PrintOptions(numeric=1),
    PrintOptions(numeric=1, verbose=3, ether=True, hexascii=2),
    PrintOptions(numeric=1, quiet=1, hex=1, ts_format=3),
    PrintOptions(numeric=1, verbose=1, ascii=1, ts_format=5, nano=True, number=True),
    PrintOptions(numeric=2, verbose=2, absolute_seq=True, ts_format=4),
]


def _savefiles():
    if not os.path.isdir(SAVEFILES):
        return []
    return sorted(os.listdir(SAVEFILES))


@pytest.mark.skipif(not os.path.isdir(SAVEFILES), reason="conformance data not present")
@pytest.mark.parametrize("name", _savefiles())
def test_savefiles_print_without_error(name):
    sources = pytest.importorskip("bpfdump.sources")
    try:
        with sources.open_offline(os.path.join(SAVEFILES, name)) as src:
            packets = list(src)
    except sources.CaptureError:
        pytest.skip("capture refused by the reader")
    for opts in OPTION_SETS:
        printer = Printer(opts)
        for pkt in packets:
            assert isinstance(printer.format(pkt), str)


def _seed_packets() -> list[Packet]:
    from tests.bpfdump.test_printer import ether_cases
    return [Packet(1_700_000_000_000_000_000 + i, len(bytes(p)), bytes(p), 1)
            for i, (_, p) in enumerate(ether_cases())]


def _mutants(rng: random.Random, seeds: list[Packet], count: int):
    linktypes = [1, 0, 12, 101, 108, 113, 228, 229, 276, 147]
    for _ in range(count):
        base = rng.choice(seeds)
        data = bytearray(base.data)
        for _ in range(rng.randint(1, 6)):
            kind = rng.random()
            if kind < 0.6 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif kind < 0.8:
                data = data[:rng.randrange(len(data) + 1)]
            else:
                data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        linktype = base.linktype if rng.random() < 0.8 else rng.choice(linktypes)
        offset = 14 if base.linktype == 1 else 0
        if linktype != 1 and rng.random() < 0.7:
            data = data[offset:]
        wirelen = len(data) + rng.choice([0, 0, 0, 1, 100, -1])
        yield Packet(base.ts, max(0, wirelen), bytes(data), linktype)


@pytest.mark.parametrize("seed", range(4))
def test_mutated_packets_print_without_error(seed):
    rng = random.Random(seed)
    seeds = _seed_packets()
    printers = [Printer(o) for o in OPTION_SETS]
    for pkt in _mutants(rng, seeds, 300):
        for printer in printers:
            assert isinstance(printer.format(pkt), str)


@pytest.mark.exhaustive
def test_many_mutated_packets_print_without_error():
    rng = random.Random(12345)
    seeds = _seed_packets()
    printers = [Printer(o) for o in OPTION_SETS]
    for pkt in _mutants(rng, seeds, 40000):
        for printer in printers:
            assert isinstance(printer.format(pkt), str)
