"""Tokens of the pcap-filter language, with the offsets they came from.

Like libpcap's scanner, a word is matched as far as it goes (longest match) and only then
classified: ``len-1`` is one name, not ``len`` ``-`` ``1``; keywords are lower-case only.
"""
from __future__ import annotations

import re

from .errors import FilterError
from .record import record

KEYWORDS = {
    "dst": "DST", "src": "SRC",
    "link": "LINK", "ether": "LINK", "ppp": "LINK", "slip": "LINK", "fddi": "LINK", "tr": "LINK",
    "wlan": "LINK",
    "arp": "ARP", "rarp": "RARP", "ip": "IP", "sctp": "SCTP", "tcp": "TCP", "udp": "UDP",
    "icmp": "ICMP", "igmp": "IGMP", "igrp": "IGRP", "pim": "PIM", "vrrp": "VRRP", "carp": "CARP",
    "radio": "RADIO", "ip6": "IPV6", "icmp6": "ICMPV6", "ah": "AH", "esp": "ESP",
    "atalk": "ATALK", "aarp": "AARP", "decnet": "DECNET", "lat": "LAT", "sca": "SCA",
    "moprc": "MOPRC", "mopdl": "MOPDL", "iso": "ISO", "esis": "ESIS", "es-is": "ESIS",
    "isis": "ISIS", "is-is": "ISIS", "l1": "L1", "l2": "L2", "iih": "IIH", "lsp": "LSP",
    "snp": "SNP", "csnp": "CSNP", "psnp": "PSNP", "clnp": "CLNP", "stp": "STP", "ipx": "IPX",
    "netbeui": "NETBEUI",
    "host": "HOST", "net": "NET", "mask": "NETMASK", "port": "PORT", "portrange": "PORTRANGE",
    "proto": "PROTO", "protochain": "PROTOCHAIN", "gateway": "GATEWAY",
    "type": "TYPE", "subtype": "SUBTYPE", "direction": "DIR", "dir": "DIR",
    "address1": "ADDR1", "addr1": "ADDR1", "address2": "ADDR2", "addr2": "ADDR2",
    "address3": "ADDR3", "addr3": "ADDR3", "address4": "ADDR4", "addr4": "ADDR4",
    "ra": "RA", "ta": "TA",
    "less": "LESS", "greater": "GREATER", "byte": "CBYTE", "broadcast": "BROADCAST",
    "multicast": "MULTICAST", "and": "AND", "or": "OR", "not": "NOT", "len": "LEN",
    "length": "LEN", "inbound": "INBOUND", "outbound": "OUTBOUND", "ifindex": "IFINDEX",
    "vlan": "VLAN", "mpls": "MPLS", "pppoed": "PPPOED", "pppoes": "PPPOES", "geneve": "GENEVE",
    "vxlan": "VXLAN",
    "lane": "LANE", "llc": "LLC", "metac": "METAC", "bcc": "BCC",
    "oam": "OAM", "oamf4": "OAMF4", "oamf4ec": "OAMF4EC", "oamf4sc": "OAMF4SC", "sc": "SC",
    "ilmic": "ILMIC", "vpi": "VPI", "vci": "VCI", "connectmsg": "CONNECTMSG",
    "metaconnect": "METACONNECT", "on": "PF_IFNAME", "ifname": "PF_IFNAME",
    "rset": "PF_RSET", "ruleset": "PF_RSET", "rnr": "PF_RNR", "rulenum": "PF_RNR",
    "srnr": "PF_SRNR", "subrulenum": "PF_SRNR", "reason": "PF_REASON", "action": "PF_ACTION",
    "fisu": "FISU", "lssu": "LSSU", "lsu": "LSSU", "msu": "MSU", "hfisu": "HFISU",
    "hlssu": "HLSSU", "hmsu": "HMSU", "sio": "SIO", "opc": "OPC", "dpc": "DPC", "sls": "SLS",
    "hsio": "HSIO", "hopc": "HOPC", "hdpc": "HDPC", "hsls": "HSLS",
}

# Names the scanner turns into numbers (offsets and values for protocol header fields).
NAMED_NUMBERS = {
    "icmptype": 0, "icmpcode": 1,
    "icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4, "icmp-redirect": 5,
    "icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10, "icmp-timxceed": 11,
    "icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
    "icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
    "icmp6type": 0, "icmp6code": 1,
    "icmp6-destinationunreach": 1, "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3,
    "icmp6-parameterproblem": 4,
    "icmp6-echo": 128, "icmp6-echoreply": 129, "icmp6-multicastlistenerquery": 130,
    "icmp6-multicastlistenerreportv1": 131, "icmp6-multicastlistenerdone": 132,
    "icmp6-routersolicit": 133, "icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135,
    "icmp6-neighboradvert": 136, "icmp6-redirect": 137, "icmp6-routerrenum": 138,
    "icmp6-nodeinformationquery": 139, "icmp6-nodeinformationresponse": 140,
    "icmp6-ineighbordiscoverysolicit": 141, "icmp6-ineighbordiscoveryadvert": 142,
    "icmp6-multicastlistenerreportv2": 143, "icmp6-homeagentdiscoveryrequest": 144,
    "icmp6-homeagentdiscoveryreply": 145, "icmp6-mobileprefixsolicit": 146,
    "icmp6-mobileprefixadvert": 147, "icmp6-certpathsolicit": 148,
    "icmp6-certpathadvert": 149, "icmp6-multicastrouteradvert": 151,
    "icmp6-multicastroutersolicit": 152, "icmp6-multicastrouterterm": 153,
    "tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
    "tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
}


@record
class Token:
    """``kind`` is a keyword kind, "NUM", "ID", "HID", "HID6", "EID", "AID", "EOF" or the
    operator text itself ("(", ">=", "&&" ...). ``value`` is the number for NUM and the text
    (backslash removed) for names and addresses."""
    kind: str
    text: str
    value: object
    start: int
    end: int

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)


_HEX2 = r"[0-9A-Fa-f][0-9A-Fa-f]?"
_HEX4 = r"[0-9A-Fa-f]{4}"
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# (kind, the characters a match can start with, regex); longest match wins, earlier row on a
# tie. A pattern is compiled the first time a token could start with it ("tcp" needs only ID).
_PATTERNS = [
    ("EID", _HEXDIGITS,
     rf"{_HEX2}(?::{_HEX2}){{5}}|{_HEX2}(?:-{_HEX2}){{5}}|{_HEX2}(?:\.{_HEX2}){{5}}"
     rf"|{_HEX4}\.{_HEX4}\.{_HEX4}|[0-9A-Fa-f]{{12}}"),
    ("HID6", _HEXDIGITS | {":", "."}, r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*"),
    ("HID", _DIGITS, r"[0-9]+(?:\.[0-9]+){1,3}"),
    ("AID", {"$"}, r"\$[0-9A-Fa-f]+"),
    ("NUM", _DIGITS, r"0[xX][0-9A-Fa-f]+|[0-9]+"),
    ("ID", _ALNUM, r"[A-Za-z0-9](?:[-_.A-Za-z0-9]*[.A-Za-z0-9])?"),
    ("ESC", {"\\"}, r"\\[^ !()\n\t]+"),
]
_COMPILED: dict[str, re.Pattern] = {}


def _match(kind: str, text: str, expr: str, pos: int):
    pattern = _COMPILED.get(kind)
    if pattern is None:
        pattern = _COMPILED[kind] = re.compile(text)
    return pattern.match(expr, pos)


_OPERATORS = ("&&", "||", ">=", "<=", "!=", "==", "<<", ">>",
              "(", ")", "[", "]", ":", "!", ">", "<", "=", "+", "-", "*", "/", "%", "&", "|",
              "^")
_OP_KIND = {"&&": "AND", "||": "OR"}
_SPACE = " \t\r\n"


def parse_number(text: str) -> int:
    """A number as libpcap 1.10 reads it: 0x hex, leading-0 octal, else decimal; raises
    ValueError (libpcap's message) past 32 bits or for 8/9 in an octal number."""
    if text[:2] in ("0x", "0X"):
        value, what = int(text[2:], 16), "hexadecimal"
    elif len(text) > 1 and text[0] == "0":
        value = 0
        for ch in text:
            if ch in "89":
                raise ValueError(f"number {text} contains non-octal digit")
            value = value * 8 + int(ch)
            if value > 0xFFFFFFFF:
                raise ValueError(f"octal number {text} overflows 32 bits")
        return value
    else:
        value, what = int(text), "decimal"
    if value > 0xFFFFFFFF:
        raise ValueError(f"{what} number {text} overflows 32 bits")
    return value


def tokenize(expr: str) -> list[Token]:
    """Split ``expr`` into tokens; the list ends with an EOF token."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(expr):
        first = expr[pos]
        if first in _SPACE:
            pos += 1
            continue
        best = None
        for kind, starts, text in _PATTERNS:
            if first not in starts:
                continue
            m = _match(kind, text, expr, pos)
            if m and m.end() > pos and (best is None or m.end() > best[1].end()):
                if kind == "HID6" and not _is_ipv6(m.group()):
                    continue
                best = (kind, m)
        op = next((o for o in _OPERATORS if expr.startswith(o, pos)), None)
        if best is not None and (op is None or best[1].end() - pos > len(op)):
            kind, m = best
            text = m.group()
            tokens.append(_classify(expr, kind, text, pos, m.end()))
            pos = m.end()
            continue
        if op is not None:
            tokens.append(Token(_OP_KIND.get(op, op), op, op, pos, pos + len(op)))
            pos += len(op)
            continue
        raise FilterError("can't parse filter expression: syntax error", expr, (pos, pos + 1))
    tokens.append(Token("EOF", "", None, len(expr), len(expr)))
    return tokens


def _is_ipv6(text: str) -> bool:
    import ipaddress
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _classify(expr: str, kind: str, text: str, start: int, end: int) -> Token:
    if kind == "ESC":
        return Token("ID", text, text[1:], start, end)
    if kind == "NUM":
        try:
            return Token("NUM", text, parse_number(text), start, end)
        except ValueError as exc:
            raise FilterError(str(exc), expr, (start, end)) from None
    if kind == "ID":
        if text in KEYWORDS:
            return Token(KEYWORDS[text], text, text, start, end)
        if text in NAMED_NUMBERS:
            return Token("NUM", text, NAMED_NUMBERS[text], start, end)
    return Token(kind, text, text, start, end)
