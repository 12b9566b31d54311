"""BCV-LR's feature encoder f: uint8 frames and the same frames as floats give the same
features, and a float input is left as it was (f scales a copy of uint8 frames in place)."""

import pytest
import torch

from bcvlr.nets.features import FeatureEncoder


@pytest.mark.parametrize(("kind", "shape"), [("conv", (9, 64, 64)), ("impala", (3, 64, 64))])
def test_uint8_and_float_frames_give_the_same_features(kind, shape):
    torch.manual_seed(0)
    f = FeatureEncoder(kind, shape, channels=8)
    frames = torch.randint(0, 256, (4, *shape), dtype=torch.uint8)
    floats = frames.float()
    kept = floats.clone()
    assert torch.equal(f(frames), f(floats))
    assert torch.equal(floats, kept)
