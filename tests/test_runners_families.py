"""Every registered family fits and predicts on small data for each task kind it supports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.util import Surv

from autods.errors import RecipeError
from autods.runners import FAMILIES, FamilySpec, Param, Recipe, RecipeRunner, TrainingData, register_family
from autods.runners.families import get_family

#: Few trees: the point is that each family runs, not that it is good.
SMALL = {"random_forest": {"n_estimators": 20}, "lightgbm": {"n_estimators": 20}, "hist_gb": {"max_iter": 20},
         "rsf": {"n_estimators": 10}, "gb_survival": {"n_estimators": 20},
         "ebm": {"outer_bags": 1, "interactions": 1}, "extra_trees": {"n_estimators": 20},
         "extra_survival_trees": {"n_estimators": 10}, "componentwise_gb": {"n_estimators": 20}}


def _data(kind: str, n: int = 160) -> TrainingData:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(["x", "y", "z"], size=n),
                          "d": rng.random(n) > 0.5, "pid": np.repeat(np.arange(n // 4), 4)})
    frame.loc[::7, "a"] = np.nan
    lin = frame["a"].fillna(0).to_numpy() + frame["b"].to_numpy()
    y = {"binary": (lin + rng.normal(size=n) > 0).astype(int), "multiclass": np.digitize(lin, [-0.5, 0.5]),
         "regression": lin + rng.normal(size=n),
         "survival": Surv.from_arrays(event=rng.random(n) < 0.7, time=np.exp(-lin + rng.normal(size=n)) + 0.1)}[kind]
    return TrainingData(frame, y, kind, ("a", "b", "c", "d"), "pid")


# Families that wrap other content have their own tests: agent code (test_sandbox_*, it needs a
# source) and ensembles (test_runners_ensemble, they need members).
WRAPPERS = {"code", "ensemble"}
CASES = [(name, kind) for name, spec in sorted(FAMILIES.items()) if name not in WRAPPERS for kind in sorted(spec.kinds)]


@pytest.mark.parametrize(("family", "kind"), CASES, ids=[f"{f}-{k}" for f, k in CASES])
def test_family_fits_and_predicts(family: str, kind: str) -> None:
    data = _data(kind)
    recipe = Recipe(family=family, params=SMALL.get(family, {}))
    runner = RecipeRunner().fit(data, recipe)
    scores = runner.predict_score(data.frame.iloc[:12])
    assert np.isfinite(scores).all()
    if kind == "multiclass":
        assert scores.shape == (12, 3)
        np.testing.assert_allclose(scores.sum(axis=1), 1.0)
        assert list(runner.classes_) == [0, 1, 2]
    else:
        assert scores.shape == (12,)
    if kind == "binary":
        assert ((scores >= 0) & (scores <= 1)).all()
        assert list(runner.classes_) == [0, 1]
    if kind == "survival":
        surv = runner.predict_survival_function(data.frame.iloc[:5], [0.5, 1.0, 1e6])
        assert surv.shape == (5, 3)
        assert (np.diff(surv, axis=1) <= 1e-12).all()  # S(t) never increases
    # Deterministic: a second fit gives identical scores.
    again = RecipeRunner().fit(data, recipe).predict_score(data.frame.iloc[:12])
    np.testing.assert_array_equal(scores, again)


def test_survival_risk_orients_higher_as_earlier() -> None:
    data = _data("survival", n=400)
    risk = RecipeRunner().fit(data, Recipe(family="cox")).predict_score(data.frame)
    lin = data.frame["a"].fillna(0) + data.frame["b"]
    assert np.corrcoef(risk, lin)[0, 1] > 0.8  # time = exp(-lin): larger lin, earlier event


def test_family_rejects_unsupported_task_kind() -> None:
    with pytest.raises(RecipeError, match="'cox' does not support binary.*logistic"):
        RecipeRunner().fit(_data("binary"), Recipe(family="cox"))
    with pytest.raises(RecipeError, match="'ridge' does not support survival"):
        RecipeRunner().fit(_data("survival"), Recipe(family="ridge"))


def test_invalid_param_value_rejected_by_estimator_is_recipe_error() -> None:
    with pytest.raises(RecipeError, match="'random_forest' rejected its parameters"):
        RecipeRunner().fit(_data("binary"), Recipe(family="random_forest", params={"max_depth": -3, "n_estimators": 5}))


def test_spaces_are_well_formed() -> None:
    for spec in FAMILIES.values():
        assert spec.kinds <= {"binary", "multiclass", "regression", "survival"}
        for name, param in spec.space.items():
            assert name in spec.defaults, f"{spec.name}.{name} has no default"
            if param.type == "choice":
                assert param.choices and spec.defaults[name] in param.choices
            else:
                assert param.low is not None and param.high is not None and param.low < param.high


def test_user_registered_family_works_like_a_builtin() -> None:
    def build(kind: str, params: dict, seed: int) -> object:
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(max_depth=params["max_depth"], random_state=seed)

    spec = FamilySpec("test_tree", frozenset({"binary"}), {"max_depth": 2}, {"max_depth": Param.int(1, 8)}, build)
    register_family(spec)
    try:
        with pytest.raises(RecipeError, match="already registered"):
            register_family(spec)
        runner = RecipeRunner().fit(_data("binary"), Recipe(family="test_tree", params={"max_depth": 3.0}))
        assert runner.pipeline_[-1].max_depth == 3
    finally:
        FAMILIES.pop("test_tree")
    with pytest.raises(RecipeError, match="unknown model family 'test_tree'"):
        get_family("test_tree")


@pytest.mark.parametrize("example,metric,expected", [
    ("task-breast-cancer", "auroc", 0.5),
    ("task-gbsg2-survival", "c_index", 0.5),
])
def test_dummy_family_is_the_trivial_baseline(examples_dir, example, metric, expected) -> None:
    from autods.runners import evaluate

    record = evaluate(examples_dir / example, {"family": "dummy"}, n_resamples=50)
    assert record.metric == metric
    assert record.value == pytest.approx(expected, abs=1e-9)
