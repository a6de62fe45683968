"""The libpcap 1.10 oracle for filterlang's differential tests, and checks of the oracle itself.

pcapy-ng's wheel bundles its own libpcap (1.9.1 at the time of writing), which lacks parts of
the 1.10 language (``ifindex``) and differs in places; the compiler's target is libpcap 1.10, so
these helpers call the system libpcap (the one tcpdump uses) through ctypes: pcap_open_dead,
pcap_compile, bpf_filter.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

import pytest

SUPPORTED = ("EN10MB", "LINUX_SLL", "LINUX_SLL2", "RAW", "IPV4", "IPV6", "NULL", "LOOP")
DLT = {"NULL": 0, "EN10MB": 1, "RAW": 12, "LOOP": 108, "LINUX_SLL": 113, "IPV4": 228,
       "IPV6": 229, "LINUX_SLL2": 276}


class OracleError(Exception):
    """libpcap refused the expression; the message is libpcap's."""


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]


class _Program(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_Insn))]


@functools.lru_cache(maxsize=1)
def lib():
    for name in ("libpcap.so.0.8", "libpcap.so.1", ctypes.util.find_library("pcap")):
        if not name:
            continue
        try:
            handle = ctypes.CDLL(name)
        except OSError:
            continue
        handle.pcap_open_dead.restype = ctypes.c_void_p
        handle.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
        handle.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Program),
                                        ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
        handle.pcap_geterr.restype = ctypes.c_char_p
        handle.pcap_geterr.argtypes = [ctypes.c_void_p]
        handle.pcap_freecode.argtypes = [ctypes.POINTER(_Program)]
        handle.pcap_close.argtypes = [ctypes.c_void_p]
        handle.pcap_lib_version.restype = ctypes.c_char_p
        handle.bpf_filter.restype = ctypes.c_uint
        handle.bpf_filter.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint,
                                      ctypes.c_uint]
        return handle
    pytest.skip("system libpcap not found")


@functools.lru_cache(maxsize=1)
def _handles():
    return {}


def _dead(linktype: str, snaplen: int):
    key = (linktype, snaplen)
    cache = _handles()
    if key not in cache:
        cache[key] = lib().pcap_open_dead(DLT[linktype], snaplen)
    return cache[key]


def libpcap_compile(expr: str, linktype: str = "EN10MB", snaplen: int = 262144,
                    optimize: bool = False, netmask: int = 0) -> list[tuple[int, int, int, int]]:
    """pcap_compile() of the system libpcap; raises OracleError with libpcap's message."""
    handle = _dead(linktype, snaplen)
    prog = _Program()
    rc = lib().pcap_compile(handle, ctypes.byref(prog), expr.encode(), int(optimize),
                            netmask & 0xFFFFFFFF)
    if rc != 0:
        raise OracleError(lib().pcap_geterr(handle).decode(errors="replace"))
    rows = [(prog.bf_insns[i].code, prog.bf_insns[i].jt, prog.bf_insns[i].jf, prog.bf_insns[i].k)
            for i in range(prog.bf_len)]
    lib().pcap_freecode(ctypes.byref(prog))
    return rows


@functools.lru_cache(maxsize=8192)
def _array(rows: tuple):
    arr = (_Insn * len(rows))()
    for i, (code, jt, jf, k) in enumerate(rows):
        arr[i].code, arr[i].jt, arr[i].jf, arr[i].k = code, jt, jf, k
    return arr


# Zeroes the scratch memory: bpf_filter() keeps M[] in an uninitialised stack array, and some
# libpcap programs read a register no path wrote (the Geneve offsets after a failed Geneve
# test); running this first, from the same call site, makes such verdicts reproducible.
_SCRUB = tuple([(0x00, 0, 0, 0)] + [(0x02, 0, 0, i) for i in range(16)] + [(0x06, 0, 0, 0)])


def libpcap_run(rows, packet: bytes, wirelen: int | None = None) -> int:
    """libpcap's bpf_filter() on ``packet`` (caplen = len(packet)), scratch memory zeroed."""
    rows = tuple((int(c), int(jt), int(jf), int(k) & 0xFFFFFFFF) for c, jt, jf, k in rows)
    wirelen = len(packet) if wirelen is None else wirelen
    packet = bytes(packet)
    filt = lib().bpf_filter
    filt(_array(_SCRUB), packet, wirelen, len(packet))
    return int(filt(_array(rows), packet, wirelen, len(packet)))


def verdict_pair(theirs, mine, packet: bytes, wirelen: int | None = None) -> tuple[int, int]:
    """(libpcap program's verdict, our program's verdict) on one packet. Identical programs
    agree by definition; otherwise a disagreement is re-run a few times, because a program
    that reads a scratch register no path wrote sees whatever bpf_filter's stack held."""
    if list(map(tuple, theirs)) == list(map(tuple, mine)):
        want = libpcap_run(theirs, packet, wirelen)
        return want, want
    for _ in range(3):
        want = libpcap_run(theirs, packet, wirelen)
        got = libpcap_run(mine, packet, wirelen)
        if want == got:
            break
    return want, got


def test_oracle_is_libpcap_1_10():
    version = lib().pcap_lib_version().decode()
    assert "libpcap version 1.10" in version, version


@pytest.mark.parametrize("expr, linktype", [("ifindex 3", "EN10MB"), ("tcp port 80", "RAW")],
                         ids=str)
def test_oracle_compiles(expr, linktype):
    assert libpcap_compile(expr, linktype)[-1][0] == 0x06


def test_oracle_rejects_with_libpcaps_message():
    with pytest.raises(OracleError, match="syntax error"):
        libpcap_compile("tcp or or", "EN10MB")
