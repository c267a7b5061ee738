"""Incremental value of candidates over a demographics-only model, by nested cross-validation.

Outer folds estimate the gain; everything learned from data happens inside an outer
training fold: the top-k candidates are re-selected there by |Spearman| (so selection
cannot leak the outer test fold), and the penalty is tuned by an inner CV. Models: ridge
(continuous, R^2), L2 logistic (binary, AUROC), L2-penalized Cox (survival, Harrell's C).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from autods.judge.biomarkers.screening import Response
from autods.judge.biomarkers.stats import corrwith, rank_columns

__all__ = ["IncrementalResult", "incremental_value"]

_GRID = np.logspace(-3, 3, 7)


@dataclass(frozen=True)
class IncrementalResult:
    """Demographics-only vs demographics + top-k: CV means, the gain and its SD over outer folds."""

    metric: str
    base: float
    full: float
    gain: float
    gain_sd: float
    fold_gains: tuple[float, ...]
    train_full: float
    selected: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"metric": self.metric, "base": self.base, "full": self.full, "gain": self.gain,
                "gain_sd": self.gain_sd, "n_folds": len(self.fold_gains), "selected": list(self.selected)}


def _model(kind: str, seed: int) -> BaseEstimator:
    if kind == "continuous":
        return make_pipeline(StandardScaler(), RidgeCV(alphas=_GRID))
    if kind == "binary":
        grid = {"logisticregression__C": _GRID}
        return GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), grid, cv=3, scoring="roc_auc")
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    return GridSearchCV(make_pipeline(StandardScaler(), CoxPHSurvivalAnalysis()), {"coxphsurvivalanalysis__alpha": _GRID}, cv=3)


def _target(response: Response) -> np.ndarray:
    if response.kind != "survival":
        return np.asarray(response.y)
    from sksurv.util import Surv

    return Surv.from_arrays(event=np.asarray(response.event, dtype=bool), time=np.asarray(response.y, dtype=float))


def _score(kind: str, model: BaseEstimator, X: np.ndarray, y: np.ndarray) -> float:
    if kind == "continuous":
        return float(r2_score(y, model.predict(X)))
    if kind == "binary":
        return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))
    from sksurv.metrics import concordance_index_censored

    return float(concordance_index_censored(y["event"], y["time"], model.predict(X))[0])


def incremental_value(
    demographics: np.ndarray,
    candidates: np.ndarray,
    names: list[str] | tuple[str, ...],
    response: Response,
    top_k: int = 5,
    n_splits: int = 5,
    seed: int = 0,
) -> IncrementalResult:
    """Nested-CV gain (delta R^2, AUROC or C) of adding the top-k candidates to demographics."""
    D = np.asarray(demographics, dtype=float).reshape(response.n, -1)
    C = np.asarray(candidates, dtype=float).reshape(response.n, -1)
    y = _target(response)
    metric = {"continuous": "r2", "binary": "auroc", "survival": "c_index"}[response.kind]
    strata = np.asarray(response.event if response.kind == "survival" else response.y)
    splitter = (StratifiedKFold(n_splits, shuffle=True, random_state=seed) if response.kind != "continuous"
                else KFold(n_splits, shuffle=True, random_state=seed))
    base, full, train, picks = [], [], [], []
    for tr, te in splitter.split(C, strata.astype(int) if response.kind != "continuous" else None):
        w = response.subset(tr).working()
        rho = corrwith(rank_columns(C[tr]), rank_columns(w))
        top = np.argsort(-np.abs(rho), kind="mergesort")[:top_k]
        picks.append(tuple(names[j] for j in top))
        Xb_tr, Xb_te = (D[tr], D[te]) if D.shape[1] else (np.zeros((tr.size, 1)), np.zeros((te.size, 1)))
        Xf_tr, Xf_te = np.column_stack([Xb_tr, C[tr][:, top]]), np.column_stack([Xb_te, C[te][:, top]])
        m_base = _model(response.kind, seed).fit(Xb_tr, y[tr])
        m_full = _model(response.kind, seed).fit(Xf_tr, y[tr])
        base.append(_score(response.kind, m_base, Xb_te, y[te]))
        full.append(_score(response.kind, m_full, Xf_te, y[te]))
        train.append(_score(response.kind, m_full, Xf_tr, y[tr]))
    gains = np.asarray(full) - np.asarray(base)
    # The candidates most often selected across folds, for reporting.
    counts: dict[str, int] = {}
    for pick in picks:
        for name in pick:
            counts[name] = counts.get(name, 0) + 1
    selected = tuple(sorted(counts, key=lambda k: (-counts[k], k))[:top_k])
    return IncrementalResult(metric, float(np.mean(base)), float(np.mean(full)), float(gains.mean()),
                             float(gains.std(ddof=1)) if gains.size > 1 else 0.0,
                             tuple(float(g) for g in gains), float(np.mean(train)), selected)
