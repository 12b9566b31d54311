"""The one place a method's ``device`` setting becomes a torch device."""

from __future__ import annotations

import torch
from torch import nn


def resolve_device(setting: str) -> torch.device:
    """``"auto"``: the GPU when one is visible, else the CPU; anything else as torch names it
    ("cpu", "cuda", "cuda:1")."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def module_device(module: nn.Module) -> torch.device:
    """Where a module's parameters live (the device its inputs must go to)."""
    return next(module.parameters()).device
