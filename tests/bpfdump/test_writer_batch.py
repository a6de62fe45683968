"""PcapWriter.write_batch against tcpdump's copy of a file: source batches written as blocks
(input records copied as they are when the layout matches, headers rebuilt otherwise)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bpfdump.sources import open_offline
from bpfdump.writer import PcapWriter

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
TCPDUMP = shutil.which("tcpdump")
pytestmark = pytest.mark.skipif(TCPDUMP is None, reason="tcpdump not installed")


def tcpdump_copy(path, *extra) -> bytes:
    return subprocess.run([TCPDUMP, "-r", str(path), "-w", "-", *extra], capture_output=True,
                          timeout=60).stdout


@pytest.mark.parametrize("name", ["sample.pcap", "sample-nano.pcap", "sample-be.pcap",
                                  "sample-snap96.pcap", "linux-sll.pcap", "sample.pcapng"])
@pytest.mark.parametrize("every", [1, 3], ids=["all", "every-third"])
def test_write_batch_like_tcpdump(name, every, tmp_path):
    out = tmp_path / "out.pcap"
    with open_offline(PCAPS / name) as src:
        with PcapWriter(out, src.linktype, src.snaplen, "micro",
                        linktype_ext=getattr(src, "linktype_ext", 0)) as w:
            for batch in src.batches(max_packets=50):
                w.write_batch(batch, np.arange(0, len(batch), every) if every > 1 else None)
    if every == 1:
        assert out.read_bytes() == tcpdump_copy(PCAPS / name)
    else:
        # tcpdump has no "every third packet": compare with our per-packet writes
        want = tmp_path / "want.pcap"
        with open_offline(PCAPS / name) as src:
            with PcapWriter(want, src.linktype, src.snaplen, "micro",
                            linktype_ext=getattr(src, "linktype_ext", 0)) as w:
                for batch in src.batches(max_packets=50):
                    for pkt in batch.packets(np.arange(0, len(batch), every)):
                        w.write(pkt)
        assert out.read_bytes() == want.read_bytes()


@pytest.mark.parametrize("snaplen", [40, 96, 262144])
def test_write_batch_cuts_to_snaplen(snaplen, tmp_path):
    """Data beyond the snapshot length is dropped (dpkt reads what it should) and tcpdump
    copies the file unchanged (tcpdump -r ignores -s, so it cannot cut for us)."""
    import dpkt
    out = tmp_path / "out.pcap"
    with open_offline(PCAPS / "sample.pcap") as src:
        pkts = list(src)
    with open_offline(PCAPS / "sample.pcap") as src:
        with PcapWriter(out, src.linktype, snaplen, "micro") as w:
            for batch in src.batches(max_packets=64):
                w.write_batch(batch)
    with open(out, "rb") as f:
        got = [(round(ts * 1e6), bytes(b)) for ts, b in dpkt.pcap.Reader(f)]
    assert got == [(p.ts // 1000, p.data[:snaplen]) for p in pkts]
    assert tcpdump_copy(out) == out.read_bytes()
