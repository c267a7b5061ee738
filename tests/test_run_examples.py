"""End-to-end runs of the full team on every bundled example, with a small budget and the
inline executor: the run finishes, the protocol is visible in the log, the numbers are the
judge's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autods.agents.run import RunOptions, start_run
from autods.runfolder import read_json

FAST = RunOptions(n_resamples=0, track_resamples=20, finish=())


def _run(example: Path, tmp: Path, budget: int = 6, **kw: Any) -> dict[str, Any]:
    out = start_run(example, run_name="r", runs_dir=tmp, budget=budget, executor="inline", display=False,
                    options=kw.pop("options", FAST), **kw)
    return out.summary


def test_breast_cancer_team_run_finishes_within_budget(examples_dir: Path, tmp_path: Path) -> None:
    summary = _run(examples_dir / "task-breast-cancer", tmp_path)
    assert summary["exit_reason"] in ("budget", "exhausted")
    assert summary["budget_used"] <= summary["budget"] + summary["confirmations_over_budget"]
    assert summary["champion"] is not None and summary["champion"]["metric"] == "auroc"
    log = [(e["recipe_hash"], e["seed"]) for e in summary["log"]]
    assert len(log) == len(set(log)), "an experiment ran twice"
    assert read_json(tmp_path / "r" / "run_summary.json")["name"] == "r"
