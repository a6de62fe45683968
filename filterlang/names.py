"""Name lookups for filter expressions, with libpcap 1.10's rules (nametoaddr.c on glibc).

Each ``resolve_*`` function raises ``LookupError`` when the name is unknown. The databases are
read from the module-level paths below (tests point them elsewhere, or pass ``path=``):

- hosts:      ``HOSTS_PATH`` first, then the system resolver (``getaddrinfo``, any family);
- networks:   ``NETWORKS_PATH`` as glibc's ``getnetbyname`` reads it (names case-insensitive,
  the number padded to four parts, then ``inet_network``); 0 counts as unknown, as in libpcap;
- ethers:     ``ETHERS_PATH`` as glibc's ``ether_hostton`` reads it (names case-insensitive);
- protocols:  ``PROTOCOLS_PATH`` (``getprotobyname``: name or alias, case-sensitive);
- services:   ``SERVICES_PATH`` (``getaddrinfo(NULL, name)`` for TCP then for UDP, as
  ``pcap_nametoport`` does; a decimal string is a port number for both).

libpcap's built-in tables are here too: Ethernet protocol names (``resolve_eproto``) and LLC SAP
names (``resolve_llc``).
"""
from __future__ import annotations

import ipaddress
import re
import socket

HOSTS_PATH = "/etc/hosts"
NETWORKS_PATH = "/etc/networks"
ETHERS_PATH = "/etc/ethers"
PROTOCOLS_PATH = "/etc/protocols"
SERVICES_PATH = "/etc/services"

IPPROTO_TCP = 6
IPPROTO_UDP = 17

# libpcap 1.10's eproto_db: names accepted after "ether proto \" ("aarp" is not one).
ETHER_PROTOCOLS = {
    "arp": 0x0806,
    "atalk": 0x809B,
    "decnet": 0x6003,
    "ip": 0x0800,
    "ip6": 0x86DD,
    "lat": 0x6004,
    "loopback": 0x9000,
    "mopdl": 0x6001,
    "moprc": 0x6002,
    "rarp": 0x8035,
    "sca": 0x6007,
}

# libpcap's llc_db: LLC SAP names, tried after eproto_db for "ether proto \".
LLC_SAPS = {
    "iso": 0xFE,
    "stp": 0x42,
    "ipx": 0xE0,
    "netbeui": 0xF0,
}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _records(path: str):
    """Yield the whitespace-separated fields of each non-comment line of a database file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
    except OSError:
        return
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if fields:
            yield fields


def _strtoul(text: str, base: int) -> tuple[int, str] | None:
    """C ``strtoul`` on a whole field: (value, rest) or None when no digit was read."""
    m = re.match(r"\s*[+-]?", text)
    sign_end = m.end()
    negative = "-" in text[:sign_end]
    body = text[sign_end:]
    if base == 0:
        if re.match(r"0[xX][0-9a-fA-F]", body):
            base, body = 16, body[2:]
        elif body.startswith("0"):
            base = 8
        else:
            base = 10
    elif base == 16 and re.match(r"0[xX][0-9a-fA-F]", body):
        body = body[2:]
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"[:base]
    n = 0
    while n < len(body) and body[n].lower() in digits:
        n += 1
    if n == 0:
        return None
    value = min(int(body[:n], base), 0xFFFFFFFFFFFFFFFF)
    if negative:
        value = (-value) & 0xFFFFFFFFFFFFFFFF
    return value, body[n:]


# --- hosts -----------------------------------------------------------------------------------

def _parse_host_addr(text: str) -> IPAddress | None:
    """inet_pton's forms only: no scope id (glibc skips such hosts lines)."""
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        pass
    try:
        return ipaddress.IPv6Address(text) if "%" not in text else None
    except ValueError:
        return None


def _hosts_file(name: str, path: str) -> list[IPAddress]:
    found: list[IPAddress] = []
    lname = name.lower()
    for fields in _records(path):
        if len(fields) < 2 or lname not in (f.lower() for f in fields[1:]):
            continue
        addr = _parse_host_addr(fields[0])
        if addr is not None and addr not in found:
            found.append(addr)
    return found


def _resolver(name: str) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_UNSPEC, socket.SOCK_STREAM,
                                   socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):
        return []
    found: list[IPAddress] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        addr = _parse_host_addr(sockaddr[0].split("%", 1)[0])
        if addr is not None and addr not in found:
            found.append(addr)
    return found


def resolve_host(name: str, path: str | None = None, use_resolver: bool = True) -> list[IPAddress]:
    """IPv4 and IPv6 addresses of a host name (``pcap_nametoaddrinfo``), hosts file first."""
    found = _hosts_file(name, path or HOSTS_PATH)
    if not found and use_resolver and "\0" not in name:
        found = _resolver(name)
    if not found:
        raise LookupError(f"unknown host '{name}'")
    return found


# --- networks --------------------------------------------------------------------------------

def inet_network(text: str) -> int:
    """glibc ``inet_network``: up to four dotted parts of at most 255; 0xFFFFFFFF if invalid."""
    parts = text.split(".")
    if len(parts) > 4 or text.endswith("."):
        return 0xFFFFFFFF
    value = 0
    for part in parts:
        parsed = _strtoul(part, 0) if re.fullmatch(r"(0[xX])?[0-9a-fA-F]+", part) else None
        if parsed is None or parsed[1] or parsed[0] > 0xFF:
            return 0xFFFFFFFF
        value = (value << 8) | parsed[0]
    return value


def _network_number(text: str) -> int:
    dots = min(text.count("."), 3)
    return inet_network(text + ".0" * (3 - dots))


def resolve_net(name: str, path: str | None = None) -> int:
    """The network number of a name in the networks file (``pcap_nametonetaddr``).

    Like glibc, a short number is padded with ``.0`` parts ("10" -> 10.0.0.0); an unparsable
    one is 0xFFFFFFFF. A number of 0 is unknown, as libpcap treats it.
    """
    lname = name.lower()
    for fields in _records(path or NETWORKS_PATH):
        if len(fields) < 2:
            continue
        if fields[0].lower() == lname or lname in (a.lower() for a in fields[2:]):
            number = _network_number(fields[1])
            if number == 0:
                break
            return number
    raise LookupError(f"unknown network '{name}'")


# --- ethers ----------------------------------------------------------------------------------

def _parse_ether_line(fields: list[str]) -> tuple[bytes, str] | None:
    if len(fields) < 2:
        return None
    octets = fields[0].split(":")
    if len(octets) != 6:
        return None
    out = bytearray()
    for octet in octets:
        parsed = _strtoul(octet, 16)
        if parsed is None or parsed[1] or parsed[0] > 0xFF:
            return None
        out.append(parsed[0])
    return bytes(out), fields[1]


def resolve_ether(name: str, path: str | None = None) -> bytes:
    """The 6-byte MAC address of a name in the ethers file (``pcap_ether_hostton``)."""
    lname = name.lower()
    for fields in _records(path or ETHERS_PATH):
        entry = _parse_ether_line(fields)
        if entry is not None and entry[1].lower() == lname:
            return entry[0]
    raise LookupError(f"unknown ether host '{name}'")


# --- protocols -------------------------------------------------------------------------------

def resolve_proto(name: str, path: str | None = None) -> int:
    """The IP protocol number of a name or alias in the protocols file (``pcap_nametoproto``)."""
    for fields in _records(path or PROTOCOLS_PATH):
        if len(fields) >= 2 and name in (fields[0], *fields[2:]):
            parsed = _strtoul(fields[1], 10)
            if parsed is not None and not parsed[1]:
                return parsed[0] & 0xFFFFFFFF
    raise LookupError(f"unknown ip proto '{name}'")


def resolve_eproto(name: str) -> int:
    """An Ethernet type from libpcap's built-in names (``pcap_nametoeproto``)."""
    try:
        return ETHER_PROTOCOLS[name]
    except KeyError:
        raise LookupError(f"unknown ether proto '{name}'") from None


def resolve_llc(name: str) -> int:
    """An LLC SAP from libpcap's built-in names (``pcap_nametollc``)."""
    try:
        return LLC_SAPS[name]
    except KeyError:
        raise LookupError(f"unknown ether proto '{name}'") from None


# --- services --------------------------------------------------------------------------------

def _service_port(name: str, proto: str, path: str) -> int | None:
    """The port of ``name`` for ``proto`` as getaddrinfo(NULL, name) finds it, or None."""
    if re.fullmatch(r"\s*[+-]?[0-9]*", name):
        parsed = _strtoul(name, 10)
        return 0 if parsed is None else parsed[0] & 0xFFFF
    for fields in _records(path):
        if len(fields) < 2 or name not in (fields[0], *fields[2:]):
            continue
        parsed = _strtoul(fields[1], 0)
        if parsed is None or not parsed[1].startswith("/"):
            continue
        if parsed[1][1:] == proto:
            return parsed[0] & 0xFFFF
    return None


def resolve_port(name: str, path: str | None = None) -> tuple[int, int | None]:
    """(port, proto) of a service name (``pcap_nametoport``).

    proto is IPPROTO_TCP or IPPROTO_UDP when the name is known for that protocol only, or for
    both with different ports (TCP wins); None when both give the same port.
    """
    path = path or SERVICES_PATH
    tcp = _service_port(name, "tcp", path)
    udp = _service_port(name, "udp", path)
    if tcp is not None:
        return tcp, (None if udp == tcp else IPPROTO_TCP)
    if udp is not None:
        return udp, IPPROTO_UDP
    raise LookupError(f"unknown port '{name}'")


def resolve_portrange(name: str, path: str | None = None) -> tuple[int, int, int | None]:
    """(lo, hi, proto) of an "a-b" range of numbers or service names (``pcap_nametoportrange``).

    Two leading numbers are taken as they are (no ordering or range check: the code generator
    reports "illegal port number"); otherwise the text is cut at its first "-" and each side is
    a service; proto is None when the two sides disagree.
    """
    m = re.match(r"\s*([+-]?\d+)-\s*([+-]?\d+)", name)
    if m:
        return int(m.group(1)), int(m.group(2)), None
    lo_name, dash, hi_name = name.partition("-")
    try:
        if not dash:
            raise LookupError
        lo, lo_proto = resolve_port(lo_name, path)
        hi, hi_proto = resolve_port(hi_name, path)
    except LookupError:
        raise LookupError(f"unknown port in range '{name}'") from None
    return lo, hi, (lo_proto if lo_proto == hi_proto else None)
