import argparse
import io
import json

import numpy as np
import pytest

from bcvlr.data import (
    ChecksumError,
    CorruptChunkError,
    DatasetError,
    DtypeError,
    IncompleteDatasetError,
    ManifestError,
    MissingChunkError,
    RenderMismatchError,
    ShapeError,
    TaskMismatchError,
    VideoDataset,
)
from bcvlr.data.dataset import validate_main
from bcvlr.errors import CliError
from tests.data.video_helpers import RENDER, TASK, write


@pytest.fixture
def ds_path(tmp_path):
    path = tmp_path / "ds"
    write(path, [5, 8, 6, 9, 4], chunk_frames=12)
    return path


def _manifest(path):
    return json.loads((path / "manifest.json").read_text())


def _edit_manifest(path, edit):
    m = _manifest(path)
    edit(m)
    (path / "manifest.json").write_text(json.dumps(m))


def _rewrite_chunk(path, frames):
    # keeps the manifest's checksum stale on purpose: shallow checks must catch shape/dtype alone
    buf = io.BytesIO()
    np.savez_compressed(buf, frames=frames)
    (path / "chunks" / "000001.npz").write_bytes(buf.getvalue())


def test_valid_dataset_passes_deep(ds_path):
    ds = VideoDataset(ds_path, task=TASK, render=RENDER, deep=True)
    ds.validate(task=TASK, render=dict(RENDER), deep=True)


def test_missing_chunk(ds_path):
    (ds_path / "chunks" / "000001.npz").unlink()
    with pytest.raises(MissingChunkError, match="000001.npz"):
        VideoDataset(ds_path)


def test_wrong_shape(ds_path):
    n = _manifest(ds_path)["chunks"][1]["frames"]
    _rewrite_chunk(ds_path, np.zeros((n, 3, 4, 5), np.uint8))
    with pytest.raises(ShapeError, match="000001.npz"):
        VideoDataset(ds_path)


def test_wrong_frame_count(ds_path):
    n = _manifest(ds_path)["chunks"][1]["frames"]
    _rewrite_chunk(ds_path, np.zeros((n - 1, 3, 4, 4), np.uint8))
    with pytest.raises(ShapeError, match="000001.npz"):
        VideoDataset(ds_path)


def test_wrong_dtype(ds_path):
    n = _manifest(ds_path)["chunks"][1]["frames"]
    _rewrite_chunk(ds_path, np.zeros((n, 3, 4, 4), np.float32))
    with pytest.raises(DtypeError, match="000001.npz"):
        VideoDataset(ds_path)


def test_checksum_mismatch_in_deep_mode_and_when_the_chunk_is_read(ds_path):
    """A same-sized chunk from elsewhere passes the shallow check, but neither the deep one
    nor a learner reading it (a swapped chunk was once trained on)."""
    n = _manifest(ds_path)["chunks"][1]["frames"]
    _rewrite_chunk(ds_path, np.full((n, 3, 4, 4), 7, np.uint8))
    ds = VideoDataset(ds_path)  # shape and dtype are fine
    with pytest.raises(ChecksumError, match="000001.npz"):
        VideoDataset(ds_path, deep=True)
    ds.load_chunk(0)
    with pytest.raises(ChecksumError, match="000001.npz"):
        ds.load_chunk(1)


def test_flipped_bytes_are_named_not_a_zlib_traceback(ds_path, capsys):
    from bcvlr.cli import main

    chunk = ds_path / "chunks" / "000001.npz"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    assert main(["validate-videos", str(ds_path)]) == 2
    assert "ChecksumError" in capsys.readouterr().err
    assert main(["validate-videos", str(ds_path), "--quick"]) == 0
    ds = VideoDataset(ds_path)
    with pytest.raises(ChecksumError, match="000001.npz"):
        ds.load_chunk(1)


def test_truncated_chunk(ds_path):
    chunk = ds_path / "chunks" / "000001.npz"
    chunk.write_bytes(chunk.read_bytes()[:40])
    with pytest.raises(CorruptChunkError, match="000001.npz"):
        VideoDataset(ds_path)


def test_label_checksum(ds_path):
    labels = ds_path / "labels" / "000000.npz"
    labels.write_bytes(labels.read_bytes() + b"x")
    ds = VideoDataset(ds_path, deep=True)  # frames do not depend on labels
    labels_file = ds.open_labels()
    with pytest.raises(ChecksumError, match="labels/000000.npz"):
        ds.open_labels(deep=True)
    with pytest.raises(ChecksumError, match="labels/000000.npz"):
        labels_file.chunk(0)


def test_task_mismatch(ds_path):
    with pytest.raises(TaskMismatchError, match="'task'"):
        VideoDataset(ds_path, task="maze")


def test_render_mismatch(ds_path):
    with pytest.raises(RenderMismatchError, match="'render'"):
        VideoDataset(ds_path, render={**RENDER, "camera": "other"})


def test_incomplete(tmp_path):
    write(tmp_path / "ds", [5, 8], close=False)
    with pytest.raises(IncompleteDatasetError, match="'complete'"):
        VideoDataset(tmp_path / "ds")


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda p: (p / "manifest.json").unlink(), "missing"),
        (lambda p: (p / "manifest.json").write_text("{not json"), "unparseable"),
        (lambda p: _edit_manifest(p, lambda m: m.update(version=99)), "'version'"),
        (lambda p: _edit_manifest(p, lambda m: m.update(format="other")), "'format'"),
        (lambda p: _edit_manifest(p, lambda m: m.pop("frame_stack")), "'frame_stack'"),
        (lambda p: _edit_manifest(p, lambda m: m.update(task="nosuch")), "'task'"),
        (lambda p: _edit_manifest(p, lambda m: m["counts"].update(frames=1)), "'counts.frames'"),
        (
            lambda p: _edit_manifest(p, lambda m: m["chunks"][0].update(episodes=9)),
            r"'chunks\[0\]'",
        ),
    ],
)
def test_bad_manifest(ds_path, damage, match):
    damage(ds_path)
    with pytest.raises(ManifestError, match=match):
        VideoDataset(ds_path)


def test_every_fault_is_a_dataset_error():
    for cls in (ChecksumError, DtypeError, IncompleteDatasetError, ManifestError,
                MissingChunkError, RenderMismatchError, ShapeError, TaskMismatchError):  # fmt: skip
        assert issubclass(cls, DatasetError)


def test_validate_main(ds_path, capsys):
    validate_main(argparse.Namespace(path=str(ds_path), task=TASK, quick=False))
    out = capsys.readouterr().out
    assert "episodes" in out and "ok" in out and TASK in out
    with pytest.raises(CliError, match="TaskMismatchError"):
        validate_main(argparse.Namespace(path=str(ds_path), task="maze", quick=False))
    with pytest.raises(CliError, match="manifest.json"):
        validate_main(argparse.Namespace(path=str(ds_path / "nowhere"), task=None, quick=False))


def test_validate_videos_command(ds_path, capsys):
    from bcvlr.cli import main

    assert main(["validate-videos", str(ds_path), "--task", TASK]) == 0
    (ds_path / "chunks" / "000000.npz").unlink()
    assert main(["validate-videos", str(ds_path)]) == 2
    assert "MissingChunkError" in capsys.readouterr().err
