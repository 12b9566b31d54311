"""Neural-network building blocks shared by BCV-LR and the baselines."""

from __future__ import annotations

import torch
from torch import nn


def module_device(module: nn.Module) -> torch.device:
    """Where a module's parameters live (the device its inputs must go to)."""
    return next(module.parameters()).device
