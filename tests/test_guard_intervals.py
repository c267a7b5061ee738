"""Survival rows in counting-process form: the interval's entry time is excluded, with the reason
and what to give instead; follow-up-bounded quantities that are not entry times stay in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autods.guard.govern import govern
from autods.guard.leakage import audit_leakage
from guard_data import make_task

STANFORD = {"time": "stop", "event": "event"}


def _stanford() -> pd.DataFrame:
    from lifelines.datasets import load_stanford_heart_transplants

    return load_stanford_heart_transplants()


def _interval(findings: list) -> list:  # type: ignore[type-arg]
    return [f for f in findings if f.check == "interval_start"]


def test_stanford_start_is_an_entry_time_and_is_excluded() -> None:
    task = make_task(_stanford(), STANFORD, "survival")
    found = _interval(audit_leakage(task))
    assert [f.feature for f in found] == ["start"] and found[0].blocking
    assert found[0].evidence["chain_share"] == 1.0 and found[0].evidence["unit"] == "id"
    assert "one row per patient" in found[0].advice
    governed = govern(task)
    assert "start" in governed.excluded_features and "start" not in governed.feature_columns(task)
    assert {"age", "year", "surgery", "transplant"} <= set(governed.feature_columns(task))


def test_one_row_per_patient_and_follow_up_bounded_quantities_are_not_entry_times() -> None:
    # collapsed to one row per patient (what the advice asks for): nothing to flag
    rows = _stanford().groupby("id").agg(stop=("stop", "max"), event=("event", "max"), age=("age", "first"),
                                          surgery=("surgery", "first")).reset_index(drop=True)
    assert _interval(audit_leakage(make_task(rows, STANFORD, "survival"))) == []
    # WHAS500: length of stay never exceeds follow-up, yet it is a covariate, not an entry time (no unit
    # id to chain, and its header is not an entry time's)
    from sksurv.datasets import load_whas500

    x, y = load_whas500()
    whas = x.assign(lenfol=y["lenfol"], fstat=y["fstat"].astype(int))
    assert (whas["los"] <= whas["lenfol"]).all()
    assert _interval(audit_leakage(make_task(whas, {"time": "lenfol", "event": "fstat"}, "survival"))) == []


def test_without_a_unit_id_the_header_decides() -> None:
    rng = np.random.default_rng(0)
    stop = rng.uniform(10, 100, 200)
    entry = stop * rng.uniform(0, 0.5, 200) * (rng.uniform(size=200) < 0.3)
    frame = pd.DataFrame({"tstart": entry, "los": entry, "stop": stop, "event": rng.integers(0, 2, 200),
                          "age": rng.normal(60, 10, 200)})
    found = _interval(audit_leakage(make_task(frame, STANFORD, "survival")))
    assert [f.feature for f in found] == ["tstart"] and "header reads as an entry time" in found[0].message
    late = frame.assign(tstart=frame["stop"] + 1)  # after the follow-up ended: not an entry time
    assert _interval(audit_leakage(make_task(late, STANFORD, "survival"))) == []


@pytest.mark.slow
def test_cli_run_on_stanford_leaves_the_entry_time_out(tmp_path: Path) -> None:
    from autods.cli import run

    task = tmp_path / "task"
    (task / "data").mkdir(parents=True)
    _stanford().to_csv(task / "data" / "stanford.csv", index=False)
    (task / "TASK.md").write_text("---\nname: stanford\ntask_type: survival\nendpoint: {time: stop, event: event}\n"
                                  "data: data/stanford.csv\n---\n# Stanford heart transplants\n")
    assert run(["run", str(task), "--budget", "3", "--runs-dir", str(tmp_path / "runs"), "--run-name", "s"]) == 0
    sheet = json.loads((tmp_path / "runs" / "s" / "fact_sheet.json").read_text())
    excluded = {e["name"]: e["reason"] for e in sheet["guardrails"]["excluded_features"]}
    assert excluded["start"].startswith("counting-process entry time") and "id" in excluded
    assert sheet["champion"]["inputs"] and "start" not in sheet["champion"]["inputs"]
    assert "age" in sheet["champion"]["inputs"]
