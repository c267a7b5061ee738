"""Preprocessing: column typing, encoders, composites, and no leakage across folds."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold

from autods.errors import RecipeError
from autods.runners import Recipe, RecipeRunner, TrainingData
from autods.runners.preprocess import column_kinds, dropped_columns


def _frame(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "age": rng.normal(60, 10, n),
        "crp": rng.lognormal(1, 1, n),
        "ward": rng.choice(["A", "B", "C"], n, p=[0.6, 0.38, 0.02]),
        "smoker": rng.random(n) > 0.7,
        "admitted": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
        "note": [f"patient reports symptom number {i} with a long free-text description" for i in range(n)],
        "pid": np.repeat(np.arange(n // 3), 3),
    })


def _numeric_imputer(runner: RecipeRunner) -> object:
    return runner.pipeline_.named_steps["prep"].named_steps["columns"].named_transformers_["numeric"].named_steps["impute"]


def test_column_kinds() -> None:
    kinds = column_kinds(_frame(), ["age", "crp", "ward", "smoker", "admitted", "note"])
    assert kinds == {"numeric": ["age", "crp"], "boolean": ["smoker"], "categorical": ["ward"],
                     "datetime": ["admitted"], "text": ["note"]}
    reasons = dict(dropped_columns(_frame(), ["admitted", "note", "age"], Recipe(family="logistic").preprocess))
    assert set(reasons) == {"admitted", "note"}


def test_imputation_is_fitted_inside_each_fold() -> None:
    """The no-leak test: each fold's median is the training fold's, not the full data's."""
    frame = _frame()
    frame.loc[::5, "age"] = np.nan
    frame.loc[frame.index[:40], "age"] += 30  # makes fold medians differ from the global one
    y = (np.arange(len(frame)) % 2).astype(int)
    data = TrainingData(frame, y, "binary", ("age", "crp"))
    recipe = Recipe(family="logistic", preprocess={"scale": False})
    full_median = np.nanmedian(frame["age"])
    for train, _ in KFold(3, shuffle=True, random_state=0).split(frame):
        runner = RecipeRunner().fit(data.subset(train), recipe)
        stats = _numeric_imputer(runner).statistics_
        assert stats[0] == pytest.approx(np.nanmedian(frame["age"].iloc[train]))
        assert stats[0] != pytest.approx(full_median)


def test_scaler_is_fitted_on_training_rows_only() -> None:
    frame = _frame()
    y = (frame["age"] > 60).astype(int).to_numpy()
    train = np.arange(60)
    runner = RecipeRunner().fit(TrainingData(frame, y, "binary", ("age",)).subset(train), Recipe(family="logistic"))
    scaler = runner.pipeline_.named_steps["prep"].named_steps["columns"].named_transformers_["numeric"].named_steps["scale"]
    assert scaler.mean_[0] == pytest.approx(frame["age"].iloc[train].mean())


def test_missingness_indicator_and_log_transform() -> None:
    frame = _frame()
    frame.loc[::4, "crp"] = np.nan
    y = (np.arange(len(frame)) % 2).astype(int)
    recipe = Recipe(family="logistic", preprocess={"log_transform": ["crp"], "scale": False})
    runner = RecipeRunner().fit(TrainingData(frame, y, "binary", ("age", "crp")), recipe)
    prep = runner.pipeline_.named_steps["prep"]
    out = prep.transform(frame[["age", "crp"]])
    assert out.shape[1] == 3  # age, log1p(crp), crp-missing indicator
    np.testing.assert_allclose(out[1:4, 1], np.log1p(frame["crp"].iloc[1:4]))
    assert set(out[:, 2]) == {0.0, 1.0}


def test_rare_levels_grouped_and_unseen_levels_do_not_fail() -> None:
    frame = _frame()
    y = (frame["ward"] == "A").astype(int).to_numpy()
    recipe = Recipe(family="logistic", preprocess={"min_frequency": 0.05})
    runner = RecipeRunner().fit(TrainingData(frame, y, "binary", ("ward",)), recipe)
    encoder = runner.pipeline_.named_steps["prep"].named_steps["columns"].named_transformers_["categorical"].named_steps["onehot"]
    assert [list(c) for c in encoder.infrequent_categories_] == [["C"]]
    new = frame.head(3).assign(ward=["Z", np.nan, "B"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(runner.predict_score(new)).all()


@pytest.mark.parametrize("none", [0, 0.0])
def test_min_frequency_zero_groups_nothing_and_fits(none: float) -> None:
    # scikit-learn refuses 0 and 0.0 at fit time; the recipe accepted them, so a run failed late
    frame = _frame()
    recipe = Recipe(family="logistic", preprocess={"min_frequency": none})
    assert recipe.preprocess.min_frequency is None
    assert recipe.canonical_hash() == Recipe(family="logistic", preprocess={"min_frequency": None}).canonical_hash()
    runner = RecipeRunner().fit(TrainingData(frame, (frame["ward"] == "A").astype(int).to_numpy(), "binary", ("ward",)),
                                recipe)
    encoder = runner.pipeline_.named_steps["prep"].named_steps["columns"].named_transformers_["categorical"].named_steps["onehot"]
    assert encoder.min_frequency is None and list(encoder.categories_[0]) == sorted(frame["ward"].dropna().unique())


def test_booleans_and_datetimes() -> None:
    frame = _frame()
    y = frame["smoker"].astype(int).to_numpy()
    dropped = RecipeRunner().fit(TrainingData(frame, y, "binary", ("smoker", "admitted", "note")), Recipe(family="logistic"))
    assert dropped.pipeline_.named_steps["prep"].transform(frame[["smoker", "admitted", "note"]]).shape[1] == 1
    days = RecipeRunner().fit(TrainingData(frame, y, "binary", ("smoker", "admitted")),
                              Recipe(family="logistic", preprocess={"datetime": "days", "scale": False}))
    out = days.pipeline_.named_steps["prep"].transform(frame[["smoker", "admitted"]])
    assert out[0, -1] == pytest.approx((frame["admitted"].iloc[0] - pd.Timestamp("1970-01-01")).days)
    as_text = frame.assign(admitted=frame["admitted"].dt.strftime("%Y-%m-%d"))  # as read from a CSV
    assert column_kinds(as_text, ["admitted"])["datetime"] == ["admitted"]
    again = RecipeRunner().fit(TrainingData(as_text, y, "binary", ("smoker", "admitted")),
                               Recipe(family="logistic", preprocess={"datetime": "days", "scale": False}))
    np.testing.assert_allclose(again.pipeline_.named_steps["prep"].transform(as_text[["smoker", "admitted"]]), out)


def test_composites_step_computes_unit_aggregates_per_frame() -> None:
    frame = _frame()
    y = (np.arange(len(frame)) % 2).astype(int)
    recipe = Recipe(family="ridge", preprocess={"scale": False, "composites": [
        {"name": "crp_sd", "expr": "unit_sd(crp)"}, {"name": "ratio", "expr": "crp / age"}]}, features=["age"])
    data = TrainingData(frame, y.astype(float), "regression", ("age", "crp"), "pid", "admitted")
    runner = RecipeRunner().fit(data, recipe)
    step = runner.pipeline_.named_steps["prep"].named_steps["composites"]
    out = step.transform(frame[["age", "crp", "pid", "admitted"]])
    assert "pid" not in out.columns and "admitted" not in out.columns  # read to group and order, never modelled
    # Reference: the sd of the same patient's strictly earlier admissions (NaN with fewer than two).
    for i in range(9):
        same = frame[(frame["pid"] == frame["pid"].iloc[i]) & (frame["admitted"] < frame["admitted"].iloc[i])]
        expected = same["crp"].std() if len(same) >= 2 else np.nan
        np.testing.assert_allclose(out["crp_sd"].iloc[i], expected)
    one_row = step.transform(frame[["age", "crp", "pid", "admitted"]].iloc[:1])
    assert np.isnan(one_row["crp_sd"].iloc[0])  # only the rows of the frame given
    assert list(runner.feature_names_in_) == ["age", "crp"]  # crp is read for the composite
    assert runner.order_columns_ == ["pid", "admitted"]
    with pytest.raises(RecipeError, match="needs the task's time_column"):
        RecipeRunner().fit(TrainingData(frame, y.astype(float), "regression", ("age", "crp"), "pid"), recipe)


def test_composite_may_not_read_an_excluded_feature() -> None:
    frame = _frame()
    y = (np.arange(len(frame)) % 2).astype(int)
    recipe = Recipe(family="logistic", preprocess={"composites": [{"name": "leak", "expr": "crp * 2"}]})
    with pytest.raises(RecipeError, match="reads 'crp', which is not an allowed feature"):
        RecipeRunner().fit(TrainingData(frame, y, "binary", ("age",)), recipe)


def test_feature_subset_must_be_allowed() -> None:
    frame = _frame()
    y = (np.arange(len(frame)) % 2).astype(int)
    with pytest.raises(RecipeError, match="'pid' is not an allowed feature"):
        RecipeRunner().fit(TrainingData(frame, y, "binary", ("age", "crp")), Recipe(family="logistic", features=["age", "pid"]))
    with pytest.raises(RecipeError, match="log_transform names 'ward'"):
        RecipeRunner().fit(TrainingData(frame, y, "binary", ("age", "ward")),
                           Recipe(family="logistic", preprocess={"log_transform": ["ward"]}))
