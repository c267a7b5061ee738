"""Ensemble weights: Caruana selection and penalised stacking on members' out-of-fold scores.

The pure part of :mod:`autods.runners.ensemble` (see its docstring for why the weights of
fold k never read fold k's labels): :func:`caruana_weights`, :func:`fit_combiner`,
:func:`fold_combiners` and the fitted :class:`Combiner`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autods.errors import JudgeError, RecipeError

__all__ = ["METHODS", "Combiner", "caruana_weights", "fit_combiner", "fold_combiners", "uniform"]

METHODS = ("caruana", "stack")
_EPS = 1e-6  # probabilities are clipped away from 0 and 1 before a logit



def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def _oriented(metric: str, y: Any, pred: np.ndarray, kw: dict[str, Any]) -> float:
    from autods.judge.metrics import compute_metric
    from autods.judge.score import METRICS

    try:
        value = float(compute_metric(metric, y, pred, **kw))
    except JudgeError:
        return -np.inf  # undefined on these rows: never the best choice
    if not np.isfinite(value):
        return -np.inf
    return value if METRICS[metric] else -value


def caruana_weights(P: np.ndarray, y: Any, metric: str, rounds: int = 25, kw: dict[str, Any] | None = None
                    ) -> np.ndarray:
    """Caruana et al. 2004 selection with replacement on member scores ``P`` (n x M, or n x M x C).

    Each round adds the member whose inclusion makes the average best (first member on ties);
    the weights are the inclusion counts of the best round (earliest on ties), summing to 1.
    """
    kw = kw or {}
    n_members = P.shape[1]
    counts, total = np.zeros(n_members), np.zeros_like(P[:, 0], dtype=float)
    best, best_counts = -np.inf, None
    for t in range(1, int(rounds) + 1):
        scores = [_oriented(metric, y, (total + P[:, m]) / t, kw) for m in range(n_members)]
        pick = int(np.argmax(scores))
        counts[pick] += 1
        total = total + P[:, pick]
        if best_counts is None or scores[pick] > best:
            best, best_counts = scores[pick], counts.copy()
    return best_counts / best_counts.sum()


@dataclass
class Combiner:
    """Fitted weights of one ensemble on one set of rows; ``predict(P)`` combines member scores.

    ``weights``: caruana fractions (sum 1), or the stack's meta coefficients (one per member);
    ``intercept``: the stack's intercept (0 for caruana and Cox). ``center``/``scale``
    standardise survival risks with the fitting rows' statistics.
    """

    kind: str
    method: str
    weights: np.ndarray
    intercept: float = 0.0
    center: np.ndarray | None = None
    scale: np.ndarray | None = None
    meta: Any = field(default=None, repr=False)

    def _inputs(self, P: np.ndarray) -> np.ndarray:
        if self.kind == "survival":
            return (P - self.center) / self.scale
        if self.kind == "binary" and self.method == "stack":
            return _logit(P)
        return P

    def predict(self, P: np.ndarray) -> np.ndarray:
        Z = self._inputs(np.asarray(P, dtype=float))
        if self.method == "stack":
            if self.kind == "binary":
                return self.meta.predict_proba(Z)[:, 1]
            return np.asarray(self.meta.predict(Z), dtype=float)
        if self.kind == "multiclass":
            return np.einsum("nmc,m->nc", Z, self.weights)
        return Z @ self.weights

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "weights": [float(w) for w in np.ravel(self.weights)],
                "intercept": float(self.intercept)}


def _standardise(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    center, scale = P.mean(axis=0), P.std(axis=0)
    return center, np.where(scale > 0, scale, 1.0)


def fit_combiner(P: np.ndarray, y: Any, kind: str, method: str, metric: str, *, rounds: int = 25,
                 penalty: float = 1.0, kw: dict[str, Any] | None = None) -> Combiner:
    """Weights for member scores ``P`` from the labels ``y`` of the same rows (see the module docstring)."""
    P = np.asarray(P, dtype=float)
    center = scale = None
    if kind == "survival":
        center, scale = _standardise(P)
    if method == "caruana":
        base = Combiner(kind, method, np.zeros(P.shape[1]), center=center, scale=scale)
        return Combiner(kind, method, caruana_weights(base._inputs(P), y, metric, rounds, kw), center=center,
                        scale=scale)
    if method != "stack":
        raise RecipeError(f"unknown ensemble method {method!r}", f"use one of {list(METHODS)}")
    base = Combiner(kind, method, np.zeros(P.shape[1]), center=center, scale=scale)
    Z = base._inputs(P)
    if kind == "binary":
        from sklearn.linear_model import LogisticRegression

        meta = LogisticRegression(C=1.0 / penalty, max_iter=2000).fit(Z, np.asarray(y, dtype=int))
        coef, intercept = meta.coef_[0], float(meta.intercept_[0])
    elif kind == "regression":
        from sklearn.linear_model import Ridge

        meta = Ridge(alpha=penalty).fit(Z, np.asarray(y, dtype=float))
        coef, intercept = meta.coef_, float(meta.intercept_)
    elif kind == "survival":
        from sksurv.linear_model import CoxPHSurvivalAnalysis

        meta = CoxPHSurvivalAnalysis(alpha=penalty).fit(Z, y)
        coef, intercept = meta.coef_, 0.0
    else:
        raise RecipeError("a stacked ensemble is not available for multiclass tasks", "use method: caruana")
    return Combiner(kind, method, np.asarray(coef, dtype=float), intercept, center, scale, meta)


def uniform(kind: str, method: str, P: np.ndarray) -> Combiner:
    """Equal weights (the first temporal fold, which has no earlier rows to learn weights on)."""
    P = np.asarray(P, dtype=float)
    center, scale = _standardise(P) if kind == "survival" else (None, None)
    return Combiner(kind, "caruana", np.full(P.shape[1], 1.0 / P.shape[1]), center=center, scale=scale)


def fold_combiners(keys: list[str], tests: list[np.ndarray], scores: list[np.ndarray], y: Any, kind: str,
                   params: dict[str, Any], metric: str, kw: dict[str, Any] | None = None,
                   past_only: bool = False) -> dict[str, Combiner]:
    """For each fold ``r{r}k{k}``: weights fitted on repeat r's other folds (their member scores and labels).

    ``tests[i]`` are fold i's rows (indices into ``y``), ``scores[i]`` the members' scores on
    them; fold k's labels are never read for fold k (``past_only``: only folds before k).
    """
    out: dict[str, Combiner] = {}
    repeat = [key.split("k")[0] for key in keys]
    for i, key in enumerate(keys):
        others = [j for j in range(len(keys)) if repeat[j] == repeat[i] and j != i and (not past_only or j < i)]
        if not others:
            out[key] = uniform(kind, params["method"], scores[i])
            continue
        P = np.concatenate([scores[j] for j in others])
        rows = np.concatenate([tests[j] for j in others])
        out[key] = fit_combiner(P, y[rows], kind, params["method"], metric, rounds=params["rounds"],
                                penalty=params["penalty"], kw=kw)
    return out
