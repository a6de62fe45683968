"""libpcap's own accept tests (../shared/conformance/libpcap/accept_blocks.json): every alias
of every block for a supported DLT compiles iff libpcap 1.10 compiles it here, with the same
verdict as libpcap's program on every packet of the corpus. (The expected bytecode in the file
is libpcap master's; verdicts, not bytes, are compared.)"""
from __future__ import annotations

import functools
import ipaddress

import pytest

import filterlang
from tests.filterlang.test_differential_oracle import (SUPPORTED, OracleError, libpcap_compile,
                                                       verdict_pair)
from tests.support import expressions, packets


def _netmask(block) -> int:
    value = block.get("netmask")
    if value is None:
        return 0
    return int(ipaddress.IPv4Address(value)) if isinstance(value, str) else int(value)


def _cases():
    out = []
    for block in expressions.accept_corpus():
        if block.get("DLT") not in SUPPORTED:
            continue
        for i, alias in enumerate(block.get("aliases", [])):
            if not alias.startswith("_"):
                out.append(pytest.param(block, alias, id=f"{block['name']}[{i}]"))
    return out


CASES = _cases()


@functools.lru_cache(maxsize=None)
def _corpus(linktype: str, step: int):
    return tuple(packets.packets(linktype)[::step])


def check(block, alias, step):
    linktype = block["DLT"]
    snaplen = int(block.get("snaplen", 262144))
    netmask = _netmask(block)
    try:
        theirs = libpcap_compile(alias, linktype, snaplen, False, netmask)
    except OracleError as exc:
        if "vxlan" in alias:
            pytest.skip("vxlan is libpcap 1.11 syntax: test_vxlan.py checks master's programs")
        with pytest.raises(filterlang.FilterError):
            filterlang.compile(alias, linktype, snaplen, False, netmask)
        pytest.skip(f"libpcap 1.10 rejects it here too: {exc}")
    mine = filterlang.compile(alias, linktype, snaplen, False, netmask).to_tuples()
    for sample in _corpus(linktype, step):
        want, got = verdict_pair(theirs, mine, sample.data, sample.wirelen)
        assert got == want, f"{sample.name}: filterlang {got}, libpcap {want}"


def test_corpus_present():
    if not CASES:
        pytest.skip("accept_blocks.json not found")
    assert len(CASES) > 800


@pytest.mark.parametrize("block, alias", CASES)
def test_alias(block, alias):
    if block.get("skip"):
        pytest.skip(f"needs name lookups ({block['skip']}): exhaustive run only")
    check(block, alias, 25)


@pytest.mark.exhaustive
@pytest.mark.parametrize("block, alias", CASES)
def test_alias_every_packet(block, alias):
    check(block, alias, 1)
