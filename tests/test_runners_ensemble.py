"""Ensembles as experiments (issue 12, deliverable 5): Caruana selection, stacking, fold-honest weights,
and an ensemble through evaluate -> save -> load_model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autods.errors import RecipeError
from autods.runners import Recipe, evaluate
from autods.runners.ensemble import EnsembleRunner
from autods.runners.ensemble_weights import caruana_weights, fit_combiner, fold_combiners

MEMBERS = [{"family": "logistic"}, {"family": "random_forest", "params": {"n_estimators": 25, "min_samples_leaf": 5}}]
#: two fast members with their own preprocessing: the second sees the curved part of the signal
FAST = [{"family": "logistic"},
        {"family": "logistic", "preprocess": {"composites": [{"name": "b2", "expr": "b * b"}]}}]


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    # BLAS threads oversubscribe this 2-core machine: L-BFGS on 100 x 20 rows ran ~10x slower with them.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _task(root: Path, n: int = 160, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    frame["y"] = (frame.a + frame.b ** 2 - 1 + rng.normal(size=n) > 0).astype(int)  # a linear and a curved part
    (root / "data.csv").write_text(frame.to_csv(index=False))
    (root / "TASK.md").write_text("---\nname: ens\ntask_type: binary\nendpoint: y\ndata: data.csv\n---\nA test.\n")
    return root


def test_caruana_selection_matches_the_hand_worked_example() -> None:
    # y = 1..4; A misses the last row by +1 (SSE 1), B by -1.5 (SSE 2.25), C every row by +0.6 (SSE 1.44).
    # Round 1 picks A (SSE 1). Round 2: A+A 1, A+B 0.0625 (last row 3.75), A+C 0.91 -> B.
    # Round 3: +A 0.0278 (last row 4.1667), +B 0.444, +C 0.1211 -> A. Round 4: +A 0.1406, +B 0.0625, +C 0.1431
    # -> B, worse than round 3. The best round is 3: weights A 2/3, B 1/3, C 0.
    y = np.array([1.0, 2.0, 3.0, 4.0])
    P = np.column_stack([[1, 2, 3, 5], [1, 2, 3, 2.5], [1.6, 2.6, 3.6, 4.6]]).astype(float)
    np.testing.assert_allclose(caruana_weights(P, y, "rmse", rounds=4), [2 / 3, 1 / 3, 0.0])
    np.testing.assert_allclose(caruana_weights(P, y, "rmse", rounds=1), [1.0, 0.0, 0.0])  # round 1 alone: A


def _oof_world(seed: int = 1) -> tuple[list[str], list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Two repeats of 4 folds over 80 rows; three members' fixed out-of-fold P(1)."""
    rng = np.random.default_rng(seed)
    n = 80
    y = rng.integers(0, 2, n)
    members = np.column_stack([np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, s, n), 0.01, 0.99)
                               for s in (0.15, 0.3, 0.5)])
    keys, tests, scores = [], [], []
    for r in range(2):
        order = np.random.default_rng(10 + r).permutation(n)
        for k, rows in enumerate(np.array_split(order, 4)):
            keys.append(f"r{r}k{k}")
            tests.append(np.sort(rows))
            scores.append(members[np.sort(rows)])
    return keys, tests, scores, y


@pytest.mark.parametrize("method", ["caruana", "stack"])
def test_the_weights_of_fold_k_never_read_fold_k_labels(method: str) -> None:
    keys, tests, scores, y = _oof_world()
    params = {"method": method, "rounds": 8, "penalty": 1.0}
    before = fold_combiners(keys, tests, scores, y, "binary", params, "auroc")
    k = keys.index("r0k2")
    permuted = y.copy()
    rows = tests[k]
    permuted[rows] = np.random.default_rng(3).permutation(1 - y[rows])  # fold k's labels scrambled and flipped
    after = fold_combiners(keys, tests, scores, permuted, "binary", params, "auroc")
    np.testing.assert_array_equal(before["r0k2"].weights, after["r0k2"].weights)
    assert before["r0k2"].intercept == after["r0k2"].intercept
    # the other folds of repeat 0 do fit on fold k's rows: their weights move (the test can fail)
    assert any(not np.array_equal(before[key].weights, after[key].weights) for key in ("r0k0", "r0k1", "r0k3"))
    # repeat 1 uses its own folds; fold k's rows sit in its folds too, but never as the fold being weighted for r0k2
    assert set(before) == set(keys)


def test_stacking_is_logistic_regression_on_the_logit_of_the_oof_matrix() -> None:
    from sklearn.linear_model import LogisticRegression
    import statsmodels.api as sm

    _, _, scores, y = _oof_world()
    P = np.concatenate(scores[:4])
    yy = np.concatenate([y[t] for t in _oof_world()[1][:4]])
    Z = np.log(P) - np.log1p(-P)
    comb = fit_combiner(P, yy, "binary", "stack", "auroc", penalty=1.0)
    direct = LogisticRegression(C=1.0, max_iter=2000).fit(Z, yy)
    np.testing.assert_allclose(comb.weights, direct.coef_[0], rtol=1e-6)
    np.testing.assert_allclose(comb.predict(P[:10]), direct.predict_proba(Z[:10])[:, 1], rtol=1e-6)
    # with almost no penalty the meta-learner is the maximum-likelihood logistic fit (statsmodels)
    loose = fit_combiner(P, yy, "binary", "stack", "auroc", penalty=1e-5)
    mle = sm.Logit(yy, sm.add_constant(Z)).fit(disp=0)
    np.testing.assert_allclose(loose.weights, mle.params[1:], rtol=2e-3)
    np.testing.assert_allclose(loose.intercept, mle.params[0], atol=2e-3)


def test_ridge_stack_matches_sklearn_ridge() -> None:
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(4)
    y = rng.normal(size=60)
    P = np.column_stack([y + rng.normal(0, s, 60) for s in (0.3, 0.8)])
    comb = fit_combiner(P, y, "regression", "stack", "r2", penalty=2.0)
    direct = Ridge(alpha=2.0).fit(P, y)
    np.testing.assert_allclose(comb.weights, direct.coef_)
    np.testing.assert_allclose(comb.predict(P), direct.predict(P))


def test_an_ensemble_recipe_is_checked_when_parsed() -> None:
    with pytest.raises(RecipeError, match="at least two members"):
        Recipe.parse({"family": "ensemble", "params": {"members": [{"family": "logistic"}]}})
    with pytest.raises(RecipeError, match="cannot itself be an ensemble"):
        Recipe.parse({"family": "ensemble", "params": {"members": [
            {"family": "logistic"}, {"family": "ensemble", "params": {"members": MEMBERS}}]}})
    with pytest.raises(RecipeError, match="no parameter 'nope'"):
        Recipe.parse({"family": "ensemble", "params": {"members": [
            {"family": "logistic", "params": {"nope": 1}}, {"family": "ridge"}]}})
    a = Recipe.parse({"family": "ensemble", "params": {"members": MEMBERS}})
    b = Recipe.parse({"family": "ensemble", "params": {"members": [Recipe.parse(m).canonical_dict() for m in MEMBERS],
                                                       "method": "caruana"}})
    assert a.canonical_hash() == b.canonical_hash()  # members are canonicalised


def test_an_ensemble_through_evaluate_and_load_model(tmp_path: Path) -> None:
    from autods.reports.model_io import ChampionModel, load_model, save_model
    from autods.runners.pipeline import TrainingData
    from autods.tasks import load_task

    task_dir = _task(tmp_path)
    recipe = {"family": "ensemble", "params": {"members": FAST, "method": "caruana", "rounds": 10}}
    rec = evaluate(task_dir, recipe, n_resamples=50, repeats=2)
    single = evaluate(task_dir, FAST[0], n_resamples=50, repeats=2)
    assert rec.fold_keys == single.fold_keys  # the same judge folds as every other experiment
    assert [m["family"] for m in rec.ensemble["members"]] == ["logistic", "logistic"]
    weights = [m["weight"] for m in rec.ensemble["members"]]
    assert weights[1] > weights[0]  # the member with the curved term carries the ensemble
    assert sum(m["weight"] for m in rec.ensemble["members"]) == pytest.approx(1.0)
    assert set(rec.ensemble["weights_by_fold"]) == set(rec.fold_keys)
    assert rec.ensemble["members"][0]["recipe_hash"] == single.recipe_hash
    assert rec.oof_all is not None and len(rec.oof_all.row) == rec.cv.repeats * len(rec.oof.row)
    assert rec.value is not None and rec.value > single.value  # the curved part is real signal

    task = load_task(task_dir)
    data = TrainingData.from_task(task)
    runner = EnsembleRunner().fit(data, recipe)
    assert len(runner.weights_) == 2 and sum(runner.weights_) == pytest.approx(1.0)
    model = ChampionModel(runner, task_type="binary", classes=[0, 1], experiment_id="7", metric="auroc",
                          governance={"actions": [], "phi_columns": []}, unit_column=None)
    save_model(model, tmp_path / "run" / "champion")
    loaded = load_model(tmp_path / "run")
    rows = task.frame.head(15)
    np.testing.assert_allclose(loaded.predict_proba(rows)[:, 1], runner.predict_score(rows))
    assert loaded.recipe_["family"] == "ensemble" and set(loaded.predict(rows)) <= {0, 1}
    # the combination is what the weights say: members' P(1) averaged with the fitted weights
    members = np.column_stack([r.predict_score(rows) for r in runner.pipeline_[-1].runners_])
    np.testing.assert_allclose(runner.predict_score(rows), members @ np.asarray(runner.weights_))


def _survival(n: int = 150, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    from sksurv.util import Surv

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    t = rng.exponential(np.exp(-(0.8 * x[:, 0] + 0.4 * x[:, 1])))
    c = rng.exponential(2.0, n)
    y = Surv.from_arrays(event=t <= c, time=np.minimum(t, c))
    # two members' risk scores on different scales (a linear predictor and an exp of another)
    P = np.column_stack([x[:, 0] + 0.3 * rng.normal(size=n), np.exp(0.5 * x[:, 1])])
    return P, y


def test_cox_stack_matches_lifelines_on_standardised_risks() -> None:
    from lifelines import CoxPHFitter

    P, y = _survival()
    comb = fit_combiner(P, y, "survival", "stack", "c_index", penalty=1e-8)
    Z = (P - P.mean(axis=0)) / P.std(axis=0)
    frame = pd.DataFrame(Z, columns=["m0", "m1"]).assign(time=y["time"], event=y["event"].astype(int))
    ref = CoxPHFitter().fit(frame, duration_col="time", event_col="event")  # continuous times: no ties
    np.testing.assert_allclose(comb.weights, ref.params_[["m0", "m1"]].to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(comb.predict(P[:5]), Z[:5] @ comb.weights, rtol=1e-6)


def test_caruana_on_survival_averages_standardised_risks() -> None:
    from autods.judge.metrics import compute_metric

    P, y = _survival()
    comb = fit_combiner(P, y, "survival", "caruana", "c_index", rounds=10)
    assert comb.weights.sum() == pytest.approx(1.0) and comb.weights[0] > comb.weights[1]  # m0 carries more signal
    Z = (P - P.mean(axis=0)) / P.std(axis=0)
    np.testing.assert_allclose(comb.predict(P), Z @ comb.weights)
    best_single = max(compute_metric("c_index", y, P[:, j]) for j in range(2))
    assert compute_metric("c_index", y, comb.predict(P)) >= best_single  # round 1 alone is the best member


def test_the_ensembles_column_codec_is_lossless() -> None:
    from autods.runners.ensemble_codec import UNSEEN, RawColumns

    frame = pd.DataFrame({"n": [1, 2, 3], "f": [0.5, np.nan, 2.0], "b": [True, False, True],
                          "s": ["a", np.nan, "b"], "d": pd.to_datetime(["2020-01-02", None, "2021-06-30"])})
    codec = RawColumns().fit(frame)
    M = codec.transform(frame)
    assert M.dtype == float and M.shape == (3, 5)
    pd.testing.assert_frame_equal(codec.decode(M), frame.astype({"s": object}), check_dtype=True)
    new = pd.DataFrame({"n": [4], "f": [1.0], "b": [False], "s": ["c"], "d": pd.to_datetime(["2022-01-01"])})
    assert codec.decode(codec.transform(new))["s"].tolist() == [UNSEEN]  # unknown to every member, as "c" was
    assert list(codec.get_feature_names_out()) == ["raw__n", "raw__f", "raw__b", "raw__s", "raw__d"]


@pytest.mark.slow  # a whole run folder, the job, the validation with SHAP (minutes on a loaded 2-core box)
def test_an_ensemble_champion_is_judged_validated_and_reloaded(tmp_path: Path) -> None:
    # reports/validate.py fits the champion through RecipeRunner, which hands ensembles to EnsembleRunner
    import json
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from report_fixtures import build_run, synthetic_task

    import autods
    from autods.execution.base import Job
    from autods.execution.job import OOF_REPEATS, run_job
    from autods.reports import validate_champion

    root = build_run(synthetic_task(tmp_path / "tasks", "binary"), tmp_path / "runs", validate=False, render=False,
                     n_resamples=100)
    recipe = {"family": "ensemble", "params": {"members": MEMBERS, "method": "stack"}}
    res = run_job(Job(job_id="999", run_dir=str(root), recipe=recipe, seed=0, n_resamples=100))
    assert res.ok and res.record["ensemble"]["method"] == "stack" and len(res.record["ensemble"]["members"]) == 2
    assert res.record["calibration"]["calibration_method"] == "none"
    repeats = pd.read_parquet(root / "artifacts" / "999" / OOF_REPEATS)
    first = pd.read_parquet(root / "artifacts" / "999" / "oof.parquet")
    assert list(repeats.columns[:3]) == ["repeat", "row", "fold"] and "repeat" not in first.columns
    pd.testing.assert_frame_equal(repeats[repeats["repeat"] == 0].drop(columns="repeat").reset_index(drop=True), first)
    stored = json.loads((root / "artifacts" / "999" / "record.json").read_text())
    assert stored["ensemble"] == res.record["ensemble"] and "oof_all" not in stored
    validation = validate_champion(root, recipe, seed=0, experiment_id="999", n_resamples=100)
    assert validation["family"] == "ensemble" and validation["test"]["value"] > 0.7
    model = autods.load_model(root)
    assert model.recipe_["family"] == "ensemble" and len(model.runner_.weights_) == 2
    frame = pd.read_csv(next((tmp_path / "tasks").rglob("cohort.csv")))
    assert model.predict_proba(frame.head(5)).shape == (5, 2)
