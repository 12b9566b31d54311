"""Harness: how a run is labelled when it is created."""

import json

import pytest

from bcvlr.config import load_config
from bcvlr.method import bcvlr
from bcvlr.methods import load_method
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


@pytest.mark.parametrize(("method", "task", "path", "expected"), [
    ("bco", "metaworld_reach", "config/bco.yaml", True),
    ("upesv", "metaworld_reach", "config/upesv.yaml", True),
    ("upesv", "metaworld_reach", "config/upesv_joint.yaml", True),
    ("ilpo", "metaworld_reach", "config/ilpo.yaml", True),
    ("laifo", "metaworld_reach", "config/laifo.yaml", True),
    ("lapo", "starpilot", "config/lapo_mini.yaml", True),
    ("lapo", "starpilot", "config/lapo.yaml", False),
    ("lapo_bc", "starpilot", "config/lapo_bc.yaml", False),
    ("drqv2", "reacher_easy", "config/drqv2.yaml", False),
    ("taco", "reacher_easy", "config/taco.yaml", False),
    ("laifo", "reacher_easy", None, False)])  # fmt: skip
def test_the_baselines_cpu_configs_say_they_are_scaled_down(method, task, path, expected):
    module = load_method(method)
    cfg = load_config(module.Config, path, [], base=module.default_config(get_task(task)))
    assert cfg.reduced_size is expected
