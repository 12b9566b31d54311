"""The workflow config: the schema's name lists match the registries, the shipped configs
pass, and a broken config fails before anything runs, naming the key."""

import time

import pytest
import yaml

from bcvlr import workflow as wf
from bcvlr.methods import METHODS
from bcvlr.tasks import TASKS
from tests.workflow.helpers import REPO, snakemake

CONFIGS = ["config/config.yaml", "config/paper.yaml", "config/test.yaml"]


def test_schema_names_match_the_registries():
    schema = wf.load_schema()
    assert schema["$defs"]["task"]["enum"] == list(TASKS)
    named = set(schema["properties"]["methods"]["properties"])
    assert named == set(METHODS) | set(wf.PAPER_METHODS) | set(wf.OTHER_METHODS)


@pytest.mark.parametrize("path", CONFIGS)
def test_shipped_configs_pass(path):
    config = wf.load_config_file(REPO / path)
    wf.check_config(config, source=path)
    wf.deep_check(config)  # every method's settings resolve on every task it runs on


def test_paper_config_lists_every_method_of_the_paper():
    config = wf.load_config_file(REPO / "config/paper.yaml")
    assert set(config["methods"]) == set(wf.PAPER_METHODS)
    assert config["tasks"] == list(TASKS) and len(config["seeds"]) == 5
    plan = wf.Plan(config)
    # not implemented yet: listed, and said to be skipped
    assert set(plan.unavailable) == set(wf.PAPER_METHODS) - set(METHODS)
    assert "NOT RUN" in plan.summary()


def test_paper_method_tasks_fit_the_implemented_modules():
    from bcvlr.methods import load_method

    for name in set(METHODS) & set(wf.PAPER_METHODS):
        suites = {TASKS[t].suite for t in wf.PAPER_METHODS[name].tasks}
        assert suites <= set(load_method(name).SUITES), name


def _config(**changes):
    config = yaml.safe_load((REPO / "config/test.yaml").read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = config
        for p in parents:
            node = node[p]
        node[leaf] = value
    return config


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"methods__random__budgett": 5}, "methods.random.budgett: unknown key (did you mean 'budget'?)"),
        ({"seedz": [0]}, "seedz: unknown key"),
        ({"methods__random__budget": "lots"}, "methods.random.budget: expected integer, got 'lots'"),
        ({"seeds": "0"}, "seeds: expected array"),
        ({"tasks": ["metaworld_reach", "reacher_esy"]}, "tasks[1]: unknown task 'reacher_esy' (did you mean reacher_easy"),
        ({"methods__bcvlrr": {}}, "methods.bcvlrr: unknown method 'bcvlrr' (did you mean bcvlr"),
        ({"methods__bcvlr__resources": {"gpus": 1}}, "methods.bcvlr.resources.gpus: unknown key (did you mean 'gpu'?)"),
        ({"methods__bcvlr__config": "config/bcvlr/nope.yaml"}, "methods.bcvlr.config: file config/bcvlr/nope.yaml does not exist"),
        ({"methods__ppo": {"module": "x.y"}}, "methods.ppo.module: 'ppo' is a registered method"),
    ],
)  # fmt: skip
def test_a_broken_config_names_the_key(changes, expected):
    with pytest.raises(wf.ConfigError) as e:
        wf.check_config(_config(**changes))
    assert expected in str(e.value)


def test_method_settings_are_checked_before_any_job(tmp_path):
    config = _config(methods__bcvlr__set=["online.nope=1"])
    with pytest.raises(
        wf.ConfigError, match=r"methods.bcvlr on metaworld_reach: .*unknown key 'nope'"
    ):
        wf.deep_check(config)


def test_snakemake_fails_fast_on_a_broken_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_config(methods__random__budgett=5)))
    t0 = time.time()
    r = snakemake(tmp_path, "-n", "--configfile", str(bad), check=False, timeout=60)
    assert r.returncode != 0
    assert "methods.random.budgett: unknown key" in r.stdout + r.stderr
    assert time.time() - t0 < 30
    assert not (tmp_path / "results").exists()


def test_validate_config_command(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_config(tasks=["nope"])))
    cmd = [sys.executable, "-m", "bcvlr.cli", "validate-config"]
    r = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "tasks[0]: unknown task 'nope'" in r.stderr
    r = subprocess.run([*cmd, "config/test.yaml"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0 and "bcvlr: 1 run(s)" in r.stdout
