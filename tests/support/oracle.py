"""Independent oracles for differential tests: libpcap (pcapy-ng and ctypes) and the tcpdump binary.

Nothing here imports the project's own code: every answer comes from libpcap 1.10 or tcpdump.

    libpcap_compile(expr, linktype)   -> [(code, jt, jf, k), ...]   (system libpcap's pcap_compile)
    libpcap_run(rows, packet, wirelen) -> int                        (bpf_filter via ctypes)
    libpcap_image(rows)               -> str                         (bpf_image: "-d" text)
    libpcap_validate(rows)            -> bool                        (libpcap's bpf_validate)
    tcpdump_program(expr, linktype, fmt="d") -> str                  (tcpdump -d / -dd / -ddd)
    kernel_accepts(rows)              -> bool                        (Linux: SO_ATTACH_FILTER)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import errno
import shutil
import socket
import subprocess

__all__ = [
    "DLT",
    "LINKTYPES",
    "LibpcapError",
    "dlt_value",
    "libpcap_compile",
    "libpcap_run",
    "libpcap_image",
    "libpcap_validate",
    "libpcap_safe",
    "tcpdump_program",
    "have_tcpdump",
    "kernel_accepts",
    "pcapy_compile",
    "libpcap_image_line",
    "libpcap_version",
    "PCAP_NETMASK_UNKNOWN",
]

# DLT_* values as libpcap on Linux defines them (DLT_RAW is 12 here, not LINKTYPE_RAW 101).
DLT: dict[str, int] = {
    "NULL": 0,
    "EN10MB": 1,
    "IEEE802": 6,
    "ARCNET": 7,
    "SLIP": 8,
    "PPP": 9,
    "FDDI": 10,
    "ATM_RFC1483": 11,
    "RAW": 12,
    "PPP_SERIAL": 50,
    "PPP_ETHER": 51,
    "C_HDLC": 104,
    "IEEE802_11": 105,
    "FRELAY": 107,
    "LOOP": 108,
    "ENC": 109,
    "LINUX_SLL": 113,
    "LTALK": 114,
    "PFLOG": 117,
    "PRISM_HEADER": 119,
    "IP_OVER_FC": 122,
    "SUNATM": 123,
    "IEEE802_11_RADIO": 127,
    "ARCNET_LINUX": 129,
    "LINUX_IRDA": 144,
    "IEEE802_11_RADIO_AVS": 163,
    "BACNET_MS_TP": 165,
    "PPP_PPPD": 166,
    "PPI": 192,
    "IPNET": 226,
    "IPV4": 228,
    "IPV6": 229,
    "NETANALYZER": 240,
    "NETANALYZER_TRANSPARENT": 241,
    "LINUX_SLL2": 276,
}

# The link types the project supports end to end (issue 2/3).
LINKTYPES: tuple[str, ...] = (
    "EN10MB",
    "LINUX_SLL",
    "LINUX_SLL2",
    "RAW",
    "IPV4",
    "IPV6",
    "NULL",
    "LOOP",
)


class LibpcapError(Exception):
    """libpcap (or tcpdump) refused something; ``str(err)`` / ``.message`` is libpcap's text."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- libpcap through ctypes -------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _lib():
    name = "libpcap.so.0.8"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        found = ctypes.util.find_library("pcap")
        if not found:
            raise
        lib = ctypes.CDLL(found)
    lib.bpf_filter.restype = ctypes.c_uint
    lib.bpf_filter.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint]
    lib.bpf_validate.restype = ctypes.c_int
    lib.bpf_validate.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.bpf_image.restype = ctypes.c_char_p
    lib.bpf_image.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.pcap_datalink_name_to_val.restype = ctypes.c_int
    lib.pcap_datalink_name_to_val.argtypes = [ctypes.c_char_p]
    return lib


class _BpfInsn(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint32),
    ]


def _rows(rows) -> list[tuple[int, int, int, int]]:
    out = []
    for row in rows:
        if hasattr(row, "code"):
            row = (row.code, row.jt, row.jf, row.k)
        code, jt, jf, k = row
        out.append((int(code) & 0xFFFF, int(jt) & 0xFF, int(jf) & 0xFF, int(k) & 0xFFFFFFFF))
    return out


@functools.lru_cache(maxsize=4096)
def _array(rows: tuple):
    arr = (_BpfInsn * max(1, len(rows)))()
    for i, (code, jt, jf, k) in enumerate(rows):
        arr[i].code, arr[i].jt, arr[i].jf, arr[i].k = code, jt, jf, k
    return arr


def dlt_value(linktype) -> int:
    """The DLT number for a name ("EN10MB", "DLT_EN10MB") or a number, as libpcap resolves it."""
    if isinstance(linktype, int):
        return linktype
    name = linktype.upper()
    if name.startswith("DLT_"):
        name = name[4:]
    if name in DLT:
        return DLT[name]
    val = _lib().pcap_datalink_name_to_val(name.encode())
    if val < 0:
        raise LibpcapError(f"unknown data link type {linktype}")
    return val


# Opcodes libpcap 1.10's bpf_filter() has a case for; anything else makes it abort().
_FILTER_OPCODES = frozenset(
    {
        0x06,
        0x16,
        0x20,
        0x28,
        0x30,
        0x80,
        0x81,
        0x40,
        0x48,
        0x50,
        0xB1,
        0x00,
        0x01,
        0x60,
        0x61,
        0x02,
        0x03,
        0x05,
        0x25,
        0x35,
        0x15,
        0x45,
        0x2D,
        0x3D,
        0x1D,
        0x4D,
        0x0C,
        0x1C,
        0x2C,
        0x3C,
        0x9C,
        0x5C,
        0x4C,
        0xAC,
        0x6C,
        0x7C,
        0x04,
        0x14,
        0x24,
        0x34,
        0x94,
        0x54,
        0x44,
        0xA4,
        0x64,
        0x74,
        0x84,
        0x07,
        0x87,
    }
)


def libpcap_validate(rows) -> bool:
    """libpcap's own bpf_validate() verdict."""
    rows = tuple(_rows(rows))
    if not rows:
        return False
    return bool(_lib().bpf_validate(_array(rows), len(rows)))


def libpcap_safe(rows) -> bool:
    """True when libpcap's bpf_filter can run ``rows`` without crashing the test process:
    bpf_validate accepts it, every opcode has a case in bpf_filter (others abort()), there is no
    constant division/modulo by zero (SIGFPE) and no constant shift by 32 or more (undefined in C).
    libpcap 1.10 does not bound backward ``ja`` loops: callers must not pass a looping program."""
    rows = tuple(_rows(rows))
    if not rows or not libpcap_validate(rows):
        return False
    for code, _jt, _jf, k in rows:
        if code not in _FILTER_OPCODES:
            return False
        if code in (0x34, 0x94) and k == 0:
            return False
        if code in (0x64, 0x74) and k >= 32:
            return False
    return True


_RUN_CACHE: dict[int, tuple] = {}


def _run_array(rows):
    """The ctypes array for ``rows``, cached by identity and checked by value (cheap, in C)."""
    hit = _RUN_CACHE.get(id(rows))
    if hit is not None and hit[0] is rows and hit[1] == rows:
        return hit[2]
    norm = tuple(_rows(rows))
    if not norm:
        raise ValueError("empty program")
    arr = _array(norm)
    if len(_RUN_CACHE) >= 256:
        _RUN_CACHE.clear()
    snapshot = [tuple(r) for r in rows] if isinstance(rows, list) else rows
    if isinstance(rows, (list, tuple)) and all(isinstance(r, tuple) for r in rows):
        _RUN_CACHE[id(rows)] = (rows, type(rows)(snapshot), arr)
    return arr


def libpcap_run(rows, packet: bytes, wirelen: int | None = None) -> int:
    """Run ``rows`` on ``packet`` with libpcap's own bpf_filter(); buflen = len(packet)."""
    arr = _run_array(rows)
    packet = bytes(packet)
    if wirelen is None:
        wirelen = len(packet)
    return int(_lib().bpf_filter(arr, packet, wirelen & 0xFFFFFFFF, len(packet)))


def libpcap_image_line(insn, pc: int = 0) -> str:
    """libpcap's bpf_image() line for one instruction printed as instruction number ``pc``."""
    ((code, jt, jf, k),) = _rows([insn])
    one = _BpfInsn(code, jt, jf, k)
    return _lib().bpf_image(ctypes.addressof(one), pc).decode()


def libpcap_image(rows) -> str:
    """The `tcpdump -d` text libpcap's bpf_image() gives for ``rows`` (one line per insn)."""
    rows = tuple(_rows(rows))
    arr = _array(rows)
    lines = []
    size = ctypes.sizeof(_BpfInsn)
    base = ctypes.addressof(arr)
    for pc in range(len(rows)):
        lines.append(_lib().bpf_image(base + pc * size, pc).decode() + "\n")
    return "".join(lines)


# --- pcap_compile --------------------------------------------------------------------------
#
# pcapy-ng's wheel bundles its own libpcap 1.9.1 (pcapy_ng.libs/libpcap-*.so.1.9.1), whose code
# generator differs from the system libpcap 1.10.3 that tcpdump uses (e.g. "udp" tests IPv6 first).
# The project's target is libpcap 1.10, so libpcap_compile() calls the system library through
# ctypes; pcapy_compile() keeps the pcapy-ng path for comparison.

PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_BpfInsn))]


@functools.lru_cache(maxsize=1)
def _compile_lib():
    lib = _lib()
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.pcap_compile.restype = ctypes.c_int
    lib.pcap_compile.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(_BpfProgram),
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_uint32,
    ]
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_geterr.argtypes = [ctypes.c_void_p]
    lib.pcap_freecode.restype = None
    lib.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgram)]
    lib.pcap_close.restype = None
    lib.pcap_close.argtypes = [ctypes.c_void_p]
    lib.pcap_lib_version.restype = ctypes.c_char_p
    return lib


def libpcap_version() -> str:
    """The system libpcap's version string (what libpcap_compile and tcpdump use)."""
    return _compile_lib().pcap_lib_version().decode()


@functools.lru_cache(maxsize=65536)
def _compile(expr: str, dlt: int, snaplen: int, optimize: bool, netmask: int):
    lib = _compile_lib()
    handle = lib.pcap_open_dead(dlt, snaplen)
    if not handle:
        return None, f"pcap_open_dead({dlt}, {snaplen}) failed"
    try:
        prog = _BpfProgram()
        if (
            lib.pcap_compile(
                handle, ctypes.byref(prog), expr.encode(), 1 if optimize else 0, netmask
            )
            != 0
        ):
            return None, lib.pcap_geterr(handle).decode(errors="replace")
        try:
            rows = tuple(
                (
                    prog.bf_insns[i].code,
                    prog.bf_insns[i].jt,
                    prog.bf_insns[i].jf,
                    prog.bf_insns[i].k,
                )
                for i in range(prog.bf_len)
            )
        finally:
            lib.pcap_freecode(ctypes.byref(prog))
        return rows, None
    finally:
        lib.pcap_close(handle)


def libpcap_compile(
    expr: str,
    linktype="EN10MB",
    snaplen: int = 262144,
    optimize: bool = True,
    netmask: int | None = 0,
) -> list[tuple[int, int, int, int]]:
    """pcap_compile() of the system libpcap (1.10, as tcpdump) on pcap_open_dead(linktype, snaplen)
    handle; ``netmask=None`` means PCAP_NETMASK_UNKNOWN. Raises LibpcapError with libpcap's message.
    """
    mask = PCAP_NETMASK_UNKNOWN if netmask is None else int(netmask) & 0xFFFFFFFF
    rows, err = _compile(expr, dlt_value(linktype), int(snaplen), bool(optimize), mask)
    if err is not None:
        raise LibpcapError(err)
    return list(rows)


def pcapy_compile(
    expr: str, linktype="EN10MB", snaplen: int = 262144, optimize: bool = True, netmask: int = 0
) -> list[tuple[int, int, int, int]]:
    """pcapy.compile() (pcapy-ng's bundled libpcap, 1.9.1 in the current wheel)."""
    import pcapy

    try:
        prog = pcapy.compile(
            dlt_value(linktype), int(snaplen), expr, 1 if optimize else 0, int(netmask) & 0xFFFFFFFF
        )
    except pcapy.PcapError as err:
        raise LibpcapError(str(err)) from None
    return [tuple(int(x) for x in row) for row in prog.get_bpf()]


# --- the tcpdump binary -----------------------------------------------------------------------


def have_tcpdump() -> bool:
    return shutil.which("tcpdump") is not None


_FMT_FLAGS = {"d": "-d", "dd": "-dd", "ddd": "-ddd"}


@functools.lru_cache(maxsize=8192)
def _tcpdump(expr: str, linktype: str, fmt: str, snaplen, optimize: bool):
    cmd = ["tcpdump", _FMT_FLAGS[fmt], "-y", linktype]
    if snaplen is not None:
        cmd += ["-s", str(snaplen)]
    if not optimize:
        cmd.append("-O")
    cmd += ["--", expr] if expr else []
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def tcpdump_program(
    expr: str, linktype: str = "EN10MB", fmt: str = "d", snaplen=None, optimize: bool = True
) -> str:
    """stdout of ``tcpdump -d|-dd|-ddd -y LINKTYPE [-s SNAPLEN] [-O] EXPR`` (cached).

    Raises LibpcapError with tcpdump's message (without the "tcpdump: " prefix) when it fails."""
    if fmt not in _FMT_FLAGS:
        raise ValueError(f"fmt must be one of d, dd, ddd, not {fmt!r}")
    if isinstance(linktype, int):
        linktype = next(name for name, val in DLT.items() if val == linktype)
    rc, out, err = _tcpdump(expr, linktype, fmt, snaplen, bool(optimize))
    if rc != 0:
        msg = err.strip().splitlines()[-1] if err.strip() else f"tcpdump exited {rc}"
        if msg.startswith("tcpdump: "):
            msg = msg[len("tcpdump: ") :]
        raise LibpcapError(msg)
    return out


# --- the Linux kernel's classic-BPF checker ---------------------------------------------------

SOL_SOCKET = 1
SO_ATTACH_FILTER = 26


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def kernel_accepts(rows) -> bool:
    """Whether Linux accepts ``rows`` as a classic socket filter (setsockopt SO_ATTACH_FILTER on a
    UDP socket runs the kernel's bpf_check_classic). EINVAL means refused; other errors raise."""
    rows = tuple(_rows(rows))
    if not rows or len(rows) > 0xFFFF:
        return False
    arr = _array(rows)
    prog = _SockFprog(len(rows) & 0xFFFF, ctypes.addressof(arr))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.setsockopt(SOL_SOCKET, SO_ATTACH_FILTER, bytes(prog))
        except OSError as err:
            if err.errno == errno.EINVAL:
                return False
            raise
    return True
