import pytest
import torch

from bcvlr.run.device import resolve_device


def test_auto_is_the_gpu_when_one_is_visible_else_the_cpu():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_named_devices_pass_through_and_typos_fail():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(RuntimeError):
        resolve_device("gpu")
