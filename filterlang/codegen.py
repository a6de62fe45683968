"""AST -> blocks of classic BPF with true/false edges -> linear ``vm.cbpf.Program``.

The order in which tests and loads are emitted follows libpcap 1.10's gencode.c, because a
load past the end of the packet ends the program with 0: two programs that test the same
things in a different order can disagree on truncated packets.
"""
from __future__ import annotations

from vm.cbpf import Insn, Program

from . import ast
from .errors import FilterError
from .linktypes import Layout

# opcodes
LD, LDX, ST, STX, ALU, JMP, RET, MISC = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40
K, X = 0x00, 0x08
SIZES = {1: B, 2: H, 4: W}
ALU_OPS = {"+": 0x00, "-": 0x10, "*": 0x20, "/": 0x30, "|": 0x40, "&": 0x50, "<<": 0x60,
           ">>": 0x70, "%": 0x90, "^": 0xA0}
NEG = 0x80
TAX, TXA = 0x00, 0x80

ETHERMTU = 1500
ETH_IP, ETH_IPV6, ETH_ARP, ETH_RARP = 0x0800, 0x86DD, 0x0806, 0x8035
ETH_ATALK, ETH_AARP, ETH_DN, ETH_SCA, ETH_LAT = 0x809B, 0x80F3, 0x6003, 0x6007, 0x6004
ETH_MOPDL, ETH_MOPRC, ETH_IPX, ETH_NS = 0x6001, 0x6002, 0x8137, 0x0600
ETH_8021Q, ETH_8021AD, ETH_QINQ = 0x8100, 0x88A8, 0x9100
ETH_MPLS, ETH_PPPOED, ETH_PPPOES = 0x8847, 0x8863, 0x8864
SAP_ISONS, SAP_IP, SAP_NETBEUI, SAP_IPX, SAP_8021D = 0xFE, 0x06, 0xF0, 0xE0, 0x42
SLL_P_802_3, SLL_P_802_2, SLL_OUTGOING = 0x0001, 0x0004, 4
SKF_AD_OFF, SKF_AD_PKTTYPE, SKF_AD_IFINDEX = -0x1000, 4, 8
PPP_MPLS_UCAST = 0x0281
ETHERTYPE_TO_PPP = {ETH_IP: 0x0021, ETH_IPV6: 0x0057, ETH_DN: 0x0027, ETH_ATALK: 0x0029,
                    ETH_NS: 0x0025, SAP_ISONS: 0x0023, SAP_8021D: 0x0031, SAP_IPX: 0x002B}
IPPROTO = {"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "igmp": 2, "igrp": 9, "pim": 103,
           "vrrp": 112, "carp": 112, "icmp6": 58, "ah": 51, "esp": 50}
ISO_CLNP, ISO_ESIS, ISO_ISIS = 0x81, 0x82, 0x83
ISIS_PDUS = {"l1": (0x1A, 0x18, 0x12, 0x0F, 0x11), "l2": (0x1B, 0x19, 0x14, 0x10, 0x11),
             "iih": (0x11, 0x0F, 0x10), "lsp": (0x12, 0x14), "snp": (0x1B, 0x1A, 0x18, 0x19),
             "csnp": (0x18, 0x19), "psnp": (0x1A, 0x1B)}
# protocol qualifiers whose abbreviation is a link-level protocol test
LINK_PROTOS = {"ip": ETH_IP, "ip6": ETH_IPV6, "arp": ETH_ARP, "rarp": ETH_RARP,
               "atalk": ETH_ATALK, "aarp": ETH_AARP, "decnet": ETH_DN, "sca": ETH_SCA,
               "lat": ETH_LAT, "mopdl": ETH_MOPDL, "moprc": ETH_MOPRC, "iso": SAP_ISONS,
               "stp": SAP_8021D, "ipx": SAP_IPX, "netbeui": SAP_NETBEUI}
# names `ether proto NAME` knows (libpcap's Ethernet protocol table, then its LLC SAP table)
ETHER_PROTO_NAMES = {"ip": ETH_IP, "ip6": ETH_IPV6, "arp": ETH_ARP, "rarp": ETH_RARP,
                     "mopdl": ETH_MOPDL, "moprc": ETH_MOPRC, "decnet": ETH_DN, "lat": ETH_LAT,
                     "sca": ETH_SCA, "atalk": ETH_ATALK, "aarp": ETH_AARP, "loopback": 0x9000,
                     "ipx": SAP_IPX, "netbeui": SAP_NETBEUI, "iso": SAP_ISONS,
                     "stp": SAP_8021D}
LLC_S_SUBTYPES = {"rr": 0x01, "rnr": 0x05, "rej": 0x09}
LLC_U_SUBTYPES = {"ui": 0x03, "ua": 0x63, "disc": 0x43, "dm": 0x0F, "sabme": 0x6F,
                  "test": 0xE3, "xid": 0xAF, "frmr": 0x87}
# libpcap 1.10 built with IPv6 (every build today) refuses `gateway` after checking its
# arguments; the code generation below (libpcap's pre-IPv6 semantics) is kept behind this switch.
GATEWAY_SUPPORTED = False
IEEE80211_DIRS = ("addr1", "addr2", "addr3", "addr4", "ra", "ta")


# -- blocks -------------------------------------------------------------------------------
class Leaf:
    """A return: ``ret #k``."""
    __slots__ = ("k",)

    def __init__(self, k: int):
        self.k = k


class Block:
    """Straight-line statements then one conditional jump (code, k) with two successors."""
    __slots__ = ("stmts", "code", "k", "jt", "jf")

    def __init__(self, stmts, code: int, k: int):
        self.stmts = list(stmts)
        self.code = code
        self.k = k & 0xFFFFFFFF
        self.jt = None
        self.jf = None


class Frag:
    """A predicate under construction: its entry block and its dangling true/false edges,
    lists of (block, "jt"|"jf")."""
    __slots__ = ("entry", "t", "f")

    def __init__(self, entry: Block, t=None, f=None):
        self.entry = entry
        self.t = [] if t is None else t
        self.f = [] if f is None else f


def leaf_test(stmts, code, k) -> Frag:
    b = Block(stmts, code, k)
    return Frag(b, [(b, "jt")], [(b, "jf")])


def _patch(edges, target):
    for block, attr in edges:
        setattr(block, attr, target)


def f_and(a: Frag, b: Frag) -> Frag:
    _patch(a.t, b.entry)
    return Frag(a.entry, b.t, a.f + b.f)


def f_or(a: Frag, b: Frag) -> Frag:
    _patch(a.f, b.entry)
    return Frag(a.entry, a.t + b.t, b.f)


def f_not(a: Frag) -> Frag:
    return Frag(a.entry, a.f, a.t)


def f_true() -> Frag:
    return leaf_test([Insn(LD | IMM, 0, 0, 0)], JMP | JEQ | K, 0)


def f_false() -> Frag:
    return leaf_test([Insn(LD | IMM, 0, 0, 1)], JMP | JEQ | K, 0)


def linearize(root: Frag, accept: int) -> Program:
    """Lay the block graph out so that every jump goes forward, then append the returns."""
    yes, no = Leaf(accept), Leaf(0)
    _patch(root.t, yes)
    _patch(root.f, no)
    order: list[Block] = []
    seen: set[int] = set()
    stack = [(root.entry, False)]
    while stack:        # iterative DFS, reverse post-order = topological order
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for succ in (node.jt, node.jf):
            if isinstance(succ, Block) and id(succ) not in seen:
                stack.append((succ, False))
    order.reverse()
    trampolines: dict[tuple[int, str], bool] = {}
    while True:
        pos: dict[int, int] = {}
        pc = 0
        for blk in order:
            pc += len(blk.stmts)
            pos[id(blk)] = pc          # pc of the jump
            pc += 1
            pc += sum(1 for attr in ("jt", "jf") if trampolines.get((id(blk), attr)))
        leaf_pc = {id(yes): pc, id(no): pc + 1}

        def target_pc(node):
            return pos[id(node)] - len(node.stmts) if isinstance(node, Block) else leaf_pc[id(node)]

        grew = False
        for blk in order:
            for attr in ("jt", "jf"):
                if trampolines.get((id(blk), attr)):
                    continue
                if target_pc(getattr(blk, attr)) - pos[id(blk)] - 1 > 255:
                    trampolines[(id(blk), attr)] = True
                    grew = True
        if not grew:
            break
    insns: list[Insn] = []
    for blk in order:
        insns.extend(blk.stmts)
        here = len(insns)
        extra = [attr for attr in ("jt", "jf") if trampolines.get((id(blk), attr))]
        offs = {}
        for i, attr in enumerate(extra):
            offs[attr] = i
        jt = offs["jt"] if "jt" in offs else target_pc(blk.jt) - here - 1
        jf = offs["jf"] if "jf" in offs else target_pc(blk.jf) - here - 1
        insns.append(Insn(blk.code, jt, jf, blk.k))
        for attr in extra:
            tramp_pc = len(insns)
            insns.append(Insn(JMP | JA, 0, 0, target_pc(getattr(blk, attr)) - tramp_pc - 1))
    insns.append(Insn(RET | K, 0, 0, accept & 0xFFFFFFFF))
    insns.append(Insn(RET | K, 0, 0, 0))
    return Program(insns)


# -- arithmetic values --------------------------------------------------------------------
class Value:
    """An arithmetic value: statements leaving it in scratch register ``reg``; ``checks`` is
    the protocol test that must hold before the statements run; ``first`` is the first
    statement (libpcap looks at it to refuse division by a constant zero)."""
    __slots__ = ("stmts", "reg", "checks", "first")

    def __init__(self, stmts: list, reg: int, checks: Frag | None, first: Insn):
        self.stmts = stmts
        self.reg = reg
        self.checks = checks
        self.first = first


class Offsets:
    """libpcap's compiler state for where headers are (changes as vlan/mpls/pppoes parse).
    ``linktype`` is off_linktype's constant part (None = no type field); the ``*_reg`` fields
    are scratch registers holding the variable part of an offset (after geneve/vxlan), else
    None; ``geneve``: inside Geneve (libpcap then leaves the program unoptimized); ``vxlan``:
    inside VXLAN (optimized as usual)."""
    __slots__ = ("kind", "linktype", "linkpl", "nl", "nl_nosnap", "linkhdr", "label_depth",
                 "vlan_depth", "pppoes", "linkhdr_reg", "linktype_reg", "linkpl_reg", "geneve",
                 "vxlan")

    def __init__(self, kind: str, linktype: int | None, linkpl: int, nl: int, nl_nosnap: int):
        self.kind = kind
        self.linktype = linktype
        self.linkpl = linkpl
        self.nl = nl
        self.nl_nosnap = nl_nosnap
        self.linkhdr = 0
        self.label_depth = 0
        self.vlan_depth = 0
        self.pppoes = False
        self.linkhdr_reg = None
        self.linktype_reg = None
        self.linkpl_reg = None
        self.geneve = False
        self.vxlan = False

    @property
    def encap(self) -> bool:
        return self.geneve or self.vxlan


class CodeGen:
    def __init__(self, expr: str, linktype, snaplen: int, netmask):
        self.expr = expr
        self.lt = linktype
        layout: Layout = linktype.layout
        self.layout = layout
        self.snaplen = snaplen
        self.netmask = netmask
        self.off = Offsets(layout.kind, layout.off_linktype, layout.off_linkpl, layout.off_nl,
                           layout.off_nl_nosnap)
        self.regs_used = [False] * 16
        self.curreg = 0
        self.addr_desc = "IPv4 address"      # how host/net errors name the id being compiled
        self.span = (0, len(expr))

    # -- errors ---------------------------------------------------------------------------
    def error(self, message: str, span=None):
        raise FilterError(message, self.expr, span if span is not None else self.span)

    @property
    def desc(self) -> str:
        return self.lt.description

    # -- entry ----------------------------------------------------------------------------
    def program(self, tree) -> Program:
        if tree is None:
            return Program([Insn(RET | K, 0, 0, self.snaplen & 0xFFFFFFFF)])
        frag = self.gen(tree)
        return linearize(frag, self.snaplen)

    def gen(self, node) -> Frag:
        if isinstance(node, (ast.And, ast.Or)):
            # and/or chains are left-deep: walk the spine without recursing, left to right
            # (order matters: vlan/mpls/pppoes/geneve move the offsets of what follows)
            spine = []
            while isinstance(node, (ast.And, ast.Or)):
                spine.append(node)
                node = node.left
            frag = self.gen(node)
            for op in reversed(spine):
                right = self.gen(op.right)
                frag = f_and(frag, right) if isinstance(op, ast.And) else f_or(frag, right)
            return frag
        if isinstance(node, ast.Not):
            return f_not(self.gen(node.operand))
        old = self.span
        self.span = node.span
        try:
            if isinstance(node, ast.Id):
                return self.gen_id(node)
            if isinstance(node, ast.ProtoAbbrev):
                return self.proto_abbrev(node.name)
            if isinstance(node, ast.Relation):
                return self.gen_relation(node)
            if isinstance(node, ast.Special):
                return self.gen_special(node)
        finally:
            self.span = old
        raise TypeError(node)

    # -- loads and compares ---------------------------------------------------------------
    def base(self, rel: str) -> tuple[int, int | None]:
        """(constant part, register holding the variable part or None) of an offset base."""
        o = self.off
        if rel == "linkhdr":
            return o.linkhdr, o.linkhdr_reg
        if rel == "linktype":
            return o.linktype, o.linktype_reg
        if rel == "linkpl":
            return o.linkpl + o.nl, o.linkpl_reg
        if rel == "nosnap":
            return o.linkpl + o.nl_nosnap, o.linkpl_reg
        if rel == "llc":
            return o.linkpl, o.linkpl_reg
        if rel == "tran6":
            return o.linkpl + o.nl + 40, o.linkpl_reg
        if rel == "packet":
            return 0, None
        raise ValueError(rel)

    def load(self, rel: str, off: int, size: int) -> list:
        if rel == "tran4":
            return self.loadx_iphdrlen() + [
                Insn(LD | IND | SIZES[size], 0, 0, (self.off.linkpl + self.off.nl + off) & 0xFFFFFFFF)]
        const, reg = self.base(rel)
        if reg is None:
            return [Insn(LD | ABS | SIZES[size], 0, 0, (const + off) & 0xFFFFFFFF)]
        return [Insn(LDX | MEM, 0, 0, reg),
                Insn(LD | IND | SIZES[size], 0, 0, (const + off) & 0xFFFFFFFF)]

    def loadx_iphdrlen(self) -> list:
        """X = length of the IPv4 header (plus the variable part of the payload offset)."""
        o = self.off
        if o.linkpl_reg is None:
            return [Insn(LDX | MSH | B, 0, 0, o.linkpl + o.nl)]
        return [Insn(LDX | MEM, 0, 0, o.linkpl_reg), Insn(LD | IND | B, 0, 0, o.linkpl + o.nl),
                Insn(ALU | 0x50 | K, 0, 0, 0xF), Insn(ALU | 0x60 | K, 0, 0, 2),
                Insn(ALU | X | 0x00, 0, 0, 0), Insn(MISC | TAX, 0, 0, 0)]

    def var_index(self, const: int, reg: int | None, index_reg: int, size: int) -> list:
        """Load ``size`` bytes at const + (variable part) + M[index_reg]."""
        if reg is None:
            return [Insn(LDX | MEM, 0, 0, index_reg), Insn(LD | IND | size, 0, 0, const)]
        return [Insn(LDX | MEM, 0, 0, reg), Insn(LD | MEM, 0, 0, index_reg),
                Insn(ALU | X | 0x00, 0, 0, 0), Insn(MISC | TAX, 0, 0, 0),
                Insn(LD | IND | size, 0, 0, const)]

    def cmp(self, rel, off, size, value, mask=None, op=JEQ) -> Frag:
        stmts = self.load(rel, off, size)
        if mask is not None and mask != 0xFFFFFFFF:
            stmts.append(Insn(ALU | 0x50 | K, 0, 0, mask & 0xFFFFFFFF))
        return leaf_test(stmts, JMP | op | K, value)

    def cmp_gt(self, rel, off, size, value) -> Frag:
        return self.cmp(rel, off, size, value, op=JGT)

    def bcmp(self, rel, off, data: bytes) -> Frag:
        """Compare ``data`` at ``off``: last word first, as libpcap does."""
        result = None
        size = len(data)
        while size >= 4:
            t = self.cmp(rel, off + size - 4, 4, int.from_bytes(data[size - 4:size], "big"))
            result = t if result is None else f_and(result, t)
            size -= 4
        while size >= 2:
            t = self.cmp(rel, off + size - 2, 2, int.from_bytes(data[size - 2:size], "big"))
            result = t if result is None else f_and(result, t)
            size -= 2
        if size > 0:
            t = self.cmp(rel, off, 1, data[0])
            result = t if result is None else f_and(result, t)
        return result

    def snap(self, oui: int, ptype: int) -> Frag:
        data = bytes([0xAA, 0xAA, 0x03]) + oui.to_bytes(3, "big") + ptype.to_bytes(2, "big")
        return self.bcmp("llc", 0, data)

    # -- link-layer protocol test (gen_linktype) -----------------------------------------
    def linktype(self, proto: int) -> Frag:
        o = self.off
        if o.label_depth > 0:
            if proto == ETH_IP:
                version = 0x40
            elif proto == ETH_IPV6:
                version = 0x60
            else:
                self.error("unsupported protocol over mpls")
            b0 = self.cmp("linkpl", -2, 1, 0x01, 0x01)
            return f_and(b0, self.cmp("linkpl", 0, 1, version, 0xF0))
        kind = o.kind
        if kind == "ether":
            return self.ether_linktype(proto)
        if kind == "sll":
            return self.sll_linktype(proto)
        if kind == "sll2":
            return self.cmp("linktype", 0, 2, proto)
        if kind == "ppp":
            return self.cmp("linktype", 0, 2, ETHERTYPE_TO_PPP.get(proto, proto))
        if kind == "raw":
            if proto == ETH_IP:
                return self.cmp("linkhdr", 0, 1, 0x40, 0xF0)
            if proto == ETH_IPV6:
                return self.cmp("linkhdr", 0, 1, 0x60, 0xF0)
            return f_false()
        if kind == "ipv4":
            return f_true() if proto == ETH_IP else f_false()
        if kind == "ipv6":
            return f_true() if proto == ETH_IPV6 else f_false()
        if kind in ("null", "loop"):
            if proto == ETH_IP:
                return self.loopback_af(2)
            if proto == ETH_IPV6:
                return self.loopback_af(10)      # AF_INET6 of the compiling host (Linux)
            return f_false()
        self.error(f"link type {self.lt.name} not supported")

    def loopback_af(self, family: int) -> Frag:
        if self.off.kind == "null":   # host byte order of the capturing machine: little-endian
            family = int.from_bytes(family.to_bytes(4, "little"), "big")
        return self.cmp("linkhdr", 0, 4, family)

    def ether_linktype(self, proto: int) -> Frag:
        if proto in (SAP_ISONS, SAP_IP, SAP_NETBEUI):
            b0 = f_not(self.cmp_gt("linktype", 0, 2, ETHERMTU))
            return f_and(b0, self.cmp("llc", 0, 2, (proto << 8) | proto))
        if proto == SAP_IPX:
            b0 = self.cmp("llc", 0, 1, SAP_IPX)
            b1 = f_or(b0, self.cmp("llc", 0, 2, 0xFFFF))
            b1 = f_or(self.snap(0x000000, ETH_IPX), b1)
            b1 = f_and(f_not(self.cmp_gt("linktype", 0, 2, ETHERMTU)), b1)
            return f_or(self.cmp("linktype", 0, 2, ETH_IPX), b1)
        if proto in (ETH_ATALK, ETH_AARP):
            b0 = f_not(self.cmp_gt("linktype", 0, 2, ETHERMTU))
            if proto == ETH_ATALK:
                b1 = self.snap(0x080007, ETH_ATALK)
            else:
                b1 = self.snap(0x000000, ETH_AARP)
            b1 = f_and(b0, b1)
            return f_or(self.cmp("linktype", 0, 2, proto), b1)
        if proto <= ETHERMTU:
            b0 = f_not(self.cmp_gt("linktype", 0, 2, ETHERMTU))
            return f_and(b0, self.cmp("linktype", 2, 1, proto))
        return self.cmp("linktype", 0, 2, proto)

    def sll_linktype(self, proto: int) -> Frag:
        if proto in (SAP_ISONS, SAP_IP, SAP_NETBEUI):
            b0 = self.cmp("linktype", 0, 2, SLL_P_802_2)
            return f_and(b0, self.cmp("llc", 0, 2, (proto << 8) | proto))
        if proto == SAP_IPX:
            b0 = self.cmp("llc", 0, 1, SAP_IPX)
            b1 = f_or(b0, self.snap(0x000000, ETH_IPX))
            b1 = f_and(self.cmp("linktype", 0, 2, SLL_P_802_2), b1)
            b1 = f_or(self.cmp("linktype", 0, 2, SLL_P_802_3), b1)
            return f_or(self.cmp("linktype", 0, 2, ETH_IPX), b1)
        if proto in (ETH_ATALK, ETH_AARP):
            if proto == ETH_ATALK:
                b0 = self.snap(0x080007, ETH_ATALK)
            else:
                b0 = self.snap(0x000000, ETH_AARP)
            b0 = f_and(self.cmp("linktype", 0, 2, SLL_P_802_2), b0)
            return f_or(self.cmp("linktype", 0, 2, proto), b0)
        if proto <= ETHERMTU:
            b0 = self.cmp("linktype", 0, 2, SLL_P_802_2)
            return f_and(b0, self.cmp("linkpl", 0, 1, proto))
        return self.cmp("linktype", 0, 2, proto)

    # -- protocol abbreviations (gen_proto_abbrev) ---------------------------------------
    def proto_abbrev(self, name: str) -> Frag:
        if name in ("tcp", "udp", "sctp", "pim", "ah", "esp"):
            return self.gen_proto(IPPROTO[name], None)
        if name in ("icmp", "igmp", "igrp", "vrrp", "carp"):
            return self.gen_proto(IPPROTO[name], "ip")
        if name == "icmp6":
            return self.gen_proto(58, "ip6")
        if name in LINK_PROTOS:
            return self.linktype(LINK_PROTOS[name])
        if name == "esis":
            return self.gen_proto(ISO_ESIS, "iso")
        if name == "isis":
            return self.gen_proto(ISO_ISIS, "iso")
        if name == "clnp":
            return self.gen_proto(ISO_CLNP, "iso")
        if name in ISIS_PDUS:
            result = None
            for pdu in ISIS_PDUS[name]:
                t = self.gen_proto(pdu, "isis")
                result = t if result is None else f_or(result, t)
            return result
        if name == "link":
            self.error("link layer applied in wrong context")
        if name == "radio":
            self.error("'radio' is not a valid protocol type")
        self.error(f"unknown protocol: {name}")

    def gen_proto(self, v: int, proto: str | None, direction=None) -> Frag:
        if direction is not None:
            self.error("direction applied to 'proto'")
        if proto is None:
            b0 = self.gen_proto(v, "ip")
            return f_or(b0, self.gen_proto(v, "ip6"))
        if proto == "link":
            return self.linktype(v)
        if proto == "ip":
            b0 = self.linktype(ETH_IP)
            return f_and(b0, self.cmp("linkpl", 9, 1, v))
        if proto == "ip6":
            b0 = self.linktype(ETH_IPV6)
            b2 = self.cmp("linkpl", 6, 1, 44)
            b1 = f_and(b2, self.cmp("linkpl", 40, 1, v))
            b1 = f_or(self.cmp("linkpl", 6, 1, v), b1)
            return f_and(b0, b1)
        if proto == "iso":
            b0 = self.linktype(SAP_ISONS)
            return f_and(b0, self.cmp("nosnap", 0, 1, v))
        if proto == "isis":
            b0 = self.gen_proto(ISO_ISIS, "iso")
            return f_and(b0, self.cmp("nosnap", 4, 1, v))
        if proto in ("esis", "clnp"):
            self.error(f"'{proto}' is not a valid qualifier for 'proto'")
        self.error(f"'{proto}' is not a valid qualifier for 'proto'")

    # -- primitives with ids --------------------------------------------------------------
    def gen_id(self, node: ast.Id) -> Frag:
        q = node.qual
        if q.error:
            self.error("syntax error in filter expression")
        if q.proto == "decnet" and (q.addr in ("gateway", "proto", "protochain")
                                    or (q.addr == "net" and node.kind == "name")
                                    or (q.addr != "net" and node.kind in ("hid_len", "hid_mask"))):
            self.error(f"'decnet' is not a valid qualifier for '{q.addr or 'host'}'")
        if node.kind == "aid":
            if q.proto == "link" and q.addr in (None, "host"):
                self.unsupported("link host $XX")
            self.error("syntax error in filter expression")
        if q.dir in IEEE80211_DIRS:
            if q.addr in ("port", "portrange"):
                self.error(f"'{q.dir}' is not a valid qualifier for '{q.addr}'")
            self.error(f"'{q.dir}' is valid for 802.11 syntax only")
        kind = node.kind
        if kind == "name":
            return self.gen_scode(node)
        if kind == "num":
            return self.gen_ncode(node, node.value, 32, None)
        if kind == "hid":
            if node.qual.proto == "decnet":
                v = self.atodn(node.value, node.span)
                return self.gen_ncode(node, v, 32, node.value)
            v, bits = self.atoin(node.value, node.span)
            return self.gen_ncode(node, v, bits, node.value)
        if kind in ("hid_len", "hid_mask"):
            return self.gen_mcode(node)
        if kind in ("hid6", "hid6_len"):
            return self.gen_mcode6(node)
        if kind == "eid":
            return self.gen_ecode(node)
        self.error("syntax error in filter expression")

    def atoin(self, text: str, span) -> tuple[int, int]:
        value, bits = 0, 0
        for part in text.split("."):
            n = int(part)
            if n > 255:
                self.error(f"invalid IPv4 address '{text}'", span)
            value = (value << 8) | n
            bits += 8
        return value, bits

    def atodn(self, text: str, span) -> int:
        parts = text.split(".")        # sscanf("%d.%d"): extra parts are ignored
        area, node = int(parts[0]), int(parts[1])
        return ((area << 10) | (node & 1023)) & 0xFFFF

    def dnhostop(self, addr: int, direction) -> Frag:
        if direction == "dst":
            off_sh, off_lh = 1, 7
        elif direction == "src":
            off_sh, off_lh = 3, 15
        else:
            b0 = self.dnhostop(addr, "src")
            b1 = self.dnhostop(addr, "dst")
            return f_and(b0, b1) if direction == "src and dst" else f_or(b0, b1)
        swapped = ((addr & 0xFF) << 8) | ((addr >> 8) & 0xFF)
        b0 = self.linktype(ETH_DN)
        tmp = self.cmp("linkpl", 2, 2, 0x8106, 0xFF07)          # pad = 1, long header
        b1 = f_and(tmp, self.cmp("linkpl", 2 + 1 + off_lh, 2, swapped))
        tmp = self.cmp("linkpl", 2, 1, 0x06, 0x07)              # pad = 0, long header
        b2 = f_and(tmp, self.cmp("linkpl", 2 + off_lh, 2, swapped))
        b1 = f_or(b2, b1)
        tmp = self.cmp("linkpl", 2, 2, 0x8102, 0xFF07)          # pad = 1, short header
        b2 = f_and(tmp, self.cmp("linkpl", 2 + 1 + off_sh, 2, swapped))
        b1 = f_or(b2, b1)
        tmp = self.cmp("linkpl", 2, 1, 0x02, 0x07)              # pad = 0, short header
        b2 = f_and(tmp, self.cmp("linkpl", 2 + off_sh, 2, swapped))
        b1 = f_or(b2, b1)
        return f_and(b0, b1)

    def gen_ncode(self, node, v: int, vlen: int, text) -> Frag:
        q = node.qual
        proto, direction, addr = q.proto, q.dir, q.addr
        if addr in (None, "host", "net"):
            if proto == "decnet":
                return self.dnhostop(v & 0xFFFF, direction)
            if proto == "link":
                self.error(f"illegal link-layer address '{text if text is not None else v}'")
            self.addr_desc = "IPv4 address"
            mask = 0xFFFFFFFF
            if text is None and addr == "net":
                while v and (v & 0xFF000000) == 0:
                    v = (v << 8) & 0xFFFFFFFF
                    mask = (mask << 8) & 0xFFFFFFFF
            else:
                v = (v << (32 - vlen)) & 0xFFFFFFFF
                mask = (mask << (32 - vlen)) & 0xFFFFFFFF
            return self.gen_host(v, mask, proto, direction, addr)
        if text is not None and addr in ("port", "portrange", "proto", "protochain"):
            self.error(f"'{addr}' qualifier applied to IPv4 address")
        if addr == "port":
            ipproto = self.port_proto(proto)
            if v > 65535:
                self.error(f"port number {v} greater than maximum 65535")
            return self.port_pair(v, v, ipproto, direction)
        if addr == "portrange":
            ipproto = self.port_proto(proto, "portrange")
            if v > 65535:
                self.error(f"port number {v} greater than maximum 65535")
            return self.port_pair(v, v, ipproto, direction)
        if addr == "gateway":
            self.error(f"'gateway' is not a valid qualifier for '{text if text is not None else v}'")
        if addr == "proto":
            return self.gen_proto(v, proto, direction)
        if addr == "protochain":
            return self.gen_protochain(v, proto)
        self.error("syntax error in filter expression")

    def port_proto(self, proto, what="port"):
        if proto in (None, "tcp", "udp", "sctp"):
            return IPPROTO.get(proto) if proto else None
        self.error(f"'{proto}' is not a valid qualifier for '{what}'")

    def port_pair(self, lo, hi, ipproto, direction) -> Frag:
        b = self.gen_port(lo, hi, ipproto, direction)
        return f_or(self.gen_port6(lo, hi, ipproto, direction), b)

    def gen_mcode(self, node) -> Frag:
        q = node.qual
        n, nlen = self.atoin(node.value, node.span)
        n = (n << (32 - nlen)) & 0xFFFFFFFF
        if node.kind == "hid_mask":
            m, mlen = self.atoin(node.extra, node.span)
            m = (m << (32 - mlen)) & 0xFFFFFFFF
            if n & ~m & 0xFFFFFFFF:
                self.error(f'non-network bits set in "{node.value} mask {node.extra}"')
            what = "IPv4 address and netmask"
            shown = f"{node.value} mask {node.extra}"
        else:
            masklen = node.extra
            if masklen > 32:
                self.error(f"netmask length {masklen} greater than maximum 32")
            m = 0 if masklen == 0 else (0xFFFFFFFF << (32 - masklen)) & 0xFFFFFFFF
            if n & ~m & 0xFFFFFFFF:
                self.error(f'non-network bits set in "{node.value}/{masklen}"')
            what = "IPv4 address and prefix length"
            shown = f"{node.value}/{masklen}"
        if q.addr == "net":
            self.addr_desc = "IPv4 prefix"
            return self.gen_host(n, m, q.proto, q.dir, q.addr)
        if q.addr in (None, "host"):
            self.error(f"'host' is not a valid qualifier for '{shown}'")
        if q.addr == "gateway":
            self.error(f"'gateway' is not a valid qualifier for '{shown}'")
        self.error(f"'{q.addr}' qualifier applied to {what}")

    def gen_mcode6(self, node) -> Frag:
        q = node.qual
        try:
            import ipaddress
            addr = int(ipaddress.IPv6Address(node.value))
        except ValueError:
            self.error(f"invalid IPv6 address '{node.value}'")
        masklen = 128 if node.kind == "hid6" else node.extra
        shown = node.value if node.kind == "hid6" else f"{node.value}/{masklen}"
        if masklen > 128:
            self.error(f"netmask length {masklen} greater than maximum 128")
        mask = ((1 << 128) - 1) ^ ((1 << (128 - masklen)) - 1)
        if addr & ~mask:
            self.error(f'non-network bits set in "{shown}"')
        if q.addr in (None, "host", "net"):
            if q.addr in (None, "host") and masklen != 128:
                self.error(f"'host' is not a valid qualifier for '{shown}'")
            self.addr_desc = "IPv6 prefix" if q.addr == "net" else "IPv6 address"
            return self.gen_host6(addr, mask, q.proto, q.dir, q.addr)
        if q.addr == "gateway":
            self.error(f"'gateway' is not a valid qualifier for '{shown}'")
        what = "IPv6 address" if node.kind == "hid6" else "IPv6 address and prefix length"
        self.error(f"'{q.addr}' qualifier applied to {what}")

    def gen_ecode(self, node) -> Frag:
        q = node.qual
        mac = parse_mac(node.value)
        if mac is None:
            self.error("invalid Ethernet address")
        if q.addr in (None, "host") and q.proto == "link":
            return self.checked_ehostop(mac, q.dir)
        self.error("Ethernet address used in non-ether expression")

    def prevlinkhdr_check(self) -> Frag | None:
        """Inside a tunnel: is there an inner Ethernet header (header offset != payload offset)?"""
        o = self.off
        if not o.encap:
            return None
        stmts = [Insn(LD | MEM, 0, 0, o.linkhdr_reg), Insn(LDX | MEM, 0, 0, o.linkpl_reg)]
        return f_not(leaf_test(stmts, JMP | JEQ | X, 0))

    def checked_ehostop(self, mac: bytes, direction) -> Frag:
        check = self.prevlinkhdr_check()
        b = self.ehostop(mac, direction)
        return f_and(check, b) if check is not None else b

    def ehostop(self, mac: bytes, direction) -> Frag:
        if self.off.kind != "ether":
            self.unsupported("link host XX:XX:XX:XX:XX:XX")
        if direction == "src":
            return self.bcmp("linkhdr", 6, mac)
        if direction == "dst":
            return self.bcmp("linkhdr", 0, mac)
        b0 = self.ehostop(mac, "src")
        b1 = self.ehostop(mac, "dst")
        return f_and(b0, b1) if direction == "src and dst" else f_or(b0, b1)

    # -- host / net -----------------------------------------------------------------------
    def gen_host(self, addr: int, mask: int, proto, direction, addr_type) -> Frag:
        typestr = "net" if addr_type == "net" else "host"
        if proto == "decnet":
            return self.dnhostop(addr & 0xFFFF, direction)
        if proto is None:
            b0 = self.gen_host(addr, mask, "ip", direction, addr_type)
            if self.off.label_depth == 0:
                b1 = self.gen_host(addr, mask, "arp", direction, addr_type)
                b0 = f_or(b0, b1)
                b0 = f_or(b0, self.gen_host(addr, mask, "rarp", direction, addr_type))
            return b0
        if proto == "ip":
            return self.hostop(addr, mask, direction, ETH_IP, 12, 16)
        if proto == "arp":
            return self.hostop(addr, mask, direction, ETH_ARP, 14, 24)
        if proto == "rarp":
            return self.hostop(addr, mask, direction, ETH_RARP, 14, 24)
        self.error(f"'{proto}' is not a valid qualifier for '{typestr} <{self.addr_desc}>'")

    def hostop(self, addr, mask, direction, ethertype, src_off, dst_off) -> Frag:
        if direction == "src":
            off = src_off
        elif direction == "dst":
            off = dst_off
        else:
            b0 = self.hostop(addr, mask, "src", ethertype, src_off, dst_off)
            b1 = self.hostop(addr, mask, "dst", ethertype, src_off, dst_off)
            return f_and(b0, b1) if direction == "src and dst" else f_or(b0, b1)
        b0 = self.linktype(ethertype)
        return f_and(b0, self.cmp("linkpl", off, 4, addr, mask))

    def gen_host6(self, addr: int, mask: int, proto, direction, addr_type) -> Frag:
        typestr = "net" if addr_type == "net" else "host"
        if proto in (None, "ip6"):
            return self.hostop6(addr, mask, direction, 8, 24)
        self.error(f"'{proto}' is not a valid qualifier for '{typestr} <{self.addr_desc}>'")

    def hostop6(self, addr, mask, direction, src_off, dst_off) -> Frag:
        if direction == "src":
            off = src_off
        elif direction == "dst":
            off = dst_off
        else:
            b0 = self.hostop6(addr, mask, "src", src_off, dst_off)
            b1 = self.hostop6(addr, mask, "dst", src_off, dst_off)
            return f_and(b0, b1) if direction == "src and dst" else f_or(b0, b1)
        words = [(addr >> (96 - 32 * i)) & 0xFFFFFFFF for i in range(4)]
        masks = [(mask >> (96 - 32 * i)) & 0xFFFFFFFF for i in range(4)]
        b1 = self.cmp("linkpl", off + 12, 4, words[3], masks[3])
        for i in (2, 1, 0):
            b1 = f_and(self.cmp("linkpl", off + 4 * i, 4, words[i], masks[i]), b1)
        return f_and(self.linktype(ETH_IPV6), b1)

    # -- names (filterlang.codegen_rare but for port ranges) -------------------------------
    def gen_scode(self, node) -> Frag:
        if node.qual.addr == "portrange":
            return self.gen_portrange_name(node)
        return _rare().gen_scode(self, node)

    def gen_portrange_name(self, node) -> Frag:
        """``portrange a-b``: the lexer reads ``a-b`` as a name, numbers or service names."""
        from . import compiler
        name, proto, direction = node.value, node.qual.proto, node.qual.dir
        if proto not in (None, "tcp", "udp", "sctp"):
            self.error(f"'{proto}' is not a valid qualifier for 'portrange'")
        try:
            lo, hi, real = compiler.resolve_portrange(name)
        except LookupError:
            self.error(f"unknown port in range '{name}'")
        real = self.port_proto_check(name, proto, real)
        for p in (lo, hi):
            if p > 65535:
                self.error(f"port number {p} greater than maximum 65535")
        return self.port_pair(lo, hi, real, direction)

    def port_proto_check(self, name, proto, real):
        names = {6: "tcp", 17: "udp", 132: "sctp", None: None}
        real_name = real if isinstance(real, str) or real is None else names.get(real)
        if proto is not None:
            if real_name is not None and real_name != proto:
                self.error(f"port '{name}' is {real_name}")
            return IPPROTO[proto]
        return IPPROTO.get(real_name) if real_name else None

    # -- ports ----------------------------------------------------------------------------
    def portatom(self, rel, off, lo, hi) -> Frag:
        if lo == hi:
            return self.cmp(rel, off, 2, lo)
        if lo > hi:
            lo, hi = hi, lo
        b1 = self.cmp(rel, off, 2, lo, op=JGE)
        b2 = f_not(self.cmp(rel, off, 2, hi, op=JGT))
        return f_and(b1, b2)

    def ports_dir(self, rel, lo, hi, direction) -> Frag:
        if direction == "src":
            return self.portatom(rel, 0, lo, hi)
        if direction == "dst":
            return self.portatom(rel, 2, lo, hi)
        tmp = self.portatom(rel, 0, lo, hi)
        b1 = self.portatom(rel, 2, lo, hi)
        return f_and(tmp, b1) if direction == "src and dst" else f_or(tmp, b1)

    def portop(self, lo, hi, ipproto, direction) -> Frag:
        tmp = self.cmp("linkpl", 9, 1, ipproto)
        b0 = f_and(tmp, self.ipfrag())
        return f_and(b0, self.ports_dir("tran4", lo, hi, direction))

    def portop6(self, lo, hi, ipproto, direction) -> Frag:
        tmp = self.cmp("linkpl", 6, 1, ipproto)
        return f_and(tmp, self.ports_dir("tran6", lo, hi, direction))

    def gen_port(self, lo, hi, ipproto, direction) -> Frag:
        b0 = self.linktype(ETH_IP)
        if ipproto is None:
            tmp = self.portop(lo, hi, 6, direction)
            b1 = f_or(tmp, self.portop(lo, hi, 17, direction))
            b1 = f_or(self.portop(lo, hi, 132, direction), b1)
        else:
            b1 = self.portop(lo, hi, ipproto, direction)
        return f_and(b0, b1)

    def gen_port6(self, lo, hi, ipproto, direction) -> Frag:
        b0 = self.linktype(ETH_IPV6)
        if ipproto is None:
            tmp = self.portop6(lo, hi, 6, direction)
            b1 = f_or(tmp, self.portop6(lo, hi, 17, direction))
            b1 = f_or(self.portop6(lo, hi, 132, direction), b1)
        else:
            b1 = self.portop6(lo, hi, ipproto, direction)
        return f_and(b0, b1)

    def ipfrag(self) -> Frag:
        return f_not(leaf_test(self.load("linkpl", 6, 2), JMP | JSET | K, 0x1FFF))

    # -- protochain (filterlang.codegen_rare) ----------------------------------------------
    def gen_protochain(self, v: int, proto) -> Frag:
        return _rare().gen_protochain(self, v, proto)

    # -- keyword primitives ---------------------------------------------------------------
    def gen_special(self, node: ast.Special) -> Frag:
        kind = node.kind
        if kind == "broadcast":
            return self.gen_broadcast(node.proto)
        if kind == "multicast":
            return self.gen_multicast(node.proto)
        if kind == "less":
            return f_not(leaf_test([Insn(LD | W | LEN, 0, 0, 0)], JMP | JGT | K, node.arg))
        if kind == "greater":
            return leaf_test([Insn(LD | W | LEN, 0, 0, 0)], JMP | JGE | K, node.arg)
        if kind in ("inbound", "outbound"):
            lay = self.layout
            if lay.off_pkttype is not None and self.off.kind == lay.kind:
                # the link-layer header says which way the packet went
                b0 = self.cmp("linkhdr", lay.off_pkttype, lay.pkttype_size, SLL_OUTGOING)
            else:
                # Linux socket-filter ancillary data (libpcap offsets it by the link header,
                # which pppoes/geneve move)
                b0 = self.cmp("linkhdr", SKF_AD_OFF + SKF_AD_PKTTYPE, 2, SLL_OUTGOING)
            return f_not(b0) if kind == "inbound" else b0
        if kind == "ifindex":
            if self.layout.off_ifindex is not None and self.off.kind == self.layout.kind:
                return self.cmp("linkhdr", self.layout.off_ifindex, 4, node.arg)
            return self.cmp("linkhdr", SKF_AD_OFF + SKF_AD_IFINDEX, 4, node.arg)
        if kind == "vlan":
            return self.gen_vlan(node.arg)
        if kind == "mpls":
            return self.gen_mpls(node.arg)
        if kind == "pppoed":
            return self.linktype(ETH_PPPOED)
        if kind == "pppoes":
            return self.gen_pppoes(node.arg)
        if kind == "geneve":
            return self.gen_geneve(node.arg)
        if kind == "vxlan":
            return self.gen_vxlan(node.arg)
        if kind == "byte":
            return self.gen_byteop(*node.arg)
        if kind == "llc":
            return self.gen_llc(node.arg, node.arg_span)
        if kind in ("type", "subtype"):
            self.unsupported("type/subtype")
        if kind == "dir":
            self.unsupported("dir")
        if kind in ("ifname", "ruleset", "rulenum", "subrulenum", "reason", "action"):
            self.error(f"'{kind}' supported only on PFLOG linktype")
        if kind in ("vpi", "vci", "lane", "metac", "bcc", "oam", "oamf4", "oamf4ec",
                    "oamf4sc", "sc", "ilmic", "connectmsg", "metaconnect"):
            self.error(f"'{kind}' supported only on SUNATM")
        if kind in ("fisu", "lssu", "msu", "hfisu", "hlssu", "hmsu", "sio", "opc", "dpc",
                    "sls", "hsio", "hopc", "hdpc", "hsls"):
            self.error(f"'{kind}' supported only on SS7")
        self.error(f"unsupported primitive '{kind}'")

    def gen_byteop(self, index: int, op: str, value: int) -> Frag:
        """``byte N op V`` on the link-layer header. For & and | libpcap applies the operation
        to whatever A holds (no load): reproduced as is."""
        if op == "=":
            return self.cmp("linkhdr", index, 1, value)
        if op == "<":
            return f_not(self.cmp("linkhdr", index, 1, value, op=JGE))
        if op == ">":
            return self.cmp("linkhdr", index, 1, value, op=JGT)
        alu = 0x40 if op == "|" else 0x50
        return f_not(leaf_test([Insn(ALU | alu | K, 0, 0, value)], JMP | JEQ | K, 0))

    def gen_broadcast(self, proto) -> Frag:
        if proto in (None, "link"):
            if self.off.kind != "ether":
                self.unsupported("broadcast")
            return self.checked_ehostop(b"\xff" * 6, "dst")
        if proto == "ip":
            if self.netmask is None:
                self.error("netmask not known, so 'ip broadcast' not supported")
            b0 = self.linktype(ETH_IP)
            hostmask = ~self.netmask & 0xFFFFFFFF
            b1 = self.cmp("linkpl", 16, 4, 0, hostmask)
            b2 = self.cmp("linkpl", 16, 4, hostmask, hostmask)
            return f_and(b0, f_or(b1, b2))
        self.error("only link-layer/IP broadcast filters supported")

    def gen_multicast(self, proto) -> Frag:
        if proto in (None, "link"):
            if self.off.kind != "ether":
                self.unsupported("multicast")
            check = self.prevlinkhdr_check()
            b = leaf_test(self.load("linkhdr", 0, 1), JMP | JSET | K, 1)
            return f_and(check, b) if check is not None else b
        if proto == "ip":
            b0 = self.linktype(ETH_IP)
            return f_and(b0, self.cmp("linkpl", 16, 1, 224, op=JGE))
        if proto == "ip6":
            b0 = self.linktype(ETH_IPV6)
            return f_and(b0, self.cmp("linkpl", 24, 1, 255))
        self.error("link-layer multicast filters supported only on ethernet/FDDI/token ring/"
                   "ARCNET/802.11/ATM LANE/Fibre Channel")

    def gen_vlan(self, vid) -> Frag:
        o = self.off
        if o.label_depth > 0:
            self.error("no VLAN match after MPLS")
        if o.kind != "ether":
            self.unsupported("vlan")
        b0 = self.linktype(ETH_8021Q)
        b1 = f_or(b0, self.linktype(ETH_8021AD))
        b0 = f_or(b1, self.linktype(ETH_QINQ))
        if vid is not None:
            if vid > 4095:
                self.error(f"VLAN tag {vid} greater than maximum 4095")
            b0 = f_and(b0, self.cmp("linkpl", 0, 2, vid, 0x0FFF))
        o.linkpl += 4
        o.linktype += 4
        o.vlan_depth += 1
        return b0

    def unsupported(self, what: str):
        name = "PPP" if self.off.kind == "ppp" else self.lt.name
        self.error(f"'{what}' not supported on DLT_{name}")

    # -- tunnels, MPLS, PPPoE, LLC (filterlang.codegen_rare) -------------------------------
    def gen_geneve(self, vni) -> Frag:
        return _rare().gen_geneve(self, vni)

    def gen_vxlan(self, vni) -> Frag:
        return _rare().gen_vxlan(self, vni)

    def gen_mpls(self, label) -> Frag:
        return _rare().gen_mpls(self, label)

    def gen_pppoes(self, sess) -> Frag:
        return _rare().gen_pppoes(self, sess)

    def gen_llc(self, sub, sub_span) -> Frag:
        return _rare().gen_llc(self, sub, sub_span)

    # -- arithmetic -----------------------------------------------------------------------
    def alloc_reg(self) -> int:
        """libpcap's allocator: round-robin from the last register handed out. (Programs can
        read a register no path wrote - e.g. Geneve offsets after a failed Geneve test - so
        the numbering matters for verdicts.)"""
        for _ in range(len(self.regs_used)):
            if self.regs_used[self.curreg]:
                self.curreg = (self.curreg + 1) % len(self.regs_used)
            else:
                self.regs_used[self.curreg] = True
                return self.curreg
        self.error("too many registers needed to evaluate expression")

    def free_reg(self, reg: int):
        self.regs_used[reg] = False

    def arith(self, node) -> Value:
        if isinstance(node, ast.Num):
            reg = self.alloc_reg()
            first = Insn(LD | IMM, 0, 0, node.value & 0xFFFFFFFF)
            return Value([first, Insn(ST, 0, 0, reg)], reg, None, first)
        if isinstance(node, ast.Len):
            reg = self.alloc_reg()
            first = Insn(LD | W | LEN, 0, 0, 0)
            return Value([first, Insn(ST, 0, 0, reg)], reg, None, first)
        if isinstance(node, ast.Neg):
            a = self.arith(node.operand)
            a.stmts += [Insn(LD | MEM, 0, 0, a.reg), Insn(ALU | NEG, 0, 0, 0), Insn(ST, 0, 0, a.reg)]
            return a
        if isinstance(node, ast.BinOp):
            a0 = self.arith(node.left)
            a1 = self.arith(node.right)
            code = ALU_OPS[node.op]
            imm = a1.first.code == (LD | IMM)
            if node.op == "/" and imm and a1.first.k == 0:
                self.error("division by zero", node.span)
            if node.op == "%" and imm and a1.first.k == 0:
                self.error("modulus by zero", node.span)
            if node.op in ("<<", ">>") and imm and a1.first.k > 31:
                self.error("shift by more than 31 bits", node.span)
            stmts = a0.stmts + a1.stmts + [Insn(LDX | MEM, 0, 0, a1.reg),
                                           Insn(LD | MEM, 0, 0, a0.reg),
                                           Insn(ALU | X | code, 0, 0, 0)]
            self.free_reg(a0.reg)
            self.free_reg(a1.reg)
            reg = self.alloc_reg()
            stmts.append(Insn(ST, 0, 0, reg))
            # libpcap 1.10 keeps only the left operand's protocol checks here
            return Value(stmts, reg, a0.checks, a0.first)
        if isinstance(node, ast.Index):
            return self.gen_index(node)
        raise TypeError(node)

    def gen_index(self, node: ast.Index) -> Value:
        if node.size not in SIZES:
            self.error("data size must be 1, 2, or 4", node.size_span or node.span)
        size = SIZES[node.size]
        inst = self.arith(node.index)
        regno = self.alloc_reg()          # libpcap takes the result register first
        self.free_reg(inst.reg)
        proto = node.proto
        o = self.off
        checks = inst.checks
        if proto == "link":
            stmts = self.var_index(o.linkhdr, o.linkhdr_reg, inst.reg, size)
        elif proto in ("ip", "arp", "rarp", "atalk", "decnet", "sca", "lat", "moprc", "mopdl",
                       "ip6"):
            stmts = self.var_index(o.linkpl + o.nl, o.linkpl_reg, inst.reg, size)
            b = self.proto_abbrev(proto)
            checks = b if checks is None else f_and(checks, b)
        elif proto in ("sctp", "tcp", "udp", "icmp", "igmp", "igrp", "pim", "vrrp", "carp"):
            stmts = self.loadx_iphdrlen() + [Insn(LD | MEM, 0, 0, inst.reg),
                     Insn(ALU | X | 0x00, 0, 0, 0), Insn(MISC | TAX, 0, 0, 0),
                     Insn(LD | IND | size, 0, 0, o.linkpl + o.nl)]
            b = f_and(self.proto_abbrev(proto), self.ipfrag())
            if checks is not None:
                b = f_and(checks, b)
            checks = f_and(self.proto_abbrev("ip"), b)
        elif proto == "icmp6":
            b = self.proto_abbrev("ip6")
            checks = b if checks is None else f_and(checks, b)
            checks = f_and(checks, self.cmp("linkpl", 6, 1, 58))
            stmts = self.var_index(o.linkpl + o.nl + 40, o.linkpl_reg, inst.reg, size)
        else:
            self.error(f"'{proto}' does not support the index operation", node.span)
        stmts.append(Insn(ST, 0, 0, regno))
        return Value(inst.stmts + stmts, regno, checks, inst.first)

    def gen_relation(self, node: ast.Relation) -> Frag:
        a0 = self.arith(node.left)
        a1 = self.arith(node.right)
        code, reverse = {">": (JGT, False), ">=": (JGE, False), "=": (JEQ, False),
                         "<": (JGE, True), "<=": (JGT, True), "!=": (JEQ, True)}[node.op]
        stmts = a0.stmts + a1.stmts + [Insn(LDX | MEM, 0, 0, a1.reg), Insn(LD | MEM, 0, 0, a0.reg)]
        if code == JEQ:
            stmts.append(Insn(ALU | X | 0x10, 0, 0, 0))
            b = leaf_test(stmts, JMP | JEQ | K, 0)
        else:
            b = leaf_test(stmts, JMP | code | X, 0)
        if reverse:
            b = f_not(b)
        self.free_reg(a0.reg)
        self.free_reg(a1.reg)
        if a0.checks is not None:
            tmp = f_and(a0.checks, a1.checks) if a1.checks is not None else a0.checks
        else:
            tmp = a1.checks
        return f_and(tmp, b) if tmp is not None else b


def _rare():
    from . import codegen_rare
    return codegen_rare


def parse_mac(text: str) -> bytes | None:
    """The 6 bytes of an Ethernet address in any of libpcap's forms, or None."""
    for sep in (":", "-", "."):
        parts = text.split(sep)
        if len(parts) == 6:
            try:
                return bytes(int(p, 16) for p in parts)
            except ValueError:
                return None
    parts = text.split(".")
    if len(parts) == 3 and all(len(p) == 4 for p in parts):
        return bytes.fromhex("".join(parts))
    if len(text) == 12:
        try:
            return bytes.fromhex(text)
        except ValueError:
            return None
    return None
