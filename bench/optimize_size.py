#!/usr/bin/env python3
"""filterlang.optimize against libpcap 1.10's optimizer: program sizes and optimizer time.

The input of our optimizer is libpcap's own unoptimized program (pcapy-ng, optimize=0), so the
comparison does not depend on our code generator. For every supported link type, over the
project's expression corpus (tests/support/expressions.py) and the accept-corpus aliases of
that link type (../shared/conformance, when present), it prints the instruction totals, the
shorter / equal / longer distribution against libpcap (optimize=1), the programs that are
longer, and the optimizer's CPU time per program (median, 95th percentile, max, best of
R runs).

Usage: python3 bench/optimize_size.py [--repeat R] [--linktype LT ...] [--longer N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from filterlang.errors import FilterError  # noqa: E402
from filterlang.optimize import optimize  # noqa: E402
from tests.support.expressions import EXPRESSIONS, accept_expressions  # noqa: E402
from tests.support.oracle import LINKTYPES, LibpcapError, libpcap_compile  # noqa: E402
from vm.cbpf import Program  # noqa: E402


def corpus(linktype: str) -> list[str]:
    seen = dict.fromkeys(EXPRESSIONS)
    for _name, expr, _block in accept_expressions(linktype):
        seen.setdefault(expr)
    return list(seen)


def measure(linktype: str, repeat: int):
    rows = []
    for expr in corpus(linktype):
        try:
            unopt = libpcap_compile(expr, linktype, optimize=False)
        except LibpcapError:
            continue
        try:
            lib = len(libpcap_compile(expr, linktype))
        except LibpcapError as err:
            if "rejects all packets" not in err.message:
                continue
            lib = None
        prog = Program.from_tuples(unopt)
        best = None
        for _ in range(repeat):
            start = time.process_time()
            try:
                ours = len(optimize(prog))
            except FilterError:
                ours = None
            took = time.process_time() - start
            best = took if best is None else min(best, took)
        rows.append((expr, len(unopt), lib, ours, best))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--linktype", action="append", choices=LINKTYPES)
    parser.add_argument("--longer", type=int, default=5, help="longer programs to list")
    args = parser.parse_args()
    print("| link type | programs | unoptimized | libpcap -O1 | ours | shorter | equal | longer "
          "| max excess | rejects (lib/ours) | CPU ms median | p95 | max |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    grand = [0, 0, 0, 0, 0, 0, 0]
    longest: list[tuple[int, str, str]] = []
    slowest: list[tuple[float, str, str]] = []
    for linktype in args.linktype or LINKTYPES:
        rows = measure(linktype, args.repeat)
        both = [r for r in rows if r[2] is not None and r[3] is not None]
        unopt = sum(r[1] for r in both)
        lib = sum(r[2] for r in both)
        ours = sum(r[3] for r in both)
        shorter = sum(r[3] < r[2] for r in both)
        equal = sum(r[3] == r[2] for r in both)
        longer = sum(r[3] > r[2] for r in both)
        excess = max((r[3] - r[2] for r in both), default=0)
        lib_rej = sum(r[2] is None for r in rows)
        our_rej = sum(r[3] is None for r in rows)
        times = sorted(r[4] * 1000 for r in rows)
        p95 = times[int(0.95 * (len(times) - 1))] if times else 0.0
        print(f"| {linktype} | {len(both)} | {unopt} | {lib} | {ours} | {shorter} | {equal} | "
              f"{longer} | {excess:+d} | {lib_rej}/{our_rej} | {statistics.median(times):.1f} | "
              f"{p95:.1f} | {max(times):.1f} |")
        for i, v in enumerate((len(both), unopt, lib, ours, shorter, equal, longer)):
            grand[i] += v
        longest += [(r[3] - r[2], linktype, r[0]) for r in both if r[3] > r[2]]
        slowest += [(r[4] * 1000, linktype, r[0]) for r in rows]
    print(f"| all | {grand[0]} | {grand[1]} | {grand[2]} | {grand[3]} | {grand[4]} | {grand[5]} | "
          f"{grand[6]} | | | | | |")
    longest.sort(reverse=True)
    slowest.sort(reverse=True)
    print("\nLonger than libpcap:")
    for excess, linktype, expr in longest[:args.longer]:
        print(f"  {excess:+d}  {linktype:10s} {expr}")
    print("\nSlowest to optimize:")
    for ms, linktype, expr in slowest[:5]:
        print(f"  {ms:6.1f} ms  {linktype:10s} {expr[:90]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
