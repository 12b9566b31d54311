"""Atomic file writes: a reader (or a process restarted after a kill) sees the old file or the
new one, never a torn one. Used for results, manifests, chunks and checkpoints alike."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

TMP_SUFFIX = ".tmp"


def _default_mode() -> int:
    # mkstemp creates 0600 files; results are meant to be read by others, as open() would allow.
    # Read once at import: os.umask can only be read by setting it, which races with threads.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _default_mode()


def fsync_dir(path: Path) -> None:
    # Without this a rename can be lost on power failure even though the file data was synced;
    # not every filesystem allows opening a directory.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> None:
    """Write through a temporary file in the same folder (``.<name>.<random>.tmp``), fsync it,
    then rename it over ``path``. ``write`` receives the open binary file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def remove_stale_tmp(folder: Path, name: str) -> None:
    """Temp files a kill left behind while ``name`` was being written."""
    for stale in folder.glob(f".{name}.*{TMP_SUFFIX}"):
        stale.unlink(missing_ok=True)
