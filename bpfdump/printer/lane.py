"""The fast lane: the frame shapes that dominate real traffic, printed in one pass.

Ethernet (untagged, or with one 802.1Q tag when -e is off) carrying ARP, IPv4 without options
that is not a fragment, or IPv6 without extension headers; over IP, TCP whose options are the
common ones (`tcp.options_text`), UDP, and anything else the general transport printers take.

The lane checks what the general printers would check and takes every piece of text from their
own helpers: the name caches, `tcp.relative` / `tcp.seq_text` / `tcp.options_text`, and the
payload and transport printers themselves, which run on the Printer's Ctx through `route`.
For any other shape it returns None -- always before it has touched the TCP table -- and the
packet is printed the general way. Options that change these shapes (-v, -q) get no lane.
"""
from __future__ import annotations

import struct

from . import arp, icmp, ip, rx, tcp, udp
from .core import port_printer
from .ether import TYPE_TEXTS, mac_pair

# ethertype, then IPv4's version/header length, total length, fragment word, protocol
_ETH_IP4 = struct.Struct(">12xHBxHxxHxB")
_VLAN_IP4 = struct.Struct(">16xHBxHxxHxB")     # the same behind one 802.1Q tag
_IP6 = struct.Struct(">IHB")     # version/class/flow, payload length, next header
_UDP = struct.Struct(">HHH")            # source port, destination port, length
_TCP = tcp.TCPHDR
_NetHdr = ip.NetHdr
_new_tuple = tuple.__new__

_IP4_SELF_ADDRESSED = (6, 17, 132, 33)   # transports that print the addresses with their ports
_IP6_EXTENSIONS = (0, 60, 44, 43)
_LANE_TYPES = (0x0800, 0x86DD, 0x0806)   # what the lane takes with -e (no tags)
_FLOWS_MAX = 8192       # address/port pairs whose text a lane keeps (a full table is emptied)


def make_lane(opts, state, route):
    """lane(data, wirelen) -> the text after the timestamp, or None (print the general way) for
    an Ethernet frame; None instead of a lane when the options leave nothing to it.

    route(text, printer, data, end, wirelen, hdrlen, proto, *args) runs printer(ctx, *args) on
    the Printer's Ctx (capture end `end`, link header `hdrlen`, protocol name `proto` for a
    truncation mark) after `text`, and returns the whole text."""
    if opts.verbose or opts.quiet:
        return None
    names = state.names
    ip_cached, ip_name = names.ip_names.get, names.ip
    ip6_cached, ip6_name = names.ip6_names.get, names.ip6
    eflag = opts.ether
    relative = not opts.absolute_seq
    flags_texts = tcp.FLAGS_TEXTS
    options_text, seq_text, relative_seq = tcp.options_text, tcp.seq_text, tcp.relative
    echo_text, arp_text = icmp.echo_text, arp.arp_text
    rx_ports = rx.RX_PORTS
    # the bytes of the addresses and ports -> (their text, payload printer, its common case)
    tcp_flows: dict = {}
    udp_flows: dict = {}

    def flow(flows, key, sport, dport, port_names, payloads, texts):
        """What a new flow's packets share (key: the addresses, then the ports); kept for
        _FLOWS_MAX flows at a time."""
        if len(key) == 12:
            src_name = ip_name(key[:4])
            dst_name = ip_name(key[4:8])
        else:
            src_name = ip6_name(key[:16])
            dst_name = ip6_name(key[16:32])
        printer = port_printer(payloads, sport, dport)
        common, args = texts.get(printer, (None, None))
        if len(flows) >= _FLOWS_MAX:
            flows.clear()
        flows[key] = shared = ("%s.%s > %s.%s: " % (
            src_name, port_names.get(sport, sport), dst_name, port_names.get(dport, dport)),
            printer, common, args, sport in rx_ports or dport in rx_ports)
        return shared

    def tcp_lane(tag, version, key, data, t, length, end, wirelen, hdrlen):
        if t + 20 > end:
            return None
        sport, dport, seq, ack, hlen, flags, win, _, urp = _TCP.unpack_from(data, t)
        hlen = (hlen >> 4) * 4
        if hlen < 20 or hlen > length or t + hlen > end:
            return None
        if hlen > 20:       # checked before the TCP table is read: a SACK goes the general way
            opts_text = options_text(data, t + 20, hlen - 20, False, None, None)
            if opts_text is None:
                return None
        else:
            opts_text = ""
        if relative and flags & 0x10:
            half = 4 if version == 4 else 16
            seq, ack, _, _, _ = relative_seq(state.tcp_seq, version, key[:half],
                                             key[half:2 * half], sport, dport, seq, ack, flags)
        length -= hlen
        shared = tcp_flows.get(key) or flow(tcp_flows, key, sport, dport, names.tcp_names,
                                            tcp.PAYLOADS, tcp.PAYLOAD_TEXTS)
        text = "%s%s%s%s%s, length %u" % (tag, shared[0], flags_texts[flags],
                                          seq_text(flags, seq, ack, win, urp, length, 0),
                                          opts_text, length)
        if length > 0 and shared[1] is not None:
            common = shared[2]
            if common is not None:
                more = common(data, t + hlen, length, end, *shared[3])
                if more is not None:
                    return text + more
            return route(text, shared[1], data, end, wirelen, hdrlen, "tcp", t + hlen, length)
        return text

    def udp_lane(tag, key, data, u, length, end, wirelen, hdrlen):
        if length < 8 or u + 8 > end:
            return None
        sport, dport, ulen = _UDP.unpack_from(data, u)
        if ulen < 8:
            return None
        shared = udp_flows.get(key) or flow(udp_flows, key, sport, dport, names.udp_names,
                                            udp.PAYLOADS, udp.PAYLOAD_TEXTS)
        ulen -= 8
        length -= 8
        if ulen < length:
            length = ulen
        printer = shared[1]
        if printer is not None:     # each of them prints the rest of the datagram
            common = shared[2]
            if common is not None:
                more = common(data, u + 8, length, end, *shared[3])
                if more is not None:
                    return tag + shared[0] + more
            return route(tag + shared[0], printer, data, end, wirelen, hdrlen, "udp", u + 8,
                         length)
        if shared[4]:       # an AFS RX port
            return None
        if ulen > length:
            return "%s%sUDP, bad length %u > %u" % (tag, shared[0], ulen, length)
        return "%s%sUDP, length %u" % (tag, shared[0], ulen)

    def ip6_lane(tag, data, off, wirelen):
        hdrlen = off
        if len(data) < off + 40:
            return None
        flow_word, plen, nh = _IP6.unpack_from(data, off)
        if flow_word >> 28 != 6 or plen == 0 or plen + 40 > wirelen - off or nh in _IP6_EXTENSIONS:
            return None
        end = off + 40 + plen
        if end > len(data):
            end = len(data)
        if nh == 6:
            return tcp_lane(tag, 6, data[off + 8:off + 44], data, off + 40, plen, end, wirelen,
                            hdrlen)
        if nh == 17:
            return udp_lane(tag, data[off + 8:off + 44], data, off + 40, plen, end, wirelen,
                            hdrlen)
        if nh in _IP4_SELF_ADDRESSED:
            return None
        src, dst = data[off + 8:off + 24], data[off + 24:off + 40]
        src_name = ip6_cached(src) or ip6_name(src)
        dst_name = ip6_cached(dst) or ip6_name(dst)
        net = _new_tuple(_NetHdr, (6, src, dst, src_name, dst_name, True, False, None))
        return route("%s%s > %s: " % (tag, src_name, dst_name), ip.demux, data, end, wirelen,
                     hdrlen, "ip6", nh, off + 40, plen, net)

    def lane(data, wirelen):
        caplen = len(data)
        if caplen < 34 or wirelen < 34:
            return None
        etype, vhl, iplen, frag, proto = _ETH_IP4.unpack_from(data)
        off = 14
        if eflag:
            if etype not in _LANE_TYPES:
                return None
            tag = "%s%s, length %u: " % (mac_pair(names, data, 0), TYPE_TEXTS[etype], wirelen)
        elif etype == 0x8100:
            if caplen < 38:
                return None
            etype, vhl, iplen, frag, proto = _VLAN_IP4.unpack_from(data)
            off = 18
        if etype == 0x0800:
            if vhl != 0x45 or frag & 0x3FFF or iplen < 20 or iplen > wirelen - off:
                return None
            end = off + iplen
            if end > caplen:
                end = caplen
            ip_tag = tag if eflag else "IP "
            if proto == 6:
                return tcp_lane(ip_tag, 4, data[off + 12:off + 24], data, off + 20, iplen - 20,
                                end, wirelen, off)
            if proto == 17:
                return udp_lane(ip_tag, data[off + 12:off + 24], data, off + 20, iplen - 20, end,
                                wirelen, off)
            if proto in _IP4_SELF_ADDRESSED:
                return None
            src, dst = data[off + 12:off + 16], data[off + 16:off + 20]
            src_name = ip_cached(src) or ip_name(src)
            dst_name = ip_cached(dst) or ip_name(dst)
            if proto == 1:
                more = echo_text(data, off + 20, iplen - 20, end)
                if more is not None:
                    return "%s%s > %s: %s" % (ip_tag, src_name, dst_name, more)
            net = _new_tuple(_NetHdr, (4, src, dst, src_name, dst_name, True, False, None))
            return route("%s%s > %s: " % (ip_tag, src_name, dst_name), ip.demux, data, end,
                         wirelen, off, "ip", proto, off + 20, iplen - 20, net)
        if etype == 0x86DD:
            return ip6_lane(tag if eflag else "IP6 ", data, off, wirelen)
        if etype == 0x0806:
            if not eflag:
                tag = ""
            text = arp_text(names, data, off, wirelen - off, caplen, eflag)
            if text is not None:
                return tag + text
            return route(tag, arp.arp_print, data, caplen, wirelen, off, "arp", off, wirelen - off)
        return None

    return lane


__all__ = ["make_lane"]
