"""Capture interfaces: -D (list them), -L (their link types), and the DLT of a device."""
from __future__ import annotations

import os

from .errors import RuntimeFailure

SYS_NET = "/sys/class/net"
IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x1, 0x8, 0x40
ARPHRD_ETHER, ARPHRD_LOOPBACK, ARPHRD_NONE = 1, 772, 0xFFFE

# Pseudo-devices libpcap lists after the real interfaces (name, description, status).
PSEUDO = [("any", "Pseudo-device that captures on all interfaces", "Up, Running")]


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _flags(name: str) -> int:
    """The SIOCGIFFLAGS view: sysfs flags plus IFF_RUNNING from the carrier state."""
    flags = int(_read(f"{SYS_NET}/{name}/flags", "0"), 16)
    if flags & IFF_UP and _read(f"{SYS_NET}/{name}/carrier") == "1":
        flags |= IFF_RUNNING
    return flags


def _status(name: str) -> str:
    flags = _flags(name)
    words = []
    if flags & IFF_UP:
        words.append("Up")
    if flags & IFF_RUNNING:
        words.append("Running")
    if flags & IFF_LOOPBACK:
        words.append("Loopback")
    elif os.path.isdir(f"{SYS_NET}/{name}/wireless"):
        words.append("Wireless")
    elif flags & IFF_UP:
        carrier = _read(f"{SYS_NET}/{name}/carrier")
        words.append("Connected" if carrier == "1" else "Disconnected")
    return ", ".join(words) or "none"


def _rank(name: str) -> tuple:
    """libpcap's order: running and up first, disconnected and loopback later, then by number."""
    flags = _flags(name)
    digits = len(name) - len(name.rstrip("0123456789"))
    number = int(name[-digits:]) if digits else 0
    return (not flags & IFF_RUNNING, not flags & IFF_UP, bool(flags & IFF_LOOPBACK), number)


def interface_names() -> list[str]:
    try:
        names = os.listdir(SYS_NET)
    except OSError:
        return []
    return sorted(names, key=lambda n: (_rank(n), _read(f"{SYS_NET}/{n}/ifindex", "0").zfill(8)))


def list_interfaces() -> str:
    names = interface_names()
    up = [n for n in names if _flags(n) & IFF_UP and not _flags(n) & IFF_LOOPBACK]
    rest = [n for n in names if n not in up]
    rows = [f"{n} [{_status(n)}]" for n in up]
    rows += [f"{n} ({desc}) [{status}]" for n, desc, status in PSEUDO]
    rows += [f"{n} [{_status(n)}]" for n in rest]
    return "".join(f"{i}.{row}\n" for i, row in enumerate(rows, 1))


def interface_linktypes(name: str) -> list[str]:
    """Link-type names the device offers, the default first."""
    if name == "any":
        return ["LINUX_SLL2", "LINUX_SLL"]
    if not os.path.isdir(f"{SYS_NET}/{name}"):
        raise RuntimeFailure(f"{name}: No such device exists")
    hatype = int(_read(f"{SYS_NET}/{name}/type", "1"))
    if hatype in (ARPHRD_ETHER, ARPHRD_LOOPBACK):
        return ["EN10MB"]
    if hatype == ARPHRD_NONE:
        return ["RAW"]
    return ["LINUX_SLL"]


def interface_linktype(name: str) -> str:
    return interface_linktypes(name)[0]


def list_linktypes(name: str | None) -> str:
    from filterlang.linktypes import lookup
    name = name or (interface_names() or ["any"])[0]
    names = interface_linktypes(name)
    if name == "any":
        names = sorted(names, key=lambda n: n != "LINUX_SLL")
    lines = [f"Data link types for {name} (use option -y to set):\n"]
    for lt in names:
        info = lookup(lt)
        lines.append(f"  {info.name} ({info.description})\n")
    return "".join(lines)


def ipv4_netmask(name: str) -> int | None:
    """The device's IPv4 netmask (what pcap_lookupnet gives), or None when it has none."""
    import fcntl
    import socket
    import struct
    siocgifnetmask = 0x891B
    if name == "any":
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            raw = fcntl.ioctl(sock.fileno(), siocgifnetmask,
                              struct.pack("16s16x", name.encode()[:15]))
        except OSError:
            return None
    return struct.unpack_from(">I", raw, 20)[0]
