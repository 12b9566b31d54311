"""The run-directory format: writing, crash-safe resume and the schema check."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from bcvlr.results import RunDir, RunExistsError, RunSchemaError, SettingsMismatchError, load_run
from bcvlr.results.rundir import METRICS_CSV, RUN_JSON, score_metric
from bcvlr.results.schema import collect_runs


def _make(root: Path, **kw) -> RunDir:
    args = {"method": "bcvlr", "task": "reacher_hard", "seed": 0}
    args.update(kw)
    return RunDir.create(root, args.pop("method"), args.pop("task"), args.pop("seed"), **args)


def test_create_writes_layout_and_provenance(tmp_path: Path) -> None:
    run = _make(tmp_path, config={"lr": 1e-3}, labels={"mini": True})
    assert run.path == tmp_path / "bcvlr" / "reacher_hard" / "seed0"
    info = json.loads((run.path / RUN_JSON).read_text())
    assert info["status"] == "running"
    assert info["suite"] == "dmc" and info["budget"] == 100_000 and info["budget_unit"] == "frames"
    assert info["reduced_budget"] is False
    assert info["config"] == {"lr": 1e-3}
    assert info["score_metric"] == "eval/return"
    prov = info["provenance"]
    assert prov["git_commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}", prov["git_commit"])
    assert set(prov["packages"]) >= {
        "torch", "numpy", "procgen", "dm_control", "mujoco", "metaworld", "gymnasium",
    }  # fmt: skip
    assert prov["python"].startswith("3.") and prov["hostname"]
    header = (run.path / METRICS_CSV).read_text()
    assert header == "step,frames,metric,value,wall_time\n"
    # no temp files left behind by the atomic write
    assert sorted(p.name for p in run.path.iterdir()) == [METRICS_CSV, RUN_JSON]


def test_reduced_budget_label(tmp_path: Path) -> None:
    run = _make(tmp_path, budget=2_000)
    assert run.info["reduced_budget"] is True and run.info["budget"] == 2_000


def test_log_roundtrip_and_complete(tmp_path: Path) -> None:
    run = _make(tmp_path)
    run.log(0, 0, {"eval/return": 1.5, "train/loss": 0.25})
    run.log(1000, 2000, {"eval/return": 0.1 + 0.2})
    run.mark_complete()
    loaded = load_run(run.path)
    assert loaded.status == "complete" and loaded.info["timings"]["finished_at"]
    scores = loaded.scores()
    assert scores["value"].tolist() == [1.5, 0.1 + 0.2]  # exact float round trip
    assert scores["frames"].tolist() == [0, 2000]
    assert loaded.metrics["wall_time"].is_monotonic_increasing


def test_exists_guard(tmp_path: Path) -> None:
    _make(tmp_path).mark_complete()
    with pytest.raises(RunExistsError):
        _make(tmp_path)
    with pytest.raises(RunExistsError, match="already complete"):
        RunDir.resume(tmp_path / "bcvlr/reacher_hard/seed0", 0)
    run = _make(tmp_path, overwrite=True)
    assert run.status == "running" and load_run(run.path).metrics.empty


def test_step_must_not_go_back(tmp_path: Path) -> None:
    run = _make(tmp_path)
    run.log(10, 20, {"a": 1.0})
    with pytest.raises(ValueError, match="truncate_after"):
        run.log(5, 10, {"a": 1.0})
    with pytest.raises(ValueError, match="metric name"):
        run.log(10, 20, {"bad,name": 1.0})


def _simulate_training(run: RunDir, start: int, stop: int, kill_at: int | None) -> int | None:
    """Log every 100 steps, checkpoint every 300; return the last checkpoint before a kill."""
    ckpt = None
    for step in range(start, stop + 1, 100):
        if kill_at is not None and step == kill_at:
            return ckpt
        run.log(step, 2 * step, {"eval/return": float(step), "train/loss": 1.0 / (step + 1)})
        if step % 300 == 0:
            run.mark_checkpoint(step)
            ckpt = step
    return ckpt


def test_kill_and_resume_has_no_duplicate_or_missing_rows(tmp_path: Path) -> None:
    run = _make(tmp_path)
    ckpt = _simulate_training(run, 0, 1000, kill_at=800)  # killed after logging 700
    assert ckpt == 600
    run.close()
    path = run.path
    # a torn, newline-less write at the moment of the kill
    with open(path / METRICS_CSV, "a") as f:
        f.write("800,1600,eval/ret")
    # a killed run stays "running"; it loads with a warning, never as complete
    killed = load_run(path)
    assert killed.status == "running" and killed.warnings
    resumed = RunDir.resume(path, checkpoint_step=ckpt)
    assert resumed.info["resumes"][-1]["rows_dropped"] == 3  # 700's two rows + the torn line
    _simulate_training(resumed, ckpt + 100, 1000, kill_at=None)
    resumed.mark_complete()
    loaded = load_run(path)
    scores = loaded.scores()
    assert scores["step"].tolist() == list(range(0, 1001, 100))
    assert len(loaded.metrics) == 2 * 11
    assert loaded.metrics["wall_time"].is_monotonic_increasing


def test_resume_without_checkpoint_drops_everything(tmp_path: Path) -> None:
    run = _make(tmp_path)
    run.log(0, 0, {"eval/return": 1.0})
    run.close()
    resumed = RunDir.resume(run.path, None)
    assert load_run(resumed.path).metrics.empty


def test_resume_config_mismatch(tmp_path: Path) -> None:
    run = _make(tmp_path, config={"lr": 1})
    run.close()
    with pytest.raises(ValueError, match="config differs .* in lr;"):
        RunDir.resume(run.path, None, config={"lr": 2})


def test_resume_with_another_budget_is_refused(tmp_path: Path) -> None:
    """A run resumed with another budget would train past what run.json claims (it once
    trained to 6,000 frames while run.json and aggregate kept 3,000)."""
    run = _make(tmp_path, config={"lr": 1})
    run.close()
    budget = load_run(run.path).info["budget"]
    with pytest.raises(SettingsMismatchError, match=f"has budget {budget}, not {2 * budget}"):
        RunDir.resume(run.path, None, config={"lr": 1}, budget=2 * budget)
    RunDir.resume(run.path, None, config={"lr": 1}, budget=budget).close()


def test_resume_names_nested_changes_and_removed_keys(tmp_path: Path) -> None:
    run = _make(tmp_path, config={"online": {"beta": 1e-5, "std": 0.5}})
    run.close()
    with pytest.raises(ValueError, match=r"online\.beta, online\.std;"):
        RunDir.resume(run.path, None, config={"online": {"beta": 1.0}})


def test_resume_accepts_a_setting_added_after_the_run_started(tmp_path: Path) -> None:
    run = _make(tmp_path, config={"lr": 1})
    run.close()
    resumed = RunDir.resume(run.path, None, config={"lr": 1, "new_option": {"a": 2}})
    resumed.close()
    info = load_run(run.path).info
    assert info["resumes"][-1]["added_config_keys"] == ["new_option.a"]
    assert info["config"] == {"lr": 1, "new_option": {"a": 2}}


def test_context_manager_marks_failed(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), _make(tmp_path) as run:
        run.log(0, 0, {"eval/return": 1.0})
        raise RuntimeError("diverged")
    loaded = load_run(run.path)
    assert loaded.status == "failed" and "diverged" in loaded.info["error"]


def test_truncate_after(tmp_path: Path) -> None:
    run = _make(tmp_path)
    for s in range(5):
        run.log(s, s, {"eval/return": float(s)})
    assert run.truncate_after(2) == (3, 2)
    run.log(3, 3, {"eval/return": 30.0})
    run.mark_complete()
    assert load_run(run.path).scores()["value"].tolist() == [0.0, 1.0, 2.0, 30.0]


def _complete(tmp_path: Path, **kw) -> Path:
    run = _make(tmp_path, **kw)
    run.log(0, 0, {"eval/return": 1.0})
    run.mark_complete()
    return run.path


@pytest.mark.parametrize(
    ("mutate", "fault"),
    [
        (lambda d: d.pop("seed"), "missing required key 'seed'"),
        (lambda d: d.update(status="done"), "status 'done' not one of"),
        (lambda d: d.update(task="nope"), "task 'nope': unknown task 'nope'"),
        (lambda d: d.update(suite="procgen"), "suite 'procgen' but task reacher_hard is dmc"),
        (lambda d: d.update(seed=True), "key 'seed' must be int"),
        (lambda d: d.update(seed=3), "lives in bcvlr/reacher_hard/seed0"),
        (lambda d: d["provenance"].pop("git_commit"), "provenance lacks 'git_commit'"),
        (lambda d: d.update(schema_version=99), "schema_version 99 unsupported"),
    ],
)
def test_schema_faults_name_file_and_fault(tmp_path: Path, mutate, fault: str) -> None:
    path = _complete(tmp_path)
    info = json.loads((path / RUN_JSON).read_text())
    mutate(info)
    (path / RUN_JSON).write_text(json.dumps(info))
    with pytest.raises(RunSchemaError) as e:
        load_run(path)
    assert str(path / RUN_JSON) in str(e.value) and fault in str(e.value)


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        ("0,0,eval/return,1.0,0.1\n0,0,eval/return,2.0,0.2\n", "duplicate eval/return at step 0"),
        ("5,10,eval/return,1.0,0.1\n4,8,eval/return,2.0,0.2\n", "go back"),
        ("0,0,eval/return,abc,0.1\n", "unparsable number"),
        ("0,0,eval/return,nan,0.1\n", "eval/return is nan"),
        ("0,0,eval/return,1.0\n", "expected 5 fields"),
        ("0,0,eval/return,1.0,0.1", "incomplete last line"),
        ("0,0,train/loss,1.0,0.1\n", "complete run has no eval/return rows"),
    ],
)
def test_metrics_faults_in_complete_run(tmp_path: Path, body: str, fault: str) -> None:
    path = _complete(tmp_path)
    (path / METRICS_CSV).write_text("step,frames,metric,value,wall_time\n" + body)
    with pytest.raises(RunSchemaError) as e:
        load_run(path)
    assert str(path / METRICS_CSV) in str(e.value) and fault in str(e.value)


def test_bad_header_and_missing_json(tmp_path: Path) -> None:
    path = _complete(tmp_path)
    (path / METRICS_CSV).write_text("a,b\n")
    with pytest.raises(RunSchemaError, match="header"):
        load_run(path)
    os.remove(path / RUN_JSON)
    with pytest.raises(RunSchemaError, match="missing"):
        load_run(path)
    (path / RUN_JSON).write_text("{not json")
    with pytest.raises(RunSchemaError, match="not valid JSON"):
        load_run(path)


def test_collect_runs_splits_by_status(tmp_path: Path) -> None:
    _complete(tmp_path)
    failed = _make(tmp_path, seed=1)
    failed.mark_failed("CUDA out of memory")
    _make(tmp_path, seed=2).close()  # still running (killed)
    bad = _complete(tmp_path, seed=3)
    (bad / RUN_JSON).write_text("[]")
    runs = collect_runs(tmp_path)
    assert [r.seed for r in runs.complete] == [0]
    assert sorted(r.seed for r in runs.incomplete) == [1, 2]
    assert len(runs.invalid) == 1 and "seed3" in str(runs.invalid[0])
    text = "\n".join(runs.excluded_lines())
    assert "failed: CUDA out of memory" in text and "seed2: running" in text


def test_score_metric_per_suite() -> None:
    assert score_metric("bigfish") == "eval/return"
    assert score_metric("metaworld_reach") == "eval/success"


def test_a_camera_variant_run_loads_under_its_own_task(tmp_path: Path) -> None:
    made = _make(tmp_path, task="metaworld_reach@behindGripper")
    made.log(0, 0, {"eval/success": 1.0})
    made.mark_complete()
    run = load_run(made.path)
    assert run.path == tmp_path / "bcvlr" / "metaworld_reach@behindGripper" / "seed0"
    assert (run.info["task"], run.info["suite"]) == ("metaworld_reach@behindGripper", "metaworld")


def test_a_run_resumed_with_another_budget_is_refused(tmp_path: Path) -> None:
    """Resuming with another --budget once trained past the recorded budget and reported the
    recorded one."""
    run = _make(tmp_path, budget=3_000)
    with pytest.raises(SettingsMismatchError, match="budget 3000, not 6000"):
        RunDir.resume(run.path, checkpoint_step=None, budget=6_000)
    run.mark_complete()
    with pytest.raises(RunExistsError, match="already complete"):
        RunDir.resume(run.path, checkpoint_step=None, budget=3_000)
