#!/usr/bin/env python3
"""bpfdump against tcpdump (and pcapy-ng/libpcap) on the same capture in the same run.

Usage: python3 bench/run.py [--count N] [--repeat R] [--capture FILE] [--no-numpy] [--no-print]
Prints a Markdown table of wall times (best and median), CPU times, ratios to tcpdump and peak
memory (max RSS); the last column is bpfdump's numpy block path (BPFDUMP_JIT=0) for comparison
with the JIT fast path.

bpfdump runs as a user runs it after `pip install .`: from a throwaway virtual environment
(`python -m venv --without-pip`) that sees the checkout through a .pth file, started by the
console script pip generates for the project's entry point (see make_venv).
"""
from __future__ import annotations

import argparse
import os
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILTERS = [
    "tcp",
    "udp port 53",
    "tcp port 80 and host 10.1.2.3",
    "vlan 100 and (udp or tcp) and not net 192.168.3.0/24",
    "(tcp[tcpflags] & (tcp-syn|tcp-fin) != 0 and portrange 1000-30000) or (ip6 and tcp port 443)",
]
PCAPY_SCRIPT = r"""
import sys, pcapy
r = pcapy.open_offline(sys.argv[1]); r.setfilter(sys.argv[3])
d = r.dump_open(sys.argv[2])
def cb(h, data): d.dump(h, data)
r.loop(-1, cb); d.close()
"""


def timed(cmd, stdout=subprocess.DEVNULL, env=None) -> tuple[float, float, int]:
    """Run cmd; return (wall seconds, CPU seconds (user + system), peak RSS in KiB). A run
    that fails stops the benchmark (a failed run is fast, not a result)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n"
                     f"{err.read().decode(errors='replace')[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def peak_rss(cmd, env) -> int | None:
    """Peak RSS of one run of cmd in KiB, through /usr/bin/time (None without it). Not from
    the timed runs: a child's ru_maxrss counts the memory of the process it was forked from
    (the benchmark's own Python, tens of MB) until it execs, so wait4 overstates small
    programs; /usr/bin/time is a small process to fork from."""
    if not os.path.exists("/usr/bin/time"):
        return None
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *cmd], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        return int(out.read().split()[-1])


class Result:
    """The runs of one command: best and median wall and CPU seconds, peak RSS."""

    def __init__(self, runs, rss_kib):
        walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
        self.wall, self.wall_median = min(walls), statistics.median(walls)
        self.cpu, self.cpu_median = min(cpus), statistics.median(cpus)
        self.rss_kib = rss_kib


def best_of(cmds, repeat, env=None) -> list[Result]:
    """For each (cmd, extra environment or None) of `cmds`: a Result over `repeat` rounds;
    the commands take turns within a round, so a change of load on the machine falls on all
    of them alike. The peak RSS comes from one more run of each (peak_rss)."""
    envs = [dict(env or os.environ, **(extra or {})) for _, extra in cmds]
    runs = [[] for _ in cmds]
    for _ in range(repeat):
        for i, (cmd, _) in enumerate(cmds):
            runs[i].append(timed(cmd, env=envs[i]))
    results = []
    for (cmd, _), e, rs in zip(cmds, envs, runs):
        rss = peak_rss(cmd, e)
        results.append(Result(rs, max(r[2] for r in rs) if rss is None else rss))
    return results


def byte_compile() -> None:
    """Write the bytecode caches of bpfdump's packages, as `pip install` does: without them
    (e.g. an editable install under PYTHONDONTWRITEBYTECODE=1) every run compiles the sources
    again, which is start-up time no installed copy pays."""
    import compileall
    import importlib.util
    for name in ("bpfdump", "filterlang", "vm"):
        spec = importlib.util.find_spec(name)
        compileall.compile_dir(os.path.dirname(spec.origin), quiet=2)


# What pip writes for a console_scripts entry point (pip 23's distlib template): it imports re
# and sys, then the entry point, and exits with what it returns.
SCRIPT_TEXT = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from {module} import {func}
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit({func}())
"""


def entry_point() -> tuple[str, str, str]:
    """(script name, module, function) of the project's console script (pyproject.toml)."""
    import tomllib
    with open(HERE.parent / "pyproject.toml", "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    name, target = next(iter(scripts.items()))
    module, func = target.split(":")
    return name, module, func


def make_venv(work: Path) -> tuple[str, str]:
    """A virtual environment as `pip install .` leaves one, minus the copying: (its python,
    the bpfdump console script). The venv's site-packages holds one .pth file: the checkout
    (so bpfdump, filterlang and vm import from it, as an installed copy would) and, as plain
    path lines, the directories numpy and dpkt come from (the dependencies pip would install;
    a plain path line does not run the .pth files of that directory, so this machine's
    sandbox and editable-install hooks stay out). The script is made by pip's own ScriptMaker
    when pip is there, else from SCRIPT_TEXT, which is the same text."""
    import importlib.util
    base = getattr(sys, "_base_executable", sys.executable)
    venv = work / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site_dir = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              check=True, capture_output=True, text=True).stdout.strip()
    lines = [str(HERE.parent)]
    for dep in ("numpy", "dpkt"):
        spec = importlib.util.find_spec(dep)
        if spec is not None and spec.origin:
            where = str(Path(spec.origin).parent.parent)
            if where not in lines:
                lines.append(where)
    Path(site_dir, "bpfdump-checkout.pth").write_text("\n".join(lines) + "\n")
    name, module, func = entry_point()
    script = venv / "bin" / name
    try:
        from pip._vendor.distlib.scripts import ScriptMaker
    except ImportError:
        script.write_text(SCRIPT_TEXT.format(python=python, module=module, func=func))
        script.chmod(0o755)
    else:
        maker = ScriptMaker(None, str(venv / "bin"))
        maker.executable, maker.clobber, maker.variants, maker.set_mode = python, True, {""}, True
        maker.make(f"{name} = {module}:{func}")
    found = subprocess.run([python, "-c", "import bpfdump; print(bpfdump.__file__)"], check=True,
                           capture_output=True, text=True).stdout.strip()
    assert found.startswith(str(HERE.parent)), found
    return python, str(script)


def user_env() -> dict:
    """This environment without PYTHONDONTWRITEBYTECODE and PYTHONUNBUFFERED, which this
    machine sets and a user's shell does not (unbuffered stdout changes what printing costs)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--capture", help="use this capture instead of building one")
    ap.add_argument("--no-numpy", action="store_true",
                    help="skip the numpy block path column (BPFDUMP_JIT=0)")
    ap.add_argument("--no-print", action="store_true", help="skip the -n -r F job")
    args = ap.parse_args()
    tcpdump = shutil.which("tcpdump")
    byte_compile()
    work = Path(tempfile.mkdtemp(prefix="bpfdump-bench-"))
    python, script = make_venv(work)
    bpfdump = [script]
    env = user_env()
    cap = args.capture or str(work / "mixed.pcap")
    if not args.capture:
        subprocess.run([sys.executable, str(HERE / "make_capture.py"), cap, "-n", str(args.count)],
                       check=True)
    out = str(work / "out.pcap")
    numpy_env = {"BPFDUMP_JIT": "0"}
    rows = []
    for expr in FILTERS:
        cmds = [([*bpfdump, "-r", cap, "-w", out, expr], None),
                ([tcpdump, "-r", cap, "-w", out, expr], None),
                ([python, "-c", PCAPY_SCRIPT, cap, out, expr], None)]
        if not args.no_numpy:
            cmds.append(([*bpfdump, "-r", cap, "-w", out, expr], numpy_env))
        b, t, p, *n = best_of(cmds, args.repeat, env)
        rows.append((f"-r F -w out '{expr}'", b, t, p, n[0] if n else None))
    if not args.no_print:
        b, t = best_of([([*bpfdump, "-n", "-r", cap], None), ([tcpdump, "-n", "-r", cap], None)],
                       args.repeat, env)
        rows.append(("-n -r F > /dev/null", b, t, None, None))
    b, t = best_of([([*bpfdump, "-d", FILTERS[-1]], None), ([tcpdump, "-d", FILTERS[-1]], None)],
                   max(args.repeat, 10), env)
    rows.append(("-d EXPR (start-up)", b, t, None, None))
    # the floors under every bpfdump row: the venv's interpreter starting and stopping, the
    # same with the `import re` of pip's console script, and this machine's own interpreter
    # (its site-packages .pth files: what `python3 -m bpfdump` pays here)
    floors = [(f"venv python -c pass", [python, "-c", "pass"]),
              (f"venv python -c 'import re' (console script's own import)",
               [python, "-c", "import re"]),
              (f"{sys.executable} -c pass (this machine's site)", [sys.executable, "-c", "pass"])]
    for label, cmd in floors:
        b, t = best_of([(cmd, None), ([tcpdump, "--version"], None)], max(args.repeat, 10), env)
        rows.append((f"{label} / tcpdump --version", b, t, None, None))
    load = os.getloadavg()[0]
    print(f"capture: {args.count} packets, {os.path.getsize(cap) / 1e6:.1f} MB; "
          f"best and median of {args.repeat} (start-up rows: of {max(args.repeat, 10)}); "
          f"{os.cpu_count()} cores; load average {load:.1f} at the end; "
          f"{time.strftime('%Y-%m-%d %H:%M')}; bpfdump: {script}\n")
    print("| job | bpfdump wall s best / median | tcpdump wall s best / median | wall ratio "
          "(best) | bpfdump CPU s | tcpdump CPU s | CPU ratio | pcapy-ng wall s | bpfdump MiB "
          "| tcpdump MiB | numpy path wall s / CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for job, b, t, p, n in rows:
        pc = f"{p.wall:.2f}" if p is not None else "–"
        nc = f"{n.wall:.3f} / {n.cpu:.3f}" if n is not None else "–"
        print(f"| `{job}` | {b.wall:.3f} / {b.wall_median:.3f} | {t.wall:.3f} / "
              f"{t.wall_median:.3f} | {b.wall / t.wall:.2f}× | {b.cpu:.3f} | {t.cpu:.3f} | "
              f"{b.cpu / max(t.cpu, 1e-3):.2f}× | {pc} | {b.rss_kib / 1024:.0f} | "
              f"{t.rss_kib / 1024:.0f} | {nc} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
