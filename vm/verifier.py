"""Static eBPF verifier, modelled on the Linux kernel's (kernel/bpf/verifier.c).

``verify(eprog, prog_type="socket_filter")`` returns None or raises :class:`VerifierError`,
whose message names the pc and the rule (``pc 3: R2 !read_ok``, ``back-edge at pc 9: ...``);
``.pc`` and ``.rule`` carry the two parts.

Two passes, like the kernel's:

1. Structure: every instruction is legal (``vm.ebpf``'s legality table plus the semantic
   field rules: shift counts, division by a constant 0, writes to r10), lddw pairs are whole,
   jump and call targets are in range and never the second slot of an lddw, no instruction
   falls off the end, none is unreachable, and every instruction has a path to an exit (else
   "back-edge at pc N: loop from which no path reaches exit").  With ``unprivileged=True`` any
   back-edge is refused here and the program may not exceed 4096 instructions.
2. Abstract interpretation of every path (depth first) with kernel-style register types:
   scalars carry unsigned and signed 64-bit bounds plus a tristate number (known bits), and
   copies made by ``mov`` stay linked so that a comparison refines both; pointers are
   ptr_to_ctx, ptr_to_stack, ptr_to_packet / ptr_to_packet_end, const_ptr_to_map,
   map_value(_or_null) and mem(_or_null) (ring-buffer records).  Every memory access is proven
   in bounds: stack within 512 bytes, aligned to its size, never reading uninitialized bytes;
   ctx only at the valid fields of the program type's context; packet within the range proven
   by a comparison against data_end; map values and ring-buffer records within their size.
   Helper arguments are checked against the helper's prototype (the helpers vm.helpers
   offers), *_or_null pointers must be null-checked, ring-buffer reservations must be
   submitted or discarded before exit.  Loops are explored iteration by iteration: a loop head
   reached again in the same state is an infinite loop, a loop that does not finish within the
   instruction budget is refused as "back-edge at pc N".

State pruning (what keeps big filter programs fast): at jump targets a path stops when a fully
explored state at the same pc contains it.  Containment looks only at live registers and live
stack bytes (a static liveness pass) and compares scalar ranges only where they were *precise*
-- where a value decided a branch, became a pointer offset or a helper's size argument --
tracked per checkpoint by backtracking through the path's instructions like the kernel's
mark_chain_precision.  Other live scalars only have to be scalars.  With subprograms or stack
pointers held outside r10 every live scalar counts as precise.

Limits (documented choices): at most 1,000,000 instructions per program (4096 unprivileged);
1,000,000 processed instructions per verification (the kernel's BPF_COMPLEXITY_LIMIT_INSNS,
``complexity_limit=`` to change it); call depth 8; 512 bytes of stack per frame and along
any chain of calls (frames rounded up to 16 bytes, as the kernel does for JITed programs);
at most 64 remembered states per pc.

Stricter than the kernel lets root be, on purpose: reading uninitialized stack bytes (also
through helper arguments) is refused; pointers never turn into scalars (no pointer stored into
ctx, map values or packets, none returned by the program, no 32-bit copies of pointers); every
instruction must be legal even on paths that are never taken.  More precise than the kernel:
division, modulo and shifts by a register are folded when both operands are known (shift counts
masked, as the interpreters run them), where the kernel's verifier forgets the value, so a
branch the kernel must explore may be dead here.  LD_ABS/LD_IND results are left unbounded as
the kernel leaves them.

Program types: "socket_filter" (context ``struct __sk_buff`` with the socket-filter access
rules: no direct packet access, cb[] writable, legacy LD_ABS/LD_IND allowed) and "xdp"
(``struct xdp_md``: direct packet access through data/data_end).

Maps: ``verify(..., maps={fd: m})`` where ``m`` has ``map_type`` ("array", "hash",
"lru_hash", "ringbuf", a ``vm.maps.MapType`` or the kernel's number), ``key_size``,
``value_size`` and ``max_entries`` attributes (or dict keys); ``lddw rX, map_fd(fd)`` refers
to them.  ``vm.maps`` maps and ``vm.kernel.KernelMap`` objects work as they are.
"""
from __future__ import annotations

from collections import namedtuple

from . import ebpf

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
S64_MIN, S64_MAX = -(1 << 63), (1 << 63) - 1

MAX_INSNS = 1_000_000
MAX_INSNS_UNPRIV = 4096
COMPLEXITY_LIMIT = 1_000_000
STACK_SIZE = 512
MAX_CALL_DEPTH = 8
MAX_STATES_PER_PC = 64

_LD, _LDX, _ST, _STX, _ALU, _JMP, _JMP32, _ALU64 = range(8)
_LDDW = 0x18


class VerifierError(ValueError):
    """A program the verifier refuses. ``pc`` is the instruction, ``rule`` the broken rule."""

    def __init__(self, pc: int, rule: str, *, back_edge: bool = False):
        self.pc = pc
        self.rule = rule
        self.cbpf_pc = None
        super().__init__(f"back-edge at pc {pc}: {rule}" if back_edge else f"pc {pc}: {rule}")


# =============================================================================================
# Scalars: unsigned/signed 64-bit bounds and a tristate number (value, mask)

def _s64(x: int) -> int:
    x &= M64
    return x - (1 << 64) if x >> 63 else x


def _tnum_range(lo: int, hi: int):
    chi = lo ^ hi
    bits = chi.bit_length()
    if bits > 63:
        return 0, M64
    delta = (1 << bits) - 1
    return lo & ~delta & M64, delta


class Scalar:
    """An abstract 64-bit value. Immutable; build through ``_mk``."""
    __slots__ = ("umin", "umax", "smin", "smax", "tv", "tm")

    def __init__(self, umin, umax, smin, smax, tv, tm):
        self.umin, self.umax, self.smin, self.smax, self.tv, self.tm = umin, umax, smin, smax, tv, tm

    @property
    def const(self):
        return self.tm == 0

    def key(self):
        return (self.umin, self.umax, self.smin, self.smax, self.tv, self.tm)

    def within(self, other: "Scalar") -> bool:
        """self's values are a subset of other's."""
        return (other.umin <= self.umin and self.umax <= other.umax and other.smin <= self.smin
                and self.smax <= other.smax and (self.tm & ~other.tm) == 0
                and (self.tv & ~other.tm) == (other.tv & ~other.tm))

    def __repr__(self):
        if self.const:
            return f"{self.tv:#x}"
        return f"[u{self.umin:#x}..{self.umax:#x} s{self.smin}..{self.smax} t{self.tv:#x}/{self.tm:#x}]"


def _mk(umin=0, umax=M64, smin=S64_MIN, smax=S64_MAX, tv=0, tm=M64):
    """Normalize bounds against each other; None when no value fits (dead branch)."""
    for _ in range(2):
        # tnum -> bounds
        umin = max(umin, tv)
        umax = min(umax, tv | tm)
        if not tm >> 63:
            lo, hi = _s64(tv), _s64(tv | tm)
            if lo <= hi:
                smin, smax = max(smin, lo), min(smax, hi)
        # signed <-> unsigned
        if smin >= 0:
            umin, umax = max(umin, smin), min(umax, smax)
        elif smax < 0:
            umin, umax = max(umin, smin + (1 << 64)), min(umax, smax + (1 << 64))
        if umax <= S64_MAX:
            smin, smax = max(smin, umin), min(smax, umax)
        elif umin > S64_MAX:
            smin, smax = max(smin, umin - (1 << 64)), min(smax, umax - (1 << 64))
        if umin > umax or smin > smax:
            return None
        # bounds -> tnum
        rv, rm = _tnum_range(umin, umax)
        if (tv ^ rv) & ~tm & ~rm & M64:
            return None
        nv, nm = (tv | rv), (tm & rm)
        tv, tm = nv & ~nm & M64, nm
    return Scalar(umin, umax, smin, smax, tv, tm)


def _const(v: int) -> Scalar:
    v &= M64
    return Scalar(v, v, _s64(v), _s64(v), v, 0)


UNKNOWN = Scalar(0, M64, S64_MIN, S64_MAX, 0, M64)


def _bounded(lo: int, hi: int) -> Scalar:
    return _mk(umin=lo, umax=hi)


def _sx(lo_bits: int) -> Scalar:
    """Unknown value sign-extended from lo_bits."""
    return _mk(smin=-(1 << (lo_bits - 1)), smax=(1 << (lo_bits - 1)) - 1)


def _trunc32(s: Scalar) -> Scalar:
    """Low 32 bits, zero-extended."""
    if s.umax <= M32:
        return s
    tv, tm = s.tv & M32, s.tm & M32
    if s.umin >> 32 == s.umax >> 32:
        return _mk(s.umin & M32, s.umax & M32, 0, M32, tv, tm) or _mk(0, M32, 0, M32, tv, tm)
    return _mk(0, M32, 0, M32, tv, tm)


def _concrete(op: int, a: int, b: int, is64: bool, off: int) -> int:
    """The exact result of an ALU operation on known values (a, b unsigned 64-bit)."""
    bits = 64 if is64 else 32
    mask = M64 if is64 else M32
    a &= mask
    b &= mask

    def sg(x):
        return x - (1 << bits) if x >> (bits - 1) else x

    if op == 0x00:
        r = a + b
    elif op == 0x10:
        r = a - b
    elif op == 0x20:
        r = a * b
    elif op == 0x30:
        if off == 1:
            r = 0 if b == 0 else int(abs(sg(a)) // abs(sg(b))) * (1 if (sg(a) < 0) == (sg(b) < 0) else -1)
        else:
            r = 0 if b == 0 else a // b
    elif op == 0x90:
        if off == 1:
            r = a if b == 0 else (abs(sg(a)) % abs(sg(b))) * (-1 if sg(a) < 0 else 1)
        else:
            r = a if b == 0 else a % b
    elif op == 0x40:
        r = a | b
    elif op == 0x50:
        r = a & b
    elif op == 0xA0:
        r = a ^ b
    elif op == 0x60:
        r = a << (b & (bits - 1))
    elif op == 0x70:
        r = a >> (b & (bits - 1))
    elif op == 0xC0:
        r = sg(a) >> (b & (bits - 1))
    elif op == 0x80:
        r = -a
    else:
        raise AssertionError(op)
    return r & mask


def _alu_scalar(op: int, a: Scalar, b: Scalar, is64: bool, off: int) -> Scalar:
    if not is64:
        a, b = _trunc32(a), _trunc32(b)
    if a.const and (b.const or op == 0x80):
        return _const(_concrete(op, a.tv, b.tv, is64, off))
    r = _alu64_abstract(op, a, b, off, is64)
    if r is None:
        r = UNKNOWN
    return r if is64 else _trunc32(r)


def _alu64_abstract(op, a, b, off, is64):
    bits = 64 if is64 else 32
    if op == 0x00:                                   # add
        sm, sv = a.tm + b.tm, a.tv + b.tv
        mu = ((sm + sv) ^ sv) | a.tm | b.tm
        tv, tm = sv & ~mu & M64, mu & M64
        if a.umax + b.umax <= M64:
            u = (a.umin + b.umin, a.umax + b.umax)
        else:
            u = (0, M64)
        lo, hi = a.smin + b.smin, a.smax + b.smax
        s = (lo, hi) if S64_MIN <= lo and hi <= S64_MAX else (S64_MIN, S64_MAX)
        return _mk(u[0], u[1], s[0], s[1], tv, tm)
    if op == 0x10:                                   # sub
        dv = a.tv - b.tv
        mu = ((dv + a.tm) ^ (dv - b.tm)) | a.tm | b.tm
        tv, tm = dv & ~mu & M64, mu & M64
        u = (a.umin - b.umax, a.umax - b.umin) if a.umin >= b.umax else (0, M64)
        lo, hi = a.smin - b.smax, a.smax - b.smin
        s = (lo, hi) if S64_MIN <= lo and hi <= S64_MAX else (S64_MIN, S64_MAX)
        return _mk(u[0], u[1], s[0], s[1], tv, tm)
    if op == 0x20:                                   # mul
        if a.umax * b.umax <= M64:
            return _mk(a.umin * b.umin, a.umax * b.umax)
        return UNKNOWN
    if op == 0x30:                                   # div
        if off == 1:
            return UNKNOWN
        if b.umin > 0:
            return _mk(a.umin // b.umax, a.umax // b.umin)
        return _mk(0, a.umax)
    if op == 0x90:                                   # mod
        if off == 1:
            return UNKNOWN
        if b.umin > 0:
            if a.umax < b.umin:
                return a
            return _mk(0, min(a.umax, b.umax - 1))
        return _mk(0, a.umax)
    if op == 0x50:                                   # and
        v = a.tv & b.tv
        tm = (a.tv | a.tm) & (b.tv | b.tm) & ~v
        return _mk(0, min(a.umax, b.umax), tv=v, tm=tm)
    if op == 0x40:                                   # or
        v = a.tv | b.tv
        return _mk(max(a.umin, b.umin), M64, tv=v, tm=(a.tm | b.tm) & ~v)
    if op == 0xA0:                                   # xor
        v = a.tv ^ b.tv
        mu = a.tm | b.tm
        return _mk(tv=v & ~mu, tm=mu)
    if op in (0x60, 0x70, 0xC0):
        if not b.const:
            if op == 0x70:
                return _mk(0, a.umax)
            if op == 0xC0 and is64:
                return _mk(smin=min(a.smin, 0), smax=max(a.smax, 0))
            return UNKNOWN
        sh = b.tv & (bits - 1)
        if op == 0x60:
            tv, tm = (a.tv << sh) & M64, (a.tm << sh) & M64
            if a.umax << sh <= M64:
                return _mk(a.umin << sh, a.umax << sh, tv=tv, tm=tm)
            return _mk(tv=tv, tm=tm)
        if op == 0x70:
            return _mk(a.umin >> sh, a.umax >> sh, tv=a.tv >> sh, tm=a.tm >> sh)
        if is64:
            return _mk(smin=a.smin >> sh, smax=a.smax >> sh)
        return UNKNOWN
    return UNKNOWN                                   # neg, unknown operands


# =============================================================================================
# Registers

NOT_INIT = "not_init"
SCALAR = "scalar"
PTR_TO_CTX = "ctx"
PTR_TO_STACK = "fp"
PTR_TO_PACKET = "pkt"
PTR_TO_PACKET_END = "pkt_end"
CONST_PTR_TO_MAP = "map_ptr"
PTR_TO_MAP_VALUE = "map_value"
PTR_TO_MAP_VALUE_OR_NULL = "map_value_or_null"
PTR_TO_MEM = "mem"
PTR_TO_MEM_OR_NULL = "mem_or_null"

_NULLABLE = {PTR_TO_MAP_VALUE_OR_NULL: PTR_TO_MAP_VALUE, PTR_TO_MEM_OR_NULL: PTR_TO_MEM}
_VAR_OFF_OK = (PTR_TO_PACKET, PTR_TO_MAP_VALUE, PTR_TO_MEM)


class Reg:
    """One register's abstract value. Immutable.

    For pointers ``off`` is the fixed offset and ``var`` (a Scalar) the variable part;
    ``id`` links copies (packet range sharing, null checks), ``range`` is the proven packet
    size for packet pointers, ``size`` the object size for mem, ``map`` the map for map
    pointers, ``ref`` the reference id of a ring-buffer record, ``frame`` the stack frame."""
    __slots__ = ("type", "val", "off", "var", "id", "range", "map", "size", "ref", "frame")

    def __init__(self, type, val=None, off=0, var=None, id=0, range=0, map=None, size=0, ref=0,
                 frame=0):
        self.type, self.val, self.off, self.var, self.id = type, val, off, var, id
        self.range, self.map, self.size, self.ref, self.frame = range, map, size, ref, frame

    def replace(self, **kw) -> "Reg":
        r = Reg(self.type, self.val, self.off, self.var, self.id, self.range, self.map,
                self.size, self.ref, self.frame)
        for k, v in kw.items():
            setattr(r, k, v)
        return r

    @property
    def is_ptr(self):
        return self.type not in (NOT_INIT, SCALAR)

    def __repr__(self):
        if self.type == SCALAR:
            return repr(self.val)
        if self.type == NOT_INIT:
            return "?"
        extra = f"+{self.var!r}" if self.var is not None and not (self.var.const and self.var.tv == 0) else ""
        return f"{self.type}(off={self.off}{extra},id={self.id},r={self.range})"


_NOT_INIT = Reg(NOT_INIT)


def _scalar(val: Scalar) -> Reg:
    return Reg(SCALAR, val)


_ZERO = _scalar(_const(0))
_VAR0 = _const(0)


# =============================================================================================
# Program types and helpers

class CtxField(namedtuple("CtxField", "off size read write kind narrow",
                          defaults=(True, False, SCALAR, True))):
    """One context field: ``off``, ``size``, whether it may be read/written, ``kind`` (SCALAR or
    PTR_TO_PACKET / PTR_TO_PACKET_END) and ``narrow`` (1/2-byte reads allowed inside it)."""

    __slots__ = ()


def _skb_fields():
    f = {}
    for name, off in (("len", 0), ("pkt_type", 4), ("mark", 8), ("queue_mapping", 12),
                      ("protocol", 16), ("vlan_present", 20), ("vlan_tci", 24),
                      ("vlan_proto", 28), ("priority", 32), ("ingress_ifindex", 36),
                      ("ifindex", 40), ("tc_index", 44), ("hash", 68), ("napi_id", 84),
                      ("gso_segs", 164), ("gso_size", 176)):
        f[name] = CtxField(off, 4)
    for i in range(5):
        f[f"cb[{i}]"] = CtxField(48 + 4 * i, 4, write=True)
    return f


class ProgType(namedtuple("ProgType", "name ctx_name ctx_size fields ld_abs helpers cb_range",
                          defaults=((0, 0),))):
    """A program type: its context (``ctx_name``, ``ctx_size``, ``fields`` by name), whether
    legacy packet loads are allowed (``ld_abs``), the helper numbers it may call and
    ``cb_range``, a writable byte range of the context accessed with any size."""

    __slots__ = ()


PROG_TYPES = {
    "socket_filter": ProgType("socket_filter", "__sk_buff", 192, _skb_fields(), True,
                              frozenset({1, 2, 3, 5, 6, 7, 8, 26, 130, 131, 132, 133, 134}),
                              cb_range=(48, 68)),
    "xdp": ProgType("xdp", "xdp_md", 24, {
        "data": CtxField(0, 4, kind=PTR_TO_PACKET, narrow=False),
        "data_end": CtxField(4, 4, kind=PTR_TO_PACKET_END, narrow=False),
        "data_meta": CtxField(8, 4, read=False),
        "ingress_ifindex": CtxField(12, 4, narrow=False),
        "rx_queue_index": CtxField(16, 4, narrow=False),
        "egress_ifindex": CtxField(20, 4, narrow=False),
    }, False, frozenset({1, 2, 3, 5, 6, 7, 8, 130, 131, 132, 133, 134})),
}

# Argument kinds.
A_MAP = "const_map_ptr"
A_RINGBUF = "ringbuf_map_ptr"
A_KEY = "map_key"
A_VALUE = "map_value"
A_MEM = "mem"                 # readable memory; size in the next argument
A_UNINIT_MEM = "uninit_mem"   # writable memory; size in the next argument
A_SIZE = "const_size"
A_SIZE_OR_ZERO = "const_size_or_zero"
A_ALLOC_SIZE = "const_alloc_size_or_zero"
A_CTX = "ctx"
A_ANY = "anything"
A_RINGBUF_MEM = "ringbuf_mem (release)"

R_INT, R_VOID, R_MAP_VALUE_OR_NULL, R_RINGBUF_MEM_OR_NULL = "int", "void", "map_value_or_null", "mem_or_null"


class Helper(namedtuple("Helper", "id name args ret")):
    """A helper's prototype: number, name, argument kinds (A_*) and return kind (R_*)."""

    __slots__ = ()


HELPERS = {h.id: h for h in (
    Helper(1, "map_lookup_elem", (A_MAP, A_KEY), R_MAP_VALUE_OR_NULL),
    Helper(2, "map_update_elem", (A_MAP, A_KEY, A_VALUE, A_ANY), R_INT),
    Helper(3, "map_delete_elem", (A_MAP, A_KEY), R_INT),
    Helper(5, "ktime_get_ns", (), R_INT),
    Helper(6, "trace_printk", (A_MEM, A_SIZE), R_INT),
    Helper(7, "get_prandom_u32", (), R_INT),
    Helper(8, "get_smp_processor_id", (), R_INT),
    Helper(26, "skb_load_bytes", (A_CTX, A_ANY, A_UNINIT_MEM, A_SIZE), R_INT),
    Helper(130, "ringbuf_output", (A_RINGBUF, A_MEM, A_SIZE_OR_ZERO, A_ANY), R_INT),
    Helper(131, "ringbuf_reserve", (A_RINGBUF, A_ALLOC_SIZE, A_ANY), R_RINGBUF_MEM_OR_NULL),
    Helper(132, "ringbuf_submit", (A_RINGBUF_MEM, A_ANY), R_VOID),
    Helper(133, "ringbuf_discard", (A_RINGBUF_MEM, A_ANY), R_VOID),
    Helper(134, "ringbuf_query", (A_RINGBUF, A_ANY), R_INT),
)}

MAP_TYPES = {1: "hash", 2: "array", 9: "lru_hash", 27: "ringbuf"}


class MapInfo(namedtuple("MapInfo", "fd map_type key_size value_size max_entries")):
    """What the verifier knows of a map: fd, type name ("array", "hash", ...) and sizes."""

    __slots__ = ()


def _map_info(fd: int, m) -> MapInfo:
    def get(name, default=0):
        if isinstance(m, dict):
            return m.get(name, default)
        return getattr(m, name, default)
    mt = get("map_type", None)
    if mt is None:
        mt = get("type", "array")
    if hasattr(mt, "name") and not isinstance(mt, str):
        mt = mt.name.lower()
    if isinstance(mt, int):
        mt = MAP_TYPES.get(mt, str(mt))
    mt = str(mt).lower().replace("bpf_map_type_", "")
    return MapInfo(fd, mt, int(get("key_size")), int(get("value_size")), int(get("max_entries")))


# =============================================================================================
# Verifier state

class Frame:
    __slots__ = ("regs", "stack", "spills", "callsite", "depth")

    def __init__(self, regs, stack, spills, callsite, depth=0):
        self.regs = regs            # list of 11 Reg
        self.stack = stack          # bytearray(512): 0 = uninit, 1 = misc data
        self.spills = spills        # {(off, size): Reg}  (off negative, from the frame top)
        self.callsite = callsite    # pc of the call that created this frame (-1 for main)
        self.depth = depth          # deepest stack byte touched

    def copy(self) -> "Frame":
        return Frame(list(self.regs), bytearray(self.stack), dict(self.spills), self.callsite,
                     self.depth)


class State:
    __slots__ = ("frames", "refs", "last_back_edge")

    def __init__(self, frames, refs, last_back_edge=-1):
        self.frames = frames        # list of Frame, innermost last
        self.refs = refs            # {ref_id: alloc_pc}
        self.last_back_edge = last_back_edge

    def copy(self) -> "State":
        return State([f.copy() for f in self.frames], dict(self.refs), self.last_back_edge)

    @property
    def cur(self) -> Frame:
        return self.frames[-1]


class _Node:
    """A checkpoint at a prune point: the state, how many paths from it are unfinished, the
    pcs executed since the parent checkpoint, and which registers / stack bytes of the state
    had to be known exactly (precise) for the paths explored from it."""
    __slots__ = ("state", "parent", "branches", "pc", "hist", "prec_r", "prec_s", "quick")

    def __init__(self, state, parent, pc):
        self.state, self.parent, self.branches, self.pc = state, parent, 1, pc
        self.hist = []
        self.prec_r = 0
        self.prec_s = 0
        self.quick = None           # filled when first compared after it is finished


def _finish(node):
    while node is not None:
        node.branches -= 1
        if node.branches:
            return
        node = node.parent


# =============================================================================================
# Pass 1: structure

def _form_problem(insn: ebpf.Insn):
    form_of = getattr(ebpf, "form_of", None)
    if form_of is not None:
        if form_of(insn) is None:
            return ebpf.why_illegal(insn)
        return None
    return None if (insn.opcode & 7) in range(8) else "unknown opcode"


def _check_insn(pc: int, insn: ebpf.Insn, prog_type: ProgType) -> None:
    why = _form_problem(insn)
    if why:
        raise VerifierError(pc, f"illegal instruction: {why}")
    if insn.dst > 10 or insn.src > 10:
        raise VerifierError(pc, f"invalid register r{max(insn.dst, insn.src)}")
    cls, op = insn.opcode & 7, insn.opcode & 0xF0
    if cls in (_ALU, _ALU64):
        if insn.dst == 10:
            raise VerifierError(pc, "frame pointer is read only")
        if not insn.opcode & 0x08 and op in (0x60, 0x70, 0xC0):
            width = 64 if cls == _ALU64 else 32
            if not 0 <= insn.imm < width:
                raise VerifierError(pc, f"invalid shift {insn.imm}")
        if not insn.opcode & 0x08 and op in (0x30, 0x90) and insn.imm == 0:
            raise VerifierError(pc, "division by zero")
    elif cls == _LDX and insn.dst == 10:
        raise VerifierError(pc, "frame pointer is read only")
    elif cls == _LD:
        mode = insn.opcode & 0xE0
        if insn.opcode == _LDDW:
            if insn.dst == 10:
                raise VerifierError(pc, "frame pointer is read only")
            if insn.src not in (0, 1, 2):
                raise VerifierError(pc, f"lddw with src {insn.src} is not supported")
        elif mode in (0x20, 0x40) and not prog_type.ld_abs:
            raise VerifierError(pc, f"BPF_LD_[ABS|IND] not allowed for {prog_type.name} programs")
    elif cls == _JMP and op == 0x80:
        if insn.opcode & 0x08 or insn.src == 2:
            raise VerifierError(pc, "indirect calls and kfunc calls are not supported")
        if insn.src == 0:
            h = HELPERS.get(insn.imm)
            if h is None:
                raise VerifierError(pc, f"invalid func unknown#{insn.imm}")
            if h.id not in prog_type.helpers:
                raise VerifierError(pc, f"helper {h.name}#{h.id} not allowed for {prog_type.name}")


def _structure(insns, prog_type: ProgType, unprivileged: bool):
    """Pass 1. Returns (successor lists, prune points, set of back-edge sources, subprog entries)."""
    n = len(insns)
    if n == 0:
        raise VerifierError(0, "empty program")
    limit = MAX_INSNS_UNPRIV if unprivileged else MAX_INSNS
    if n > limit:
        raise VerifierError(limit, f"program too large ({n} insns, limit {limit})")
    second = set()
    pc = 0
    while pc < n:
        insn = insns[pc]
        _check_insn(pc, insn, prog_type)
        if insn.opcode == _LDDW:
            if pc + 1 >= n:
                raise VerifierError(pc, "invalid lddw: missing second slot")
            nxt = insns[pc + 1]
            if nxt.opcode or nxt.dst or nxt.src or nxt.off or (nxt.imm and insn.src == 1):
                raise VerifierError(pc + 1, "invalid lddw: second slot uses reserved fields")
            second.add(pc + 1)
            pc += 2
        else:
            pc += 1

    succ = [()] * n
    targets = set()
    calls = set()
    for pc in range(n):
        if pc in second:
            continue
        insn = insns[pc]
        cls, op = insn.opcode & 7, insn.opcode & 0xF0
        nxt = pc + 2 if insn.opcode == _LDDW else pc + 1
        if cls in (_JMP, _JMP32):
            if op == 0x90:
                s = ()
            elif op == 0x80:
                if insn.src == 1:
                    t = pc + 1 + insn.imm
                    _check_target(pc, t, n, second, "call")
                    calls.add(t)
                s = (nxt,)
            elif op == 0x00:
                t = pc + 1 + (insn.imm if cls == _JMP32 else insn.off)
                _check_target(pc, t, n, second, "jump")
                s = (t,)
                targets.add(t)
            else:
                t = pc + 1 + insn.off
                _check_target(pc, t, n, second, "jump")
                s = (nxt, t)
                targets.add(t)
                targets.add(nxt)
        else:
            s = (nxt,)
        for t in s:
            if t >= n:
                raise VerifierError(pc, "falls through past the end of the program")
        succ[pc] = s

    if calls:                       # subprograms start at call targets (as the kernel splits)
        for pc in range(min(calls), n):
            if pc not in second and insns[pc].opcode & 0x07 == _LD and \
                    insns[pc].opcode & 0xE0 in (0x20, 0x40):
                raise VerifierError(pc, "LD_ABS is not allowed in subprogs without BTF")

    # reachability and back-edges (iterative DFS over main program and subprograms)
    entries = [0] + sorted(calls)
    color = [0] * n            # 0 new, 1 on stack, 2 done
    back_edges = set()
    for entry in entries:
        if color[entry]:
            continue
        stack = [(entry, iter(succ[entry]))]
        color[entry] = 1
        while stack:
            pc, it = stack[-1]
            t = next(it, None)
            if t is None:
                color[pc] = 2
                stack.pop()
                continue
            if color[t] == 1:
                back_edges.add(pc)
                if unprivileged:
                    raise VerifierError(pc, f"loop to pc {t} not allowed unprivileged", back_edge=True)
            elif color[t] == 0:
                color[t] = 1
                stack.append((t, iter(succ[t])))
    for pc in range(n):
        if pc not in second and not color[pc]:
            raise VerifierError(pc, "unreachable instruction")
    # every path can reach an exit: walk backwards from the exits (a local call returns when
    # its callee can, which the callee's own exits cover)
    preds = [[] for _ in range(n)]
    for pc in range(n):
        for t in succ[pc]:
            preds[t].append(pc)
    reach = [False] * n
    todo = [pc for pc in range(n) if pc not in second and succ[pc] == ()]
    for pc in todo:
        reach[pc] = True
    while todo:
        pc = todo.pop()
        for p in preds[pc]:
            if not reach[p]:
                reach[p] = True
                todo.append(p)
    for pc in range(n):
        if pc not in second and not reach[pc]:
            edge = min((b for b in back_edges if not reach[b]), default=pc)
            raise VerifierError(edge, f"loop from which no path reaches exit (pc {pc})",
                                back_edge=True)
    prune = targets | calls | {pc + 1 for pc in range(n - 1)
                       if insns[pc].opcode == (_JMP | 0x80) and insns[pc].src == 1}
    return succ, prune, back_edges, entries, second


def _check_target(pc, t, n, second, what):
    if not 0 <= t < n:
        raise VerifierError(pc, f"{what} out of range (target pc {t})")
    if t in second:
        raise VerifierError(pc, f"{what} into the middle of lddw (target pc {t})")


# =============================================================================================
# Liveness (static, backward): registers and stack bytes that may be read before written

def _liveness(insns, succ, second, entries):
    """(live registers per pc, live r10-relative stack bytes per pc, escapes): escapes is True
    when the stack is reachable other than through r10 with a constant offset (a stack pointer
    in another register, subprograms), and then every stack byte counts as live."""
    n = len(insns)
    escapes = len(entries) > 1
    uses, defs, suse, sdef = [0] * n, [0] * n, [0] * n, [0] * n
    full_stack = (1 << STACK_SIZE) - 1

    def sbits(off, size):
        lo = off + STACK_SIZE
        if lo < 0 or lo + size > STACK_SIZE:
            return 0
        return ((1 << size) - 1) << lo

    for pc in range(n):
        if pc in second:
            continue
        insn = insns[pc]
        cls, op, d, s = insn.opcode & 7, insn.opcode & 0xF0, insn.dst, insn.src
        size = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}[insn.opcode & 0x18]
        u = df = 0
        if cls in (_ALU, _ALU64):
            if op == 0xB0:
                u = (1 << s) if insn.opcode & 0x08 else 0
            else:
                u = (1 << d) | ((1 << s) if insn.opcode & 0x08 and op != 0xD0 else 0)
            df = 1 << d
            if insn.opcode & 0x08 and s == 10 and op != 0xD0:
                escapes = True              # a stack pointer in another register
        elif cls in (_JMP, _JMP32):
            if op == 0x90:
                u = 1
            elif op == 0x80:
                if insn.src == 1:
                    u = 0b111110
                else:
                    h = HELPERS.get(insn.imm)
                    u = sum(1 << (i + 1) for i in range(len(h.args))) if h else 0b111110
                    if h and any(a in (A_KEY, A_VALUE, A_MEM, A_UNINIT_MEM) for a in h.args):
                        escapes = True
                df = 0b111111
            elif op != 0x00:
                u = (1 << d) | ((1 << s) if insn.opcode & 0x08 else 0)
        elif cls == _LD:
            if insn.opcode == _LDDW:
                df = 1 << d
            else:
                u = (1 << 6) | ((1 << s) if insn.opcode & 0xE0 == 0x40 else 0)
                df = 0b111111
        elif cls == _LDX:
            u, df = 1 << s, 1 << d
            if s == 10:
                suse[pc] = sbits(insn.off, size)
        elif cls == _ST:
            u = 1 << d
            if d == 10:
                sdef[pc] = sbits(insn.off, size)
        elif cls == _STX:
            u = (1 << d) | (1 << s)
            if d == 10:
                if insn.opcode & 0xE0 == 0xC0:
                    suse[pc] = sbits(insn.off, size)
                    if insn.imm == 0xF1:
                        u |= 1
                        df |= 1
                    elif insn.imm & 1:
                        df |= 1 << s
                else:
                    sdef[pc] = sbits(insn.off, size)
            elif s == 10:
                escapes = True
            elif insn.opcode & 0xE0 == 0xC0:
                if insn.imm == 0xF1:
                    u |= 1
                    df |= 1
                elif insn.imm & 1:
                    df |= 1 << s
        uses[pc], defs[pc] = u, df

    live_r = [0] * n
    live_s = [0] * n
    preds = [[] for _ in range(n)]
    for pc in range(n):
        for t in succ[pc]:
            preds[t].append(pc)
    work = [pc for pc in range(n) if pc not in second]
    inq = set(work)
    while work:
        pc = work.pop()
        inq.discard(pc)
        out_r = out_s = 0
        for t in succ[pc]:
            out_r |= live_r[t]
            out_s |= live_s[t]
        nr = (out_r & ~defs[pc]) | uses[pc]
        ns = ((out_s & ~sdef[pc]) | suse[pc]) if not escapes else full_stack
        if nr != live_r[pc] or ns != live_s[pc]:
            live_r[pc], live_s[pc] = nr, ns
            for p in preds[pc]:
                if p not in inq:
                    inq.add(p)
                    work.append(p)
    if escapes:
        live_s = [full_stack] * n
    return live_r, live_s, escapes


# =============================================================================================
# Pass 2: abstract interpretation

class _Verifier:
    def __init__(self, insns, prog_type: ProgType, maps, unprivileged, complexity_limit):
        self.insns = insns
        self.pt = prog_type
        self.maps = {int(fd): _map_info(int(fd), m) for fd, m in (maps or {}).items()}
        self.unpriv = unprivileged
        self.limit = complexity_limit
        self.next_id = 0
        self.processed = 0
        self.states = 0
        self.sub_depth = {}

    def new_id(self):
        self.next_id += 1
        return self.next_id

    # -- driver --------------------------------------------------------------------------------

    def run(self):
        insns = self.insns
        succ, prune, back_edges, entries, second = _structure(insns, self.pt, self.unpriv)
        self.live_r, self.live_s, escapes = _liveness(insns, succ, second, entries)
        # Precision is tracked per checkpoint (as the kernel's mark_chain_precision does) when
        # values can be traced back through registers and r10-relative stack slots; with
        # subprograms or stack pointers in other registers every live scalar counts as precise.
        self.all_precise = escapes
        self.back_edges = back_edges
        regs = [_NOT_INIT] * 11
        regs[1] = Reg(PTR_TO_CTX, off=0, var=_VAR0)
        regs[10] = Reg(PTR_TO_STACK, off=0, var=_VAR0, frame=0)
        state = State([Frame(regs, bytearray(STACK_SIZE), {}, -1)], {})
        visited: dict[int, list] = {}
        root = _Node(None, None, -1)
        todo = [(0, state, root, [])]
        while todo:
            pc, st, self.node, self.hist = todo.pop()
            while True:
                if pc in prune and self._visit(pc, st, visited):
                    break
                self.processed += 1
                if self.processed > self.limit:
                    if st.last_back_edge >= 0:
                        raise VerifierError(st.last_back_edge,
                                            f"loop not proven to terminate within {self.limit} "
                                            "processed instructions", back_edge=True)
                    raise VerifierError(pc, f"program too complex: more than {self.limit} "
                                            "instructions processed")
                self.hist.append(pc)
                nxt = self._step(pc, st, todo)
                if nxt is None:
                    break
                if nxt <= pc and pc in back_edges:
                    st.last_back_edge = pc
                pc = nxt
            _finish(self.node)
        if len(entries) > 1:
            self._check_combined_stack(entries)

    def _note_depth(self, frame):
        entry = 0 if frame.callsite < 0 else frame.callsite + 1 + self.insns[frame.callsite].imm
        if frame.depth > self.sub_depth.get(entry, 0):
            self.sub_depth[entry] = frame.depth

    def _check_combined_stack(self, entries):
        """The kernel's check_max_stack_depth: along every chain of calls the frames' stack
        depths (each rounded up to 16 bytes, as for a JITed program) add up to at most 512."""
        entries = sorted(entries)
        calls = {e: [] for e in entries}
        for pc, insn in enumerate(self.insns):
            if insn.opcode == (_JMP | 0x80) and insn.src == 1:
                owner = max(e for e in entries if e <= pc)
                calls[owner].append((pc, pc + 1 + insn.imm))

        def deepest(e, chain):
            best, where = 0, None
            for pc, target in calls[e]:
                if target in chain:
                    raise VerifierError(pc, "recursive call")
                if len(chain) >= MAX_CALL_DEPTH:
                    raise VerifierError(pc, f"the call stack of {len(chain) + 1} frames is too deep")
                total, at = deepest(target, chain + (target,))
                if total > best or where is None:
                    best, where = total, at if at is not None else pc
            return (self.sub_depth.get(e, 0) + 15) // 16 * 16 + best, where

        total, pc = deepest(0, (0,))
        if total > STACK_SIZE:
            raise VerifierError(pc if pc is not None else 0,
                                f"combined stack size of the call chain is {total}. Too large")

    def _visit(self, pc, st, visited) -> bool:
        """At a prune point: True when this path can stop here (a finished state covers it);
        otherwise the state becomes a new checkpoint."""
        lst = visited.setdefault(pc, [])
        live_r, live_s = self.live_r[pc], self.live_s[pc]
        cur_regs = st.cur.regs
        for old in lst:
            if old.branches == 0:
                # quick reject: precise constants in the finished state must be equal here
                quick = old.quick
                if quick is None:
                    quick = old.quick = self._quick_key(old, pc)
                miss = False
                for i, v in quick:
                    c = cur_regs[i]
                    if c.type != SCALAR or c.val.tm or c.val.tv != v:
                        miss = True
                        break
                if miss:
                    continue
                if self._subsumes(old, old.state, st, pc, exact=False):
                    # cur is safe because old was: what old needed precisely, cur needs too
                    self._backtrack(old.prec_r & live_r, old.prec_s & live_s)
                    return True
            elif self._subsumes(old, old.state, st, pc, exact=True) and \
                    self._subsumes(old, st, old.state, pc, exact=True):
                # equal in everything that decides control flow: the loop repeats forever
                edge = st.last_back_edge if st.last_back_edge >= 0 else pc
                raise VerifierError(edge, f"infinite loop detected (pc {pc} reached again "
                                          "in the same state)", back_edge=True)
        child = _Node(st.copy(), self.node, pc)     # the path continues inside the child
        self.states += 1
        child.hist = self.hist
        self.node, self.hist = child, []
        if len(lst) >= MAX_STATES_PER_PC:
            lst.pop(0)
        lst.append(child)
        return False

    def _quick_key(self, node, pc):
        """(register, value) for the precise constant scalars of a finished checkpoint."""
        frame = node.state.frames[-1]
        mask = self.live_r[pc] if self.all_precise else self.live_r[pc] & node.prec_r
        return tuple((i, frame.regs[i].val.tv) for i in _BITS[mask]
                     if frame.regs[i].type == SCALAR and frame.regs[i].val.const)

    # -- precision -------------------------------------------------------------------------

    def _mark_precise(self, *regnos):
        """Scalars in these registers decided something: their exact ranges matter."""
        if self.all_precise:
            return
        self._backtrack(sum(1 << r for r in regnos), 0, skip_current=True)

    def _backtrack(self, regs: int, slots: int, skip_current: bool = False):
        if self.all_precise:
            return
        node, hist = self.node, self.hist
        if skip_current:
            hist = hist[:-1]
        while (regs or slots) and node is not None and node.state is not None:
            for pc in reversed(hist):
                regs, slots = _bt_insn(self.insns[pc], regs, slots)
                if not regs and not slots:
                    return
            new_r, new_s = regs & ~node.prec_r, slots & ~node.prec_s
            if not new_r and not new_s:
                return
            node.prec_r |= regs
            node.prec_s |= slots
            hist, node = node.hist, node.parent

    # -- state comparison ------------------------------------------------------------------

    def _subsumes(self, node, old: State, cur: State, pc: int, exact: bool) -> bool:
        if len(old.frames) != len(cur.frames) or len(old.refs) != len(cur.refs):
            return False
        idmap = {}
        for depth, (fo, fc) in enumerate(zip(old.frames, cur.frames)):
            if fo.callsite != fc.callsite:
                return False
            if depth == len(old.frames) - 1:
                live_r, live_s = self.live_r[pc], self.live_s[pc]
                if self.all_precise:
                    need_r, need_s = live_r, live_s
                else:
                    need_r, need_s = node.prec_r, node.prec_s
            else:
                ret = old.frames[depth + 1].callsite + 1
                live_r, live_s = self.live_r[ret] | 0b1111000000, self.live_s[ret]
                need_r, need_s = live_r, live_s
            ro_, rc_ = fo.regs, fc.regs
            for i in _BITS[live_r]:
                o, c = ro_[i], rc_[i]
                if o is c:
                    continue
                if o.type == SCALAR:
                    if c.type != SCALAR:
                        return False
                    if not need_r >> i & 1:
                        continue
                    if o.id and (not c.id or not self._ids(idmap, ("s", o.id), ("s", c.id))):
                        return False
                    ov, cv = o.val, c.val
                    if ov is cv:
                        continue
                    if exact:
                        if ov.key() != cv.key():
                            return False
                    elif not cv.within(ov):
                        return False
                    continue
                if not self._reg_within(o, c, idmap, exact):
                    return False
            if not self._stack_within(fo, fc, live_s, need_s, idmap, exact):
                return False
        return True

    def _ids(self, idmap, a, b):
        if a == 0 and b == 0:
            return True
        if a in idmap:
            return idmap[a] == b
        idmap[a] = b
        return True

    def _reg_within(self, o: Reg, c: Reg, idmap, exact) -> bool:
        if o.type == NOT_INIT:
            return exact is False or c.type == NOT_INIT
        if o.type != c.type:
            return False
        if o.type == SCALAR:
            if o.id and (not c.id or not self._ids(idmap, ("s", o.id), ("s", c.id))):
                return False
            if exact:
                return o.val.key() == c.val.key()
            return c.val.within(o.val)
        if o.off != c.off or o.map != c.map or o.frame != c.frame or o.size != c.size:
            return False
        if o.var is not None and c.var is not None:
            if exact and o.var.key() != c.var.key():
                return False
            if not c.var.within(o.var):
                return False
        if o.type == PTR_TO_PACKET:
            if c.range < o.range if not exact else c.range != o.range:
                return False
        if not self._ids(idmap, o.id, c.id) or not self._ids(idmap, ("ref", o.ref), ("ref", c.ref)):
            return False
        return True

    def _stack_within(self, fo: Frame, fc: Frame, live_s, need_s, idmap, exact) -> bool:
        so, sc = fo.stack, fc.stack
        if not live_s:
            return True
        for key, ro in fo.spills.items():
            off, size = key
            bits = ((1 << size) - 1) << (off + STACK_SIZE)
            if not live_s & bits:
                continue
            rc = fc.spills.get(key)
            if ro.type == SCALAR and not need_s & bits:
                if rc is not None and rc.type != SCALAR:
                    return False
                continue                    # plain data is enough (bytes checked below)
            if rc is None:
                return False
            if not self._reg_within(ro, rc, idmap, exact):
                return False
        lo = 0
        ls = live_s
        while ls:
            if ls & 1:
                if so[lo] and not sc[lo]:
                    return False
                if exact and so[lo] != sc[lo]:
                    return False
            ls >>= 1
            lo += 1
        # a spilled slot in cur where old has plain data: reading gives an unknown scalar in
        # old; in cur it gives the spilled register, which must then be a scalar
        for key, rc in fc.spills.items():
            if key in fo.spills:
                continue
            off, size = key
            bits = ((1 << size) - 1) << (off + STACK_SIZE)
            if live_s & bits and (rc.type != SCALAR or exact):
                return False
        return True

    # -- helpers for reading registers ----------------------------------------------------

    def _read(self, pc, st, r) -> Reg:
        reg = st.cur.regs[r]
        if reg.type == NOT_INIT:
            raise VerifierError(pc, f"R{r} !read_ok")
        return reg

    def _set(self, st, r, reg):
        st.cur.regs[r] = reg

    # -- one instruction -----------------------------------------------------------------------

    def _step(self, pc, st, todo):
        insn = self.insns[pc]
        cls = insn.opcode & 7
        if cls in (_ALU, _ALU64):
            self._alu(pc, st, insn, cls == _ALU64)
            return pc + 1
        if cls in (_JMP, _JMP32):
            return self._jmp(pc, st, insn, cls == _JMP32, todo)
        if cls == _LD:
            if insn.opcode == _LDDW:
                self._lddw(pc, st, insn)
                return pc + 2
            self._ld_abs(pc, st, insn)
            return pc + 1
        if cls == _LDX:
            self._ldx(pc, st, insn)
            return pc + 1
        if cls == _ST:
            base = self._read(pc, st, insn.dst)
            self._mem(pc, st, insn.dst, base, insn.off, _size(insn), "write",
                      value=_scalar(_const(insn.imm)))
            return pc + 1
        # STX
        if insn.opcode & 0xE0 == 0xC0:
            self._atomic(pc, st, insn)
            return pc + 1
        base = self._read(pc, st, insn.dst)
        val = self._read(pc, st, insn.src)
        self._mem(pc, st, insn.dst, base, insn.off, _size(insn), "write", value=val,
                  src=insn.src)
        return pc + 1

    # -- ALU -----------------------------------------------------------------------------------

    def _alu(self, pc, st, insn, is64):
        op, d, s = insn.opcode & 0xF0, insn.dst, insn.src
        use_reg = bool(insn.opcode & 0x08)
        if op == 0xB0:                                          # mov
            if not use_reg:
                v = _const(insn.imm if is64 else insn.imm & M32)
                self._set(st, d, _scalar(v))
                return
            src = self._read(pc, st, s)
            if insn.off:                                        # movsx
                if src.is_ptr:
                    raise VerifierError(pc, f"R{s} sign-extension of a pointer prohibited")
                v = src.val
                bits = insn.off
                if v.const:
                    x = v.tv & ((1 << bits) - 1)
                    x = x - (1 << bits) if x >> (bits - 1) else x
                    r = _const(x if is64 else x & M32)
                elif v.umax < (1 << (bits - 1)):
                    r = v if is64 else _trunc32(v)
                else:
                    r = _sx(bits) if is64 else _bounded(0, M32)
                self._set(st, d, _scalar(r))
                return
            if is64:
                if src.type == SCALAR and not src.val.const and d != s:
                    # linked copies: a later comparison of one refines the other (the kernel's
                    # scalar ids)
                    if not src.id:
                        src = src.replace(id=self.new_id())
                        self._set(st, s, src)
                self._set(st, d, src)
            elif src.is_ptr:
                if self.unpriv:
                    raise VerifierError(pc, f"R{s} partial copy of pointer")
                self._set(st, d, _scalar(_bounded(0, M32)))
            else:
                self._set(st, d, _scalar(_trunc32(src.val)))
            return
        dst = self._read(pc, st, d)
        if op == 0xD0:                                          # byte swap
            if dst.is_ptr:
                raise VerifierError(pc, f"R{d} byte swap of a pointer prohibited")
            bits = insn.imm
            v = dst.val
            if v.const:
                x = v.tv & ((1 << bits) - 1)
                if is64 or use_reg:
                    x = int.from_bytes(x.to_bytes(bits // 8, "little"), "big")
                r = _const(x)
            else:
                r = _bounded(0, (1 << bits) - 1)
            self._set(st, d, _scalar(r))
            return
        if op == 0x80:                                          # neg
            if dst.is_ptr:
                raise VerifierError(pc, f"R{d} pointer arithmetic with neg prohibited")
            self._set(st, d, _scalar(_alu_scalar(op, dst.val, _const(0), is64, 0)))
            return
        src = self._read(pc, st, s) if use_reg else _scalar(_const(insn.imm))
        if dst.is_ptr or src.is_ptr:
            self._set(st, d, self._ptr_alu(pc, insn, op, dst, src, is64))
            return
        self._set(st, d, _scalar(_alu_scalar(op, dst.val, src.val, is64, insn.off)))

    def _ptr_alu(self, pc, insn, op, dst: Reg, src: Reg, is64):
        d, s = insn.dst, insn.src
        opname = {0x00: "+=", 0x10: "-="}.get(op, f"op {op >> 4}")
        if not is64:
            raise VerifierError(pc, f"R{d} 32-bit pointer arithmetic prohibited")
        if dst.is_ptr and src.is_ptr:
            if op == 0x10 and dst.type == src.type and dst.type not in (CONST_PTR_TO_MAP,) \
                    and not self.unpriv:
                return _scalar(UNKNOWN)
            raise VerifierError(pc, f"R{d} pointer {opname} pointer prohibited")
        if op not in (0x00, 0x10):
            bad = d if dst.is_ptr else s
            raise VerifierError(pc, f"R{bad} pointer arithmetic with {opname} operator prohibited")
        if src.is_ptr:                                          # scalar + ptr
            if op == 0x10:
                raise VerifierError(pc, f"R{d} tried to subtract pointer from scalar")
            dst, src = src, dst
            self._mark_precise(d)
        elif insn.opcode & 0x08:
            self._mark_precise(s)
        ptr, k = dst, src.val
        if ptr.type in _NULLABLE:
            raise VerifierError(pc, f"R{d} pointer arithmetic on {ptr.type} prohibited, "
                                    "null-check it first")
        if ptr.type in (CONST_PTR_TO_MAP, PTR_TO_PACKET_END):
            raise VerifierError(pc, f"R{d} pointer arithmetic on {ptr.type} prohibited")
        if op == 0x10 and ptr.type == PTR_TO_STACK:
            raise VerifierError(pc, f"R{d} subtraction from stack pointer prohibited")
        if k.const:
            delta = _s64(k.tv)
            new_off = ptr.off + delta if op == 0x00 else ptr.off - delta
            if not -(1 << 29) < new_off < (1 << 29):
                raise VerifierError(pc, f"R{d} pointer offset {new_off} out of range")
            return ptr.replace(off=new_off)
        if ptr.type not in _VAR_OFF_OK:
            raise VerifierError(pc, f"R{d} variable {ptr.type} access prohibited"
                                if ptr.type != PTR_TO_STACK else
                                f"R{d} variable stack offset prohibited")
        if op == 0x10:
            raise VerifierError(pc, f"R{d} subtraction of a variable offset from a pointer "
                                    "prohibited")
        var = _alu_scalar(0x00, ptr.var or _VAR0, k, True, 0)
        if var.umax > (1 << 29):
            raise VerifierError(pc, f"R{d} unbounded variable offset added to {ptr.type} "
                                    f"(max {var.umax:#x})")
        return ptr.replace(var=var, id=self.new_id(),
                           range=0 if ptr.type == PTR_TO_PACKET else ptr.range)

    # -- loads / stores -------------------------------------------------------------------------

    def _lddw(self, pc, st, insn):
        hi = self.insns[pc + 1].imm
        if insn.src == 0:
            self._set(st, insn.dst, _scalar(_const((insn.imm & M32) | ((hi & M32) << 32))))
            return
        m = self.maps.get(insn.imm)
        if m is None:
            raise VerifierError(pc, f"fd {insn.imm} is not pointing to a valid map")
        if insn.src == 1:
            self._set(st, insn.dst, Reg(CONST_PTR_TO_MAP, map=m))
            return
        if m.map_type != "array" or m.max_entries != 1:
            raise VerifierError(pc, "map_value lddw needs an array map with one entry")
        if not 0 <= hi < m.value_size:
            raise VerifierError(pc, f"invalid map_value offset {hi} (value_size={m.value_size})")
        self._set(st, insn.dst, Reg(PTR_TO_MAP_VALUE, off=hi, var=_VAR0, map=m))

    def _ld_abs(self, pc, st, insn):
        ctx = st.cur.regs[6]
        if ctx.type != PTR_TO_CTX or ctx.off != 0:
            raise VerifierError(pc, "at the time of BPF_LD_ABS|IND R6 != pointer to skb")
        if st.refs:
            raise VerifierError(pc, "BPF_LD_[ABS|IND] would lead to reference leak")
        if insn.opcode & 0xE0 == 0x40:
            x = self._read(pc, st, insn.src)
            if x.is_ptr:
                raise VerifierError(pc, f"R{insn.src} pointer as BPF_LD_IND offset prohibited")
        self._check_exit_refs(pc, st)
        regs = st.cur.regs
        for r in range(1, 6):
            regs[r] = _NOT_INIT
        # Runtime values fit the load size, but the kernel's verifier leaves r0 unbounded after
        # LD_ABS/LD_IND; doing the same keeps every program we accept loadable in the kernel.
        regs[0] = _scalar(UNKNOWN)

    def _ldx(self, pc, st, insn):
        base = self._read(pc, st, insn.src)
        signed = insn.opcode & 0xE0 == 0x80
        val = self._mem(pc, st, insn.src, base, insn.off, _size(insn), "read", signed=signed)
        self._set(st, insn.dst, val)

    def _atomic(self, pc, st, insn):
        size = _size(insn)
        base = self._read(pc, st, insn.dst)
        val = self._read(pc, st, insn.src)
        if val.is_ptr:
            raise VerifierError(pc, f"R{insn.src} leaks addr into mem")
        if base.type not in (PTR_TO_STACK, PTR_TO_MAP_VALUE, PTR_TO_MEM):
            raise VerifierError(pc, f"atomic operation on {base.type} (R{insn.dst}) prohibited")
        if base.type == PTR_TO_STACK:
            off = base.off + insn.off
            for (so, ss), r in st.frames[base.frame].spills.items():
                if so < off + size and off < so + ss and r.is_ptr:
                    raise VerifierError(pc, f"atomic operation on a spilled pointer at stack "
                                            f"off {so} prohibited")
        if insn.imm == 0xF1:
            r0 = self._read(pc, st, 0)
            if r0.is_ptr:
                raise VerifierError(pc, "R0 leaks addr into mem")
        old = self._mem(pc, st, insn.dst, base, insn.off, size, "read", atomic=True)
        self._mem(pc, st, insn.dst, base, insn.off, size, "write", value=_scalar(UNKNOWN),
                  atomic=True)
        if insn.imm == 0xF1:
            self._set(st, 0, old)
        elif insn.imm & 1:
            self._set(st, insn.src, old)

    def _mem(self, pc, st, regno, base: Reg, ioff, size, kind, value=None, src=None,
             signed=False, atomic=False):
        """Check one access; for reads return the loaded value."""
        t = base.type
        if t == SCALAR:
            raise VerifierError(pc, f"R{regno} invalid mem access 'scalar'")
        if t in _NULLABLE:
            raise VerifierError(pc, f"R{regno} invalid mem access '{t}' (null-check it first)")
        if kind == "write" and value is not None and value.is_ptr and t != PTR_TO_STACK:
            raise VerifierError(pc, f"R{src} leaks addr into {t}")
        if t == PTR_TO_STACK:
            return self._stack_access(pc, st, regno, base, ioff, size, kind, value, signed)
        if t == PTR_TO_CTX:
            if atomic:
                raise VerifierError(pc, "atomic operation on ctx prohibited")
            return self._ctx_access(pc, regno, base, ioff, size, kind, signed)
        if t == PTR_TO_PACKET:
            if atomic:
                raise VerifierError(pc, "atomic operation on packet prohibited")
            var = base.var or _VAR0
            off = base.off + ioff
            if var.smin < 0 or off < 0 or off + size > base.range:
                raise VerifierError(pc, f"invalid access to packet, off={off} size={size}, "
                                        f"R{regno}(id={base.id},off={base.off},r={base.range})")
            return _loaded(size, signed)
        if t in (PTR_TO_MAP_VALUE, PTR_TO_MEM):
            limit = base.map.value_size if t == PTR_TO_MAP_VALUE else base.size
            var = base.var or _VAR0
            off = base.off + ioff
            what = "map value" if t == PTR_TO_MAP_VALUE else "memory"
            if var.smin < 0 or off + var.smin < 0:
                raise VerifierError(pc, f"R{regno} min value is negative, either use unsigned "
                                        "index or do a if (index >=0) check")
            if off + var.umax + size > limit:
                raise VerifierError(pc, f"invalid access to {what}, size={limit} "
                                        f"off={off + var.umin}..{off + var.umax} access_size={size}")
            return _loaded(size, signed)
        raise VerifierError(pc, f"R{regno} invalid mem access '{t}'")

    def _ctx_access(self, pc, regno, base, ioff, size, kind, signed):
        if base.off != 0 or (base.var is not None and not (base.var.const and base.var.tv == 0)):
            raise VerifierError(pc, f"dereference of modified ctx ptr R{regno} off={base.off} "
                                    "disallowed")
        off = ioff
        pt = self.pt
        bad = VerifierError(pc, f"invalid bpf_context access off={off} size={size} "
                                f"({pt.ctx_name})")
        if off < 0 or off + size > pt.ctx_size or off % size:
            raise bad
        if kind == "write":
            lo, hi = pt.cb_range
            if lo <= off and off + size <= hi:
                return None
            for f in pt.fields.values():
                if f.write and f.off == off and f.size == size:
                    return None
            raise bad
        if signed:
            raise bad
        lo, hi = pt.cb_range
        if lo <= off and off + size <= hi:
            return _loaded(size, False)
        for f in pt.fields.values():
            if f.off <= off and off + size <= f.off + f.size and f.read:
                if size != f.size and not f.narrow:
                    raise bad
                if f.kind == PTR_TO_PACKET:
                    return Reg(PTR_TO_PACKET, off=0, var=_VAR0, id=0, range=0)
                if f.kind == PTR_TO_PACKET_END:
                    return Reg(PTR_TO_PACKET_END)
                return _loaded(size, False)
        raise bad

    def _stack_access(self, pc, st, regno, base, ioff, size, kind, value, signed):
        frame = st.frames[base.frame]
        off = base.off + ioff
        if off < -STACK_SIZE or off + size > 0:
            raise VerifierError(pc, f"invalid {kind} to stack R{regno} off={off} size={size}")
        if off % size:
            raise VerifierError(pc, f"misaligned stack access off {off} size {size}")
        frame.depth = max(frame.depth, -off)
        self._note_depth(frame)
        lo = off + STACK_SIZE
        if kind == "read":
            spilled = frame.spills.get((off, size))
            if spilled is not None:
                if signed and spilled.type == SCALAR and size < 8:
                    return _scalar(_sx(size * 8))
                return spilled
            wide = frame.spills.get((off, 8)) if size < 8 else None
            if wide is not None and wide.type == SCALAR and not signed:
                # narrow fill of the low bytes (little endian) of a spilled scalar
                v = wide.val
                if v.umax < 1 << (8 * size):
                    return wide
                if v.const:
                    return _scalar(_const(v.tv & ((1 << (8 * size)) - 1)))
            for (so, ss), r in frame.spills.items():
                if so < off + size and off < so + ss and r.is_ptr:
                    raise VerifierError(pc, f"invalid size of register fill: reading {size} "
                                            f"bytes of a spilled pointer at off {so}")
            for i in range(lo, lo + size):
                if not frame.stack[i]:
                    raise VerifierError(pc, f"invalid read from stack R{regno} off {off}+"
                                            f"{i - lo} size {size}")
            return _loaded(size, signed)
        # write: drop overlapping spills
        for key in [k for k in frame.spills if k[0] < off + size and off < k[0] + k[1]]:
            del frame.spills[key]
        if value is not None and value.is_ptr:
            if value.type == PTR_TO_STACK and value.frame > base.frame:
                raise VerifierError(pc, "cannot spill pointers to stack into stack frame of "
                                        "the caller")
            if size != 8:
                raise VerifierError(pc, f"invalid size of register spill: pointer stored with "
                                        f"size {size}")
            frame.spills[(off, 8)] = value
        elif value is not None and value.type == SCALAR and size in (4, 8):
            if size == 8 or value.val.umax <= M32:
                frame.spills[(off, size)] = value            # keeps a linked copy linked
            else:
                frame.spills[(off, size)] = _scalar(_trunc32(value.val))
        for i in range(lo, lo + size):
            frame.stack[i] = 1
        return None

    # -- jumps, calls, exit --------------------------------------------------------------------

    def _jmp(self, pc, st, insn, is32, todo):
        op = insn.opcode & 0xF0
        if op == 0x00:
            return pc + 1 + (insn.imm if is32 else insn.off)
        if op == 0x90:
            return self._exit(pc, st)
        if op == 0x80:
            if insn.src == 1:
                return self._local_call(pc, st, insn)
            self._helper_call(pc, st, insn)
            return pc + 1
        target = pc + 1 + insn.off
        dst = self._read(pc, st, insn.dst)
        src = self._read(pc, st, insn.src) if insn.opcode & 0x08 else _scalar(_const(insn.imm))
        taken, fall = self._branch(pc, insn, op, is32, dst, src, st)
        if taken is None and fall is None:
            return None
        if taken is None:
            return pc + 1
        if fall is None:
            st.frames = taken.frames
            st.refs = taken.refs
            return target
        self.node.branches += 1
        todo.append((target, taken, self.node, list(self.hist)))
        st.frames = fall.frames
        st.refs = fall.refs
        return pc + 1

    def _branch(self, pc, insn, op, is32, dst: Reg, src: Reg, st):
        """(state if taken or None, state if not taken or None)."""
        d, s, use_reg = insn.dst, insn.src, bool(insn.opcode & 0x08)
        if dst.is_ptr or src.is_ptr:
            if self.unpriv and not (op in (0x10, 0x50) and not src.is_ptr and src.val.const
                                    and src.val.tv == 0):
                raise VerifierError(pc, f"R{d if dst.is_ptr else s} pointer comparison prohibited")
            if is32:
                return st.copy(), st                            # no refinement
            return self._ptr_branch(op, d, s, dst, src, use_reg, st)
        a, b = dst.val, src.val
        if is32:
            a32, b32 = _trunc32(a), _trunc32(b)
            if a.umax <= M32 and b.umax <= M32 and (op not in _SIGNED or
                                                     (a.umax < 1 << 31 and b.umax < 1 << 31)):
                pass                                            # the 64-bit view is exact
            else:
                if op in _SIGNED:
                    a32, b32 = _as_s32(a32), _as_s32(b32)
                decided = _decide(op, a32, b32)
                if decided is not None:
                    self._mark_precise(*((d, s) if use_reg else (d,)))
                if decided is True:
                    return st, None
                if decided is False:
                    return None, st
                return st.copy(), st
        decided = _decide(op, a, b)
        if decided is not None:
            self._mark_precise(*((d, s) if use_reg else (d,)))
        if decided is True:
            return st, None
        if decided is False:
            return None, st
        t_state, f_state = st.copy(), st
        t = _refine(op, a, b)
        f = _refine(_NEGATE[op], a, b)
        if t is None or f is None:
            self._mark_precise(*((d, s) if use_reg else (d,)))
        t_state = self._apply_refine(t_state, d, s, use_reg, t)
        f_state = self._apply_refine(f_state, d, s, use_reg, f)
        if t_state is None and f_state is None:
            return None, st                                     # unreachable either way
        return t_state, f_state

    def _apply_refine(self, st, d, s, use_reg, refined):
        if refined is None:
            return None
        a, b = refined
        regs = st.cur.regs
        linked = {}
        for r, v in ((d, a), (s, b)) if use_reg else ((d, a),):
            old = regs[r]
            regs[r] = Reg(SCALAR, v, id=old.id)
            if old.id:
                linked[old.id] = v
        if linked:
            copies = 0
            for depth, f in enumerate(st.frames):
                top = depth == len(st.frames) - 1
                for i, r in enumerate(f.regs):
                    if r.type == SCALAR and r.id in linked:
                        f.regs[i] = Reg(SCALAR, linked[r.id], id=r.id)
                        copies += not (top and i in (d, s))
                for k, r in list(f.spills.items()):
                    if r.type == SCALAR and r.id in linked:
                        v = linked[r.id]
                        f.spills[k] = Reg(SCALAR, v if k[1] == 8 else _trunc32(v), id=r.id)
                        copies += 1
            if copies:
                # the refinement reached other copies: the compared registers (and through
                # the id check, their links) must match exactly wherever this path is reused
                self._mark_precise(*((d, s) if use_reg else (d,)))
        return st

    def _ptr_branch(self, op, d, s, dst, src, use_reg, st):
        # null checks
        for ptr, other, r in ((dst, src, d),):
            if ptr.type in _NULLABLE and not other.is_ptr and other.val.const and other.val.tv == 0 \
                    and op in (0x10, 0x50):
                null_st, ok_st = st.copy(), st
                self._mark_null(null_st, ptr.id, null=True)
                self._mark_null(ok_st, ptr.id, null=False)
                return (null_st, ok_st) if op == 0x10 else (ok_st, null_st)
        if use_reg and {dst.type, src.type} == {PTR_TO_PACKET, PTR_TO_PACKET_END}:
            pkt_is_dst = dst.type == PTR_TO_PACKET
            pkt = dst if pkt_is_dst else src
            # normalize to "pkt <op> end"
            norm = op if pkt_is_dst else _SWAP.get(op, op)
            t_state, f_state = st.copy(), st
            if norm in (0x20, 0x30):        # pkt > end / pkt >= end: fall-through is in bounds
                self._pkt_range(f_state, pkt)
            elif norm in (0xA0, 0xB0):      # pkt < end / pkt <= end: taken is in bounds
                self._pkt_range(t_state, pkt)
            return t_state, f_state
        return st.copy(), st

    def _pkt_range(self, st, pkt: Reg):
        var = pkt.var or _VAR0
        if var.umax > 0xFFFF or pkt.off < 0:
            return
        new_range = pkt.off
        for f in st.frames:
            for i, r in enumerate(f.regs):
                if r.type == PTR_TO_PACKET and r.id == pkt.id and r.range < new_range:
                    f.regs[i] = r.replace(range=new_range)
            for k, r in list(f.spills.items()):
                if r.type == PTR_TO_PACKET and r.id == pkt.id and r.range < new_range:
                    f.spills[k] = r.replace(range=new_range)

    def _mark_null(self, st, id_, null):
        for f in st.frames:
            for i, r in enumerate(f.regs):
                if r.type in _NULLABLE and r.id == id_:
                    f.regs[i] = _ZERO if null else r.replace(type=_NULLABLE[r.type])
            for k, r in list(f.spills.items()):
                if r.type in _NULLABLE and r.id == id_:
                    f.spills[k] = _ZERO if null else r.replace(type=_NULLABLE[r.type])
        if null:
            for ref, (alloc, rid) in list(st.refs.items()):
                if rid == id_:
                    del st.refs[ref]

    def _check_exit_refs(self, pc, st):
        for ref, (alloc, _) in sorted(st.refs.items()):
            raise VerifierError(pc, f"unreleased reference id={ref} alloc_insn={alloc}")

    def _exit(self, pc, st):
        r0 = st.cur.regs[0]
        if r0.type == NOT_INIT:
            raise VerifierError(pc, "R0 !read_ok")
        if len(st.frames) > 1:
            callee = st.frames.pop()
            caller = st.cur
            caller.regs[0] = r0
            for r in range(1, 6):
                caller.regs[r] = _NOT_INIT
            if r0.type == PTR_TO_STACK and r0.frame == len(st.frames):
                raise VerifierError(pc, "cannot return a pointer to the callee's stack")
            return callee.callsite + 1
        if r0.type != SCALAR:
            raise VerifierError(pc, f"R0 leaks addr as return value ({r0.type})")
        self._check_exit_refs(pc, st)
        return None

    def _local_call(self, pc, st, insn):
        if len(st.frames) >= MAX_CALL_DEPTH:
            raise VerifierError(pc, f"the call stack of {len(st.frames) + 1} frames is too deep")
        caller = st.cur
        regs = [_NOT_INIT] * 11
        for r in range(1, 6):
            regs[r] = caller.regs[r]
        regs[10] = Reg(PTR_TO_STACK, off=0, var=_VAR0, frame=len(st.frames))
        st.frames.append(Frame(regs, bytearray(STACK_SIZE), {}, pc))
        return pc + 1 + insn.imm

    def _helper_call(self, pc, st, insn):
        h = HELPERS[insn.imm]
        regs = st.cur.regs
        meta = {}
        for i, kind in enumerate(h.args):
            r = i + 1
            reg = regs[r]
            if reg.type == NOT_INIT:
                raise VerifierError(pc, f"R{r} !read_ok (argument {r} of {h.name})")
            self._check_arg(pc, st, h, r, kind, reg, meta)
        # mem + size pairs
        for i, kind in enumerate(h.args):
            if kind in (A_MEM, A_UNINIT_MEM):
                size_reg = regs[i + 2]
                umax = size_reg.val.umax
                if umax:
                    self._helper_mem(pc, st, i + 1, regs[i + 1], umax,
                                     "write" if kind == A_UNINIT_MEM else "read")
        ret = _NOT_INIT
        if h.ret == R_INT:
            ret = _scalar(UNKNOWN)
        elif h.ret == R_MAP_VALUE_OR_NULL:
            m = meta["map"]
            ret = Reg(PTR_TO_MAP_VALUE_OR_NULL, off=0, var=_VAR0, map=m, id=self.new_id())
        elif h.ret == R_RINGBUF_MEM_OR_NULL:
            rid = self.new_id()
            ref = self.new_id()
            st.refs[ref] = (pc, rid)
            ret = Reg(PTR_TO_MEM_OR_NULL, off=0, var=_VAR0, size=meta["alloc"], id=rid, ref=ref)
        if "release" in meta:
            ref = meta["release"]
            st.refs.pop(ref, None)
            for f in st.frames:
                for i, r in enumerate(f.regs):
                    if r.ref == ref and r.is_ptr:
                        f.regs[i] = _NOT_INIT
                for k, r in list(f.spills.items()):
                    if r.ref == ref and r.is_ptr:
                        del f.spills[k]
        for r in range(1, 6):
            regs[r] = _NOT_INIT
        regs[0] = ret

    def _check_arg(self, pc, st, h, r, kind, reg, meta):
        bad = f"R{r} type={reg.type} expected={kind} (argument {r} of {h.name})"
        if kind in (A_MAP, A_RINGBUF):
            if reg.type != CONST_PTR_TO_MAP:
                raise VerifierError(pc, bad)
            is_rb = reg.map.map_type == "ringbuf"
            if is_rb != (kind == A_RINGBUF):
                raise VerifierError(pc, f"cannot pass map_type {reg.map.map_type} into func "
                                        f"{h.name}#{h.id}")
            meta["map"] = reg.map
        elif kind in (A_KEY, A_VALUE):
            m = meta["map"]
            self._helper_mem(pc, st, r, reg, m.key_size if kind == A_KEY else m.value_size, "read")
        elif kind in (A_MEM, A_UNINIT_MEM):
            if reg.type not in (PTR_TO_STACK, PTR_TO_MAP_VALUE, PTR_TO_MEM, PTR_TO_PACKET):
                raise VerifierError(pc, bad)
        elif kind in (A_SIZE, A_SIZE_OR_ZERO, A_ALLOC_SIZE):
            if reg.type != SCALAR:
                raise VerifierError(pc, bad)
            v = reg.val
            self._mark_precise(r)
            if kind == A_ALLOC_SIZE:
                if not v.const:
                    raise VerifierError(pc, f"R{r} is not a known constant (size of {h.name})")
                meta["alloc"] = v.tv
            if v.smin < 0:
                raise VerifierError(pc, f"R{r} min value is negative, either use unsigned or "
                                        "'var &= const'")
            if v.umax >= 1 << 29:
                raise VerifierError(pc, f"R{r} unbounded memory access, use 'var &= const' or "
                                        "'if (var < const)'")
            if kind == A_SIZE and v.umin == 0:
                raise VerifierError(pc, f"R{r} invalid zero-sized read")
        elif kind == A_CTX:
            if reg.type != PTR_TO_CTX or reg.off != 0:
                raise VerifierError(pc, bad)
        elif kind == A_RINGBUF_MEM:
            if reg.type != PTR_TO_MEM or not reg.ref:
                raise VerifierError(pc, bad)
            if reg.off != 0 or not (reg.var is None or (reg.var.const and reg.var.tv == 0)):
                raise VerifierError(pc, f"R{r} must have zero offset when passed to release func")
            if reg.ref not in st.refs:
                raise VerifierError(pc, f"R{r} reference has already been released")
            meta["release"] = reg.ref
        elif kind == A_ANY:
            pass

    def _helper_mem(self, pc, st, r, reg, size, kind):
        if reg.type == PTR_TO_STACK:
            off = reg.off
            if off < -STACK_SIZE or off + size > 0:
                raise VerifierError(pc, f"invalid indirect access to stack R{r} off={off} "
                                        f"size={size}")
            frame = st.frames[reg.frame]
            lo = off + STACK_SIZE
            if kind == "read":
                for i in range(lo, lo + size):
                    if not frame.stack[i]:
                        raise VerifierError(pc, f"invalid indirect read from stack R{r} off "
                                                f"{off}+{i - lo} size {size}")
            else:
                for key in [k for k in frame.spills if k[0] < off + size and off < k[0] + k[1]]:
                    del frame.spills[key]
                for i in range(lo, lo + size):
                    frame.stack[i] = 1
            frame.depth = max(frame.depth, -off)
            self._note_depth(frame)
            return
        if reg.type in (PTR_TO_MAP_VALUE, PTR_TO_MEM, PTR_TO_PACKET):
            var = reg.var or _VAR0
            if reg.type == PTR_TO_PACKET:
                limit = reg.range
            else:
                limit = reg.map.value_size if reg.type == PTR_TO_MAP_VALUE else reg.size
            if var.smin < 0 or reg.off + var.smin < 0 or reg.off + var.umax + size > limit:
                raise VerifierError(pc, f"invalid access to {reg.type} R{r} off={reg.off} "
                                        f"size={size} (object size {limit})")
            return
        raise VerifierError(pc, f"R{r} type={reg.type} is not a pointer to memory")


def _bt_insn(insn, regs: int, slots: int):
    """One step of precision backtracking: which registers / r10-relative stack bytes before
    ``insn`` the precise ones after it were computed from."""
    cls, op, d, s = insn.opcode & 7, insn.opcode & 0xF0, insn.dst, insn.src
    bit_d = 1 << d
    if cls in (_ALU, _ALU64):
        if not regs & bit_d:
            return regs, slots
        if op == 0xB0:
            regs &= ~bit_d
            if insn.opcode & 0x08 and s != 10:
                regs |= 1 << s
        elif op not in (0x80, 0xD0) and insn.opcode & 0x08 and s != 10:
            regs |= 1 << s
        return regs, slots
    if cls in (_JMP, _JMP32):
        if op == 0x80:
            regs &= ~0b111111
        return regs, slots
    if cls == _LD:
        if insn.opcode == _LDDW:
            return regs & ~bit_d, slots
        return regs & ~0b111111, slots
    size = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}[insn.opcode & 0x18]
    bits = (((1 << size) - 1) << (insn.off + STACK_SIZE)) if -STACK_SIZE <= insn.off < 0 else 0
    if cls == _LDX:
        if regs & bit_d:
            regs &= ~bit_d
            if s == 10:
                slots |= bits
        return regs, slots
    if cls == _STX and insn.opcode & 0xE0 == 0xC0 and d == 10:
        if regs & ((1 << s) | 1) or slots & bits:   # atomic on the stack: all of it counts
            return regs | (1 << s) | 1, slots | bits
        return regs, slots
    if d != 10 or not slots & bits:
        return regs, slots
    if cls == _ST:
        return regs, slots & ~bits
    return regs | (1 << s), slots & ~bits


_SIGNED = {0x60, 0x70, 0xC0, 0xD0}
class _BitTable(dict):
    """``_BITS[mask]``: the register numbers whose bit is set in mask, made on first use (the
    whole table of 2,048 masks cost start-up ~1 ms)."""

    def __missing__(self, mask: int) -> tuple[int, ...]:
        regs = self[mask] = tuple(i for i in range(11) if mask >> i & 1)
        return regs


_BITS = _BitTable()
_NEGATE = {0x10: 0x50, 0x50: 0x10, 0x20: 0xB0, 0xB0: 0x20, 0x30: 0xA0, 0xA0: 0x30,
           0x60: 0xD0, 0xD0: 0x60, 0x70: 0xC0, 0xC0: 0x70, 0x40: 0x41, 0x41: 0x40}
_SWAP = {0x20: 0xA0, 0xA0: 0x20, 0x30: 0xB0, 0xB0: 0x30, 0x60: 0xC0, 0xC0: 0x60,
         0x70: 0xD0, 0xD0: 0x70}


def _size(insn) -> int:
    return {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}[insn.opcode & 0x18]


def _loaded(size: int, signed: bool) -> Reg:
    if signed and size < 8:
        return _scalar(_sx(size * 8))
    return _scalar(UNKNOWN if size == 8 else _bounded(0, (1 << (8 * size)) - 1))


def _as_s32(s: Scalar) -> Scalar:
    """A 32-bit view re-expressed as a sign-extended 64-bit value (for signed compares)."""
    if s.const:
        x = s.tv & M32
        return _const(x - (1 << 32) if x >> 31 else x)
    if s.umax < 1 << 31:
        return s
    return _sx(32)


def _decide(op, a: Scalar, b: Scalar):
    """True / False when the comparison's outcome is known, else None."""
    if op == 0x10 or op == 0x50:
        if a.const and b.const:
            r = a.tv == b.tv
        elif a.umax < b.umin or b.umax < a.umin or a.smax < b.smin or b.smax < a.smin or \
                (a.tv ^ b.tv) & ~a.tm & ~b.tm:
            r = False
        else:
            return None
        return r if op == 0x10 else not r
    if op == 0x20:
        return True if a.umin > b.umax else False if a.umax <= b.umin else None
    if op == 0x30:
        return True if a.umin >= b.umax else False if a.umax < b.umin else None
    if op == 0xA0:
        return True if a.umax < b.umin else False if a.umin >= b.umax else None
    if op == 0xB0:
        return True if a.umax <= b.umin else False if a.umin > b.umax else None
    if op == 0x60:
        return True if a.smin > b.smax else False if a.smax <= b.smin else None
    if op == 0x70:
        return True if a.smin >= b.smax else False if a.smax < b.smin else None
    if op == 0xC0:
        return True if a.smax < b.smin else False if a.smin >= b.smax else None
    if op == 0xD0:
        return True if a.smax <= b.smin else False if a.smin > b.smax else None
    if op == 0x40:
        if a.tv & b.tv:
            return True
        if not ((a.tv | a.tm) & (b.tv | b.tm)):
            return False
        return None
    return None


def _refine(op, a: Scalar, b: Scalar):
    """(a', b') narrowed by 'a op b' holding, or None when it cannot hold."""
    if op == 0x10:
        r = _mk(max(a.umin, b.umin), min(a.umax, b.umax), max(a.smin, b.smin),
                min(a.smax, b.smax), a.tv | b.tv, a.tm & b.tm)
        if r is None or (a.tv ^ b.tv) & ~a.tm & ~b.tm:
            return None
        return r, r
    if op == 0x50:
        def ne(x, y):
            if not y.const:
                return x
            v = y.tv
            umin, umax, smin, smax = x.umin, x.umax, x.smin, x.smax
            if umin == v:
                umin += 1
            if umax == v:
                umax -= 1
            sv = _s64(v)
            if smin == sv:
                smin += 1
            if smax == sv:
                smax -= 1
            return _mk(umin, umax, smin, smax, x.tv, x.tm)
        na, nb = ne(a, b), ne(b, a)
        if na is None or nb is None:
            return None
        return na, nb
    if op in (0xA0, 0xB0, 0xC0, 0xD0):
        r = _refine(_SWAP[op], b, a)
        return None if r is None else (r[1], r[0])
    if op in (0x20, 0x30):
        k = 1 if op == 0x20 else 0
        na = _mk(max(a.umin, b.umin + k), a.umax, a.smin, a.smax, a.tv, a.tm)
        nb = _mk(b.umin, min(b.umax, a.umax - k), b.smin, b.smax, b.tv, b.tm) \
            if a.umax - k >= 0 else None
    elif op in (0x60, 0x70):
        k = 1 if op == 0x60 else 0
        na = _mk(a.umin, a.umax, max(a.smin, b.smin + k), a.smax, a.tv, a.tm) \
            if b.smin + k <= S64_MAX else None
        nb = _mk(b.umin, b.umax, b.smin, min(b.smax, a.smax - k), b.tv, b.tm) \
            if a.smax - k >= S64_MIN else None
    elif op == 0x40:                                    # set: at least one common bit
        if b.const and b.tv and not b.tv & (b.tv - 1):
            na = _mk(a.umin, a.umax, a.smin, a.smax, a.tv | b.tv, a.tm & ~b.tv)
        else:
            na = a
        nb = b
    elif op == 0x41:                                    # not set
        if b.const:
            na = _mk(a.umin, a.umax, a.smin, a.smax, a.tv & ~b.tv, a.tm & ~b.tv)
        else:
            na = a
        nb = b
    else:
        return a, b
    if na is None or nb is None:
        return None
    return na, nb


# =============================================================================================
# Public entry point

def _insns(eprog):
    if hasattr(eprog, "origin") and hasattr(eprog, "program"):      # a vm.translate.Translation
        eprog = eprog.program
    return tuple(eprog.insns if hasattr(eprog, "insns") else eprog)


def _run(eprog, prog_type, maps, unprivileged, complexity_limit) -> "_Verifier":
    pt = PROG_TYPES.get(prog_type)
    if pt is None:
        raise ValueError(f"unknown program type {prog_type!r} (known: {', '.join(PROG_TYPES)})")
    v = _Verifier(_insns(eprog), pt, maps, unprivileged, complexity_limit)
    try:
        v.run()
    except VerifierError as err:
        origin = getattr(eprog, "origin", None)
        if origin is not None and 0 <= err.pc < len(origin) and origin[err.pc] >= 0:
            err.cbpf_pc = origin[err.pc]
            err.args = (f"{err.args[0]} (cBPF pc {err.cbpf_pc})",)
        raise
    return v


def verify(eprog, prog_type: str = "socket_filter", *, maps=None, unprivileged: bool = False,
           complexity_limit: int = COMPLEXITY_LIMIT) -> None:
    """Verify an eBPF program (``vm.ebpf.Program``, a sequence of ``vm.ebpf.Insn`` or a
    ``vm.translate.Translation``).

    Returns None when the program is safe; raises :class:`VerifierError` naming the pc and
    the rule otherwise (for a Translation the message also names the cBPF pc, and the error
    carries it as ``.cbpf_pc``). ``maps``: {fd: map description} for programs that use maps.
    """
    _run(eprog, prog_type, maps, unprivileged, complexity_limit)


def stats(eprog, prog_type: str = "socket_filter", *, maps=None, unprivileged: bool = False,
          complexity_limit: int = COMPLEXITY_LIMIT) -> dict:
    """Verify like :func:`verify` and report the work done: {'processed': instructions
    processed, 'states': checkpoint states kept}."""
    v = _run(eprog, prog_type, maps, unprivileged, complexity_limit)
    return {"processed": v.processed, "states": v.states}
