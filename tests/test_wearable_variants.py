"""The wearable-biomarker example on the default path (``autods run``, default executor, tiny budget),
as shipped (one long Parquet file) and as two CSV files a user would more likely have: one row
per participant (age, sex, labs, the endpoint) and one row per participant-day.

The two-file run must join them one-to-many and then build the same per-unit features, so it
gives the same screened candidates and the same champion metric as the single file. On the old
loader the two files were stacked: 58,000 rows, the endpoint missing on 56,000, no biomarker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from autods.cli import run

pytestmark = pytest.mark.slow  # each run is 70-90 s on two shared cores

UNIT_COLUMNS = ["participant_id", "age", "sex", "lab_crp", "lab_tsh", "lab_glucose", "lab_il6", "lab_il6_sq", "phq_score"]
PLANTED = {"steps__mean", "sleep_duration__sd", "sleep_onset__mean", "night_phone__mean", "lab_crp"}


def _cli_run(task: Path, runs: Path, name: str) -> dict[str, Any]:
    code = run(["run", str(task), "--budget", "2", "--runs-dir", str(runs), "--run-name", name, "--quiet"])
    assert code == 0
    root = runs / name
    return {"fact_sheet": json.loads((root / "fact_sheet.json").read_text()),
            "biomarkers": json.loads((root / "biomarkers.json").read_text())}


def _two_file_task(example: Path, out: Path) -> Path:
    out.mkdir(parents=True)
    long = pd.read_parquet(example / "data" / "wearable_long.parquet")
    units = long.groupby("participant_id", sort=False)[UNIT_COLUMNS[1:]].first().reset_index()
    units.to_csv(out / "participants.csv", index=False)
    long.drop(columns=UNIT_COLUMNS[1:]).to_csv(out / "daily.csv", index=False, date_format="%Y-%m-%d")
    task_md = (example / "TASK.md").read_text()
    assert "data: data/wearable_long.parquet" in task_md
    (out / "TASK.md").write_text(task_md.replace("data: data/wearable_long.parquet", "data: [participants.csv, daily.csv]"))
    (out / "LAUNCH.md").write_text((example / "LAUNCH.md").read_text())
    return out


@pytest.fixture(scope="module")
def single(examples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _cli_run(examples_dir / "task-wearable-biomarkers", tmp_path_factory.mktemp("runs"), "single")


def _screened(out: dict[str, Any]) -> set[str]:
    return {c["feature"] for c in out["biomarkers"]["candidates"] if c["label"] == "screened"}


def test_single_file_wearable_on_the_default_path(single: dict[str, Any]) -> None:
    fs = single["fact_sheet"]
    assert fs["data"]["n_rows"] == 56000 and fs["data"]["n_units"] == 2000
    assert fs["guardrails"]["cv"]["group_column"] == "participant_id"
    assert PLANTED - {"sleep_duration__sd"} <= _screened(single)  # the planted signals (README ground truth)
    assert not {f for f in _screened(single) if f.startswith(("skin_temp", "ambient_noise"))}  # planted nulls
    assert 0.18 <= fs["champion"]["cv"]["value"] <= 0.32  # ridge on the unit-level aggregates, budget 2


def test_two_file_wearable_joins_and_matches_the_single_file(
        single: dict[str, Any], examples_dir: Path, tmp_path: Path) -> None:
    task = _two_file_task(examples_dir / "task-wearable-biomarkers", tmp_path / "task")
    two = _cli_run(task, tmp_path / "runs", "two")
    fs = two["fact_sheet"]
    flow = {s["step"]: s for s in fs["cohort_flow"]}
    assert flow["read participants.csv"]["n_rows"] == 2000 and flow["read daily.csv"]["n_rows"] == 56000
    join = flow["join participants.csv to daily.csv on participant_id"]
    assert join["n_rows"] == 56000 and join["n_units"] == 2000
    assert "0 daily.csv rows have no participants.csv row" in join["note"]
    assert fs["data"]["n_rows"] == 56000 and fs["data"]["n_units"] == 2000
    # the track runs on the development units (400 of the 2,000 are locked away as the held-out test)
    assert (two["biomarkers"]["n_units"], two["biomarkers"]["n_rows"]) == (1600, 44800)
    assert (single["biomarkers"]["n_units"], single["biomarkers"]["n_rows"]) == (1600, 44800)
    assert _screened(two) == _screened(single)
    one, other = single["fact_sheet"]["champion"], fs["champion"]
    assert other["model"] == one["model"]
    assert other["cv"]["value"] == pytest.approx(one["cv"]["value"], abs=0.005)
