"""Expert-video datasets: storage format, writer, validating reader, window sampler, importers.

See docs/dataset-format.md for the on-disk layout and the frame-stacking rule."""

from bcvlr.data.dataset import ChunkLabels, Labels, VideoDataset
from bcvlr.data.errors import (
    ChecksumError,
    CorruptChunkError,
    DatasetCompleteError,
    DatasetError,
    DatasetExistsError,
    DtypeError,
    IncompleteDatasetError,
    ManifestError,
    MissingChunkError,
    MissingVideosError,
    ProvenanceMismatchError,
    RenderMismatchError,
    ShapeError,
    TaskMismatchError,
)
from bcvlr.data.manifest import FORMAT_VERSION
from bcvlr.data.sampler import LabeledBatch, WindowIndex, WindowSampler
from bcvlr.data.stacking import stack_episode, stack_frames, stack_indices
from bcvlr.data.writer import DEFAULT_CHUNK_FRAMES, VideoDatasetWriter

__all__ = [
    "DEFAULT_CHUNK_FRAMES",
    "FORMAT_VERSION",
    "ChecksumError",
    "ChunkLabels",
    "CorruptChunkError",
    "DatasetCompleteError",
    "DatasetError",
    "DatasetExistsError",
    "DtypeError",
    "IncompleteDatasetError",
    "LabeledBatch",
    "Labels",
    "ManifestError",
    "MissingChunkError",
    "MissingVideosError",
    "ProvenanceMismatchError",
    "RenderMismatchError",
    "ShapeError",
    "TaskMismatchError",
    "VideoDataset",
    "VideoDatasetWriter",
    "WindowIndex",
    "WindowSampler",
    "stack_episode",
    "stack_frames",
    "stack_indices",
]
