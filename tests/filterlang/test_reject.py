"""libpcap's reject tests (../shared/conformance/libpcap/reject_tests.json) for the supported
DLTs. The file comes from libpcap master; the compiler's target is libpcap 1.10 (the system
library, our oracle): an entry 1.10 rejects must be rejected, an entry 1.10 accepts must be
accepted with libpcap's verdicts. Messages are compared with the file's errstr (master wording)
and the match rate must stay high."""
from __future__ import annotations

import functools
import json

import pytest

import filterlang
from tests.filterlang.test_differential_oracle import (SUPPORTED, OracleError, libpcap_compile,
                                                       verdict_pair)
from tests.support import expressions, packets

REJECT_TESTS = expressions.CONFORMANCE_DIR / "libpcap" / "reject_tests.json"


@functools.lru_cache(maxsize=1)
def entries():
    if not REJECT_TESTS.is_file():
        return ()
    with REJECT_TESTS.open() as fh:
        data = json.load(fh)
    return tuple(e for e in data if e.get("DLT") in SUPPORTED and "expr" in e)


def outcome(entry):
    """(libpcap 1.10 verdict, our exception or program)."""
    expr, linktype = entry["expr"], entry["DLT"]
    snaplen = int(entry.get("snaplen", 262144))
    try:
        theirs = libpcap_compile(expr, linktype, snaplen, True, 0)
    except OracleError:
        theirs = None
    try:
        mine = filterlang.compile(expr, linktype, snaplen, True, 0)
    except filterlang.FilterError as exc:
        mine = exc
    return theirs, mine


def _needs_dns(entry) -> bool:
    return any(word in entry["expr"] for word in (".test", ".invalid", "nosuch"))


def test_entries_without_name_lookups():
    run([e for e in entries() if not _needs_dns(e)])


@pytest.mark.exhaustive
def test_every_entry():
    run(entries())


def run(selected):
    if not selected:
        pytest.skip("reject_tests.json not found")
    disagree, matched, rejected = [], 0, 0
    for entry in selected:
        theirs, mine = outcome(entry)
        if theirs is None:
            if not isinstance(mine, filterlang.FilterError):
                disagree.append(f"{entry['DLT']} {entry['expr']!r}: libpcap rejects, we accept")
                continue
            rejected += 1
            matched += entry["errstr"] in mine.message
            assert mine.expr == entry["expr"] and mine.span is not None
        elif isinstance(mine, filterlang.FilterError):
            disagree.append(f"{entry['DLT']} {entry['expr']!r}: libpcap 1.10 accepts, "
                            f"we reject: {mine.message}")
        else:
            for sample in packets.packets(entry["DLT"])[::20]:
                want, got = verdict_pair(theirs, mine.to_tuples(), sample.data,
                                         sample.wirelen)
                if got != want:
                    disagree.append(f"{entry['DLT']} {entry['expr']!r}: verdict on {sample.name}")
                    break
    assert not disagree, "\n".join(disagree[:30])
    print(f"\n{rejected} rejected; {matched} ({100 * matched / max(1, rejected):.1f}%) "
          f"carry libpcap's errstr")
    assert matched >= 0.98 * rejected


@pytest.mark.parametrize("expr, message", [
    ("tcp or or", "can't parse filter expression: syntax error"),
    ("port 70000", "port number 70000 greater than maximum 65535"),
    ("vlan 5000", "VLAN tag 5000 greater than maximum 4095"),
    ("mpls 1048576", "MPLS label 1048576 greater than maximum 1048575"),
    ("net 10.0.0.1/8", 'non-network bits set in "10.0.0.1/8"'),
    ("ah[0] = 1", "'ah' does not support the index operation"),
    ("udp[0:3] = 1", "data size must be 1, 2, or 4"),
    ("1 / 0 = 1", "division by zero"),
    ("tcp host 1.2.3.4", "'tcp' is not a valid qualifier for 'host <IPv4 address>'"),
    ("ip broadcast", "netmask not known, so 'ip broadcast' not supported"),
], ids=str)
def test_messages_point_at_the_text(expr, message):
    with pytest.raises(filterlang.FilterError) as err:
        filterlang.compile(expr, "EN10MB", optimize=False)
    exc = err.value
    assert exc.message == message
    start, end = exc.span
    assert 0 <= start < end <= len(expr) + 1
    text = str(exc)
    assert text.splitlines()[0].startswith(message)
    assert text.splitlines()[1] == expr and "^" in text.splitlines()[2]
