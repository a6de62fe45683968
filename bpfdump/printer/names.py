"""Address, port and protocol names, as tcpdump shows them with and without -n.

Like tcpdump, host names come from the system resolver (reverse lookups, cached per printer
run), services from /etc/services (first entry per port wins), protocol names from
/etc/protocols, and Ethernet addresses get an " (oui ...)" suffix when not numeric.
"""
from __future__ import annotations

import socket

from .tables import OUI


def _read_services(path: str = "/etc/services") -> tuple[dict, dict]:
    tcp: dict[int, str] = {}
    udp: dict[int, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split("#", 1)[0].split()
                if len(fields) < 2 or "/" not in fields[1]:
                    continue
                port, _, proto = fields[1].partition("/")
                if not port.isdigit():
                    continue
                table = tcp if proto == "tcp" else udp if proto == "udp" else None
                if table is not None:
                    table.setdefault(int(port), fields[0])
    except OSError:
        pass
    return tcp, udp


def _read_protocols(path: str = "/etc/protocols") -> dict:
    out: dict[int, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split("#", 1)[0].split()
                if len(fields) >= 2 and fields[1].isdigit():
                    out.setdefault(int(fields[1]), fields[0])
    except OSError:
        pass
    return out


_CACHE_MAX = 4096   # numeric address texts kept per printer (the cache is emptied when full)


class Names:
    """Name lookups for one printer, honouring -n.

    `tcp_names` / `udp_names` map a port number to its service name (empty with -n): callers
    that format ports themselves use `tcp_names.get(port, port)`."""

    def __init__(self, numeric: int = 0):
        self.numeric = numeric
        self._hosts: dict = {}
        self._texts: dict = {}      # packed address -> its numeric text (4, 6 or 16 bytes)
        if numeric:
            self.tcp_names: dict = {}
            self.udp_names: dict = {}
            self._protos: dict = {}
        else:
            self.tcp_names, self.udp_names = _read_services()
            self._protos = _read_protocols()

    def _text(self, packed: bytes, fmt) -> str:
        texts = self._texts
        text = texts.get(packed)
        if text is None:
            if len(texts) >= _CACHE_MAX:
                texts.clear()
            text = texts[packed] = fmt(packed)
        return text

    def _lookup(self, family: int, packed: bytes, text: str) -> str:
        key = (family, packed)
        name = self._hosts.get(key)
        if name is None:
            name = text
            try:
                host = socket.gethostbyaddr(text)[0]
                if host:
                    name = host
            except (OSError, UnicodeError, ValueError):
                pass
            self._hosts[key] = name
        return name

    def ip(self, packed: bytes) -> str:
        text = self._texts.get(packed) or self._text(packed, ip_text)
        if self.numeric:
            return text
        return self._lookup(socket.AF_INET, packed, text)

    def ip6(self, packed: bytes) -> str:
        text = self._texts.get(packed) or self._text(packed, ip6_text)
        if self.numeric:
            return text
        return self._lookup(socket.AF_INET6, packed, text)

    def mac(self, packed: bytes) -> str:
        if not self.numeric and packed == b"\xff" * 6:
            return "Broadcast"
        text = self._texts.get(packed) or self._text(packed, mac_text)
        if self.numeric:
            return text
        oui = (packed[0] << 16) | (packed[1] << 8) | packed[2]
        return "%s (oui %s)" % (text, OUI.get(oui, "Unknown"))

    def tcpport(self, port: int) -> str:
        return self.tcp_names.get(port) or str(port)

    def udpport(self, port: int) -> str:
        return self.udp_names.get(port) or str(port)

    def proto(self, num: int) -> str | None:
        return self._protos.get(num)


def mac_text(packed: bytes) -> str:
    return packed.hex(":")


def ip_text(packed: bytes) -> str:
    return "%d.%d.%d.%d" % tuple(packed)



def ip6_text(packed: bytes) -> str:
    """An IPv6 address as inet_ntop writes it (longest zero run compressed, ::ffff:a.b.c.d)."""
    if len(packed) != 16:
        return ""
    words = [(packed[i] << 8) | packed[i + 1] for i in range(0, 16, 2)]
    best_base, best_len, cur_base, cur_len = -1, 0, -1, 0
    for i, word in enumerate(words + [1]):
        if word == 0 and i < 8:
            if cur_base < 0:
                cur_base, cur_len = i, 1
            else:
                cur_len += 1
        elif cur_base >= 0:
            if best_base < 0 or cur_len > best_len:
                best_base, best_len = cur_base, cur_len
            cur_base = -1
    if best_len < 2:
        best_base = -1
    parts: list[str] = []
    i = 0
    while i < 8:
        if i == best_base:
            parts.append(":" if i == 0 else "")
            i += best_len
            if i == 8:
                parts.append("")
            continue
        if i == 6 and best_base == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
            parts.append("%d.%d.%d.%d" % tuple(packed[12:]))
            break
        parts.append("%x" % words[i])
        i += 1
    return ":".join(parts)
