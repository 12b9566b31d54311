"""Dataset faults. Each fault has its own class so that callers (and tests) can tell them apart;
every message names the file or manifest field at fault."""

from __future__ import annotations

from bcvlr.errors import UserError


class DatasetError(UserError):
    """Base class of every expert-video dataset fault."""


class ManifestError(DatasetError):
    """manifest.json is missing, unparseable, of another format version, or inconsistent."""


class ProvenanceMismatchError(ManifestError):
    """A resumed writer was given expert/source provenance that contradicts the manifest."""


class IncompleteDatasetError(DatasetError):
    """The writer never called close(): the dataset may be missing its last episodes."""


class DatasetExistsError(DatasetError):
    """A writer was pointed at a folder that already holds data it must not overwrite."""


class DatasetCompleteError(DatasetExistsError):
    """A writer was asked to resume a dataset that is already complete."""


class MissingChunkError(DatasetError):
    """A chunk (or label) file listed in the manifest is absent."""


class ShapeError(DatasetError):
    """An array has the wrong shape (frames, actions, rewards or a chunk on disk)."""


class DtypeError(DatasetError):
    """An array has the wrong dtype (frames must be uint8)."""


class ChecksumError(DatasetError):
    """A file's sha256 differs from the one recorded in the manifest (deep validation)."""


class CorruptChunkError(ChecksumError):
    """A chunk file cannot be read as an npz archive (truncated or overwritten)."""


class TaskMismatchError(DatasetError):
    """The dataset was written for another task than the one asked for."""


class MissingVideosError(DatasetError, ValueError):
    """A video-imitation method was given no expert videos."""


class RenderMismatchError(DatasetError):
    """The dataset's render settings differ from the ones asked for."""
