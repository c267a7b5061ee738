"""The executed ValidationPlan: a detected-but-undeclared unit groups every path, a declared
row-level CV over repeated units is refused, and a continuous target is never read as classes.

Real cohorts: lifelines' ``recur`` (1,296 recurrent-event rows of 400 patients, ``ID`` not
declared) and scikit-learn's diabetes (integer-valued continuous target, 214 distinct values).
Not covered here: the full ``autods run`` path, which the gauntlet exercises.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autods.cli import run
from autods.judge.splits import quantile_bins, strata
from autods.runners import evaluate


def _task(root: Path, frame: pd.DataFrame, front: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / "data.csv", index=False)
    (root / "TASK.md").write_text(f"---\n{front}\ndata: data.csv\n---\nA test task.\n")
    return root


@pytest.fixture(scope="module")
def recur() -> pd.DataFrame:
    from lifelines.datasets import load_recur

    # binary endpoint: the row's interval ended in a recurrence (CENSOR=1); patients repeat under ID
    return load_recur().drop(columns=["EVENT"])


def _no_unit_on_both_sides(units: np.ndarray, left: np.ndarray, right: np.ndarray) -> bool:
    return not set(units[left]) & set(units[right])


def test_detected_unit_groups_folds_and_holdout_in_evaluate(tmp_path: Path, recur: pd.DataFrame) -> None:
    task = _task(tmp_path / "t", recur, "name: recur\ntask_type: binary\nendpoint: CENSOR")
    record = evaluate(task, {"family": "logistic"}, n_resamples=50)
    assert record.cv.strategy == "patient-grouped-cv" and record.cv.group_column == "ID"
    units = recur["ID"].to_numpy()
    rows, folds = np.asarray(record.oof.row), np.asarray(record.oof.fold)
    for k in np.unique(folds):
        assert _no_unit_on_both_sides(units, rows[folds == k], rows[folds != k])
    holdout = np.setdiff1d(np.arange(len(recur)), rows)
    assert record.n_holdout == len(holdout) > 0
    assert _no_unit_on_both_sides(units, rows, holdout)
    assert record.n_units == len(np.unique(units[rows]))
    assert "ID" in dict(record.excluded)  # the unit groups the folds and is never a feature


def test_detected_unit_is_never_a_feature(tmp_path: Path, recur: pd.DataFrame) -> None:
    from autods.guard.govern import govern
    from autods.judge.plan import planned_task
    from autods.tasks import load_task

    task = load_task(_task(tmp_path / "t", recur, "name: recur\ntask_type: binary\nendpoint: CENSOR"))
    gov = govern(task)
    assert gov.profile.unit_id == "ID"
    planned = planned_task(task, gov.profile.unit_id)
    assert planned.spec.id_column == "ID" and "ID" not in planned.feature_columns()
    assert task.spec.id_column is None  # the user's spec object is not mutated


def test_run_path_rebuilds_the_detected_unit(tmp_path: Path, recur: pd.DataFrame) -> None:
    from autods.execution.analytic import load_analytic, prepare_analytic
    from autods.runfolder import RunConfig, RunFolder

    task_dir = _task(tmp_path / "t", recur, "name: recur\ntask_type: binary\nendpoint: CENSOR")
    folder = RunFolder(tmp_path / "runs" / "r")
    folder.root.mkdir(parents=True)
    folder.save_config(RunConfig(name="r", task_dir=str(task_dir)))
    folder.copy_task_spec(task_dir)
    analytic, design, _ = prepare_analytic(task_dir, folder, salt="s")
    assert design.plan["unit_source"] == "detected" and design.plan["unit_column"] == "ID"
    assert design.plan["holdout_kind"] == "unit-grouped" and design.cv_strategy == "patient-grouped-cv"
    assert analytic.task.spec.id_column == "ID"
    again = load_analytic(folder)
    assert again.task.spec.id_column == "ID"


def test_declared_row_cv_over_repeated_units_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      recur: pd.DataFrame) -> None:
    task = _task(tmp_path / "t", recur, "name: recur\ntask_type: binary\nendpoint: CENSOR\nvalidation: stratified-cv")
    before = sorted(p.name for p in task.iterdir())
    assert run(["check", str(task), "--no-baseline"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'ID' repeat" in err and "row_level_cv" in err
    assert sorted(p.name for p in task.iterdir()) == before


def test_allow_without_reason_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], recur: pd.DataFrame) -> None:
    task = _task(tmp_path / "t", recur, "name: recur\ntask_type: binary\nendpoint: CENSOR\n"
                                        "validation: stratified-cv\nallow: {row_level_cv: ''}")
    assert run(["check", str(task), "--no-baseline"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs a reason" in err


@pytest.mark.slow
def test_the_report_states_the_plan_that_ran(tmp_path: Path, recur: pd.DataFrame) -> None:
    task = _task(tmp_path / "t", recur, "name: recur\ntask_type: binary\nendpoint: CENSOR")
    assert run(["run", str(task), "--budget", "1", "--runs-dir", str(tmp_path / "runs")]) == 0
    html = next((tmp_path / "runs").rglob("report.html")).read_text()
    prose = html[html.index("The validation plan that ran"):].split("</p>")[0]
    assert "patient-grouped-cv" in prose and "detected from its repeated values, not declared" in prose
    assert "and of the held-out split" in prose and "never a feature" in prose and "stratified on" in prose


def test_allowed_row_cv_runs_rows_and_says_so(tmp_path: Path, recur: pd.DataFrame) -> None:
    task = _task(tmp_path / "t", recur, "name: recur\ntask_type: binary\nendpoint: CENSOR\nvalidation: stratified-cv\n"
                                        "allow: {row_level_cv: intervals are analysed as independent}")
    from autods.checkup import run_checkup

    check = run_checkup(task, baseline=False)
    assert check.design.cv_strategy == "stratified-cv" and check.design.group_column is None
    assert any(f.check == "design.cv" and "intervals are analysed as independent" in f.message for f in check.findings)


def test_integer_valued_continuous_target_is_binned_not_classes() -> None:
    from sklearn.datasets import load_diabetes

    y = load_diabetes().target  # floats holding integers 25..346
    bins = strata(y)
    assert bins is not None and set(np.unique(bins)) == {0, 1, 2, 3, 4}
    assert np.all(np.bincount(bins) >= len(y) // 5)
    # bins follow the order of the target
    assert np.all(np.diff([y[bins == b].max() for b in range(5)]) >= 0)
    assert strata(np.array([0, 1, 1, 0, 2] * 4)) is not None and set(strata(np.array([0, 1, 2] * 5))) == {0, 1, 2}
    assert list(quantile_bins(np.array([5.0, 1.0, 3.0, 2.0, 4.0]))) == [4, 0, 2, 1, 3]


def test_regression_with_integer_target_evaluates(tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True)
    frame = data.frame.rename(columns={"target": "progression"})
    record = evaluate(_task(tmp_path / "d", frame, "name: diabetes\ntask_type: regression\nendpoint: progression"),
                      {"family": "ridge"}, n_resamples=50)
    assert record.metric == "r2" and all(s is not None for s in record.fold_scores)
    from autods.judge.plan import make_plan
    from autods.tasks import load_task

    assert make_plan(load_task(tmp_path / "d"), "stratified-cv", None, None, "none").stratify == "target quantile bins"
    # a plain ridge on these ten inputs reaches R2 ~0.45-0.5 (scikit-learn's own example); bins kept folds balanced
    assert 0.35 < record.value < 0.6
