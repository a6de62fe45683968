"""The CLI end to end, against the tcpdump binary and libpcap on the same input."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "pcaps" / "sample.pcap"
TCPDUMP = shutil.which("tcpdump")
needs_tcpdump = pytest.mark.skipif(TCPDUMP is None, reason="tcpdump binary not installed")

ENV = dict(os.environ, TZ="UTC", LC_ALL="C")


def bpfdump(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "bpfdump", *args], capture_output=True,
                          env=ENV, input=stdin, timeout=120)


def tcpdump(*args):
    return subprocess.run([TCPDUMP, *args], capture_output=True, env=ENV, timeout=120)


# -- the program: -d / -dd / -ddd --------------------------------------------------------------

DUMP_EXPRS = [
    "ip", "tcp port 80", "udp and not port 53", "host 10.0.0.1", "net 192.168.0.0/16",
    "ether broadcast", "ip6 and tcp", "tcp[tcpflags] & tcp-syn != 0", "vlan 100 and host 10.0.0.1",
    "icmp[icmptype] = icmp-echo", "len > 100", "portrange 1000-2000", "arp or rarp",
]


def _verdict_rows(text: str):
    from vm.cbpf import assemble
    return assemble(text).to_tuples()


@needs_tcpdump
@pytest.mark.parametrize("expr", DUMP_EXPRS, ids=DUMP_EXPRS)
def test_dump_unoptimized_program_runs_like_libpcaps(expr):
    """-d -O prints a program that reads back and filters as libpcap's program does."""
    from tests.support.oracle import libpcap_compile, libpcap_run
    from tests.support.packets import packets
    ours = bpfdump("-O", "-d", expr)
    assert ours.returncode == 0, ours.stderr
    assert ours.stderr.decode() == "Warning: assuming Ethernet\n"
    rows = _verdict_rows(ours.stdout.decode())
    theirs = libpcap_compile(expr, "EN10MB", optimize=False)
    for sample in packets("EN10MB"):
        assert libpcap_run(rows, sample.data, sample.wirelen) == \
            libpcap_run(theirs, sample.data, sample.wirelen), sample.name


@needs_tcpdump
@pytest.mark.parametrize("fmt", ["-d", "-dd", "-ddd"])
def test_dump_formats_match_tcpdump_for_the_same_program(fmt):
    """-dd/-ddd are -d in another form: same instruction rows as our -d, laid out as tcpdump."""
    ours_d = bpfdump("-O", "-d", "tcp port 80").stdout.decode()
    ours = bpfdump("-O", fmt, "tcp port 80")
    assert ours.returncode == 0
    from vm.cbpf import assemble
    assert ours.stdout.decode() == assemble(ours_d).format(fmt[1:])


@needs_tcpdump
def test_dump_with_linktype_needs_no_warning():
    out = bpfdump("-y", "LINUX_SLL2", "-d", "ip")
    assert out.returncode == 0 and out.stderr == b""
    assert out.stdout.decode().startswith("(000) ")


def test_ebpf_dump_prints_the_translation():
    out = bpfdump("--ebpf", "-y", "EN10MB", "tcp port 80")
    assert out.returncode == 0, out.stderr
    from vm.ebpf import assemble
    assert len(assemble(out.stdout.decode())) > 5


# -- errors: one line (plus the caret under a filter), exit status, never a traceback ----------

ERRORS = [
    (["-d", "tcp port"], 2, "syntax error"),
    (["-d", "port 99999"], 2, "99999"),
    (["-d", "host foo.invalid"], 2, "unknown host 'foo.invalid'"),
    (["-y", "FOO", "-d", "ip"], 2, "invalid data link type FOO"),
    (["-r", "/nonexistent/x.pcap"], 1, "/nonexistent/x.pcap: No such file or directory"),
    (["--bogus-option"], 2, "No such option"),
]


@pytest.mark.parametrize("args,code,text", ERRORS, ids=[" ".join(a) for a, _, _ in ERRORS])
def test_errors_are_one_line_with_status(args, code, text):
    out = bpfdump(*args)
    err = out.stderr.decode()
    assert out.returncode == code, err
    assert text in err
    assert "Traceback" not in err


def test_filter_error_points_at_the_text():
    err = bpfdump("-d", "tcp and port 99999").stderr.decode().splitlines()
    assert err[0] == "Warning: assuming Ethernet"
    assert err[1].startswith("bpfdump: ") and "port" in err[1] and "99999" in err[1]
    caret = err[-1]
    assert err[-2] == "tcp and port 99999"
    assert caret.strip().startswith("^") and caret.index("^") >= len("tcp and port ")


def test_not_a_capture_file(tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"this is not a capture file at all, not even close")
    out = bpfdump("-r", str(bad))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr.decode()
    assert len(out.stderr.decode().strip().splitlines()) == 1


# -- option spellings: read as tcpdump's getopt_long reads them ----------------------------------

SPELLINGS = [
    ["-nnc5", "-r", str(SAMPLE)],                          # combined flags, attached value
    ["-r", str(SAMPLE), "-c", "3", "tcp", "-n", "-e"],       # options after the expression
    ["-nr", str(SAMPLE), "-c3", "--", "udp"],              # value of the last flag in a group
    ["-r", str(SAMPLE), "-ttn", "ip", "and", "not", "udp"],
    ["-n", "-r", str(SAMPLE), "-#", "-vv", "-c", "4"],
    ["-nr", str(SAMPLE), "--num", "--coun"],              # unique prefixes of long options
    ["-r", str(SAMPLE), "--time-stamp-precision=nano", "-n", "-c2"],
    ["-r", str(SAMPLE), "--time-stamp-precision", "micro", "-n", "-c2"],
]


@needs_tcpdump
@pytest.mark.parametrize("args", SPELLINGS, ids=[" ".join(a).replace(str(SAMPLE), "S")
                                                 for a in SPELLINGS])
def test_option_spellings_read_as_tcpdump_reads_them(args):
    a = bpfdump(*args)
    b = tcpdump(*args)
    assert a.returncode == b.returncode == 0, a.stderr
    assert a.stdout.decode().splitlines() == b.stdout.decode().splitlines()


@needs_tcpdump
def test_attached_write_value_writes_stdout():
    a = bpfdump("-r", str(SAMPLE), "-w-", "tcp")
    b = tcpdump("-r", str(SAMPLE), "-w-", "tcp")
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout


BAD_SPELLINGS = [["-r"], ["-Z"], ["-c", "many", "-r", str(SAMPLE)], ["--print=yes"],
                 ["--time-stamp-precision=seconds"]]


@needs_tcpdump
@pytest.mark.parametrize("args", BAD_SPELLINGS, ids=[" ".join(a).replace(str(SAMPLE), "S")
                                                     for a in BAD_SPELLINGS])
def test_bad_spellings_fail_like_tcpdump(args):
    """tcpdump refuses these too; we exit 2 (usage) with a message and no traceback."""
    a = bpfdump(*args)
    b = tcpdump(*args)
    assert b.returncode != 0
    assert a.returncode == 2
    err = a.stderr.decode()
    assert err.startswith("bpfdump: ") and "Traceback" not in err


def test_help_lists_the_options_of_the_manual_page():
    """--help and man/bpfdump.1 describe the same options (the page is the reference)."""
    out = bpfdump("--help")
    assert out.returncode == 0
    helped = set(re.findall(r"^  (-[A-Za-z#])(?=[ ,])", out.stdout.decode(), re.M))
    helped |= set(re.findall(r"(--[a-z][a-z-]*)", out.stdout.decode()))
    man = (REPO / "man" / "bpfdump.1").read_text().replace("\\-", "-")
    manned = set(re.findall(r"^\.B[IR]? *(-[A-Za-z#])", man, re.M))
    manned |= set(re.findall(r"(--[a-z][a-z-]*[a-z])", man))
    assert helped == manned


# -- start-up stays light -----------------------------------------------------------------------

@pytest.mark.parametrize("args", [["-d", "tcp port 80"], ["-n", "-r", str(SAMPLE)]],
                         ids=["dump", "read"])
def test_startup_does_not_import_scapy(args):
    # the command ends the process itself (os._exit after its exit handlers): report from one
    code = ("import atexit, sys, runpy; sys.argv=['bpfdump', *sys.argv[1:]]\n"
            "atexit.register(lambda: sys.stderr.write('SCAPY' if any(m.startswith('scapy') "
            "for m in sys.modules) else 'CLEAN'))\n"
            "runpy.run_module('bpfdump', run_name='__main__')\n")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, env=ENV,
                         timeout=120)
    assert out.stderr.decode().endswith("CLEAN")


# what each job must not load: the option library we left, what only other jobs use, and what
# compiling a filter needs only for names, tunnels, assembling, validating or interpreting cBPF
LIGHT = [
    (["-d", "tcp port 80"], ["click", "numpy", "scapy", "dataclasses", "socket", "bpfdump.engine",
                             "bpfdump.printer", "filterlang.names", "filterlang.codegen_rare",
                             "vm.cbpf_asm", "vm.cbpf_validate", "vm.cbpf_interp", "vm.ebpf"]),
    (["-d", "vlan 100 and (udp or tcp) and not net 192.168.3.0/24"],
     ["click", "numpy", "dataclasses", "filterlang.codegen_rare", "vm.cbpf_asm"]),
    (["-d", "(tcp[tcpflags] & (tcp-syn|tcp-fin) != 0 and portrange 1000-30000) or "
            "(ip6 and tcp port 443)"],
     ["click", "dataclasses", "socket", "filterlang.names", "filterlang.codegen_rare"]),
    (["-n", "-r", str(SAMPLE)], ["click", "scapy", "filterlang.parser", "filterlang.codegen",
                                 "filterlang.optimize"]),
]


@pytest.mark.parametrize("args,forbidden", LIGHT, ids=["dump", "dump-vlan", "dump-portrange", "read"])
def test_startup_loads_only_what_the_job_needs(args, forbidden):
    code = ("import atexit, sys, runpy; sys.argv=['bpfdump', *sys.argv[1:]]\n"
            "before = set(sys.modules)\n"
            "atexit.register(lambda: sys.stderr.write('\\nLOADED ' + "
            "' '.join(sorted(set(sys.modules) - before))))\n"
            "runpy.run_module('bpfdump', run_name='__main__')\n")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, env=ENV,
                         timeout=120)
    loaded = out.stderr.decode().rsplit("\nLOADED ", 1)[1].split()
    assert out.returncode == 0
    assert [m for m in loaded if m.split(".")[0] in ("filterlang", "vm")]    # it did compile
    assert [m for m in loaded if any(m == f or m.startswith(f + ".") for f in forbidden)] == []


# -- offline: the same packets as tcpdump, the same text -----------------------------------------

FILTERS = ["", "tcp", "udp port 53", "tcp port 80 and host 10.0.0.1", "icmp or arp", "ip6",
           "vlan", "not ip", "tcp[tcpflags] & tcp-syn != 0", "len > 200"]


@needs_tcpdump
@pytest.mark.parametrize("expr", FILTERS, ids=[f or "<all>" for f in FILTERS])
def test_write_matches_tcpdump(expr, tmp_path):
    ours, theirs = tmp_path / "ours.pcap", tmp_path / "theirs.pcap"
    args = [expr] if expr else []
    a = bpfdump("-r", str(SAMPLE), "-w", str(ours), *args)
    b = tcpdump("-r", str(SAMPLE), "-w", str(theirs), *args)
    assert a.returncode == b.returncode == 0, a.stderr
    assert ours.read_bytes() == theirs.read_bytes()
    assert a.stderr == b.stderr.replace(b"tcpdump", b"bpfdump")


@needs_tcpdump
@pytest.mark.parametrize("opts", [["-n"], ["-nn", "-e"], ["-q", "-n"], ["-c", "5", "-n"],
                                  ["-tt", "-n"], ["--count"], ["-#", "-n", "-v"]],
                         ids=lambda o: " ".join(o))
def test_print_matches_tcpdump(opts):
    a = bpfdump("-r", str(SAMPLE), *opts)
    b = tcpdump("-r", str(SAMPLE), *opts)
    assert a.returncode == b.returncode
    assert a.stdout.decode().splitlines() == b.stdout.decode().splitlines()


@needs_tcpdump
def test_read_from_stdin_and_write_to_stdout():
    data = SAMPLE.read_bytes()
    a = bpfdump("-r", "-", "-w", "-", "tcp", stdin=data)
    b = subprocess.run([TCPDUMP, "-r", "-", "-w", "-", "tcp"], input=data, capture_output=True)
    assert a.returncode == 0 and a.stdout == b.stdout


@needs_tcpdump
def test_truncated_capture_prints_what_came_first(tmp_path):
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(SAMPLE.read_bytes()[:-7])
    a = bpfdump("-n", "-r", str(cut))
    b = tcpdump("-n", "-r", str(cut))
    assert a.returncode == b.returncode == 1
    assert a.stdout == b.stdout
    assert "Traceback" not in a.stderr.decode()


@needs_tcpdump
@pytest.mark.exhaustive
def test_write_matches_tcpdump_for_every_corpus_expression(tmp_path):
    """Our compiler, optimizer, VM and writer end to end: for every expression of the
    differential corpus, the -w file is byte-identical to tcpdump's on the sample capture."""
    from tests.support.expressions import EXPRESSIONS
    ours, theirs = tmp_path / "ours.pcap", tmp_path / "theirs.pcap"
    differ = []
    for expr in EXPRESSIONS:
        b = tcpdump("-r", str(SAMPLE), "-w", str(theirs), "--", expr)
        a = bpfdump("-r", str(SAMPLE), "-w", str(ours), "--", expr)
        if b.returncode != 0:
            assert a.returncode != 0, expr
            continue
        if a.returncode != 0 or ours.read_bytes() != theirs.read_bytes():
            differ.append(expr)
    assert differ == []
