"""compile_expression: text -> tokens -> AST -> blocks -> ``vm.cbpf.Program``."""
from __future__ import annotations

import sys

from vm.cbpf import Insn, Program

from . import linktypes
from .errors import FilterError

PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF


def compile_expression(expr: str, linktype="EN10MB", snaplen: int = 262144,
                       optimize: bool = True, netmask=None) -> Program:
    """Compile ``expr`` for ``linktype`` (name, number or LinkType) the way libpcap 1.10 does.

    ``netmask`` (int or dotted string) is the capture network's mask; None means unknown,
    which makes ``ip broadcast`` an error, as with PCAP_NETMASK_UNKNOWN.
    """
    expr = expr if isinstance(expr, str) else str(expr)
    try:
        lt = linktypes.lookup(linktype)
    except LookupError as exc:
        raise FilterError(str(exc).strip("'\""), expr, None) from None
    if lt.layout is None:
        raise FilterError(f"link type {lt.name} ({lt.description}) is not supported", expr, None)
    mask = _netmask(netmask)
    if not expr.strip(" \t\r\n"):
        # no filter (``bpfdump -r FILE``): one return, which the optimizer keeps unless it
        # returns 0 ("expression rejects all packets"); the parser and code generator stay unloaded
        program = Program([Insn(0x06, 0, 0, snaplen & 0xFFFFFFFF)])
        if optimize and not program.insns[0].k:
            return _optimized(program, expr)
        return program
    from .codegen import CodeGen
    from .parser import parse

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20000))   # deeply nested parentheses / "not not ..."
    try:
        tree = parse(expr)
        gen = CodeGen(expr, lt, snaplen, mask)
        program = gen.program(tree)
    except RecursionError:
        raise FilterError("expression too complex", expr, (0, len(expr))) from None
    finally:
        sys.setrecursionlimit(limit)
    # libpcap leaves programs alone whose offsets live in scratch memory (geneve), as it does
    # protochain's loop (the optimizer returns programs with a backward jump unchanged)
    if optimize and not _no_optimize(gen):
        return _optimized(program, expr)
    return program


def _optimized(program: Program, expr: str) -> Program:
    try:
        from .optimize import optimize as run_optimizer
    except ImportError:
        return program
    try:
        return run_optimizer(program)
    except FilterError as exc:
        if not exc.expr:
            raise FilterError(exc.message, expr, (0, len(expr))) from None
        raise


def _no_optimize(gen) -> bool:
    """What libpcap's no_optimize flag would say after generating this program."""
    return bool(getattr(gen, "no_optimize", False) or gen.off.geneve)


def _netmask(netmask):
    if netmask is None:
        return None
    if isinstance(netmask, str):
        import ipaddress
        netmask = int(ipaddress.IPv4Address(netmask))
    netmask = int(netmask) & 0xFFFFFFFF
    return None if netmask == PCAP_NETMASK_UNKNOWN else netmask


# -- name resolution: filterlang.names when present, the C library otherwise ---------------
def _names():
    try:
        from . import names
    except ImportError:
        return None
    return names


def resolve_host(name: str):
    names = _names()
    if names is not None and hasattr(names, "resolve_host"):
        return names.resolve_host(name)
    import ipaddress
    import socket
    try:
        infos = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise LookupError(name) from None
    out = []
    for family, _, _, _, sockaddr in infos:
        addr = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if addr not in out:
            out.append(addr)
    if not out:
        raise LookupError(name)
    return out


def resolve_net(name: str) -> int:
    names = _names()
    if names is not None and hasattr(names, "resolve_net"):
        return names.resolve_net(name)
    raise LookupError(name)


def resolve_ether(name: str) -> bytes:
    names = _names()
    if names is not None and hasattr(names, "resolve_ether"):
        return names.resolve_ether(name)
    raise LookupError(name)


def resolve_proto(name: str) -> int:
    names = _names()
    if names is not None and hasattr(names, "resolve_proto"):
        return names.resolve_proto(name)
    import socket
    try:
        return socket.getprotobyname(name)
    except OSError:
        raise LookupError(name) from None


def resolve_port(name: str):
    names = _names()
    if names is not None and hasattr(names, "resolve_port"):
        return names.resolve_port(name)
    if name.isdigit():
        return int(name), None
    import socket
    found = {}
    for proto in ("tcp", "udp"):
        try:
            found[proto] = socket.getservbyname(name, proto)
        except OSError:
            pass
    if not found:
        raise LookupError(name)
    if len(found) == 2:
        return found["tcp"], None
    (proto, port), = found.items()
    return port, proto


def resolve_portrange(name: str):
    lo, dash, hi = name.partition("-")
    if dash and lo.isascii() and lo.isdigit() and hi.isascii() and hi.isdigit():
        return int(lo), int(hi), None     # numbers as they are, as names.resolve_portrange does
    names = _names()
    if names is not None and hasattr(names, "resolve_portrange"):
        return names.resolve_portrange(name)
    if "-" in name:
        lo_text, hi_text = name.split("-", 1)
        lo, p1 = resolve_port(lo_text)
        hi, p2 = resolve_port(hi_text)
        return lo, hi, p1 if p1 == p2 else None
    port, proto = resolve_port(name)
    return port, port, proto
