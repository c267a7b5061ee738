"""Subgroup metrics against a manual per-group sklearn computation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import r2_score, roc_auc_score

from autods.judge.subgroups import MISSING, SubgroupResult, largest_gap, subgroup_metrics


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    n = 600
    sex = rng.choice(["F", "M"], size=n)
    site = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.47, 0.03])  # c is tiny
    y = (rng.random(n) < 0.3).astype(int)
    noise = np.where(sex == "F", 0.5, 1.5)  # the model is worse for M
    p = 1 / (1 + np.exp(-(1.5 * y + rng.normal(scale=noise))))
    return y, p, {"sex": sex, "site": site}


def test_subgroup_values_match_manual_sklearn(data) -> None:
    y, p, groups = data
    results = subgroup_metrics("auroc", y, p, groups, n_resamples=200, min_n=20)
    assert all(isinstance(r, SubgroupResult) for r in results)
    assert [(r.column, r.group) for r in results] == [
        ("sex", "F"), ("sex", "M"), ("site", "a"), ("site", "b"), ("site", "c")]
    for r in results:
        mask = groups[r.column] == r.group
        assert r.n == mask.sum() and r.metric == "auroc"
        if r.n >= 20:
            assert r.value == pytest.approx(roc_auc_score(y[mask], p[mask]), abs=1e-12)
            assert r.ci_low < r.value < r.ci_high and r.note == ""
        else:
            assert np.isnan(r.value) and np.isnan(r.ci_low) and "min_n" in r.note


def test_one_class_group_is_nan_with_note_and_missing_is_a_group() -> None:
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(30, dtype=int), (rng.random(70) < 0.4).astype(int)]
    p = rng.random(100)
    arm = np.array(["x"] * 30 + ["y"] * 60 + [None] * 10, dtype=object)
    results = {r.group: r for r in subgroup_metrics("auroc", y, p, {"arm": arm}, n_resamples=100,
                                                      min_n=5)}
    assert np.isnan(results["x"].value) and "undefined" in results["x"].note
    assert results["y"].value == pytest.approx(roc_auc_score(y[30:90], p[30:90]))
    assert results[MISSING].n == 10


def test_largest_gap_is_direction_aware(data) -> None:
    y, p, groups = data
    results = subgroup_metrics("auroc", y, p, groups, n_resamples=100)
    worst, best, gap = largest_gap(results)["sex"]
    f, m = (roc_auc_score(y[groups["sex"] == g], p[groups["sex"] == g]) for g in ("F", "M"))
    assert (worst, best) == ("M", "F") and gap == pytest.approx(f - m)
    assert "site" in largest_gap(results)  # two valid sites remain after dropping the tiny one
    rmse = [SubgroupResult("c", "lo", 50, "rmse", 1.0, 0.9, 1.1),
            SubgroupResult("c", "hi", 50, "rmse", 2.0, 1.8, 2.2)]
    assert largest_gap(rmse) == {"c": ("hi", "lo", 1.0)}


def test_regression_subgroups_match_sklearn() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=200)
    pred = x + rng.normal(scale=0.5, size=200)
    age = np.where(rng.random(200) < 0.5, "old", "young")
    for r in subgroup_metrics("r2", x, pred, {"age": age}, n_resamples=100):
        mask = age == r.group
        assert r.value == pytest.approx(r2_score(x[mask], pred[mask]), abs=1e-12)


def test_repeated_rows_per_patient_are_resampled_as_patients() -> None:
    """Each patient contributes 6 identical rows: resampling rows would pretend to have 6x
    the information. With ``units`` the interval matches the one-row-per-patient interval."""
    from autods.judge.bootstrap import bootstrap_ci

    rng = np.random.default_rng(3)
    n_pat, reps = 150, 6
    y1 = (rng.random(n_pat) < 0.35).astype(int)
    p1 = 1 / (1 + np.exp(-(1.2 * y1 + rng.normal(size=n_pat))))
    arm1 = rng.choice(["a", "b"], size=n_pat)
    y, p, arm = np.repeat(y1, reps), np.repeat(p1, reps), np.repeat(arm1, reps)
    ids = np.repeat(np.arange(n_pat), reps)

    rows = {r.group: r for r in subgroup_metrics("auroc", y, p, {"arm": arm}, n_resamples=400, seed=5)}
    pats = {r.group: r for r in subgroup_metrics("auroc", y, p, {"arm": arm}, n_resamples=400, seed=5, units=ids)}
    once = {r.group: r for r in subgroup_metrics("auroc", y1, p1, {"arm": arm1}, n_resamples=400, seed=5)}
    for g in ("a", "b"):
        mask = arm == g
        ref = bootstrap_ci("auroc", y[mask], p[mask], n_resamples=400, seed=5 + (g == "b"), groups=ids[mask])
        assert (pats[g].ci_low, pats[g].ci_high) == pytest.approx((ref.low, ref.high), abs=1e-12)
        width = {k: v[g].ci_high - v[g].ci_low for k, v in (("rows", rows), ("pats", pats), ("once", once))}
        assert width["pats"] == pytest.approx(width["once"], rel=0.35)
        assert width["rows"] < 0.6 * width["pats"]  # the row bootstrap is far too narrow here
        assert pats[g].value == rows[g].value == pytest.approx(once[g].value)


def test_units_must_match_the_rows(data) -> None:
    from autods.errors import JudgeError

    y, p, groups = data
    with pytest.raises(JudgeError, match="units has 3 values"):
        subgroup_metrics("auroc", y, p, groups, units=np.arange(3))
