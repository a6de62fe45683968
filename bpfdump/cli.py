"""bpfdump command line: tcpdump's options and output formats (see man/bpfdump.1)."""
from __future__ import annotations

import sys

import click

from .errors import UsageError, RuntimeFailure

PROG = "bpfdump"

_TS_PRECISION = click.Choice(["micro", "nano"])


def _fail(message: str, code: int) -> None:
    sys.stdout.flush()
    click.echo(f"{PROG}: {message}", err=True)
    sys.exit(code)


@click.command(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="EXPRESSION is a pcap-filter(7) expression; see bpfdump(1).",
)
# what to read
@click.option("-r", "read_file", metavar="FILE", help="Read packets from a pcap/pcapng file ('-' = stdin).")
@click.option("-i", "interface", metavar="IFACE", help="Capture live on IFACE ('any' = all interfaces).")
@click.option("-p", "no_promisc", is_flag=True, help="Don't put the interface into promiscuous mode.")
@click.option("-s", "snaplen", type=int, metavar="SNAPLEN", help="Snapshot length in bytes (0 = 262144).")
@click.option("-B", "buffer_kib", type=int, metavar="KIB", help="Capture buffer size in KiB.")
@click.option("-Q", "direction", type=click.Choice(["in", "out", "inout"]), help="Capture direction.")
@click.option("--immediate-mode", is_flag=True, help="Deliver packets as soon as they arrive.")
@click.option("-c", "count", type=int, metavar="N", help="Exit after N packets.")
@click.option("-y", "linktype", metavar="DLT", help="Link type for compiling the filter (e.g. EN10MB).")
# what to write
@click.option("-w", "write_file", metavar="FILE", help="Write raw packets to FILE ('-' = stdout).")
@click.option("-C", "file_size", type=int, metavar="MB", help="With -w: start a new file after MB million bytes.")
@click.option("-G", "rotate_seconds", type=int, metavar="SEC", help="With -w: rotate the file every SEC seconds.")
@click.option("-W", "file_count", type=int, metavar="N", help="With -C/-G: keep at most N files.")
@click.option("--print", "also_print", is_flag=True, help="Print packets even while writing with -w.")
@click.option("--count", "count_only", is_flag=True, help="Print only the number of matching packets.")
# how to print
@click.option("-n", "numeric", count=True, help="Don't convert addresses or ports to names.")
@click.option("-v", "verbose", count=True, help="Verbose output (-vv, -vvv for more).")
@click.option("-e", "ether", is_flag=True, help="Print the link-level header.")
@click.option("-q", "quiet", is_flag=True, help="Quick (less) protocol output.")
@click.option("-x", "hex", count=True, help="Hex dump of each packet (-xx: with link header).")
@click.option("-X", "hexascii", count=True, help="Hex and ASCII dump (-XX: with link header).")
@click.option("-A", "ascii", count=True, help="ASCII dump of each packet (-AA: with link header).")
@click.option("-t", "ts_format", count=True, help="-t none, -tt epoch, -ttt delta, -tttt date, -ttttt since first.")
@click.option("--nano", "nano", flag_value="nano", help="Nanosecond time stamps.")
@click.option("--micro", "nano", flag_value="micro", help="Microsecond time stamps (default).")
@click.option("--time-stamp-precision", "precision", type=_TS_PRECISION, help="micro or nano.")
@click.option("-#", "--number", "number", is_flag=True, help="Print a packet number at the start of each line.")
@click.option("-S", "absolute_seq", is_flag=True, help="Print absolute TCP sequence numbers.")
@click.option("-l", "line_buffered", is_flag=True, help="Line-buffer standard output.")
@click.option("-U", "packet_buffered", is_flag=True, help="With -w: flush after each packet.")
# the filter program
@click.option("-d", "dump", count=True, help="Print the compiled cBPF program (-dd as C, -ddd as decimal).")
@click.option("--ebpf", "dump_ebpf", is_flag=True, help="Print the filter translated to eBPF.")
@click.option("-F", "filter_file", metavar="FILE", help="Read the filter expression from FILE.")
@click.option("-O", "no_optimize", is_flag=True, help="Don't optimize the filter program.")
@click.option("--kernel-filter", is_flag=True, help="Live capture: run the filter in the kernel.")
# listings
@click.option("-D", "list_interfaces", is_flag=True, help="List the interfaces available for capture.")
@click.option("-L", "list_linktypes", is_flag=True, help="List the link types of the interface (-i).")
@click.option("--version", "show_version", is_flag=True, help="Print version information.")
@click.argument("expression", nargs=-1)
def command(**opts):
    """Capture, filter and print packets as tcpdump does."""
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
    sys.exit(code or 0)


def main(argv=None) -> None:
    try:
        command.main(args=argv, prog_name=PROG, standalone_mode=True)
    except SystemExit:
        raise
