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


# -- structured pcapng files, block by block ------------------------------------------------------

def _pad(b):
    return b + bytes(-len(b) % 4)


def _block(order, btype, body):
    total = 12 + len(body)
    return struct.pack(order + "II", btype, total) + body + struct.pack(order + "I", total)


def _opts(order, opts):
    if not opts:
        return b""
    return b"".join(struct.pack(order + "HH", c, len(v)) + _pad(v) for c, v in opts) + \
        struct.pack(order + "HH", 0, 0)


TSRESOLS = [None, 3, 6, 9, 12, 0x80 | 10, 0x80 | 20, 0x80 | 30]


@st.composite
def pcapng_files(draw):
    order = draw(st.sampled_from("<>"))
    snaplen = draw(st.sampled_from([0, 64, 65535, 262144]))
    linktype = draw(st.sampled_from([1, 1, 1, 101]))
    out = [_block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1,
                                                   draw(st.sampled_from([0, 2])), -1)
                  + _opts(order, draw(st.lists(st.tuples(st.sampled_from([1, 2, 3, 4, 99]),
                                                          st.binary(max_size=9)),
                                                max_size=2))))]
    ifaces = []   # (units per second, tsoffset) of this section's interfaces
    first = draw(st.sampled_from(["idb"] * 9 + ["any"]))
    for n in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(["idb", "epb", "epb", "epb", "epb", "epb", "spb", "opb",
                                     "other", "shb"]))
        if n == 0 and first == "idb":
            kind = "idb"
        if kind == "idb" or (not ifaces and kind in ("epb", "opb") and draw(st.booleans())):
            res_code = draw(st.sampled_from(TSRESOLS))
            opts = [(2, b"eth%d" % len(ifaces))]
            res = 10**6
            if res_code is not None:
                opts.append((9, bytes([res_code])))
                res = (1 << (res_code & 0x7F)) if res_code & 0x80 else 10**res_code
            offset = draw(st.sampled_from([0, 0, 1_600_000_000, -3600]))
            if offset:
                opts.append((14, struct.pack(order + "q", offset)))
            lt = linktype if draw(st.integers(0, 9)) else 113
            snap = snaplen if draw(st.integers(0, 9)) else 96
            out.append(_block(order, 1, struct.pack(order + "HHI", lt, 0, snap)
                              + _opts(order, opts)))
            ifaces.append((res, offset))
            continue
        if kind == "shb":
            out.append(_block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0,
                                                               -1)))
            ifaces = []
            first = draw(st.sampled_from(["idb"] * 9 + ["any"]))
            if first == "idb":
                out.append(_block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen)))
                ifaces.append((10**6, 0))
            continue
        if kind == "other":
            btype = draw(st.sampled_from([4, 5, 0xBAD, 0x80000001]))
            out.append(_block(order, btype, _pad(draw(st.binary(max_size=12)))))
            continue
        data = draw(st.binary(max_size=80))
        wirelen = len(data) + draw(st.sampled_from([0, 0, 3, 100]))
        if kind == "spb":
            wirelen = len(data) if draw(st.integers(0, 4)) else wirelen
            out.append(_block(order, 3, struct.pack(order + "I", wirelen) + _pad(data)))
            continue
        ifid = 0
        if ifaces:
            ifid = draw(st.sampled_from(list(range(len(ifaces))) * 4 + [len(ifaces)]))
        res, offset = ifaces[ifid] if ifid < len(ifaces) else (10**6, 0)
        sec = max(0, draw(st.integers(1_000_000_000, 1_900_000_000)) - offset)
        if res > 10**10:
            sec %= 10**6       # keep 64-bit units: the offset carries the epoch
        units = sec * res + draw(st.integers(0, res - 1))
        units &= (1 << 64) - 1
        if kind == "epb":
            body = struct.pack(order + "IIIII", ifid, units >> 32, units & 0xFFFFFFFF,
                               len(data), wirelen) + _pad(data)
            if draw(st.booleans()):
                body += _opts(order, [(2, struct.pack(order + "I", 1)), (1, b"note")])
            out.append(_block(order, 6, body))
        else:
            out.append(_block(order, 2, struct.pack(order + "HHIIII", ifid, 0, units >> 32,
                                                     units & 0xFFFFFFFF, len(data), wirelen)
                              + _pad(data)))
    return b"".join(out)


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(pcapng_files())
def test_structured_pcapng_only_capture_errors(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("ng") / "s.pcapng"
    path.write_bytes(data)
    assert read_all(path) == read_all(io.BufferedReader(io.BytesIO(data), buffer_size=32))


@pytest.mark.exhaustive
@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump not installed")
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pcapng_files())
def test_structured_pcapng_matches_tcpdump(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("ng") / "s.pcapng"
    path.write_bytes(data)
    expected, err = tcpdump_read(path)
    packets, our_err = read_all(path)
    got = [(p.ts, p.wirelen, p.data) for p in packets]
    if err and err.startswith(ACCEPTED_DIFFERENCES):
        assert got[:len(expected)] == expected
        return
    assert got == expected
    if err in MASTER_WORDING:
        assert our_err.startswith(MASTER_WORDING[err])
    else:
        assert our_err == err
