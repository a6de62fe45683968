"""eBPF helper functions for the interpreter, by kernel number (include/uapi/linux/bpf.h).

A helper is ``func(m, r1, r2, r3, r4, r5) -> int``: ``m`` is the running program's state
(:class:`vm.interp.State`), which reads and writes program memory through bounds-checked
pointers (``m.read``, ``m.write``), resolves map pointers (``m.map_at``) and exposes new memory
to the program (``m.expose``).  The return value becomes r0 (taken modulo 2**64); errors are
negative errno values, as in the kernel.  A helper may end the whole program by raising
:class:`Exit`.

Maps and ring buffers are duck-typed, as vm.maps / vm.ringbuf provide them: a map has
``key_size``, ``value_size``, ``lookup(key) -> memoryview | None``, ``update(key, value, flags)``
and ``delete(key)``; a ring buffer has ``reserve(size) -> memoryview | None``,
``submit(view, flags)``, ``discard(view, flags)``, ``output(data, flags) -> int`` and ``query(flags) -> int``.
"""
from __future__ import annotations

import errno
import time
from collections import namedtuple

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1


class Exit(Exception):
    """Raised by a helper to end the program at once with r0 = ``value``."""

    def __init__(self, value: int = 0):
        super().__init__(value)
        self.value = value


class Helper(namedtuple("Helper", "number name func")):
    """A helper by kernel ``number``: its ``name`` and ``func(m, r1, r2, r3, r4, r5) -> int``
    (a NamedTuple)."""

    __slots__ = ()


def _neg(code: int) -> int:
    return -code & M64


# -- maps -------------------------------------------------------------------------------------

def map_lookup_elem(m, map_ptr, key_ptr, *_):
    bpf_map = m.map_at(map_ptr, "map_lookup_elem")
    view = bpf_map.lookup(m.read(key_ptr, bpf_map.key_size))
    return 0 if view is None else m.expose(view, "map value", owner=bpf_map)


def map_update_elem(m, map_ptr, key_ptr, value_ptr, flags, *_):
    bpf_map = m.map_at(map_ptr, "map_update_elem")
    key = m.read(key_ptr, bpf_map.key_size)
    value = m.read(value_ptr, bpf_map.value_size)
    return bpf_map.update(key, value, flags) & M64


def map_delete_elem(m, map_ptr, key_ptr, *_):
    bpf_map = m.map_at(map_ptr, "map_delete_elem")
    return bpf_map.delete(m.read(key_ptr, bpf_map.key_size)) & M64


# -- time, randomness, cpu --------------------------------------------------------------------

def ktime_get_ns(m, *_):
    return m.clock() & M64


_RNG = None       # the random.Random of runs given no rng, made by the first get_prandom_u32


def get_prandom_u32(m, *_):
    global _RNG
    rng = m.rng
    if rng is None:
        if _RNG is None:
            import random
            _RNG = random.Random()
        rng = m.rng = _RNG
    return rng.getrandbits(32)


def get_smp_processor_id(m, *_):
    return 0


# -- trace_printk -----------------------------------------------------------------------------

_CONVERSION = rb"%([-+ 0#]*[0-9]*)(ll|l|h|hh|z)?([diuxXpsc%])"      # compiled on first use


def trace_printk(m, fmt_ptr, fmt_size, arg1, arg2, arg3):
    """bpf_trace_printk: up to three arguments; the line is appended to ``m.trace``."""
    if fmt_size == 0 or fmt_size > 4096:
        return _neg(errno.EINVAL)
    fmt = m.read(fmt_ptr, fmt_size)
    if b"\0" not in fmt:
        return _neg(errno.EINVAL)
    fmt = fmt[:fmt.index(b"\0")]
    args = [arg1, arg2, arg3]
    out = []
    pos = 0
    import re                       # (re caches the compiled pattern)
    for match in re.finditer(_CONVERSION, fmt):
        out.append(fmt[pos:match.start()])
        pos = match.end()
        flags, length, conv = match.group(1), match.group(2) or b"", match.group(3)
        if conv == b"%":
            out.append(b"%")
            continue
        if not args:
            return _neg(errno.EINVAL)
        value = args.pop(0)
        if conv == b"s":
            out.append(m.read_string(value, 256))
            continue
        if length not in (b"ll", b"l", b"z") and conv != b"p":
            value &= M32
        bits = 32 if value <= M32 and length not in (b"ll", b"l", b"z") else 64
        if conv in b"di" and value >> (bits - 1):
            value -= 1 << bits
        spec = "%" + flags.decode() + {b"u": "d", b"p": "x", b"c": "c"}.get(conv, conv.decode())
        text = spec % (value & 0xFF if conv == b"c" else value)
        out.append((b"0x" if conv == b"p" else b"") + text.encode())
    out.append(fmt[pos:])
    line = b"".join(out)
    if m.trace is None:
        m.trace = []
    m.trace.append(line.decode("latin-1"))
    return len(line)


# -- packet -----------------------------------------------------------------------------------

def skb_load_bytes(m, skb_ptr, offset, to_ptr, length, *_):
    """bpf_skb_load_bytes(skb, offset, to, len): 0, or -EFAULT with ``to`` zeroed."""
    m.check_ctx(skb_ptr, "skb_load_bytes")
    length &= M32
    offset &= M32
    packet = m.packet
    if offset > 0x7FFFFFFF or offset + length > len(packet):
        m.write(to_ptr, bytes(length))
        return _neg(errno.EFAULT)
    m.write(to_ptr, packet[offset:offset + length])
    return 0


# -- ring buffer ------------------------------------------------------------------------------

def ringbuf_output(m, rb_ptr, data_ptr, size, flags, *_):
    ring = m.map_at(rb_ptr, "ringbuf_output")
    return ring.output(m.read(data_ptr, size & M32), flags) & M64


def ringbuf_reserve(m, rb_ptr, size, flags, *_):
    ring = m.map_at(rb_ptr, "ringbuf_reserve")
    if flags:
        return 0
    view = ring.reserve(size & M32)
    return 0 if view is None else m.expose(view, "ringbuf record", owner=ring)


def ringbuf_submit(m, data_ptr, flags, *_):
    ring, view = m.take_exposed(data_ptr, "ringbuf record", "ringbuf_submit")
    ring.submit(view, flags)
    return 0


def ringbuf_discard(m, data_ptr, flags, *_):
    ring, view = m.take_exposed(data_ptr, "ringbuf record", "ringbuf_discard")
    ring.discard(view, flags)
    return 0


def ringbuf_query(m, rb_ptr, flags, *_):
    return m.map_at(rb_ptr, "ringbuf_query").query(flags) & M64


HELPERS: dict[int, Helper] = {h.number: h for h in (
    Helper(1, "map_lookup_elem", map_lookup_elem),
    Helper(2, "map_update_elem", map_update_elem),
    Helper(3, "map_delete_elem", map_delete_elem),
    Helper(5, "ktime_get_ns", ktime_get_ns),
    Helper(6, "trace_printk", trace_printk),
    Helper(7, "get_prandom_u32", get_prandom_u32),
    Helper(8, "get_smp_processor_id", get_smp_processor_id),
    Helper(26, "skb_load_bytes", skb_load_bytes),
    Helper(130, "ringbuf_output", ringbuf_output),
    Helper(131, "ringbuf_reserve", ringbuf_reserve),
    Helper(132, "ringbuf_submit", ringbuf_submit),
    Helper(133, "ringbuf_discard", ringbuf_discard),
    Helper(134, "ringbuf_query", ringbuf_query),
)}
"""The default helper table, by kernel helper number."""


def unwind(m, r1, *_):
    """The conformance suite's helper 5: returns its argument; 0 ends the program with r0 = 0."""
    if r1 == 0:
        raise Exit(0)
    return r1


CONFORMANCE_HELPERS: dict[int, Helper] = {5: Helper(5, "unwind", unwind)}


def monotonic_ns() -> int:
    return time.monotonic_ns()
