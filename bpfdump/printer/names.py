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


_CACHE_MAX = 4096   # numeric address texts kept per kind (a full cache is emptied)


class Names:
    """Name lookups for one printer, honouring -n.

    `ip_names`, `ip6_names` and `mac_names` map a packed address to the text printed for it,
    once `ip`, `ip6` or `mac` has made it (hot paths try `ip_names.get(packed)` first); with
    -n they hold at most _CACHE_MAX texts each, without -n every resolved name (like tcpdump's
    host cache). `tcp_names` / `udp_names` map a port number to its service name (empty with
    -n): callers that format ports themselves use `tcp_names.get(port, port)`."""

    def __init__(self, numeric: int = 0):
        self.numeric = numeric
        self.ip_names: dict[bytes, str] = {}
        self.ip6_names: dict[bytes, str] = {}
        self.mac_names: dict[bytes, str] = {}
        if numeric:
            self.tcp_names: dict = {}
            self.udp_names: dict = {}
            self._protos: dict = {}
        else:
            self.tcp_names, self.udp_names = _read_services()
            self._protos = _read_protocols()

    def _remember(self, cache: dict, packed: bytes, text: str) -> str:
        if self.numeric and len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[packed] = text
        return text

    @staticmethod
    def _resolve(text: str) -> str:
        """The host name of a numeric address (text itself when there is none)."""
        try:
            return socket.gethostbyaddr(text)[0] or text
        except (OSError, UnicodeError, ValueError):
            return text

    def _address(self, cache: dict, packed: bytes, fmt) -> str:
        name = cache.get(packed)
        if name is None:
            name = fmt(packed)
            if not self.numeric:
                name = self._resolve(name)
            name = self._remember(cache, packed, name)
        return name

    def ip(self, packed: bytes) -> str:
        return self._address(self.ip_names, packed, ip_text)

    def ip6(self, packed: bytes) -> str:
        return self._address(self.ip6_names, packed, ip6_text)

    def mac(self, packed: bytes) -> str:
        name = self.mac_names.get(packed)
        if name is None:
            name = mac_text(packed)
            if not self.numeric:
                if packed == b"\xff" * 6:
                    name = "Broadcast"
                else:
                    oui = (packed[0] << 16) | (packed[1] << 8) | packed[2]
                    name = "%s (oui %s)" % (name, OUI.get(oui, "Unknown"))
            name = self._remember(self.mac_names, packed, name)
        return name

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
