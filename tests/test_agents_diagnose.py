"""Diagnoses from evidence: each detector fires where its claim is true and stays quiet where it
is false, on observations built through the steward's own path (real small cohorts, governed and
profiled) or from results the judge recorded on shared folds; expected effects against
independent reference values (scipy's one-sample t statistic, numpy means)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from agents_helpers import post
from autods.agents.expert.design import design_choices
from autods.agents.expert.diagnose import Diagnosis, diagnose, effect_of
from autods.agents.expert.diagnose_effect import expected_effect
from autods.agents.expert.diagnose_evidence import gap, measured, model_class
from autods.agents.observation import ColumnSummary, Observation, TaskSummary
from autods.agents.snapshot import DESIGN_KEY, SUMMARY_KEY
from autods.runners.families import FAMILIES, FamilySpec
from autods.runners.recipe import Recipe


# -- observations through the steward's path -----------------------------------------------------

class _Poster:
    """Collects the steward's posts the way the server would number them."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []

    def post(self, kind: str, title: str, body: str = "", data: dict[str, Any] | None = None) -> None:
        self.posts.append(post(len(self.posts) + 1, kind, data, body=body, title=title))


def steward_summary(tmp_path: Path, frame: pd.DataFrame, front: str) -> dict[str, Any]:
    from autods.agents.steward import govern
    from autods.runfolder import RunConfig, RunFolder

    task = tmp_path / "task"
    task.mkdir(parents=True, exist_ok=True)
    frame.to_csv(task / "data.csv", index=False)
    (task / "TASK.md").write_text(f"---\n{front}\ndata: data.csv\n---\nA test cohort.\n")
    folder = RunFolder(tmp_path / "runs" / "r")
    folder.root.mkdir(parents=True)
    folder.save_config(RunConfig(name="r", task_dir=str(task)))
    folder.copy_task_spec(task)
    return govern(task, folder)


def observe(summ: dict[str, Any], results: list[dict[str, Any]] | None = None,
            champion: dict[str, Any] | None = None, extra_findings: list[dict[str, Any]] | None = None) -> Observation:
    """The observation a brain gets: the steward's posts (summary + one per warning), the design post."""
    from autods.agents.steward import post_summary

    summ = {**summ, "findings": list(summ["findings"]) + list(extra_findings or [])}
    poster = _Poster()
    post_summary(poster, summ)
    design = design_choices(summ)
    posts = poster.posts + [post(len(poster.posts) + 1, "design", {DESIGN_KEY: design}, author="biostatistician")]
    task = TaskSummary(name=summ["name"], task_type=summ["task_type"], endpoint=summ["endpoint"], metric=summ["metric"],
                       higher_is_better=summ["higher_is_better"], cv_strategy=summ["cv_strategy"],
                       n_rows=summ["n_rows"], n_units=summ["n_units"], n_events=summ.get("n_events"),
                       events_per_variable=summ.get("events_per_variable"),
                       features=[ColumnSummary(**{k: c[k] for k in ("name", "kind", "missing_fraction", "n_unique")})
                                 for c in summ["features"]],
                       excluded=summ["excluded"], findings=summ["findings"], subgroups=summ["subgroups"],
                       confounders=summ["confounders"])
    return Observation(agent="analyst-1", role="analyst", step=1, phase="execution", allowed_actions=[], task=task,
                       budget_total=20, budget_used=0, noise_floor=0.01, champion=champion, results=results or [],
                       posts=posts)


def keys(obs: Observation) -> set[str]:
    return {d.key for d in diagnose(obs)}


def one(obs: Observation, key: str) -> Diagnosis:
    (d,) = [d for d in diagnose(obs) if d.key == key]
    return d


def cohort(n: int = 400, seed: int = 0, prevalence: float = 0.35, p: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n).round(4) for i in range(p)})
    logit = 0.8 * frame["x0"] + math.log(prevalence / (1 - prevalence))
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


BINARY = "name: c\ntask_type: binary\nendpoint: y"


def needs(*families: str) -> pytest.MarkDecorator:
    """Skip until the portfolio families a test reads are registered (they land with the selection issue)."""
    missing = [f for f in families if f not in FAMILIES]
    return pytest.mark.skipif(bool(missing), reason=f"families not registered yet: {missing}")


# -- results: hand-planted on shared folds, and recorded by the judge on real cohorts ----------------

def res(rid: int, rec: dict[str, Any], folds: list[float], split: str = "folds:2x5", seed: int = 0,
        **extra: Any) -> dict[str, Any]:
    rec = Recipe.parse(rec).canonical_dict()
    return {"id": rid, "run_id": 1, "queue_item_id": rid, "proposal_id": rid,
            "recipe_hash": Recipe.parse(rec).canonical_hash(), "seed": seed, "split": split, "metric": "auroc",
            "value": float(np.mean(folds)), "higher_is_better": True, "fold_scores": [float(f) for f in folds],
            "ci_low": None, "ci_high": None, "duration_s": 1.0, "artifacts": {}, "recorded_by": "9", "created_at": 0.0,
            "family": rec["family"], "recipe": rec, **extra}


def champ_of(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": 1, "run_id": 1, "result_id": r["id"], "confirming_result_id": r["id"], "recipe_hash": r["recipe_hash"],
            "metric": r["metric"], "value": r["value"], "higher_is_better": r["higher_is_better"],
            "previous_value": None, "noise_floor": 0.01, "promoted_by": "8", "created_at": 0.0}


RNG = np.random.default_rng(7)
BASE_FOLDS = (0.75 + 0.02 * RNG.standard_normal(10)).tolist()


def shifted(delta: float, sd: float = 0.004, seed: int = 1) -> list[float]:
    noise = np.random.default_rng(seed).standard_normal(10) * sd
    return (np.asarray(BASE_FOLDS) + delta + noise).tolist()


def judged(task_dir: Path, rid: int, recipe: dict[str, Any]) -> dict[str, Any]:
    """A result as the harness records it: the judge's evaluation on the plan's folds."""
    from autods.runners import evaluate

    rec = evaluate(task_dir, recipe, n_splits=5, repeats=2, n_resamples=50, use_holdout=False)
    r = res(rid, rec.recipe.canonical_dict(), [float(f) for f in rec.fold_scores],
            split=f"folds:{rec.cv.repeats}x{rec.cv.n_splits}")
    return {**r, "value": float(rec.value), "_record": rec}


def write_task(root: Path, frame: pd.DataFrame, front: str = BINARY) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / "data.csv", index=False)
    (root / "TASK.md").write_text(f"---\n{front}\ndata: data.csv\n---\nA test cohort.\n")
    return root


# -- expected effect ----------------------------------------------------------------------------------

def test_expected_effect_is_the_paired_fold_difference_with_the_corrected_se() -> None:
    champ = res(1, {"family": "logistic"}, BASE_FOLDS)
    rel = res(2, {"family": "lightgbm"}, shifted(0.03))
    e = expected_effect([champ, rel], "lightgbm", higher_is_better=True, champion=champ_of(champ))
    d = np.asarray(rel["fold_scores"]) - np.asarray(champ["fold_scores"])
    assert e.value == pytest.approx(d.mean())
    # corrected t (Nadeau-Bengio, K=5): the ordinary one-sample t shrunk by sqrt(1 + n * n_test/n_train)
    t_scipy = stats.ttest_1samp(d, 0.0).statistic
    assert e.value / e.se == pytest.approx(t_scipy / math.sqrt(1 + 10 / 4))
    assert e.relative == "family" and e.result_ids == [1, 2]


def test_expected_effect_is_oriented_for_lower_is_better_metrics() -> None:
    champ = {**res(1, {"family": "ridge"}, [1.0 + 0.1 * i for i in range(10)]), "higher_is_better": False}
    better = {**res(2, {"family": "lightgbm"}, [0.9 + 0.1 * i + 0.001 * (i % 3) for i in range(10)]),
              "higher_is_better": False}
    e = expected_effect([champ, better], "lightgbm", higher_is_better=False, champion=champ_of(champ))
    assert e.value == pytest.approx(0.1 - 0.001 * np.mean([i % 3 for i in range(10)]))


@needs("ebm", "spline_logistic", "knn", "svm_rbf")
def test_expected_effect_walks_recipe_base_family_class_then_says_none() -> None:
    champ = res(1, {"family": "logistic"}, BASE_FOLDS)
    ebm0 = res(2, {"family": "ebm", "params": {"interactions": 0}}, shifted(0.02))
    gbm = res(3, {"family": "lightgbm", "params": {"num_leaves": 8}}, shifted(0.05, seed=3))
    rs, c = [champ, ebm0, gbm], champ_of(champ)
    assert expected_effect(rs, gbm["recipe"], higher_is_better=True, champion=c).relative == "recipe"
    assert expected_effect(rs, "lightgbm", higher_is_better=True, champion=c).relative == "family"
    spline = expected_effect(rs, {"family": "spline_logistic", "params": {}}, higher_is_better=True, champion=c)
    assert spline.relative == "class" and spline.value == pytest.approx(np.mean(ebm0["fold_scores"]) - np.mean(BASE_FOLDS))
    assert expected_effect(rs, "knn", higher_is_better=True, champion=c).relative == "class"  # interacting: lightgbm
    none = expected_effect([champ], "svm_rbf", higher_is_better=True, champion=c)
    assert none.value is None and none.se is None and "no recorded result" in none.basis
    calibrated = {"family": "calibrated", "params": {"base": "lightgbm", "base_params": {"num_leaves": 8}}}
    assert expected_effect(rs, calibrated, higher_is_better=True, champion=c).relative in ("base", "recipe")
    # structure before name: pairwise splines are estimated from the recorded trees, not the additive spline
    add_spline = res(4, {"family": "spline_logistic", "params": {"C": 1.0}}, shifted(0.01, seed=6))
    pairwise = {"family": "spline_logistic", "params": {"C": 1.0, "interactions": True}}
    e = expected_effect([*rs, add_spline], pairwise, higher_is_better=True, champion=c)
    assert e.relative == "class" and 3 in e.result_ids and 4 not in e.result_ids
    same = expected_effect(rs, "logistic", higher_is_better=True, champion=c)
    assert same.value == 0.0 and "champion itself" in same.basis


def test_expected_effect_without_shared_folds_is_unpaired_and_says_so() -> None:
    a = res(1, {"family": "logistic"}, BASE_FOLDS, split="default")
    b = res(2, {"family": "lightgbm"}, shifted(0.03)[:5], split="default")
    g = gap(measured([b])[0], measured([a])[0], True)
    se_a = np.std(BASE_FOLDS, ddof=1) / math.sqrt(10)
    se_b = np.std(b["fold_scores"], ddof=1) / math.sqrt(5)
    assert not g.paired and g.se == pytest.approx(math.hypot(se_a, se_b))
    assert g.p_value == pytest.approx(stats.norm.sf(g.diff / g.se))


@needs("spline_logistic", "ebm")
def test_model_classes_follow_the_recipe_not_only_the_family() -> None:
    assert model_class({"family": "logistic"}) == "linear"
    assert model_class({"family": "spline_logistic", "params": {"interactions": False}}) == "additive"
    assert model_class({"family": "spline_logistic", "params": {"interactions": True}}) == "interacting"
    assert model_class({"family": "ebm", "params": {"interactions": 0}}) == "additive"
    assert model_class({"family": "ebm"}) == "interacting"  # defaults: 5 pairwise terms
    assert model_class({"family": "gb_survival", "params": {"max_depth": 1}}) == "additive"
    assert model_class({"family": "calibrated", "params": {"base": "random_forest"}}) == "interacting"


# -- nonlinearity and interactions: the judge's results on real cohorts ----------------------------------

@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Three cohorts of 500: a linear truth, a U-shaped main effect, a pure x0*x1 interaction. On each the
    judge scores logistic, additive splines and boosted trees on the same 2x5 folds."""
    out = {}
    for name, truth in {"linear": lambda f: 1.2 * f["x0"] + 0.6 * f["x1"],
                        "curved": lambda f: 1.5 * (f["x0"] ** 2 - 1) + 0.6 * f["x1"],
                        "interacting": lambda f: 2.5 * f["x0"] * f["x1"]}.items():
        rng = np.random.default_rng(11)
        frame = pd.DataFrame({f"x{i}": rng.normal(size=500).round(4) for i in range(3)})
        frame["y"] = (rng.random(500) < 1 / (1 + np.exp(-truth(frame)))).astype(int)
        task = write_task(tmp_path_factory.mktemp(name), frame)
        out[name] = [judged(task, 1, {"family": "logistic"}),
                     # C=1: the default C=0.1 shrinks a U-shape enough that trees beat it on a purely additive truth
                     judged(task, 2, {"family": "spline_logistic", "params": {"C": 1.0, "interactions": False}}),
                     judged(task, 3, {"family": "lightgbm", "params": {"n_estimators": 100, "num_leaves": 8}})]
    return out


#: a steward summary as it is posted (aggregates only), for the hand-built observations
SUMM: dict[str, Any] = {
    "name": "c", "task_type": "binary", "endpoint": "y", "metric": "auroc", "higher_is_better": True,
    "cv_strategy": "stratified-cv", "n_splits": 5, "n_rows": 500, "n_units": 500, "n_events": 250,
    "events_per_variable": 80.0, "excluded": [], "phi_columns": [], "findings": [], "subgroups": [], "confounders": [],
    "features": [{"name": f"x{i}", "kind": "numeric", "missing_fraction": 0.0, "n_unique": 500, "stats": {}}
                 for i in range(3)],
    "class_counts": {"0": 250, "1": 250}}


def _obs_with(results: list[dict[str, Any]]) -> Observation:
    clean = [{k: v for k, v in r.items() if k != "_record"} for r in results]
    return observe(SUMM, clean, champ_of(clean[0]) if clean else None)


@pytest.mark.slow
@needs("spline_logistic")
def test_nonlinearity_fires_on_a_curved_effect_and_not_on_a_linear_one(shapes: dict[str, Any]) -> None:
    d = one(_obs_with(shapes["curved"]), "nonlinearity")
    assert {"result": 1} in d.evidence and {"result": 2} in d.evidence and "spline_logistic" in d.claim
    assert "nonlinearity" not in keys(_obs_with(shapes["linear"]))
    assert "nonlinearity" not in keys(_obs_with(shapes["interacting"]))  # additive splines do not help there


@pytest.mark.slow
@needs("spline_logistic", "ebm")
def test_interactions_fire_on_a_product_and_not_on_an_additive_curve(shapes: dict[str, Any]) -> None:
    d = one(_obs_with(shapes["interacting"]), "interactions")
    assert {"result": 3} in d.evidence and "lightgbm" in d.claim and d.strength > 0.95
    assert {i.family for i in d.ideas} >= {"spline_logistic", "ebm"}
    pairwise = [i for i in d.ideas if i.family == "spline_logistic"]
    assert pairwise and pairwise[0].recipe["params"]["interactions"] is True
    assert "interactions" not in keys(_obs_with(shapes["curved"]))
    assert "interactions" not in keys(_obs_with(shapes["linear"]))


@needs("spline_logistic")
def test_interactions_must_beat_the_linear_model_too_when_splines_overfit() -> None:
    champ = res(1, {"family": "logistic"}, BASE_FOLDS)
    bad_spline = res(2, {"family": "spline_logistic", "params": {"C": 100.0}}, shifted(-0.05))
    trees = res(3, {"family": "random_forest"}, shifted(0.0, seed=8))  # ties the linear model
    assert "interactions" not in keys(_obs_with([champ, bad_spline, trees]))
    better = res(3, {"family": "random_forest"}, shifted(0.03, seed=8))
    d = one(_obs_with([champ, bad_spline, better]), "interactions")
    assert "additive model (logistic)" in d.claim
    (kw,) = [k for k in d.graph_ideas(5) if k["recipe"]["family"] == "spline_logistic"]
    d_folds = np.asarray(better["fold_scores"]) - np.asarray(champ["fold_scores"])
    assert kw["expected_effect"] == pytest.approx(d_folds.mean()) and kw["effect_result_ids"] == [1, 3]
    assert "SE" in kw["effect_basis"] and kw["diagnosis_id"] == 5 and kw["if_works"] and kw["surprise_if"]


@needs("spline_logistic")
def test_nonlinearity_on_planted_results_without_an_additive_model_says_it_cannot_tell() -> None:
    champ = res(1, {"family": "logistic"}, BASE_FOLDS)
    trees = res(2, {"family": "random_forest"}, shifted(0.04))
    obs = _obs_with([champ, trees])
    d = one(obs, "nonlinearity")
    assert "nonlinear or interacting" in d.claim and "interactions" not in keys(obs)
    spline = [i for i in d.ideas if i.family == "spline_logistic"]
    assert spline and spline[0].expected_effect.value is None  # nothing additive recorded: no estimate
    tie = res(3, {"family": "random_forest", "params": {"min_samples_leaf": 5}}, shifted(0.0, seed=5))
    assert "nonlinearity" not in keys(_obs_with([champ, tie]))


# -- overfitting ----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_overfitting_fires_on_a_slope_the_judge_measured_below_point_eight(tmp_path: Path) -> None:
    from autods.judge.metrics import calibration

    frame = cohort(n=160, seed=3, p=30)  # one real signal among 30 columns, 160 rows
    task = write_task(tmp_path / "t", frame)
    slopes = {}
    results = []
    for rid, recipe in ((1, {"family": "logistic", "params": {"C": 100.0}}), (2, {"family": "logistic", "features": ["x0"]})):
        r = judged(task, rid, recipe)
        rec = r.pop("_record")
        y = frame["y"].to_numpy()[np.asarray(rec.oof.row)]
        slopes[rid] = calibration(y, np.asarray(rec.oof.pred)).slope
        results.append({**r, "calibration": {"slope": slopes[rid]}})
    assert slopes[1] < 0.8 < slopes[2]  # the premise: 30 columns barely penalised overfit, the true one alone does not
    over = one(_obs_with(results), "overfitting")  # champion: the C=100 fit
    assert {"result": 1} in over.evidence and f"{slopes[1]:.3g}" in over.claim
    calm = _obs_with(results).model_copy(update={"champion": champ_of(results[1])})
    assert "overfitting" not in keys(calm)


def test_overfitting_from_a_recorded_slope_or_train_gap_and_quiet_without_either(monkeypatch: pytest.MonkeyPatch) -> None:
    from autods.runners import calibrate  # registers the calibrated family (importing evaluate does too)

    r = res(1, {"family": "lightgbm"}, BASE_FOLDS, artifacts={"calibration_slope": "0.55"})
    d = one(_obs_with([r]), "overfitting")
    assert "0.55" in d.claim and d.evidence == [{"result": 1}]
    shrunk = [i for i in d.ideas if i.family == "lightgbm"][0]  # shrunk harder: four times larger leaves
    assert shrunk.recipe["params"]["min_child_samples"] == 80
    (platt,) = [i for i in d.ideas if i.family == calibrate.CALIBRATED]
    assert platt.recipe["params"]["base"] == "lightgbm" and platt.recipe["params"]["method"] == "platt"
    assert platt.expected_effect.relative == "base" and platt.expected_effect.value == 0.0  # its base is the champion
    monkeypatch.delitem(FAMILIES, calibrate.CALIBRATED)
    assert calibrate.CALIBRATED not in {i.family for i in one(_obs_with([r]), "overfitting").ideas}
    assert "overfitting" not in keys(_obs_with([res(1, {"family": "lightgbm"}, BASE_FOLDS,
                                                    calibration={"slope": 0.93})]))
    assert "overfitting" not in keys(_obs_with([res(1, {"family": "lightgbm"}, BASE_FOLDS)]))
    gap_ = one(_obs_with([res(1, {"family": "random_forest"}, BASE_FOLDS, train_value=0.99)]), "overfitting")
    assert "training rows" in gap_.claim
    assert "overfitting" not in keys(_obs_with([res(1, {"family": "random_forest"}, BASE_FOLDS, train_value=0.77)]))


# -- from the profile, the design and the steward's findings (real cohorts through govern) ------------------

def test_low_epv_fires_on_few_events_and_not_on_many(tmp_path: Path) -> None:
    few = cohort(n=200, seed=1, prevalence=0.08, p=8)  # ~16 events for 8 candidate variables
    obs = observe(steward_summary(tmp_path / "few", few, BINARY))
    d = one(obs, "low_epv")
    epv = obs.task.events_per_variable
    summary_post = next(p["id"] for p in obs.posts if SUMMARY_KEY in p["data"])
    assert epv is not None and epv < 10
    assert {"design": "events_per_variable", "value": epv, "finding": summary_post} in d.evidence
    assert d.finding_ids == [summary_post]  # the graph cites the steward's summary post
    assert {i.family for i in d.ideas} <= {f for f, s in FAMILIES.items() if "binary" in s.kinds}
    assert "low_epv" not in keys(observe(steward_summary(tmp_path / "many", cohort(n=600, seed=1), BINARY)))


def test_site_shift_fires_on_the_stewards_finding_and_not_on_homogeneous_sites(tmp_path: Path) -> None:
    frame = cohort(n=300, seed=2)
    frame["site"] = np.random.default_rng(2).choice(["north", "south", "east"], size=300)
    shifted_frame = frame.copy()
    shifted_frame.loc[shifted_frame["site"] == "north", "x1"] += 4.0  # a batch effect on one assay
    obs = observe(steward_summary(tmp_path / "shift", shifted_frame, BINARY + "\nsite_column: site"))
    d = one(obs, "site_shift")
    (ref,) = [r for r in d.evidence if r.get("check") == "site_shift"]
    finding_post = next(p for p in obs.posts if p["id"] == ref["finding"])
    assert finding_post["data"]["check"] == "site_shift" and finding_post["data"]["feature"] == "x1"
    assert d.finding_ids == [ref["finding"]] and "'site'" in d.claim
    from agents_helpers import DataReads

    with DataReads([tmp_path]) as reads:  # the brain decides from aggregates: diagnosing reads no data file
        assert one(obs, "site_shift") == d
    assert reads.reads == []
    harmonised = [i for i in d.ideas if i.recipe["preprocess"].get("harmonize") != "none"]
    assert harmonised and all(i.recipe["preprocess"]["harmonize_site"] == "site" for i in harmonised)
    assert "site_shift" not in keys(observe(steward_summary(tmp_path / "flat", frame, BINARY + "\nsite_column: site")))


def test_an_outcome_rate_shift_across_sites_asks_for_recalibration_not_harmonisation(tmp_path: Path) -> None:
    from autods.runners import calibrate  # registers the calibrated family

    frame = cohort(n=400, seed=12, prevalence=0.3)
    rng = np.random.default_rng(12)
    frame["site"] = rng.choice(["north", "south"], size=400)
    north = frame["site"] == "north"
    frame.loc[north, "y"] = (rng.random(int(north.sum())) < 0.7).astype(int)
    d = one(observe(steward_summary(tmp_path, frame, BINARY + "\nsite_column: site")), "site_shift")
    assert d.claim.startswith("site or batch shift: the outcome rate differs strongly across 'site'")
    assert [i.family for i in d.ideas] == [calibrate.CALIBRATED]
    assert d.ideas[0].recipe["params"]["base"] == "logistic"  # nothing recorded yet: the default model


def test_informative_missingness_fires_when_absence_tracks_the_outcome(tmp_path: Path) -> None:
    frame = cohort(n=400, seed=4)
    rng = np.random.default_rng(4)
    tied = frame.copy()  # lactate is drawn mostly for the patients who go on to have the event
    tied["lactate"] = np.where(rng.random(400) < np.where(tied["y"] == 1, 0.8, 0.15), rng.normal(2, 1, 400), np.nan)
    d = one(observe(steward_summary(tmp_path / "tied", tied, BINARY)), "missingness")
    assert "lactate" in d.claim and d.finding_ids
    (frac,) = [r for r in d.evidence if r.get("profile") == "features.lactate.missing_fraction"]
    assert frac["value"] == pytest.approx(float(tied["lactate"].isna().mean()), abs=1e-3)
    at_random = frame.copy()
    at_random["lactate"] = np.where(rng.random(400) < 0.5, rng.normal(2, 1, 400), np.nan)
    assert "missingness" not in keys(observe(steward_summary(tmp_path / "mcar", at_random, BINARY)))


def test_informative_missingness_from_an_indicator_twin_in_the_results() -> None:
    without = res(1, {"family": "logistic", "preprocess": {"add_indicator": False, "impute": "mean"}}, BASE_FOLDS)
    with_ = res(2, {"family": "logistic", "preprocess": {"add_indicator": True, "impute": "mean"}}, shifted(0.02))
    d = one(_obs_with([without, with_]), "missingness")
    assert {"result": 1} in d.evidence and {"result": 2} in d.evidence
    tie = res(2, {"family": "logistic", "preprocess": {"add_indicator": True, "impute": "mean"}}, shifted(0.0, seed=9))
    assert "missingness" not in keys(_obs_with([without, tie]))
    # the library's contrast: the default (median fill + indicators) against mean fill without indicators
    default = res(3, {"family": "logistic"}, shifted(0.02))
    d = one(_obs_with([without, default]), "missingness")
    assert "fills mean vs median" in d.claim
    other_family = res(3, {"family": "lightgbm"}, shifted(0.02))  # not a twin: a different model
    assert "missingness" not in keys(_obs_with([without, other_family]))


def test_class_imbalance_fires_on_a_rare_outcome_and_not_on_a_common_one(tmp_path: Path) -> None:
    rare = observe(steward_summary(tmp_path / "rare", cohort(n=800, seed=5, prevalence=0.05, p=3), BINARY))
    d = one(rare, "class_imbalance")
    counts = d.evidence[0]["value"]
    assert min(counts.values()) / max(counts.values()) < 0.2
    balanced = [i for i in d.ideas if i.recipe["params"].get("class_weight") == "balanced"]
    assert balanced and "prevalence-invariant" in balanced[0].if_fails
    common = observe(steward_summary(tmp_path / "common", cohort(n=400, seed=5, prevalence=0.4, p=3), BINARY))
    assert "class_imbalance" not in keys(common)


def test_p_over_n_fires_on_a_wide_omics_like_table_and_not_on_a_tall_one(tmp_path: Path) -> None:
    wide = observe(steward_summary(tmp_path / "wide", cohort(n=60, seed=6, p=90), BINARY))
    d = one(wide, "p_over_n")
    assert {"profile": "n_features", "value": 90, "finding": 1} in d.evidence
    assert any(i.family == "elastic_net" and i.recipe["params"]["l1_ratio"] == 0.9 for i in d.ideas)
    assert "p_over_n" not in keys(observe(steward_summary(tmp_path / "tall", cohort(n=300, seed=6, p=10), BINARY)))


def _hand_summary(**kw: Any) -> dict[str, Any]:
    return {**SUMM, **kw}


def test_subgroups_fire_on_a_subgroup_gap_finding_and_stay_quiet_otherwise() -> None:
    gap_finding = {"check": "subgroup.gap", "severity": "warning", "feature": "sex",
                   "message": "auroc in sex=F is 0.61 (95% CI 0.55-0.67, n=210), below the overall 0.78"}
    d = one(observe(_hand_summary(), extra_findings=[gap_finding]), "subgroups")
    assert "sex" in d.claim and d.finding_ids
    assert "subgroups" not in keys(observe(_hand_summary()))


def test_drift_needs_a_time_column_and_a_temporal_finding() -> None:
    finding = {"check": "temporal_shift", "severity": "warning", "feature": "y",
               "message": "outcome rate moves from 0.21 (2015) to 0.34 (2021)"}
    d = one(observe(_hand_summary(time_column="admit_date"), extra_findings=[finding]), "drift")
    assert "admit_date" in d.claim and d.finding_ids
    assert "drift" not in keys(observe(_hand_summary(), extra_findings=[finding]))  # no time column
    assert "drift" not in keys(observe(_hand_summary(time_column="admit_date")))  # no temporal finding


# -- ideas follow the registry at call time -------------------------------------------------------------

@needs("spline_logistic")
def test_ideas_use_only_families_registered_for_the_task_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    champ = res(1, {"family": "logistic"}, BASE_FOLDS)
    trees = res(2, {"family": "random_forest"}, shifted(0.04))
    obs = _obs_with([champ, trees])
    assert "spline_logistic" in {i.family for i in one(obs, "nonlinearity").ideas}
    monkeypatch.delitem(FAMILIES, "spline_logistic")
    monkeypatch.delitem(FAMILIES, "ensemble", raising=False)
    ideas = one(obs, "nonlinearity").ideas
    assert {i.family for i in ideas}.isdisjoint({"spline_logistic", "ensemble"})
    for d in diagnose(obs):
        for i in d.ideas:
            assert "binary" in FAMILIES[i.family].kinds and Recipe.parse(i.recipe).canonical_dict() == i.recipe
            assert i.if_works and i.if_fails and i.surprise_if


def test_an_ensemble_idea_appears_once_ensembles_are_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    def _members_must_parse(kind: str, p: dict[str, Any], seed: int) -> Any:
        raise AssertionError("never built here")

    if "ensemble" not in FAMILIES:
        monkeypatch.setitem(FAMILIES, "ensemble", FamilySpec("ensemble", frozenset({"binary"}),
                                                              {"members": [], "method": "caruana"}, {},
                                                              _members_must_parse))
    champ = res(1, {"family": "logistic"}, BASE_FOLDS)
    trees = res(2, {"family": "random_forest"}, shifted(0.04))
    (ens,) = [i for i in one(_obs_with([champ, trees]), "nonlinearity").ideas if i.family == "ensemble"]
    assert [m["family"] for m in ens.recipe["params"]["members"]] == ["logistic", "random_forest"]
    assert ens.expected_effect.value is None  # no ensemble recorded: no estimate


def test_survival_diagnoses_suggest_survival_families_only() -> None:
    summ = _hand_summary(task_type="survival", metric="c_index", events_per_variable=4.0, n_events=40,
                         class_counts=None)
    cox = {**res(1, {"family": "cox"}, BASE_FOLDS), "metric": "c_index"}
    spline = {**res(2, {"family": "spline_cox"}, shifted(0.03)), "metric": "c_index"} if "spline_cox" in FAMILIES \
        else {**res(2, {"family": "gb_survival", "params": {"max_depth": 1}}, shifted(0.03)), "metric": "c_index"}
    obs = observe(summ, [cox, spline], champ_of(cox))
    assert {"low_epv", "nonlinearity"} <= keys(obs)
    for d in diagnose(obs):
        assert d.ideas and all("survival" in FAMILIES[i.family].kinds for i in d.ideas)
    assert effect_of(obs, spline["recipe"]).value == pytest.approx(np.mean(spline["fold_scores"]) - np.mean(BASE_FOLDS))


@needs("spline_logistic")
def test_ideas_are_never_a_recipe_already_recorded_and_serialise() -> None:
    champ = res(1, {"family": "logistic"}, BASE_FOLDS)
    trees = res(2, {"family": "random_forest"}, shifted(0.04))
    spline = res(3, {"family": "spline_logistic"}, shifted(0.0, seed=4))
    obs = _obs_with([champ, trees, spline])
    recorded = {r["recipe_hash"] for r in obs.results}
    for d in diagnose(obs):
        assert all(Recipe.parse(i.recipe).canonical_hash() not in recorded for i in d.ideas)
        json.dumps(d.as_dict())


@pytest.mark.slow  # the in-process server's first import costs ~10 s on a loaded machine
def test_a_diagnosis_and_its_ideas_are_accepted_by_the_graph_server(tmp_path: Path) -> None:
    from agents_helpers import InProcess
    from autods.agents.steward import post_summary

    summ = steward_summary(tmp_path / "rare", cohort(n=600, seed=8, prevalence=0.05, p=3), BINARY)
    h = InProcess(tmp_path / "state.db")
    try:
        post_summary(h.client("steward", "steward"), summ)
        analyst = h.client("analyst-1", "analyst")
        server_posts = [p.model_dump(mode="json") for p in analyst.list_posts()]
        obs = observe(summ).model_copy(update={"posts": server_posts + observe(summ).posts[-1:]})
        d = one(obs, "class_imbalance")
        stored = analyst.add_diagnosis(**d.graph_diagnosis())
        assert stored.finding_ids == d.finding_ids and stored.claim.startswith("[class_imbalance]")
        ideas = [analyst.propose_idea(**kw) for kw in d.graph_ideas(stored.id)]
        assert ideas and all(i.diagnosis_id == stored.id and i.if_works and i.if_fails for i in ideas)
        assert all(i.effect_evidence["basis"].startswith("no estimate") for i in ideas)  # nothing recorded yet
    finally:
        h.close()


def test_seeds_of_one_recipe_pool_fold_by_fold_and_diagnoses_come_strongest_first() -> None:
    a = res(1, {"family": "logistic"}, BASE_FOLDS, seed=0)
    b = res(2, {"family": "logistic"}, shifted(0.01), seed=1)
    (m,) = measured([a, b])
    assert m.result_ids == (1, 2)
    assert list(m.folds.values()) == pytest.approx(list((np.asarray(BASE_FOLDS) + np.asarray(shifted(0.01))) / 2))
    assert list(m.folds) == [f"r{r}k{k}" for r in range(2) for k in range(5)]  # the plan's fold keys
    obs = observe(_hand_summary(events_per_variable=2.0, class_counts={"0": 950, "1": 50}), [a], champ_of(a))
    found = diagnose(obs)
    assert [d.key for d in found][:2] == ["low_epv", "class_imbalance"]  # EPV 2 outranks a 1:19 imbalance
    assert [d.strength for d in found] == sorted((d.strength for d in found), reverse=True)


def test_nonlinearity_is_direction_aware_on_a_lower_is_better_metric() -> None:
    def low(rid: int, rec: dict[str, Any], folds: list[float]) -> dict[str, Any]:
        return {**res(rid, rec, folds), "metric": "rmse", "higher_is_better": False}

    ridge = low(1, {"family": "ridge"}, [10 + f for f in BASE_FOLDS])
    spline = low(2, {"family": "spline_ridge"}, [10 + f - 0.5 for f in shifted(0.0)])
    worse = low(2, {"family": "spline_ridge"}, [10 + f + 0.5 for f in shifted(0.0)])
    summ = _hand_summary(task_type="regression", metric="rmse", higher_is_better=False, class_counts=None)
    d = one(observe(summ, [ridge, spline], champ_of(ridge)), "nonlinearity")
    assert "spline_ridge" in d.claim and "gain +0.49" in d.claim
    assert "nonlinearity" not in keys(observe(summ, [ridge, worse], champ_of(ridge)))
