"""BPF models: classic BPF (cbpf), eBPF (ebpf), translation, verification and execution.

Submodules load on first use (``import vm; vm.translate.to_ebpf(...)`` works), so that a job
that needs only classic BPF does not pay for the rest.
"""
_SUBMODULES = frozenset({"batch", "cbpf", "cbpf_asm", "cbpf_interp", "cbpf_validate",
                         "conformance", "ebpf", "ebpf_asm", "helpers", "interp", "jit", "kernel",
                         "maps", "ringbuf", "sequence", "translate", "verifier", "x86"})


def __getattr__(name):
    if name in _SUBMODULES:
        # (__import__ rather than importlib.import_module: importlib costs start-up to import)
        __import__(f"{__name__}.{name}")
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES)
