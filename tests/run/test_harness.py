"""Harness: how a run is labelled when it is created."""

import json

import pytest

from bcvlr.config import load_config
from bcvlr.method import bcvlr
from bcvlr.run.harness import Harness
from bcvlr.tasks import get_task


@pytest.mark.parametrize(("reduced_size", "budget", "expected"), [
    (False, None, False), (True, None, True), (False, 1000, True)])  # fmt: skip
def test_a_scaled_down_config_is_reduced_even_at_the_full_budget(tmp_path, reduced_size, budget,
                                                                  expected):  # fmt: skip
    with Harness("bcvlr", "metaworld_reach", 0, config={}, runs_root=tmp_path, budget=budget,
                 progress=False, reduced_size=reduced_size) as harness:  # fmt: skip
        harness.start()
    assert json.loads((harness.path / "run.json").read_text())["reduced_budget"] is expected


@pytest.mark.parametrize(("path", "expected"), [
    ("config/bcvlr/mini.yaml", True), ("config/bcvlr/mini_ft.yaml", True),
    ("config/bcvlr/tiny.yaml", True), (None, False)])  # fmt: skip
def test_the_cpu_configs_say_they_are_scaled_down(path, expected):
    task = get_task("metaworld_drawer_open")
    cfg = load_config(bcvlr.Config, path, [], base=bcvlr.default_config(task))
    assert cfg.reduced_size is expected
