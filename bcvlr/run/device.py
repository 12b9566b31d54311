"""The one place a method's ``device`` setting becomes a torch device."""

from __future__ import annotations

import torch


def resolve_device(setting: str) -> torch.device:
    """``"auto"``: the GPU when one is visible, else the CPU; anything else as torch names it
    ("cpu", "cuda", "cuda:1")."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)
