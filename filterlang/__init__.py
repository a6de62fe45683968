"""pcap-filter(7) expressions compiled to classic BPF."""
from .errors import FilterError  # noqa: F401


def compile(expr: str, linktype="EN10MB", snaplen: int = 262144, optimize: bool = True,
            netmask=None):
    """Compile a pcap-filter expression to a ``vm.cbpf.Program`` (libpcap 1.10 semantics)."""
    from .compiler import compile_expression
    return compile_expression(expr, linktype=linktype, snaplen=snaplen, optimize=optimize,
                              netmask=netmask)
