"""Survival edge cases: a handful of zero follow-up times is dropped with a cohort-flow step and a
warning (the old loader refused the whole cohort); negative times, events without a time and
text times exit 2 with the count; a censored row without a time is dropped with the rows whose
endpoint is missing.

The real cohort is the Mayo free-light-chain study (sksurv ``load_flchain``: 7,874 people, three
with ``futime == 0``), the cohort issue 11 saw refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autods.cli import run
from autods.errors import DataError
from autods.tasks import load_task

SURV = "name: s\ntask_type: survival\nendpoint: {time: t, event: e}\ndata: d.csv\n"


def _task(tmp: Path, frame: pd.DataFrame, front: str = SURV, extra: dict[str, pd.DataFrame] | None = None) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    frame.to_csv(tmp / "d.csv", index=False)
    for name, f in (extra or {}).items():
        f.to_csv(tmp / name, index=False)
    (tmp / "TASK.md").write_text(f"---\n{front}---\n")
    return tmp


def _frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"t": rng.uniform(1, 10, n).round(2), "e": np.arange(n) % 2, "x": rng.normal(size=n)})


def _flchain() -> pd.DataFrame:
    from sksurv.datasets import load_flchain

    X, y = load_flchain()
    # chapter is the cause of death: recorded only for those who died (a post-outcome column)
    return X.drop(columns="chapter").assign(futime=y["futime"], death=y["death"].astype(int))


def _flow(task: object) -> dict[str, dict]:
    return {r["name"]: r for r in task.provenance if r["kind"] == "step"}  # type: ignore[attr-defined]


def test_three_zero_times_in_flchain_are_dropped_with_a_step_and_a_warning(tmp_path: Path) -> None:
    data = _flchain()
    assert len(data) == 7874 and int((data["futime"] == 0).sum()) == 3
    task = load_task(_task(tmp_path, data, "name: fl\ntask_type: survival\nendpoint: {time: futime, event: death}\n"
                                           "data: d.csv\n"))
    assert len(task.frame) == 7871 and (task.frame["futime"] > 0).all()
    step = _flow(task)["follow-up time futime > 0"]
    n_events = int(data.loc[data["futime"] == 0, "death"].sum())
    assert step["rows"] == 7871 and step["removed"] == 3
    assert step["detail"] == f"rows with zero follow-up dropped ({n_events} events, {3 - n_events} censored)"
    [warning] = task.loader_warnings
    assert warning["check"] == "survival_time" and warning["evidence"] == {"n_rows": 3, "n_events": n_events,
                                                                         "column": "futime"}
    assert warning["message"].startswith("3 row(s) of the data with follow-up time futime == 0")


def test_negative_times_exit_2_with_the_count(tmp_path: Path) -> None:
    df = _frame().assign(t=lambda f: f["t"].where(f.index % 20 != 0, -1.0))
    with pytest.raises(DataError, match=r"survival time 't' is negative in 3 row\(s\)"):
        load_task(_task(tmp_path, df))


def test_events_without_a_time_exit_2_with_the_count(tmp_path: Path) -> None:
    df = _frame()
    df.loc[[1, 3], "t"] = np.nan  # two events (odd rows are events)
    df.loc[[2], "t"] = np.nan  # one censored row: dropped, not counted
    with pytest.raises(DataError, match=r"^2 event\(s\) in 'e' have no time in 't'"):
        load_task(_task(tmp_path, df))


def test_a_censored_row_without_a_time_is_dropped_as_endpoint_missing(tmp_path: Path) -> None:
    df = _frame()
    df.loc[[2, 4], "t"] = np.nan
    task = load_task(_task(tmp_path, df))
    step = _flow(task)["endpoint recorded"]
    assert step["removed"] == 2 and len(task.frame) == 58
    assert "a censored row without a follow-up time adds nothing to any risk set" in step["detail"]


def test_text_times_exit_2_with_the_count(tmp_path: Path) -> None:
    df = _frame().astype({"t": object})
    df.loc[[0, 5], "t"] = "unknown"
    with pytest.raises(DataError, match=r"has 2 non-numeric value\(s\)"):
        load_task(_task(tmp_path, df))


def test_zero_times_leaving_no_events_are_refused(tmp_path: Path) -> None:
    df = _frame().assign(t=lambda f: f["t"].where(f["e"] == 0, 0.0))
    with pytest.raises(DataError, match="leaving no events"):
        load_task(_task(tmp_path, df))


def test_external_zero_times_are_dropped_too(tmp_path: Path) -> None:
    ext = _frame(40, seed=1)
    ext.loc[[0, 1], "t"] = 0.0
    task = load_task(_task(tmp_path, _frame(), SURV + "external: ext.csv\n", {"ext.csv": ext}))
    assert task.external is not None and len(task.external) == 38
    assert _flow(task)["external: follow-up time t > 0"]["removed"] == 2
    assert [w["name"] for w in task.loader_warnings] == ["external: survival_time"]


def test_cli_negative_times_exit_2_one_line_and_resume_refuses_the_same_way(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = _frame().assign(t=lambda f: f["t"].where(f.index % 30 != 0, -1.0))
    task = _task(tmp_path / "task", df)
    before = sorted(p.name for p in task.iterdir())
    runs = tmp_path / "runs"
    assert run(["run", str(task), "--budget", "2", "--runs-dir", str(runs), "--run-name", "neg", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "survival time 't' is negative in 2 row(s)" in err and "Fix:" in err
    assert sorted(p.name for p in task.iterdir()) == before
    if (runs / "neg").exists():  # whatever the run folder holds, resume must refuse the same input the same way
        assert run(["resume", str(runs / "neg"), "--quiet"]) == 2
        again = capsys.readouterr().err.strip()
        assert len(again.splitlines()) == 1 and "negative in 2 row(s)" in again
        # the run folder says the input was refused (it said "running" before)
        assert json.loads((runs / "neg" / "run.json").read_text())["status"] == "refused"
        assert run(["status", str(runs / "neg")]) == 0 and "refused" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_runs_flchain_with_its_three_zero_times(tmp_path: Path) -> None:
    # the three zero-time rows plus 997 others drawn with a fixed seed: the whole cohort takes
    # minutes per experiment, and the loader's handling does not depend on the cohort's size
    data = _flchain()
    zero = data["futime"] == 0
    rows = data[zero | data.index.isin(data[~zero].sample(997, random_state=0).index)]
    task = _task(tmp_path / "task", rows, "name: fl\ntask_type: survival\n"
                 "endpoint: {time: futime, event: death}\ndata: d.csv\n")
    code = run(["run", str(task), "--budget", "2", "--runs-dir", str(tmp_path / "runs"), "--run-name", "fl", "--quiet"])
    assert code == 0
    fs = json.loads((tmp_path / "runs" / "fl" / "fact_sheet.json").read_text())
    flow = {s["step"]: s for s in fs["cohort_flow"]}
    assert flow["read d.csv"]["n_rows"] == 1000 and flow["follow-up time futime > 0"]["n_rows"] == 997
    assert flow["follow-up time futime > 0"]["note"].startswith("3 removed")
    assert fs["data"]["n_rows"] == 997
    [warning] = [f for f in fs["guardrails"]["findings"] if f["check"] == "survival_time"]
    assert warning["severity"] == "warning" and warning["message"].startswith("3 row(s) of the data with follow-up time")
    # age and the free light chains predict death well in this cohort (Dispenzieri 2012: C about 0.8)
    assert 0.72 <= fs["champion"]["cv"]["value"] <= 0.86
