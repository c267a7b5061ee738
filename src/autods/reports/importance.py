"""Which inputs the champion relies on: permutation importance, and SHAP when installed.

Permutation importance is scikit-learn's, scored with the judge's primary metric in its
"higher is better" orientation, so an importance is the drop in the metric when a column's
values are shuffled. It runs on the held-out rows inside the one permitted scoring (see
:mod:`autods.reports.validate`): the test rows are touched once, for every number at once.
SHAP (extra ``shap``) explains the fitted estimator on the preprocessed matrix and sums
mean |SHAP| back onto the raw input columns.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import numpy as np
import pandas as pd

from autods.errors import JudgeError
from autods.judge.metrics import compute_metric
from autods.judge.score import direction_value

__all__ = ["permutation_importances", "shap_importances"]


class _Facade:
    """The minimal estimator sklearn's permutation_importance needs around a fitted runner."""

    def __init__(self, runner: Any, extra: pd.DataFrame) -> None:
        self.runner, self.extra = runner, extra

    def fit(self, X: Any, y: Any = None) -> _Facade:  # never called; sklearn's API shape
        return self

    def score_rows(self, X: pd.DataFrame) -> np.ndarray:
        # Columns not being shuffled (the unit id, inputs left off a shortlist) are re-attached by row label.
        frame = X if self.extra.empty else X.join(self.extra.loc[X.index])
        return np.asarray(self.runner.predict_score(frame))


#: Wide inputs (e.g. 700 genes) are not each shuffled: the most prediction-related ones are.
MAX_PERMUTED = 50


def _shortlist(runner: Any, frame: pd.DataFrame, features: list[str], limit: int) -> list[str]:
    """All features when few; else non-numeric ones plus the numeric ones whose |Spearman rho|
    with the prediction is largest (a model-agnostic, one-prediction ranking)."""
    if len(features) <= limit:
        return features
    pred = np.asarray(runner.predict_score(frame))
    score = pred if pred.ndim == 1 else pred[:, int(np.argmax(pred.var(axis=0)))]
    numeric = [f for f in features if pd.api.types.is_numeric_dtype(frame[f])]
    others = [f for f in features if f not in numeric]
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant column has no correlation: NaN -> 0
        rho = frame[numeric].rank().corrwith(pd.Series(score, index=frame.index).rank()).abs().fillna(0.0)
    keep = max(limit - len(others), 0)
    return others + list(rho.sort_values(ascending=False, kind="mergesort").index[:keep])


def permutation_importances(runner: Any, frame: pd.DataFrame, y: Any, metric: str, *, seed: int,
                            n_repeats: int = 5, kw: dict[str, Any] | None = None,
                            max_features: int = MAX_PERMUTED) -> dict[str, Any]:
    """Mean and SD of the metric drop per input column over ``n_repeats`` shuffles, sorted.

    With more than ``max_features`` inputs, only a shortlist is shuffled (see :func:`_shortlist`);
    the result says so (``n_features_total`` vs ``n_features_permuted``).
    """
    from sklearn.inspection import permutation_importance

    kw = kw or {}
    features = [str(c) for c in runner.feature_names_in_]
    chosen = _shortlist(runner, frame, features, max_features)
    order = [c for c in getattr(runner, "order_columns_", [runner.unit_column_]) if c and c in frame.columns]
    fixed = [c for c in features if c not in chosen] + [c for c in order if c not in features]
    extra = frame[fixed] if fixed else pd.DataFrame(index=frame.index)

    def scorer(est: _Facade, X: pd.DataFrame, yy: Any) -> float:
        try:
            return direction_value(metric, compute_metric(metric, yy, est.score_rows(X), **kw))
        except JudgeError:
            return float("nan")

    res = permutation_importance(_Facade(runner, extra), frame[chosen], y, scoring=scorer,
                                 n_repeats=n_repeats, random_state=seed, n_jobs=1)
    rows = [{"feature": f, "mean": float(m), "sd": float(s)}
            for f, m, s in zip(chosen, res.importances_mean, res.importances_std) if np.isfinite(m)]
    rows.sort(key=lambda r: -r["mean"])
    return {"method": "permutation", "metric": metric, "n_repeats": n_repeats, "n_rows": int(len(frame)),
            "n_features_total": len(features), "n_features_permuted": len(chosen), "features": rows}


def _raw_feature(name: str, features: list[str], blocks: dict[str, list[str]] | None = None) -> str | None:
    """'categorical__sex_F' or 'numeric__missingindicator_age' -> the raw column it came from.

    Names are the user's own and may contain '_' or '__' ('a_b' next to a categorical 'a'
    with level 'b'), so the candidates are the columns of the output's own block, and the
    exact name wins over the longest prefix.
    """
    block, _, rest = name.partition("__")
    candidates = (blocks or {}).get(block, features)
    for text in (rest, rest.removeprefix("missingindicator_")):
        if text in candidates:
            return text
    rest = rest.removeprefix("missingindicator_")
    matches = [f for f in candidates if rest.startswith(f + "_")]
    return max(matches, key=len) if matches else None


def _blocks(columns: Any) -> dict[str, list[str]]:
    """ColumnTransformer block name -> the raw columns it reads (fitted ``transformers_``)."""
    return {str(b): [str(c) for c in cols] for b, _, cols in getattr(columns, "transformers_", []) if isinstance(cols, list)}


# shap's permutation explainer needs at least 2p + 1 model calls per explained row, each over the
# background rows; past this many model inputs that is minutes of a validation for a table the
# permutation importance above already gives, so SHAP is skipped with that reason instead.
MAX_SHAP_INPUTS = 100


def shap_importances(runner: Any, frame: pd.DataFrame, *, seed: int, max_rows: int = 200) -> dict[str, Any] | None:
    """Mean |SHAP| per raw input column (model-agnostic explainer), or None without ``shap``.

    Where SHAP is not computed although ``shap`` is installed, the result is ``{"skipped": reason}``
    so the report says why rather than suggesting an install.
    """
    if importlib.util.find_spec("shap") is None:
        return None
    if runner.kind_ == "multiclass":
        return {"method": "shap-permutation", "skipped": "multiclass models get one SHAP matrix per class; "
                "the permutation importance above covers them"}
    if getattr(getattr(runner, "recipe_", None), "family", None) == "code":
        return {"method": "shap-permutation", "skipped": "agent-written code predicts only inside the sandbox, one "
                "round trip per call, and the explainer needs thousands of calls; the permutation importance above "
                "covers it"}
    with warnings.catch_warnings():
        # shap's colour module calls a matplotlib API that matplotlib marks for deprecation.
        warnings.filterwarnings("ignore", message="The set_(bad|over|under) function", category=PendingDeprecationWarning)
        import shap

    prep, model = runner.pipeline_[:-1], runner.pipeline_[-1]
    rows = frame.sample(n=min(max_rows, len(frame)), random_state=seed)
    X = np.asarray(prep.transform(runner._inputs(rows, list(runner.feature_names_in_), runner.unit_column_,
                                                 getattr(runner, "time_column_", None))), dtype=float)
    columns = runner.pipeline_.named_steps["prep"].named_steps["columns"]
    names, blocks = list(columns.get_feature_names_out()), _blocks(columns)
    if X.shape[1] > MAX_SHAP_INPUTS:
        return {"method": "shap-permutation", "skipped": f"the model has {X.shape[1]} inputs, more than the "
                f"{MAX_SHAP_INPUTS} the permutation explainer is run on; the permutation importance above covers them"}
    if runner.kind_ == "binary":
        def f(m: np.ndarray) -> np.ndarray:
            return model.predict_proba(m)[:, list(model.classes_).index(1)]
    else:
        f = model.predict
    background = X[: min(100, len(X))]
    explainer = shap.explainers.Permutation(f, shap.maskers.Independent(background), seed=seed)
    values = np.abs(explainer(X, max_evals=max(500, 2 * X.shape[1] + 1), silent=True).values).mean(axis=0)
    features = [str(c) for c in runner.feature_names_in_]
    totals: dict[str, float] = {}
    for name, v in zip(names, values):
        raw = _raw_feature(name, features, blocks) or name.split("__", 1)[-1]
        totals[raw] = totals.get(raw, 0.0) + float(v)
    rows = sorted(({"feature": k, "mean_abs": v} for k, v in totals.items()), key=lambda r: -r["mean_abs"])
    return {"method": "shap-permutation", "n_rows": int(len(X)), "features": rows}
