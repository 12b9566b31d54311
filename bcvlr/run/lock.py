"""One writer per run or stage folder.

Two processes resuming the same folder (a job retried while the first still runs, a command
rerun by hand beside a workflow) would interleave their checkpoints and metrics rows. Each
writer therefore holds an exclusive ``flock`` on ``<folder>/.lock`` while it runs. The kernel
drops the lock when the process ends, however it ends, so a killed run never leaves a stale one.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import warnings
from pathlib import Path
from typing import TextIO

from bcvlr.errors import UserError

LOCK_FILE = ".lock"


class FolderInUseError(UserError, RuntimeError):
    """Another live process is writing this run or stage folder."""


def hold_folder(folder: str | os.PathLike, what: str,
                held: TextIO | None = None) -> TextIO | None:  # fmt: skip
    """Lock ``folder`` for this process; close the returned handle to release it. Returns None
    (with a warning) on filesystems that do not support locks. ``held``, the handle of an
    earlier call by the same writer, is returned as it is while still open: a writer that
    starts twice keeps its own lock instead of refusing itself."""
    if held is not None and not held.closed:
        return held
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK_FILE, "a+")  # noqa: SIM115 (held open for the writer's lifetime)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise FolderInUseError(
            f"{what} {folder} is being written by {holder}; wait for it to end or stop it "
            "before running it again"
        ) from None
    except OSError as exc:
        handle.close()
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            warnings.warn(f"cannot lock {folder} ({exc.strerror}): nothing stops a second "
                          "writer", stacklevel=2)  # fmt: skip
            return None
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    return handle


def release(handle: TextIO | None) -> None:
    if handle is not None and not handle.closed:
        handle.close()
