"""Tokens of the pcap-filter language, with the offsets they came from.

Like libpcap's scanner, a word is matched as far as it goes (longest match) and only then
classified: ``len-1`` is one name, not ``len`` ``-`` ``1``; keywords are lower-case only.
"""
from __future__ import annotations

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
_ID_CHARS = _ALNUM | {"-", "_", "."}
_HID6_CHARS = _HEXDIGITS | {":", "."}
# Token shapes as regular expressions (the definition; AID, ESC and a possible EID are matched
# with them). The common shapes are also scanned by hand below with exactly these semantics:
# compiling the expressions cost every filter ~2 ms of start-up.
_REGEX = {
    "EID": rf"{_HEX2}(?::{_HEX2}){{5}}|{_HEX2}(?:-{_HEX2}){{5}}|{_HEX2}(?:\.{_HEX2}){{5}}"
           rf"|{_HEX4}\.{_HEX4}\.{_HEX4}|[0-9A-Fa-f]{{12}}",
    "HID6": r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*",
    "HID": r"[0-9]+(?:\.[0-9]+){1,3}",
    "AID": r"\$[0-9A-Fa-f]+",
    "NUM": r"0[xX][0-9A-Fa-f]+|[0-9]+",
    "ID": r"[A-Za-z0-9](?:[-_.A-Za-z0-9]*[.A-Za-z0-9])?",
    "ESC": r"\\[^ !()\n\t]+",
}
_COMPILED: dict = {}


def _regex_end(kind: str, expr: str, pos: int) -> int | None:
    """Where _REGEX[kind] matching at pos ends (None: no match)."""
    pattern = _COMPILED.get(kind)
    if pattern is None:
        import re
        pattern = _COMPILED[kind] = re.compile(_REGEX[kind])
    m = pattern.match(expr, pos)
    return None if m is None else m.end()


def _run_end(expr: str, pos: int, chars) -> int:
    """The end of the run of ``chars`` starting at pos."""
    n = len(expr)
    while pos < n and expr[pos] in chars:
        pos += 1
    return pos


def _eid_end(expr: str, pos: int) -> int | None:
    # each alternative needs five like separators within 17 characters, dots at +4 and +9, or
    # twelve hex digits: without any of these the expression cannot match
    window = expr[pos:pos + 17]
    if (window.count(":") >= 5 or window.count("-") >= 5 or window.count(".") >= 5
            or (expr[pos + 4:pos + 5] == "." and expr[pos + 9:pos + 10] == ".")
            or _run_end(expr, pos, _HEXDIGITS) - pos >= 12):
        return _regex_end("EID", expr, pos)
    return None


def _hid6_end(expr: str, pos: int) -> int | None:
    # the whole run of [0-9A-Fa-f:.], provided it holds a colon
    end = _run_end(expr, pos, _HID6_CHARS)
    return end if ":" in expr[pos:end] else None


def _hid_end(expr: str, pos: int) -> int | None:
    # digits, then one to three of "." and digits
    end = _run_end(expr, pos, _DIGITS)
    if end == pos:
        return None
    groups = 0
    while groups < 3 and expr[end:end + 1] == "." and expr[end + 1:end + 2] in _DIGITS \
            and expr[end + 1:end + 2]:
        end = _run_end(expr, end + 1, _DIGITS)
        groups += 1
    return end if groups else None


def _num_end(expr: str, pos: int) -> int | None:
    # 0x and hex digits when there is at least one, else decimal digits (first alternative
    # first, as the regular expression tries them)
    if expr[pos:pos + 1] == "0" and expr[pos + 1:pos + 2] in ("x", "X") \
            and expr[pos + 2:pos + 3] and expr[pos + 2:pos + 3] in _HEXDIGITS:
        return _run_end(expr, pos + 2, _HEXDIGITS)
    end = _run_end(expr, pos, _DIGITS)
    return end if end > pos else None


def _id_end(expr: str, pos: int) -> int | None:
    # an alphanumeric character, then the run of [-_.A-Za-z0-9] up to its last character that
    # is not - or _
    if expr[pos:pos + 1] not in _ALNUM or not expr[pos:pos + 1]:
        return None
    end = _run_end(expr, pos + 1, _ID_CHARS)
    while end > pos + 1 and expr[end - 1] in "-_":
        end -= 1
    return end


# (kind, the characters a match can start with, where a match at pos ends or None); longest
# match wins, earlier row on a tie.
_SCANNERS = [
    ("EID", _HEXDIGITS, _eid_end),
    ("HID6", _HEXDIGITS | {":", "."}, _hid6_end),
    ("HID", _DIGITS, _hid_end),
    ("AID", {"$"}, lambda expr, pos: _regex_end("AID", expr, pos)),
    ("NUM", _DIGITS, _num_end),
    ("ID", _ALNUM, _id_end),
    ("ESC", {"\\"}, lambda expr, pos: _regex_end("ESC", expr, pos)),
]


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
        for kind, starts, scan in _SCANNERS:
            if first not in starts:
                continue
            end = scan(expr, pos)
            if end is not None and end > pos and (best is None or end > best[1]):
                if kind == "HID6" and not _is_ipv6(expr[pos:end]):
                    continue
                best = (kind, end)
        op = next((o for o in _OPERATORS if expr.startswith(o, pos)), None)
        if best is not None and (op is None or best[1] - pos > len(op)):
            kind, end = best
            tokens.append(_classify(expr, kind, expr[pos:end], pos, end))
            pos = end
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
