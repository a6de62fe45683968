"""Shared pytest fixtures: where the public conformance data lives, and skips when it does not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONFORMANCE = (REPO / ".." / "shared" / "conformance").resolve()


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """../shared/conformance (read-only public test data); skips when absent."""
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    return CONFORMANCE


@pytest.fixture(scope="session")
def libpcap_conformance(conformance_dir) -> Path:
    path = conformance_dir / "libpcap"
    if not path.is_dir():
        pytest.skip(f"libpcap conformance data not found at {path}")
    return path


@pytest.fixture(scope="session")
def ebpf_conformance(conformance_dir) -> Path:
    path = conformance_dir / "ebpf"
    if not path.is_dir():
        pytest.skip(f"eBPF conformance data not found at {path}")
    return path


@pytest.fixture(scope="session")
def tcpdump_binary() -> str:
    path = shutil.which("tcpdump")
    if path is None:
        pytest.skip("tcpdump binary not installed")
    return path


@pytest.fixture(scope="session")
def pcapy_module():
    return pytest.importorskip("pcapy", reason="pcapy-ng not installed")
