"""Mutated captures: the readers give packets and then, at most, one CaptureError — never
another exception, never a hang — and agree with themselves whether mapped or streamed.
The exhaustive run also compares every mutated file with tcpdump (libpcap 1.10.3)."""
from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bpfdump.packet import Packet
from bpfdump.sources import CaptureError, open_offline

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
TCPDUMP = shutil.which("tcpdump")


def _small(name, limit):
    data = (PCAPS / name).read_bytes()
    return data[:limit]


BASES = {
    "pcap": _small("sample.pcap", 900),
    "pcap-be": _small("sample-be.pcap", 700),
    "pcap-nano": _small("sample-nano.pcap", 700),
    "pcapng": _small("sample.pcapng", 1400),
    "pcapng-two-interfaces": (PCAPS / "two-interfaces.pcapng").read_bytes(),
}

INTERESTING = [0, 1, 3, 4, 7, 8, 11, 12, 16, 20, 24, 28, 32, 0x7F, 0x80, 0xFF, 0xFFFF,
               0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 262144, 262145, 0x0A0D0D0A,
               0x1A2B3C4D, 0x4D3C2B1A]


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(BASES)))
    data = bytearray(BASES[name])
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["byte", "word", "cut", "insert", "delete"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif kind == "word":
            value = draw(st.sampled_from(INTERESTING))
            order = draw(st.sampled_from("<>"))
            pos -= pos % 4
            data[pos:pos + 4] = struct.pack(order + "I", value)
        elif kind == "cut":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[pos:pos + draw(st.integers(1, 16))]
    return name, bytes(data)


def read_all(obj):
    packets, error = [], None
    try:
        with open_offline(obj) as src:
            assert src.precision in ("micro", "nano")
            assert isinstance(src.linktype, int) and isinstance(src.snaplen, int)
            for pkt in src:
                assert isinstance(pkt, Packet)
                assert isinstance(pkt.data, bytes) and len(pkt.data) <= max(src.snaplen, 262144)
                packets.append(pkt)
    except CaptureError as exc:
        text = str(exc)
        assert text and "\n" not in text
        error = exc.message
    return packets, error


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_capture_only_capture_errors(tmp_path_factory, case):
    _name, data = case
    path = tmp_path_factory.mktemp("fuzz") / "m.cap"
    path.write_bytes(data)
    mapped = read_all(path)
    streamed = read_all(io.BufferedReader(io.BytesIO(data), buffer_size=64))
    assert mapped == streamed


# libpcap 1.10 refuses what we read on purpose (several link types / snapshot lengths /
# byte orders in one pcapng file), or words a message as libpcap master does.
ACCEPTED_DIFFERENCES = ("an interface has a type", "an interface has a snapshot length",
                        "the file has sections with different byte orders")
MASTER_WORDING = {"archaic pcap savefile format": "unsupported pcap savefile version ",
                  "block total length in header and trailer don't match":
                      "block total length in header "}


def tcpdump_read(path):
    proc = subprocess.run([TCPDUMP, "--nano", "-r", str(path), "-w", "-"], capture_output=True,
                          timeout=60)
    out, records, pos = proc.stdout, [], 24
    while pos + 16 <= len(out):
        sec, nsec, caplen, wirelen = struct.unpack_from("<iIII", out, pos)
        records.append((sec * 1_000_000_000 + nsec, wirelen, out[pos + 16:pos + 16 + caplen]))
        pos += 16 + caplen
    error = None
    if proc.returncode:
        error = proc.stderr.decode().strip().splitlines()[-1]
        for prefix in ("tcpdump: ", "pcap_loop: "):
            error = error.removeprefix(prefix)
    return records, error


@pytest.mark.exhaustive
@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump not installed")
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_capture_matches_tcpdump(tmp_path_factory, case):
    _name, data = case
    path = tmp_path_factory.mktemp("fuzz") / "m.cap"
    path.write_bytes(data)
    expected, err = tcpdump_read(path)
    packets, our_err = read_all(path)
    got = [(p.ts, p.wirelen, p.data) for p in packets]
    if err and err.startswith(ACCEPTED_DIFFERENCES):
        assert got[:len(expected)] == expected
        return
    if err == "unknown time stamp resolution" or (err or "").startswith("unknown data link"):
        return
    # timestamps libpcap computes with 32/64-bit overflow (usec >= 10^6 scaled, 2^-n
    # resolutions beyond 2^-34) are compared by record count and bytes only
    assert [(w, d) for _, w, d in got] == [(w, d) for _, w, d in expected]
    if err in MASTER_WORDING:
        assert our_err.startswith(MASTER_WORDING[err])
    else:
        assert our_err == err
