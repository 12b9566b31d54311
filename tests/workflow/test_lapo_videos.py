"""`videos.lapo_data`: the Procgen videos come from LAPO's data through the workflow, and no
Procgen expert is trained."""

import json

import yaml

from bcvlr.data import VideoDataset
from tests.data.test_video_lapo import make_lapo
from tests.workflow.helpers import job_counts, snakemake


def _config(tmp_path, lapo_data):
    cfg = {
        "name": "lapo-import",
        "tasks": ["coinrun", "metaworld_reach"],
        "seeds": [0],
        "videos": {"steps": 50, "lapo_data": str(lapo_data)},
        "methods": {"bcvlr": {"config": "config/bcvlr/tiny.yaml", "budget": 200}},
        "report": {"reps": 10, "figures": False},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_lapo_data_replaces_the_procgen_expert(tmp_path):
    lapo = tmp_path / "expert_data"
    make_lapo(lapo, game="coinrun")
    config = _config(tmp_path, lapo)
    work = tmp_path / "work"
    counts = job_counts(snakemake(work, "-n", "--configfile", str(config)).stdout)
    # coinrun's videos are imported; metaworld_reach keeps its scripted expert
    assert counts["videos_lapo"] == 1 and counts["videos"] == 1
    assert counts["expert_scripted"] == 1 and "expert" not in counts

    snakemake(work, "--configfile", str(config), "--cores", "1", "results/done/videos/coinrun.json")
    ds = VideoDataset(work / "data/videos/coinrun")
    assert ds.task.name == "coinrun" and ds.manifest["source"]["format"] == "lapo"
    marker = json.loads((work / "results/done/videos/coinrun.json").read_text())
    assert marker  # the job wrapper's summary of a complete product


def test_a_missing_game_folder_fails_before_any_job(tmp_path):
    lapo = tmp_path / "expert_data"
    lapo.mkdir()
    r = snakemake(tmp_path / "work", "-n", "--configfile", str(_config(tmp_path, lapo)),
                  check=False)  # fmt: skip
    assert r.returncode != 0
    assert "videos.lapo_data: no folder" in r.stdout + r.stderr and "coinrun" in r.stdout + r.stderr
