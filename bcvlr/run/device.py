"""The one place a method's ``device`` and ``threads`` settings reach torch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def resolve_device(setting: str) -> torch.device:
    """``"auto"``: the GPU when one is visible, else the CPU; anything else as torch names it
    ("cpu", "cuda", "cuda:1")."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Torch's intra-op threads set to ``threads`` for the block (0 or None: left as they are),
    then restored, so that a run inside a longer process (tests, benchmarks) leaves no trace."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def autocast(precision: str, device: torch.device):
    """The forward passes' precision: ``fp32`` (the paper's, default) or ``bf16`` autocast (a
    speed option: convolutions and matmuls in bfloat16; docs/performance.md)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
