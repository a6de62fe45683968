"""bpfdump command line: tcpdump's options and output formats (see man/bpfdump.1).

Options are read the way tcpdump's getopt_long reads them: flags combine (``-nnvvX``), a value
may be attached (``-c5 -s0 -w-``) or be the next word, counters repeat (``-vvv -ttt -xx``), long
options take ``--opt=value`` or ``--opt value`` and may be shortened to a unique prefix, options
may follow the expression words (as GNU getopt permutes), and ``--`` ends the options. What is
left, joined with spaces, is the filter expression. The parser is hand-written so that start-up
stays light (``bpfdump -d EXPR`` loads no option library).
"""
from __future__ import annotations

import sys

from .errors import RuntimeFailure, UsageError

PROG = "bpfdump"
USAGE = f"Usage: {PROG} [OPTIONS] [EXPRESSION]..."

# kinds of option
FLAG, COUNT, VALUE = "flag", "count", "value"

# (short, long, dest, kind, metavar, type/choices or flag value, help); None = no such spelling.
# ``type`` is int, a tuple of choices, or None (text); for --nano/--micro it is the stored value.
OPTIONS = [
    # what to read
    ("r", None, "read_file", VALUE, "FILE", None,
     "Read packets from a pcap/pcapng file ('-' = stdin)."),
    ("i", None, "interface", VALUE, "IFACE", None,
     "Capture live on IFACE ('any' = all interfaces)."),
    ("p", None, "no_promisc", FLAG, None, None, "Don't put the interface into promiscuous mode."),
    ("s", None, "snaplen", VALUE, "SNAPLEN", int, "Snapshot length in bytes (0 = 262144)."),
    ("B", None, "buffer_kib", VALUE, "KIB", int, "Capture buffer size in KiB."),
    ("Q", None, "direction", VALUE, "[in|out|inout]", ("in", "out", "inout"),
     "Capture direction."),
    (None, "immediate-mode", "immediate_mode", FLAG, None, None,
     "Deliver packets as soon as they arrive."),
    ("c", None, "count", VALUE, "N", int, "Exit after N packets."),
    ("y", None, "linktype", VALUE, "DLT", None,
     "Link type for compiling the filter (e.g. EN10MB)."),
    # what to write
    ("w", None, "write_file", VALUE, "FILE", None, "Write raw packets to FILE ('-' = stdout)."),
    ("C", None, "file_size", VALUE, "MB", int,
     "With -w: start a new file after MB million bytes."),
    ("G", None, "rotate_seconds", VALUE, "SEC", int, "With -w: rotate the file every SEC seconds."),
    ("W", None, "file_count", VALUE, "N", int, "With -C/-G: keep at most N files."),
    (None, "print", "also_print", FLAG, None, None, "Print packets even while writing with -w."),
    (None, "count", "count_only", FLAG, None, None, "Print only the number of matching packets."),
    # how to print
    ("n", None, "numeric", COUNT, None, None, "Don't convert addresses or ports to names."),
    ("v", None, "verbose", COUNT, None, None, "Verbose output (-vv, -vvv for more)."),
    ("e", None, "ether", FLAG, None, None, "Print the link-level header."),
    ("q", None, "quiet", FLAG, None, None, "Quick (less) protocol output."),
    ("x", None, "hex", COUNT, None, None, "Hex dump of each packet (-xx: with link header)."),
    ("X", None, "hexascii", COUNT, None, None, "Hex and ASCII dump (-XX: with link header)."),
    ("A", None, "ascii", COUNT, None, None, "ASCII dump of each packet (-AA: with link header)."),
    ("t", None, "ts_format", COUNT, None, None,
     "-t none, -tt epoch, -ttt delta, -tttt date, -ttttt since first."),
    (None, "nano", "nano", FLAG, None, "nano", "Nanosecond time stamps."),
    (None, "micro", "nano", FLAG, None, "micro", "Microsecond time stamps (default)."),
    (None, "time-stamp-precision", "precision", VALUE, "[micro|nano]", ("micro", "nano"),
     "micro or nano."),
    ("#", "number", "number", FLAG, None, None, "Print a packet number at the start of each line."),
    ("S", None, "absolute_seq", FLAG, None, None, "Print absolute TCP sequence numbers."),
    ("l", None, "line_buffered", FLAG, None, None, "Line-buffer standard output."),
    ("U", None, "packet_buffered", FLAG, None, None, "With -w: flush after each packet."),
    # the filter program
    ("d", None, "dump", COUNT, None, None,
     "Print the compiled cBPF program (-dd as C, -ddd as decimal)."),
    (None, "ebpf", "dump_ebpf", FLAG, None, None, "Print the filter translated to eBPF."),
    ("F", None, "filter_file", VALUE, "FILE", None, "Read the filter expression from FILE."),
    ("O", None, "no_optimize", FLAG, None, None, "Don't optimize the filter program."),
    (None, "kernel-filter", "kernel_filter", FLAG, None, None,
     "Live capture: run the filter in the kernel."),
    # listings
    ("D", None, "list_interfaces", FLAG, None, None,
     "List the interfaces available for capture."),
    ("L", None, "list_linktypes", FLAG, None, None,
     "List the link types of the interface (-i)."),
    (None, "version", "show_version", FLAG, None, None, "Print version information."),
    ("h", "help", "help", FLAG, None, None, "Show this message and exit."),
]

_SHORT = {row[0]: row for row in OPTIONS if row[0]}
_LONG = {row[1]: row for row in OPTIONS if row[1]}


def defaults() -> dict:
    """The options as the job sees them when none is given."""
    opts = {}
    for _, _, dest, kind, _, typ, _ in OPTIONS:
        if kind == COUNT:
            opts[dest] = 0
        elif kind == FLAG and typ is None:
            opts[dest] = False
        else:
            opts[dest] = None
    opts["expression"] = ()
    return opts


def _name(row) -> str:
    return f"-{row[0]}" if row[0] else f"--{row[1]}"


def _store(opts: dict, row, spelled: str, value) -> None:
    _, _, dest, kind, _, typ, _ = row
    if kind == COUNT:
        opts[dest] += 1
    elif kind == FLAG:
        opts[dest] = True if typ is None else typ
    elif typ is int:
        try:
            opts[dest] = int(value, 10)
        except ValueError:
            raise UsageError(f"Invalid value for '{spelled}': {value!r} is not a valid "
                             "integer.") from None
    elif isinstance(typ, tuple) and value not in typ:
        choices = ", ".join(repr(c) for c in typ)
        raise UsageError(f"Invalid value for '{spelled}': {value!r} is not one of {choices}.")
    else:
        opts[dest] = value


def _long_row(word: str):
    """The row of ``--name`` (exact, or a unique prefix as getopt_long allows)."""
    name = word[2:].split("=", 1)[0]
    if name in _LONG:
        return _LONG[name]
    found = [key for key in _LONG if key.startswith(name)] if name else []
    if len(found) == 1:
        return _LONG[found[0]]
    if found:
        spelled = ", ".join("--" + key for key in found)
        raise UsageError(f"Option '--{name}' is ambiguous ({spelled}).")
    raise UsageError(f"No such option '--{name}'.")


def parse_args(argv) -> dict:
    """tcpdump's command line -> the options dict of ``app.run`` (raises UsageError)."""
    opts = defaults()
    words = []
    args = list(argv)
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word == "--":
            words.extend(args[i:])
            break
        if word.startswith("--"):
            row = _long_row(word)
            spelled = "--" + row[1]
            if row[3] == VALUE:
                if "=" in word:
                    value = word.split("=", 1)[1]
                elif i < len(args):
                    value = args[i]
                    i += 1
                else:
                    raise UsageError(f"Option '{spelled}' requires an argument.")
                _store(opts, row, spelled, value)
            elif "=" in word:
                raise UsageError(f"Option '{spelled}' does not take a value.")
            else:
                _store(opts, row, spelled, None)
            continue
        if not word.startswith("-") or word == "-":
            words.append(word)
            continue
        pos = 1
        while pos < len(word):
            letter = word[pos]
            pos += 1
            row = _SHORT.get(letter)
            if row is None:
                raise UsageError(f"No such option '-{letter}'.")
            if row[3] != VALUE:
                _store(opts, row, "-" + letter, None)
                continue
            if pos < len(word):
                value = word[pos:]
            elif i < len(args):
                value = args[i]
                i += 1
            else:
                raise UsageError(f"Option '-{letter}' requires an argument.")
            _store(opts, row, "-" + letter, value)
            break
    opts["expression"] = tuple(words)
    return opts


def help_text() -> str:
    lines = [USAGE, "", "  Capture, filter and print packets as tcpdump does.", "", "Options:"]
    for row in OPTIONS:
        short, long, _, kind, metavar, _, text = row
        names = ", ".join(n for n in (short and "-" + short, long and "--" + long) if n)
        left = f"{names} {metavar}" if kind == VALUE else names
        if len(left) > 22:
            lines.append(f"  {left}")
            lines.append(f"  {'':22}  {text}")
        else:
            lines.append(f"  {left:22}  {text}")
    lines += ["", "  EXPRESSION is a pcap-filter(7) expression; see bpfdump(1).", ""]
    return "\n".join(lines)


def _fail(message: str, code: int) -> None:
    sys.stdout.flush()
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.exit(code)


def main(argv=None) -> None:
    """The bpfdump command: run the job of ``argv`` (default: the process's arguments) and exit
    with its status. Called without ``argv`` (the console script, ``python -m bpfdump``) it
    ends the process with os._exit once its output is flushed (see _leave), and pauses the
    cyclic garbage collector until the packets flow (app.pause_gc)."""
    if argv is None:
        from .app import pause_gc
        pause_gc()
    try:
        opts = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        _fail(f"{exc}\nTry '{PROG} --help' for help.", 2)
    if opts.pop("help"):
        sys.stdout.write(help_text())
        sys.exit(0)
    from .app import run
    try:
        code = run(opts)
    except UsageError as exc:
        _fail(str(exc), 2)
    except RuntimeFailure as exc:
        _fail(str(exc), 1)
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): quietly stop like tcpdump
        try:
            sys.stdout = None
        finally:
            sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)
    if argv is None:
        _leave(code or 0)
    sys.exit(code or 0)


def _leave(code: int) -> None:
    """End the process after a job that ran to its end: exit handlers run and stdout/stderr are
    flushed, then os._exit skips the interpreter's teardown (freeing every module and object:
    ~8 ms after `-r F -w out EXPR`, all of it wasted on a process that is about to end). The
    job has closed its outputs by then (the sinks close their files). Falls back to sys.exit
    while another thread runs (its work might not be done), or when a flush fails (so that
    Python reports it as usual)."""
    import os
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        sys.exit(code)
    import atexit
    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except BrokenPipeError:
        # the reader went away after everything was written: stop quietly, like the run did
        os._exit(code)
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)
