"""eBPF -> x86-64 machine code, run in place through ctypes.

``compile(program)`` turns a :class:`vm.ebpf.Program` into a :class:`Native`: machine code in
an anonymous mapping that is written, then made read+execute (never writable and executable at
once).  The semantics are vm.interp's (which are the kernel's); memory accesses are raw: the
program is trusted (verified, or written by us), pointers are real addresses.

Register mapping (as arch/x86/net/bpf_jit_comp.c): r0 rax, r1 rdi, r2 rsi, r3 rdx, r4 rcx,
r5 r8, r6 rbx, r7 r13, r8 r14, r9 r15, r10 rbp; r9/r10/r11 are scratch; r12 holds the main
frame's stack pointer so that an out-of-bounds legacy packet load can end the whole program.
Each eBPF function (pc 0 and every ``call local`` target) is a native SysV function with its
own 512-byte stack below rbp; r6-r9 are saved by the function that writes them.

Socket-filter runs (``Native.run``) go through a small native entry that fills the context
block (:data:`CTX_SIZE` bytes: the ``struct __sk_buff`` image, then the packet pointer, the
captured length and the network offset) and jumps to the program with r1 = the block.
Legacy loads (LD_ABS/LD_IND) read the packet through that block, found in r6 (the kernel's
rule: the context stays in r6 for them).

Helpers are built in, inline: 7 get_prandom_u32 (a per-Native xorshift), 8
get_smp_processor_id (0), 113 probe_read_kernel (a plain copy, returns 0), and on request
(``helpers=``) the conformance suite's "unwind".  ``call %reg`` calls a code address (from
``lddw func``) or dispatches a helper number; an unknown number ends the program with r0 = 0.

Not supported (``JitError`` naming the pc): other helpers (maps, ring buffer, ...), map and
BTF pseudo ``lddw`` sources, kfunc calls, writes to r10, a function whose end can be fallen
off.  Memory accesses are not checked: the program must be verified (or trusted).
"""
from __future__ import annotations

import os
import struct
import sys

from . import ebpf, x86
from .ebpf import AluOp, Class, JmpOp, Mode, Pseudo, Size, Source
from .x86 import (R8, R9, R10, R11, R12, R13, R14, R15, RAX, RBP, RBX, RCX, RDI, RDX, RSI,
                  RSP)

__all__ = ["JitError", "Native", "available", "compile", "CTX_SIZE", "CTX_DATA",
           "CTX_DATA_LEN", "CTX_NET_OFF"]

CTX_SIZE = 224
CTX_DATA = 192          # uint64: address of the packet bytes
CTX_DATA_LEN = 200      # uint32: captured length (bound of LD_ABS/LD_IND)
CTX_NET_OFF = 204       # uint32: network offset for SKF_NET_OFF loads
_SKB_CB = 48            # __sk_buff.cb[5]: 20 bytes, zeroed before each run

SKF_NET_OFF = -0x100000
SKF_LL_OFF = -0x200000
STACK_SIZE = ebpf.STACK_SIZE
M32 = (1 << 32) - 1
M64 = (1 << 64) - 1

HELPER_GET_PRANDOM_U32 = 7
HELPER_GET_SMP_PROCESSOR_ID = 8
HELPER_PROBE_READ_KERNEL = 113

BUILTIN_HELPERS = ("get_prandom_u32", "get_smp_processor_id", "probe_read_kernel", "unwind")
"""The helpers the JIT implements inline, by name; ``compile(helpers=...)`` numbers them.
``unwind`` is the conformance suite's: returns r1, and r1 == 0 ends the program with r0 = 0."""
DEFAULT_HELPERS = {HELPER_GET_PRANDOM_U32: "get_prandom_u32",
                   HELPER_GET_SMP_PROCESSOR_ID: "get_smp_processor_id",
                   HELPER_PROBE_READ_KERNEL: "probe_read_kernel"}

_REG = (RAX, RDI, RSI, RDX, RCX, R8, RBX, R13, R14, R15, RBP)
_CALLEE_SAVED = ((6, RBX), (7, R13), (8, R14), (9, R15))
T0, T1, T2 = R9, R10, R11
ANCHOR = R12

_SIZE_BYTES = {Size.B: 1, Size.H: 2, Size.W: 4, Size.DW: 8}
_ALU_OPS = {AluOp.ADD: x86.ADD, AluOp.SUB: x86.SUB, AluOp.OR: x86.OR, AluOp.AND: x86.AND,
            AluOp.XOR: x86.XOR}
_SHIFTS = {AluOp.LSH: x86.SHL, AluOp.RSH: x86.SHR, AluOp.ARSH: x86.SAR}
_CONDITIONS = {JmpOp.JEQ: "e", JmpOp.JNE: "ne", JmpOp.JGT: "a", JmpOp.JGE: "ae",
               JmpOp.JLT: "b", JmpOp.JLE: "be", JmpOp.JSGT: "g", JmpOp.JSGE: "ge",
               JmpOp.JSLT: "l", JmpOp.JSLE: "le", JmpOp.JSET: "ne"}
_ATOMIC_ALU = {ebpf.AtomicOp.ADD: x86.ADD, ebpf.AtomicOp.OR: x86.OR, ebpf.AtomicOp.AND: x86.AND,
               ebpf.AtomicOp.XOR: x86.XOR}


class JitError(ValueError):
    """An instruction or program shape the JIT does not support; names the pc."""

    def __init__(self, pc: int, reason: str):
        super().__init__(f"pc {pc}: {reason}")
        self.pc = pc
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# Code generation

class _Function:
    """One eBPF function: pcs [start, end) and its native frame layout."""

    def __init__(self, start: int, end: int, rows: list, is_main: bool):
        self.start, self.end, self.rows, self.is_main = start, end, rows, is_main
        used = set()
        for _, insn, _, _ in rows:
            used.add(insn.dst)
            used.add(insn.src)
        self.saved = [native for reg, native in _CALLEE_SAVED if reg in used]
        self.uses_fp = 10 in used
        self.loads_packet = any(insn.cls == Class.LD and insn.opcode != ebpf.LDDW
                                for _, insn, _, _ in rows)
        self.entry = x86.Label(f"fn{start}")
        self.epilogue = x86.Label(f"ret{start}")
        self.drop: x86.Label | None = None


class _Compiler:
    def __init__(self, program: ebpf.Program, drop: str, rng_addr: int, ctx_addr: int,
                 helpers: dict[int, str]):
        if drop not in ("program", "function"):
            raise ValueError(f"drop must be 'program' or 'function', not {drop!r}")
        for number, name in helpers.items():
            if name not in BUILTIN_HELPERS:
                raise ValueError(f"helper {number}: unknown built-in {name!r} "
                                 f"(one of {', '.join(BUILTIN_HELPERS)})")
        self.helpers = helpers
        try:
            ebpf.validate(program)
        except ebpf.IllegalInsn as exc:
            raise JitError(exc.pc, exc.reason) from None
        self.drop_mode = drop
        self.rng_addr = rng_addr
        self.ctx_addr = ctx_addr
        insns = program.insns
        rows = []
        pc = 0
        while pc < len(insns):
            insn = insns[pc]
            second = insns[pc + 1] if insn.opcode == ebpf.LDDW else None
            rows.append((pc, insn, ebpf.form_of(insn), second))
            pc += 2 if second is not None else 1
        self.n = len(insns)
        entries = {0}
        ends_program = False            # unwind or call %reg can end the whole program
        for pc, insn, form, _ in rows:
            if form.syntax == "call_local" or (form.syntax == "lddw" and insn.src == Pseudo.FUNC):
                if pc + 1 + insn.imm == 0:
                    raise JitError(pc, "a call to pc 0 (the main function) is not supported")
                entries.add(pc + 1 + insn.imm)
            ends_program |= form.syntax == "callx" or (
                form.syntax == "call" and helpers.get(insn.imm) == "unwind")
        starts = sorted(entries)
        self.functions: dict[int, _Function] = {}
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else self.n
            body = [row for row in rows if start <= row[0] < end]
            self.functions[start] = _Function(start, end, body, start == 0)
        self.main = self.functions[0]
        self.anchored = ends_program or (
            drop == "program" and any(f.loads_packet for f in self.functions.values()))
        self.asm = x86.Asm()
        self.labels: dict[int, x86.Label] = {}
        self.cold: list = []
        self.program_drop = x86.Label("drop") if self.anchored else None

    # -- helpers -------------------------------------------------------------------------------
    def emit(self, *chunks: bytes) -> None:
        self.asm.emit(*chunks)

    def label(self, pc: int) -> x86.Label:
        label = self.labels.get(pc)
        if label is None:
            label = self.labels[pc] = x86.Label(f"pc{pc}")
        return label

    # -- layout --------------------------------------------------------------------------------
    def compile(self) -> tuple[bytes, int, tuple[int, ...]]:
        """Machine code, the offset of the socket-filter entry (see ``_run_entry``) and the
        offsets of the entries taking 0..5 arguments (the missing registers zeroed)."""
        for function in self.functions.values():
            self._function(function)
        if self.program_drop is not None:
            self._program_drop()
        run_entry = x86.Label("run")
        self.asm.bind(run_entry)
        self._run_entry()
        call_entries = [x86.Label(f"call{k}") for k in range(5)] + [self.main.entry]
        args = (RDI, RSI, RDX, RCX, R8)
        for k in range(5):
            self.asm.bind(call_entries[k])
            self.emit(*(x86.alu_rr(x86.XOR, reg, reg, False) for reg in args[k:]))
            self.asm.jmp(self.main.entry)
        code = self.asm.assemble()
        return code, self.asm.offset(run_entry), tuple(self.asm.offset(e) for e in call_entries)

    def _prologue(self, f: _Function) -> None:
        a = self.asm
        a.bind(f.entry)
        if f.uses_fp or (f.is_main and self.anchored):
            self.emit(x86.push(RBP))
        if f.uses_fp:
            self.emit(x86.mov_rr(RBP, RSP, True), x86.alu_ri(x86.SUB, RSP, STACK_SIZE, True))
        for reg in f.saved:
            self.emit(x86.push(reg))
        if f.is_main and self.anchored:
            self.emit(x86.push(ANCHOR), x86.mov_rr(ANCHOR, RSP, True))

    def _restore(self, f: _Function, from_anchor: bool) -> None:
        if f.is_main and self.anchored:
            self.emit(x86.pop(ANCHOR))
        for reg in reversed(f.saved):
            self.emit(x86.pop(reg))
        if f.uses_fp:
            if from_anchor:          # rbp may belong to a deeper frame
                self.emit(x86.alu_ri(x86.ADD, RSP, STACK_SIZE, True), x86.pop(RBP))
            else:
                self.emit(x86.LEAVE)
        elif f.is_main and self.anchored:
            self.emit(x86.pop(RBP))
        self.emit(x86.RET)

    def _program_drop(self) -> None:
        """An out-of-bounds packet load anywhere: unwind to the main frame, return 0."""
        self.asm.bind(self.program_drop)
        self.emit(x86.mov_rr(RSP, ANCHOR, True), x86.alu_rr(x86.XOR, RAX, RAX, False))
        self._restore(self.main, True)

    def _run_entry(self) -> None:
        """(data, caplen | wirelen << 32) -> fill this Native's context block (its net offset
        is set from Python), jump to pc 0 with r1 = the block and r2..r5 = 0."""
        ctx = T2
        self.emit(x86.mov_ri(ctx, self.ctx_addr), x86.store(ctx, CTX_DATA, RDI, 8),
                  x86.store(ctx, CTX_DATA_LEN, RSI, 4), x86.shift_ri(x86.SHR, RSI, 32, True),
                  x86.store(ctx, 0, RSI, 4), x86.store_imm(ctx, _SKB_CB, 0, 8),
                  x86.store_imm(ctx, _SKB_CB + 8, 0, 8), x86.store_imm(ctx, _SKB_CB + 16, 0, 4),
                  x86.mov_rr(RDI, ctx, True))
        for reg in (RSI, RDX, RCX, R8):
            self.emit(x86.alu_rr(x86.XOR, reg, reg, False))
        self.asm.jmp(self.main.entry)

    def _function(self, f: _Function) -> None:
        self.cold = []
        if f.loads_packet and self.drop_mode == "program":
            f.drop = self.program_drop
        elif f.loads_packet:
            f.drop = x86.Label(f"drop{f.start}")
        self._prologue(f)
        last = len(f.rows) - 1
        for i, (pc, insn, form, second) in enumerate(f.rows):
            self.asm.bind(self.label(pc))
            if insn.dst == 10 and self._writes_dst(insn, form):
                raise JitError(pc, "r10 is read-only")
            self._insn(f, pc, insn, form, second, i == last)
        pc, insn, form, _ = f.rows[-1]
        if form.syntax not in ("none", "ja", "ja32"):
            raise JitError(pc, "execution can fall off the end of the function")
        self.asm.bind(f.epilogue)
        self._restore(f, False)
        for emit_cold in self.cold:
            emit_cold()
        if f.drop is not None and f.drop is not self.program_drop:
            self.asm.bind(f.drop)
            self.emit(x86.alu_rr(x86.XOR, RAX, RAX, False))
            self.asm.jmp(f.epilogue)

    @staticmethod
    def _writes_dst(insn: ebpf.Insn, form: ebpf.Form) -> bool:
        return insn.cls in (Class.ALU, Class.ALU64, Class.LDX) or form.syntax == "lddw"

    def _target(self, f: _Function, pc: int, target: int) -> x86.Label:
        if not f.start <= target < f.end:
            raise JitError(pc, f"jump to pc {target} leaves the function at pc {f.start}")
        return self.label(target)

    # -- instructions --------------------------------------------------------------------------
    def _insn(self, f: _Function, pc: int, insn: ebpf.Insn, form: ebpf.Form, second,
              last: bool) -> None:
        cls = insn.cls
        if cls in (Class.ALU, Class.ALU64):
            self._alu(pc, insn)
        elif cls in (Class.JMP, Class.JMP32):
            self._jump(f, pc, insn, form, last)
        elif insn.opcode == ebpf.LDDW and insn.src == Pseudo.FUNC:
            self.asm.lea_rip(_REG[insn.dst], self.functions[pc + 1 + insn.imm].entry)
        elif insn.opcode == ebpf.LDDW:
            if insn.src != Pseudo.IMM64:
                raise JitError(pc, f"lddw with src {insn.src} ({Pseudo(insn.src).name.lower()}) "
                                   "is not supported by the JIT")
            self.emit(x86.mov_ri(_REG[insn.dst], ((second.imm & M32) << 32) | (insn.imm & M32)))
        elif cls == Class.LD:
            self._packet_load(f, pc, insn)
        elif cls == Class.LDX:
            size = _SIZE_BYTES[insn.opcode & 0x18]
            self.emit(x86.load(_REG[insn.dst], _REG[insn.src], insn.off, size,
                               insn.opcode & 0xE0 == Mode.MEMSX))
        elif cls == Class.ST:
            size = _SIZE_BYTES[insn.opcode & 0x18]
            self.emit(x86.store_imm(_REG[insn.dst], insn.off, insn.imm, size))
        elif insn.opcode & 0xE0 == Mode.ATOMIC:
            self._atomic(pc, insn)
        else:
            size = _SIZE_BYTES[insn.opcode & 0x18]
            self.emit(x86.store(_REG[insn.dst], insn.off, _REG[insn.src], size))

    def _alu(self, pc: int, insn: ebpf.Insn) -> None:
        op = insn.opcode & 0xF0
        w = insn.cls == Class.ALU64
        x = bool(insn.opcode & Source.X)
        d, s, imm = _REG[insn.dst], _REG[insn.src], insn.imm
        e = self.emit
        if op == AluOp.MOV:
            if x and insn.off:
                e(x86.movsx_rr(d, s, insn.off, w))
            elif x:
                if w and d == s:
                    return
                e(x86.mov_rr(d, s, w))
            else:
                e(x86.mov_ri(d, imm if w else imm & M32))
        elif op in _ALU_OPS:
            e(x86.alu_rr(_ALU_OPS[op], d, s, w) if x else x86.alu_ri(_ALU_OPS[op], d, imm, w))
        elif op == AluOp.MUL:
            e(x86.imul_rr(d, s, w) if x else x86.imul_rri(d, d, imm, w))
        elif op in (AluOp.DIV, AluOp.MOD):
            self._divmod(d, s, imm, x, w, insn.off == 1, op == AluOp.MOD)
        elif op in _SHIFTS:
            self._shift(_SHIFTS[op], d, s, imm, x, w)
        elif op == AluOp.NEG:
            e(x86.group3(x86.NEG, d, w))
        elif op == AluOp.END:
            bits = imm
            if insn.cls == Class.ALU and not x:            # le: a truncation on this host
                if bits == 16:
                    e(x86.movzx_rr(d, d, 16))
                elif bits == 32:
                    e(x86.mov_rr(d, d, False))
            elif bits == 16:
                e(x86.rol16(d, 8), x86.movzx_rr(d, d, 16))
            else:
                e(x86.bswap(d, bits == 64))
        else:
            raise JitError(pc, f"ALU operation {op:#x} is not supported")

    def _divmod(self, d: int, s: int, imm: int, x: bool, w: bool, signed: bool,
                mod: bool) -> None:
        e, a = self.emit, self.asm
        if not x:
            if imm == 0:
                if not mod:
                    e(x86.alu_rr(x86.XOR, d, d, False))
                elif not w:
                    e(x86.mov_rr(d, d, False))
                return
            if signed and imm == -1:
                e(x86.alu_rr(x86.XOR, d, d, False) if mod else x86.group3(x86.NEG, d, w))
                return
            e(x86.mov_ri(T2, imm if w else imm & M32))
        else:
            e(x86.mov_rr(T2, s, True))
            zero, done = x86.Label("div0"), x86.Label("divdone")
            e(x86.test_rr(T2, T2, w))
            a.jcc("e", zero)
            if signed:
                negone = x86.Label("divm1")
                e(x86.alu_ri(x86.CMP, T2, -1, w))
                a.jcc("e", negone)
        e(x86.mov_rr(T0, RAX, True), x86.mov_rr(T1, RDX, True))
        if d != RAX or not w:
            e(x86.mov_rr(RAX, d, w))
        e(x86.cqo(w) if signed else x86.alu_rr(x86.XOR, RDX, RDX, False))
        e(x86.group3(x86.IDIV if signed else x86.DIV, T2, w))
        e(x86.mov_rr(T2, RDX if mod else RAX, True), x86.mov_rr(RAX, T0, True),
          x86.mov_rr(RDX, T1, True), x86.mov_rr(d, T2, True))
        if not x:
            return
        a.jmp(done)
        a.bind(zero)
        if not mod:
            e(x86.alu_rr(x86.XOR, d, d, False))
        elif not w:
            e(x86.mov_rr(d, d, False))
        if signed:
            a.jmp(done)
            a.bind(negone)
            e(x86.alu_rr(x86.XOR, d, d, False) if mod else x86.group3(x86.NEG, d, w))
        a.bind(done)

    def _shift(self, digit: int, d: int, s: int, imm: int, x: bool, w: bool) -> None:
        e = self.emit
        if not x:
            count = imm & (63 if w else 31)
            if count:
                e(x86.shift_ri(digit, d, count, w))
            elif not w:
                e(x86.mov_rr(d, d, False))
            return
        if s == RCX:
            e(x86.shift_cl(digit, d, w))
        elif d == RCX:
            e(x86.mov_rr(T2, RCX, True), x86.mov_rr(RCX, s, True), x86.shift_cl(digit, T2, w),
              x86.mov_rr(RCX, T2, True))
        else:
            e(x86.mov_rr(T2, RCX, True), x86.mov_rr(RCX, s, True), x86.shift_cl(digit, d, w),
              x86.mov_rr(RCX, T2, True))

    def _jump(self, f: _Function, pc: int, insn: ebpf.Insn, form: ebpf.Form, last: bool) -> None:
        op = insn.opcode & 0xF0
        syntax = form.syntax
        a = self.asm
        if syntax in ("ja", "ja32"):
            a.jmp(self._target(f, pc, ebpf.jump_target(insn, form, pc)))
        elif syntax in ("jmp_imm", "jmp_src"):
            w = insn.cls == Class.JMP
            d, s = _REG[insn.dst], _REG[insn.src]
            if syntax == "jmp_src":
                self.emit(x86.test_rr(d, s, w) if op == JmpOp.JSET
                          else x86.alu_rr(x86.CMP, d, s, w))
            elif op == JmpOp.JSET:
                self.emit(x86.test_ri(d, insn.imm, w))
            elif insn.imm == 0 and op in (JmpOp.JEQ, JmpOp.JNE):
                self.emit(x86.test_rr(d, d, w))
            else:
                self.emit(x86.alu_ri(x86.CMP, d, insn.imm, w))
            a.jcc(_CONDITIONS[op], self._target(f, pc, pc + 1 + insn.off))
        elif syntax == "none":
            if not last:
                a.jmp(f.epilogue)
        elif syntax == "call":
            self._helper(pc, insn.imm)
        elif syntax == "call_local":
            a.call(self.functions[pc + 1 + insn.imm].entry)
        elif syntax == "callx":
            self._callx(pc, _REG[insn.dst])
        else:
            raise JitError(pc, f"{form.mnemonic} ({syntax}) is not supported by the JIT")

    def _helper(self, pc: int, number: int) -> None:
        name = self.helpers.get(number)
        if name is None:
            raise JitError(pc, f"helper {number} is not supported by the JIT (only "
                               f"{', '.join(str(n) for n in sorted(self.helpers))})")
        self._builtin(name)

    def _builtin(self, name: str) -> None:
        e = self.emit
        if name == "get_smp_processor_id":
            e(x86.alu_rr(x86.XOR, RAX, RAX, False))
        elif name == "get_prandom_u32":                   # xorshift64, per Native
            e(x86.mov_ri(T2, self.rng_addr), x86.load(RAX, T2, 0, 8))
            for digit, count in ((x86.SHL, 13), (x86.SHR, 7), (x86.SHL, 17)):
                e(x86.mov_rr(T0, RAX, True), x86.shift_ri(digit, T0, count, True),
                  x86.alu_rr(x86.XOR, RAX, T0, True))
            e(x86.store(T2, 0, RAX, 8), x86.mov_rr(RAX, RAX, False))
        elif name == "probe_read_kernel":                 # (dst r1, size r2, src r3) -> 0
            e(x86.mov_rr(RCX, RSI, False), x86.mov_rr(RSI, RDX, True), x86.REP_MOVSB,
              x86.alu_rr(x86.XOR, RAX, RAX, False))
        else:                                             # unwind
            e(x86.mov_rr(RAX, RDI, True), x86.test_rr(RAX, RAX, True))
            self.asm.jcc("e", self.program_drop)

    def _callx(self, pc: int, reg: int) -> None:
        """call %reg: a code address (lddw func) or a helper number; any other number ends
        the program with r0 = 0."""
        e, a = self.emit, self.asm
        native, done = x86.Label("callx"), x86.Label("callxdone")
        e(x86.mov_rr(T2, reg, True), x86.shift_ri(x86.SHR, T2, 32, True))
        a.jcc("ne", native)
        for number, name in sorted(self.helpers.items()):
            skip = x86.Label("callxnext")
            e(x86.alu_ri(x86.CMP, reg, number, False))
            a.jcc("ne", skip)
            self._builtin(name)
            a.jmp(done)
            a.bind(skip)
        a.jmp(self.program_drop)
        a.bind(native)
        e(x86.call_r(reg))
        a.bind(done)

    def _atomic(self, pc: int, insn: ebpf.Insn) -> None:
        e, a = self.emit, self.asm
        w = insn.opcode & 0x18 == Size.DW
        d, s, off, op = _REG[insn.dst], _REG[insn.src], insn.off, insn.imm
        if insn.src == 10 and op & ebpf.FETCH:
            raise JitError(pc, "r10 is read-only")
        if op in _ATOMIC_ALU:
            e(x86.lock_alu(_ATOMIC_ALU[op], d, off, s, w))
        elif op == ebpf.AtomicOp.FETCH_ADD:
            e(x86.mov_rr(T2, s, True), x86.lock_xadd(d, off, T2, w), x86.mov_rr(s, T2, True))
        elif op == ebpf.AtomicOp.XCHG:
            e(x86.mov_rr(T2, s, True), x86.xchg(d, off, T2, w), x86.mov_rr(s, T2, True))
        elif op == ebpf.AtomicOp.CMPXCHG:
            e(x86.lock_cmpxchg(d, off, s, w))
            if not w:
                e(x86.mov_rr(RAX, RAX, False))
        elif op & ~ebpf.FETCH in _ATOMIC_ALU:              # fetch or/and/xor: a cmpxchg loop
            alu = _ATOMIC_ALU[op & ~ebpf.FETCH]
            e(x86.lea(T2, d, off), x86.mov_rr(T0, RAX, True), x86.load(RAX, T2, 0, 8 if w else 4))
            again = x86.Label("cas")
            a.bind(again)
            e(x86.mov_rr(T1, RAX, True), x86.alu_rr(alu, T1, T0 if s == RAX else s, w),
              x86.lock_cmpxchg(T2, 0, T1, w))
            a.jcc("ne", again)
            e(x86.mov_rr(T1, RAX, True), x86.mov_rr(RAX, T0, True), x86.mov_rr(s, T1, True))
        else:
            raise JitError(pc, f"atomic operation {op:#x} is not supported")

    # -- legacy packet loads -------------------------------------------------------------------
    def _packet_load(self, f: _Function, pc: int, insn: ebpf.Insn) -> None:
        e, a = self.emit, self.asm
        size = _SIZE_BYTES[insn.opcode & 0x18]
        ctx = _REG[6]
        if insn.opcode & 0xE0 == Mode.ABS:
            k = insn.imm
            if k < SKF_LL_OFF:
                a.jmp(f.drop)
                return
            if SKF_LL_OFF <= k < SKF_NET_OFF:
                k -= SKF_LL_OFF
            if k >= 0:                       # a constant offset: one bounds check
                end = k + size                  # compared unsigned: as an imm32 bit pattern
                e(x86.alu_mi(x86.CMP, ctx, CTX_DATA_LEN, end - (end >> 31 << 32), False))
                a.jcc("b", f.drop)
                e(x86.load(T1, ctx, CTX_DATA, 8))
                self._load_be(size, T1, k)
                return
            e(x86.load(T0, ctx, CTX_NET_OFF, 4), x86.alu_ri(x86.ADD, T0, k - SKF_NET_OFF, True))
            self._checked_load(f, size)
            return
        s = _REG[insn.src]
        e(x86.mov_rr(T0, s, False), x86.alu_ri(x86.ADD, T0, insn.imm, False),
          x86.movsx_rr(T0, T0, 32, True))
        negative, check = x86.Label("ldneg"), x86.Label("ldcheck")
        e(x86.test_rr(T0, T0, True))
        a.jcc("s", negative)
        a.bind(check)
        self._checked_load(f, size)

        def cold():
            ll = x86.Label("ldll")
            a.bind(negative)
            e(x86.alu_ri(x86.CMP, T0, SKF_NET_OFF, True))
            a.jcc("l", ll)
            e(x86.load(T1, ctx, CTX_NET_OFF, 4), x86.alu_rr(x86.ADD, T0, T1, True),
              x86.alu_ri(x86.ADD, T0, -SKF_NET_OFF, True))
            a.jmp(check)
            a.bind(ll)
            e(x86.alu_ri(x86.CMP, T0, SKF_LL_OFF, True))
            a.jcc("l", f.drop)
            e(x86.alu_ri(x86.ADD, T0, -SKF_LL_OFF, True))
            a.jmp(check)
        self.cold.append(cold)

    def _checked_load(self, f: _Function, size: int) -> None:
        """r0 = big-endian ``size`` bytes at packet + T0 (T0 >= 0), or drop when out of bounds."""
        ctx = _REG[6]
        self.emit(x86.load(T1, ctx, CTX_DATA_LEN, 4), x86.lea(T2, T0, size),
                  x86.alu_rr(x86.CMP, T2, T1, True))
        self.asm.jcc("a", f.drop)
        self.emit(x86.load(T1, ctx, CTX_DATA, 8), x86.alu_rr(x86.ADD, T1, T0, True))
        self._load_be(size, T1, 0)

    def _load_be(self, size: int, base: int, disp: int) -> None:
        if size == 1:
            self.emit(x86.load(RAX, base, disp, 1))
        elif size == 2:
            self.emit(x86.load(RAX, base, disp, 2), x86.rol16(RAX, 8))
        else:
            self.emit(x86.load(RAX, base, disp, 4), x86.bswap(RAX, False))


# ---------------------------------------------------------------------------------------------
# Executable memory and the callable

_libc = None
_ctypes = None


def _runtime():
    """ctypes and libc's mmap/mprotect/munmap, loaded on first use."""
    global _libc, _ctypes
    if _libc is None:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long)
        libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
        _ctypes, _libc = ctypes, libc
    return _ctypes, _libc


_PROT_READ, _PROT_WRITE, _PROT_EXEC = 1, 2, 4
_MAP_PRIVATE, _MAP_ANONYMOUS = 0x02, 0x20
_PAGE = 4096


def _map_code(code: bytes) -> tuple[int, int]:
    """Copy ``code`` into a fresh mapping and make it read+execute; (address, size)."""
    ctypes, libc = _runtime()
    size = (len(code) + _PAGE - 1) // _PAGE * _PAGE or _PAGE
    addr = libc.mmap(None, size, _PROT_READ | _PROT_WRITE, _MAP_PRIVATE | _MAP_ANONYMOUS, -1, 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        raise OSError(ctypes.get_errno(), "mmap of JIT code failed")
    ctypes.memmove(addr, code, len(code))
    if libc.mprotect(addr, size, _PROT_READ | _PROT_EXEC) != 0:
        err = ctypes.get_errno()
        libc.munmap(addr, size)
        raise OSError(err, "mprotect of JIT code to read+execute failed")
    return addr, size


def _unmap(addr: int, size: int) -> None:
    if _libc is not None:
        _libc.munmap(addr, size)


class Native:
    """A compiled program in executable memory.

    ``address``: the entry point (SysV: r1..r5 in rdi, rsi, rdx, rcx, r8; r0 in rax);
    ``code``: the machine code; ``call(*args)`` and ``run(packet, wirelen)`` run it.
    ``ctx_address``: the context block ``run`` fills (CTX_SIZE bytes): one per Native, so
    ``run`` must not be entered from two threads at once (``call`` has no such state)."""

    def __init__(self, program: ebpf.Program, code: bytes, run_offset: int,
                 call_offsets: tuple[int, ...], rng, ctx):
        ctypes, _ = _runtime()
        self.program = program
        self.code = code
        self._rng, self._ctx = rng, ctx
        self.ctx_address = ctypes.addressof(ctx)
        self._mapped = self.address, self._size = _map_code(code)
        u64 = ctypes.c_uint64
        # one prototype per argument count: each converted argument costs ~150 ns in ctypes
        self._calls = tuple(ctypes.CFUNCTYPE(u64, *[u64] * k)(self.address + call_offsets[k])
                            for k in range(6))
        self._run = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, u64)(
            self.address + run_offset)
        self._net_offset = 0

    def call(self, *args: int) -> int:
        """Run with r1..r5 = ``args`` (missing ones 0; each taken modulo 2**64); returns r0 as
        unsigned 64-bit."""
        try:
            return self._calls[len(args)](*args)
        except IndexError:
            if self._calls:
                raise TypeError(f"call takes at most 5 arguments (r1..r5), "
                                f"got {len(args)}") from None
            raise ValueError("Native is closed") from None

    def run(self, packet, wirelen: int | None = None, *, net_offset: int = 0) -> int:
        """Run as a socket filter on ``packet`` (like vm.interp.run); r0 as unsigned 32-bit."""
        if type(packet) is not bytes:
            packet = bytes(packet)
        if net_offset != self._net_offset:
            struct.pack_into("<I", self._ctx, CTX_NET_OFF, net_offset & M32)
            self._net_offset = net_offset
        caplen = len(packet)
        lens = caplen | ((caplen if wirelen is None else wirelen) & M32) << 32
        try:
            return self._run(packet, lens)
        except TypeError:
            if self._run is None:
                raise ValueError("Native is closed") from None
            raise

    def close(self) -> None:
        """Unmap the code (idempotent; also done when the object is collected)."""
        self._calls = ()
        self._run = None
        mapped, self._mapped = self._mapped, None
        if mapped is not None:
            _unmap(*mapped)

    def __del__(self):
        # (not weakref.finalize: importing weakref cost start-up ~0.5 ms)
        if getattr(self, "_mapped", None) is not None:
            self.close()


def compile(program: ebpf.Program, *, drop: str = "program",
            helpers: dict[int, str] | None = None) -> Native:
    """Compile ``program`` to native code; raises :class:`JitError` naming the pc.

    ``drop``: what an out-of-bounds LD_ABS/LD_IND ends, ``"program"`` (vm.interp's rule: the
    whole program returns 0, even from a subprogram) or ``"function"`` (only the function that
    did the load returns 0 to its caller, as the kernel's conversion of LD_ABS does).
    ``helpers``: more helper numbers for the built-ins (:data:`BUILTIN_HELPERS`), over
    :data:`DEFAULT_HELPERS`; e.g. ``{5: "unwind"}`` for the conformance suite."""
    ctypes, _ = _runtime()
    rng = ctypes.c_uint64(int.from_bytes(os.urandom(8), "little") | 1)
    ctx = ctypes.create_string_buffer(CTX_SIZE)
    table = dict(DEFAULT_HELPERS)
    table.update(helpers or {})
    compiler = _Compiler(program, drop, ctypes.addressof(rng), ctypes.addressof(ctx), table)
    code, run_offset, call_offsets = compiler.compile()
    return Native(program, code, run_offset, call_offsets, rng, ctx)


_AVAILABLE: bool | None = None


def available() -> bool:
    """True on x86-64 Linux when executable memory can be made and called."""
    global _AVAILABLE
    if _AVAILABLE is None:
        _AVAILABLE = False
        if sys.platform.startswith("linux") and os.uname().machine in ("x86_64", "amd64"):
            try:
                # map `mov eax, 42; ret` and call it (what every compiled program needs,
                # without compiling one)
                ctypes, _ = _runtime()
                addr, size = _map_code(b"\xb8\x2a\x00\x00\x00\xc3")
                try:
                    _AVAILABLE = ctypes.CFUNCTYPE(ctypes.c_uint64)(addr)() == 42
                finally:
                    _unmap(addr, size)
            except (OSError, AttributeError, ValueError, ImportError):
                _AVAILABLE = False
    return _AVAILABLE
