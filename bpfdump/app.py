"""What the CLI does with its options: pick the job, build its parts, run it.

Imports are local to each job so that `bpfdump -d EXPR` and `bpfdump -r FILE` load only what they
use (never scapy).
"""
from __future__ import annotations

import sys

from .errors import RuntimeFailure, UsageError

DEFAULT_SNAPLEN = 262144
VERSION = "0.1.0"

_gc_paused = False


def pause_gc() -> None:
    """Pause the cyclic garbage collector for the start-up of a command: importing, compiling
    and JIT-compiling make many objects that live until the end and hardly any garbage
    cycles, and the collector walking them cost ~4% of `bpfdump -r F -w out EXPR`
    (instructions). resume_gc() turns it back on before the packets flow."""
    global _gc_paused
    import gc
    if gc.isenabled():
        gc.disable()
        _gc_paused = True


def resume_gc() -> None:
    """Undo pause_gc() (nothing when it did not pause the collector). What start-up made is
    moved to the collector's permanent generation first (gc.freeze), so that collections
    while the packets flow do not walk it again."""
    global _gc_paused
    if _gc_paused:
        import gc
        gc.freeze()
        gc.enable()
        _gc_paused = False


def run(opts: dict) -> int:
    if opts["show_version"]:
        print(f"bpfdump version {VERSION}")
        return 0
    if opts["list_interfaces"]:
        from .interfaces import list_interfaces
        sys.stdout.write(list_interfaces())
        return 0
    expr = _expression(opts)
    if opts["list_linktypes"]:
        from .interfaces import list_linktypes
        sys.stdout.write(list_linktypes(opts["interface"]))
        return 0
    if opts["dump"] or opts["dump_ebpf"]:
        return _dump(opts, expr)
    if opts["read_file"] is not None:
        return _offline(opts, expr)
    return _live(opts, expr)


# -- the filter ---------------------------------------------------------------------------------

def _expression(opts: dict) -> str:
    if opts["filter_file"]:
        try:
            with open(opts["filter_file"], encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as exc:
            raise RuntimeFailure(f"{opts['filter_file']}: {exc.strerror}") from None
        # tcpdump drops '#' comments to the end of the line in -F files
        lines = [line.split("#", 1)[0] for line in text.splitlines()]
        return " ".join(" ".join(lines).split())
    return " ".join(opts["expression"])


def _snaplen(opts: dict) -> int:
    snaplen = opts["snaplen"]
    if snaplen is None or snaplen == 0:
        return DEFAULT_SNAPLEN
    if snaplen < 0:
        raise UsageError(f"invalid snaplen {snaplen}")
    return min(snaplen, DEFAULT_SNAPLEN)


def _lookup_linktype(name: str):
    from filterlang.linktypes import lookup
    try:
        return lookup(int(name) if name.isdigit() else name)
    except LookupError:
        raise UsageError(f"invalid data link type {name}") from None


def compile_filter(expr: str, linktype, snaplen: int, optimize: bool, netmask: int = 0):
    """Compile EXPR (empty = accept everything) or raise UsageError with the pointed message.

    ``netmask`` is the capture network's IPv4 mask; like tcpdump we pass 0 when there is none
    (files, -d, interfaces without an IPv4 address), so `ip broadcast` tests 0 and all-ones."""
    import filterlang
    try:
        return filterlang.compile(expr, linktype=linktype, snaplen=snaplen, optimize=optimize,
                                  netmask=netmask)
    except filterlang.FilterError as exc:
        raise UsageError(str(exc)) from None


def _dump(opts: dict, expr: str) -> int:
    if opts["linktype"]:
        linktype = _lookup_linktype(opts["linktype"])
        snaplen = _snaplen(opts)
    elif opts["read_file"] is not None:
        with _open_offline(opts["read_file"]) as source:
            linktype = source.linktype
            snaplen = source.snaplen
    elif opts["interface"]:
        from .interfaces import interface_linktype
        linktype = interface_linktype(opts["interface"])
        snaplen = _snaplen(opts)
    else:
        print("Warning: assuming Ethernet", file=sys.stderr)
        linktype = "EN10MB"
        snaplen = _snaplen(opts)
    prog = compile_filter(expr, linktype, snaplen, not opts["no_optimize"])
    if opts["dump_ebpf"]:
        from vm.translate import to_ebpf
        sys.stdout.write(to_ebpf(prog).format().rstrip("\n") + "\n")
    if opts["dump"]:
        fmt = "d" * min(opts["dump"], 3)
        sys.stdout.write(prog.format(fmt))
    return 0


# -- offline ------------------------------------------------------------------------------------

def _open_offline(path: str):
    from .sources import CaptureError, open_offline
    try:
        return open_offline(sys.stdin.buffer if path == "-" else path)
    except CaptureError as exc:
        raise RuntimeFailure(str(exc)) from None
    except OSError as exc:
        raise RuntimeFailure(f"{path}: {exc.strerror}") from None


def _offline(opts: dict, expr: str) -> int:
    from filterlang.linktypes import lookup
    from . import engine
    from .sources import CaptureError

    source = _open_offline(opts["read_file"])
    with source:
        lt = lookup(source.linktype)
        name = "-" if opts["read_file"] == "-" else opts["read_file"]
        print(f"reading from file {name}, link-type {lt.name} ({lt.description}), "
              f"snapshot length {source.snaplen}", file=sys.stderr)
        if opts["linktype"]:
            compile_lt = _lookup_linktype(opts["linktype"])
        else:
            compile_lt = source.linktype
        prog = compile_filter(expr, compile_lt, source.snaplen, not opts["no_optimize"])
        sink = _make_sink(opts, source.linktype, source.snaplen,
                          getattr(source, "linktype_ext", 0))
        from .signals import Stopper
        resume_gc()
        try:
            # Ctrl-C ends the read like the end of the file (tcpdump: exit 0, the output
            # complete up to there)
            with Stopper() as stopper:
                engine.run(source, prog, sink, count=opts["count"], stopped=stopper)
        except CaptureError as exc:
            sink.close()
            raise RuntimeFailure(str(exc)) from None
        sink.close()
    limit = getattr(sink, "file_limit", None)
    if limit is not None:
        print(f"Maximum file limit reached: {limit}", file=sys.stderr)
    return 0


# -- sinks --------------------------------------------------------------------------------------

def _precision(opts: dict) -> str:
    """Time-stamp precision of what we print and write: tcpdump opens every input at the
    requested precision (microseconds unless --nano), whatever the file holds."""
    if opts["nano"]:
        return opts["nano"]
    if opts["precision"]:
        return opts["precision"]
    return "micro"


def _make_sink(opts: dict, linktype: int, snaplen: int, linktype_ext: int = 0):
    from . import sinks
    parts = []
    if opts["count_only"]:
        return sinks.CountSink(sys.stdout)
    if opts["write_file"] is not None:
        parts.append(sinks.WriteSink(opts["write_file"], linktype, snaplen,
                                     precision=_precision(opts),
                                     packet_buffered=opts["packet_buffered"],
                                     file_size=opts["file_size"], file_count=opts["file_count"],
                                     rotate_seconds=opts["rotate_seconds"],
                                     linktype_ext=linktype_ext))
        if not opts["also_print"]:
            return parts[0]
    parts.append(sinks.PrintSink(_print_options(opts, snaplen), sys.stdout,
                                 line_buffered=opts["line_buffered"]))
    return parts[0] if len(parts) == 1 else sinks.TeeSink(parts)


def _print_options(opts: dict, snaplen: int):
    from .printer import PrintOptions
    return PrintOptions(numeric=opts["numeric"], quiet=opts["quiet"], verbose=opts["verbose"],
                        ether=opts["ether"], hex=opts["hex"], hexascii=opts["hexascii"],
                        ascii=opts["ascii"], ts_format=opts["ts_format"],
                        nano=_precision(opts) == "nano", number=opts["number"],
                        absolute_seq=opts["absolute_seq"], snaplen=snaplen)


# -- live ---------------------------------------------------------------------------------------

def _live(opts: dict, expr: str) -> int:
    resume_gc()
    try:
        from . import live
    except ImportError:
        raise RuntimeFailure("live capture is not available in this build") from None
    return live.run(opts, expr)

