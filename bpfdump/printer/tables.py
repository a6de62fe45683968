"""Value-to-name tables tcpdump uses in its output (ethertypes, IP protocols, OUIs)."""
from __future__ import annotations

ETHERTYPE_IP = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_REVARP = 0x8035
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_8021Q = 0x8100
ETHERTYPE_8021Q9100 = 0x9100
ETHERTYPE_8021Q9200 = 0x9200
ETHERTYPE_8021QINQ = 0x88A8
ETHERTYPE_MPLS = 0x8847
ETHERTYPE_MPLS_MULTI = 0x8848
VLAN_TYPES = (ETHERTYPE_8021Q, ETHERTYPE_8021Q9100, ETHERTYPE_8021Q9200, ETHERTYPE_8021QINQ)

# ethertype -> name; dict order matters only for duplicate values (first wins, as tok2str).
ETHERTYPES: dict[int, str] = {}
for _value, _name in (
    (0x0800, "IPv4"), (0x8847, "MPLS unicast"), (0x8848, "MPLS multicast"), (0x86DD, "IPv6"),
    (0x8100, "802.1Q"), (0x9100, "802.1Q-9100"), (0x88A8, "802.1Q-QinQ"), (0x9200, "802.1Q-9200"),
    (0x88E5, "802.1AE MACsec"), (0x0200, "PUP"), (0x0806, "ARP"), (0x8035, "Reverse ARP"),
    (0x0600, "NS"), (0x0500, "Sprite"), (0x1000, "Trail"), (0x6001, "MOP DL"), (0x6002, "MOP RC"),
    (0x6003, "DN"), (0x6004, "LAT"), (0x6007, "SCA"), (0x6558, "TEB"), (0x8038, "Lanbridge"),
    (0x803C, "DEC DNS"), (0x803E, "DEC DTS"), (0x805B, "VEXP"), (0x805C, "VPROD"),
    (0x809B, "Appletalk"), (0x80F3, "Appletalk ARP"), (0x8137, "IPX"), (0x880B, "PPP"),
    (0x8808, "MPCP"), (0x8809, "Slow Protocols"), (0x8863, "PPPoE D"), (0x8864, "PPPoE S"),
    (0x888E, "EAPOL"), (0x8899, "Realtek protocols"), (0x886F, "MS NLB heartbeat"),
    (0x8870, "Jumbo"), (0x894F, "NSH"), (0x9000, "Loopback"), (0xFEFE, "OSI"), (0x00FE, "GRE-OSI"),
    (0xABCD, "CFM (old)"), (0x8902, "CFM"), (0x893A, "IEEE1905.1"), (0x88CC, "LLDP"),
    (0x88CA, "TIPC"), (0x0707, "GeoNet (old)"), (0x8947, "GeoNet"), (0x1111, "CALM FAST"),
    (0x88A2, "AoE"), (0x88F7, "PTP"), (0xD28B, "Arista Vendor Specific Protocol"),
):
    ETHERTYPES.setdefault(_value, _name)

# IP protocol number -> name (tcpdump's ipproto_values).
IPPROTOS: dict[int, str] = {}
for _value, _name in (
    (0, "Options"), (1, "ICMP"), (2, "IGMP"), (4, "IPIP"), (6, "TCP"), (8, "EGP"), (9, "IGRP"),
    (17, "UDP"), (33, "DCCP"), (41, "IPv6"), (43, "Routing"), (44, "Fragment"), (46, "RSVP"),
    (47, "GRE"), (50, "ESP"), (51, "AH"), (55, "Mobile IP"), (58, "ICMPv6"),
    (62, "Mobile IP (old)"), (88, "EIGRP"), (89, "OSPF"), (103, "PIM"), (108, "Compressed IP"),
    (112, "VRRP"), (113, "PGM"), (132, "SCTP"), (135, "Mobility"), (143, "Ethernet"),
):
    IPPROTOS.setdefault(_value, _name)

# Organisationally unique identifiers tcpdump names after an Ethernet address.
OUI: dict[int, str] = {}
for _value, _name in (
    (0x000000, "Ethernet"), (0x00000C, "Cisco"), (0x00005E, "IANA"),
    (0x000081, "Nortel Networks SONMP"), (0x0000F8, "Cisco bridged"), (0x0019A7, "ITU-T"),
    (0x0080C2, "Ethernet bridged"), (0x00A03E, "ATM Forum"), (0x00E02F, "DOCSIS Spanning Tree"),
    (0x080007, "Appletalk"), (0x009069, "Juniper"), (0x080009, "Hewlett-Packard"),
    (0x00120F, "IEEE 802.3 Private"), (0x0012BB, "ANSI/TIA"), (0x001B21, "DCBX"),
    (0x002320, "Nicira Networks"), (0x5C16C7, "Big Switch Networks"), (0xB0D2F5, "Vello Systems"),
    (0x002481, "HP"), (0x0004EA, "HP-Labs"), (0x748771, "Infoblox Inc"),
    (0xA42305, "Open Networking Lab"), (0x00049F, "Freescale"), (0x0015AD, "Netronome"),
    (0x001018, "Broadcom"), (0x00E004, "PMC-Sierra"), (0xD0F0DB, "Ericsson"),
):
    OUI.setdefault(_value, _name)

# DLT numbers the printer knows.
DLT_NULL = 0
DLT_EN10MB = 1
DLT_RAW = 12
DLT_LOOP = 108
DLT_LINUX_SLL = 113
DLT_IPV4 = 228
DLT_IPV6 = 229
DLT_LINUX_SLL2 = 276
DLT_RAW_ALT = 14  # OpenBSD's DLT_RAW value, LINKTYPE_RAW is 101
LINKTYPE_RAW = 101
