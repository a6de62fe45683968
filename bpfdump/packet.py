"""The record every source yields and every sink takes."""
from __future__ import annotations

from collections import namedtuple

# collections.namedtuple rather than typing.NamedTuple: the same kind of class (tuple fields,
# a default, _replace, _asdict, equality with tuples, pickling) without importing typing and
# building the class through it, which cost `bpfdump -r F -w out EXPR` ~5 ms of start-up.
Packet = namedtuple("Packet", "ts wirelen data linktype ifindex", defaults=(0,),
                    module=__name__)
Packet.__doc__ = """One captured packet.

ts: timestamp in integer nanoseconds since the epoch (lossless for micro and nano files);
wirelen: original length on the wire; data: the captured bytes (caplen == len(data));
linktype: DLT number of this packet's link layer; ifindex: interface number within the
source (pcapng interface id, or the kernel ifindex for live capture), 0 when unknown.
"""
