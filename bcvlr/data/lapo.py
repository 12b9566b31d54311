"""Import LAPO's Procgen expert data (expert_data/<game>/{train,test}/<int>.npz).

LAPO stores flat streams of steps, keys obs (N, 64, 64, 3) uint8 HWC, ta (true actions), done,
rewards, ep_returns, values. We read obs[i] as the observation at which ta[i] was taken and
done[i] as "the episode ended after ta[i]": the next obs is the reset frame of a new episode and
the terminal frame itself was never stored. An episode is therefore obs[start..i] with the
transitions between consecutive frames (actions ta[start..i-1]); its last action and reward have
no following frame and are dropped from the labels (the reward still counts in the expert's
returns recorded in the manifest). Episodes run across source files; one still open at the end of
the last file is dropped and counted in the manifest."""

from __future__ import annotations

import argparse
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bcvlr.data import manifest as mf
from bcvlr.data.dataset import VideoDataset
from bcvlr.data.errors import DatasetError
from bcvlr.data.writer import DEFAULT_CHUNK_FRAMES, VideoDatasetWriter
from bcvlr.errors import CliError
from bcvlr.tasks import UnknownTaskError, get_task, tasks_of

LAPO_KEYS = ("obs", "ta", "done", "rewards")
LAPO_SIZE = 64
LAPO_RENDER = {"source": "lapo", "width": LAPO_SIZE, "height": LAPO_SIZE}
SPLITS = ("train", "test")


@dataclass(frozen=True)
class _SourceFile:
    path: Path
    rel: str
    steps: int
    sha256: str
    bytes: int


def _source_files(src: Path, split: str) -> list[Path]:
    if not src.is_dir():
        raise CliError(f"--src {src}: no such folder")
    folder = src / split
    if not folder.is_dir():
        hint = ""
        if src.name in SPLITS:
            hint = " (point --src at the game folder that holds train/ and test/)"
        raise CliError(f"--src {src}: no {split}/ folder{hint}")
    files = [p for p in folder.glob("*.npz") if p.stem.isdigit()]
    if not files:
        raise CliError(f"{folder}: no <int>.npz files (LAPO format: {split}/0.npz, 1.npz, ...)")
    return sorted(files, key=lambda p: int(p.stem))


def _check_file(path: Path, src: Path) -> _SourceFile:
    """Shapes and dtypes from the npz headers (nothing decompressed), and the file's sha256."""
    try:
        with zipfile.ZipFile(path) as z:
            keys = {n.removesuffix(".npy") for n in z.namelist()}
    except (zipfile.BadZipFile, OSError) as e:
        raise CliError(f"{path}: not a readable npz file: {e}") from None
    if missing := [k for k in LAPO_KEYS if k not in keys]:
        raise CliError(f"{path}: missing key(s) {', '.join(missing)} (has {sorted(keys)})")
    try:
        headers = {k: mf.read_npz_header(path, k) for k in LAPO_KEYS}
    except DatasetError as e:
        raise CliError(str(e)) from None
    shape, dtype = headers["obs"]
    if len(shape) != 4 or shape[1:] != (LAPO_SIZE, LAPO_SIZE, 3):
        raise CliError(
            f"{path}: 'obs' has shape {shape}, expected (N, {LAPO_SIZE}, {LAPO_SIZE}, 3)"
        )
    if dtype != np.uint8:
        raise CliError(f"{path}: 'obs' has dtype {dtype}, expected uint8")
    n = shape[0]
    for key in ("ta", "done", "rewards"):
        kshape, kdtype = headers[key]
        if kshape != (n,):
            raise CliError(f"{path}: {key!r} has shape {kshape}, expected ({n},) like 'obs'")
    if headers["ta"][1].kind not in ("i", "u"):
        raise CliError(f"{path}: 'ta' has dtype {headers['ta'][1]}, expected integer actions")
    rel = path.relative_to(src).as_posix()
    return _SourceFile(path, rel, n, mf.sha256_file(path), path.stat().st_size)


def import_lapo(
    src_dir: str | os.PathLike[str],
    task: str,
    out: str | os.PathLike[str],
    split: str = "train",
    *,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
) -> VideoDataset:
    """Convert LAPO's <src_dir>/<split>/*.npz into a dataset at `out` and return it, validated.
    An interrupted import resumes: run the same command again."""
    try:
        t = get_task(task)
    except UnknownTaskError as e:
        raise CliError(str(e)) from None
    if split not in SPLITS:
        raise CliError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    src = Path(src_dir)
    games = {x.sim_id for x in tasks_of("procgen")}
    if src.name in games and src.name != t.sim_id:
        raise CliError(f"--src {src} holds procgen game {src.name!r}, but --task is {t.name!r}")
    out = Path(out)
    if (out / mf.MANIFEST).is_file():
        try:
            done = mf.load_manifest(out)["complete"]
        except DatasetError as e:
            raise CliError(f"--out {out}: {e}") from None
        if done:
            raise CliError(f"--out {out}: already holds a complete dataset; choose another folder")

    paths = _source_files(src, split)
    files = [_check_file(p, src) for p in paths]
    # Count complete episodes before writing anything: a source without one is a user error.
    dones = [int(np.load(f.path)["done"].sum()) for f in files]
    if sum(dones) == 0:
        raise CliError(f"{src / split}: no step has done=True, so no episode ends")

    source = {
        "format": "lapo",
        "split": split,
        "files": [{"file": f.rel, "sha256": f.sha256, "bytes": f.bytes} for f in files],
        "done_semantics": "done[i]: episode ended after ta[i]; terminal frame not stored",
    }
    try:
        writer = VideoDatasetWriter(
            out,
            task=t.name,
            frame_shape=(3, LAPO_SIZE, LAPO_SIZE),
            frame_stack=t.frame_stack,
            render=LAPO_RENDER,
            expert={"source": "lapo", "policy": "LAPO's PPO expert"},
            chunk_frames=chunk_frames,
            resume=True,
            source=source,
        )
    except DatasetError as e:
        raise CliError(f"--out {out}: {type(e).__name__}: {e}") from None

    skip = writer.episodes_written  # already on disk from an interrupted run
    returns: list[float] = []
    lengths: list[int] = []
    pending: list[dict[str, np.ndarray]] = []
    try:
        for f in files:
            with np.load(f.path) as z:
                data = {k: z[k] for k in LAPO_KEYS}
            ends = np.flatnonzero(data["done"])
            cur = 0
            for i in ends:
                parts = [*pending, {k: v[cur : i + 1] for k, v in data.items()}]
                ep = {k: np.concatenate([p[k] for p in parts]) for k in LAPO_KEYS}
                pending, cur = [], int(i) + 1
                returns.append(float(ep["rewards"].sum()))
                lengths.append(len(ep["obs"]))
                if len(returns) <= skip:
                    continue
                writer.add_episode(
                    ep["obs"].transpose(0, 3, 1, 2),
                    ep["ta"][:-1].astype(np.int64),
                    ep["rewards"][:-1],
                )
            if cur < len(data["obs"]):
                # Copy: a view would keep the whole source file alive until the episode ends.
                pending.append({k: v[cur:].copy() for k, v in data.items()})
            del data
        dropped = int(sum(len(p["obs"]) for p in pending))
        writer.update_provenance(
            expert={
                "episodes": len(returns),
                "mean_return": float(np.mean(returns)),
                "std_return": float(np.std(returns)),
                "mean_length_frames": float(np.mean(lengths)),
            },
            source={"dropped_episodes": int(dropped > 0), "dropped_frames": dropped},
        )
        writer.close()
    except DatasetError as e:
        raise CliError(f"{type(e).__name__}: {e}") from None
    return VideoDataset(out)


def main(args: argparse.Namespace) -> None:
    """`bcvlr import-videos --format lapo --src DIR --task T --out DATASET [--split S]`."""
    if args.format != "lapo":
        raise CliError(f"--format {args.format!r}: only 'lapo' is supported")
    ds = import_lapo(args.src, args.task, args.out, split=args.split)
    print(ds.describe())
