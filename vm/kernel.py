"""The Linux kernel's BPF through bpf(2) (ctypes): load, test-run and attach socket filters; maps.

Used as an independent oracle by the tests (the kernel verifier and interpreter/JIT) and by live
capture (``--kernel-filter``). Every failure raises :class:`KernelError`, one summary line naming
the command and errno, followed by the verifier log when the kernel produced one.

A socket-filter test run (``BPF_PROG_TEST_RUN``) treats its input as an Ethernet frame: the
kernel parses and strips the first 14 bytes before the program runs, so the program sees
``data[14:]`` (and ``len`` is ``len(data) - 14``). :func:`test_run_packet` prepends a 14-byte
dummy header so the program sees exactly the bytes given.
"""
from __future__ import annotations

import ctypes
import errno as _errno
import os
import struct
from enum import IntEnum

__all__ = [
    "KernelError", "Cmd", "ProgType", "available", "load_socket_filter", "test_run",
    "test_run_packet", "attach_bpf", "attach_filter", "detach_filter", "close",
    "KernelMap", "ETH_HLEN",
]

ETH_HLEN = 14                      # bytes a socket-filter test run strips before the program
_DUMMY_ETH = bytes(12) + b"\x88\xb5"
_SYSCALL_NR = {"x86_64": 321, "amd64": 321, "aarch64": 280, "arm64": 280}
_LOG_MIN = 1 << 16
_LOG_MAX = 1 << 24

SOL_SOCKET = 1                     # asm-generic (x86_64, aarch64: the machines _SYSCALL_NR knows)
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
SO_ATTACH_BPF = 50


class Cmd(IntEnum):
    MAP_CREATE = 0
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    MAP_GET_NEXT_KEY = 4
    PROG_LOAD = 5
    PROG_TEST_RUN = 10


class ProgType(IntEnum):
    SOCKET_FILTER = 1


class KernelError(Exception):
    """A bpf(2) or setsockopt call the kernel refused.

    ``errno``: the error number; ``log``: the verifier log (empty when there is none).
    """

    def __init__(self, what: str, err: int, log: str = ""):
        self.errno = err
        self.log = log
        name = _errno.errorcode.get(err, str(err))
        msg = f"{what}: {name} ({os.strerror(err)})"
        if log.strip():
            msg += "\n" + log.rstrip()
        super().__init__(msg)


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _sys_bpf(cmd: int, attr: ctypes.Array) -> int:
    nr = _SYSCALL_NR.get(os.uname().machine)
    if nr is None:
        return -_errno.ENOSYS
    ret = _libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), attr, ctypes.c_uint(len(attr)))
    if ret < 0:
        return -ctypes.get_errno()
    return ret


def _bpf(cmd: Cmd, attr: ctypes.Array, what: str | None = None) -> int:
    ret = _sys_bpf(cmd, attr)
    if ret < 0:
        raise KernelError(what or f"bpf({cmd.name})", -ret)
    return ret


def _addr(buf) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


def _insn_bytes(insns) -> bytes:
    if isinstance(insns, (bytes, bytearray, memoryview)):
        raw = bytes(insns)
    elif hasattr(insns, "encode"):
        raw = insns.encode()
    else:
        raw = b"".join(i.encode() for i in insns)
    if not raw or len(raw) % 8:
        raise ValueError(f"eBPF program length {len(raw)} is not a positive multiple of 8")
    return raw


# -- programs -------------------------------------------------------------------------------

def load_socket_filter(insns, license: str = "GPL", log_level: int = 1,
                       name: str = "bpfdump") -> int:
    """BPF_PROG_LOAD a socket-filter program; returns its fd (close it with :func:`close`).

    ``insns``: encoded bytes, a ``vm.ebpf.Program`` or a sequence of ``vm.ebpf.Insn``.
    Refusal raises KernelError carrying the verifier log.
    """
    raw = _insn_bytes(insns)
    code = ctypes.create_string_buffer(raw, len(raw))
    lic = ctypes.create_string_buffer(license.encode() + b"\0")
    size = _LOG_MIN if log_level else 0
    while True:
        log = ctypes.create_string_buffer(size) if size else None
        attr = ctypes.create_string_buffer(struct.pack(
            "<IIQQIIQII16s", ProgType.SOCKET_FILTER, len(raw) // 8, _addr(code), _addr(lic),
            log_level if size else 0, size, _addr(log), 0, 0, name.encode()[:15]), 128)
        ret = _sys_bpf(Cmd.PROG_LOAD, attr)
        text = log.value.decode(errors="replace") if log is not None else ""
        if ret >= 0:
            return ret
        if -ret == _errno.ENOSPC and size and size < _LOG_MAX:
            size *= 4              # verifier log truncated: retry with a bigger buffer
            continue
        raise KernelError("bpf(BPF_PROG_LOAD) refused the program", -ret, text)


def test_run(fd: int, data: bytes, repeat: int = 1) -> int:
    """BPF_PROG_TEST_RUN: the program's return value (u32) on ``data``.

    For a socket filter the kernel treats ``data`` as an Ethernet frame (at least 14 bytes) and
    strips the first 14 bytes before the program sees it; see :func:`test_run_packet`. The
    frame must fit one page with the skb's head- and tailroom: at most 3712 bytes with 4 KiB
    pages (EINVAL beyond); EtherType 0x0800 / 0x86DD also need a full IPv4 / IPv6 header.
    """
    data = bytes(data)
    buf_in = ctypes.create_string_buffer(data, max(len(data), 1))
    attr = ctypes.create_string_buffer(struct.pack(
        "<IIIIQQII", fd, 0, len(data), 0, _addr(buf_in), 0, max(repeat, 1), 0), 80)
    _bpf(Cmd.PROG_TEST_RUN, attr, f"bpf(BPF_PROG_TEST_RUN) on {len(data)} bytes")
    return struct.unpack_from("<I", attr, 4)[0]


test_run.__test__ = False          # not a pytest test when imported into a test module


def test_run_packet(fd: int, packet: bytes, repeat: int = 1) -> int:
    """Like :func:`test_run`, but the program sees exactly ``packet``: a dummy 14-byte
    Ethernet header is prepended for the kernel to strip. Its EtherType is 0x88B5 (local
    experimental) because for 0x0800/0x86DD the kernel also insists on a full IPv4/IPv6
    header behind it (EINVAL otherwise), which would refuse short packets."""
    return test_run(fd, _DUMMY_ETH + bytes(packet), repeat)


test_run_packet.__test__ = False


def close(fd: int) -> None:
    os.close(fd)


# -- sockets --------------------------------------------------------------------------------

def _sockfd(sock) -> int:
    return sock if isinstance(sock, int) else sock.fileno()


def _setsockopt(sock, opt: int, value: bytes, what: str) -> None:
    buf = ctypes.create_string_buffer(value, len(value))
    ret = _libc.setsockopt(_sockfd(sock), SOL_SOCKET, opt, buf, len(value))
    if ret < 0:
        raise KernelError(what, ctypes.get_errno())


def attach_bpf(sock, fd: int) -> None:
    """SO_ATTACH_BPF: attach a loaded eBPF socket filter (fd) to a socket (object or fd)."""
    _setsockopt(sock, SO_ATTACH_BPF, struct.pack("<i", fd), "setsockopt(SO_ATTACH_BPF)")


def attach_filter(sock, rows) -> None:
    """SO_ATTACH_FILTER: attach a classic BPF program given as (code, jt, jf, k) rows, or
    anything with ``to_tuples()`` (``vm.cbpf.Program``)."""
    if hasattr(rows, "to_tuples"):
        rows = rows.to_tuples()
    rows = list(rows)
    body = b"".join(struct.pack("<HBBI", c & 0xFFFF, jt, jf, k & 0xFFFFFFFF)
                    for c, jt, jf, k in rows)
    insns = ctypes.create_string_buffer(body, max(len(body), 1))
    fprog = struct.pack("<HxxxxxxQ", len(rows), _addr(insns))
    _setsockopt(sock, SO_ATTACH_FILTER, fprog, "setsockopt(SO_ATTACH_FILTER)")


def detach_filter(sock) -> None:
    """SO_DETACH_FILTER: remove whatever filter is attached to the socket."""
    _setsockopt(sock, SO_DETACH_FILTER, struct.pack("<i", 0), "setsockopt(SO_DETACH_FILTER)")


# -- maps -----------------------------------------------------------------------------------

class KernelMap:
    """A kernel BPF map (BPF_MAP_CREATE) with the same calling convention as ``vm.maps.Map``:
    lookup -> bytes|None, update/delete -> 0 or -errno, next_key, iteration over keys."""

    def __init__(self, map_type: int, key_size: int, value_size: int, max_entries: int,
                 flags: int = 0, name: str = "bpfdump"):
        attr = ctypes.create_string_buffer(struct.pack(
            "<IIIIIII16s", map_type, key_size, value_size, max_entries, flags, 0, 0,
            name.encode()[:15]), 72)
        self.fd = _bpf(Cmd.MAP_CREATE, attr, "bpf(BPF_MAP_CREATE)")
        self.map_type, self.key_size, self.value_size = map_type, key_size, value_size
        self.max_entries, self.flags = max_entries, flags

    def _elem(self, cmd: Cmd, key, value_buf, flags: int = 0) -> int:
        key_buf = None if key is None else ctypes.create_string_buffer(bytes(key), len(key))
        attr = ctypes.create_string_buffer(struct.pack(
            "<IxxxxQQQ", self.fd, _addr(key_buf), _addr(value_buf), flags), 32)
        return _sys_bpf(cmd, attr)

    def lookup(self, key: bytes) -> bytes | None:
        value = ctypes.create_string_buffer(max(self.value_size, 1))
        ret = self._elem(Cmd.MAP_LOOKUP_ELEM, key, value)
        return value.raw[:self.value_size] if ret == 0 else None

    def update(self, key: bytes, value: bytes, flags: int = 0) -> int:
        buf = ctypes.create_string_buffer(bytes(value), max(len(value), 1))
        return self._elem(Cmd.MAP_UPDATE_ELEM, key, buf, flags)

    def delete(self, key: bytes) -> int:
        return self._elem(Cmd.MAP_DELETE_ELEM, key, None)

    def next_key(self, key: bytes | None) -> bytes | None:
        out = ctypes.create_string_buffer(max(self.key_size, 1))
        ret = self._elem(Cmd.MAP_GET_NEXT_KEY, key, out)
        return out.raw[:self.key_size] if ret == 0 else None

    def __iter__(self):
        key = self.next_key(None)
        while key is not None:
            yield key
            key = self.next_key(key)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- availability ---------------------------------------------------------------------------

_available: tuple[bool, str] | None = None


def available() -> tuple[bool, str]:
    """(True, "") when bpf(2) can load and test-run a socket filter here, else (False, why)."""
    global _available
    if _available is None:
        if os.uname().machine not in _SYSCALL_NR:
            _available = (False, f"bpf(2) syscall number unknown for {os.uname().machine}")
        else:
            # mov r0, 7; exit
            trivial = struct.pack("<BBhi", 0xB7, 0, 0, 7) + struct.pack("<BBhi", 0x95, 0, 0, 0)
            try:
                fd = load_socket_filter(trivial, log_level=0)
                try:
                    ok = test_run(fd, bytes(64)) == 7
                finally:
                    os.close(fd)
                _available = (True, "") if ok else \
                    (False, "BPF_PROG_TEST_RUN returned a wrong value")
            except KernelError as e:
                _available = (False, str(e).splitlines()[0])
    return _available
