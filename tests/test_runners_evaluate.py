"""evaluate(): the judge's CV on the development rows, with OOF predictions and CIs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autods.errors import RecipeError, UserInputError
from autods.runners import EvaluationRecord, Recipe, evaluate
from autods.tasks import load_task


def _write_task(root: Path, frame: pd.DataFrame, front: str) -> Path:
    (root / "data.csv").write_text(frame.to_csv(index=False))
    (root / "TASK.md").write_text(f"---\n{front}\ndata: data.csv\n---\nA test task.\n")
    return root


@pytest.fixture(scope="module")
def breast_cancer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns={"target": "benign"})
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame["malignant"] = 1 - frame.pop("benign")
    return _write_task(tmp_path_factory.mktemp("bc"), frame, "name: bc\ntask_type: binary\nendpoint: malignant")


@pytest.fixture(scope="module")
def bc_record(breast_cancer_dir: Path) -> EvaluationRecord:
    return evaluate(breast_cancer_dir, Recipe(family="logistic"), n_resamples=200)


def test_breast_cancer_logistic_auroc_with_ci(bc_record: EvaluationRecord) -> None:
    r = bc_record
    assert r.metric == "auroc" and r.higher_is_better
    assert r.value >= 0.99
    assert r.ci_low <= r.value <= r.ci_high and r.ci_high - r.ci_low < 0.05
    # 569 rows, 212 events: the plan repeats the 5-fold split twice (judge.plan.choose_repeats)
    assert r.cv.repeats == 2 and r.cv.n_splits == 5 and len(r.fold_scores) == 10
    assert r.fold_keys == [f"r{i}k{k}" for i in range(2) for k in range(5)]
    assert r.fold_ci_low <= r.fold_mean <= r.fold_ci_high
    assert set(r.secondary) == {"auprc", "brier"}
    assert r.cv.strategy == "stratified-cv" and r.cv.group_column is None


def test_holdout_rows_never_enter_cv(bc_record: EvaluationRecord) -> None:
    r = bc_record
    assert r.n_holdout > 0 and r.holdout_hash
    assert r.n_rows + r.n_holdout == 569
    assert len(r.oof.row) == r.n_rows == len(set(r.oof.row))
    test_rows = set(range(569)) - set(r.oof.row)
    assert len(test_rows) == r.n_holdout


def test_record_round_trips_as_json(bc_record: EvaluationRecord) -> None:
    again = EvaluationRecord.model_validate_json(bc_record.model_dump_json())
    assert again == bc_record
    assert again.recipe_hash == Recipe(family="logistic").canonical_hash()


def test_without_holdout_every_row_is_out_of_fold(breast_cancer_dir: Path) -> None:
    r = evaluate(breast_cancer_dir, {"family": "logistic", "params": {"C": 0.1}}, use_holdout=False,
                 n_splits=3, n_resamples=50, exclude=["mean_radius"])
    assert r.holdout_hash is None and sorted(r.oof.row) == list(range(569))
    assert ("mean_radius", "excluded by the caller") in r.excluded
    assert r.n_features == 29 and r.cv.n_splits == 3


def test_bad_recipe_is_recipe_error(breast_cancer_dir: Path) -> None:
    with pytest.raises(RecipeError, match="unknown model family 'xgb'"):
        evaluate(breast_cancer_dir, {"family": "xgb"})
    with pytest.raises(RecipeError, match="has no parameter 'depth'"):
        evaluate(breast_cancer_dir, {"family": "lightgbm", "params": {"depth": 3}})
    with pytest.raises(RecipeError, match="does not support binary"):
        evaluate(breast_cancer_dir, {"family": "cox"})
    with pytest.raises(RecipeError, match="not an allowed feature"):
        evaluate(breast_cancer_dir, {"family": "logistic", "features": ["malignant"]})


def _grouped_frame(n_units: int = 60, per_unit: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    pid = np.repeat([f"p{i:03d}" for i in range(n_units)], per_unit)
    visit = np.tile(np.arange(per_unit), n_units)
    frailty = np.repeat(rng.normal(size=n_units), per_unit)
    x = rng.normal(size=len(pid))
    y = (frailty + x + rng.normal(size=len(pid)) > 0).astype(int)
    return pd.DataFrame({"pid": pid, "visit": visit, "x": x, "lab": rng.normal(size=len(pid)), "y": y})


def test_grouped_cv_never_splits_a_unit(tmp_path: Path) -> None:
    frame = _grouped_frame()
    task_dir = _write_task(tmp_path, frame, "name: g\ntask_type: binary\nendpoint: y\nid_column: pid\ntime_column: visit")
    r = evaluate(task_dir, Recipe(family="logistic", preprocess={"composites": [{"name": "x_sd", "expr": "unit_sd(x)"}]}),
                 n_resamples=100)
    assert r.cv.strategy == "patient-grouped-cv" and r.cv.group_column == "pid"
    folds_per_unit = pd.DataFrame({"pid": frame["pid"].to_numpy()[r.oof.row], "fold": r.oof.fold}).groupby("pid")["fold"].nunique()
    assert (folds_per_unit == 1).all()
    # The holdout is unit-aware too: no held-out unit appears among the development rows.
    dev_units = set(frame["pid"].to_numpy()[r.oof.row])
    held_units = set(frame["pid"]) - dev_units
    assert r.n_holdout == 4 * len(held_units) and r.n_units == len(dev_units)
    assert r.n_features == 4  # visit, x, lab and the composite; pid is never a feature


def test_strategy_precedence(tmp_path: Path) -> None:
    from autods.runners.evaluate import choose_strategy

    frame = _grouped_frame()
    task = load_task(_write_task(tmp_path, frame, "name: g\ntask_type: binary\nendpoint: y\nid_column: pid\nvalidation: stratified-cv"))
    # declared stratified-cv, but pids repeat: refused with the fix, never silently switched
    with pytest.raises(UserInputError, match="row_level_cv"):
        choose_strategy(task)
    assert choose_strategy(task, "stratified-cv") == "stratified-cv"  # an explicit argument wins
    (tmp_path / "a").mkdir()
    allowed = load_task(_write_task(tmp_path / "a", frame, "name: g\ntask_type: binary\nendpoint: y\nid_column: pid\n"
                                    "validation: stratified-cv\nallow: {row_level_cv: visits are independent draws}"))
    assert choose_strategy(allowed) == "stratified-cv"
    (tmp_path / "g").mkdir()
    undeclared = load_task(_write_task(tmp_path / "g", frame, "name: g\ntask_type: binary\nendpoint: y\nid_column: pid"))
    assert choose_strategy(undeclared) == "patient-grouped-cv"
    (tmp_path / "u").mkdir()
    one_row_per_unit = load_task(_write_task(tmp_path / "u", frame.drop_duplicates("pid"),
                                             "name: u\ntask_type: binary\nendpoint: y\nid_column: pid\nvalidation: stratified-cv"))
    assert choose_strategy(one_row_per_unit) == "stratified-cv"


def test_multiclass_and_regression(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    # Signal spread over two features: one near-perfect feature would be excluded by governance.
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    signal = frame.a + frame.b + 0.3 * rng.normal(size=300)
    frame["cls"] = np.where(signal > 0.7, "high", np.where(signal < -0.7, "low", "mid"))
    frame["val"] = frame.a + frame.b + rng.normal(size=300)
    (tmp_path / "m").mkdir()
    (tmp_path / "r").mkdir()
    mc = evaluate(_write_task(tmp_path / "m", frame.drop(columns="val"), "name: m\ntask_type: multiclass\nendpoint: cls"),
                  {"family": "logistic"}, n_resamples=50)
    assert mc.metric == "macro_f1" and mc.value > 0.6 and mc.oof.classes == ["high", "low", "mid"]
    assert np.asarray(mc.oof.pred).shape == (len(mc.oof.row), 3)
    rg = evaluate(_write_task(tmp_path / "r", frame.drop(columns="cls"), "name: r\ntask_type: regression\nendpoint: val"),
                  {"family": "ridge"}, n_resamples=50)
    assert rg.metric == "r2" and rg.value > 0.5 and set(rg.secondary) == {"rmse"}


def test_gbsg2_cox_c_index(tmp_path: Path) -> None:
    from sksurv.datasets import load_gbsg2

    X, y = load_gbsg2()
    frame = X.assign(time=y["time"], event=y["cens"].astype(int))
    frame = frame.astype({c: str for c in frame.select_dtypes("category").columns})
    task_dir = _write_task(tmp_path, frame, "name: gbsg2\ntask_type: survival\nendpoint: {time: time, event: event}")
    r = evaluate(task_dir, Recipe(family="cox"), n_resamples=200)
    assert r.metric == "c_index" and 0.64 <= r.value <= 0.72
    assert r.ci_low < r.value < r.ci_high


def test_seed_moves_the_model_never_the_folds(tmp_path: Path) -> None:
    task_dir = _write_task(tmp_path, _grouped_frame(), "name: g\ntask_type: binary\nendpoint: y\nid_column: pid")
    a = evaluate(task_dir, {"family": "random_forest", "params": {"n_estimators": 20}}, seed=1, n_resamples=20)
    b = evaluate(task_dir, {"family": "random_forest", "params": {"n_estimators": 20}}, seed=2, n_resamples=20)
    c = evaluate(task_dir, {"family": "logistic"}, seed=2, n_resamples=20)
    assert a.holdout_hash == b.holdout_hash == c.holdout_hash
    # the same folds for every seed and every recipe: fold scores pair up by key
    assert a.oof.row == b.oof.row == c.oof.row and a.oof.fold == b.oof.fold == c.oof.fold
    assert a.fold_keys == b.fold_keys == c.fold_keys and a.cv.repeats == 3  # 60 units, few events
    assert a.fold_scores != b.fold_scores  # the forest's randomness did move


def test_temporal_split_with_date_strings(tmp_path: Path) -> None:
    frame = _grouped_frame().drop(columns="pid")
    frame["visit"] = (pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(len(frame)), unit="D")).strftime("%Y-%m-%d")
    task_dir = _write_task(tmp_path, frame, "name: t\ntask_type: binary\nendpoint: y\ntime_column: visit\n"
                                            "validation: temporal-split")
    r = evaluate(task_dir, {"family": "logistic"}, n_splits=3, n_resamples=20)
    assert r.cv.strategy == "temporal-split"
    # The holdout is the latest rows; every CV row is earlier than every held-out row.
    assert max(r.oof.row) < len(frame) - r.n_holdout
    assert dict(r.excluded)["visit"].startswith("datetime column")  # ISO date strings are dates, not text


def test_default_recipe_when_none_given(breast_cancer_dir: Path) -> None:
    r = evaluate(breast_cancer_dir, n_splits=2, n_resamples=20)
    assert r.recipe.family == "logistic" and r.value > 0.95
