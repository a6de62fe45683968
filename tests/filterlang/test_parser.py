"""filterlang.parser: tree shapes (precedence, qualifier inheritance, spans) and syntax
acceptance against libpcap 1.10 (the system library)."""
import pytest

import filterlang
from filterlang import FilterError, ast
from filterlang.parser import parse
from tests.filterlang.test_differential_oracle import OracleError, libpcap_compile


def shape(node):
    """A compact text form of a tree: and/or/not nesting, ids with their qualifiers."""
    if isinstance(node, ast.And):
        return f"({shape(node.left)} & {shape(node.right)})"
    if isinstance(node, ast.Or):
        return f"({shape(node.left)} | {shape(node.right)})"
    if isinstance(node, ast.Not):
        return f"!{shape(node.operand)}"
    if isinstance(node, ast.Id):
        q = node.qual
        quals = "ERR" if q.error else ",".join(str(x) for x in (q.proto, q.dir, q.addr) if x)
        return f"{node.value}[{quals}]"
    if isinstance(node, ast.ProtoAbbrev):
        return node.name
    if isinstance(node, ast.Special):
        return node.kind
    if isinstance(node, ast.Relation):
        return f"rel{node.op}"
    return type(node).__name__


SHAPES = [
    ("host a or b", "(a[host] | b[host])"),
    ("host a or not b", "(a[host] | !b[host])"),
    ("tcp port 80 or 443 and host c", "((80[tcp,port] | 443[tcp,port]) & c[host])"),
    ("ip or tcp and udp", "((ip | tcp) & udp)"),
    ("not tcp or udp", "(!tcp | udp)"),
    ("src or dst host x", "x[src or dst,host]"),
    ("dst and src net 10", "10[src and dst,net]"),
    ("ether src a and b", "(a[link,src] & b[link,src])"),
    ("port 1 or (2 or (3))", "(1[port] | (2[port] | 3[port]))"),
    ("tcp or 80", "(tcp | 80[ERR])"),
    ("(host a or b) and c", "((a[host] | b[host]) & c[ERR])"),
    ("host a and (pim) or b", "((a[host] & pim) | b[host])"),
    ("tcp or (udp) or 80", "((tcp | udp) | 80[ERR])"),
    ("vlan 10 and llc rnr", "(vlan & llc)"),
    ("ip broadcast or multicast", "(broadcast | multicast)"),
    ("len + 1 > 2 && !ip", "(rel> & !ip)"),
]


@pytest.mark.parametrize("expr, expected", SHAPES, ids=[s[0] for s in SHAPES])
def test_shape(expr, expected):
    assert shape(parse(expr)) == expected


def arith(node):
    if isinstance(node, ast.BinOp):
        return f"({arith(node.left)}{node.op}{arith(node.right)})"
    if isinstance(node, ast.Neg):
        return f"-{arith(node.operand)}"
    if isinstance(node, ast.Num):
        return str(node.value)
    if isinstance(node, ast.Len):
        return "len"
    if isinstance(node, ast.Index):
        return f"{node.proto}[{arith(node.index)}:{node.size}]"
    raise TypeError(node)


ARITH = [
    ("1 + 2 * 3 = 7", "(1+(2*3))"),
    ("1 - 2 - 3 = 0", "((1-2)-3)"),
    ("1 | 2 & 3 = 0", "(1|(2&3))"),
    ("1 << 2 + 3 = 0", "(1<<(2+3))"),
    ("1 ^ 2 + 1 = 0", "(1^(2+1))"),        # yacc: '^' has no precedence, shift wins
    ("2 * 3 ^ 1 = 0", "(2*(3^1))"),
    ("2 * 5 % 3 = 0", "(2*(5%3))"),
    ("5 % 3 + 1 = 0", "(5%(3+1))"),
    ("7 % 4 % 2 = 0", "(7%(4%2))"),
    ("-1 * 2 = 0", "(-1*2)"),
    ("ip[2:2] + 1 = 0", "(ip[2:2]+1)"),
    ("tcp[tcp[0] & 3] = 0", "tcp[(tcp[0:1]&3):1]"),
]


@pytest.mark.parametrize("expr, expected", ARITH, ids=[a[0] for a in ARITH])
def test_arithmetic(expr, expected):
    assert arith(parse(expr).left) == expected


def test_spans_cover_their_text():
    expr = "tcp port 80 or host 10.0.0.1 and ip[2:2] > len"
    tree = parse(expr)
    assert tree.span == (0, len(expr))
    assert expr[slice(*tree.right.span)] == "ip[2:2] > len"
    assert expr[slice(*tree.left.right.span)] == "10.0.0.1"
    assert expr[slice(*tree.left.right.qual.span)] == "host"


def test_empty_expression():
    assert parse("") is None
    assert parse("   ") is None


SYNTAX = ["80", "1.2.3.4", "TCP", "\\tcp", "not 1.2.3.4", "tcp or or udp", "host", "port",
          "ip[", "ip[1", "(tcp", "tcp)", "len", "1 = 1 = 1", "less", "less 10 or 5",
          "src", "dst port", "portrange 5-", "proto tcp", "ip proto tcp", "ether proto ip",
          "host fe80::1%eth0", "ether host 0:1:2:3:4:5z", "port 1 or ((2 or 3) or 4)",
          "llc 5", "vlan vlan", "ip and (1)", "mpls (1)", "pppoes ((7))", "! ! ip", "not not tcp",
          "ip6 and !icmp6 || (tcp && port 22)", "byte 3 = 4", "byte 3 ! 4", "host a and not (b)"]


@pytest.mark.parametrize("expr", SYNTAX)
def test_syntax_decision_matches_libpcap(expr):
    try:
        libpcap_compile(expr, "EN10MB")
        libpcap_ok = True
    except OracleError as exc:
        libpcap_ok = "syntax error" not in str(exc)
    try:
        filterlang.compile(expr, "EN10MB", optimize=False)
        ours_ok = True
    except FilterError as exc:
        ours_ok = "syntax error" not in exc.message
        assert exc.expr == expr and exc.span is not None
    assert ours_ok == libpcap_ok
