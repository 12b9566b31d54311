"""docs/adding-a-method.md followed alone, in a copy of the repository: its module, its record
and its config entry are all a new method needs to run under a rule of its own and appear in
the report. About a minute on 2 cores."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.workflow.helpers import BIN, REPO, env

DOC = REPO / "docs" / "adding-a-method.md"


def doc_blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The repository's tracked files, then the page's three steps with its own code."""
    dst = tmp_path_factory.mktemp("repo")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                             check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dst / name)
    subprocess.run(["git", "init", "-q"], cwd=dst, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dst, check=True)
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@localhost", "commit",
                    "-qm", "the repository as it is"], cwd=dst, check=True)  # fmt: skip
    module, record = doc_blocks("python")[:2]
    (dst / "baselines" / "my_method.py").write_text(module)
    methods = dst / "bcvlr" / "methods.py"
    text = methods.read_text()
    assert text.count("\n}\nPAPER_METHODS") == 1
    methods.write_text(text.replace("\n}\nPAPER_METHODS", f"\n{record.rstrip()}\n}}\nPAPER_METHODS"))
    entry = yaml.safe_load(doc_blocks("yaml")[0])["methods"]["my_method"]
    for optional in ("config", "suites", "resources"):  # files and machines of the reader's own
        entry.pop(optional)
    config = {"name": "my_method", "tasks": ["metaworld_reach"], "seeds": [0],
              "methods": {"my_method": entry | {"eval_episodes": 1}}}  # fmt: skip
    (dst / "config" / "my_method.yaml").write_text(yaml.safe_dump(config))
    return dst


def run(copy: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "snakemake"), "--configfile", "config/my_method.yaml",
                             "--cores", "2", *args], cwd=copy, capture_output=True, text=True,
                            env=env(PYTHONPATH=str(copy)), timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_the_page_touches_two_files_and_the_config(copy):
    status = subprocess.run(["git", "status", "--porcelain"], cwd=copy, capture_output=True,
                            text=True, check=True).stdout.split("\n")  # fmt: skip
    assert sorted(filter(None, status)) == [
        " M bcvlr/methods.py", "?? baselines/my_method.py", "?? config/my_method.yaml"]


def test_the_new_method_runs_under_its_own_rule_and_appears_in_the_report(copy):
    dry = run(copy, "-n")
    assert re.search(r"^my_method\s+1$", dry.stdout, flags=re.M), dry.stdout
    run(copy)
    info = (copy / "results/runs/my_method/metaworld_reach/seed0/run.json").read_text()
    assert '"status": "complete"' in info
    assert (copy / "logs/run/my_method/metaworld_reach/seed0.log").exists()
    table = pd.read_csv(copy / "results/report/tables/runs.csv")
    row = table[table.method == "my_method"].iloc[0]
    assert (row.task, row.label, row.seeds) == ("metaworld_reach", "My method", 1)
    assert "| metaworld_reach | My method | 200 | 1 |" in (
        copy / "results/report/tables/runs.md").read_text()
