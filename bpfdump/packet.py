"""The record every source yields and every sink takes."""
from __future__ import annotations

from typing import NamedTuple


class Packet(NamedTuple):
    """One captured packet.

    ts: timestamp in integer nanoseconds since the epoch (lossless for micro and nano files);
    wirelen: original length on the wire; data: the captured bytes (caplen == len(data));
    linktype: DLT number of this packet's link layer; ifindex: interface number within the
    source (pcapng interface id, or the kernel ifindex for live capture), 0 when unknown.
    """
    ts: int
    wirelen: int
    data: bytes
    linktype: int
    ifindex: int = 0
