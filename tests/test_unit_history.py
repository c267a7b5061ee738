"""Per-unit history composites (unit_mean/unit_sd/unit_cv) never look ahead (issue 11, section 2).

A unit's history for a row is its rows dated strictly before that row by the task's
time_column. The planted-leak test builds data where only a *later* visit carries the
label of an earlier one: the old all-rows mean (computed inline with its formula) scores
high on it, the history composite must not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold

from autods.agents.expert.library import representations
from autods.errors import RecipeError
from autods.runners.expressions import evaluate_expr, parse, unit_order
from autods.runners.pipeline import RecipeRunner, TrainingData
from autods.runners.recipe import Recipe


def _future_leak(n_units: int = 400, seed: int = 0) -> pd.DataFrame:
    """Two visits per unit. The label of visit 1 is written into x at visit 2 (a later encounter
    records what happened); x at visit 1 and the label of visit 2 are noise."""
    rng = np.random.default_rng(seed)
    y1, y2 = rng.integers(0, 2, n_units), rng.integers(0, 2, n_units)
    x1 = rng.normal(0, 0.3, n_units)
    x2 = y1 + rng.normal(0, 0.3, n_units)
    # Rows in reverse time order on purpose: history must follow the times, not the row order.
    return pd.DataFrame({
        "unit": np.concatenate([np.arange(n_units)] * 2).astype(str),
        "visit day": np.concatenate([np.full(n_units, 30), np.zeros(n_units, dtype=int)]),
        "x": np.concatenate([x2, x1]), "noise": rng.normal(size=2 * n_units),
        "y": np.concatenate([y2, y1]),
    })


def _grouped_auroc(frame: pd.DataFrame, recipe: dict, features: tuple[str, ...]) -> float:
    """Pooled out-of-fold AUROC with whole units held out (5 folds)."""
    y = frame["y"].to_numpy()
    data = TrainingData(frame, y, "binary", features, "unit", "visit day")
    pred = np.empty(len(frame))
    for train, test in GroupKFold(n_splits=5).split(frame, y, frame["unit"]):
        pred[test] = RecipeRunner().fit(data.subset(train), recipe).predict_score(frame.iloc[test])
    return float(roc_auc_score(y, pred))


def test_planted_future_signal_reaches_the_old_mean_but_not_the_history() -> None:
    frame = _future_leak()
    # The old behaviour: the mean over all of a unit's rows, whatever their dates.
    old = frame.assign(old_mean=frame.groupby("unit")["x"].transform("mean"))
    leaked = _grouped_auroc(old, {"family": "logistic", "features": ["noise", "old_mean"]}, ("noise", "old_mean"))
    history = {"family": "logistic", "features": ["noise"],
               "preprocess": {"composites": [{"name": "x history", "expr": "unit_mean(x)"}]}}
    honest = _grouped_auroc(frame, history, ("noise", "x"))
    assert leaked > 0.65, leaked  # the plant works (0.72 here): look-ahead scores well above chance
    assert honest < 0.58, honest  # (0.47 here) strictly-earlier history carries no future label


def test_history_ignores_later_rows_and_same_day_rows() -> None:
    frame = _future_leak(n_units=50)
    units, times = frame["unit"].to_numpy(), unit_order(frame["visit day"])
    before = evaluate_expr(parse("unit_mean(x)"), frame, units, times)
    # Changing every later visit leaves the earlier visits' history untouched ...
    later = frame["visit day"].to_numpy() == 30
    changed = frame.assign(x=np.where(later, 1e6, frame["x"]))
    after = evaluate_expr(parse("unit_mean(x)"), changed, units, times)
    np.testing.assert_array_equal(after[~later], before[~later])
    assert np.isnan(before[~later]).all()  # a first visit has no history
    np.testing.assert_allclose(before[later], frame["x"].to_numpy()[~later])  # the second visit sees the first
    # Rows on the same date do not see each other.
    tie = pd.DataFrame({"x": [1.0, 2.0, 3.0], "t": [5, 5, 6], "u": ["a", "a", "a"]})
    out = evaluate_expr(parse("unit_mean(x)"), tie, tie["u"].to_numpy(), unit_order(tie["t"]))
    np.testing.assert_allclose(out, [np.nan, np.nan, 1.5])


def test_history_matches_a_reference_loop_with_dates_and_gaps() -> None:
    rng = np.random.default_rng(5)
    n = 60
    frame = pd.DataFrame({"u": rng.integers(0, 8, n).astype(str), "x": rng.normal(10, 3, n),
                          "when": pd.Series(pd.to_datetime("2021-01-01") + pd.to_timedelta(rng.integers(0, 40, n), unit="D"))
                          .dt.strftime("%Y-%m-%d")})
    frame.loc[[3, 17], "x"] = np.nan  # a missing value is skipped, as pandas' mean skips it
    frame.loc[[5], "when"] = None  # no date: no history, and it feeds nobody
    units, times = frame["u"].to_numpy(), unit_order(frame["when"], "when")
    got = {f: evaluate_expr(parse(f"{f}(x)"), frame, units, times) for f in ("unit_mean", "unit_sd", "unit_cv")}
    for i in range(n):
        if frame["when"].iloc[i] is None:
            assert all(np.isnan(got[f][i]) for f in got)
            continue
        past = frame[(frame["u"] == frame["u"].iloc[i]) & frame["when"].notna() & (frame["when"] < frame["when"].iloc[i])]["x"]
        mean, sd = past.mean(), past.std()
        np.testing.assert_allclose([got["unit_mean"][i], got["unit_sd"][i], got["unit_cv"][i]],
                                   [mean, sd, sd / abs(mean)], rtol=1e-9)


def test_no_time_column_refuses_history_in_one_line() -> None:
    frame = _future_leak(n_units=30)
    recipe = Recipe(family="logistic", preprocess={"composites": [{"name": "h", "expr": "unit_sd(x)"}]})
    data = TrainingData(frame, frame["y"].to_numpy(), "binary", ("x", "noise"), "unit")  # no time column
    with pytest.raises(RecipeError) as err:
        RecipeRunner().fit(data, recipe)
    assert "time_column" in str(err.value) and "\n" not in str(err.value)


def _summary(time_column: str | None) -> dict:
    feats = [{"name": n, "kind": "numeric", "missing_fraction": 0.0} for n in ("visit day", "x", "noise")]
    return {"units_repeat": True, "time_column": time_column, "features": feats, "findings": []}


def test_library_offers_history_only_with_a_time_column() -> None:
    assert "unit-history" not in [r.name for r in representations(_summary(None), {})]
    rep = next(r for r in representations(_summary("visit day"), {}) if r.name == "unit-history")
    exprs = [c["expr"] for c in rep.preprocess["composites"]]
    assert exprs == ["unit_mean(x)", "unit_mean(noise)"]  # the time column is the order, not a feature to average
    frame = _future_leak(n_units=30)
    runner = RecipeRunner().fit(TrainingData(frame, frame["y"].to_numpy(), "binary", ("x", "noise"), "unit", "visit day"),
                                rep.recipe("logistic", {}))
    assert runner.time_column_ == "visit day" and np.isfinite(runner.predict_score(frame)).all()


def test_a_time_column_governance_dropped_is_no_order() -> None:
    summary = _summary("admission date")  # declared, but not among the governed columns (a dropped PHI date)
    assert "unit-history" not in [r.name for r in representations(summary, {})]
    frame = _future_leak(n_units=30)
    recipe = Recipe(family="logistic", preprocess={"composites": [{"name": "h", "expr": "unit_mean(x)"}]})
    data = TrainingData(frame, frame["y"].to_numpy(), "binary", ("x", "noise"), "unit", "admission date")
    with pytest.raises(RecipeError, match="'admission date' is not in the governed data"):
        RecipeRunner().fit(data, recipe)


def test_scoring_rows_without_the_order_columns_is_a_recipe_error() -> None:
    frame = _future_leak(n_units=30)
    recipe = Recipe(family="logistic", features=["noise"], preprocess={"composites": [{"name": "h", "expr": "unit_mean(x)"}]})
    runner = RecipeRunner().fit(TrainingData(frame, frame["y"].to_numpy(), "binary", ("x", "noise"), "unit", "visit day"), recipe)
    for column in ("unit", "visit day"):
        with pytest.raises(RecipeError, match=f"needs column '{column}'"):
            runner.predict_score(frame.drop(columns=[column]))
