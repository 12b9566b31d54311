"""The workflow config: the schema's task list matches the registry, method names are the
registry's, the shipped configs pass, and a broken config fails before anything runs, naming
the key."""

import pytest
import yaml

from bcvlr import workflow as wf
from bcvlr.methods import PAPER_METHODS
from bcvlr.tasks import TASKS
from tests.workflow.helpers import REPO, snakemake

CONFIGS = [
    "config/config.yaml",
    "config/paper.yaml",
    "config/test.yaml",
    "config/test_baselines.yaml",
]


def test_schema_names_match_the_registries():
    schema = wf.load_schema()
    assert schema["$defs"]["registered_task"]["enum"] == list(TASKS)
    # method names live in bcvlr/methods.py alone
    assert "properties" not in schema["properties"]["methods"]
    assert "enum" not in schema["$defs"]["method"]["properties"]["base"]


@pytest.mark.parametrize("path", CONFIGS)
def test_shipped_configs_pass(path):
    config = wf.load_config_file(REPO / path)
    wf.check_config(config, source=path)
    wf.deep_check(config)  # every method's settings resolve on every task it runs on


def test_paper_config_lists_every_method_of_the_paper():
    config = wf.load_config_file(REPO / "config/paper.yaml")
    main = {n for n, e in config["methods"].items() if "base" not in e}
    assert main == set(PAPER_METHODS)
    assert config["tasks"] == list(TASKS) and len(config["seeds"]) == 5
    assert not wf.Plan(config).unavailable


# -- the paper's experiments -> config/paper.yaml (bcvlr/report/specs.py names the cells) -------
def _paper_plan() -> wf.Plan:
    return wf.Plan(wf.load_config_file(REPO / "config/paper.yaml"))


def _producers(plan: wf.Plan, recorded: str, task: str, extended: bool = False) -> list[str]:
    """The entries whose runs the report reads as ``recorded`` on ``task``: at the task's
    budget, or beyond it (Figure 9)."""
    out = []
    for name in plan.config["methods"]:
        m = plan.method(name)
        budget = m.per_task("budget", task)
        longer = budget is not None and budget > TASKS[task].budget
        if m.run_name == recorded and task in plan.tasks(name) and longer == extended:
            out.append(name)
    return out


def test_every_table_cell_has_an_entry_producing_it():
    from bcvlr.report.specs import TABLE_SPECS

    plan = _paper_plan()
    for spec in TABLE_SPECS:
        for column in spec.columns:
            for task in spec.tasks:
                method = column.method_for(task)
                (name,) = _producers(plan, method, task) or [None]
                assert name, f"table {spec.number}: no entry runs {method} on {task}"
                assert len(plan.seeds(name)) == 5, name


def test_every_figure_line_has_an_entry_producing_it():
    from bcvlr.report.specs import FIGURE_SPECS

    plan = _paper_plan()
    names = [plan.method(n).run_name for n in plan.config["methods"]]
    for spec in FIGURE_SPECS:
        for method in spec.methods:
            assert method in names, f"figure {spec.number}: no entry runs {method}"
            for task in spec.tasks or ():
                assert _producers(plan, method, task, spec.budget == "extended"), (
                    f"figure {spec.number}: no entry runs {method} on {task} ({spec.budget})"
                )
        for prefix in spec.prefixes:
            swept = [n for n in names if n.startswith(prefix)]
            assert len(swept) >= 2, f"figure {spec.number}: no {prefix}* sweep"
            # every swept value on the same tasks, beside the default bcvlr runs there
            (tasks,) = {tuple(plan.tasks(n)) for n in swept}
            assert set(tasks) <= set(plan.tasks("bcvlr")) and tasks, spec.number
        for name in plan.config["methods"]:
            if any(name.startswith(p) for p in spec.prefixes):
                assert len(plan.seeds(name)) == 5, name


def test_variants_run_exactly_the_papers_tasks():
    """A variant made for one table or figure runs on its tasks and no others."""
    from bcvlr.report.specs import FIGURE_SPECS, TABLE_SPECS

    plan = _paper_plan()
    wanted: dict[str, set[str]] = {}
    for spec in TABLE_SPECS:
        for column in spec.columns:
            for m in column.methods:
                if m not in PAPER_METHODS:
                    wanted.setdefault(m, set()).update(spec.tasks)
    # Figure 5's tasks are in Section 4.5's text; Figure 9's in its spec
    for name in ("bcvlr_videos5k", "bcvlr_videos20k", "bcvlr_videos50k"):
        wanted[name] = {"reacher_hard", "finger_spin"}
    (fig9,) = [s for s in FIGURE_SPECS if s.budget == "extended"]
    for name, entry in plan.config["methods"].items():
        if plan.method(name).run_name != name:
            wanted[name] = set(fig9.tasks)
            assert entry["budget"] == 500_000, name
    for name, tasks in wanted.items():
        assert set(plan.tasks(name)) == tasks, name
    # Table 3: pretrained on three games, adapted to those and to two unseen ones
    m = plan.method("bcvlr_m")
    assert m.pretrain_tasks == ["bigfish", "maze", "starpilot"]
    assert set(plan.tasks("bcvlr_m")) - set(m.pretrain_tasks) == {"bossfight", "dodgeball"}
    # Figure 4: both suites, and point_mass_easy (named in Section 4.4)
    for name in ("bcvlr_wo_lf", "bcvlr_wo_la", "bcvlr_wo_ft"):
        assert {TASKS[t].suite for t in plan.tasks(name)} == {"procgen", "dmc"}
        assert "point_mass_easy" in plan.tasks(name)


def test_variants_set_what_their_names_say():
    import yaml as _yaml

    plan = _paper_plan()
    expect = {"bcvlr_wo_lf": ("variant", "wo_lf"), "bcvlr_wo_la": ("variant", "wo_la"),
              "bcvlr_wo_ft": ("variant", "wo_ft"), "bcvlr_ft_la": ("encoder_training", "la"),
              "bcvlr_ft_ft": ("encoder_training", "ft"),
              "bcvlr_offline": ("online.offline_labelled", 10_000)}  # fmt: skip
    for name in plan.config["methods"]:
        m = plan.method(name)
        sets = dict(s.split("=", 1) for s in m.overrides(plan.tasks(name)[0]))
        sets = {k: _yaml.safe_load(v) for k, v in sets.items()}
        if name in expect:
            key, value = expect[name]
            assert sets[key] == value, name
        for prefix, key in (("bcvlr_alpha", "features.recon_alpha"), ("bcvlr_beta", "online.beta")):
            if name.startswith(prefix):
                assert sets[key] == float(name.removeprefix(prefix)), name
        if name.startswith("bcvlr_videos"):
            steps = int(name.removeprefix("bcvlr_videos").removesuffix("k")) * 1000
            assert all(m.videos_steps(t) == steps for t in plan.tasks(name)), name
    schedule = dict(s.split("=", 1) for s in plan.method("bcvlr_1000to2").overrides("finger_spin"))
    assert (schedule["online.cycle_steps"], schedule["online.ft_updates"],
            schedule["online.bc_updates"]) == ("2", "1", "2")  # fmt: skip


def test_paper_runs_roots_and_video_amounts():
    plan = _paper_plan()
    assert plan.runs_roots()[0] == "results/runs"
    assert wf.runs_args(plan).startswith("--runs results/runs")
    amounts = plan.video_amounts()
    assert amounts == sorted((t, n) for t in ("finger_spin", "reacher_hard")
                             for n in (5000, 20000, 50000))  # fmt: skip


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
        ({"tasks": ["metaworld_reach@sideview"]}, "tasks: task 'metaworld_reach@sideview': unknown camera 'sideview'"),
        ({"tasks": ["metaworld_reach@corner"]}, "tasks: 'metaworld_reach@corner' is metaworld_reach itself (its default camera): name it metaworld_reach"),
        ({"tasks": ["metaworld_reech@corner"]}, "tasks: unknown task 'metaworld_reech'. Did you mean: metaworld_reach"),
        ({"methods__bcvlrr": {}}, "methods.bcvlrr: unknown method 'bcvlrr' (did you mean bcvlr"),
        ({"methods__bcvlr__resources": {"gpus": 1}}, "methods.bcvlr.resources.gpus: unknown key (did you mean 'gpu'?)"),
        ({"methods__bcvlr__config": "config/bcvlr/nope.yaml"}, "methods.bcvlr.config: file config/bcvlr/nope.yaml does not exist"),
        ({"methods__ppo": {"module": "x.y"}}, "methods.ppo.module: 'ppo' is a registered method"),
        ({"methods__b2": {"base": "bcvlr", "report_as": "bcvlr"}}, "methods.b2: its runs would go to results/runs/bcvlr/, as methods.bcvlr's do"),
        ({"methods__r2": {"base": "random"}}, "methods.r2: its runs would go to results/runs/random/, as methods.random's do"),
        ({"methods__r2": {"base": "random", "runs": "r", "report_as": "x"}}, "methods.r2.report_as: `bcvlr run` records random's runs as 'random'"),
        ({"methods__random__report_as": "bcvlr"}, "methods.random.report_as: only a variant"),
        ({"methods__random__pretrain_tasks": ["metaworld_reach"]}, "methods.random.pretrain_tasks: a BCV-LR setting"),
        ({"methods__random__videos_steps": 100}, "methods.random.videos_steps: a BCV-LR setting"),
        ({"methods__bcvlr__pretrain_tasks": ["metaworld_reach", "bigfish"]}, "methods.bcvlr.pretrain_tasks: tasks of one suite"),
        ({"methods__bcvlr__pretrain_tasks": ["bigfish"]}, "methods.bcvlr: online tasks metaworld_reach are not procgen tasks"),
        ({"methods__bcvlr__base": "bcvlr"}, "methods.bcvlr.base: a variant needs a name of its own"),
        ({"methods__b2": {"base": "bcvlrr"}}, "methods.b2.base: unknown method 'bcvlrr' (did you mean bcvlr"),
        ({"experts": {"prebuilt": {"reacher_hard": "assets/experts/reacher_hard"}}}, "experts.prebuilt.reacher_hard: not a task whose videos this config makes"),
        ({"experts": {"prebuilt": {"metaworld_reach": "assets/nowhere"}}}, "experts.prebuilt.metaworld_reach: no expert.json in"),
        ({"experts": {"kind": {"metaworld": "planner"}}}, "experts.kind.metaworld: 'planner' is not an expert kind for metaworld tasks (metaworld_reach); choose from scripted, drqv2_pixels"),
        ({"experts": {"kind": "ppo"}}, "experts.kind: 'ppo' is not an expert kind for metaworld tasks"),
    ],
)  # fmt: skip
def test_a_broken_config_names_the_key(changes, expected):
    with pytest.raises(wf.ConfigError) as e:
        wf.check_config(_config(**changes))
    assert expected in str(e.value)


def test_the_expert_kind_is_chosen_per_suite_or_task():
    config = _config(tasks=["metaworld_reach", "heist", "maze"])
    config["experts"] = {"kind": {"procgen": "planner", "maze": "ppo"}}
    wf.check_config(config)
    plan = wf.Plan(config)
    assert wf.expert_args(plan, "heist") == "--kind planner"
    assert wf.expert_args(plan, "maze") == "--kind ppo"
    assert wf.expert_args(plan, "metaworld_reach") == "--kind scripted"


def test_a_camera_variant_is_planned_like_its_task():
    plan = wf.Plan(_config(tasks=["metaworld_reach", "metaworld_reach@behindGripper"]))
    assert plan.tasks("bcvlr") == ["metaworld_reach", "metaworld_reach@behindGripper"]
    assert "metaworld_reach@behindGripper" in plan.video_tasks()


def test_method_settings_are_checked_before_any_job(tmp_path):
    config = _config(methods__bcvlr__set=["online.nope=1"])
    with pytest.raises(
        wf.ConfigError, match=r"methods.bcvlr on metaworld_reach: .*unknown key 'nope'"
    ):
        wf.deep_check(config)


def test_a_budget_that_never_trains_lapos_head_is_refused_before_any_job():
    config = _config(tasks=["starpilot"], methods={"lapo": {"budget": 25_600, "videos": True}})
    with pytest.raises(wf.ConfigError, match=r"methods.lapo on starpilot: budget 25600 ends "
                       r"before online.head_lr starts \(35000 env steps"):  # fmt: skip
        wf.deep_check(config)
    config["methods"]["lapo"]["set"] = ["online.schedule=rescaled"]
    wf.deep_check(config)


def test_snakemake_fails_fast_on_a_broken_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_config(methods__random__budgett=5)))
    r = snakemake(tmp_path, "-n", "--configfile", str(bad), check=False, timeout=120)
    assert r.returncode != 0
    assert "methods.random.budgett: unknown key" in r.stdout + r.stderr
    assert "Job stats" not in r.stdout + r.stderr  # refused before any DAG was built
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
    assert "GPU cost" in r.stdout  # what its GPU jobs cost, as `snakemake -n` prints it


def test_the_variant_is_read_through_extends(tmp_path):
    """A method's config file that extends another picks the pretraining stages the variant
    of the file it extends needs."""
    (tmp_path / "base.yaml").write_text("variant: wo_la\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nonline: {bc_updates: 5}\n")
    config = wf.load_config_file(REPO / "config/config.yaml")
    config["methods"]["bcvlr"]["config"] = str(tmp_path / "child.yaml")
    assert wf.bcvlr_variant(wf.Plan(config), "bcvlr", "metaworld_reach") == "wo_la"
