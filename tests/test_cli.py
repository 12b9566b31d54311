import json
import os
import subprocess
import sys

from bcvlr.cli import main


def test_tasks_json_lists_29(capsys):
    assert main(["tasks", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    suites = [r["suite"] for r in rows]
    assert (len(rows), suites.count("procgen"), suites.count("dmc"), suites.count("metaworld")) == (
        29, 16, 9, 4)  # fmt: skip


def test_tasks_table_by_suite(capsys):
    assert main(["tasks", "--suite", "metaworld"]) == 0
    out = capsys.readouterr().out
    assert "metaworld_drawer_open" in out and "coinrun" not in out
    assert "<task>@<camera>, camera one of corner2, corner3" in out


def test_console_script_installed_and_rejects_bad_suite():
    proc = subprocess.run([sys.executable, "-m", "bcvlr.cli", "tasks", "--suite", "atari"],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2
    assert "invalid choice: 'atari'" in proc.stderr


def test_demo_runs_real_simulators(tmp_path, capsys):
    assert main(["demo", "--suite", "dmc", "--steps", "3", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "frames.png").stat().st_size > 10_000
    lines = (tmp_path / "demo.csv").read_text().splitlines()
    assert len(lines) == 1 + 9


def test_videos_rendered_unlike_the_env_are_refused_before_any_run(tmp_path, capsys):
    from tests.method.helpers import random_videos

    videos = random_videos("reacher_easy", tmp_path / "videos", steps=4, max_episode=4)
    manifest = videos.path / "manifest.json"
    m = json.loads(manifest.read_text())
    m["render"]["camera"] = 1
    manifest.write_text(json.dumps(m))
    argv = ["run", "--method", "bco", "--task", "reacher_easy", "--videos", str(videos.path),
            "--runs-root", str(tmp_path / "runs")]  # fmt: skip
    assert main(argv) == 2
    assert "camera: videos 1, env 0" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_lapo_budget_that_never_trains_its_head_is_refused_before_any_run(tmp_path, capsys):
    from tests.method.helpers import random_videos

    videos = random_videos("starpilot", tmp_path / "videos", steps=4, max_episode=4)
    argv = ["run", "--method", "lapo_bc", "--task", "starpilot", "--videos", str(videos.path),
            "--budget", "25600", "--runs-root", str(tmp_path / "runs")]  # fmt: skip
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after gym's import notice
    assert last.startswith("bcvlr run: error: budget 25600 ends before online.head_lr"), last
    assert not (tmp_path / "runs").exists()


def test_zero_or_negative_counts_are_refused_not_taken_for_the_default(capsys):
    """`--budget 0` once ran the full budget, `--eval-episodes -1` ended "complete" with NaN."""
    for argv, error in (
        (["run", "--method", "bcvlr", "--task", "reacher_easy", "--budget", "0"],
         "argument --budget: must be >= 1, got 0"),
        (["run", "--method", "bcvlr", "--task", "reacher_easy", "--eval-episodes", "-1"],
         "argument --eval-episodes: must be >= 1, got -1"),
        (["online", "--task", "reacher_easy", "--videos", "v", "--seed", "-2"],
         "argument --seed: must be >= 0, got -2"),
        (["collect-videos", "--task", "reacher_easy", "--expert", "e", "--out", "o", "--steps",
          "0"], "argument --steps: must be >= 1, got 0"),
    ):  # fmt: skip
        try:
            main(argv)
        except SystemExit as e:
            assert e.code == 2
        assert capsys.readouterr().err.strip().splitlines()[-1].endswith(error)


def test_user_errors_and_os_errors_end_in_one_line(tmp_path, capsys):
    """Each once ended in a traceback: a runs root that is a file, another task's expert, an
    expert folder without expert.json, a read-only runs root."""
    from bcvlr.experts.train import EXPERT_JSON

    a_file = tmp_path / "a_file"
    a_file.write_text("")
    other = tmp_path / "expert"
    other.mkdir()
    (other / EXPERT_JSON).write_text(json.dumps({"task": "reacher_easy", "module": "x"}))
    read_only = tmp_path / "read_only"
    read_only.mkdir(mode=0o555)
    cases = [
        (["run", "--method", "random", "--task", "reacher_easy", "--budget", "10",
          "--runs-root", str(a_file)], "NotADirectoryError"),
        (["collect-videos", "--task", "finger_spin", "--expert", str(other), "--out",
          str(tmp_path / "v"), "--steps", "10"], "expert is for 'reacher_easy', not 'finger_spin'"),
        (["collect-videos", "--task", "finger_spin", "--expert", str(tmp_path), "--out",
          str(tmp_path / "v"), "--steps", "10"], f"no {EXPERT_JSON}"),
    ]  # fmt: skip
    if os.geteuid() != 0:  # root writes into a read-only folder anyway
        cases.append((["run", "--method", "random", "--task", "reacher_easy", "--budget", "10",
                       "--runs-root", str(read_only)], "PermissionError"))  # fmt: skip
    for argv, error in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and error in err, err


def test_a_missing_runs_root_is_refused_not_an_empty_report(tmp_path, capsys):
    """`aggregate` / `report` on a mistyped root once exited 0 with empty output."""
    for command in ("aggregate", "report"):
        assert main([command, "--runs", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
        assert f"runs root {tmp_path / 'nope'} does not exist" in capsys.readouterr().err


def test_the_diagnostics_command_ends_a_user_error_in_one_line(tmp_path):
    """python -m bcvlr.method.action_readout goes through the same handler as `bcvlr`."""
    from tests.data.video_helpers import write

    write(tmp_path / "ds", [12, 9], frame_stack=1)
    r = subprocess.run([sys.executable, "-m", "bcvlr.method.action_readout", "supervised",
                        "--task", "coinrun", "--videos", str(tmp_path / "ds"),
                        "--features", "fresh", "--config", "config/bcvlr/dmc.yaml"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "action_readout supervised: error: config/bcvlr/dmc.yaml: a suite's defaults file, which "
        "the method already starts from: leave out --config for its values, or give a file of "
        "overrides"]


def test_a_finished_run_is_kept_not_run_again(tmp_path, capsys):
    """Rerunning a complete run once overwrote its results without a word."""
    argv = ["run", "--method", "random", "--task", "reacher_easy", "--budget", "10",
            "--eval-episodes", "1", "--runs-root", str(tmp_path), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    metrics = (tmp_path / "random" / "reacher_easy" / "seed0" / "metrics.csv").read_text()
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run is already complete" in err, err
    assert (tmp_path / "random" / "reacher_easy" / "seed0" / "metrics.csv").read_text() == metrics
