"""filterlang.lexer: token kinds and values (libpcap scanner.l rules: longest match, then
classify; lower-case keywords; 0x hex / leading-0 octal numbers wrapping at 32 bits)."""
import pytest

from filterlang import FilterError
from filterlang.lexer import parse_number, tokenize

CASES = [
    ("tcp port 80", [("TCP", "tcp"), ("PORT", "port"), ("NUM", 80)]),
    ("len-1 > 0", [("ID", "len-1"), (">", ">"), ("NUM", 0)]),
    ("len - 1", [("LEN", "len"), ("-", "-"), ("NUM", 1)]),
    ("TCP", [("ID", "TCP")]),
    ("\\tcp", [("ID", "tcp")]),
    ("0x1F 010 0377", [("NUM", 31), ("NUM", 8), ("NUM", 255)]),
    ("4294967295", [("NUM", 0xFFFFFFFF)]),
    ("net 10.1/16", [("NET", "net"), ("HID", "10.1"), ("/", "/"), ("NUM", 16)]),
    ("host ::1", [("HOST", "host"), ("HID6", "::1")]),
    ("fe80::1/64", [("HID6", "fe80::1"), ("/", "/"), ("NUM", 64)]),
    ("::ffff:1.2.3.4", [("HID6", "::ffff:1.2.3.4")]),
    ("ip[14:2]", [("IP", "ip"), ("[", "["), ("NUM", 14), (":", ":"), ("NUM", 2), ("]", "]")]),
    ("1:2:3:4:5:6", [("EID", "1:2:3:4:5:6")]),
    ("ab-cd-ef-00-00-02", [("EID", "ab-cd-ef-00-00-02")]),
    ("abcd.ef00.0003", [("EID", "abcd.ef00.0003")]),
    ("abcdef000003", [("EID", "abcdef000003")]),
    ("portrange 1-5", [("PORTRANGE", "portrange"), ("ID", "1-5")]),
    ("tcp[tcpflags] & tcp-syn", [("TCP", "tcp"), ("[", "["), ("NUM", 13), ("]", "]"),
                                 ("&", "&"), ("NUM", 2)]),
    ("icmp6-echo icmp-unreach", [("NUM", 128), ("NUM", 3)]),
    ("a&&b||!c", [("ID", "a"), ("AND", "&&"), ("ID", "b"), ("OR", "||"), ("!", "!"),
                  ("ID", "c")]),
    ("x >= 1 <= 2 != 3 == 4 << 5 >> 6", [("ID", "x"), (">=", ">="), ("NUM", 1), ("<=", "<="),
                                         ("NUM", 2), ("!=", "!="), ("NUM", 3), ("==", "=="),
                                         ("NUM", 4), ("<<", "<<"), ("NUM", 5), (">>", ">>"),
                                         ("NUM", 6)]),
    ("ether src es-is", [("LINK", "ether"), ("SRC", "src"), ("ESIS", "es-is")]),
]


@pytest.mark.parametrize("expr, expected", CASES, ids=[c[0] for c in CASES])
def test_tokens(expr, expected):
    tokens = tokenize(expr)
    assert tokens[-1].kind == "EOF"
    assert [(t.kind, t.value) for t in tokens[:-1]] == expected


def test_offsets_point_into_the_text():
    expr = "  tcp   port\t80 "
    for tok in tokenize(expr)[:-1]:
        assert expr[tok.start:tok.end] == tok.text


@pytest.mark.parametrize("expr, column", [("tcp @ 1", 4), ("host a;b", 6), ("`", 0)], ids=str)
def test_bad_character(expr, column):
    with pytest.raises(FilterError) as err:
        tokenize(expr)
    assert err.value.span[0] == column
    assert "syntax error" in err.value.message


@pytest.mark.parametrize("text, value", [("0", 0), ("0x0", 0), ("0XfF", 255), ("0777", 511),
                                         ("4294967295", 0xFFFFFFFF), ("0xffffffff", 0xFFFFFFFF),
                                         ("037777777777", 0xFFFFFFFF)], ids=str)
def test_numbers(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("expr, message", [
    ("4294967296 = 0", "decimal number 4294967296 overflows 32 bits"),
    ("len = 0x100000000", "hexadecimal number 0x100000000 overflows 32 bits"),
    ("len = 0040000000000", "octal number 0040000000000 overflows 32 bits"),
    ("len = 08", "number 08 contains non-octal digit"),
], ids=str)
def test_bad_numbers_point_at_the_number(expr, message):
    with pytest.raises(FilterError) as err:
        tokenize(expr)
    assert err.value.message == message
    start, end = err.value.span
    assert expr[start:end] in message.split()
