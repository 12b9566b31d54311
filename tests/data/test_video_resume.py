import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bcvlr.data import (
    DatasetCompleteError,
    DatasetExistsError,
    IncompleteDatasetError,
    ProvenanceMismatchError,
    RenderMismatchError,
    TaskMismatchError,
    VideoDataset,
    VideoDatasetWriter,
)
from tests.data.video_helpers import RENDER, SHAPE, TASK, decode, episode_frames, write

LENGTHS = [6, 9, 4, 11, 7, 5, 8, 10, 3, 6, 12, 5]


def _episodes(ds: VideoDataset) -> list[int]:
    ids = []
    for _, frames in ds.iter_episodes():
        e, t = decode(frames)
        assert (e == e[0]).all() and t.tolist() == list(range(len(frames)))
        ids.append(int(e[0]))
    return ids


def test_resume_after_interrupted_write(tmp_path):
    path = tmp_path / "ds"
    w = write(path, LENGTHS[:8], chunk_frames=15, close=False)
    # Chunks flushed at 6+9, 4+11 and 7+5+8 frames; episode 7 is only buffered.
    assert (w.chunks_written, w.episodes_written, w.frames_written) == (3, 7, 50)
    assert w.episodes_buffered == 1
    del w  # killed: buffered episode lost, manifest says incomplete
    # debris of a write killed between the chunk's rename and the manifest update, and mid-write
    (path / "chunks" / "000003.npz").write_bytes(b"half-written chunk")
    (path / "labels" / "000003.npz").write_bytes(b"labels of it")
    (path / "chunks" / "000004.npz.tmp").write_bytes(b"tmp")
    (path / "manifest.json.tmp").write_text("{")
    with pytest.raises(IncompleteDatasetError, match="complete"):
        VideoDataset(path)
    partial = VideoDataset(path, allow_incomplete=True)
    assert partial.num_episodes == 7

    w = VideoDatasetWriter(path, TASK, SHAPE, 1, RENDER, chunk_frames=15)
    assert (w.episodes_written, w.frames_written) == (7, 50)
    assert not (path / "chunks" / "000003.npz").exists()
    assert not (path / "chunks" / "000004.npz.tmp").exists()
    assert not (path / "manifest.json.tmp").exists()
    assert not (path / "labels" / "000003.npz").exists()
    rest = LENGTHS[w.episodes_written :]
    for i, n in enumerate(rest):
        ep = w.episodes_written + w.episodes_buffered
        assert ep == 7 + i
        w.add_episode(episode_frames(ep, n), np.zeros(n - 1, np.int64), np.zeros(n - 1))
    w.close()
    ds = VideoDataset(path, deep=True)
    assert (ds.num_episodes, ds.num_frames) == (len(LENGTHS), sum(LENGTHS))
    assert _episodes(ds) == list(range(len(LENGTHS)))
    assert len(json.loads((path / "manifest.json").read_text())["resumed"]) == 1


_CHILD = """
import sys, time
import numpy as np
from tests.data.video_helpers import RENDER, SHAPE, TASK, episode_frames
from bcvlr.data import VideoDatasetWriter
w = VideoDatasetWriter(sys.argv[1], TASK, SHAPE, 1, RENDER, chunk_frames=30)
ep = 0
while True:
    w.add_episode(episode_frames(ep % 256, 7))
    ep += 1
    time.sleep(0.001)
"""


def test_resume_after_sigkill(tmp_path):
    path = tmp_path / "ds"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], env=env, cwd=root)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                m = json.loads((path / "manifest.json").read_text())
                if len(m["chunks"]) >= 3:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.01)
        else:
            pytest.fail("child wrote no chunks")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    w = VideoDatasetWriter(path, TASK, SHAPE, 1, RENDER, chunk_frames=30)
    done = w.episodes_written
    assert done >= 15 and w.frames_written == 7 * done
    for ep in range(done, done + 10):
        w.add_episode(episode_frames(ep % 256, 7))
    w.close()
    ds = VideoDataset(path, deep=True)
    assert ds.num_episodes == done + 10 and ds.num_frames == 7 * (done + 10)
    assert _episodes(ds) == [e % 256 for e in range(done + 10)]
    listed = {c["file"].split("/")[1] for c in ds.chunks}
    assert {p.name for p in (path / "chunks").iterdir()} == listed


def test_resume_refusals(tmp_path):
    path = tmp_path / "ds"
    write(path, [4, 5], close=False)
    with pytest.raises(DatasetExistsError, match="resume=True"):
        VideoDatasetWriter(path, TASK, SHAPE, 1, RENDER, resume=False)
    with pytest.raises(TaskMismatchError, match="task"):
        VideoDatasetWriter(path, "maze", SHAPE, 1, RENDER)
    with pytest.raises(RenderMismatchError, match="render"):
        VideoDatasetWriter(path, TASK, SHAPE, 1, {**RENDER, "size": 8})
    with pytest.raises(ProvenanceMismatchError, match="checkpoint"):
        VideoDatasetWriter(path, TASK, SHAPE, 1, RENDER, expert={"checkpoint": "other.pt"})
    w = VideoDatasetWriter(path, TASK, SHAPE, 1, RENDER, expert={"checkpoint": "x.pt"})
    w.update_provenance(expert={"mean_score": 9.5})
    w.close()
    assert VideoDataset(path).expert == {"checkpoint": "x.pt", "mean_score": 9.5}
    with pytest.raises(DatasetCompleteError, match="complete"):
        VideoDatasetWriter(path, TASK, SHAPE, 1, RENDER)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(DatasetExistsError, match="not empty"):
        VideoDatasetWriter(other, TASK, SHAPE, 1, RENDER)


def test_context_manager_keeps_data_but_not_completion_on_error(tmp_path):
    path = tmp_path / "ds"
    with pytest.raises(RuntimeError), VideoDatasetWriter(path, TASK, SHAPE, 1, RENDER) as w:
        w.add_episode(episode_frames(0, 5))
        raise RuntimeError("collector crashed")
    ds = VideoDataset(path, allow_incomplete=True)
    assert ds.num_episodes == 1 and not ds.complete
    with VideoDatasetWriter(path, TASK, SHAPE, 1, RENDER) as w:
        w.add_episode(episode_frames(1, 5))
    assert VideoDataset(path).num_episodes == 2
