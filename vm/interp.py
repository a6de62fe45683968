"""eBPF interpreter: socket-filter semantics (``run``) and a raw mode for conformance (``run_raw``).

A program is validated once (:func:`vm.ebpf.validate`) and compiled into one Python function
per basic block (straight-line code over the register list ``r``, ending with the next pc);
the run loop only dispatches between blocks and charges each block's length to the
instruction budget.  Compiled programs are cached per Program object.

Memory model: a pointer is ``slot << 32 | offset``.  Each slot names one region (a stack
frame, the ``struct __sk_buff`` context, the raw-mode buffer, a map value, a ring-buffer
record, a map handle) and every load, store and helper access is checked against the region it
points into; anything else raises :class:`MemoryFault` naming the pc.  Stack frames are 512
bytes each, one per call depth (at most 8 frames); r10 points one past the end of the
current frame.

The interpreter raises nothing but :class:`VMError` subclasses.  Kernel runtime rules it
follows: LD_ABS/LD_IND out of the packet end the program returning 0; division by zero gives
0 and modulo by zero leaves the dividend; shift amounts are masked; a helper call leaves r1-r5
as they were (the verifier forbids reading them afterwards).
"""
from __future__ import annotations

import struct
import time
from collections import OrderedDict, namedtuple

from . import ebpf
from .ebpf import AluOp, Class, JmpOp, Mode, Pseudo, Size, Source

__all__ = [
    "VMError", "BudgetExceeded", "MemoryFault", "IllegalProgram", "CallDepthExceeded",
    "HelperError", "SkBuff", "SkbContext", "State", "Loaded", "load", "run", "run_raw", "MAX_FRAMES",
    "CONFORMANCE_HELPERS",
]

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
MAX_FRAMES = 8             # MAX_CALL_FRAMES: the main program and 7 nested calls
STACK_SIZE = ebpf.STACK_SIZE
SKB_SIZE = 192             # sizeof(struct __sk_buff)
SKF_NET_OFF = -0x100000
SKF_LL_OFF = -0x200000

_STACK_SLOT = 1            # slots 1..8: stack frames by depth
_CODE_SLOT = 15            # code addresses (lddw func): slot 15, offset = pc
_FIRST_DYNAMIC_SLOT = 16
_STACK_TOP = (_STACK_SLOT << 32) + STACK_SIZE


class VMError(Exception):
    """Any failure of a running (or loading) program; the message starts with ``pc N:``."""

    def __init__(self, pc: int, reason: str):
        super().__init__(f"pc {pc}: {reason}")
        self.pc = pc
        self.reason = reason


class BudgetExceeded(VMError):
    """The instruction budget ran out (an endless or too long loop)."""


class MemoryFault(VMError):
    """A load, store or helper access outside the region its pointer points into."""


class IllegalProgram(VMError):
    """The program failed validation (an illegal instruction or jump) when loaded."""


class CallDepthExceeded(VMError):
    """More than MAX_FRAMES nested local calls."""


class HelperError(VMError):
    """An unknown helper, a bad helper argument, or a helper that failed."""


class _Drop(Exception):
    """LD_ABS/LD_IND out of bounds: the program ends, returning 0."""


class _Exit(Exception):
    """A helper raised vm.helpers.Exit: the program ends, returning ``value``."""

    def __init__(self, value: int):
        super().__init__(value)
        self.value = value


# vm.helpers (the helper functions and tables) loads when a program first calls a helper, not
# for programs that only filter packets.
_HELPERS = None


def _helpers():
    global _HELPERS
    if _HELPERS is None:
        from . import helpers
        _HELPERS = helpers
    return _HELPERS


def __getattr__(name):
    if name == "CONFORMANCE_HELPERS":            # re-exported from vm.helpers, on first use
        return _helpers().CONFORMANCE_HELPERS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------
# The socket-filter context

_SKB_FIELDS = ("len pkt_type mark queue_mapping protocol vlan_present vlan_tci vlan_proto "
               "priority ingress_ifindex ifindex tc_index cb hash napi_id gso_segs gso_size "
               "network_offset")


class SkBuff(namedtuple("SkBuff", _SKB_FIELDS, defaults=(None,) + (0,) * 11
                        + ((0, 0, 0, 0, 0),) + (0,) * 5)):
    """The ``struct __sk_buff`` fields a socket filter may read (include/uapi/linux/bpf.h), a
    NamedTuple; every field defaults to 0 (``cb`` to five zeros, ``len`` to None).

    ``protocol`` and ``vlan_proto`` are given in host order (0x0800) and stored as the kernel
    stores them, in network byte order.  ``len`` defaults to the wire length.
    ``network_offset`` is where SKF_NET_OFF-relative legacy loads start in the packet."""

    __slots__ = ()

    def field_values(self, wirelen: int) -> dict[int, int]:
        """The readable 4-byte slots (offset -> value as the program reads it), cb excepted."""
        values = {0: self.len if self.len is not None else wirelen, 4: self.pkt_type,
                  8: self.mark, 12: self.queue_mapping,
                  16: int.from_bytes((self.protocol & 0xFFFF).to_bytes(2, "big"), "little"),
                  20: self.vlan_present, 24: self.vlan_tci,
                  28: int.from_bytes((self.vlan_proto & 0xFFFF).to_bytes(2, "big"), "little"),
                  32: self.priority, 36: self.ingress_ifindex, 40: self.ifindex,
                  44: self.tc_index, 68: self.hash, 84: self.napi_id, 164: self.gso_segs,
                  176: self.gso_size}
        return {off: value & ((1 << (8 * _SKB_FIELD_SIZE[off])) - 1)
                for off, value in values.items()}

    def cb_bytes(self) -> bytearray:
        cb = bytearray(20)
        for i, value in enumerate(self.cb[:5]):
            struct.pack_into("<I", cb, 4 * i, value & M32)
        return cb


# Readable __sk_buff fields of a socket filter (net/core/filter.c, sk_filter_is_valid_access)
# and the size of the sk_buff member behind each: a narrow load narrower than that member
# reads the addressed bytes, one at least as wide reads the whole member whatever its offset
# inside the 4-byte slot (the kernel's ctx-access rewriting does exactly this).
_SKB_FIELD_SIZE = {0: 4, 4: 1, 8: 4, 12: 2, 16: 2, 20: 1, 24: 2, 28: 2, 32: 4, 36: 4, 40: 4,
                   44: 2, 68: 4, 84: 4, 164: 2, 176: 2}
_SKB_CB = (48, 68)                 # cb[5]: plain memory, the only writable part


class SkbContext:
    """The program's view of ``struct __sk_buff`` (a special region: loads go through here)."""
    __slots__ = ("skb", "wirelen", "_values", "_cb")

    def __init__(self, skb: SkBuff, wirelen: int):
        self.skb = skb
        self.wirelen = wirelen
        self._values = self._cb = None          # built on first use

    @property
    def cb(self) -> bytearray:
        if self._cb is None:
            self._cb = self.skb.cb_bytes()
        return self._cb

    def read(self, off: int, size: int) -> int | None:
        if size > 4 or off % size:
            return None
        base = off & ~3
        if _SKB_CB[0] <= base < _SKB_CB[1]:
            return int.from_bytes(self.cb[off - 48:off - 48 + size], "little")
        if self._values is None:
            self._values = self.skb.field_values(self.wirelen)
        value = self._values.get(base)
        if value is None:
            return None
        if size < _SKB_FIELD_SIZE[base]:
            return (value >> (8 * (off & 3))) & ((1 << (8 * size)) - 1)
        return value

    def write(self, off: int, size: int, value: int) -> bool:
        if size > 4 or off % size or not _SKB_CB[0] <= off < _SKB_CB[1]:
            return False
        self.cb[off - 48:off - 48 + size] = value.to_bytes(size, "little")
        return True


# ---------------------------------------------------------------------------------------------
# Memory regions and the per-run state

_DEFAULT_SKB = SkBuff()


class Region:
    """Addressable memory: a buffer, or a ``special`` object that mediates every access."""
    __slots__ = ("buf", "size", "writable", "kind", "special", "owner")

    def __init__(self, buf, writable: bool, kind: str, special=None, owner=None, size=None):
        self.buf = buf
        self.size = len(buf) if size is None else size
        self.writable = writable
        self.kind = kind
        self.special = special
        self.owner = owner


_FORMATS = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: struct.Struct("<I"),
            8: struct.Struct("<Q")}


def _make_load(size: int):
    unpack_from = _FORMATS[size].unpack_from

    def load(self, addr, pc):
        region = self.regions.get(addr >> 32)
        off = addr & 0xFFFFFFFF
        if region is None or off + size > region.size:
            self.fault(addr, size, "read", pc)
        if region.special is not None:
            value = region.special.read(off, size)
            if value is None:
                self.fault(addr, size, "read", pc)
            return value
        return unpack_from(region.buf, off)[0]
    return load


def _make_store(size: int):
    pack_into = _FORMATS[size].pack_into

    def store(self, addr, value, pc):
        region = self.regions.get(addr >> 32)
        off = addr & 0xFFFFFFFF
        if region is None or off + size > region.size or not region.writable:
            self.fault(addr, size, "write", pc)
        if region.special is not None:
            if not region.special.write(off, size, value):
                self.fault(addr, size, "write", pc)
            return
        pack_into(region.buf, off, value)
    return store


class State:
    """Everything one run of a program touches; helpers receive it as their first argument."""
    __slots__ = ("loaded", "regions", "next_slot", "packet", "net_offset", "maps", "map_addrs",
                 "helpers", "trace", "rng", "clock", "frames", "pc", "ctx_addr")

    def __init__(self, loaded: "Loaded", packet, maps, helpers, trace, rng, clock):
        self.loaded = loaded
        # the main frame's stack exists only for programs that mention r10 at all
        self.regions: dict[int, Region] = {
            _STACK_SLOT: Region(bytearray(STACK_SIZE), True, "stack")} if loaded.uses_fp else {}
        self.next_slot = _FIRST_DYNAMIC_SLOT
        self.packet = packet
        self.net_offset = 0
        self.maps = maps if maps is not None else {}
        self.map_addrs: dict[int, int] | None = None
        self.helpers = helpers                   # None: vm.helpers.HELPERS, on the first call
        self.trace = trace                       # a list, created by the first trace_printk
        self.rng = rng                           # None: vm.helpers' own random.Random
        self.clock = clock if clock is not None else time.monotonic_ns
        self.frames: list[tuple] | None = None
        self.pc = 0
        self.ctx_addr = -1

    # -- memory ------------------------------------------------------------------------------
    ld1, ld2, ld4, ld8 = (_make_load(n) for n in (1, 2, 4, 8))
    st1, st2, st4, st8 = (_make_store(n) for n in (1, 2, 4, 8))

    def fault(self, addr: int, size: int, access: str, pc: int):
        region = self.regions.get(addr >> 32)
        off = addr & 0xFFFFFFFF
        if region is None:
            where = "null pointer" if addr < 0x10000 else "an address outside every region"
            raise MemoryFault(pc, f"{access} of {size} bytes at {addr:#x}: {where}")
        if access == "write" and not region.writable:
            raise MemoryFault(pc, f"write of {size} bytes to read-only {region.kind}")
        if off + size <= region.size:
            raise MemoryFault(pc, f"{access} of {size} bytes at {region.kind}+{off} "
                                  f"is not an accessible field")
        raise MemoryFault(pc, f"{access} of {size} bytes at {region.kind}+{off} out of bounds "
                              f"(size {region.size})")

    def expose(self, buf, kind: str, *, writable: bool = True, owner=None, special=None,
               size: int | None = None) -> int:
        """Make ``buf`` addressable by the program; returns its address."""
        slot = self.next_slot
        self.next_slot += 1
        self.regions[slot] = Region(buf, writable, kind, special, owner, size)
        return slot << 32

    def _region(self, addr: int, size: int, access: str) -> tuple[Region, int]:
        region = self.regions.get(addr >> 32)
        off = addr & 0xFFFFFFFF
        if (region is None or off + size > region.size or region.special is not None
                or (access == "write" and not region.writable)):
            self.fault(addr, size, access, self.pc)
        return region, off

    def read(self, addr: int, size: int) -> bytes:
        """``size`` bytes at ``addr`` (for helpers), bounds-checked."""
        region, off = self._region(addr, size, "read")
        return bytes(region.buf[off:off + size])

    def write(self, addr: int, data: bytes) -> None:
        region, off = self._region(addr, len(data), "write")
        region.buf[off:off + len(data)] = data

    def read_string(self, addr: int, limit: int) -> bytes:
        region = self.regions.get(addr >> 32)
        off = addr & 0xFFFFFFFF
        if region is None or off >= region.size or region.special is not None:
            self.fault(addr, 1, "read", self.pc)
        chunk = bytes(region.buf[off:min(region.size, off + limit)])
        return chunk.split(b"\0", 1)[0]

    def map_at(self, addr: int, who: str):
        region = self.regions.get(addr >> 32)
        if region is None or region.kind != "map" or addr & 0xFFFFFFFF:
            raise HelperError(self.pc, f"{who}: argument 1 ({addr:#x}) is not a map pointer")
        return region.owner

    def check_ctx(self, addr: int, who: str) -> None:
        if addr != self.ctx_addr:
            raise HelperError(self.pc, f"{who}: argument 1 ({addr:#x}) is not the context")

    def take_exposed(self, addr: int, kind: str, who: str):
        """Remove the region ``addr`` starts (of ``kind``); returns (owner, buffer)."""
        region = self.regions.get(addr >> 32)
        if region is None or region.kind != kind or addr & 0xFFFFFFFF:
            raise HelperError(self.pc, f"{who}: argument 1 ({addr:#x}) is not a {kind}")
        del self.regions[addr >> 32]
        return region.owner, region.buf

    # -- maps ----------------------------------------------------------------------------------
    def _map_object(self, index: int, pc: int):
        try:
            return self.maps[index]
        except (KeyError, IndexError, TypeError):
            raise HelperError(pc, f"lddw: no map with fd/index {index}") from None

    def map_addr(self, index: int, pc: int) -> int:
        if self.map_addrs is None:
            self.map_addrs = {}
        addr = self.map_addrs.get(index)
        if addr is None:
            addr = self.expose(b"", "map", writable=False, owner=self._map_object(index, pc))
            self.map_addrs[index] = addr
        return addr

    def map_value_addr(self, index: int, off: int, pc: int) -> int:
        bpf_map = self._map_object(index, pc)
        try:
            view = bpf_map.lookup(bytes(bpf_map.key_size))
        except Exception as exc:  # noqa: BLE001 - a map that cannot do this is a bad program
            raise HelperError(pc, f"lddw map_value: {exc}") from None
        if view is None or not 0 <= off < len(view):
            raise HelperError(pc, f"lddw map_value: map {index} has no value at offset {off}")
        return self.expose(view, "map value", owner=bpf_map) + off

    # -- control -------------------------------------------------------------------------------
    def call(self, number: int, r: list, pc: int) -> None:
        helpers = self.helpers
        if helpers is None:
            helpers = self.helpers = _helpers().HELPERS
        helper = helpers.get(number)
        if helper is None:
            raise HelperError(pc, f"call to unknown helper {number}")
        self.pc = pc
        try:
            result = helper.func(self, r[1], r[2], r[3], r[4], r[5])
        except (VMError, _Drop):
            raise
        except Exception as exc:  # noqa: BLE001 - the interpreter raises only VMError
            if isinstance(exc, _helpers().Exit):
                raise _Exit(exc.value) from None
            raise HelperError(pc, f"helper {helper.name} failed: {exc}") from None
        r[0] = result & M64

    def enter(self, r: list, return_pc: int, target: int, pc: int) -> int:
        if self.frames is None:
            self.frames = []
        depth = len(self.frames) + 1
        if depth >= MAX_FRAMES:
            raise CallDepthExceeded(pc, f"call nests more than {MAX_FRAMES} frames")
        self.frames.append((return_pc, r[6], r[7], r[8], r[9], r[10]))
        slot = _STACK_SLOT + depth
        self.regions[slot] = Region(bytearray(STACK_SIZE), True, "stack")
        r[10] = (slot << 32) + STACK_SIZE
        return target

    def leave(self, r: list) -> int:
        if not self.frames:
            return -1
        return_pc, r[6], r[7], r[8], r[9], r[10] = self.frames.pop()
        return return_pc

    def callx(self, r: list, value: int, return_pc: int, pc: int) -> int:
        if value >> 32 == _CODE_SLOT:
            target = value & M32
            if not self.loaded.is_entry(target):
                raise VMError(pc, f"callx to {value:#x}: not a function entry")
            return self.enter(r, return_pc, target, pc)
        if value > M32:
            raise HelperError(pc, f"callx to {value:#x}: neither code nor a helper number")
        self.call(value, r, pc)
        return return_pc

    def ld_abs(self, off: int, size: int) -> int:
        packet = self.packet
        if off < 0:
            if off >= SKF_NET_OFF:
                off = self.net_offset + off - SKF_NET_OFF
            elif off >= SKF_LL_OFF:
                off -= SKF_LL_OFF
            else:
                raise _Drop
        if off < 0 or off + size > len(packet):
            raise _Drop
        return int.from_bytes(packet[off:off + size], "big")

    def atomic(self, addr: int, size: int, op: int, r: list, src: int, pc: int) -> None:
        load, store = (self.ld4, self.st4) if size == 4 else (self.ld8, self.st8)
        mask = M32 if size == 4 else M64
        old = load(addr, pc)
        value = r[src] & mask
        if op == ebpf.AtomicOp.XCHG:
            store(addr, value, pc)
            r[src] = old
            return
        if op == ebpf.AtomicOp.CMPXCHG:
            if r[0] & mask == old:
                store(addr, value, pc)
            r[0] = old
            return
        base = op & ~ebpf.FETCH
        if base == ebpf.AtomicOp.ADD:
            new = (old + value) & mask
        elif base == ebpf.AtomicOp.OR:
            new = old | value
        elif base == ebpf.AtomicOp.AND:
            new = old & value
        else:
            new = old ^ value
        store(addr, new, pc)
        if op & ebpf.FETCH:
            r[src] = old

    def unsupported(self, what: str, pc: int):
        raise VMError(pc, f"{what} is not supported by the interpreter")


# ---------------------------------------------------------------------------------------------
# Compilation of a program into basic-block functions

def _sdiv(a: int, b: int, bits: int) -> int:
    mask = (1 << bits) - 1
    a, b = a & mask, b & mask
    if b == 0:
        return 0
    sign = 1 << (bits - 1)
    sa, sb = (a ^ sign) - sign, (b ^ sign) - sign
    q = abs(sa) // abs(sb)
    return (-q if (sa < 0) != (sb < 0) else q) & mask


def _smod(a: int, b: int, bits: int) -> int:
    mask = (1 << bits) - 1
    a, b = a & mask, b & mask
    if b == 0:
        return a
    sign = 1 << (bits - 1)
    sa, sb = (a ^ sign) - sign, (b ^ sign) - sign
    rem = abs(sa) % abs(sb)
    return (-rem if sa < 0 else rem) & mask


def _bswap(value: int, nbytes: int) -> int:
    return int.from_bytes((value & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little"), "big")


_NAMESPACE = {"_sdiv": _sdiv, "_smod": _smod, "_bswap": _bswap, "_Drop": _Drop}
_W64 = "0xFFFFFFFFFFFFFFFF"
_W32 = "0xFFFFFFFF"
_SIZE_BYTES = {Size.B: 1, Size.H: 2, Size.W: 4, Size.DW: 8}
_SIGN = {1: 0x80, 2: 0x8000, 4: 0x80000000, 8: 0x8000000000000000}


def _alu_code(insn: ebpf.Insn) -> str:
    op, wide = insn.opcode & 0xF0, insn.cls == Class.ALU64
    d = f"r[{insn.dst}]"
    x = insn.opcode & Source.X
    mask = _W64 if wide else _W32
    bits = 64 if wide else 32
    imm = insn.imm & (M64 if wide else M32)
    s = f"r[{insn.src}]" if x else str(imm)
    s_n = (f"(r[{insn.src}] & {_W32})" if x and not wide else s)     # the source, narrowed
    d_n = d if wide else f"({d} & {_W32})"
    sign = "0x8000000000000000" if wide else "0x80000000"
    shift = f"({s} & {bits - 1})" if x else str(imm & (bits - 1))
    if op == AluOp.ADD:
        return f"{d} = ({d} + {s}) & {mask}"
    if op == AluOp.SUB:
        return f"{d} = ({d} - {s}) & {mask}"
    if op == AluOp.MUL:
        return f"{d} = ({d} * {s}) & {mask}"
    if op == AluOp.DIV:
        if insn.off == 1:
            return f"{d} = _sdiv({d}, {s}, {bits})"
        if not x:
            return f"{d} = {d_n} // {s}" if imm else f"{d} = 0"
        return f"{d} = {d_n} // {s_n} if {s_n} else 0"
    if op == AluOp.MOD:
        if insn.off == 1:
            return f"{d} = _smod({d}, {s}, {bits})"
        if not x:
            return f"{d} = {d_n} % {s}" if imm else f"{d} = {d_n}"
        return f"{d} = {d_n} % {s_n} if {s_n} else {d_n}"
    if op == AluOp.OR:
        return f"{d} = ({d} | {s}) & {mask}"
    if op == AluOp.AND:
        return f"{d} = {d} & {s} & {mask}"
    if op == AluOp.XOR:
        return f"{d} = ({d} ^ {s}) & {mask}"
    if op == AluOp.LSH:
        return f"{d} = ({d} << {shift}) & {mask}"
    if op == AluOp.RSH:
        return f"{d} = {d_n} >> {shift}"
    if op == AluOp.ARSH:
        return f"{d} = ((({d_n} ^ {sign}) - {sign}) >> {shift}) & {mask}"
    if op == AluOp.MOV:
        if insn.off:              # movsx: sign-extend the low `off` bits of src
            sb = 1 << (insn.off - 1)
            return f"{d} = (((r[{insn.src}] & {(sb << 1) - 1}) ^ {sb}) - {sb}) & {mask}"
        return f"{d} = {s} & {mask}" if x else f"{d} = {imm}"
    if op == AluOp.NEG:
        return f"{d} = -{d} & {mask}"
    if op == AluOp.END:
        nbytes = insn.imm // 8
        if insn.cls == Class.ALU and not x:        # to little endian: a truncation here
            return f"{d} = {d} & {(1 << insn.imm) - 1}" if insn.imm < 64 else "pass"
        return f"{d} = _bswap({d}, {nbytes})"
    raise AssertionError(insn)


_CONDITIONS = {
    JmpOp.JEQ: "{a} == {b}", JmpOp.JNE: "{a} != {b}", JmpOp.JGT: "{a} > {b}",
    JmpOp.JGE: "{a} >= {b}", JmpOp.JLT: "{a} < {b}", JmpOp.JLE: "{a} <= {b}",
    JmpOp.JSET: "{a} & {b}", JmpOp.JSGT: "{sa} > {sb}", JmpOp.JSGE: "{sa} >= {sb}",
    JmpOp.JSLT: "{sa} < {sb}", JmpOp.JSLE: "{sa} <= {sb}",
}


def _jump_condition(insn: ebpf.Insn) -> str:
    wide = insn.cls == Class.JMP
    sign = "0x8000000000000000" if wide else "0x80000000"
    a = f"r[{insn.dst}]" if wide else f"(r[{insn.dst}] & {_W32})"
    if insn.opcode & Source.X:
        b = f"r[{insn.src}]" if wide else f"(r[{insn.src}] & {_W32})"
        sb = f"(({b} ^ {sign}) - {sign})"
    else:
        b = str(insn.imm & (M64 if wide else M32))
        sb = str(insn.imm)
    sa = f"(({a} ^ {sign}) - {sign})"
    return _CONDITIONS[insn.opcode & 0xF0].format(a=a, b=b, sa=sa, sb=sb)


def _insn_code(pc: int, insn: ebpf.Insn, form: ebpf.Form,
               second: ebpf.Insn | None) -> tuple[list[str], bool]:
    """Python statements for one instruction, and whether it ends its block."""
    cls, syntax = insn.cls, form.syntax
    d, s = f"r[{insn.dst}]", f"r[{insn.src}]"
    nxt = pc + 1
    if cls in (Class.ALU, Class.ALU64):
        return [_alu_code(insn)], False
    if syntax in ("ja", "ja32"):
        return [f"return {ebpf.jump_target(insn, form, pc)}"], True
    if syntax in ("jmp_imm", "jmp_src"):
        return [f"if {_jump_condition(insn)}: return {pc + 1 + insn.off}", f"return {nxt}"], True
    if syntax == "call":
        return [f"m.call({insn.imm}, r, {pc})"], False
    if syntax == "call_local":
        return [f"return m.enter(r, {nxt}, {pc + 1 + insn.imm}, {pc})"], True
    if syntax == "callx":
        return [f"return m.callx(r, {d}, {nxt}, {pc})"], True
    if syntax == "call_runtime":
        return [f"m.unsupported('call runtime {insn.imm}', {pc})"], False
    if syntax == "none":
        return ["return m.leave(r)"], True
    if syntax in ("ldabs", "ldind"):
        size = _SIZE_BYTES[insn.opcode & 0x18]
        if syntax == "ldabs":
            k = insn.imm
            if k < 0:
                return [f"r[0] = m.ld_abs({k}, {size})"], False
            load = {1: f"p[{k}]", 2: f"(p[{k}] << 8) | p[{k + 1}]",
                    4: f"int.from_bytes(p[{k}:{k + 4}], 'big')"}[size]
            return ["p = m.packet", f"if len(p) < {k + size}: raise _Drop",
                    f"r[0] = {load}"], False
        load = {1: "p[o]", 2: "(p[o] << 8) | p[o + 1]", 4: "int.from_bytes(p[o:o + 4], 'big')"}[size]
        return [f"o = ((({s} + {insn.imm}) & {_W32}) ^ 0x80000000) - 0x80000000",
                "p = m.packet",
                f"r[0] = {load} if 0 <= o <= len(p) - {size} else m.ld_abs(o, {size})"], False
    if syntax == "lddw":
        if insn.src == Pseudo.IMM64:
            return [f"{d} = {((second.imm & M32) << 32) | (insn.imm & M32)}"], False
        if insn.src in (Pseudo.MAP_FD, Pseudo.MAP_IDX):
            return [f"{d} = m.map_addr({insn.imm}, {pc})"], False
        if insn.src in (Pseudo.MAP_VALUE, Pseudo.MAP_IDX_VALUE):
            return [f"{d} = m.map_value_addr({insn.imm}, {second.imm}, {pc})"], False
        if insn.src == Pseudo.FUNC:
            return [f"{d} = {(_CODE_SLOT << 32) | (pc + 1 + insn.imm)}"], False
        return [f"m.unsupported('lddw with src {insn.src}', {pc})"], False
    size = _SIZE_BYTES[insn.opcode & 0x18]
    mode = insn.opcode & 0xE0
    if cls == Class.LDX:
        addr = f"({s} + {insn.off}) & {_W64}" if insn.off else s
        if mode == Mode.MEMSX:
            sign = _SIGN[size]
            return [f"{d} = ((m.ld{size}({addr}, {pc}) ^ {sign}) - {sign}) & {_W64}"], False
        return [f"{d} = m.ld{size}({addr}, {pc})"], False
    addr = f"({d} + {insn.off}) & {_W64}" if insn.off else d
    if cls == Class.ST:
        return [f"m.st{size}({addr}, {insn.imm & ((1 << (8 * size)) - 1)}, {pc})"], False
    if mode == Mode.ATOMIC:
        return [f"m.atomic({addr}, {size}, {insn.imm}, r, {insn.src}, {pc})"], False
    value = s if size == 8 else f"{s} & {(1 << (8 * size)) - 1}"
    return [f"m.st{size}({addr}, {value}, {pc})"], False


class Loaded:
    """A validated program compiled to basic-block functions; run it many times."""

    def __init__(self, program: ebpf.Program):
        try:
            ebpf.validate(program)
        except ebpf.IllegalInsn as exc:
            raise IllegalProgram(exc.pc, exc.reason) from None
        self.program = program
        insns = program.insns
        n = len(insns)
        self.uses_fp = any(i.dst == 10 or i.src == 10 for i in insns)
        rows = []                                   # (pc, insn, form, second)
        pc = 0
        while pc < n:
            insn = insns[pc]
            form = ebpf.form_of(insn)
            second = insns[pc + 1] if insn.opcode == ebpf.LDDW else None
            rows.append((pc, insn, form, second))
            pc += 2 if second is not None else 1
        leaders = {0}
        self.entries = {0}
        for pc, insn, form, second in rows:
            target = ebpf.jump_target(insn, form, pc)
            if target is not None:
                leaders.add(target)
            if form.syntax in ("call_local", "ja", "ja32", "jmp_imm", "jmp_src", "callx", "none"):
                leaders.add(pc + 1)
            if form.syntax == "call_local" or (form.syntax == "lddw" and insn.src == Pseudo.FUNC):
                self.entries.add(target)
        source = []
        self.blocks: list = [None] * (n + 1)
        self.costs = [0] * (n + 1)
        starts = []
        block: list[str] = []
        cost = 0
        start = 0
        for i, (pc, insn, form, second) in enumerate(rows):
            if pc in leaders and block:
                source.append(self._block_source(start, block, pc))
                self.costs[start] = cost
                starts.append(start)
                block, cost = [], 0
            if not block:
                start = pc
            lines, ends = _insn_code(pc, insn, form, second)
            block.extend(lines)
            cost += 1
            if ends:
                source.append(self._block_source(start, block, None))
                self.costs[start] = cost
                starts.append(start)
                block, cost = [], 0
        if block:
            source.append(self._block_source(start, block, n))
            self.costs[start] = cost
            starts.append(start)
        namespace = dict(_NAMESPACE)
        exec(compile("\n".join(source), f"<ebpf program {id(program):#x}>", "exec"), namespace)
        for start in starts:
            self.blocks[start] = namespace[f"b{start}"]
        self.blocks[n] = self._fell_off(n)
        self.n = n

    @staticmethod
    def _block_source(start: int, lines: list[str], fallthrough: int | None) -> str:
        body = list(lines)
        if fallthrough is not None:
            body.append(f"return {fallthrough}")
        return f"def b{start}(r, m):\n    " + "\n    ".join(body) + "\n"

    @staticmethod
    def _fell_off(n: int):
        def fell_off(r, m):
            raise VMError(n - 1, "execution fell off the end of the program")
        return fell_off

    def is_entry(self, pc: int) -> bool:
        return pc in self.entries

    def _execute(self, state: State, regs: list, budget: int) -> int:
        blocks, costs = self.blocks, self.costs
        pc = 0
        left = budget
        try:
            while pc >= 0:
                left -= costs[pc]
                if left < 0:
                    raise BudgetExceeded(pc, f"instruction budget of {budget} exhausted")
                pc = blocks[pc](regs, state)
        except _Drop:
            return 0
        except _Exit as exc:
            return exc.value & M64
        except VMError:
            raise
        except Exception as exc:  # noqa: BLE001 - the interpreter raises only VMError
            raise VMError(pc, f"internal error: {type(exc).__name__}: {exc}") from None
        return regs[0]

    def run(self, packet, wirelen: int | None = None, *, maps=None, helpers=None,
            budget: int = 1_000_000, skb: SkBuff | None = None, trace: list | None = None,
            rng=None, clock=None) -> int:
        """Run as a socket filter: r1 = ``struct __sk_buff``; returns r0 as unsigned 32-bit."""
        if type(packet) not in (bytes, bytearray, memoryview):
            packet = bytes(packet)            # (packets are only read: views need no copy)
        wire = len(packet) if wirelen is None else wirelen
        state = State(self, packet, maps, _helper_table(helpers), trace, rng, clock)
        skb = skb or _DEFAULT_SKB
        state.net_offset = skb.network_offset
        ctx = (_FIRST_DYNAMIC_SLOT << 32)
        state.regions[_FIRST_DYNAMIC_SLOT] = Region(b"", True, "context", SkbContext(skb, wire),
                                                    None, SKB_SIZE)
        state.next_slot = _FIRST_DYNAMIC_SLOT + 1
        state.ctx_addr = ctx
        regs = [0, ctx, 0, 0, 0, 0, 0, 0, 0, 0, _STACK_TOP]
        return self._execute(state, regs, budget) & M32

    def run_raw(self, mem=b"", *, maps=None, helpers=None, budget: int = 1_000_000,
                trace: list | None = None, rng=None, clock=None) -> int:
        """Run with r1 = a pointer to a writable copy of ``mem`` and r2 = its length; returns
        the full 64-bit r0.  Legacy packet loads read ``mem``."""
        buf = bytearray(mem)
        state = State(self, bytes(buf), maps, _helper_table(helpers), trace, rng, clock)
        regs = [0, state.expose(buf, "memory"), len(buf), 0, 0, 0, 0, 0, 0, 0, _STACK_TOP]
        return self._execute(state, regs, budget)


def _helper_table(helpers) -> dict | None:
    """vm.helpers.HELPERS with ``helpers`` (number -> Helper or function) over it; None for
    the default table (State loads it when the program first calls a helper)."""
    if not helpers:
        return None
    module = _helpers()
    table = dict(module.HELPERS)
    for number, helper in helpers.items():
        table[number] = helper if isinstance(helper, module.Helper) else module.Helper(
            number, getattr(helper, "__name__", f"helper{number}"), helper)
    return table


_CACHE: OrderedDict[int, tuple[ebpf.Program, Loaded]] = OrderedDict()
_CACHE_SIZE = 256


def load(program: ebpf.Program) -> Loaded:
    """Validate and compile ``program`` (cached per Program object); raises IllegalProgram."""
    key = id(program)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is program:
        _CACHE.move_to_end(key)
        return hit[1]
    loaded = Loaded(program)
    _CACHE[key] = (program, loaded)
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return loaded


def run(program: ebpf.Program, packet, wirelen: int | None = None, *, maps=None, helpers=None,
        budget: int = 1_000_000, skb: SkBuff | None = None, trace: list | None = None,
        rng=None, clock=None) -> int:
    """Run ``program`` as a BPF_PROG_TYPE_SOCKET_FILTER on ``packet``; r0 as unsigned 32-bit.

    ``maps``: a sequence or dict that LD_IMM64 map pseudo-instructions index; ``helpers``:
    extra or replacement helpers by number; ``skb``: context fields (see :class:`SkBuff`);
    ``trace``: a list that receives trace_printk lines; ``rng`` (a ``random.Random``) and
    ``clock`` (nanoseconds) feed get_prandom_u32 and ktime_get_ns."""
    return load(program).run(packet, wirelen, maps=maps, helpers=helpers, budget=budget,
                             skb=skb, trace=trace, rng=rng, clock=clock)


def run_raw(program: ebpf.Program, mem=b"", *, maps=None, helpers=None,
            budget: int = 1_000_000, trace: list | None = None, rng=None,
            clock=None) -> int:
    """Run ``program`` with r1 = pointer to ``mem``, r2 = len(mem); the full 64-bit r0."""
    return load(program).run_raw(mem, maps=maps, helpers=helpers, budget=budget, trace=trace,
                                 rng=rng, clock=clock)
