"""Neural-network building blocks shared by BCV-LR and the baselines."""

from __future__ import annotations

import torch
from torch import nn


def module_device(module: nn.Module) -> torch.device:
    """Where a module's parameters live (the device its inputs must go to)."""
    return next(module.parameters()).device


def channels_last(net: nn.Module) -> nn.Module:
    """``net`` with its weights, and the first input of every call, in channels-last layout:
    oneDNN's CPU convolutions run faster so (docs/performance.md). Shapes and outputs are as
    before; only fp32 rounding differs (tests/reference/ checks the arithmetic in float64)."""
    net.to(memory_format=torch.channels_last)
    net.register_forward_pre_hook(_first_input_channels_last)
    return net


def _first_input_channels_last(module: nn.Module, args: tuple) -> tuple:
    return (args[0].contiguous(memory_format=torch.channels_last), *args[1:])
