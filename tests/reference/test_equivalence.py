"""BCV-LR's updates against a recording of the authors' code (tests/fixtures/equivalence/,
made by `python -m bcvlr.reference record`): one update of every equation from the same
seeded weights and batches, compared loss by loss, gradient by gradient and tensor by tensor
(bcvlr/reference/equivalence.py says how)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bcvlr.nets.features import FeatureEncoder
from bcvlr.reference import equivalence as E

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "equivalence"


@pytest.fixture(scope="module")
def recorded() -> dict:
    return torch.load(FIXTURES / "continuous.pt", weights_only=False)


def ours_after_one_update(equation: str):
    prep = E.prepare(equation, updates=1)
    if equation == "acting":
        return prep, None, E.act_ours(prep.objects["agent"], prep)
    side = E.ours(prep)
    return prep, side, E.run(side, 1)


@pytest.mark.parametrize("equation", E.EQUATIONS)
def test_one_update_equals_the_authors_code(recorded, equation):
    prep, side, out = ours_after_one_update(equation)
    kept = recorded["equations"][equation]
    assert kept["tensors"], "the recording holds no tensor"
    failures = E.check_against_record(prep, side, out, kept)
    assert not failures, "\n".join(failures)


def test_a_changed_update_fails_the_check(recorded):
    """The check is not vacuous: eq. 3 with another world-model weight, or the decoder with
    another learning rate, no longer matches the recording."""
    prep = E.prepare("finetune", updates=1)
    prep.cfg.online.beta *= 2
    side = E.ours(prep)
    failures = E.check_against_record(prep, side, E.run(side, 1),
                                      recorded["equations"]["finetune"])  # fmt: skip
    assert any("grad agent.lam" in f for f in failures)

    prep = E.prepare("finetune", updates=1)
    side = E.ours(prep)
    side.optimizers[0].param_groups[0]["lr"] *= 1.5  # d's group
    failures = E.check_against_record(prep, side, E.run(side, 1),
                                      recorded["equations"]["finetune"])  # fmt: skip
    assert any("tensor agent.decoder" in f for f in failures)


@pytest.mark.parametrize(("kind", "shape"), [("conv", (9, 64, 64)), ("impala", (3, 64, 64))])
def test_a_fresh_encoder_spreads_its_features_like_the_authors(kind, shape):
    theirs = json.loads((FIXTURES / "spread.json").read_text())[kind]["spread"]
    channels = 32 if kind == "conv" else 16
    ours = E.feature_spread(lambda: FeatureEncoder(kind, shape, channels), shape)
    assert ours == pytest.approx(theirs, rel=0.10)
