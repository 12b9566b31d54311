"""Checkpoints on a full disk: the error names the disk and the file, and nothing is left."""

import errno
import io

import pytest
import torch

from bcvlr.run import checkpoint


class _FullDisk(io.BytesIO):
    """A file on a disk with ``room`` bytes left (a test double for ENOSPC)."""

    def __init__(self, room: int):
        super().__init__()
        self.room = room

    def write(self, data) -> int:
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_a_full_disk_is_named_as_such(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "atomic_write", lambda path, write: write(_FullDisk(500)))
    with pytest.raises(OSError, match="No space left on device") as caught:
        checkpoint.save_checkpoint(tmp_path / "state.pt", {"x": torch.zeros(10_000)})
    assert caught.value.errno == errno.ENOSPC and caught.value.filename.endswith("state.pt")


def test_a_checkpoint_round_trips(tmp_path):
    checkpoint.save_checkpoint(tmp_path / "c" / "state.pt", {"x": torch.arange(5)})
    assert torch.equal(checkpoint.load_checkpoint(tmp_path / "c" / "state.pt")["x"], torch.arange(5))
