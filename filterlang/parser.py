"""Recursive-descent parser for pcap-filter expressions (libpcap grammar.y, 1.10 semantics).

Qualifier inheritance: after ``and``/``or`` a bare id takes the qualifiers of the term before
it ("host a or b"); a term that is not a primitive leaves qualifiers an id may not use.
"""
from __future__ import annotations

from . import ast
from .errors import FilterError
from .lexer import Token, tokenize

SYNTAX = "can't parse filter expression: syntax error"

PNAMES = {
    "LINK": "link", "IP": "ip", "ARP": "arp", "RARP": "rarp", "SCTP": "sctp", "TCP": "tcp",
    "UDP": "udp", "ICMP": "icmp", "IGMP": "igmp", "IGRP": "igrp", "PIM": "pim", "VRRP": "vrrp",
    "CARP": "carp", "ATALK": "atalk", "AARP": "aarp", "DECNET": "decnet", "LAT": "lat",
    "SCA": "sca", "MOPDL": "mopdl", "MOPRC": "moprc", "IPV6": "ip6", "ICMPV6": "icmp6",
    "AH": "ah", "ESP": "esp", "ISO": "iso", "ESIS": "esis", "ISIS": "isis", "L1": "l1",
    "L2": "l2", "IIH": "iih", "LSP": "lsp", "SNP": "snp", "PSNP": "psnp", "CSNP": "csnp",
    "CLNP": "clnp", "STP": "stp", "IPX": "ipx", "NETBEUI": "netbeui", "RADIO": "radio",
}
DIRS = {"SRC": "src", "DST": "dst", "ADDR1": "addr1", "ADDR2": "addr2", "ADDR3": "addr3",
        "ADDR4": "addr4", "RA": "ra", "TA": "ta"}
AQUALS = {"HOST": "host", "NET": "net", "PORT": "port", "PORTRANGE": "portrange",
          "GATEWAY": "gateway"}
NDAQUALS = {"PROTO": "proto", "PROTOCHAIN": "protochain"}
RELOPS = {">": ">", ">=": ">=", "=": "=", "==": "=", "<": "<", "<=": "<=", "!=": "!="}
ARITH_OPS = {"+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"}
ID_KINDS = {"ID", "HID", "HID6", "EID", "AID"}
# keywords that take an optional number (``vlan [n]``) and ones that take a required one
OPTIONAL_NUM = {"VLAN": "vlan", "MPLS": "mpls", "PPPOES": "pppoes", "GENEVE": "geneve",
                "VXLAN": "vxlan"}
# link-type families we parse but do not generate code for (their codegen hooks report it)
FOREIGN_WITH_ARG = {"TYPE": "type", "SUBTYPE": "subtype", "DIR": "dir", "PF_IFNAME": "ifname",
                    "PF_RSET": "ruleset", "PF_RNR": "rulenum", "PF_SRNR": "subrulenum",
                    "PF_REASON": "reason", "PF_ACTION": "action", "VPI": "vpi", "VCI": "vci",
                    "SIO": "sio", "OPC": "opc", "DPC": "dpc", "SLS": "sls", "HSIO": "hsio",
                    "HOPC": "hopc", "HDPC": "hdpc", "HSLS": "hsls"}
FOREIGN_BARE = {"LANE": "lane", "METAC": "metac", "BCC": "bcc", "OAM": "oam",
                "OAMF4": "oamf4", "OAMF4EC": "oamf4ec", "OAMF4SC": "oamf4sc", "SC": "sc",
                "ILMIC": "ilmic", "CONNECTMSG": "connectmsg", "METACONNECT": "metaconnect",
                "FISU": "fisu", "LSSU": "lssu", "MSU": "msu", "HFISU": "hfisu",
                "HLSSU": "hlssu", "HMSU": "hmsu"}


def parse(expr: str):
    """The AST of ``expr``; None for the empty expression (accept everything)."""
    return Parser(expr).parse()


class Parser:
    def __init__(self, expr: str):
        self.expr = expr
        self.tokens = tokenize(expr)
        self.pos = 0

    # -- token helpers --------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.tokens[self.pos]
        if tok.kind != "EOF":
            self.pos += 1
        return tok

    def expect(self, kind: str) -> Token:
        if self.peek().kind != kind:
            self.fail()
        return self.next()

    def fail(self, tok: Token | None = None):
        tok = tok or self.peek()
        raise FilterError(SYNTAX, self.expr, (tok.start, max(tok.end, tok.start + 1)))

    def span_from(self, start: int) -> ast.Span:
        end = self.tokens[self.pos - 1].end if self.pos else start
        return (start, max(start, end))

    # -- grammar --------------------------------------------------------------------------
    def parse(self):
        # grammar: prog := [ expr ] EOF
        if self.peek().kind == "EOF":
            return None
        node, _ = self.parse_expr()
        if self.peek().kind != "EOF":
            self.fail()
        return node

    def parse_expr(self, qual: ast.Qual = ast.QERR):
        # grammar: expr := term { ("and" | "or") (id | term) }     (and/or: same precedence, left)
        start = self.peek().start
        node, qual = self.parse_term(qual)
        while self.peek().kind in ("AND", "OR"):
            op = self.next().kind
            if self.starts_id(self.pos):
                right = self.parse_id(qual)
            else:
                right, qual = self.parse_term(qual)
            cls = ast.And if op == "AND" else ast.Or
            node = cls(node, right, self.span_from(start))
        return node, qual

    def parse_term(self, qual: ast.Qual):
        # grammar: term := ("not" | "!") term | rterm
        tok = self.peek()
        if tok.kind in ("NOT", "!"):
            self.next()
            operand, qual = self.parse_term(qual)
            return ast.Not(operand, self.span_from(tok.start)), qual
        return self.parse_rterm(qual)

    def parse_rterm(self, qual: ast.Qual):
        # grammar: rterm := head id | "(" expr ")" | pname | arth relop arth | other
        tok = self.peek()
        kind = tok.kind
        if kind == "(" and not self.paren_is_arith(self.pos):
            self.next()
            node, _ = self.parse_expr(qual)
            self.expect(")")
            return node, qual       # a parenthesised term hands on the qualifiers before it
        if kind in PNAMES:
            after = self.peek(1).kind
            if after in DIRS or after in AQUALS or after in NDAQUALS:
                return self.parse_head_id()
            if after in ("BROADCAST", "MULTICAST"):
                self.next()
                word = self.next()
                return ast.Special(word.kind.lower(), self.span_from(tok.start),
                                   proto=PNAMES[kind]), ast.QERR
            if after == "[":
                return self.parse_relation(), ast.QERR
            self.next()
            return ast.ProtoAbbrev(PNAMES[kind], tok.span), ast.QERR
        if kind in DIRS or kind in AQUALS or kind in NDAQUALS:
            return self.parse_head_id()
        if kind in ("BROADCAST", "MULTICAST"):
            self.next()
            return ast.Special(kind.lower(), tok.span), ast.QERR
        other = self.parse_other()
        if other is not None:
            return other, ast.QERR
        return self.parse_relation(), ast.QERR

    def parse_head_id(self):
        # grammar: head := [pname] (dqual [aqual] | aqual | "proto" | "protochain")
        # grammar: dqual := src | dst | src or dst | dst or src | src and dst | dst and src
        #                 | addr1 | addr2 | addr3 | addr4 | ra | ta
        start = self.peek().start
        proto = direction = addr = None
        if self.peek().kind in PNAMES:
            proto = PNAMES[self.next().kind]
        if self.peek().kind in DIRS:
            first = self.next().kind
            direction = DIRS[first]
            if (first in ("SRC", "DST") and self.peek().kind in ("AND", "OR")
                    and self.peek(1).kind in ("SRC", "DST") and self.peek(1).kind != first):
                conj = self.next().kind
                self.next()
                direction = "src or dst" if conj == "OR" else "src and dst"
            if self.peek().kind in AQUALS:
                addr = AQUALS[self.next().kind]
        elif self.peek().kind in AQUALS:
            addr = AQUALS[self.next().kind]
        elif self.peek().kind in NDAQUALS:
            addr = NDAQUALS[self.next().kind]
        else:
            self.fail()
        qual = ast.Qual(proto, direction, addr, False, self.span_from(start))
        node = self.parse_id(qual)
        return node, qual

    def parse_id(self, qual: ast.Qual):
        # grammar: id := nid | pnum | "(" pid ")"
        # grammar: nid := ID | HID "/" NUM | HID "mask" HID | HID | HID6 "/" NUM | HID6 | EID
        #               | AID | ("not" | "!") id
        tok = self.peek()
        if tok.kind in ("NOT", "!"):
            self.next()
            operand = self.parse_id(qual)
            return ast.Not(operand, self.span_from(tok.start))
        if tok.kind == "(":
            if self.paren_is_pnum(self.pos):
                return self.parse_pnum_id(qual)
            self.next()
            node = self.parse_pid(qual)
            self.expect(")")
            return node
        if tok.kind == "NUM":
            self.next()
            return ast.Id("num", tok.value, qual, tok.span)
        if tok.kind == "HID":
            self.next()
            if self.peek().kind == "/" and self.peek(1).kind == "NUM":
                self.next()
                length = self.next()
                return ast.Id("hid_len", tok.value, qual, self.span_from(tok.start), length.value)
            if self.peek().kind == "NETMASK" and self.peek(1).kind == "HID":
                self.next()
                mask = self.next()
                return ast.Id("hid_mask", tok.value, qual, self.span_from(tok.start), mask.value)
            return ast.Id("hid", tok.value, qual, tok.span)
        if tok.kind == "HID6":
            self.next()
            if self.peek().kind == "/" and self.peek(1).kind == "NUM":
                self.next()
                length = self.next()
                return ast.Id("hid6_len", tok.value, qual, self.span_from(tok.start),
                              length.value)
            return ast.Id("hid6", tok.value, qual, tok.span)
        if tok.kind in ("ID", "EID", "AID"):
            self.next()
            return ast.Id({"ID": "name", "EID": "eid", "AID": "aid"}[tok.kind], tok.value, qual,
                          tok.span)
        self.fail()

    def parse_pnum_id(self, qual):
        start = self.peek().start
        value = self.parse_pnum()
        return ast.Id("num", value, qual, self.span_from(start))

    def parse_pid(self, qual: ast.Qual):
        # grammar: pid := (nid | pnum) { ("and" | "or") id }
        start = self.peek().start
        tok = self.peek()
        if tok.kind == "(" and not self.paren_is_pnum(self.pos):
            self.fail()
        node = self.parse_id(qual)
        while self.peek().kind in ("AND", "OR"):
            op = self.next().kind
            right = self.parse_id(qual)
            cls = ast.And if op == "AND" else ast.Or
            node = cls(node, right, self.span_from(start))
        return node

    def parse_pnum(self) -> int:
        # grammar: pnum := NUM | "(" pnum ")"
        if self.peek().kind == "(":
            self.next()
            value = self.parse_pnum()
            self.expect(")")
            return value
        return self.expect("NUM").value

    def parse_other(self):
        # grammar: other := less NUM | greater NUM | inbound | outbound | ifindex NUM | byte ...
        #                 | vlan [pnum] | mpls [pnum] | pppoed | pppoes [pnum] | geneve [pnum]
        #                 | vxlan [pnum] | llc [ID | rnr]     (vxlan: libpcap 1.11, not 1.10)
        tok = self.peek()
        kind = tok.kind
        if kind in ("LESS", "GREATER", "IFINDEX"):
            self.next()
            num = self.expect("NUM")
            return ast.Special(kind.lower(), self.span_from(tok.start), num.value,
                               arg_span=num.span)
        if kind == "CBYTE":
            # grammar: other := ... | byte NUM byteop NUM      byteop := & | "|" | < | > | = | ==
            self.next()
            index = self.expect("NUM")
            op = self.next()
            if op.kind not in ("&", "|", "<", ">", "=", "=="):
                self.fail(op)
            value = self.expect("NUM")
            return ast.Special("byte", self.span_from(tok.start), (index.value, op.kind[0],
                                                                   value.value),
                               arg_span=value.span)
        if kind in ("INBOUND", "OUTBOUND", "PPPOED"):
            self.next()
            return ast.Special(kind.lower(), tok.span)
        if kind in OPTIONAL_NUM:
            self.next()
            arg = arg_span = None
            if self.peek().kind == "NUM" or (self.peek().kind == "(" and
                                             self.paren_is_pnum(self.pos)):
                arg_start = self.peek().start
                arg = self.parse_pnum()
                arg_span = self.span_from(arg_start)
            return ast.Special(OPTIONAL_NUM[kind], self.span_from(tok.start), arg,
                               arg_span=arg_span)
        if kind == "LLC":
            self.next()
            arg = arg_span = None
            if self.peek().kind in ("ID", "PF_RNR"):
                sub = self.next()
                arg, arg_span = sub.text if sub.kind == "PF_RNR" else sub.value, sub.span
            return ast.Special("llc", self.span_from(tok.start), arg, arg_span=arg_span)
        if kind in FOREIGN_WITH_ARG:
            self.next()
            if self.peek().kind not in ("NUM", "ID"):
                self.fail()
            arg = self.next()
            if kind == "TYPE" and self.peek().kind == "SUBTYPE":
                self.next()
                if self.peek().kind not in ("NUM", "ID"):
                    self.fail()
                self.next()
            return ast.Special(FOREIGN_WITH_ARG[kind], self.span_from(tok.start), arg.value,
                               arg_span=arg.span)
        if kind in FOREIGN_BARE:
            self.next()
            return ast.Special(FOREIGN_BARE[kind], tok.span)
        return None

    # -- arithmetic -----------------------------------------------------------------------
    def parse_relation(self):
        # grammar: relation := arth relop arth
        # grammar: relop := ">" | ">=" | "=" | "==" | "<" | "<=" | "!="
        start = self.peek().start
        left = self.parse_arith()
        tok = self.peek()
        if tok.kind not in RELOPS:
            self.fail()
        self.next()
        right = self.parse_arith()
        return ast.Relation(RELOPS[tok.kind], left, right, self.span_from(start))

    _LEVELS = (("|",), ("&",), ("<<", ">>"), ("+", "-"), ("*", "/"))

    def parse_arith(self, level: int = 0):
        # grammar: arth := arth ("|" | "&" | "<<" | ">>" | "+" | "-" | "*" | "/" | "%") arth
        #                | "-" arth | atom [("^" | "%") arth]   (libpcap 1.10's yacc grammar gives
        #                                        "^" and "%" no precedence: they take everything
        #                                        to their right)
        if level == len(self._LEVELS):
            return self.parse_unary()
        start = self.peek().start
        node = self.parse_arith(level + 1)
        while self.peek().kind in self._LEVELS[level]:
            op = self.next().kind
            right = self.parse_arith(level + 1)
            node = ast.BinOp(op, node, right, self.span_from(start))
        return node

    def parse_unary(self):
        tok = self.peek()
        if tok.kind == "-":
            self.next()
            operand = self.parse_unary()
            return ast.Neg(operand, self.span_from(tok.start))
        node = self.parse_atom()
        if self.peek().kind in ("^", "%"):
            op = self.next().kind
            right = self.parse_arith()
            node = ast.BinOp(op, node, right, self.span_from(tok.start))
        return node

    def parse_atom(self):
        # grammar: atom := NUM | len | pname "[" arth [":" NUM] "]" | "(" arth ")"
        tok = self.peek()
        if tok.kind == "NUM":
            self.next()
            return ast.Num(tok.value, tok.span)
        if tok.kind == "LEN":
            self.next()
            return ast.Len(tok.span)
        if tok.kind == "(":
            self.next()
            node = self.parse_arith()
            self.expect(")")
            return node
        if tok.kind in PNAMES and self.peek(1).kind == "[":
            self.next()
            self.next()
            index = self.parse_arith()
            size, size_span = 1, None
            if self.peek().kind == ":":
                self.next()
                num = self.expect("NUM")
                size, size_span = num.value, num.span
            self.expect("]")
            return ast.Index(PNAMES[tok.kind], index, size, self.span_from(tok.start), size_span)
        self.fail()

    # -- lookahead ------------------------------------------------------------------------
    def _skip_parens_num(self, pos: int) -> int | None:
        """If tokens at ``pos`` are ``( ( NUM ) )``, the position after them, else None."""
        depth = 0
        while self.tokens[pos].kind == "(":
            depth += 1
            pos += 1
        if self.tokens[pos].kind != "NUM":
            return None
        pos += 1
        for _ in range(depth):
            if self.tokens[pos].kind != ")":
                return None
            pos += 1
        return pos

    def paren_is_pnum(self, pos: int) -> bool:
        end = self._skip_parens_num(pos)
        return end is not None and self.tokens[end].kind not in ARITH_OPS | set(RELOPS)

    def paren_is_arith(self, pos: int) -> bool:
        """Does the "(" at ``pos`` open an arithmetic operand (``(1) = 1``, ``(len + 1) > 2``)?"""
        depth = 0
        i = pos
        while i < len(self.tokens):
            kind = self.tokens[i].kind
            if kind == "(":
                depth += 1
            elif kind == ")":
                depth -= 1
                if depth == 0:
                    nxt = self.tokens[i + 1].kind
                    return nxt in ARITH_OPS or nxt in RELOPS
            elif kind in ("AND", "OR", "NOT", "!", "EOF"):
                return False
            i += 1
        return False

    def starts_id(self, pos: int) -> bool:
        """After and/or: does an id (rather than a term) start at ``pos``?"""
        while self.tokens[pos].kind in ("NOT", "!"):
            pos += 1
        kind = self.tokens[pos].kind
        if kind in ID_KINDS:
            return True
        if kind in ("NUM", "("):
            end = self._skip_parens_num(pos)
            if end is not None:
                return self.tokens[end].kind not in ARITH_OPS | set(RELOPS)
            if kind == "(":
                inner = pos + 1
                opened = 1
                while self.tokens[inner].kind in ("NOT", "!", "("):
                    opened = opened + 1 if self.tokens[inner].kind == "(" else 0
                    inner += 1
                if self.tokens[inner].kind in ID_KINDS:
                    return True
                if self.tokens[inner].kind == "NUM":
                    # a (parenthesised) number opening "( pid )" is followed by and/or
                    j, closed = inner + 1, 0
                    while closed < opened - 1 and self.tokens[j].kind == ")":
                        j, closed = j + 1, closed + 1
                    return self.tokens[j].kind in ("AND", "OR")
        return False
