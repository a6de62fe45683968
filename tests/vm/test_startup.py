"""What the eBPF side of vm loads for each job (start-up of ``bpfdump -r F -w out EXPR``).

Each case runs a job in a fresh interpreter and lists the modules it loaded: translating,
verifying and running a filter must not pull in dataclasses (and inspect behind it), the
assembler, the helpers, the maps or select; the assembler and the helpers load when a job uses
them.
"""
from __future__ import annotations

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
