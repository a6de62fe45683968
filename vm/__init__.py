"""BPF models: classic BPF (cbpf), eBPF (ebpf), translation, verification and execution."""
from . import cbpf, ebpf  # noqa: F401
