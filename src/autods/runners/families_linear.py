"""Linear models with structure: penalised logistic, ridge and Cox on splines of continuous inputs.

:class:`SplineModel` receives the preprocessed matrix (imputed, scaled, one-hot) of a training
fold and decides there which columns are continuous: those with more than ``max_distinct``
distinct values in that fold. Each continuous column is expanded into a cubic B-spline basis
(scikit-learn's ``SplineTransformer``) with knots at Harrell's quantiles for that many knots
(*Regression Modeling Strategies*, 2nd ed., section 2.4.6: 4 knots at the 5th, 35th, 65th and
95th percentiles) and linear extrapolation beyond the outer knots: a restricted cubic spline's
tails (linear where the data are thin), though inside the outer knots the basis is a full cubic
B-spline (``n_knots + 1`` columns, not the ``n_knots - 1`` of Harrell's restricted basis). A
column whose quantiles collide (a count that is mostly zero) keeps its distinct knots, and
stays linear when fewer than two remain.
Missingness indicators and one-hot dummies pass through. With ``interactions`` the pairwise
products of the (raw, scaled) continuous inputs are added, capped at ``max_interactions``
products: pairs of the first ``k`` continuous columns, ``k`` the largest with ``k(k-1)/2``
within the cap, so the count stays bounded on wide data. Every choice is refitted per training
fold; the penalised model then shrinks the expanded design.

Zero-shot configurations: Harrell's advice of 3 to 5 knots (section 2.4.6: 4 as the default,
3 for small samples, 5 for large), the interaction variant, and penalty strengths bracketing
each family's default.

Penalties: Harrell (section 9.10) chooses the penalty per data set (effective AIC), so no source
gives one number; the defaults are the plain linear family's own (logistic ``C = 1``, scikit-learn's
default too), with a ten times stronger entry in the portfolio. ``C = 0.1`` as the default shrank a
purely additive U-shape (the planted case in tests/test_agents_diagnose.py) enough that LightGBM beat
it, where ``C = 1`` did not; on scikit-learn's breast cancer (5-fold CV) ``C = 1`` scored 0.9947 AUROC
and ``C = 0.1`` 0.9922.
Under low events per variable the expert's search space caps ``C`` at 0.1 anyway
(:data:`autods.agents.expert.library.PENALTY_BOUND`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.metaestimators import available_if

from autods.errors import RecipeError
from autods.runners.families import REGRESS, SURVIVAL, FamilySpec, Param

__all__ = ["HARRELL_KNOTS", "SPECS", "SplineModel", "continuous_columns", "interaction_pairs", "knots_for"]

#: a column with more distinct values than this in the training fold is continuous
MAX_DISTINCT = 5
#: n_knots -> knot positions as quantiles (Harrell, Regression Modeling Strategies, section 2.4.6)
HARRELL_KNOTS: dict[int, tuple[float, ...]] = {
    3: (0.10, 0.50, 0.90),
    4: (0.05, 0.35, 0.65, 0.95),
    5: (0.05, 0.275, 0.50, 0.725, 0.95),
    6: (0.05, 0.23, 0.41, 0.59, 0.77, 0.95),
    7: (0.025, 0.1833, 0.3417, 0.50, 0.6583, 0.8167, 0.975),
}


def continuous_columns(X: np.ndarray, max_distinct: int = MAX_DISTINCT) -> np.ndarray:
    """Indices of the columns of ``X`` with more than ``max_distinct`` distinct values."""
    return np.asarray([j for j in range(X.shape[1]) if len(np.unique(X[:, j])) > max_distinct], dtype=int)


def knots_for(column: np.ndarray, n_knots: int) -> np.ndarray:
    """Harrell's quantile knots of ``column``, duplicates dropped (a lumpy column keeps fewer)."""
    if n_knots not in HARRELL_KNOTS:
        raise RecipeError(f"n_knots = {n_knots} has no standard knot positions", f"use one of {sorted(HARRELL_KNOTS)}")
    return np.unique(np.quantile(column, HARRELL_KNOTS[n_knots]))


def interaction_pairs(n_continuous: int, cap: int) -> list[tuple[int, int]]:
    """Pairs (positions among the continuous columns) of the first ``k`` columns, ``k(k-1)/2 <= cap``."""
    k = n_continuous
    while k > 1 and k * (k - 1) // 2 > cap:
        k -= 1
    return [(a, b) for a in range(k) for b in range(a + 1, k)]


def _has(name: str) -> Any:
    return lambda self: hasattr(self.estimator_ if hasattr(self, "estimator_") else self.estimator, name)


class SplineModel(BaseEstimator):
    """``estimator`` fitted on splines of the continuous columns (see the module docstring).

    Fitted attributes: ``continuous_`` (column indices), ``splines_`` (one fitted
    ``SplineTransformer`` per continuous column, None where it stays linear), ``passthrough_``,
    ``pairs_`` (column index pairs multiplied), ``estimator_`` and, for classifiers, ``classes_``.
    """

    def __init__(self, estimator: Any, n_knots: int = 4, degree: int = 3, interactions: bool = False,
                 max_interactions: int = 45, max_distinct: int = MAX_DISTINCT) -> None:
        self.estimator = estimator
        self.n_knots = n_knots
        self.degree = degree
        self.interactions = interactions
        self.max_interactions = max_interactions
        self.max_distinct = max_distinct

    def __sklearn_tags__(self) -> Any:
        # The wrapped model's kind: scikit-learn meta-estimators (CalibratedClassifierCV, the
        # 'calibrated' family) read class probabilities only from what says it is a classifier.
        from sklearn.utils import get_tags

        tags, inner = super().__sklearn_tags__(), get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags, tags.regressor_tags = inner.classifier_tags, inner.regressor_tags
        return tags

    def fit(self, X: Any, y: Any) -> SplineModel:
        from sklearn.preprocessing import SplineTransformer

        X = np.asarray(X, dtype=float)
        self.continuous_ = continuous_columns(X, self.max_distinct)
        self.passthrough_ = np.setdiff1d(np.arange(X.shape[1]), self.continuous_)
        self.splines_: list[Any] = []
        for j in self.continuous_:
            knots = knots_for(X[:, j], self.n_knots)
            # include_bias=False drops one basis function per column: the model's intercept holds it.
            spline = None if len(knots) < 2 else SplineTransformer(
                knots=knots[:, None], degree=self.degree, extrapolation="linear", include_bias=False).fit(X[:, [j]])
            self.splines_.append(spline)
        positions = interaction_pairs(len(self.continuous_), self.max_interactions) if self.interactions else []
        self.pairs_ = [(int(self.continuous_[a]), int(self.continuous_[b])) for a, b in positions]
        self.n_features_in_ = X.shape[1]
        self.estimator_ = clone(self.estimator).fit(self.expand(X), y)
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    def expand(self, X: Any) -> np.ndarray:
        """The design the estimator sees: spline bases (or the column itself), passthrough columns, products."""
        X = np.asarray(X, dtype=float)
        blocks = [X[:, [j]] if spline is None else spline.transform(X[:, [j]])
                  for j, spline in zip(self.continuous_, self.splines_)]
        blocks.append(X[:, self.passthrough_])
        blocks += [(X[:, a] * X[:, b])[:, None] for a, b in self.pairs_]
        return np.hstack(blocks)

    def predict(self, X: Any) -> np.ndarray:
        return self.estimator_.predict(self.expand(X))

    @available_if(_has("predict_proba"))
    def predict_proba(self, X: Any) -> np.ndarray:
        return self.estimator_.predict_proba(self.expand(X))

    @available_if(_has("predict_survival_function"))
    def predict_survival_function(self, X: Any, **kwargs: Any) -> Any:
        return self.estimator_.predict_survival_function(self.expand(X), **kwargs)


def _spline_kw(p: dict[str, Any]) -> dict[str, Any]:
    return {"n_knots": p["n_knots"], "interactions": p["interactions"], "max_interactions": p["max_interactions"]}


def _spline_logistic(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    base = LogisticRegression(C=p["C"], l1_ratio=0.0, class_weight=p["class_weight"], max_iter=p["max_iter"], random_state=seed)
    return SplineModel(base, **_spline_kw(p))


def _spline_ridge(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import Ridge

    return SplineModel(Ridge(alpha=p["alpha"]), **_spline_kw(p))


def _spline_cox(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    return SplineModel(CoxPHSurvivalAnalysis(alpha=p["alpha"], ties="efron", n_iter=p["n_iter"]), **_spline_kw(p))


_SPLINE = {"n_knots": 4, "interactions": False, "max_interactions": 45}
_SPLINE_SPACE = {"n_knots": Param.int(min(HARRELL_KNOTS), max(HARRELL_KNOTS)), "interactions": Param.choice(False, True),
                 "max_interactions": Param.int(1, 200, log=True)}
# Harrell's knot counts (3 small samples, 4 default, 5 large), then the interaction variant. A strongly
# penalised interaction variant was dropped: the ridge penalty shrinks the main effects with the products,
# and it lost 0.01-0.19 to the plain spline model on breast cancer, WHAS500 and diabetes (5-fold CV).
_KNOTS = ({"n_knots": 3}, {"n_knots": 5}, {"interactions": True})

SPECS = [
    FamilySpec("spline_logistic", frozenset({"binary"}), {"C": 1.0, "class_weight": None, "max_iter": 5000, **_SPLINE},
               {"C": Param.float(1e-3, 1e2, log=True), "class_weight": Param.choice(None, "balanced"), **_SPLINE_SPACE},
               _spline_logistic, "L2 logistic regression on restricted-cubic-style splines of continuous inputs",
               portfolio=(*_KNOTS, {"C": 0.1})),
    FamilySpec("spline_ridge", REGRESS, {"alpha": 10.0, **_SPLINE},
               {"alpha": Param.float(1e-3, 1e3, log=True), **_SPLINE_SPACE},
               _spline_ridge, "ridge regression on splines of continuous inputs",
               portfolio=(*_KNOTS, {"alpha": 1.0})),
    FamilySpec("spline_cox", SURVIVAL, {"alpha": 1.0, "n_iter": 100, **_SPLINE},
               {"alpha": Param.float(1e-3, 1e3, log=True), **_SPLINE_SPACE},
               _spline_cox, "ridge Cox model on splines of continuous inputs", survival_function=True,
               portfolio=(*_KNOTS, {"alpha": 10.0})),
]
