"""Small MLP helpers and the initialisation DrQv2 uses for every layer."""

from __future__ import annotations

from torch import nn


def mlp(in_dim: int, hidden_dim: int, out_dim: int, depth: int = 2) -> nn.Sequential:
    """``depth`` hidden layers of ``hidden_dim`` with ReLU, then a linear output layer."""
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(depth):
        layers += [nn.Linear(dim, hidden_dim), nn.ReLU(inplace=True)]
        dim = hidden_dim
    layers.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*layers)


def trunk(in_dim: int, feature_dim: int) -> nn.Sequential:
    """DrQv2's bottleneck: a LayerNorm-ed, tanh-squashed projection of the encoder features."""
    return nn.Sequential(nn.Linear(in_dim, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh())


def orthogonal_init(module: nn.Module) -> None:
    """Orthogonal weights and zero biases (use with ``model.apply``); ReLU gain for convs,
    whose outputs all feed ReLUs."""
    if isinstance(module, nn.Linear):
        nn.init.orthogonal_(module.weight.data)
        if module.bias is not None:
            module.bias.data.zero_()
    elif isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.orthogonal_(module.weight.data, nn.init.calculate_gain("relu"))
        if module.bias is not None:
            module.bias.data.zero_()
