#!/usr/bin/env python3
"""CPU time of the packet printer alone (no file reading, no filter), per option set.

Usage: python3 bench/print_profile.py [CAPTURE] [--opts=-n --opts="-nn -v" ...] [--repeat R]
                                      [--limit N] [--profile] [--tcpdump]

The packets are read into memory first; then `PrintSink(options, out).write` runs over all of
them with `out` an in-memory text sink, and the best CPU time (time.process_time) of R runs
is reported in µs per packet. --profile prints the cProfile top functions of one run instead;
--tcpdump also times `tcpdump OPTS -r CAPTURE > /dev/null` (CPU of the child, best of R).
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bpfdump import app, cli  # noqa: E402
from bpfdump.printer import PrintOptions  # noqa: E402
from bpfdump.sinks import PrintSink  # noqa: E402
from bpfdump.sources import open_offline  # noqa: E402

DEFAULT_OPTS = ["-n", "", "-nn -v", "-n -e", "-n -tttt", "-n -x"]


def options(flags: str) -> PrintOptions:
    """PrintOptions for a tcpdump command-line fragment such as "-nn -v -e" (the CLI's parser)."""
    return app._print_options(cli.parse_args(flags.split()), 262144)


class _Null(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


def run_once(packets, flags: str) -> float:
    sink = PrintSink(options(flags), _Null())
    many = getattr(sink, "write_many", None)
    start = time.process_time()
    if many is not None:
        many(packets)
    else:
        write = sink.write
        for pkt in packets:
            write(pkt)
    sink.close()
    return time.process_time() - start


def tcpdump_cpu(capture: str, flags: str, repeat: int) -> float | None:
    exe = shutil.which("tcpdump")
    if exe is None:
        return None
    best = None
    for _ in range(repeat):
        proc = subprocess.Popen([exe, *flags.split(), "-r", capture], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(proc.pid, 0)
        cpu = usage.ru_utime + usage.ru_stime
        best = cpu if best is None else min(best, cpu)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("capture", nargs="?", default="/tmp/bench.pcap")
    ap.add_argument("--opts", action="append",
                    help='an option set, e.g. --opts="-nn -v" (repeatable; default: six sets)')
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N packets")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--tcpdump", action="store_true")
    args = ap.parse_args()
    with open_offline(args.capture) as src:
        packets = list(src)
    if args.limit:
        packets = packets[:args.limit]
    n = len(packets)
    for flags in args.opts or DEFAULT_OPTS:
        if args.profile:
            import cProfile
            import pstats
            prof = cProfile.Profile()
            prof.enable()
            run_once(packets, flags)
            prof.disable()
            print(f"== {flags or '(default)'}")
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
            continue
        best = min(run_once(packets, flags) for _ in range(args.repeat))
        line = f"{flags or '(default)':>12}: {best:7.3f} s CPU, {best / n * 1e6:6.2f} µs/packet"
        if args.tcpdump:
            t = tcpdump_cpu(args.capture, flags, args.repeat)
            if t:
                line += f"; tcpdump {t:6.3f} s CPU ({best / t:5.2f}×)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
