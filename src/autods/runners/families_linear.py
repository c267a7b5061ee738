"""Linear models with structure: penalised logistic, ridge and Cox on splines of continuous inputs.

:class:`SplineModel` receives the preprocessed matrix (imputed, scaled, one-hot) of a training
fold and decides there which columns are continuous: those with more than ``max_distinct``
distinct values in that fold. Each continuous column is expanded into a cubic B-spline basis
with knots at its quantiles and linear extrapolation past the boundary knots (scikit-learn's
``SplineTransformer``): the tail behaviour of a restricted cubic spline, so a model never
extrapolates a cubic beyond the data. Missingness indicators and one-hot dummies pass through.
With ``interactions`` the pairwise products of the (raw, scaled) continuous inputs are added,
capped at ``max_interactions`` products: pairs of the first ``k`` continuous columns, ``k``
the largest with ``k(k-1)/2`` within the cap, so the count stays bounded on wide data. Every
choice is refitted per training fold; the penalised model then shrinks the expanded design.

Zero-shot configurations: Harrell's *Regression Modeling Strategies* (2nd ed., section 2.4.6)
advises 3 to 5 knots at fixed quantiles (4 as the default, 3 for small samples, 5 for large);
the penalty strengths bracket each base family's own default.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.metaestimators import available_if

from autods.runners.families import REGRESS, SURVIVAL, FamilySpec, Param

__all__ = ["SPECS", "SplineModel", "continuous_columns", "interaction_pairs"]

#: a column with more distinct values than this in the training fold is continuous
MAX_DISTINCT = 5


def continuous_columns(X: np.ndarray, max_distinct: int = MAX_DISTINCT) -> np.ndarray:
    """Indices of the columns of ``X`` with more than ``max_distinct`` distinct values."""
    return np.asarray([j for j in range(X.shape[1]) if len(np.unique(X[:, j])) > max_distinct], dtype=int)


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

    Fitted attributes: ``continuous_`` (column indices), ``passthrough_``, ``spline_`` (the
    fitted ``SplineTransformer`` or None), ``pairs_`` (column index pairs multiplied),
    ``estimator_`` and, for classifiers, ``classes_``.
    """

    def __init__(self, estimator: Any, n_knots: int = 4, degree: int = 3, interactions: bool = False,
                 max_interactions: int = 45, max_distinct: int = MAX_DISTINCT) -> None:
        self.estimator = estimator
        self.n_knots = n_knots
        self.degree = degree
        self.interactions = interactions
        self.max_interactions = max_interactions
        self.max_distinct = max_distinct

    def fit(self, X: Any, y: Any) -> SplineModel:
        from sklearn.preprocessing import SplineTransformer

        X = np.asarray(X, dtype=float)
        self.continuous_ = continuous_columns(X, self.max_distinct)
        self.passthrough_ = np.setdiff1d(np.arange(X.shape[1]), self.continuous_)
        self.spline_ = None
        if len(self.continuous_):
            # include_bias=False drops one basis function per column: the model's intercept holds it.
            self.spline_ = SplineTransformer(n_knots=self.n_knots, degree=self.degree, knots="quantile",
                                             extrapolation="linear", include_bias=False)
            self.spline_.fit(X[:, self.continuous_])
        positions = interaction_pairs(len(self.continuous_), self.max_interactions) if self.interactions else []
        self.pairs_ = [(int(self.continuous_[a]), int(self.continuous_[b])) for a, b in positions]
        self.n_features_in_ = X.shape[1]
        self.estimator_ = clone(self.estimator).fit(self.expand(X), y)
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    def expand(self, X: Any) -> np.ndarray:
        """The design the estimator sees: spline bases, passthrough columns, then products."""
        X = np.asarray(X, dtype=float)
        blocks = [] if self.spline_ is None else [self.spline_.transform(X[:, self.continuous_])]
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
_SPLINE_SPACE = {"n_knots": Param.int(3, 7), "interactions": Param.choice(False, True),
                 "max_interactions": Param.int(1, 200, log=True)}
# Harrell's knot counts (3 small samples, 4 default, 5 large), then the interaction variant.
_KNOTS = ({"n_knots": 3}, {"n_knots": 5}, {"interactions": True})

SPECS = [
    FamilySpec("spline_logistic", frozenset({"binary"}), {"C": 0.1, "class_weight": None, "max_iter": 5000, **_SPLINE},
               {"C": Param.float(1e-3, 1e2, log=True), "class_weight": Param.choice(None, "balanced"), **_SPLINE_SPACE},
               _spline_logistic, "L2 logistic regression on restricted-cubic-style splines of continuous inputs",
               portfolio=(*_KNOTS, {"C": 1.0}, {"C": 0.01, "interactions": True})),
    FamilySpec("spline_ridge", REGRESS, {"alpha": 10.0, **_SPLINE},
               {"alpha": Param.float(1e-3, 1e3, log=True), **_SPLINE_SPACE},
               _spline_ridge, "ridge regression on splines of continuous inputs",
               portfolio=(*_KNOTS, {"alpha": 1.0}, {"alpha": 100.0, "interactions": True})),
    FamilySpec("spline_cox", SURVIVAL, {"alpha": 1.0, "n_iter": 100, **_SPLINE},
               {"alpha": Param.float(1e-3, 1e3, log=True), **_SPLINE_SPACE},
               _spline_cox, "ridge Cox model on splines of continuous inputs", survival_function=True,
               portfolio=(*_KNOTS, {"alpha": 10.0}, {"alpha": 30.0, "interactions": True})),
]
