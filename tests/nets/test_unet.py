"""WorldModelUNet: shapes from the feature shape, gradient to the action, bounded output."""

from __future__ import annotations

import pytest
import torch

from bcvlr.nets.unet import WorldModelUNet

# (input feature shape, output channels): continuous encoder 32x32x32 of one frame;
# discrete encoder 16x64x64 of two frames stacked (32 channels) predicting one (16).
CASES = [((32, 32, 32), 32), ((32, 64, 64), 16), ((16, 64, 64), 16)]


@pytest.mark.parametrize(("shape", "out_channels"), CASES)
def test_output_shape_and_action_gradient(shape: tuple[int, int, int], out_channels: int) -> None:
    torch.manual_seed(0)
    net = WorldModelUNet(shape, action_dim=128, out_channels=out_channels, base_channels=8)
    x = torch.randn(3, *shape)
    a = torch.randn(3, 128, requires_grad=True)
    y = net(x, a)
    assert y.shape == (3, out_channels, *shape[1:])
    y.square().sum().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0


def test_default_depth_reaches_one_by_one_bottleneck() -> None:
    # LAPO's network: blocks halve 32 -> 2 (4 blocks) / 64 -> 2 (5 blocks), then a 2x2 conv.
    assert len(WorldModelUNet((32, 32, 32), base_channels=8).down) == 4
    net = WorldModelUNet((32, 64, 64), out_channels=16, base_channels=8)
    assert len(net.down) == 5 and net.bottleneck.out_channels == 8 * 32
    assert len(net.up) == 6


def test_shallower_and_non_square() -> None:
    net = WorldModelUNet((4, 16, 32), action_dim=6, base_channels=4, depth=2)
    assert net(torch.randn(2, 4, 16, 32), torch.randn(2, 6)).shape == (2, 4, 16, 32)
    with pytest.raises(ValueError):
        WorldModelUNet((4, 12, 12), depth=3)


def test_bottleneck_injection_alone_carries_the_action() -> None:
    # With the input tiling cut off (zeroed weights), the action still changes the output.
    torch.manual_seed(1)
    net = WorldModelUNet((8, 16, 16), action_dim=5, base_channels=4).eval()
    with torch.no_grad():
        net.down[0][0].weight[:, 8:].zero_()
    x = torch.randn(2, 8, 16, 16)
    assert not torch.allclose(net(x, torch.zeros(2, 5)), net(x, torch.ones(2, 5)))


def test_output_bounded_by_tanh_half() -> None:
    torch.manual_seed(2)
    net = WorldModelUNet((32, 32, 32), base_channels=8)
    x, a = 100 * torch.randn(4, 32, 32, 32), 100 * torch.randn(4, 128)
    y = net(x, a)
    assert y.abs().max() <= 0.5
    raw = WorldModelUNet((32, 32, 32), base_channels=8, bounded=False)
    raw.load_state_dict(net.state_dict())
    torch.testing.assert_close(torch.tanh(raw(x, a)) / 2, y)


@pytest.mark.parametrize("shape", [(4, 8, 8), (3, 4, 8)], ids=["square", "non-square"])
def test_the_first_conv_sees_the_action_tiled_over_the_map(shape) -> None:
    """w's first conv skips building [features, action tiled over the map]: its output and
    the gradients to the action and the weights are those of the conv on the tiled input."""
    torch.manual_seed(0)
    net = WorldModelUNet(shape, action_dim=5, base_channels=4, depth=1).double()
    conv = net.down[0][0]
    feats = torch.randn(3, *shape, dtype=torch.float64)
    a = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    out = net._input_conv(feats, a)
    tiled = torch.cat([feats, a[:, :, None, None].expand(-1, -1, *shape[1:])], dim=1)
    expected = conv(tiled)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    grads = torch.autograd.grad(out.sin().sum(), (a, conv.weight))
    for got, want in zip(grads, torch.autograd.grad(expected.sin().sum(), (a, conv.weight)),
                         strict=True):  # fmt: skip
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
