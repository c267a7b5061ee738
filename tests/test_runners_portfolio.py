"""The model portfolio: each new family, fitted through RecipeRunner, against its library used directly.

Every reference fits the library itself on the same preprocessed matrix (the runner's ``prep``
step, fitted on the same rows), so a wrong column split, a lost parameter, a flipped risk sign
or a pickling gap fails here. Data: sklearn breast cancer and diabetes, sksurv veterans.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from autods.errors import RecipeError
from autods.runners import FAMILIES, FamilySpec, Param, Recipe, RecipeRunner, TrainingData, register_family
from autods.runners.families_linear import interaction_pairs
from autods.reports.model_io import ChampionModel, load_model, save_model

NEW = ("spline_logistic", "spline_ridge", "spline_cox", "ebm", "lightgbm_small", "extra_trees", "knn", "svm_rbf",
       "weibull_aft", "lognormal_aft", "componentwise_gb", "extra_survival_trees")


def _cancer(n: int = 300, n_features: int = 8) -> TrainingData:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.iloc[:n, :n_features].copy()
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame["large"] = (frame["mean_radius"] > frame["mean_radius"].median()).astype(int)  # a binary dummy
    return TrainingData(frame, data.target.to_numpy()[:n], "binary", tuple(frame.columns))


def _diabetes() -> TrainingData:
    data = load_diabetes(as_frame=True)
    return TrainingData(data.frame.drop(columns="target"), data.target.to_numpy(), "regression",
                        tuple(data.feature_names))


def _veterans() -> TrainingData:
    from sksurv.datasets import load_veterans_lung_cancer

    X, y = load_veterans_lung_cancer()
    return TrainingData(X, y, "survival", tuple(X.columns))


def _fit(data: TrainingData, family: str, **params: Any) -> tuple[RecipeRunner, np.ndarray]:
    runner = RecipeRunner().fit(data, Recipe(family=family, params=params))
    return runner, runner.pipeline_[:-1].transform(data.frame)  # the matrix the model step saw


# -- the registry -------------------------------------------------------------------------------

def test_every_new_family_is_registered_with_a_valid_distinct_portfolio() -> None:
    for name in (*NEW, "gb_survival"):
        spec = FAMILIES[name]
        assert spec.portfolio, f"{name} has no zero-shot configurations"
        hashes = {Recipe(family=name, params=c).canonical_hash() for c in spec.portfolio}
        hashes.add(Recipe(family=name).canonical_hash())
        assert len(hashes) == len(spec.portfolio) + 1, f"{name}: a portfolio entry repeats another or the defaults"
    assert FAMILIES["spline_cox"].survival_function and FAMILIES["weibull_aft"].survival_function


def test_a_portfolio_entry_with_an_unknown_parameter_is_refused_at_registration() -> None:
    spec = FamilySpec("test_bad_portfolio", frozenset({"binary"}), {"C": 1.0}, {"C": Param.float(0.1, 10.0)},
                      lambda kind, p, seed: None, portfolio=({"C": 2.0}, {"gamma": 1.0}))
    with pytest.raises(RecipeError, match="no parameter 'gamma'"):
        register_family(spec)
    assert "test_bad_portfolio" not in FAMILIES


def test_interaction_pairs_are_capped() -> None:
    assert len(interaction_pairs(9, 45)) == math.comb(9, 2)
    assert len(interaction_pairs(30, 45)) == math.comb(10, 2)  # the first 10 columns: 45 products
    assert interaction_pairs(10, 5) == [(0, 1), (0, 2), (1, 2)]
    assert interaction_pairs(1, 45) == []


# -- linear with structure ----------------------------------------------------------------------

#: Harrell's 4-knot positions (Regression Modeling Strategies, section 2.4.6), typed here independently
HARRELL_4 = (0.05, 0.35, 0.65, 0.95)


def _spline_reference(X: np.ndarray, products: bool = False) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import FunctionTransformer, SplineTransformer

    cont = [j for j in range(X.shape[1]) if pd.Series(X[:, j]).nunique() > 5]
    other = [j for j in range(X.shape[1]) if j not in cont]
    blocks: list[tuple[str, Any, list[int]]] = [
        (f"spline{j}", SplineTransformer(knots=np.quantile(X[:, j], HARRELL_4)[:, None], degree=3,
                                         extrapolation="linear", include_bias=False), [j]) for j in cont]
    blocks.append(("pass", "passthrough", other))
    if products:
        prod = FunctionTransformer(lambda Z: np.column_stack([Z[:, a] * Z[:, b] for a, b in combinations(range(Z.shape[1]), 2)]))
        blocks.append(("products", prod, cont))
    return ColumnTransformer(blocks), cont, other


def test_a_lumpy_column_keeps_its_distinct_knots_and_a_two_valued_one_passes_through() -> None:
    from sklearn.linear_model import Ridge

    from autods.runners.families_linear import SplineModel

    rng = np.random.default_rng(0)
    count = np.where(rng.random(300) < 0.9, 0.0, rng.integers(1, 8, 300))  # mostly zero: quantiles collide
    X = np.column_stack([count, rng.normal(size=300), rng.random(300) < 0.5])
    model = SplineModel(Ridge()).fit(X, rng.normal(size=300))
    assert list(model.continuous_) == [0, 1] and list(model.passthrough_) == [2]
    np.testing.assert_array_equal(model.splines_[0].bsplines_[0].t[3:-3], np.unique(np.quantile(count, HARRELL_4)))
    assert model.expand(X).shape == (300, 3 + 5 + 1)  # 2 distinct knots -> 3 columns, 4 knots -> 5, the dummy


def test_spline_logistic_equals_a_hand_built_sklearn_pipeline() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    data = _cancer()
    runner, X = _fit(data, "spline_logistic")
    columns, cont, other = _spline_reference(X)
    assert len(other) == 1 and len(cont) == X.shape[1] - 1  # the dummy passes through, the rest are splined
    ref = make_pipeline(columns, LogisticRegression(C=1.0, max_iter=5000)).fit(X, data.y)
    np.testing.assert_allclose(runner.predict_score(data.frame), ref.predict_proba(X)[:, 1], atol=1e-6)


def test_spline_ridge_with_interactions_equals_a_hand_built_pipeline() -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    data = _diabetes()
    runner, X = _fit(data, "spline_ridge", interactions=True)
    columns, cont, _ = _spline_reference(X, products=True)
    assert len(cont) == 9  # sex is binary; 9 continuous inputs give 36 products, under the cap of 45
    ref = make_pipeline(columns, Ridge(alpha=10.0)).fit(X, data.y)
    np.testing.assert_allclose(runner.predict_score(data.frame), ref.predict(X), rtol=1e-8, atol=1e-8)
    plain = RecipeRunner().fit(data, Recipe(family="spline_ridge")).predict_score(data.frame)
    assert not np.allclose(plain, ref.predict(X))  # the products change the fit


def test_spline_cox_equals_sksurv_on_the_hand_built_design() -> None:
    from sklearn.pipeline import make_pipeline
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    data = _veterans()
    runner, X = _fit(data, "spline_cox")
    columns, _, _ = _spline_reference(X)
    ref = make_pipeline(columns, CoxPHSurvivalAnalysis(alpha=1.0, ties="efron")).fit(X, data.y)
    np.testing.assert_allclose(runner.predict_score(data.frame), ref.predict(X), rtol=1e-6)
    times = [30.0, 100.0, 300.0]
    expected = np.vstack([fn(times) for fn in ref.predict_survival_function(X[:5])])
    np.testing.assert_allclose(runner.predict_survival_function(data.frame.iloc[:5], times), expected, rtol=1e-6)


# -- boosting -----------------------------------------------------------------------------------

def test_ebm_equals_interpret_on_the_same_matrix() -> None:
    from interpret.glassbox import ExplainableBoostingClassifier

    data = _cancer(n=250, n_features=6)
    runner, X = _fit(data, "ebm", interactions=3, outer_bags=2)
    ref = ExplainableBoostingClassifier(outer_bags=2, interactions=3, learning_rate=0.03, max_bins=256,
                                        max_interaction_bins=32, max_rounds=5000, early_stopping_rounds=50,
                                        min_samples_leaf=4, max_leaves=3, validation_size=0.15, n_jobs=1,
                                        random_state=0).fit(X, data.y)
    np.testing.assert_allclose(runner.predict_score(data.frame), ref.predict_proba(X)[:, 1], rtol=1e-10)
    ebm = runner.pipeline_[-1]
    assert any(len(term) == 2 for term in ebm.term_features_)  # pairwise terms were fitted


def test_lightgbm_small_stops_early_inside_the_training_fold_then_refits() -> None:
    import lightgbm
    from lightgbm import LGBMClassifier
    from sklearn.model_selection import train_test_split

    data = _cancer()
    runner, X = _fit(data, "lightgbm_small")
    params = dict(learning_rate=0.02, num_leaves=7, max_depth=3, min_child_samples=30, subsample=0.8, subsample_freq=1,
                  colsample_bytree=0.8, reg_lambda=1.0, max_bin=63, random_state=0, verbose=-1, n_jobs=1)
    fit_rows, stop_rows = train_test_split(np.arange(len(data.y)), test_size=0.2, random_state=0, stratify=data.y)
    probe = LGBMClassifier(n_estimators=2000, **params).fit(
        X[fit_rows], data.y[fit_rows], eval_X=(X[stop_rows],), eval_y=(data.y[stop_rows],),
        callbacks=[lightgbm.early_stopping(50, verbose=False)])
    model = runner.pipeline_[-1]
    assert model.best_iteration_ == probe.best_iteration_ < 2000  # stopped early, on the inner split
    refit = LGBMClassifier(n_estimators=probe.best_iteration_, **params).fit(X, data.y)
    np.testing.assert_allclose(runner.predict_score(data.frame), refit.predict_proba(X)[:, 1], rtol=1e-12)


# -- other learners: the runner equals the library on the same matrix ------------------------------

def _sklearn_reference(family: str, kind: str) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, SVR

    return {
        ("extra_trees", "binary"): ExtraTreesClassifier(n_estimators=50, max_features="sqrt", random_state=0),
        ("extra_trees", "regression"): ExtraTreesRegressor(n_estimators=50, max_features="sqrt", random_state=0),
        ("knn", "binary"): KNeighborsClassifier(n_neighbors=15),
        ("knn", "regression"): KNeighborsRegressor(n_neighbors=15),
        ("svm_rbf", "binary"): CalibratedClassifierCV(SVC(C=1.0, gamma="scale", random_state=0), method="sigmoid", cv=5),
        ("svm_rbf", "regression"): TransformedTargetRegressor(SVR(C=1.0, gamma="scale", epsilon=0.1),
                                                              transformer=StandardScaler()),
    }[(family, kind)]


@pytest.mark.parametrize(("family", "kind"), [(f, k) for f in ("extra_trees", "knn", "svm_rbf") for k in ("binary", "regression")])
def test_sklearn_backed_family_equals_sklearn(family: str, kind: str) -> None:
    data = _cancer() if kind == "binary" else _diabetes()
    params = {"n_estimators": 50} if family == "extra_trees" else {}
    runner, X = _fit(data, family, **params)
    ref = _sklearn_reference(family, kind).fit(X, data.y)
    expected = ref.predict_proba(X)[:, 1] if kind == "binary" else ref.predict(X)
    np.testing.assert_allclose(runner.predict_score(data.frame), expected, rtol=1e-10)


def test_svm_probabilities_are_calibrated_multiclass() -> None:
    frame = _diabetes().frame
    y = np.digitize(_diabetes().y, np.quantile(_diabetes().y, [1 / 3, 2 / 3]))
    runner = RecipeRunner().fit(TrainingData(frame, y, "multiclass", tuple(frame.columns)), Recipe(family="svm_rbf"))
    proba = runner.predict_score(frame)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(runner.classes_) == [0, 1, 2] and (proba.argmax(axis=1) == y).mean() > 0.5


# -- survival -----------------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["weibull_aft", "lognormal_aft"])
def test_aft_equals_lifelines_predictions(family: str) -> None:
    import lifelines

    data = _veterans()
    runner, X = _fit(data, family)
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
    frame["T"], frame["E"] = data.y["Survival_in_days"], data.y["Status"]
    fitter = {"weibull_aft": lifelines.WeibullAFTFitter, "lognormal_aft": lifelines.LogNormalAFTFitter}[family]
    ref = fitter(penalizer=0.01).fit(frame, duration_col="T", event_col="E")
    covariates = frame.drop(columns=["T", "E"])
    median = ref.predict_median(covariates).to_numpy()
    np.testing.assert_allclose(runner.predict_score(data.frame), -median, rtol=1e-6)  # risk = minus median time
    times = [10.0, 100.0, 400.0]
    expected = ref.predict_survival_function(covariates.iloc[:6], times=times).to_numpy().T
    np.testing.assert_allclose(runner.predict_survival_function(data.frame.iloc[:6], times), expected, rtol=1e-6)
    curve = runner.pipeline_[-1].predict_survival_function(X[:1])[0]
    assert curve.domain == (0.0, float(data.y["Survival_in_days"].max()))


@pytest.mark.parametrize("family", ["componentwise_gb", "extra_survival_trees"])
def test_sksurv_backed_family_equals_sksurv(family: str) -> None:
    from sksurv.ensemble import ComponentwiseGradientBoostingSurvivalAnalysis, ExtraSurvivalTrees

    data = _veterans()
    params = {"n_estimators": 30} if family == "extra_survival_trees" else {}
    runner, X = _fit(data, family, **params)
    ref = (ComponentwiseGradientBoostingSurvivalAnalysis(n_estimators=100, learning_rate=0.1, random_state=0)
           if family == "componentwise_gb" else
           ExtraSurvivalTrees(n_estimators=30, min_samples_leaf=15, max_features="sqrt", random_state=0)).fit(X, data.y)
    np.testing.assert_allclose(runner.predict_score(data.frame), ref.predict(X), rtol=1e-10)
    expected = np.vstack([fn([50.0, 200.0]) for fn in ref.predict_survival_function(X[:4])])
    np.testing.assert_allclose(runner.predict_survival_function(data.frame.iloc[:4], [50.0, 200.0]), expected, rtol=1e-10)


# -- every new family survives the champion's pickle -----------------------------------------------

def _small(kind: str) -> TrainingData:
    if kind == "survival":
        return _veterans()
    data = _cancer(n=200, n_features=5) if kind == "binary" else _diabetes()
    return data


_ONE_KIND = [(f, "survival" if "survival" in FAMILIES[f].kinds else "binary" if "binary" in FAMILIES[f].kinds
              else "regression") for f in NEW]
_FAST = {"ebm": {"outer_bags": 1, "interactions": 1}, "extra_trees": {"n_estimators": 20},
         "extra_survival_trees": {"n_estimators": 10}, "componentwise_gb": {"n_estimators": 20}}


@pytest.mark.parametrize(("family", "kind"), _ONE_KIND, ids=[f for f, _ in _ONE_KIND])
def test_load_model_round_trips_every_new_family(tmp_path: Any, family: str, kind: str) -> None:
    data = _small(kind)
    runner = RecipeRunner().fit(data, Recipe(family=family, params=_FAST.get(family, {})))
    model = ChampionModel(runner, task_type=kind, classes=[0, 1] if kind == "binary" else None, experiment_id="e1",
                          metric="auroc", governance={}, unit_column=None,
                          event_times=np.array([30.0, 100.0]) if kind == "survival" else None)
    save_model(model, tmp_path / "champion")
    loaded = load_model(tmp_path)
    rows = data.frame.iloc[:10]
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    if kind == "survival":
        np.testing.assert_array_equal(loaded.predict_survival_function(rows), model.predict_survival_function(rows))


# -- the expert's strategy library knows the portfolio ----------------------------------------------

def test_the_expert_library_orders_and_classifies_every_model_family() -> None:
    from autods.agents.expert.library import CORE_FAMILIES, FAMILY_ORDER, FLEXIBLE, PENALISED, families_for

    for name in (*NEW, *CORE_FAMILIES):  # wrappers (calibrated, ensemble) take their base's class
        spec = FAMILIES[name]
        assert (name in PENALISED) != (name in FLEXIBLE), f"{name} must be penalised or flexible, not both"
        for kind in spec.kinds:
            assert name in FAMILY_ORDER[kind], f"{name} is missing from the expert's {kind} order"
    for task_type in ("binary", "multiclass", "regression", "survival"):
        assert set(families_for(task_type, False)) <= CORE_FAMILIES  # the portfolio is offered on request only
    small = families_for("binary", True, portfolio=True)
    assert small[:2] == ["logistic", "elastic_net"]  # penalised linear first on a small cohort ...
    assert small[2:5] == ["spline_logistic", "lightgbm_small", "ebm"]  # ... then structure and small-data boosting
    assert families_for("survival", False, portfolio=True)[:3] == ["cox", "spline_cox", "coxnet"]
    for task_type in ("binary", "multiclass", "regression", "survival"):  # the core menu keeps its own order
        full = families_for(task_type, False, portfolio=True)
        assert [f for f in full if f in CORE_FAMILIES] == families_for(task_type, False)


@pytest.mark.parametrize("family", NEW)
def test_low_epv_search_space_holds_the_expert_start(family: str) -> None:
    from autods.agents.expert.library import search_space, starting_params

    space = search_space(family, True)
    start = {**FAMILIES[family].defaults, **starting_params(family, space)}
    for name, p in space.items():
        if p.type == "choice":
            assert start[name] in p.choices
        else:
            assert p.low <= start[name] <= p.high, f"{family}.{name}={start[name]} outside {p.low}..{p.high}"
    Recipe(family=family, params=starting_params(family, space))  # the start is a valid recipe


def test_lightgbm_small_fits_a_fold_too_small_to_stratify() -> None:
    from autods.runners.families_more import EarlyStoppedLGBM

    X = _cancer(n=120, n_features=4).frame.to_numpy(dtype=float)
    lone = np.r_[np.zeros(119, dtype=int), 1]  # one positive row: a stratified inner split would refuse it
    model = EarlyStoppedLGBM("binary", {"min_child_samples": 5}, max_rounds=50).fit(X, lone)
    assert model.best_iteration_ >= 1 and model.predict_proba(X).shape == (120, 2)


@pytest.mark.parametrize("family", ["spline_logistic", "lightgbm_small"])
def test_wrapped_classifiers_calibrate_like_sklearn_classifiers(family: str) -> None:
    # CalibratedClassifierCV (the 'calibrated' family's model step) reads probabilities only from a classifier.
    from sklearn.base import is_classifier
    from sklearn.calibration import CalibratedClassifierCV

    data = _cancer(n=200, n_features=4)
    runner, X = _fit(data, family, **({"max_rounds": 100} if family == "lightgbm_small" else {}))
    model = runner.pipeline_[-1]
    assert is_classifier(model)
    proba = CalibratedClassifierCV(model, method="sigmoid", cv=3).fit(X, data.y).predict_proba(X)
    assert proba.shape == (200, 2) and np.isfinite(proba).all()
