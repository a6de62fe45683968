"""filterlang.compile: the public entry point (arguments, link types, snaplen, netmask,
optimize, errors), checked against libpcap 1.10's own programs' verdicts."""
import pytest

import filterlang
from filterlang import linktypes
from tests.filterlang.test_differential_oracle import SUPPORTED, libpcap_compile, libpcap_run
from tests.support import packets
from vm.cbpf import Program


def verdicts(rows, linktype, step=9):
    return [libpcap_run(rows, s.data, s.wirelen) for s in packets.packets(linktype)[::step]]


def test_default_arguments():
    prog = filterlang.compile("tcp port 80")
    assert isinstance(prog, Program)
    assert verdicts(prog.to_tuples(), "EN10MB") == verdicts(libpcap_compile("tcp port 80"), "EN10MB")


@pytest.mark.parametrize("linktype", ["EN10MB", "en10mb", "DLT_EN10MB", 1, "1",
                                      linktypes.lookup("EN10MB")], ids=repr)
def test_linktype_forms(linktype):
    prog = filterlang.compile("ip", linktype=linktype, optimize=False)
    assert prog.to_tuples() == filterlang.compile("ip", optimize=False).to_tuples()


@pytest.mark.parametrize("linktype", ["IEEE802_11", "PFLOG", "NOSUCHDLT", 9999])
def test_unsupported_linktype(linktype):
    with pytest.raises(filterlang.FilterError):
        filterlang.compile("ip", linktype=linktype)


@pytest.mark.parametrize("linktype", SUPPORTED)
@pytest.mark.parametrize("snaplen", [65535, 262144, 96, 1])
def test_empty_expression_accepts_snaplen(linktype, snaplen):
    prog = filterlang.compile("", linktype=linktype, snaplen=snaplen, optimize=False)
    want = libpcap_compile("", linktype, snaplen, False, 0)
    assert verdicts(prog.to_tuples(), linktype) == verdicts(want, linktype)
    assert {v for v in verdicts(prog.to_tuples(), linktype)} == {snaplen}


@pytest.mark.parametrize("netmask, as_int", [(0, 0), ("255.255.255.0", 0xFFFFFF00),
                                             (0xFFFF0000, 0xFFFF0000)], ids=str)
def test_netmask_forms(netmask, as_int):
    prog = filterlang.compile("ip broadcast", netmask=netmask, optimize=False)
    want = libpcap_compile("ip broadcast", "EN10MB", 262144, False, as_int)
    assert verdicts(prog.to_tuples(), "EN10MB", 1) == verdicts(want, "EN10MB", 1)


@pytest.mark.parametrize("netmask", [None, 0xFFFFFFFF])
def test_unknown_netmask_refuses_ip_broadcast(netmask):
    with pytest.raises(filterlang.FilterError, match="netmask not known"):
        filterlang.compile("ip broadcast", netmask=netmask)


@pytest.mark.parametrize("expr", ["tcp port 80", "host 10.0.0.1 or arp", "vlan and ip6",
                                  "ip6 protochain 6", "geneve and udp"])
def test_optimize_flag_keeps_verdicts_on_whole_packets(expr):
    plain = filterlang.compile(expr, optimize=False).to_tuples()
    optimized = filterlang.compile(expr, optimize=True).to_tuples()
    full = [s for s in packets.packets("EN10MB") if len(s.data) == s.wirelen]
    assert [libpcap_run(optimized, s.data) for s in full] == [libpcap_run(plain, s.data) for s in full]


def test_long_programs_get_ja_trampolines():
    expr = " or ".join(f"host 10.0.0.{i}" for i in range(1, 40))
    prog = filterlang.compile(expr, optimize=False)
    assert len(prog) > 512
    assert all(i.jt <= 255 and i.jf <= 255 for i in prog)
    want = libpcap_compile(expr, "EN10MB", 262144, False, 0)
    assert verdicts(prog.to_tuples(), "EN10MB", 1) == verdicts(want, "EN10MB", 1)


def test_error_carries_expression_and_caret():
    with pytest.raises(filterlang.FilterError) as err:
        filterlang.compile("tcp port 80 and udp[0:3] = 1")
    exc = err.value
    assert exc.expr == "tcp port 80 and udp[0:3] = 1"
    lines = str(exc).splitlines()
    assert lines[0].startswith("data size must be 1, 2, or 4")
    assert lines[1] == exc.expr
    assert lines[2].strip() == "^"
    assert lines[2].index("^") == exc.expr.index("3]")
