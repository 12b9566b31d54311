"""How long Snakemake takes to plan each shipped workflow config (a dry run: parsing, config
checks and the DAG), and to refuse a config with a typo.

    python -m benchmarks.workflow [--repeats 3]

Prints the median seconds per config and its job count. Nothing is run or written outside a
temporary folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = ["config/config.yaml", "config/test.yaml", "config/test_baselines.yaml",
           "config/paper.yaml"]  # fmt: skip


def dry_run(config: str, workdir: Path) -> tuple[float, int | None, int]:
    """(seconds, planned jobs, return code) of one `snakemake -n` of ``config``."""
    cmd = [str(Path(sys.executable).parent / "snakemake"), "-s", str(REPO / "Snakefile"),
           "-d", str(workdir), "-n", "--configfile", config]  # fmt: skip
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    total = next((int(line.split()[1]) for line in r.stdout.splitlines()
                  if line.startswith("total ") and line.split()[1].isdigit()), None)  # fmt: skip
    return seconds, total, r.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"# {platform.node()} {platform.machine()} {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}, load {os.getloadavg()[0]:.1f}, "
          f"median of {args.repeats}")  # fmt: skip
    print(f"{'config':32s} {'seconds':>8s} {'jobs':>6s}")
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "typo.yaml"
        text = (REPO / "config/test.yaml").read_text()
        bad.write_text(text.replace("    budget: 200\n", "    budgett: 200\n", 1))
        for config in [*CONFIGS, str(bad)]:
            runs = [dry_run(config, Path(tmp) / "wd") for _ in range(args.repeats)]
            seconds = statistics.median(r[0] for r in runs)
            jobs = runs[0][1] if runs[0][2] == 0 else f"rc {runs[0][2]}"
            name = "a typo in config/test.yaml" if config == str(bad) else config
            print(f"{name:32s} {seconds:8.1f} {jobs!s:>6s}")


if __name__ == "__main__":
    main()
