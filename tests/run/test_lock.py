"""One writer per run or stage folder: a second writer is refused while the first lives, and a
killed writer leaves no stale lock."""

import json
import os
import signal
import subprocess
import sys

import pytest

from bcvlr.run.harness import Harness
from bcvlr.run.lock import FolderInUseError, hold_folder, release
from bcvlr.run.stage import Stage

HOLD = """
import sys, time
from bcvlr.run.lock import hold_folder
handle = hold_folder(sys.argv[1], "the stage")
print("held", flush=True)
time.sleep(600)
"""


def _holder(folder):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_stage_writer_is_refused_with_the_holder_named(tmp_path):
    proc = _holder(tmp_path / "stage")
    try:
        stage = Stage(tmp_path / "stage", "latent_actions", cfg={}, seed=0, progress=False)
        with pytest.raises(FolderInUseError, match=f"latent_actions stage .* pid {proc.pid}"):
            stage.start()
        assert not (tmp_path / "stage" / "stage.json").exists()  # refused before writing
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_writer_leaves_no_stale_lock(tmp_path):
    proc = _holder(tmp_path / "stage")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stage = Stage(tmp_path / "stage", "features", cfg={}, seed=0, progress=False)
    assert stage.start() is None
    stage.finish({"x": 1}, "features.pt")
    # finished: the folder is free again, in this process too
    release(hold_folder(tmp_path / "stage", "the stage"))


def test_a_second_run_writer_is_refused_and_the_first_releases_on_exit(tmp_path):
    def harness():
        return Harness("random", "reacher_easy", 0, config={}, runs_root=tmp_path, budget=100,
                       progress=False)  # fmt: skip

    with harness() as first:
        first.start()
        with pytest.raises(FolderInUseError, match="the run"), harness() as second:
            second.start()
    with harness() as again:  # released by the first's exit
        again.start()
    assert (again.path / "run.json").exists()


def test_starting_the_same_stage_object_twice_keeps_its_own_lock(tmp_path):
    stage = Stage(tmp_path / "stage", "features", cfg={}, seed=0, progress=False)
    stage.start()
    stage.start()  # not refused by itself
    with pytest.raises(FolderInUseError):
        hold_folder(tmp_path / "stage", "the stage")
    stage.finish({"x": 1}, "features.pt")


def test_a_stage_that_raises_frees_its_folder_and_resumes_from_its_checkpoint(tmp_path):
    out = tmp_path / "stage"
    with pytest.raises(RuntimeError, match="boom"), Stage(out, "features", cfg={}, seed=0,
                                                           progress=False) as stage:  # fmt: skip
        stage.start()
        stage.advance(5, {"loss": 1.0})
        stage.checkpoint(5, {"x": 1})
        raise RuntimeError("boom")
    assert stage._lock is not None  # still referenced: only __exit__ can have released it
    release(hold_folder(out, "the stage"))
    info = json.loads((out / "stage.json").read_text())
    assert (info["status"], info["step"], info["error"]) == ("failed", 5, "RuntimeError: boom")
    with Stage(out, "features", cfg={}, seed=0, progress=False) as again:
        assert again.start() == {"x": 1}
        assert (again.step, again.resumes) == (5, 1)
        again.finish({"x": 2}, "features.pt")
    assert json.loads((out / "stage.json").read_text())["status"] == "complete"
