"""The IMPALA CNN: computed shapes match what the network produces, for every configuration the
project uses, and a residual block is an identity plus a learned correction."""

from __future__ import annotations

import pytest
import torch

from bcvlr.nets.impala import (
    ConvSequence,
    ImpalaCNN,
    ResidualBlock,
    conv_sequence_shape,
    impala_shape,
)


@pytest.mark.parametrize(
    ("in_shape", "channels", "downsample", "expected"),
    [
        ((3, 64, 64), (16, 32, 32), True, (32, 8, 8)),  # PPO / cleanrl ppo_procgen
        ((9, 64, 64), (64, 128, 128), True, (128, 8, 8)),  # LAPO-size IDM on 3 stacked frames
        ((3, 63, 65), (4, 4), True, (4, 16, 17)),  # odd sizes: each pool gives ceil(H / 2)
        ((3, 64, 64), (16,), False, (16, 64, 64)),  # BCV-LR's discrete encoder keeps 64x64
    ],
)
def test_shapes_are_computed_and_match_forward(in_shape, channels, downsample, expected):
    assert impala_shape(in_shape, channels, downsample) == expected
    net = ImpalaCNN(in_shape, channels, out_features=None, downsample=downsample)
    assert net.feature_shape == expected
    assert net.out_dim == expected[0] * expected[1] * expected[2]
    with torch.no_grad():
        out = net(torch.rand(2, *in_shape))
    assert tuple(out.shape) == (2, *expected)


def test_fc_head_and_gradients():
    net = ImpalaCNN((3, 64, 64), (16, 32, 32), out_features=256)
    assert net.out_dim == 256
    assert net.fc.in_features == 32 * 8 * 8
    out = net(torch.rand(3, 3, 64, 64))
    assert out.shape == (3, 256)
    assert (out >= 0).all()  # ends in a ReLU
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_conv_sequence_shape_and_channels_last():
    seq = ConvSequence(3, 16)
    assert conv_sequence_shape((3, 64, 64), 16) == (16, 32, 32)
    x = torch.rand(2, 3, 64, 64)
    ref = seq(x)
    # the layout PPO runs in on CPU gives the same numbers
    seq_cl = seq.to(memory_format=torch.channels_last)
    out = seq_cl(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_residual_block_is_identity_plus_correction():
    block = ResidualBlock(4)
    for p in block.conv1.parameters():
        torch.nn.init.zeros_(p)
    x = torch.randn(2, 4, 8, 8)
    torch.testing.assert_close(block(x), x)


def test_rejects_empty_stack():
    with pytest.raises(ValueError):
        ImpalaCNN((3, 64, 64), ())
