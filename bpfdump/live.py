"""bpfdump -i IFACE: open the device, compile the filter for its link type, capture until -c,
Ctrl-C or SIGTERM, then print tcpdump's three statistics lines."""
from __future__ import annotations

import sys

from .errors import RuntimeFailure
from .signals import Stopper


def _packets(source, stopper, poll_ms: int):
    """The source's packets, batch by batch, until a stop signal."""
    while not stopper.stopped:
        yield from source.next_batch(poll_ms)


def run(opts: dict, expr: str) -> int:
    from filterlang.linktypes import lookup
    from . import engine
    from .app import _lookup_linktype, _make_sink, _snaplen, compile_filter
    from .interfaces import interface_names, ipv4_netmask
    from .sources.live import LiveError, LiveSource

    iface = opts["interface"] or next(iter(interface_names()), None)
    if iface is None:
        raise RuntimeFailure("no suitable device found")
    snaplen = _snaplen(opts)
    try:
        source = LiveSource(iface, snaplen=snaplen, promisc=not opts["no_promisc"],
                            buffer_kib=opts["buffer_kib"] or 2048,
                            direction=opts["direction"] or "inout",
                            immediate=opts["immediate_mode"])
    except LiveError as exc:
        raise RuntimeFailure(str(exc)) from None
    except PermissionError:
        raise RuntimeFailure(f"{iface}: You don't have permission to perform this capture on "
                             f"that device (socket: Operation not permitted)") from None
    with source:
        linktype = lookup(source.linktype)
        if opts["linktype"] and _lookup_linktype(opts["linktype"]).dlt != linktype.dlt:
            raise RuntimeFailure(f"{iface}: data link type {opts['linktype']} not supported "
                                 f"by this device")
        if iface == "any":
            print(f"bpfdump: data link type {linktype.name}", file=sys.stderr)
        prog = compile_filter(expr, linktype.dlt, snaplen, not opts["no_optimize"],
                              netmask=ipv4_netmask(iface) or 0)
        if opts["kernel_filter"]:
            # the VM still checks what the kernel passes: packets queued before the attach
            # were not filtered, and only matching packets reach us after it
            _attach_in_kernel(source, prog)
        sink = _make_sink(opts, linktype.dlt, snaplen)
        printing = opts["write_file"] is None and not opts["count_only"]
        if printing and not opts["verbose"]:
            print("bpfdump: verbose output suppressed, use -v[v]... for full protocol decode",
                  file=sys.stderr)
        prefix = "" if printing and not opts["verbose"] else "bpfdump: "
        print(f"{prefix}listening on {iface}, link-type {linktype.name} "
              f"({linktype.description}), snapshot length {snaplen} bytes", file=sys.stderr)
        sys.stderr.flush()
        captured = 0
        try:
            with Stopper() as stopper:
                poll_ms = 1 if opts["immediate_mode"] else 100
                captured = engine.run_live(source, _packets(source, stopper, poll_ms), prog,
                                           sink, opts["count"], snaplen, stopper, poll_ms)
        except LiveError as exc:
            sink.close()
            raise RuntimeFailure(str(exc)) from None
        finally:
            received, dropped = source.stats()
        sink.close()
    if printing:
        sys.stdout.flush()
    print(f"{captured} packet{'s' if captured != 1 else ''} captured", file=sys.stderr)
    print(f"{received} packet{'s' if received != 1 else ''} received by filter", file=sys.stderr)
    print(f"{dropped} packet{'s' if dropped != 1 else ''} dropped by kernel", file=sys.stderr)
    return 0


def _attach_in_kernel(source, prog) -> None:
    """--kernel-filter: our eBPF through SO_ATTACH_BPF, else the cBPF via SO_ATTACH_FILTER."""
    from vm.kernel import KernelError
    from vm.translate import to_ebpf
    try:
        source.attach(to_ebpf(prog))
    except (KernelError, OSError):
        try:
            source.attach(prog)
        except (KernelError, OSError) as exc:
            raise RuntimeFailure(f"can't attach the filter in the kernel: {exc}") from None
