"""LAIfO's DMC update against a recording of the reference's (tests/fixtures/equivalence/
laifo.json, made by `python -m benchmarks.laifo_reference --reference DIR --record FILE` from
AIL_from_visual_obs, branch LAIfO): five updates from the same weights, batches and shifts, with
the two documented deviations neutralised, compared quantity by quantity in float32."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import laifo_reference as R

RECORDING = Path(__file__).resolve().parents[1] / "fixtures" / "equivalence" / "laifo.json"
# measured agreement in float32: <= 7e-7 on every quantity over the five updates
TOLERANCE = 1e-5


def test_five_updates_equal_the_references() -> None:
    kept = json.loads(RECORDING.read_text())
    assert kept["mode"] == "aligned" and len(kept["updates"]) == R.UPDATES
    ours = R.build_ours(kept["mode"])
    rng = np.random.default_rng(123)
    for u, theirs in enumerate(kept["updates"]):
        side = R.run_ours(ours, R.make_data(rng), 2 * u, 1000 + u)
        o = R.quantities(R.ours_in_common_terms(side))
        for name, value in theirs.items():
            assert o[name] == pytest.approx(value, abs=TOLERANCE), f"update {u + 1}: {name}"
