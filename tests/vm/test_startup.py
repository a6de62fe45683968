"""What the eBPF side of vm loads for each job (start-up of ``bpfdump -r F -w out EXPR``).

Each case runs a job in a fresh interpreter and lists the modules it loaded: translating,
verifying and running a filter must not pull in dataclasses (and inspect behind it), the
assembler, the helpers, the maps or select; the assembler and the helpers load when a job uses
them. The command's own start-up jobs (``bpfdump -d EXPR``, ``bpfdump -r F -w out EXPR``) must
not load what only costs start-up time there: typing, re, importlib, warnings, weakref,
dataclasses, numpy, scapy.
"""
from __future__ import annotations

import struct
import subprocess
import sys

import pytest

# `tcpdump -dd 'ip and tcp'` on Ethernet
_FILTER = [(0x28, 0, 0, 12), (0x15, 0, 3, 0x800), (0x30, 0, 0, 23), (0x15, 0, 1, 6),
           (0x6, 0, 0, 262144), (0x6, 0, 0, 0)]
_PACKET = bytes(12) + b"\x08\x00" + b"\x45" + bytes(8) + b"\x06" + bytes(26)

_PREAMBLE = f"""
from vm import cbpf, interp, ringbuf, translate, verifier
prog = cbpf.Program.from_tuples({_FILTER!r})
tr = translate.translate(prog)
verifier.verify(tr)
assert interp.run(tr.program, {_PACKET!r}) == 262144
"""

JOBS = [
    ("filter", "", ["dataclasses", "inspect", "vm.ebpf_asm", "vm.helpers", "vm.maps", "select",
                    "typing"], []),
    ("assemble", "from vm import ebpf; ebpf.assemble('mov %r0, 1\\nexit')",
     ["dataclasses", "vm.helpers", "vm.maps"], ["vm.ebpf_asm"]),
    ("helper-call", "from vm import ebpf; interp.run(ebpf.Program([ebpf.Insn(0x85, imm=7), "
                    "ebpf.Insn(0x95)]), b'')",
     ["dataclasses", "vm.maps", "vm.ebpf_asm"], ["vm.helpers"]),
    ("ring-buffer", "ringbuf.RingBuffer(1 << 16).close()",
     ["dataclasses", "vm.maps", "select", "threading"], []),
]


@pytest.mark.parametrize("job,forbidden,required", [j[1:] for j in JOBS],
                         ids=[j[0] for j in JOBS])
def test_job_loads_only_what_it_needs(job, forbidden, required):
    code = ("import sys; before = set(sys.modules)\n" + _PREAMBLE + job + "\n"
            "sys.stdout.write('LOADED ' + ' '.join(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = set(out.stdout.rsplit("LOADED ", 1)[1].split())
    assert {"vm.ebpf", "vm.translate", "vm.verifier", "vm.interp", "vm.ringbuf"} <= loaded
    assert sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in forbidden)) == []
    assert sorted(set(required) - loaded) == []


# -- the command's start-up jobs --------------------------------------------------------------

# loaded by none of them: what a console script (its own `import re` aside) would pay for
STARTUP_FORBIDDEN = ["typing", "re", "importlib", "warnings", "weakref", "dataclasses",
                     "inspect", "numpy", "scapy", "click", "threading"]
FILTERS = ["tcp port 80 and host 10.1.2.3",
           "vlan 100 and (udp or tcp) and not net 192.168.3.0/24",
           "(tcp[tcpflags] & (tcp-syn|tcp-fin) != 0 and portrange 1000-30000) or "
           "(ip6 and tcp port 443)"]


def _capture(path) -> None:
    """A little-endian microsecond pcap of two Ethernet/IPv4/TCP packets, one to port 80."""
    def packet(dport):
        ip = (b"\x45\x00\x00\x28" + bytes(4) + b"\x40\x06\x00\x00"
              + bytes([10, 1, 2, 3]) + bytes([10, 0, 0, 1]))
        tcp = struct.pack(">HHIIBBHHH", 1234, dport, 0, 0, 0x50, 0x02, 8192, 0, 0)
        return bytes(6) + bytes(6) + b"\x08\x00" + ip + tcp
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i, dport in enumerate((80, 443)):
            data = packet(dport)
            f.write(struct.pack("<IIII", 1_700_000_000 + i, 0, len(data), len(data)) + data)


def _loaded_by_command(args) -> list[str]:
    """The modules `bpfdump ARGS` loads, run as the console script runs it (cli.main(), which
    ends the process with os._exit after the exit handlers: the list is written by one)."""
    code = ("import atexit, sys\n"
            "before = set(sys.modules)\n"
            "atexit.register(lambda: sys.stderr.write('\\nLOADED ' + "
            "' '.join(sorted(set(sys.modules) - before))))\n"
            "sys.argv = ['bpfdump', *sys.argv[1:]]\n"
            "from bpfdump.cli import main\n"
            "main()\n")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stderr.rsplit("\nLOADED ", 1)[1].split()


@pytest.mark.parametrize("job", ["dump", "write"])
@pytest.mark.parametrize("expr", FILTERS, ids=["host-port", "vlan-net", "flags-portrange"])
def test_command_startup_loads_nothing_extra(job, expr, tmp_path):
    if job == "dump":
        args = ["-d", expr]
    else:
        _capture(tmp_path / "in.pcap")
        args = ["-r", str(tmp_path / "in.pcap"), "-w", str(tmp_path / "out.pcap"), expr]
    loaded = _loaded_by_command(args)
    assert "filterlang.optimize" in loaded                    # it did compile the filter
    assert sorted(m for m in loaded
                  if any(m == f or m.startswith(f + ".") for f in STARTUP_FORBIDDEN)) == []
