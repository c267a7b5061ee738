"""End-to-end runs of the full team on the bundled examples not covered elsewhere (the
readmission cohort has its own traced run in ``test_run_team.py``), with a small budget and
the inline executor: the run finishes, a champion is confirmed, nothing runs twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from threadpoolctl import threadpool_limits

from autods.agents.run import RunOptions, start_run

FAST = RunOptions(n_resamples=0, track_resamples=20, floor_seeds=2, finish=())


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with threadpool_limits(1):
        yield


def _run(example: Path, tmp: Path, budget: int, options: RunOptions = FAST) -> dict[str, Any]:
    return start_run(example, run_name="r", runs_dir=tmp, budget=budget, executor="inline", display=False,
                     options=options).summary


def _common(summary: dict[str, Any], metric: str) -> None:
    assert summary["exit_reason"] in ("budget", "exhausted"), summary["exit_reason"]
    assert summary["budget_used"] <= summary["budget"] + summary["confirmations_over_budget"]
    assert summary["champion"] is not None and summary["champion"]["metric"] == metric
    log = [(e["recipe_hash"], e["seed"]) for e in summary["log"]]
    assert len(log) == len(set(log)), "an experiment ran twice"


def test_breast_cancer(examples_dir: Path, tmp_path: Path) -> None:
    summary = _run(examples_dir / "task-breast-cancer", tmp_path, budget=6)
    _common(summary, "auroc")
    assert len({e["family"] for e in summary["log"]}) >= 2  # the team explored beyond the baseline


@pytest.mark.slow
def test_gbsg2_survival(examples_dir: Path, tmp_path: Path) -> None:
    summary = _run(examples_dir / "task-gbsg2-survival", tmp_path, budget=5)
    _common(summary, "c_index")
    assert summary["noise_floor"]["baseline"]["default"]["value"] > 0.6  # Cox on GBSG2


@pytest.mark.slow
def test_wearable_biomarkers_runs_the_biomarker_track(examples_dir: Path, tmp_path: Path) -> None:
    opts = RunOptions(n_resamples=0, track_resamples=200, floor_seeds=2, finish=("biomarkers",))
    summary = _run(examples_dir / "task-wearable-biomarkers", tmp_path, budget=3, options=opts)
    _common(summary, "r2")
    doc = json.loads((tmp_path / "r" / "biomarkers.json").read_text())
    labels = {c["feature"]: c["label"] for c in doc["candidates"]}
    assert labels.get("steps__mean") == "screened"  # a planted true association
    tracks = [json.loads(line) for line in (tmp_path / "r" / "audit.jsonl").read_text().splitlines()
              if '"type": "track"' in line]
    assert [t["job_id"] for t in tracks] == ["track:biomarkers"] and tracks[0]["ok"]


@pytest.mark.slow
def test_cli_run_with_the_local_executor_writes_the_report(examples_dir: Path, tmp_path: Path) -> None:
    from autods.cli import run as cli

    code = cli(["run", str(examples_dir / "task-breast-cancer"), "--runs-dir", str(tmp_path), "--run-name", "l",
                "--budget", "5", "--executor", "local", "--workers", "2", "--quiet"])
    assert code == 0
    root = tmp_path / "l"
    summary = json.loads((root / "run_summary.json").read_text())
    _common(summary, "auroc")
    # the default logistic fit does not depend on the seed: two equal seeds, no third (requests PE1)
    floor = summary["noise_floor"]
    assert floor["n_seeds"] == 2 and floor["sd_seeds"] == 0.0 and "1 more seed of the 3 planned was not run" in floor["rule"]
    assert [e["seed"] for e in summary["log"] if e["recipe_hash"] == floor["recipe_hash"]][:2] == [0, 1]
    for name in ("validation.json", "fact_sheet.json", "report.html"):
        assert (root / name).is_file(), name


@pytest.mark.ray
def test_a_run_on_ray(examples_dir: Path, tmp_path: Path) -> None:
    out = start_run(examples_dir / "task-breast-cancer", run_name="ray", runs_dir=tmp_path, budget=5,
                    executor="ray", workers=2, display=False, options=FAST)
    _common(out.summary, "auroc")
