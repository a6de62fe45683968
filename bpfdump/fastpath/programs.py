"""The eBPF programs of the fast path, as assembly text (vm.ebpf's syntax), and their JIT builds.

The *scan* program is r1 = a state block (uint64 words, offsets S_*). Each turn of its loop
reads one record of the capture in memory at S_POS (the file format's *head*: checks, then
the packet's data address, captured length, next record, timestamp, wire length, interface and
link type into the state block), fills the socket-filter context block (packet pointer,
captured length, `len` = wire length), calls the filter (linked in after the program as the
subprogram `filter`), and for a kept packet writes one record into the BPF ring buffer, laid
out as engine.RecordRing lays it out (ring header: length, page offset; RECORD: timestamp ns,
wire length, interface, link type; the kept bytes), with the kept bytes copied by helper 113
(bpf_probe_read_kernel, an inline memcpy in vm.jit). It returns

    NEED   the window ends before the next record is whole (or at the end)
    FULL   the ring has no room for the next record (nothing of that record is written)
    SLOW   the next record is one for Python (S_POS is at it)
    LIMIT  S_MAX packets matched

The *drain* program is the consumer end for a pcap writer (r1 = a state block, D_*): it turns
the ring's records [cons, prod) into pcap records at D_OUT (16-byte header in this machine's
byte order, micro- or nanoseconds, data cut to the writer's snapshot length), or with D_COPY 0
only counts them; it stops with DRAIN_FULL when the next record does not fit the output.
"""
from __future__ import annotations

from ..engine import HDR, RECORD

NEED, FULL, SLOW, LIMIT = 0, 1, 2, 3
DRAIN_DONE, DRAIN_FULL = 0, 1

# scan state block
(S_POS, S_END, S_RING, S_MASK, S_PROD, S_CONS, S_CTX, S_MATCHED, S_MAX, S_LIMIT, S_SCALE,
 S_LINKTYPE, S_IFINDEX, S_DATA, S_NEXT, S_TS, S_WIRE, S_TABLE, S_NIF, S_MAXBLOCK) = \
    range(0, 20 * 8, 8)
S_WORDS = 20

# pcapng interface table entry (uint64 words): snapshot length, timestamp multiplier to ns (0:
# the interface's packets go to Python), the first too-large high timestamp word, offset in ns,
# link type, interface index
E_SNAP, E_MULT, E_HI_LIMIT, E_OFFNS, E_LINKTYPE, E_INDEX = range(0, 6 * 8, 8)
E_SIZE = 64
E_SHIFT = 6

# drain state block
(D_RING, D_MASK, D_CONS, D_PROD, D_OUT, D_OUT_END, D_SNAP, D_NANO, D_COUNT, D_COPY) = \
    range(0, 10 * 8, 8)
D_WORDS = 10

BLOCK_EPB = 6


def _u32(dst: str, base: str, off: int, swapped: bool) -> str:
    """Load a 32-bit field of the file (in the file's byte order) into `dst`."""
    load = f"ldxw {dst}, [{base}{off:+d}]"
    return load + (f"\n    be32 {dst}" if swapped else "")


def pcap_head(hdrsize: int, swapped: bool) -> str:
    """One pcap record: header (seconds, micro/nanoseconds, caplen, len), then the data. A
    captured length over S_LIMIT (the snapshot length, or the link type's maximum) is SLOW:
    the reader's careful path decides."""
    sec = ("ldxsw %r2, [%r6+0]" if not swapped else
           "ldxw %r2, [%r6+0]\n    be32 %r2\n    movsx3264 %r2, %r2")
    return f"""
    ldxdw %r6, [%r9+{S_POS}]
    ldxdw %r3, [%r9+{S_END}]
    sub %r3, %r6
    mov %r0, {NEED}
    jlt %r3, {hdrsize}, out
    {_u32("%r7", "%r6", 8, swapped)}
    ldxdw %r4, [%r9+{S_LIMIT}]
    mov %r0, {SLOW}
    jgt %r7, %r4, out
    sub %r3, {hdrsize}
    mov %r0, {NEED}
    jgt %r7, %r3, out
    mov %r2, %r6
    add %r2, {hdrsize}
    stxdw [%r9+{S_DATA}], %r2
    add %r2, %r7
    stxdw [%r9+{S_NEXT}], %r2
    {_u32("%r2", "%r6", 12, swapped)}
    stxdw [%r9+{S_WIRE}], %r2
    {sec}
    mul %r2, 1000000000
    {_u32("%r5", "%r6", 4, swapped)}
    ldxdw %r0, [%r9+{S_SCALE}]
    mul %r5, %r0
    add %r2, %r5
    stxdw [%r9+{S_TS}], %r2
"""


def pcapng_head(swapped: bool) -> str:
    """One Enhanced Packet Block of a known interface whose packets need no post-processing,
    whole, with matching trailer and a captured length within the interface's snapshot length
    and the block; everything else (other blocks, anything odd) is SLOW for the reader."""
    return f"""
    ldxdw %r6, [%r9+{S_POS}]
    ldxdw %r3, [%r9+{S_END}]
    sub %r3, %r6
    mov %r0, {NEED}
    jlt %r3, 28, out
    mov %r0, {SLOW}
    {_u32("%r2", "%r6", 0, swapped)}
    jne %r2, {BLOCK_EPB}, out
    {_u32("%r4", "%r6", 4, swapped)}
    jset %r4, 3, out
    jlt %r4, 32, out
    ldxdw %r2, [%r9+{S_MAXBLOCK}]
    jgt %r4, %r2, out
    mov %r0, {NEED}
    jgt %r4, %r3, out
    mov %r0, {SLOW}
    mov %r2, %r6
    add %r2, %r4
    stxdw [%r9+{S_NEXT}], %r2
    {_u32("%r3", "%r2", -4, swapped)}
    jne %r3, %r4, out
    {_u32("%r3", "%r6", 8, swapped)}
    ldxdw %r2, [%r9+{S_NIF}]
    jge %r3, %r2, out
    lsh %r3, {E_SHIFT}
    ldxdw %r2, [%r9+{S_TABLE}]
    add %r3, %r2
    {_u32("%r7", "%r6", 20, swapped)}
    ldxdw %r2, [%r3+{E_SNAP}]
    jgt %r7, %r2, out
    mov %r2, %r4
    sub %r2, 32
    jgt %r7, %r2, out
    ldxdw %r5, [%r3+{E_MULT}]
    jeq %r5, 0, out
    {_u32("%r2", "%r6", 12, swapped)}
    ldxdw %r1, [%r3+{E_HI_LIMIT}]
    jge %r2, %r1, out
    lsh %r2, 32
    {_u32("%r1", "%r6", 16, swapped)}
    or %r2, %r1
    mul %r2, %r5
    ldxdw %r1, [%r3+{E_OFFNS}]
    add %r2, %r1
    stxdw [%r9+{S_TS}], %r2
    ldxdw %r1, [%r3+{E_LINKTYPE}]
    stxdw [%r9+{S_LINKTYPE}], %r1
    ldxdw %r1, [%r3+{E_INDEX}]
    stxdw [%r9+{S_IFINDEX}], %r1
    {_u32("%r2", "%r6", 24, swapped)}
    stxdw [%r9+{S_WIRE}], %r2
    mov %r2, %r6
    add %r2, 28
    stxdw [%r9+{S_DATA}], %r2
"""


def tpacket3_head(outgoing: int, vlan_bits: int) -> str:
    """One frame of a TPACKET_V3 ring block (struct tpacket3_hdr, then struct sockaddr_ll at
    48): the frames up to S_END. A frame whose VLAN tag must be put back, or that went out
    (packet type `outgoing`: loopback duplicates and -Q decide), is SLOW for the live source."""
    return f"""
    ldxdw %r6, [%r9+{S_POS}]
    ldxdw %r3, [%r9+{S_END}]
    mov %r0, {NEED}
    jge %r6, %r3, out
    mov %r0, {SLOW}
    ldxw %r2, [%r6+20]
    jset %r2, {vlan_bits}, out
    ldxw %r2, [%r6+32]
    jne %r2, 0, out
    ldxb %r2, [%r6+58]
    jeq %r2, {outgoing}, out
    ldxw %r7, [%r6+12]
    ldxdw %r2, [%r9+{S_LIMIT}]
    jle %r7, %r2, +1
    mov %r7, %r2
    ldxh %r2, [%r6+24]
    add %r2, %r6
    stxdw [%r9+{S_DATA}], %r2
    ldxw %r2, [%r6+16]
    stxdw [%r9+{S_WIRE}], %r2
    ldxw %r2, [%r6+4]
    mul %r2, 1000000000
    ldxw %r1, [%r6+8]
    add %r2, %r1
    stxdw [%r9+{S_TS}], %r2
    ldxw %r2, [%r6+52]
    stxdw [%r9+{S_IFINDEX}], %r2
    ldxw %r2, [%r6+0]
    jeq %r2, 0, +2
    add %r2, %r6
    ja +1
    ldxdw %r2, [%r9+{S_END}]
    stxdw [%r9+{S_NEXT}], %r2
"""


def scan_text(head: str) -> str:
    """The scan program around a format's head (which leaves the captured length in r7)."""
    from vm import jit
    from vm.ringbuf import DATA_PAGE, PAGE_SHIFT
    return f"""
    mov %r9, %r1
loop:
{head}
    ldxdw %r1, [%r9+{S_CTX}]
    ldxdw %r2, [%r9+{S_DATA}]
    stxdw [%r1+{jit.CTX_DATA}], %r2
    stxw [%r1+{jit.CTX_DATA_LEN}], %r7
    ldxdw %r2, [%r9+{S_WIRE}]
    stxw [%r1+0], %r2
    call local filter
    mov32 %r8, %r0
    jeq %r8, 0, next
    jle %r8, %r7, +1
    mov %r8, %r7
    mov %r3, %r8
    add %r3, {HDR + RECORD.size + 7}
    and %r3, -8
    ldxdw %r4, [%r9+{S_PROD}]
    mov %r2, %r4
    add %r2, %r3
    ldxdw %r5, [%r9+{S_CONS}]
    sub %r2, %r5
    ldxdw %r1, [%r9+{S_MASK}]
    mov %r0, {FULL}
    jgt %r2, %r1, out
    mov %r5, %r4
    and %r5, %r1
    ldxdw %r1, [%r9+{S_RING}]
    add %r1, %r5
    mov %r2, %r8
    add %r2, {RECORD.size}
    stxw [%r1+0], %r2
    rsh %r5, {PAGE_SHIFT}
    add %r5, {DATA_PAGE}
    stxw [%r1+4], %r5
    ldxdw %r2, [%r9+{S_TS}]
    stxdw [%r1+8], %r2
    ldxdw %r2, [%r9+{S_WIRE}]
    stxw [%r1+16], %r2
    ldxdw %r2, [%r9+{S_IFINDEX}]
    stxw [%r1+20], %r2
    ldxdw %r2, [%r9+{S_LINKTYPE}]
    stxdw [%r1+24], %r2
    add %r4, %r3
    stxdw [%r9+{S_PROD}], %r4
    add %r1, {HDR + RECORD.size}
    mov %r2, %r8
    ldxdw %r3, [%r9+{S_DATA}]
    call 113
    ldxdw %r2, [%r9+{S_MATCHED}]
    add %r2, 1
    stxdw [%r9+{S_MATCHED}], %r2
    ldxdw %r6, [%r9+{S_NEXT}]
    stxdw [%r9+{S_POS}], %r6
    ldxdw %r3, [%r9+{S_MAX}]
    mov %r0, {LIMIT}
    jge %r2, %r3, out
    ja loop
next:
    ldxdw %r6, [%r9+{S_NEXT}]
    stxdw [%r9+{S_POS}], %r6
    ja loop
out:
    exit
filter:
"""


def drain_text() -> str:
    from vm.ringbuf import DISCARD_BIT
    return f"""
    mov %r9, %r1
loop:
    ldxdw %r6, [%r9+{D_CONS}]
    ldxdw %r2, [%r9+{D_PROD}]
    mov %r0, {DRAIN_DONE}
    jge %r6, %r2, out
    ldxdw %r1, [%r9+{D_MASK}]
    mov %r7, %r6
    and %r7, %r1
    ldxdw %r1, [%r9+{D_RING}]
    add %r7, %r1
    ldxw %r8, [%r7+0]
    mov %r2, %r8
    and %r2, {DISCARD_BIT - 1}
    add %r2, {HDR + 7}
    and %r2, -8
    jset %r8, {DISCARD_BIT}, skip
    ldxdw %r1, [%r9+{D_COPY}]
    jeq %r1, 0, counted
    and %r8, {DISCARD_BIT - 1}
    sub %r8, {RECORD.size}
    ldxdw %r1, [%r9+{D_SNAP}]
    jle %r8, %r1, +1
    mov %r8, %r1
    ldxdw %r1, [%r9+{D_OUT}]
    ldxdw %r3, [%r9+{D_OUT_END}]
    sub %r3, %r1
    mov %r4, %r8
    add %r4, 16
    mov %r0, {DRAIN_FULL}
    jgt %r4, %r3, out
    ldxdw %r3, [%r7+8]
    jsge %r3, 0, +6
    neg %r3
    add %r3, 999999999
    div %r3, 1000000000
    neg %r3
    ldxdw %r4, [%r7+8]
    ja +2
    mov %r4, %r3
    div %r3, 1000000000
    mov %r5, %r3
    mul %r5, 1000000000
    sub %r4, %r5
    ldxdw %r5, [%r9+{D_NANO}]
    jne %r5, 0, +1
    div %r4, 1000
    stxw [%r1+0], %r3
    stxw [%r1+4], %r4
    stxw [%r1+8], %r8
    ldxw %r3, [%r7+16]
    stxw [%r1+12], %r3
    mov %r4, %r8
    add %r4, 16
    add %r4, %r1
    stxdw [%r9+{D_OUT}], %r4
    add %r1, 16
    mov %r6, %r2
    mov %r2, %r8
    mov %r3, %r7
    add %r3, {HDR + RECORD.size}
    call 113
    mov %r2, %r6
    ldxdw %r6, [%r9+{D_CONS}]
counted:
    ldxdw %r1, [%r9+{D_COUNT}]
    add %r1, 1
    stxdw [%r9+{D_COUNT}], %r1
skip:
    add %r6, %r2
    stxdw [%r9+{D_CONS}], %r6
    ja loop
out:
    exit
"""


# -- JIT builds ----------------------------------------------------------------------------------

_DRAIN: list = []


def build_scan(head: str, eprog, keep_all: int):
    """The scan program with the filter (or `ret keep_all` when there is none) linked in,
    JIT-compiled."""
    from vm import ebpf, jit
    driver = ebpf.assemble(scan_text(head))
    filt = eprog if eprog is not None else ebpf.assemble(f"mov %r0, {keep_all}\nexit")
    # an out-of-bounds packet load ends the filter (returning 0), not the scan
    return jit.compile(ebpf.Program(list(driver) + list(filt)), drop="function")


def build_drain():
    from vm import ebpf, jit
    if not _DRAIN:
        _DRAIN.append(jit.compile(ebpf.assemble(drain_text())))
    return _DRAIN[0]
