"""Code generation for the primitives few filters use, loaded the first time a filter needs
one: names resolved at compile time (``host NAME``, ``port NAME``, ``proto NAME``...; a
``portrange`` stays in ``codegen``: ``portrange 1000-2000`` is a name to the lexer),
``protochain``, the UDP tunnels (``geneve``, ``vxlan``), ``mpls``, ``pppoes`` and ``llc``.

Each function is a ``CodeGen`` method in all but place: ``gen`` is the code generator, and
``CodeGen`` has a stub of the same name that calls it, so that ``bpfdump -d 'tcp port 80'``
does not compile this module's source.
"""
from __future__ import annotations

from vm.cbpf import Insn

from .codegen import (ABS, ALU, ETH_IP, ETH_IPV6, ETH_MPLS, ETH_PPPOES, ETHER_PROTO_NAMES,
                      ETHERMTU, GATEWAY_SUPPORTED, IMM, IND, ISO_CLNP, ISO_ESIS, ISO_ISIS, JA,
                      JEQ, JMP, JSET, LD, LDX, LLC_S_SUBTYPES, LLC_U_SUBTYPES, MEM, MISC, MSH,
                      PPP_MPLS_UCAST, ST, STX, TAX, TXA, B, Frag, H, K, X, f_and, f_not, f_or,
                      leaf_test)


def gen_scode(gen, node) -> Frag:
    from . import compiler
    q = node.qual
    name = node.value
    proto, direction, addr = q.proto, q.dir, q.addr
    if addr in (None, "host"):
        if proto == "link":
            if gen.off.kind != "ether":
                gen.unsupported("link host NAME")
            try:
                mac = compiler.resolve_ether(name)
            except LookupError:
                gen.error(f"unknown Ethernet-like host '{name}'")
            return gen.checked_ehostop(mac, direction)
        if proto == "decnet":
            gen.error("'decnet' is not a valid qualifier for 'host'")
        if proto not in (None, "ip", "arp", "rarp", "ip6"):
            gen.error(f"'{proto}' is not a valid qualifier for 'host <Internet hostname>'")
        gen.addr_desc = "Internet hostname"
        try:
            addrs = compiler.resolve_host(name)
        except LookupError:
            addrs = []
        tproto = tproto6 = proto
        if gen.layout.off_linktype is None and proto is None:
            tproto, tproto6 = "ip", "ip6"
        result = None
        for a in addrs:
            if a.version == 4:
                if tproto == "ip6":
                    continue
                t = gen.gen_host(int(a), 0xFFFFFFFF, tproto, direction, addr)
            else:
                if tproto6 in ("ip", "arp", "rarp"):
                    continue
                t = gen.gen_host6(int(a), (1 << 128) - 1, tproto6, direction, addr)
            result = t if result is None else f_or(result, t)
        if result is None:
            suffix = "" if proto is None else " for specified address family"
            gen.error(f"unknown host '{name}'{suffix}")
        return result
    if addr == "net":
        if proto not in (None, "ip", "arp", "rarp"):
            gen.error(f"'{proto}' is not a valid qualifier for 'net <IPv4 network name>'")
        gen.addr_desc = "IPv4 network name"
        try:
            v = compiler.resolve_net(name)
        except LookupError:
            gen.error(f"unknown network '{name}'")
        mask = 0xFFFFFFFF
        while v and (v & 0xFF000000) == 0:
            v = (v << 8) & 0xFFFFFFFF
            mask = (mask << 8) & 0xFFFFFFFF
        return gen.gen_host(v, mask, proto, direction, addr)
    if addr == "port":
        if proto not in (None, "tcp", "udp", "sctp"):
            gen.error(f"'{proto}' is not a valid qualifier for 'port'")
        try:
            port, real = compiler.resolve_port(name)
        except LookupError:
            gen.error(f"unknown port '{name}'")
        real = gen.port_proto_check(name, proto, real)
        if port > 65535:
            gen.error(f"port number {port} greater than maximum 65535")
        return gen.port_pair(port, port, real, direction)
    if addr == "gateway":
        if direction is not None:
            gen.error("can't parse filter expression: syntax error")
        if proto not in (None, "ip", "arp", "rarp"):
            gen.error(f"'{proto}' is not a valid qualifier for 'gateway'")
        if gen.off.encap:
            gen.error("'gateway' cannot be used within VXLAN or Geneve")
        if gen.off.label_depth:
            gen.error("'gateway' cannot be used within MPLS")
        if gen.off.kind != "ether":
            gen.error(f"'gateway' not supported on DLT_{gen.lt.name}")
        try:
            mac = compiler.resolve_ether(name)
        except LookupError:
            gen.error(f"unknown Ethernet-like host '{name}'")
        b0 = gen.ehostop(mac, None)
        try:
            addrs = [a for a in compiler.resolve_host(name) if a.version == 4]
        except LookupError:
            addrs = []
        b1 = None
        for a in addrs:
            t = gen.gen_host(int(a), 0xFFFFFFFF, proto, None, "host")
            b1 = t if b1 is None else f_or(b1, t)
        if b1 is None:
            gen.error(f"unknown host '{name}'")
        if not GATEWAY_SUPPORTED:
            gen.error("'gateway' not supported in this configuration")
        return f_and(b0, f_not(b1))
    if addr in ("proto", "protochain"):
        v = lookup_proto(gen, name, proto, addr)
        if addr == "proto":
            return gen.gen_proto(v, proto, direction)
        return gen_protochain(gen, v, proto)
    gen.error("syntax error in filter expression")


def lookup_proto(gen, name: str, proto, what: str = "proto") -> int:
    from . import compiler
    label = f"{proto} {what}" if proto else what
    if proto in (None, "ip", "ip6"):
        try:
            return compiler.resolve_proto(name)
        except LookupError:
            gen.error(f"unknown '{label}' value '{name}'")
    if proto == "link":
        if name in ETHER_PROTO_NAMES:
            return ETHER_PROTO_NAMES[name]
        gen.error(f"unknown '{label}' value '{name}'")
    if proto == "iso":
        table = {"esis": ISO_ESIS, "isis": ISO_ISIS, "clnp": ISO_CLNP}
        if name in table:
            return table[name]
        gen.error(f"unknown '{label}' value '{name}'")
    if proto == "decnet" and what == "protochain":
        gen.error(f"'{proto}' is not a valid qualifier for '{what}'")
    gen.error(f"unknown '{label}' value '{name}'")


def gen_protochain(gen, v: int, proto) -> Frag:
    """Walk the IPv6 extension-header / AH chain looking for protocol ``v``. libpcap emits
    a loop (a backward ``ja``); it lives inside one block's statements."""
    reg = gen.alloc_reg()      # libpcap allocates first (and leaks it on the split below)
    if proto is None:
        b0 = gen_protochain(gen, v, "ip")
        return f_or(b0, gen_protochain(gen, v, "ip6"))
    if proto not in ("ip", "ip6"):
        gen.error(f"'{proto}' is not a valid qualifier for 'protochain'")
    if gen.off.linkpl_reg is not None:
        gen.error("'protochain' not supported with variable length headers")
    nl = gen.off.linkpl + gen.off.nl
    code: list = []          # entries: Insn, or (opcode, k, jt_label, jf_label) for jumps
    labels: dict[str, int] = {}

    def label(name):
        labels[name] = len(code)

    if proto == "ip":
        b0 = gen.linktype(ETH_IP)
        code += [Insn(LD | ABS | B, 0, 0, nl + 9), Insn(LDX | MSH | B, 0, 0, nl)]
    else:
        b0 = gen.linktype(ETH_IPV6)
        code += [Insn(LD | ABS | B, 0, 0, nl + 6), Insn(LDX | IMM, 0, 0, 40)]
    label("again")
    code.append((JMP | JEQ | K, v, "end", None))
    code.append((JMP | JEQ | K, 59, "end", None))           # IPPROTO_NONE
    if proto == "ip6":
        for ext in (0, 60, 43):                               # hop-by-hop, dstopts, routing
            code.append((JMP | JEQ | K, ext, "v6advance", None))
        code.append((JMP | JEQ | K, 44, "v6advance", "ahcheck"))   # fragment
        label("v6advance")
        code += [Insn(LD | IND | B, 0, 0, nl), Insn(ST, 0, 0, reg),
                 Insn(LD | IND | B, 0, 0, nl + 1), Insn(ALU | K | 0x00, 0, 0, 1),
                 Insn(ALU | K | 0x20, 0, 0, 8), Insn(ALU | X | 0x00, 0, 0, 0),
                 Insn(MISC | TAX, 0, 0, 0), Insn(LD | MEM, 0, 0, reg)]
        code.append((JMP | JA, "again", None, None))
    else:
        code.append(Insn(ALU | K | 0x00, 0, 0, 0))
    label("ahcheck")
    code.append((JMP | JEQ | K, 51, None, "end"))           # IPPROTO_AH
    code += [Insn(MISC | TXA, 0, 0, 0), Insn(LD | IND | B, 0, 0, nl), Insn(ST, 0, 0, reg),
             Insn(MISC | TXA, 0, 0, 0), Insn(ALU | K | 0x00, 0, 0, 1),
             Insn(MISC | TAX, 0, 0, 0), Insn(LD | IND | B, 0, 0, nl),
             Insn(ALU | K | 0x00, 0, 0, 2), Insn(ALU | K | 0x20, 0, 0, 4),
             Insn(MISC | TAX, 0, 0, 0), Insn(LD | MEM, 0, 0, reg)]
    code.append((JMP | JA, "again", None, None))
    label("end")
    code.append(Insn(ALU | K | 0x00, 0, 0, 0))
    stmts = []
    for pc, item in enumerate(code):
        if isinstance(item, Insn):
            stmts.append(item)
            continue
        opcode, k, jt, jf = item
        if opcode == JMP | JA:
            stmts.append(Insn(opcode, 0, 0, (labels[k] - pc - 1) & 0xFFFFFFFF))
            continue
        t = labels[jt] - pc - 1 if jt else 0
        f = labels[jf] - pc - 1 if jf else 0
        stmts.append(Insn(opcode, t, f, k))
    gen.free_reg(reg)
    return f_and(b0, leaf_test(stmts, JMP | JEQ | K, v))


def udp_tunnel(gen, port: int, flags: tuple, vni) -> Frag:
    """UDP to ``port`` over IPv4 or IPv6 whose tunnel header's first byte matches ``flags``
    (value, mask) [and whose VNI is ``vni``]; leaves X (and A) at the UDP header's offset
    from the link-layer payload, as libpcap's tunnel checks do."""
    o = gen.off

    def check(v6: bool) -> Frag:
        rel = "tran6" if v6 else "tran4"
        b0 = (gen.gen_port6 if v6 else gen.gen_port)(port, port, 17, "dst")
        b1 = f_and(b0, gen.cmp(rel, 8, 1, *flags))
        if vni is not None:
            b1 = f_and(b1, gen.cmp(rel, 12, 4, vni << 8, 0xFFFFFF00))
        return b1

    b4 = f_and(check(False), leaf_test(gen.loadx_iphdrlen() + [Insn(MISC | TXA, 0, 0, 0)],
                                       JMP | JEQ | X, 0))
    if o.linkpl_reg is None:
        stmts = [Insn(LD | IMM, 0, 0, 40), Insn(MISC | TAX, 0, 0, 0)]
    else:
        stmts = [Insn(LDX | MEM, 0, 0, o.linkpl_reg), Insn(LD | IMM, 0, 0, 40),
                 Insn(ALU | X | 0x00, 0, 0, 0), Insn(MISC | TAX, 0, 0, 0)]
    b6 = f_and(check(True), leaf_test(stmts, JMP | JEQ | X, 0))
    return f_or(b4, b6)


def enter_tunnel(gen, r_hdr: int, r_type: int, r_pl: int):
    """Later tests look at the inner Ethernet frame, its offsets held in M[r_*]."""
    o = gen.off
    o.linkhdr, o.linkhdr_reg = 0, r_hdr
    o.linktype, o.linktype_reg = 0, r_type
    o.linkpl, o.linkpl_reg = 0, r_pl
    o.kind = "ether"


def gen_geneve(gen, vni) -> Frag:
    """UDP port 6081, version 0 [and VNI]; then every later test looks inside the tunnel
    (offsets become variable, held in scratch registers)."""
    if vni is not None and vni > 0xFFFFFF:
        gen.error(f"Geneve VNI {vni} greater than maximum 16777215")
    o = gen.off
    b = udp_tunnel(gen, 6081, (0, 0xC0), vni)
    r_type = gen.alloc_reg()
    r_hdr = gen.alloc_reg()
    r_pl = gen.alloc_reg()
    chunk = [Insn(ALU | K | 0x00, 0, 0, o.linkpl + o.nl + 8),     # A = Geneve header
             Insn(MISC | TAX, 0, 0, 0),
             Insn(ALU | K | 0x00, 0, 0, 2), Insn(ST, 0, 0, r_type),  # its protocol field
             Insn(LD | IND | B, 0, 0, 0), Insn(ALU | K | 0x50, 0, 0, 0x3F),
             Insn(ALU | K | 0x20, 0, 0, 4), Insn(ALU | K | 0x00, 0, 0, 8),
             Insn(ALU | X | 0x00, 0, 0, 0), Insn(ST, 0, 0, r_hdr),   # inner header
             Insn(LD | IND | H, 0, 0, 2), Insn(LDX | MEM, 0, 0, r_hdr),
             Insn(JMP | JEQ | K, 0, 5, 0x6558),                       # Ethernet inside?
             Insn(MISC | TXA, 0, 0, 0), Insn(ALU | K | 0x00, 0, 0, 12),
             Insn(ST, 0, 0, r_type), Insn(ALU | K | 0x00, 0, 0, 2),
             Insn(MISC | TAX, 0, 0, 0),
             Insn(STX, 0, 0, r_pl),                                   # inner payload
             Insn(LD | IMM, 0, 0, 0)]
    b = f_and(b, leaf_test(chunk, JMP | JEQ | K, 0))
    enter_tunnel(gen, r_hdr, r_type, r_pl)
    o.geneve = True
    return b


def gen_vxlan(gen, vni) -> Frag:
    """UDP port 4789 with the I flag byte exactly 0x08 [and VNI]; the 8-byte VXLAN header
    is always followed by Ethernet, which every later test looks inside."""
    if vni is not None and vni > 0xFFFFFF:
        gen.error(f"VXLAN VNI {vni} greater than maximum 16777215")
    o = gen.off
    b = udp_tunnel(gen, 4789, (0x08,), vni)
    r_hdr = gen.alloc_reg()
    r_type = gen.alloc_reg()
    r_pl = gen.alloc_reg()
    chunk = [Insn(ALU | K | 0x00, 0, 0, o.linkpl + o.nl + 8),     # A = VXLAN header
             Insn(ALU | K | 0x00, 0, 0, 8), Insn(ST, 0, 0, r_hdr),   # inner Ethernet
             Insn(ALU | K | 0x00, 0, 0, 12), Insn(ST, 0, 0, r_type),  # its type field
             Insn(ALU | K | 0x00, 0, 0, 2), Insn(MISC | TAX, 0, 0, 0),
             Insn(STX, 0, 0, r_pl),                                   # inner payload
             Insn(LD | IMM, 0, 0, 0)]
    b = f_and(b, leaf_test(chunk, JMP | JEQ | K, 0))
    enter_tunnel(gen, r_hdr, r_type, r_pl)
    o.vxlan = True
    return b


def gen_mpls(gen, label) -> Frag:
    o = gen.off
    if o.label_depth > 0:
        b0 = gen.cmp("linkpl", -2, 1, 0, 0x01)
    elif o.kind == "ether":
        b0 = gen.linktype(ETH_MPLS)
    elif o.kind == "ppp":
        b0 = gen.linktype(PPP_MPLS_UCAST)
    else:
        gen.unsupported("mpls")
    if label is not None:
        if label > 0xFFFFF:
            gen.error(f"MPLS label {label} greater than maximum 1048575")
        b0 = f_and(b0, gen.cmp("linkpl", 0, 4, label << 12, 0xFFFFF000))
    o.nl_nosnap += 4
    o.nl += 4
    o.label_depth += 1
    return b0


def gen_pppoes(gen, sess) -> Frag:
    o = gen.off
    b0 = gen.linktype(ETH_PPPOES)
    if sess is not None:
        if sess > 0xFFFF:
            gen.error(f"PPPoE session number {sess} greater than maximum 65535")
        b0 = f_and(b0, gen.cmp("linkpl", 0, 4, sess, 0x0000FFFF))
    newhdr = o.linkpl + o.nl + 6
    o.linkhdr = newhdr
    o.linktype = newhdr
    o.linkpl = newhdr + 2
    o.linkhdr_reg = o.linktype_reg = o.linkpl_reg
    o.nl = o.nl_nosnap = 0
    o.kind = "ppp"
    o.pppoes = True
    return b0


def gen_llc(gen, sub, sub_span) -> Frag:
    if gen.off.kind != "ether":
        gen.unsupported("llc")
    b0 = f_not(gen.cmp_gt("linktype", 0, 2, ETHERMTU))
    b1 = f_not(gen.cmp("llc", 0, 2, 0xFFFF))
    base = f_and(b0, b1)
    if sub is None:
        return base
    low = sub.lower()
    if low == "i":
        t = f_not(leaf_test(gen.load("llc", 2, 1), JMP | JSET | K, 0x01))
    elif low == "s":
        t = gen.cmp("llc", 2, 1, 0x01, 0x03)
    elif low == "u":
        t = gen.cmp("llc", 2, 1, 0x03, 0x03)
    elif low in LLC_S_SUBTYPES:
        t = gen.cmp("llc", 2, 1, LLC_S_SUBTYPES[low], 0x0F)
    elif low in LLC_U_SUBTYPES:
        t = gen.cmp("llc", 2, 1, LLC_U_SUBTYPES[low], 0xEF)
    else:
        gen.error(f'unknown LLC type name "{sub}"', sub_span)
    return f_and(base, t)
