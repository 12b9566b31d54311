import pytest
import torch

from bcvlr.run.device import resolve_device, torch_threads


def test_auto_is_the_gpu_when_one_is_visible_else_the_cpu():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_named_devices_pass_through_and_typos_fail():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(RuntimeError):
        resolve_device("gpu")


def test_torch_threads_sets_the_count_for_the_block_and_restores_it():
    before = torch.get_num_threads()
    other = 2 if before != 2 else 3
    with torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with pytest.raises(KeyError), torch_threads(other):
        raise KeyError("a failing run")
    assert torch.get_num_threads() == before
    for unset in (0, None):
        with torch_threads(unset):
            assert torch.get_num_threads() == before
