"""Nothing partial left: every file the suite's commands produce is written through
bcvlr.atomic (a temporary file, fsync, rename), so a kill never leaves half a file behind. The
scan flags a write to a path anywhere else in bcvlr/ and baselines/; writes into an open file
object (what atomic_write hands over) pass."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the atomic helpers themselves; the env demo's throw-away output
ALLOWED = {"bcvlr/atomic.py", "bcvlr/envs/demo.py"}
# appends by design: metrics.csv (rows fsynced one by one, truncated to the checkpoint on a
# resume: bcvlr/results/metrics.py) and the lock file (bcvlr/run/lock.py)
APPENDS = {"bcvlr/results/metrics.py", "bcvlr/run/lock.py"}
FILE_NAMES = {"f", "kept"}  # what atomic_write's callbacks call their open file
PATH_WRITERS = {"write_text", "write_bytes", "savefig", "to_csv", "to_parquet"}
FILE_WRITERS = {("torch", "save"): 1, ("np", "save"): 0, ("np", "savez"): 0,
                ("np", "savez_compressed"): 0}  # (module, function): argument index of the file


def _is_file_object(node: ast.expr | None) -> bool:
    """The open file atomic_write hands its callback, or no target at all (a string back)."""
    return node is None or (isinstance(node, ast.Name) and node.id in FILE_NAMES)


def raw_writes() -> list[str]:
    found = []
    for package in ("bcvlr", "baselines"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if rel in ALLOWED:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                if isinstance(node.func, ast.Name) and node.func.id == "open":
                    mode = node.args[1] if len(node.args) > 1 else None
                    appends = rel in APPENDS and isinstance(mode, ast.Constant) and "a" in mode.value
                    if isinstance(mode, ast.Constant) and set(str(mode.value)) & set("wax") \
                            and not appends:
                        found.append(f"{rel}:{node.lineno} open(..., {mode.value!r})")
                    continue
                if not isinstance(node.func, ast.Attribute):
                    continue
                name, owner = node.func.attr, node.func.value
                if name in PATH_WRITERS:
                    target = node.args[0] if node.args else None
                    if name in ("write_text", "write_bytes") or not _is_file_object(target):
                        found.append(f"{rel}:{node.lineno} .{name}(...)")
                elif isinstance(owner, ast.Name) and (owner.id, name) in FILE_WRITERS:
                    i = FILE_WRITERS[(owner.id, name)]
                    target = node.args[i] if len(node.args) > i else None
                    if not _is_file_object(target):
                        found.append(f"{rel}:{node.lineno} {owner.id}.{name}(...)")
    return found


def test_every_product_is_written_atomically():
    assert raw_writes() == []
