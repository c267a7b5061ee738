"""Site harmonisation: hand values, ComBat against neuroCombat, training-fold statistics only, site-shift removal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autods.errors import RecipeError
from autods.guard._site_shift import site_shifts
from autods.runners.harmonize import SiteHarmonizer
from autods.runners.pipeline import RecipeRunner, TrainingData
from autods.runners.recipe import Recipe


def sites(n_per_site: int = 60, seed: int = 0) -> pd.DataFrame:
    """Three sites; site C reads a (location) and b (scale) differently; c has no site effect."""
    rng = np.random.default_rng(seed)
    site = np.repeat(["A", "B", "C"], n_per_site)
    a = rng.normal(10, 2, site.size) + np.where(site == "C", 4.0, 0.0)
    b = rng.normal(0, 1, site.size) * np.where(site == "C", 3.0, 1.0)
    c = rng.normal(5, 1, site.size)
    y = (rng.random(site.size) < 0.4).astype(int)
    return pd.DataFrame({"site": site, "a": a, "b": b, "c": c, "y": y})


def test_site_standardize_by_hand() -> None:
    X = pd.DataFrame({"site": ["s", "s", "t", "t"], "v": [1.0, 3.0, 10.0, 14.0]})
    h = SiteHarmonizer("site_standardize", "site").fit(X)
    # site means 2 and 12, site SDs sqrt(2) and sqrt(8); grand mean 7; pooled var (1+1+4+4)/4 = 2.5
    out = h.transform(X)["v"].to_numpy()
    expected = np.array([-1, 1, -1, 1]) / np.sqrt(2) * np.sqrt(2.5) + 7
    assert np.allclose(out, expected)
    new = h.transform(pd.DataFrame({"site": ["t", "u"], "v": [12.0, 99.0]}))
    assert new["v"].tolist() == [7.0, 99.0] and h.n_unseen_ == 1  # an unseen site is left unchanged


def test_combat_matches_neurocombat() -> None:
    nc = pytest.importorskip("neuroCombat")  # reference implementation; in the 'standards' extra
    frame = sites()
    train, test = frame.iloc[::2].reset_index(drop=True), frame.iloc[1::2].reset_index(drop=True)
    cols = ["a", "b", "c"]
    h = SiteHarmonizer("combat", "site", cols).fit(train)
    ours = h.transform(train)[cols].to_numpy()
    ref = nc.neuroCombat(dat=train[cols].to_numpy().T, covars=train[["site"]], batch_col="site")
    assert np.allclose(ours, ref["data"].T, rtol=1e-4, atol=1e-4)
    # Held-out rows with the training estimates: neuroCombatFromTraining's formula (the function
    # itself fails on numpy 2), from neuroCombat's own fitted estimates.
    est = ref["estimates"]
    k = np.searchsorted(np.asarray(est["batches"], dtype=str), test["site"].to_numpy())
    mean, sd = est["stand.mean"][:, :1].T, np.sqrt(est["var.pooled"]).T
    z = (test[cols].to_numpy() - mean) / sd
    expected = (z - est["gamma.star"][k]) / np.sqrt(est["delta.star"][k]) * sd + mean
    assert np.allclose(h.transform(test)[cols].to_numpy(), expected, rtol=1e-4, atol=1e-4)
    assert np.allclose(h.gamma_, est["gamma.star"], rtol=1e-3) and np.allclose(h.delta2_, est["delta.star"], rtol=1e-3)


def test_combat_removes_a_detected_site_shift() -> None:
    frame = sites(n_per_site=80)
    before = site_shifts(frame, "site", ["a", "b", "c"], None)
    assert "a" in before and "c" not in before
    after = site_shifts(SiteHarmonizer("combat", "site").fit_transform(frame.drop(columns="y")), "site", ["a", "b", "c"], None)
    assert "a" not in after
    out = SiteHarmonizer("combat", "site").fit_transform(frame.drop(columns="y"))
    sd = out.groupby("site")["b"].std()
    assert sd.max() / sd.min() < 1.5  # the scale effect is gone too (3x before)


def test_statistics_come_from_training_rows_only() -> None:
    frame = sites()
    train = np.arange(0, len(frame), 2)
    data = TrainingData(frame, frame["y"].to_numpy(), "binary", ("site", "a", "b", "c"))
    recipe = Recipe(family="logistic", preprocess={"harmonize": "site_standardize", "harmonize_site": "site"})
    runner = RecipeRunner().fit(data.subset(train), recipe)
    h = runner.pipeline_["prep"]["harmonize"]
    expected = frame.iloc[train].groupby("site")[["a", "b", "c"]].mean().to_numpy()
    assert np.allclose(h.site_mean_, expected)
    assert not np.allclose(h.site_mean_, frame.groupby("site")[["a", "b", "c"]].mean().to_numpy())
    # Scoring other rows, however extreme, does not move what was learned.
    poisoned = frame.iloc[1::2].assign(a=1e6)
    runner.predict_score(poisoned)
    assert np.allclose(h.site_mean_, expected)


def test_recipe_validation() -> None:
    with pytest.raises(RecipeError, match="harmonize_site"):
        Recipe.parse({"family": "logistic", "preprocess": {"harmonize": "combat"}})
    frame = sites()
    data = TrainingData(frame, frame["y"].to_numpy(), "binary", ("a", "b", "c"))
    with pytest.raises(RecipeError, match="not among the recipe's features"):
        RecipeRunner().fit(data, {"family": "logistic", "preprocess": {"harmonize": "combat", "harmonize_site": "site"}})


def test_evaluate_with_combat_on_the_fhir_example(examples_dir) -> None:
    pytest.importorskip("fhir.resources")
    from autods.runners import evaluate
    from autods.tasks import load_task

    task = load_task(examples_dir / "task-fhir-aki")
    recipe = {"family": "logistic", "preprocess": {"harmonize": "combat", "harmonize_site": "site"},
              "features": ["site", "age_at_index", "obs_loinc_2160_0_creatinine_last", "obs_loinc_2345_7_glucose_last",
                           "cond_snomed_709044004_chronic_kidney_disease"]}
    rec = evaluate(task, recipe, n_splits=3, n_resamples=50)
    assert rec.value is not None and rec.value > 0.6
