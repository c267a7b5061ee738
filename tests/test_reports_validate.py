"""validate_champion: refit on development rows only, one scoring of the held-out split, and
every validation number against a reference implementation (sklearn, statsmodels, sksurv,
lifelines), on synthetic tasks with known structure (tests/report_fixtures.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_check import check_report
from report_fixtures import shared_synthetic
from sklearn.metrics import roc_auc_score

from autods import load_model
from autods.errors import JudgeError, TestSetAlreadyScored
from autods.judge.holdout import HoldoutLedger, HoldoutSplit
from autods.reports import build_fact_sheet, validate_champion
from autods.reports.checks import validation_findings
from autods.reports.html import render_html


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synthetic-runs")


def _sheet(root: Path) -> dict:
    return json.loads((root / "fact_sheet.json").read_text())


def _governed(root: Path) -> pd.DataFrame:
    return pd.read_parquet(root / "analytic" / "frame.parquet")


def _champion_recipe(root: Path) -> tuple[dict, str]:
    recipe = json.loads((root / "champion" / "recipe.json").read_text())
    exp = recipe.pop("experiment_id")
    recipe.pop("recipe_hash")
    return recipe, exp


def test_champion_is_refit_on_the_development_rows_only(base: Path) -> None:
    root = shared_synthetic("binary", base)
    split = HoldoutSplit.load(root / "holdout.json")
    model = load_model(root, which="tested")
    scaler = (model.runner_.pipeline_.named_steps["prep"].named_steps["columns"]
              .named_transformers_["numeric"].named_steps["scale"])
    assert scaler.n_samples_seen_ == len(split.train_idx) < len(_governed(root))


def test_held_out_score_matches_sklearn_on_the_test_rows(base: Path) -> None:
    root = shared_synthetic("binary", base)
    split, frame, sheet = HoldoutSplit.load(root / "holdout.json"), _governed(root), _sheet(root)
    test = frame.iloc[split.test_idx]
    p = load_model(root, which="tested").predict_proba(test)[:, 1]
    assert sheet["champion"]["test"]["value"] == pytest.approx(roc_auc_score(test["y"], p), abs=1e-12)
    assert sheet["champion"]["test"]["n"] == len(split.test_idx)
    low, high = sheet["champion"]["test"]["ci_low"], sheet["champion"]["test"]["ci_high"]
    assert low < sheet["champion"]["test"]["value"] < high


def test_the_held_out_split_is_scored_exactly_once(base: Path, tmp_path: Path) -> None:
    root = shutil.copytree(shared_synthetic("binary", base), tmp_path / "run")
    ledger = HoldoutLedger(root / "holdout_ledger.json")
    before = ledger.records()
    assert len(before) == 1 and next(iter(before.values()))["status"] == "scored"
    recipe, exp = _champion_recipe(root)
    again = validate_champion(root, recipe, seed=0, experiment_id=exp, n_resamples=100)
    assert ledger.records() == before  # read back, not re-scored
    assert again["test"]["value"] == _sheet(root)["champion"]["test"]["value"]
    with pytest.raises(TestSetAlreadyScored):
        ledger.score_once(HoldoutSplit.load(root / "holdout.json"), lambda idx: 0.0)


def test_another_model_cannot_take_a_second_look_at_the_test_split(base: Path, tmp_path: Path) -> None:
    root = shutil.copytree(shared_synthetic("binary", base), tmp_path / "run")
    other = next(r for r in _sheet(root)["experiment_log"] if r["family"] == "lightgbm")
    recipe = json.loads((root / "artifacts" / other["experiment_id"] / "record.json").read_text())["recipe"]
    out = validate_champion(root, recipe, seed=other["seed"], experiment_id=other["experiment_id"], n_resamples=100)
    assert out["test"] is None
    assert any("already scored" in n for n in out["notes"])
    assert any(f["check"] == "validation.no_test" for f in out["findings"])


def test_wrong_experiment_id_is_refused(base: Path, tmp_path: Path) -> None:
    root = shutil.copytree(shared_synthetic("binary", base), tmp_path / "run")
    recipe, _ = _champion_recipe(root)
    other = next(r for r in _sheet(root)["experiment_log"] if r["family"] == "lightgbm")
    with pytest.raises(JudgeError, match="another recipe"):
        validate_champion(root, recipe, seed=0, experiment_id=other["experiment_id"], n_resamples=100)


def _oof(root: Path, sheet: dict) -> tuple[np.ndarray, pd.DataFrame]:
    oof = pd.read_parquet(root / "artifacts" / sheet["champion"]["experiment_id"] / "oof.parquet")
    return oof["pred"].to_numpy(), _governed(root).iloc[oof["row"].to_numpy()]


def test_calibration_matches_statsmodels(base: Path) -> None:
    import statsmodels.api as sm

    root = shared_synthetic("binary", base)
    sheet = _sheet(root)
    p, rows = _oof(root, sheet)
    lp = np.log(p / (1 - p))
    slope = sm.GLM(rows["y"].to_numpy(), sm.add_constant(lp), family=sm.families.Binomial()).fit().params[1]
    citl = sm.GLM(rows["y"].to_numpy(), np.ones((len(p), 1)), family=sm.families.Binomial(), offset=lp).fit().params[0]
    cal = sheet["champion"]["calibration"]
    assert cal["slope"] == pytest.approx(slope, rel=1e-6)
    assert cal["intercept"] == pytest.approx(citl, abs=1e-6)
    assert cal["brier"] == pytest.approx(np.mean((p - rows["y"].to_numpy()) ** 2), rel=1e-12)


def test_subgroup_metrics_match_sklearn(base: Path) -> None:
    root = shared_synthetic("binary", base)
    sheet = _sheet(root)
    p, rows = _oof(root, sheet)
    by_group = {s["group"]: s for s in sheet["subgroups"] if s["column"] == "group"}
    assert set(by_group) == {"A", "B"}
    for g, s in by_group.items():
        mask = (rows["group"] == g).to_numpy()
        assert s["n"] == int(mask.sum())
        assert s["value"] == pytest.approx(roc_auc_score(rows["y"].to_numpy()[mask], p[mask]), abs=1e-12)
        assert s["ci_low"] < s["value"] < s["ci_high"]


def test_external_validation_drops_phi_and_rows_without_endpoint(base: Path) -> None:
    root = shared_synthetic("binary", base)
    sheet = _sheet(root)
    raw = pd.read_csv(Path(json.loads((root / "run.json").read_text())["task_dir"]) / "data" / "external.csv")
    kept = raw.dropna(subset=["y"])
    ext = sheet["champion"]["external"]
    assert ext["n"] == len(kept) == 190
    p = load_model(root, which="tested").predict_proba(kept)[:, 1]
    assert ext["value"] == pytest.approx(roc_auc_score(kept["y"].astype(int), p), abs=1e-12)
    validation = json.loads((root / "validation.json").read_text())
    assert validation["external"]["phi_columns_dropped"] == ["mrn"]
    assert any(step["step"] == "external validation rows" and step["n_rows"] == 190 for step in sheet["cohort_flow"])


def test_permutation_importance_ranks_the_planted_feature_first(base: Path) -> None:
    imp = _sheet(shared_synthetic("binary", base))["importance"]
    names = [f["feature"] for f in imp["features"]]
    assert names[0] == "x_strong"
    noise = next(f for f in imp["features"] if f["feature"] == "noise")
    assert abs(noise["mean"]) < imp["features"][0]["mean"] / 10
    assert imp["n_rows"] == len(HoldoutSplit.load(shared_synthetic("binary", base) / "holdout.json").test_idx)


def test_survival_validation_matches_sksurv_and_lifelines(base: Path) -> None:
    from lifelines.statistics import multivariate_logrank_test
    from sksurv.metrics import concordance_index_censored

    root = shared_synthetic("survival", base)
    sheet, frame = _sheet(root), _governed(root)
    split = HoldoutSplit.load(root / "holdout.json")
    test = frame.iloc[split.test_idx]
    risk = load_model(root, which="tested").predict(test)
    c = concordance_index_censored(test["event"].astype(bool).to_numpy(), test["time"].to_numpy(), risk)[0]
    assert sheet["champion"]["test"]["value"] == pytest.approx(c, abs=1e-12)
    oof_risk, rows = _oof(root, sheet)
    group = np.digitize(oof_risk, np.quantile(oof_risk, [1 / 3, 2 / 3]))
    ref = multivariate_logrank_test(rows["time"], group, rows["event"])
    km = sheet["figures"]["cv"]["km"]
    assert km["logrank_p"] == pytest.approx(ref.p_value, rel=1e-6)
    assert [g["n"] for g in km["groups"]] == np.bincount(group).tolist()
    sf = load_model(root, which="tested").predict_survival_function(test.head(3), [1.0, 5.0, 10.0])
    assert sf.shape == (3, 3) and np.all(np.diff(sf, axis=1) <= 1e-12)


def test_biomarker_track_uses_development_rows_and_renders(base: Path, tmp_path: Path) -> None:
    from autods.judge.biomarkers import BatteryConfig
    from autods.reports import biomarker_track

    root = shutil.copytree(shared_synthetic("regression", base), tmp_path / "run")
    doc = biomarker_track(root, config=BatteryConfig(seed=0, n_permutations=200, n_bootstrap=200), isolated=False)
    assert doc["status"] == "run"
    assert doc["n_rows"] == len(HoldoutSplit.load(root / "holdout.json").train_idx)
    labels = {c["feature"]: c["label"] for c in doc["candidates"]}
    assert labels["x_strong"] == "screened" and labels["noise"] != "screened"
    assert "mrn" not in labels  # PHI was dropped before the track ran
    sheet = build_fact_sheet(root)
    assert sheet["candidates"] == doc["candidates"]
    n, problems = check_report(render_html(sheet), sheet)
    assert problems == [] and n > 100


@pytest.mark.parametrize(("patch", "check"), [
    ({"cv": {"value": 0.995, "ci_low": 0.99, "ci_high": 0.999, "design": {}}, "test": {"value": 0.995}},
     "leakage.near_perfect"),
    ({"test": {"value": 0.70}}, "validation.test_gap"),
    ({"oof": {"calibration": {"slope": 0.6, "intercept": 0.0, "brier": 0.2}}}, "validation.calibration"),
    ({"subgroup_gaps": [{"column": "sex", "worst": "F", "best": "M", "gap": 0.08}]}, "fairness.subgroup_gap"),
    ({"inputs": ["x_strong", "mrn"]}, "leakage.excluded_input"),
    ({"test": None}, "validation.no_test"),
])
def test_validation_findings_fire_on_their_condition(base: Path, patch: dict, check: str) -> None:
    from autods.reports._context import load_context

    ctx = load_context(shared_synthetic("binary", base))
    healthy = {"metric": "auroc", "inputs": ["x_strong"], "cv": {"value": 0.8, "ci_low": 0.75, "ci_high": 0.85,
                                                                 "design": {}},
               "test": {"value": 0.8}, "oof": {"calibration": {"slope": 1.0, "intercept": 0.0, "brier": 0.2}},
               "subgroup_gaps": [], "subgroups": [], "external": {"value": 0.8}}
    assert validation_findings(ctx, healthy) == []
    assert [f["check"] for f in validation_findings(ctx, {**healthy, **patch})] == [check]


@pytest.mark.slow  # shap's first explanation compiles numba kernels (~25 s here)
def test_shap_ranks_the_planted_feature_first(base: Path) -> None:
    pytest.importorskip("shap")
    from autods.reports.importance import shap_importances

    root = shared_synthetic("binary", base)
    split = HoldoutSplit.load(root / "holdout.json")
    out = shap_importances(load_model(root, which="tested").runner_, _governed(root).iloc[split.test_idx], seed=0)
    assert out is not None and out["features"][0]["feature"] == "x_strong"
    assert {f["feature"] for f in out["features"]} == {"x_strong", "x_weak", "noise", "group"}


@pytest.mark.slow
def test_multiclass_champion_is_validated_and_reported(base: Path) -> None:
    from sklearn.metrics import f1_score

    root = shared_synthetic("multiclass", base)
    sheet, frame = _sheet(root), _governed(root)
    test = frame.iloc[HoldoutSplit.load(root / "holdout.json").test_idx]
    model = load_model(root, which="tested")
    assert model.classes_ == ["mild", "moderate", "severe"]
    assert model.predict_proba(test).shape == (len(test), 3)
    expected = f1_score(test["y"], model.predict(test), average="macro", zero_division=0)
    assert sheet["champion"]["metric"] == "macro_f1"
    assert sheet["champion"]["test"]["value"] == pytest.approx(expected, abs=1e-12)
    assert sheet["champion"]["calibration"] is None
    cm = sheet["figures"]["test"]["confusion"]
    assert cm["labels"] == model.classes_
    assert np.trace(cm["matrix"]) == int((model.predict(test) == test["y"].to_numpy()).sum())
    assert np.sum(cm["matrix"]) == len(test)
    n, problems = check_report(render_html(sheet), sheet)
    assert problems == [] and n > 100


def test_wide_inputs_shuffle_a_shortlist_that_keeps_the_planted_feature(base: Path) -> None:
    from autods.reports.importance import permutation_importances

    root = shared_synthetic("binary", base)
    split = HoldoutSplit.load(root / "holdout.json")
    test = _governed(root).iloc[split.test_idx]
    out = permutation_importances(load_model(root, which="tested").runner_, test, test["y"].to_numpy(), "auroc", seed=0,
                                  n_repeats=2, max_features=2)
    assert out["n_features_total"] == 4 and out["n_features_permuted"] == 2
    # 'group' is categorical (always kept); of the numeric inputs, x_strong drives the prediction
    assert {f["feature"] for f in out["features"]} == {"group", "x_strong"}
