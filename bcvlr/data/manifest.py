"""manifest.json: the dataset's provenance and its table of chunks.

The manifest is the single source of truth: a chunk file that it does not list does not exist for
readers (it is the debris of an interrupted write, removed when a writer resumes)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import platform
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from bcvlr.atomic import TMP_SUFFIX as TMP_SUFFIX  # re-exported: the writer's debris sweep
from bcvlr.atomic import atomic_write
from bcvlr.data.errors import ChecksumError, CorruptChunkError, ManifestError, MissingChunkError

FORMAT_NAME = "bcvlr-video-dataset"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CHUNK_DIR = "chunks"
LABEL_DIR = "labels"

FRAMES_KEY = "frames"
# np.savez_compressed = zip deflate at zlib level 6: numpy-only, self-describing (dtype, shape),
# decompresses at 0.3-2.7 GB/s on Procgen frames (docs/dataset-format.md has the measurements).
COMPRESSION = {"codec": "npz-deflate", "writer": "numpy.savez_compressed", "level": 6}


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def writer_versions() -> dict[str, str]:
    import bcvlr

    return {
        "bcvlr": bcvlr.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def canonical(obj: Any, what: str) -> Any:
    """The JSON form of obj (tuples become lists, keys strings), so that equality checks made
    before and after a round trip through manifest.json agree."""
    try:
        return json.loads(json.dumps(obj, sort_keys=True))
    except (TypeError, ValueError) as e:
        raise ManifestError(f"{what} must be JSON-serialisable: {e}") from None


def chunk_name(index: int) -> str:
    return f"{index:06d}.npz"


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(block):
            h.update(data)
    return h.hexdigest()


def atomic_write_bytes(path: Path, write) -> None:
    """Write a chunk, label file or manifest atomically (see bcvlr.atomic)."""
    atomic_write(path, write)


def save_manifest(root: Path, manifest: dict) -> None:
    text = json.dumps(manifest, indent=1) + "\n"
    atomic_write_bytes(root / MANIFEST, lambda f: f.write(text.encode()))


_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "version": int,
    "task": str,
    "suite": str,
    "frame_shape": list,
    "frame_dtype": str,
    "frame_stack": int,
    "render": dict,
    "expert": dict,
    "compression": dict,
    "counts": dict,
    "chunks": list,
    "has_actions": bool,
    "has_rewards": bool,
    "complete": bool,
    "created": str,
    "writer": dict,
}
_CHUNK_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "file": str,
    "episodes": int,
    "frames": int,
    "episode_lengths": list,
    "sha256": str,
}


def load_manifest(root: Path) -> dict:
    """Parse and structurally check manifest.json; raises ManifestError naming the field."""
    path = root / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{path}: missing (not a bcvlr video dataset, or never written)")
    try:
        m = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"{path}: unparseable: {e}") from None
    if not isinstance(m, dict):
        raise ManifestError(f"{path}: expected a JSON object, got {type(m).__name__}")
    if m.get("format") != FORMAT_NAME:
        raise ManifestError(f"{path}: field 'format' is {m.get('format')!r}, not {FORMAT_NAME!r}")
    if m.get("version") != FORMAT_VERSION:
        raise ManifestError(
            f"{path}: field 'version' is {m.get('version')!r}; this reader knows version "
            f"{FORMAT_VERSION}"
        )
    for key, typ in _REQUIRED.items():
        if key not in m:
            raise ManifestError(f"{path}: field {key!r} missing")
        # bool is an int subclass: a JSON true must not pass for a count
        if not isinstance(m[key], typ) or (typ is int and isinstance(m[key], bool)):
            raise ManifestError(f"{path}: field {key!r} has type {type(m[key]).__name__}")
    shape = m["frame_shape"]
    if len(shape) != 3 or not all(isinstance(x, int) and x > 0 for x in shape):
        raise ManifestError(f"{path}: field 'frame_shape' must be [C, H, W], got {shape}")
    if m["frame_dtype"] != "uint8":
        raise ManifestError(f"{path}: field 'frame_dtype' is {m['frame_dtype']!r}, not 'uint8'")
    if m["frame_stack"] < 1:
        raise ManifestError(f"{path}: field 'frame_stack' must be >= 1")
    for i, c in enumerate(m["chunks"]):
        if not isinstance(c, dict):
            raise ManifestError(f"{path}: field 'chunks[{i}]' is not an object")
        for key, typ in _CHUNK_REQUIRED.items():
            if not isinstance(c.get(key), typ):
                raise ManifestError(f"{path}: field 'chunks[{i}].{key}' missing or mistyped")
        lengths = c["episode_lengths"]
        if len(lengths) != c["episodes"] or sum(lengths) != c["frames"] or min(lengths) < 1:
            raise ManifestError(
                f"{path}: field 'chunks[{i}]' ({c['file']}): episode_lengths disagree with "
                f"episodes={c['episodes']}, frames={c['frames']}"
            )
    counts = m["counts"]
    sums = {
        "episodes": sum(c["episodes"] for c in m["chunks"]),
        "frames": sum(c["frames"] for c in m["chunks"]),
    }
    sums["transitions"] = sums["frames"] - sums["episodes"]
    for key, value in sums.items():
        if counts.get(key) != value:
            raise ManifestError(
                f"{path}: field 'counts.{key}' is {counts.get(key)!r} but the chunks hold {value}"
            )
    return m


def read_npz_header(path: Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one array of an npz archive, decompressing only its header."""
    try:
        with zipfile.ZipFile(path) as z, z.open(key + ".npy") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except FileNotFoundError:
        raise MissingChunkError(f"{path}: missing") from None
    except KeyError:
        raise CorruptChunkError(f"{path}: no array {key!r} in the archive") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise CorruptChunkError(f"{path}: unreadable npz archive: {e}") from None
    return tuple(shape), np.dtype(dtype)


def load_npz(path: Path, keys: tuple[str, ...], sha256: str | None = None) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an npz file; with ``sha256``, only if the file's bytes have it
    (a chunk swapped for another's, or with flipped bytes, is named and never trained on)."""
    try:
        data = path.read_bytes()
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise ChecksumError(f"{path}: sha256 differs from the one in {MANIFEST}")
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in keys}
    except FileNotFoundError:
        raise MissingChunkError(f"{path}: missing") from None
    except KeyError as e:
        raise CorruptChunkError(f"{path}: no array {e} in the archive") from None
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError) as e:
        raise CorruptChunkError(f"{path}: unreadable npz archive: {e}") from None
