"""Plain reference models on the run's own split, and readers of what the run recorded.

The band a champion must land in is computed here, not remembered: a standardised
logistic / ridge / multinomial regression, or a ridge-penalised Cox model (scikit-survival),
fitted on the run's development rows (``holdout.json`` train indices of the analytic frame)
and scored on its held-out rows with the same metric the judge uses. A champion far below
it failed to learn; far above it learned something a plain model on honest predictors
cannot see, which on these cohorts means leakage (an identifier, a post-outcome column,
or rows of one patient on both sides of the split).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import f1_score, r2_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from gauntlet import Reference

__all__ = ["holdout", "read_json", "reference_cv", "reference_value", "track_entries"]


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def holdout(run: Path) -> tuple[np.ndarray, np.ndarray]:
    doc = read_json(run / "holdout.json")
    return np.asarray(doc["train_idx"], dtype=int), np.asarray(doc["test_idx"], dtype=int)


def track_entries(run: Path) -> list[dict[str, Any]]:
    lines = (run / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    return [e for e in map(json.loads, lines) if e.get("type") == "track"]


def _design(ref: Reference, frame: pd.DataFrame) -> Any:
    missing = [c for c in ref.inputs if c not in frame.columns]
    if missing:
        raise AssertionError(f"reference features missing from the analytic frame: {missing}")
    # SurvSet marks categorical columns fac_* (their values are often integer codes)
    cats = [c for c in ref.inputs if c in ref.categorical or c.startswith("fac_")
            or not pd.api.types.is_numeric_dtype(frame[c])]
    nums = [c for c in ref.inputs if c not in cats]
    parts = [("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), nums)]
    if cats:
        parts.append(("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                           OneHotEncoder(handle_unknown="ignore", drop="if_binary")), cats))
    return ColumnTransformer(parts)


def _as_str(frame: pd.DataFrame, ref: Reference) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if c in ref.categorical or str(c).startswith("fac_"):
            out[c] = out[c].astype("string").astype(object).where(out[c].notna(), np.nan)
    return out


def _predict(ref: Reference, endpoint: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Fit the reference on ``train``; its predictions for ``test`` (risk, value, P(positive) or label)."""
    train, test = _as_str(train, ref), _as_str(test, ref)
    X_tr, X_te = train[list(ref.inputs)], test[list(ref.inputs)]
    prep = _design(ref, train)
    if ref.kind == "cox":
        from sksurv.linear_model import CoxPHSurvivalAnalysis
        from sksurv.util import Surv

        t, e = endpoint["time"], endpoint["event"]
        ok = (train[t].notna() & train[e].notna()).to_numpy()
        y_tr = Surv.from_arrays(train.loc[ok, e].astype(float).astype(bool), train.loc[ok, t].astype(float))
        return make_pipeline(prep, CoxPHSurvivalAnalysis(alpha=ref.cox_alpha)).fit(X_tr[ok], y_tr).predict(X_te)
    col = endpoint["column"]
    if ref.kind == "ridge":
        return make_pipeline(prep, Ridge(alpha=1.0)).fit(X_tr, train[col].astype(float)).predict(X_te)
    if ref.kind == "logistic":
        y_tr = (train[col].astype(str) == str(ref.positive)).astype(int)
        return make_pipeline(prep, LogisticRegression(max_iter=5000)).fit(X_tr, y_tr).predict_proba(X_te)[:, 1]
    if ref.kind == "multinomial":
        return make_pipeline(prep, LogisticRegression(max_iter=5000)).fit(X_tr, train[col].astype(str)).predict(X_te)
    raise ValueError(f"unknown reference kind {ref.kind!r}")


def _score(ref: Reference, endpoint: dict[str, Any], test: pd.DataFrame, pred: np.ndarray) -> float:
    """The judge's metric: Harrell's C, R2, AUROC or macro-F1."""
    if ref.kind == "cox":
        from sksurv.metrics import concordance_index_censored

        t, e = endpoint["time"], endpoint["event"]
        return float(concordance_index_censored(test[e].astype(float).astype(bool).to_numpy(),
                                                test[t].astype(float).to_numpy(), pred)[0])
    y = test[endpoint["column"]]
    if ref.kind == "ridge":
        return float(r2_score(y.astype(float), pred))
    if ref.kind == "logistic":
        return float(roc_auc_score((y.astype(str) == str(ref.positive)).astype(int), pred))
    return float(f1_score(y.astype(str), pred, average="macro"))


def _quiet_predict(ref: Reference, endpoint: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    with warnings.catch_warnings():
        # the reference is a plain model, not the subject under test: a slow convergence or an
        # overflow in exp() on a wide panel must not fail the cohort (the product's own warnings still do)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", "Found unknown categories", UserWarning)  # a level seen only in test
        return _predict(ref, endpoint, train, test)


def reference_value(ref: Reference, endpoint: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame) -> float:
    """Fit the reference on ``train`` and score ``test`` with the judge's metric."""
    return _score(ref, endpoint, test, _quiet_predict(ref, endpoint, train, test))


def reference_cv(ref: Reference, endpoint: dict[str, Any], dev: pd.DataFrame, unit: str | None,
                 n_splits: int = 5, seed: int = 0) -> float:
    """The reference's metric on its pooled out-of-fold predictions over the development rows (as
    the judge pools its CV), whole units per fold when the plan has a unit: the honest counterpart
    of the champion's CV figure (row folds over repeated units inflate it)."""
    from sklearn.model_selection import GroupKFold, KFold

    dev = dev.reset_index(drop=True)
    if unit:
        folds = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(dev, groups=dev[unit])
    else:
        folds = KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(dev)
    rows, preds = [], []
    for tr, te in folds:
        rows.append(te)
        preds.append(_quiet_predict(ref, endpoint, dev.iloc[tr], dev.iloc[te]))
    order = np.concatenate(rows)
    return _score(ref, endpoint, dev.iloc[order], np.concatenate(preds))
