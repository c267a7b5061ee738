"""The peers of bench/quality.py, each fitted on the development rows and predicting the held-out rows.

``default`` (logistic / multinomial logistic / ridge / Cox) and ``lightgbm`` (survival: sksurv's
gradient-boosted Cox) share one preprocessing: median imputation and scaling of numeric
columns, mode imputation and one-hot encoding of the others. ``rsf`` is a random survival
forest. FLAML and AutoGluon get the raw columns (they preprocess themselves) and no survival
task exists in either.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FLAML_SECONDS, AUTOGLUON_SECONDS = 60, 120
QUICK_FLAML_SECONDS, QUICK_AUTOGLUON_SECONDS = 15, 30
FLAML_METRIC = {"binary": "roc_auc", "multiclass": "macro_f1", "regression": "r2"}
AUTOGLUON_METRIC = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "r2"}


def _inputs(cohort: Any, frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=list(cohort.outcome_columns))


def _numeric(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]


def _preprocess(frame: pd.DataFrame) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    num = _numeric(frame)
    cat = [c for c in frame.columns if c not in num]
    return ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)), cat),
    ])


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Non-numeric columns as strings (the imputer and encoder reject mixed object columns)."""
    out = frame.copy()
    for c in out.columns:
        if c not in _numeric(out):
            out[c] = out[c].map(lambda v: np.nan if pd.isna(v) else str(v))
    return out


def _simple(cohort: Any, dev: pd.DataFrame, test: pd.DataFrame) -> dict[str, np.ndarray]:
    from lightgbm import LGBMClassifier, LGBMRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline

    X, Xt = _as_text(_inputs(cohort, dev)), _as_text(_inputs(cohort, test))
    out: dict[str, np.ndarray] = {}
    kind = cohort.task_type
    if kind == "survival":
        from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest
        from sksurv.linear_model import CoxPHSurvivalAnalysis
        from sksurv.util import Surv

        y = Surv.from_arrays(dev[cohort.event].astype(bool).to_numpy(), dev[cohort.time].astype(float).to_numpy())
        models = {"default": CoxPHSurvivalAnalysis(), "lightgbm": GradientBoostingSurvivalAnalysis(random_state=0),
                  "rsf": RandomSurvivalForest(random_state=0, n_jobs=2, low_memory=True)}
        for name, model in models.items():
            pipe = make_pipeline(_preprocess(X), model)
            try:
                pipe.fit(X, y)
            except (ValueError, np.linalg.LinAlgError) as err:
                if name != "default":
                    raise
                # an unpenalised Cox that does not converge (separation, collinear dummies): smallest ridge
                pipe = make_pipeline(_preprocess(X), CoxPHSurvivalAnalysis(alpha=1e-4)).fit(X, y)
                out.setdefault("_notes", []).append(f"default Cox failed ({err}); alpha 1e-4 used")
            out[name] = np.asarray(pipe.predict(Xt), dtype=float)
        return out
    y = dev[cohort.endpoint]
    if kind == "binary":
        y = (y == cohort.positive).astype(int)
    if kind in ("binary", "multiclass"):
        models = {"default": LogisticRegression(max_iter=5000), "lightgbm": LGBMClassifier(random_state=0, verbose=-1)}
    else:
        models = {"default": Ridge(), "lightgbm": LGBMRegressor(random_state=0, verbose=-1)}
    for name, model in models.items():
        pipe = make_pipeline(_preprocess(X), model).fit(X, y)
        out[name] = pipe.predict_proba(Xt)[:, 1] if kind == "binary" else np.asarray(pipe.predict(Xt))
    return out


def _categorised(dev: pd.DataFrame, test: pd.DataFrame, cols: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    dev, test = dev.copy(), test.copy()
    for c in cols:
        if c not in _numeric(dev):
            cats = pd.Index(sorted(set(dev[c].dropna().astype(str)) | set(test[c].dropna().astype(str))))
            dev[c] = pd.Categorical(dev[c].astype(str).where(dev[c].notna()), categories=cats)
            test[c] = pd.Categorical(test[c].astype(str).where(test[c].notna()), categories=cats)
    return dev, test


def _flaml(cohort: Any, dev: pd.DataFrame, test: pd.DataFrame, seconds: int) -> np.ndarray:
    from flaml import AutoML

    logging.getLogger("flaml").setLevel(logging.WARNING)
    X, Xt = _categorised(_inputs(cohort, dev), _inputs(cohort, test), list(_inputs(cohort, dev).columns))
    y = dev[cohort.endpoint]
    kind = cohort.task_type
    if kind == "binary":
        y = (y == cohort.positive).astype(int)
    automl = AutoML()
    automl.fit(X, y, task="regression" if kind == "regression" else "classification", metric=FLAML_METRIC[kind],
               time_budget=seconds, n_jobs=2, seed=0, verbose=0)
    return automl.predict_proba(Xt)[:, 1] if kind == "binary" else np.asarray(automl.predict(Xt))


def _autogluon(cohort: Any, dev: pd.DataFrame, test: pd.DataFrame, seconds: int, path: Path) -> np.ndarray:
    from autogluon.tabular import TabularPredictor

    # without torch/catboost AutoGluon skips those models and says so on every fit: once is enough
    logging.getLogger("autogluon").setLevel(logging.ERROR)
    kind = cohort.task_type
    label = cohort.endpoint
    train = dev.copy()
    if kind == "binary":
        train[label] = (train[label] == cohort.positive).astype(int)
    predictor = TabularPredictor(label=label, problem_type=kind, eval_metric=AUTOGLUON_METRIC[kind],
                                 path=str(path), verbosity=0)
    predictor.fit(train, presets="medium_quality", time_limit=seconds)
    Xt = test.drop(columns=[label])
    if kind == "binary":
        return predictor.predict_proba(Xt)[1].to_numpy()
    return predictor.predict(Xt).to_numpy()


def fit_peers(cohort: Any, dev: pd.DataFrame, test: pd.DataFrame, *, quick: bool,
              workdir: Path) -> tuple[dict[str, np.ndarray], list[str], dict[str, float]]:
    """Held-out predictions of every peer that supports the cohort's task, notes, and fit seconds."""
    seconds: dict[str, float] = {}
    t = time.monotonic()
    with warnings.catch_warnings():
        # the peers run as their defaults; their convergence chatter is not a result
        warnings.simplefilter("ignore")
        preds = _simple(cohort, dev, test)
    notes = list(preds.pop("_notes", []))
    seconds["default+lightgbm" + ("+rsf" if cohort.task_type == "survival" else "")] = round(time.monotonic() - t, 1)
    if cohort.task_type == "survival":
        notes.append("FLAML and AutoGluon have no survival task: skipped; 'lightgbm' here is sksurv's "
                     "gradient-boosted Cox (LightGBM has no survival objective)")
        return preds, notes, seconds
    fs, ags = (QUICK_FLAML_SECONDS, QUICK_AUTOGLUON_SECONDS) if quick else (FLAML_SECONDS, AUTOGLUON_SECONDS)
    workdir.mkdir(parents=True, exist_ok=True)
    for name, fit in (("flaml", lambda: _flaml(cohort, dev, test, fs)),
                      ("autogluon", lambda: _autogluon(cohort, dev, test, ags, workdir / "autogluon"))):
        t = time.monotonic()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                preds[name] = fit()
        except (ValueError, RuntimeError, KeyError, TypeError, MemoryError) as err:
            # one peer's crash must not end a two-hour run; it is reported, and the cohort has the others
            notes.append(f"{name} failed: {type(err).__name__}: {err}")
        seconds[name] = round(time.monotonic() - t, 1)
    notes.append(f"FLAML time budget {fs} s, AutoGluon medium_quality {ags} s")
    return preds, notes, seconds
