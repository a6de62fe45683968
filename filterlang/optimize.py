"""A classic BPF optimizer over the control-flow graph of a flat program.

``optimize(program)`` cuts the program into basic blocks and repeats, a bounded number of
times, until nothing changes:

- value numbering of A, X and M[0..15] (a value number names one value per run: packet loads,
  constants, ALU results, and one fresh number per join whose inputs disagree), with constant
  folding and propagation and removal of loads and stores that put back a value the register
  already holds (#1699: constants are compared by value, never by aliasing);
- jump threading: an edge into a test that the facts known on that edge decide (the same test
  of the same values on every path to it, ``jeq #k`` taken, constants) goes straight to the
  test's outcome, when every value the landing block reads is the one the edge carries;
- liveness-based dead code removal over the whole graph (#1670/#1726: a store is dead only
  when no path reads it), peepholes (``sub #k; jeq #0`` -> ``jeq #k``, ``and #k; jeq #0`` ->
  ``jset #k``, ``tax`` of X+c before ``ld [x+k]`` -> ``ld [x+k+c]``), removal of unreachable
  blocks, of tests whose two branches agree, and of blocks that can only return 0;
- merging of identical blocks (returns included), and regrouping of and/or chains of tests by
  the value they test, so that repeated loads become redundant;

then, as libpcap's second loop does, rewrites indexed loads with a constant X as absolute ones
and lets only constants decide tests; then lays the blocks out again, adding a ``ja`` where a
conditional jump would be longer than 255. Each phase stops after ``MAX_PASSES`` rounds, so the
optimizer always ends (#112). Programs with a backward jump (libpcap's protochain loop) or an
instruction it does not know come back unchanged. ``optimize`` raises
``FilterError("expression rejects all packets")`` when the result is a lone ``ret #0``, as
``pcap_compile`` does.

Loads: a load past the end of the packet (or a division by an X of 0) ends the run with 0.
By default, like libpcap's optimizer, loads are taken as pure: a load whose value is unused may
go and tests may be regrouped, so a truncated packet can get another verdict than from the
unoptimized program (the same way as with libpcap's optimized program). With
``keep_failing_loads=True`` no load is dropped or skipped unless the same load already
succeeded on every path, and no chain is regrouped: every packet then gets the unoptimized
program's verdict.
"""
from __future__ import annotations

from vm import cbpf
from vm.cbpf import MEMWORDS, Insn, Program
from vm.enums import plain

from .errors import FilterError

# the opcode fields as plain ints: the passes read them thousands of times per filter
AluOp, Class, JmpOp, Mode, RetVal, Size, Src = map(plain, (
    cbpf.AluOp, cbpf.Class, cbpf.JmpOp, cbpf.Mode, cbpf.RetVal, cbpf.Size, cbpf.Src))

__all__ = ["optimize", "MAX_PASSES"]

MAX_PASSES = 200          # bound on improvement rounds (each round strictly shrinks or threads)
MASK = 0xFFFFFFFF
A_ATOM, X_ATOM = 0, 1     # state index of A and X; M[i] is 2 + i
N_ATOMS = 2 + MEMWORDS

JA = Class.JMP | JmpOp.JA
RET_K = Class.RET | RetVal.K


def _bit(atom: int) -> int:
    return 1 << atom


def _mem(k: int) -> int:
    return 2 + k


# --- instruction tables ----------------------------------------------------------------------

_LOAD_SIZES = {Size.W: 4, Size.H: 2, Size.B: 1}
_ALU_OPS = {int(op) for op in cbpf.AluOp}
_COMMUTATIVE = {AluOp.ADD, AluOp.MUL, AluOp.AND, AluOp.OR, AluOp.XOR}


def _stmt_ok(ins: Insn) -> bool:
    """True for the non-jump, non-return instructions this optimizer understands."""
    code, cls = ins.code, ins.code & 0x07
    if cls == Class.LD:
        size, mode = code & 0x18, code & 0xE0
        if code & ~0xF8:
            return False
        if mode in (Mode.ABS, Mode.IND):
            return size in _LOAD_SIZES
        if mode in (Mode.IMM, Mode.LEN):
            return size == Size.W
        if mode == Mode.MEM:
            return size == Size.W and ins.k < MEMWORDS
        return False
    if cls == Class.LDX:
        size, mode = code & 0x18, code & 0xE0
        if mode in (Mode.IMM, Mode.LEN):
            return size == Size.W
        if mode == Mode.MEM:
            return size == Size.W and ins.k < MEMWORDS
        if mode == Mode.MSH:
            return size == Size.B
        return False
    if cls in (Class.ST, Class.STX):
        return code == cls and ins.k < MEMWORDS
    if cls == Class.ALU:
        op, src = code & 0xF0, code & 0x08
        if code & 0x07 != Class.ALU or op not in _ALU_OPS:
            return False
        if op == AluOp.NEG:
            return src == Src.K
        if src == Src.K and op in (AluOp.DIV, AluOp.MOD) and ins.k == 0:
            return False
        return True
    if cls == Class.MISC:
        return code in (Class.MISC | 0x00, Class.MISC | 0x80)
    return False


def _uses_defs(ins: Insn) -> tuple[int, int]:
    """(atoms read, atoms written) of a statement, as bit sets."""
    code, cls = ins.code, ins.code & 0x07
    if cls == Class.LD:
        mode = code & 0xE0
        if mode == Mode.IND:
            return _bit(X_ATOM), _bit(A_ATOM)
        if mode == Mode.MEM:
            return _bit(_mem(ins.k)), _bit(A_ATOM)
        return 0, _bit(A_ATOM)
    if cls == Class.LDX:
        if code & 0xE0 == Mode.MEM:
            return _bit(_mem(ins.k)), _bit(X_ATOM)
        return 0, _bit(X_ATOM)
    if cls == Class.ST:
        return _bit(A_ATOM), _bit(_mem(ins.k))
    if cls == Class.STX:
        return _bit(X_ATOM), _bit(_mem(ins.k))
    if cls == Class.ALU:
        if code & 0x08 and code & 0xF0 != AluOp.NEG:
            return _bit(A_ATOM) | _bit(X_ATOM), _bit(A_ATOM)
        return _bit(A_ATOM), _bit(A_ATOM)
    if code & 0xF8 == 0x00:       # tax
        return _bit(A_ATOM), _bit(X_ATOM)
    return _bit(X_ATOM), _bit(A_ATOM)   # txa


def _alu(op: int, a: int, b: int) -> int | None:
    """A op b on 32-bit unsigned values; None when libpcap would not compute it the same way."""
    if op == AluOp.ADD:
        return (a + b) & MASK
    if op == AluOp.SUB:
        return (a - b) & MASK
    if op == AluOp.MUL:
        return (a * b) & MASK
    if op == AluOp.DIV:
        return a // b if b else None
    if op == AluOp.MOD:
        return a % b if b else None
    if op == AluOp.AND:
        return a & b
    if op == AluOp.OR:
        return a | b
    if op == AluOp.XOR:
        return a ^ b
    if op == AluOp.LSH:
        return (a << b) & MASK if b < 32 else None
    if op == AluOp.RSH:
        return a >> b if b < 32 else None
    return None


def _test(op: int, a: int, b: int) -> bool:
    if op == JmpOp.JEQ:
        return a == b
    if op == JmpOp.JGT:
        return a > b
    if op == JmpOp.JGE:
        return a >= b
    return bool(a & b)


# --- the graph -------------------------------------------------------------------------------

COND, GOTO, RET = "cond", "goto", "ret"


class Block:
    """Statements, then one terminator: a test (jt/jf), a goto (jt) or a return (code, k).
    ``uid`` and ``preds`` are the analysis results of the current round."""
    __slots__ = ("stmts", "kind", "code", "k", "jt", "jf", "uid", "preds")

    def __init__(self, stmts: list[Insn], kind: str, code: int = 0, k: int = 0,
                 jt: Block | None = None, jf: Block | None = None):
        self.stmts = stmts
        self.kind = kind
        self.code = code
        self.k = k
        self.jt = jt
        self.jf = jf
        self.uid = 0
        self.preds = []

    def succs(self) -> tuple["Block", ...]:
        if self.kind == COND:
            return (self.jt, self.jf)
        if self.kind == GOTO:
            return (self.jt,)
        return ()


class _Unsupported(Exception):
    """The program uses something the optimizer leaves alone (it is returned unchanged)."""


def _build(program: Program) -> Block:
    insns = list(program.insns)
    n = len(insns)
    if n == 0:
        raise _Unsupported("empty program")
    leaders = {0}
    for pc, ins in enumerate(insns):
        cls = ins.code & 0x07
        if cls == Class.JMP:
            if ins.code == JA:
                if ins.k >= n - pc - 1:          # backward (sign bit) or past the end
                    raise _Unsupported("backward or out-of-range ja")
                leaders.add(pc + 1 + ins.k)
            else:
                if ins.code & 0xF0 not in (JmpOp.JEQ, JmpOp.JGT, JmpOp.JGE, JmpOp.JSET) \
                        or ins.code & ~0xF8 != Class.JMP:
                    raise _Unsupported("unknown jump")
                for off in (ins.jt, ins.jf):
                    if pc + 1 + off >= n:
                        raise _Unsupported("jump past the end")
                    leaders.add(pc + 1 + off)
            leaders.add(pc + 1)
        elif cls == Class.RET:
            if ins.code not in (Class.RET | RetVal.K, Class.RET | RetVal.A, Class.RET | RetVal.X):
                raise _Unsupported("unknown return")
            leaders.add(pc + 1)
        elif not _stmt_ok(ins):
            raise _Unsupported(f"instruction {ins.code:#x}")
    starts = sorted(p for p in leaders if p < n)
    blocks = {pc: Block([], GOTO) for pc in starts}
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else n
        block = blocks[start]
        last = insns[end - 1]
        cls = last.code & 0x07
        if cls == Class.JMP:
            block.stmts = insns[start:end - 1]
            if last.code == JA:
                block.kind, block.jt = GOTO, blocks[end + last.k]
            else:
                block.kind, block.code, block.k = COND, last.code, last.k
                block.jt, block.jf = blocks[end + last.jt], blocks[end + last.jf]
        elif cls == Class.RET:
            block.stmts = insns[start:end - 1]
            block.kind, block.code, block.k = RET, last.code, last.k
        else:
            if end >= n:
                raise _Unsupported("program runs off its end")
            block.stmts = insns[start:end]
            block.kind, block.jt = GOTO, blocks[end]
    return blocks[0]


def _reverse_postorder(root: Block, succs) -> list[Block]:
    """The blocks reachable from root in reverse post-order of a depth-first walk that visits
    ``succs(block)`` in the order given (iterative: programs can be deep)."""
    post: list[Block] = []
    seen: set[int] = {id(root)}
    stack = [(root, iter(succs(root)))]      # (block, its successors not yet walked)
    while stack:
        block, nexts = stack[-1]
        for nxt in nexts:
            if id(nxt) not in seen:
                seen.add(id(nxt))
                stack.append((nxt, iter(succs(nxt))))
                break
        else:
            stack.pop()
            post.append(block)
    post.reverse()
    return post


def _topo(root: Block) -> list[Block]:
    """Reachable blocks in a topological order (the graph is acyclic), with preds filled."""
    order = _reverse_postorder(root, Block.succs)
    for uid, block in enumerate(order):
        block.uid = uid
        block.preds = []
    for block in order:
        for s in block.succs():
            s.preds.append(block)
    return order


# --- value numbering -------------------------------------------------------------------------

class _Values:
    """Hash-consed value numbers; constants remember their value."""

    def __init__(self, pure_loads: bool = True, final: bool = False):
        self.pure_loads = pure_loads
        # The final phase (libpcap's second loop): indexed loads with a constant X become
        # absolute ones, and only constants decide tests (no facts, no threading).
        self.final = final
        self.table: dict[tuple, int] = {}
        self.const: dict[int, int] = {}
        self.keys: list[tuple] = []

    def of(self, key: tuple) -> int:
        vn = self.table.get(key)
        if vn is None:
            vn = self.table[key] = len(self.table)
            self.keys.append(key)
            if key[0] == "K":
                self.const[vn] = key[1]
        return vn

    def k(self, value: int) -> int:
        return self.of(("K", value & MASK))

    def alu(self, op: int, a: int, b: int) -> int:
        ca, cb = self.const.get(a), self.const.get(b)
        if ca is not None and cb is not None:
            value = _alu(op, ca, cb)
            if value is not None:
                return self.k(value)
        if cb is not None:
            if cb == 0 and op in (AluOp.ADD, AluOp.SUB, AluOp.OR, AluOp.XOR, AluOp.LSH,
                                  AluOp.RSH):
                return a
            if cb == 1 and op in (AluOp.MUL, AluOp.DIV):
                return a
            if cb == 0 and op in (AluOp.MUL, AluOp.AND):
                return self.k(0)
        if op in _COMMUTATIVE and b < a:
            a, b = b, a
        return self.of(("ALU", op, a, b))


class _Flow:
    """Forward facts of one round, by block uid: the state at entry and at exit, the loads
    that succeeded on every path (``avail_out``), the test results known on every path
    (``facts_in``), and per statement whether it may end the run (``risky``: an unproven
    load)."""
    __slots__ = ("entry", "exit", "avail_out", "facts_in", "risky")

    def __init__(self, entry: dict, exit: dict, avail_out: dict, facts_in: dict, risky: dict):
        self.entry = entry
        self.exit = exit
        self.avail_out = avail_out
        self.facts_in = facts_in
        self.risky = risky


def _simulate(vals: _Values, state: list[int], ins: Insn, avail: set | frozenset | None):
    """Run one statement on a symbolic state.

    Returns (replacement, risk): replacement is the statement to keep (possibly rewritten), or
    None when it changes nothing; risk is the value number of a load/division that may fail
    (None when it cannot, or when ``avail`` shows the same one already succeeded).
    """
    code, cls, k = ins.code, ins.code & 0x07, ins.k
    risk = None
    if cls in (Class.LD, Class.LDX):
        target = A_ATOM if cls == Class.LD else X_ATOM
        mode = code & 0xE0
        if mode == Mode.IMM:
            vn = vals.k(k)
        elif mode == Mode.LEN:
            vn = vals.of(("LEN",))
        elif mode == Mode.MEM:
            vn = state[_mem(k)]
            c = vals.const.get(vn)
            if c is not None:
                ins = Insn(cls | Mode.IMM, 0, 0, c)
            elif cls == Class.LDX and state[A_ATOM] == vn:
                ins = Insn(Class.MISC | 0x00, 0, 0, k)     # tax (k kept, as libpcap does)
            elif cls == Class.LD and state[X_ATOM] == vn:
                ins = Insn(Class.MISC | 0x80, 0, 0, k)     # txa
        elif mode == Mode.MSH:
            vn = risk = vals.of(("MSH", k))
        elif mode == Mode.ABS:
            vn = risk = vals.of(("LD", code & 0x18, k))
        else:  # IND
            xc = vals.const.get(state[X_ATOM]) if vals.final else None
            if xc is not None and k + xc <= MASK:
                ins = Insn(Class.LD | (code & 0x18) | Mode.ABS, 0, 0, k + xc)
                vn = risk = vals.of(("LD", code & 0x18, k + xc))
            else:
                vn = risk = vals.of(("LDI", code & 0x18, k, state[X_ATOM]))
    elif cls == Class.ST:
        target, vn = _mem(k), state[A_ATOM]
    elif cls == Class.STX:
        target, vn = _mem(k), state[X_ATOM]
    elif cls == Class.ALU:
        target = A_ATOM
        op = code & 0xF0
        if op == AluOp.NEG:
            c = vals.const.get(state[A_ATOM])
            vn = vals.k(-c) if c is not None else vals.of(("NEG", state[A_ATOM]))
        else:
            if code & 0x08:
                operand = state[X_ATOM]
                xc = vals.const.get(operand)
                if xc is not None and not (op in (AluOp.DIV, AluOp.MOD) and xc == 0) \
                        and not (op in (AluOp.LSH, AluOp.RSH) and xc >= 32):
                    ins = Insn(Class.ALU | op | Src.K, 0, 0, xc)
                elif op in (AluOp.DIV, AluOp.MOD):
                    risk = ("DIV0", operand)
            else:
                operand = vals.k(k)
            vn = vals.alu(op, state[A_ATOM], operand)
            if risk is not None:
                risk = vals.of(risk)
    else:
        if code & 0xF8 == 0x00:      # tax
            target, vn = X_ATOM, state[A_ATOM]
        else:                        # txa
            target, vn = A_ATOM, state[X_ATOM]
    if risk is not None and (vals.pure_loads or (avail is not None and risk in avail)):
        risk = None
    c = vals.const.get(vn)
    if c is not None and target in (A_ATOM, X_ATOM) and risk is None:
        base = Class.LD if target == A_ATOM else Class.LDX
        ins = Insn(base | Mode.IMM, 0, 0, c)
    if state[target] == vn and risk is None:
        return None, None
    state[target] = vn
    return ins, risk


def _decide(vals: _Values, op: int, a: int, b: int, facts: dict) -> bool | None:
    ca, cb = vals.const.get(a), vals.const.get(b)
    if ca is not None and cb is not None:
        return _test(op, ca, cb)
    if vals.final:
        return None
    known = facts.get((op, a, b))
    if known is not None:
        return known
    if op == JmpOp.JEQ and cb is not None:
        eq = facts.get(("EQK", a))
        if eq is not None:
            return eq == cb
    if a == b and op != JmpOp.JSET:
        return op != JmpOp.JGT
    return None


def _operand(vals: _Values, block: Block, state: list[int]) -> int:
    return state[X_ATOM] if block.code & 0x08 else vals.k(block.k)


def _edge_facts(vals: _Values, facts: dict, op: int, a: int, b: int, sense: bool) -> dict:
    out = dict(facts)
    out[(op, a, b)] = sense
    if op == JmpOp.JEQ and sense and b in vals.const:
        out[("EQK", a)] = vals.const[b]
    return out


def _meet_dicts(dicts: list[dict]) -> dict:
    first = dicts[0]
    if len(dicts) == 1:
        return dict(first)
    out = {}
    for key, value in first.items():
        if all(d.get(key, None) == value for d in dicts[1:]):
            out[key] = value
    return out


def _forward(order: list[Block], vals: _Values) -> tuple[_Flow, bool]:
    """Value numbering, availability and edge facts in one topological sweep.

    Statements are simplified on the way and tests decided on every path become gotos.
    Returns the facts and whether anything was rewritten.
    """
    flow = _Flow({}, {}, {}, {}, {})
    edge_facts: dict[tuple[int, int], dict] = {}
    changed = False
    for block in order:
        if not block.preds:
            # A and X start at 0, but libpcap takes them as unknown: doing the same keeps
            # "rejects all packets" where libpcap reports it
            state = [vals.of(("INIT", atom)) for atom in range(N_ATOMS)]
            avail: set = set()
            facts: dict = {}
        else:
            states = [flow.exit[p.uid] for p in block.preds]
            state = list(states[0])
            for other in states[1:]:
                if other != state:
                    for atom in range(N_ATOMS):
                        if other[atom] != state[atom]:
                            state[atom] = vals.of(("PHI", block.uid, atom))
            if vals.pure_loads:
                avail = set()
            else:
                avail = set(flow.avail_out[block.preds[0].uid])
                for p in block.preds[1:]:
                    avail &= flow.avail_out[p.uid]
            facts = _meet_dicts([edge_facts[(p.uid, block.uid)] for p in block.preds])
        flow.entry[block.uid] = list(state)
        flow.facts_in[block.uid] = facts
        new_stmts = []
        risky = []
        for ins in block.stmts:
            replacement, risk = _simulate(vals, state, ins, avail)
            if risk is not None:
                avail.add(risk)
            if replacement is None:
                changed = True
                continue
            if replacement != ins:
                changed = True
            new_stmts.append(replacement)
            risky.append(risk is not None)
        block.stmts = new_stmts
        flow.risky[block.uid] = risky
        flow.exit[block.uid] = state
        flow.avail_out[block.uid] = frozenset(avail)
        if block.kind == COND:
            op = block.code & 0xF0
            a, b = state[A_ATOM], _operand(vals, block, state)
            if block.code & 0x08 and b in vals.const:
                block.code &= ~0x08
                block.k = vals.const[b]
                changed = True
            verdict = _decide(vals, op, a, b, facts)
            if block.jt is block.jf:
                edge_facts[(block.uid, block.jt.uid)] = facts
            else:
                edge_facts[(block.uid, block.jt.uid)] = _edge_facts(vals, facts, op, a, b, True)
                edge_facts[(block.uid, block.jf.uid)] = _edge_facts(vals, facts, op, a, b, False)
            if verdict is not None:
                # the edge not taken stays in the successors' meets this sweep (harmless)
                block.kind, block.jt, block.jf = GOTO, (block.jt if verdict else block.jf), None
                changed = True
        elif block.kind == GOTO:
            edge_facts[(block.uid, block.jt.uid)] = facts
        elif block.kind == RET and block.code == Class.RET | RetVal.A:
            c = vals.const.get(state[A_ATOM])
            if c is not None:
                block.code, block.k = RET_K, c
                changed = True
    return flow, changed


# --- liveness, dead code, peepholes ----------------------------------------------------------

def _term_uses(block: Block) -> int:
    if block.kind == COND:
        return _bit(A_ATOM) | (_bit(X_ATOM) if block.code & 0x08 else 0)
    if block.kind == RET:
        if block.code & 0x18 == RetVal.A:
            return _bit(A_ATOM)
        if block.code & 0x18 == RetVal.X:
            return _bit(X_ATOM)
    return 0


def _live_in_of(block: Block, live_out: int) -> int:
    live = live_out | _term_uses(block)
    for ins in reversed(block.stmts):
        uses, defs = _uses_defs(ins)
        live = (live & ~defs) | uses
    return live


def _liveness(order: list[Block]) -> tuple[dict[int, int], dict[int, int]]:
    live_in: dict[int, int] = {}
    live_out: dict[int, int] = {}
    for block in reversed(order):
        out = 0
        for s in block.succs():
            out |= live_in[s.uid]
        live_out[block.uid] = out
        live_in[block.uid] = _live_in_of(block, out)
    return live_in, live_out


def _dead_code(order: list[Block], vals: _Values, flow: _Flow, live_out: dict[int, int]) -> bool:
    changed = False
    for block in order:
        if _fold_index(vals, block, flow.entry[block.uid], live_out[block.uid]):
            return True
        live = live_out[block.uid] | _term_uses(block)
        risky = flow.risky[block.uid]
        keep: list[Insn] = []
        for ins, may_fail in zip(reversed(block.stmts), reversed(risky)):
            uses, defs = _uses_defs(ins)
            if not defs & live and not may_fail:
                changed = True
                continue
            keep.append(ins)
            live = (live & ~defs) | uses
        keep.reverse()
        block.stmts = keep
        if _peephole(block, live_out[block.uid]):
            changed = True
    return changed


def _bound(vals: _Values, vn: int, depth: int = 0) -> int:
    """An upper bound of the value a value number stands for."""
    c = vals.const.get(vn)
    if c is not None:
        return c
    key = vals.keys[vn]
    if key[0] == "MSH":
        return 60
    if key[0] in ("LD", "LDI"):
        return {Size.B: 0xFF, Size.H: 0xFFFF}.get(key[1], MASK)
    if key[0] == "ALU" and depth < 8:
        op, a, b = key[1], key[2], key[3]
        ba, bb = _bound(vals, a, depth + 1), _bound(vals, b, depth + 1)
        if op == AluOp.ADD:
            return min(ba + bb, MASK)
        if op == AluOp.AND:
            return min(ba, bb)
        if op == AluOp.RSH and b in vals.const:
            return ba >> vals.const[b] if vals.const[b] < 32 else MASK
        if op == AluOp.LSH and b in vals.const and vals.const[b] < 32:
            return min(ba << vals.const[b], MASK)
        if op == AluOp.MUL:
            return min(ba * bb, MASK)
        if op == AluOp.DIV and b in vals.const:
            return ba // max(vals.const[b], 1)
    return MASK


def _fold_index(vals: _Values, block: Block, entry: list[int], live_out: int) -> bool:
    """``tax`` that sets X = Y + c, read only by ``ld [x + k]`` afterwards: drop it and read
    ``[x + k + c]`` with X = Y (when Y + c + k cannot wrap around)."""
    state = list(entry)
    stmts = block.stmts
    for i, ins in enumerate(stmts):
        if ins.code == Class.MISC | 0x00:
            key = vals.keys[state[A_ATOM]]
            y = state[X_ATOM]
            if key[0] == "ALU" and key[1] == AluOp.ADD and y in (key[2], key[3]):
                other = key[3] if key[2] == y else key[2]
                c = vals.const.get(other)
                if c is not None and _rewrite_index(vals, block, i, c, _bound(vals, y), live_out):
                    return True
        _simulate(vals, state, ins, None)
    return False


def _rewrite_index(vals: _Values, block: Block, i: int, c: int, ybound: int,
                   live_out: int) -> bool:
    """Drop the ``tax`` at ``i`` and add c to the ``ld [x + k]`` reading X after it, when
    nothing else reads that X (up to its next definition, or the block's end if X is dead)."""
    stmts = block.stmts
    readers: list[int] = []
    for j in range(i + 1, len(stmts)):
        ins = stmts[j]
        uses, defs = _uses_defs(ins)
        if ins.code & 0xE7 == Class.LD | Mode.IND:
            if ybound + c + ins.k > MASK:
                return False
            readers.append(j)
        elif uses & _bit(X_ATOM):
            return False
        if defs & _bit(X_ATOM):
            break
    else:
        if (live_out | _term_uses(block)) & _bit(X_ATOM):
            return False
    if not readers:
        return False
    block.stmts = [Insn(ins.code, 0, 0, ins.k + c) if j in readers else ins
                   for j, ins in enumerate(stmts) if j != i]
    return True


def _peephole(block: Block, live_out: int) -> bool:
    """``sub #k|x; jeq #0`` -> ``jeq #k|x`` and ``and #k; jeq #0`` -> ``jset #k`` (A dead)."""
    if block.kind != COND or not block.stmts or live_out & _bit(A_ATOM):
        return False
    if block.code != Class.JMP | JmpOp.JEQ | Src.K or block.k != 0:
        return False
    last = block.stmts[-1]
    if last.code == Class.ALU | AluOp.SUB | Src.K:
        block.stmts.pop()
        block.k = last.k
        return True
    if last.code == Class.ALU | AluOp.SUB | Src.X:
        block.stmts.pop()
        block.code = Class.JMP | JmpOp.JEQ | Src.X
        return True
    if last.code == Class.ALU | AluOp.AND | Src.K:
        block.stmts.pop()
        block.code, block.k = Class.JMP | JmpOp.JSET | Src.K, last.k
        block.jt, block.jf = block.jf, block.jt
        return True
    return False


# --- jump threading --------------------------------------------------------------------------

def _thread(order: list[Block], vals: _Values, flow: _Flow, live_in: dict[int, int]) -> bool:
    """Send edges past tests whose outcome is already known on that edge."""
    changed = False
    dirty: set[int] = set()
    for block in order:
        if block.uid in dirty or any(p.uid in dirty for p in block.preds):
            dirty.add(block.uid)
            continue
        if block.kind == RET:
            continue
        state0 = flow.exit[block.uid]
        avail0 = flow.avail_out[block.uid]
        base = flow.facts_in[block.uid]
        if block.kind == COND and block.jt is not block.jf:
            op = block.code & 0xF0
            a, b = state0[A_ATOM], _operand(vals, block, state0)
            sides = (("jt", _edge_facts(vals, base, op, a, b, True)),
                     ("jf", _edge_facts(vals, base, op, a, b, False)))
        else:
            sides = (("jt", base),)
        for side, facts in sides:
            start = getattr(block, side)
            target = _follow(vals, start, state0, avail0, facts, live_in)
            if target is not start:
                setattr(block, side, target)
                changed = True
                # the target's entry values change unless they already differ between its
                # predecessors (a join value stays the same join value)
                entry = flow.entry[target.uid]
                need = live_in[target.uid]
                for atom in range(N_ATOMS):
                    if need & _bit(atom) and state0[atom] != entry[atom] and \
                            entry[atom] != vals.table.get(("PHI", target.uid, atom)):
                        dirty.add(target.uid)
                        break
    return changed


def _follow(vals: _Values, succ: Block, state0: list[int], avail0: frozenset, facts: dict,
            live_in: dict[int, int]) -> Block:
    """The furthest block an edge leaving with (state0, avail0, facts) can go to directly.

    The blocks on the way are run symbolically; the edge may land on a block when every value
    that block reads is the same as on leaving the edge's source, and no block skipped could
    have failed a load.
    """
    facts = dict(facts)
    state = list(state0)
    best = succ
    for _ in range(256):
        if succ.kind == RET:
            return best
        for ins in succ.stmts:
            _replacement, risk = _simulate(vals, state, ins, avail0)
            if risk is not None:
                return best
        if succ.kind == GOTO:
            nxt = succ.jt
        else:
            op = succ.code & 0xF0
            a, b = state[A_ATOM], _operand(vals, succ, state)
            verdict = _decide(vals, op, a, b, facts)
            if verdict is None:
                if succ.jt is not succ.jf:
                    return best
                nxt = succ.jt
            else:
                nxt = succ.jt if verdict else succ.jf
                facts = _edge_facts(vals, facts, op, a, b, verdict)
        need = live_in[nxt.uid]
        if all(state[atom] == state0[atom] for atom in range(N_ATOMS) if need & _bit(atom)):
            best = nxt
        succ = nxt
    return best


# --- reordering chains of tests ----------------------------------------------------------------

def _chains(order: list[Block]) -> list[tuple[list[Block], str]]:
    """Maximal chains b1..bn of tests that all send one side to the same block and the other
    side to the next test, each entered only from the one before (an "or" chain: same true
    target; an "and" chain: same false target)."""
    found = []
    taken: set[int] = set()
    for block in order:
        if block.kind != COND or block.uid in taken:
            continue
        for same, other in (("jt", "jf"), ("jf", "jt")):
            chain = [block]
            target = getattr(block, same)
            nxt = getattr(block, other)
            while (nxt.kind == COND and len(nxt.preds) == 1 and getattr(nxt, same) is target
                   and nxt.uid not in taken):
                chain.append(nxt)
                nxt = getattr(nxt, other)
            if len(chain) >= 2:
                found.append((chain, same))
                taken.update(b.uid for b in chain)
                break
    return found


def _reorder_chains(order: list[Block], vals: _Values, flow: _Flow,
                    live_in: dict[int, int]) -> bool:
    """Group the tests of an and/or chain by the value they test, so that repeated loads
    become redundant. Only with pure loads (libpcap's view): a failing load may then move."""
    if not vals.pure_loads:
        return False
    changed = False
    relinked: set[int] = set()       # blocks whose predecessors' links changed this round
    for chain, same in _chains(order):
        if chain[0].uid in relinked:
            continue
        other = "jf" if same == "jt" else "jt"
        target = getattr(chain[0], same)
        exit_block = getattr(chain[-1], other)
        entry = flow.entry[chain[0].uid]
        written = 0
        reads: list[int] = []
        for block in chain:
            live = _live_in_of(block, 0)
            reads.append(live)
            for ins in block.stmts:
                written |= _uses_defs(ins)[1]
        if written & live_in[target.uid]:
            continue
        # what each test compares, in the original order
        tests = _chain_tests(vals, chain, entry, reads)
        groups: dict[int, list[int]] = {}
        if any(t[0] == entry[A_ATOM] for t in tests):
            groups[entry[A_ATOM]] = []        # A already holds this one: test it first
        keep_last = bool(live_in[exit_block.uid] & _bit(A_ATOM))
        for i, (a, _b, _op, _seen) in enumerate(tests[:-1] if keep_last else tests):
            groups.setdefault(a, []).append(i)
        new_order = [i for members in groups.values() for i in members]
        if keep_last:
            new_order.append(len(chain) - 1)   # the block after the chain reads A
        if new_order == list(range(len(chain))):
            continue
        permuted = [chain[i] for i in new_order]
        if _chain_tests(vals, permuted, entry, [reads[i] for i in new_order]) != \
                [tests[i] for i in new_order]:
            continue
        # the block after the chain must see the same values as before
        need = live_in[exit_block.uid]
        before, after = _chain_exit(vals, chain, entry), _chain_exit(vals, permuted, entry)
        if any(before[atom] != after[atom] for atom in range(N_ATOMS) if need & _bit(atom)):
            continue
        # relink: the chain's entry edge now reaches the first block of the new order
        head = chain[0]
        pred_links = [(p, side) for p in head.preds for side in ("jt", "jf")
                      if getattr(p, side) is head]
        new_head = permuted[0]
        for p, side in pred_links:
            setattr(p, side, new_head)
        for i, block in enumerate(permuted):
            setattr(block, same, target)
            setattr(block, other, permuted[i + 1] if i + 1 < len(permuted) else exit_block)
        relinked.add(exit_block.uid)
        changed = True
    return changed


def _chain_exit(vals: _Values, chain: list[Block], entry: list[int]) -> list[int]:
    state = list(entry)
    for block in chain:
        for ins in block.stmts:
            _simulate(vals, state, ins, None)
    return state


def _chain_tests(vals: _Values, chain: list[Block], entry: list[int], reads: list[int]):
    """(A, operand, op) of each test and the values each block reads, running the chain in
    this order."""
    state = list(entry)
    out = []
    for block, live in zip(chain, reads):
        seen = tuple(state[atom] for atom in range(N_ATOMS) if live & _bit(atom))
        for ins in block.stmts:
            _simulate(vals, state, ins, None)
        out.append((state[A_ATOM], _operand(vals, block, state), block.code & 0xF0, seen))
    return out


# --- structural clean-ups --------------------------------------------------------------------

def _zero_only(order: list[Block], ret0: Block) -> bool:
    """Blocks from which every path returns 0 become ``ret #0`` (a failed load returns 0 too)."""
    changed = False
    zero: set[int] = set()
    for block in reversed(order):
        if block.kind == RET:
            if block.code == RET_K and block.k == 0:
                zero.add(block.uid)
        elif all(s.uid in zero for s in block.succs()):
            zero.add(block.uid)
    for block in order:
        for side in ("jt", "jf"):
            s = getattr(block, side)
            if s is not None and s.uid in zero and s is not ret0:
                setattr(block, side, ret0)
                changed = True
    return changed


def _simplify(root: Block, pure_loads: bool) -> tuple[Block, bool]:
    """Gotos through empty blocks, tests with equal branches, single-predecessor chains."""
    changed = False
    order = _topo(root)
    for block in order:
        if block.kind == COND and block.jt is block.jf:
            block.kind, block.jf = GOTO, None
            changed = True
    # skip empty gotos; copy bare returns into gotos that reach them
    for block in reversed(order):
        for side in ("jt", "jf"):
            s = getattr(block, side)
            if s is None:
                continue
            while s.kind == GOTO and not s.stmts:
                s = s.jt
            if s is not getattr(block, side):
                setattr(block, side, s)
                changed = True
        if block.kind == GOTO and block.jt.kind == RET and not block.jt.stmts:
            block.kind, block.code, block.k, block.jt = RET, block.jt.code, block.jt.k, None
            changed = True
    while root.kind == GOTO and not root.stmts:
        root = root.jt
        changed = True
    order = _topo(root)
    for block in order:
        if block.kind == RET and block.code == RET_K and block.k == 0 and block.stmts:
            block.stmts = []     # returning 0 after a failed load or not: the same
            changed = True
        if block is not root and not block.preds:
            continue
        while block.kind == GOTO and len(block.jt.preds) == 1 and block.jt is not root:
            nxt = block.jt
            block.stmts = block.stmts + nxt.stmts
            block.kind, block.code, block.k, block.jt, block.jf = (
                nxt.kind, nxt.code, nxt.k, nxt.jt, nxt.jf)
            nxt.preds = []
            changed = True
            for s in block.succs():
                s.preds = [block if p is nxt else p for p in s.preds]
    if root.kind == RET and root.code == RET_K and root.stmts and pure_loads:
        root.stmts = []          # loads taken as pure: a program that returns at once needs none
        changed = True
    return root, changed


def _merge_identical(root: Block) -> tuple[Block, bool]:
    """Make identical blocks (same statements, same terminator, same successors) one block."""
    order = _topo(root)
    canon: dict[tuple, Block] = {}
    rep: dict[int, Block] = {}
    changed = False
    for block in reversed(order):
        for side in ("jt", "jf"):
            s = getattr(block, side)
            if s is not None and id(s) in rep and rep[id(s)] is not s:
                setattr(block, side, rep[id(s)])
                changed = True
        key = (tuple(block.stmts), block.kind, block.code, block.k,
               id(block.jt) if block.jt is not None else None,
               id(block.jf) if block.jf is not None else None)
        if block.kind == COND and block.jt is block.jf:
            key = (tuple(block.stmts), GOTO, 0, 0, id(block.jt), None)
        found = canon.setdefault(key, block)
        rep[id(block)] = found
        if found is not block:
            changed = True
    return rep[id(root)], changed


# --- layout ----------------------------------------------------------------------------------

def _layout(root: Block) -> list[Block]:
    """Blocks in emission order: a block, then its true side, then its false side (libpcap's
    order), so that a goto's target usually follows it."""
    # visit the false side first, then the true side: in reverse post-order the true side
    # comes right after the block
    return _reverse_postorder(root, lambda b: [s for s in (b.jf, b.jt) if s is not None])


def _linearize(root: Block) -> list[Insn]:
    blocks = _layout(root)
    long_edges: set[tuple[int, str]] = set()
    for _ in range(len(blocks) * 2 + 2):
        # positions: stmts, terminator, then one ja per long edge of a test
        start: dict[int, int] = {}
        pc = 0
        for idx, block in enumerate(blocks):
            start[id(block)] = pc
            pc += len(block.stmts)
            if block.kind == GOTO:
                nxt = blocks[idx + 1] if idx + 1 < len(blocks) else None
                pc += 0 if nxt is block.jt else 1
            else:
                pc += 1
                if block.kind == COND:
                    pc += sum((id(block), side) in long_edges for side in ("jt", "jf"))
        grew = False
        out: list[Insn] = []
        for idx, block in enumerate(blocks):
            out.extend(block.stmts)
            here = len(out)
            if block.kind == RET:
                out.append(Insn(block.code, 0, 0, block.k))
            elif block.kind == GOTO:
                nxt = blocks[idx + 1] if idx + 1 < len(blocks) else None
                if nxt is not block.jt:
                    out.append(Insn(JA, 0, 0, start[id(block.jt)] - here - 1))
            else:
                extra = [side for side in ("jt", "jf") if (id(block), side) in long_edges]
                offs = {}
                slot = here + 1
                for side in ("jt", "jf"):
                    dest = start[id(getattr(block, side))]
                    if side in extra:
                        offs[side] = slot - here - 1
                        slot += 1
                    else:
                        offs[side] = dest - here - 1
                        if offs[side] > 255:
                            long_edges.add((id(block), side))
                            grew = True
                out.append(Insn(block.code, offs["jt"] & 0xFF, offs["jf"] & 0xFF, block.k))
                for side in extra:
                    out.append(Insn(JA, 0, 0, start[id(getattr(block, side))] - len(out) - 1))
        if not grew:
            return out
    raise AssertionError("layout did not converge")


# --- driver ----------------------------------------------------------------------------------

def _round(root: Block, pure_loads: bool, final: bool, stats: dict | None = None
           ) -> tuple[Block, bool]:
    """One improvement round; each step runs on fresh analysis."""
    root, changed = _simplify(root, pure_loads)
    order = _topo(root)
    vals = _Values(pure_loads, final)
    flow, rewritten = _forward(order, vals)
    step = "rewrite"
    if not rewritten:
        live_in, live_out = _liveness(order)
        ret0 = next((b for b in order if b.kind == RET and b.code == RET_K and b.k == 0 and
                     not b.stmts), None)
        if not final and _thread(order, vals, flow, live_in):
            step = "thread"
        elif ret0 is not None and _zero_only(order, ret0):
            step = "zero"
        elif _dead_code(order, vals, flow, live_out):
            step = "dead"
        else:
            root, merged = _merge_identical(root)
            if merged:
                step = "merge"
            elif not final and _reorder_chains(order, vals, flow, live_in):
                step = "reorder"
            else:
                step = "simplify" if changed else None
    if stats is not None and step:
        stats[step] = stats.get(step, 0) + 1
    return root, step is not None


_STATS: dict | None = None      # step counts, for profiling


def optimize(program: Program, keep_failing_loads: bool = False) -> Program:
    """The optimized program; unchanged when it loops backwards or uses unknown opcodes.

    Raises FilterError("expression rejects all packets") when the result is a lone ``ret #0``.
    """
    try:
        root = _build(program)
    except _Unsupported:
        return program
    for final in (False, True):
        for _ in range(MAX_PASSES):
            root, changed = _round(root, not keep_failing_loads, final, _STATS)
            if not changed:
                break
    insns = _linearize(root)
    if len(insns) == 1 and insns[0].code == RET_K and insns[0].k == 0:
        raise FilterError("expression rejects all packets")
    return Program(insns)
