"""The pure estimators of docs/runs/2026-12-07-ilpo-diag/diag_lpn.py (an ILPO diagnostic)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).parents[1] / "docs" / "runs" / "2026-12-07-ilpo-diag" / "diag_lpn.py"
_spec = importlib.util.spec_from_file_location("ilpo_diag_lpn", _PATH)
diag = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = diag  # its dataclasses look their module up
_spec.loader.exec_module(diag)


def test_mi_of_a_copy_is_the_entropy():
    x = np.array([0, 1, 2, 3] * 25)
    assert diag.plug_in_mi(x, x) == pytest.approx(np.log(4))
    assert diag.plug_in_mi(x, (x + 1) % 4) == pytest.approx(diag.entropy(x))


def test_mi_of_independent_values_is_zero_and_bias_counts_seen_values():
    x, y = np.repeat([0, 1], 6), np.tile([0, 1, 2], 4)  # every pair equally often
    assert diag.plug_in_mi(x, y) == pytest.approx(0.0, abs=1e-12)
    assert diag.mi_bias(x, y) == pytest.approx((2 - 1) * (3 - 1) / (2 * 12))


def test_majority_map_falls_back_to_the_overall_majority():
    z, a = np.array([0, 0, 0, 2]), np.array([1, 1, 3, 3])
    assert diag.majority_map(z, a, 4).tolist() == [1, 1, 3, 1]


def test_r_squared_of_per_latent_means():
    z = np.array([0, 0, 1, 1])
    a = np.array([[1.0], [1.0], [-1.0], [-1.0]])
    means = diag.latent_means(z, a, 3)
    assert means[:, 0].tolist() == [1.0, -1.0, 0.0]
    assert diag.r_squared(a, means[z], a.mean(0)).tolist() == [1.0]
