"""Performance evidence for one set of predictions: metrics with CIs, calibration, curve data.

Used on the champion's out-of-fold predictions, on the held-out test rows (inside the one
permitted scoring) and on external data. Every number is computed by the judge's own
functions (:func:`~autods.judge.metrics.compute_metric`, :func:`~autods.judge.bootstrap.bootstrap_ci`,
:func:`~autods.judge.metrics.calibration`); this module only gathers them into JSON.
Curves are downsampled so the fact sheet stays small; the figures are drawn from them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autods.errors import JudgeError
from autods.judge.bootstrap import bootstrap_ci
from autods.judge.metrics import calibration, compute_metric
from autods.runners.evaluate import SECONDARY_METRICS
from autods.runners.record import finite_or_none

__all__ = ["ci_dict", "curves", "performance"]

CURVE_POINTS = 60
CALIBRATION_BINS = 10
KM_GROUPS = ("low", "intermediate", "high")


def ci_dict(metric: str, y: Any, pred: Any, *, seed: int, n_resamples: int, clusters: np.ndarray | None = None,
            **kw: Any) -> dict[str, Any]:
    """``{value, ci_low, ci_high, method, n_resamples}``; CI None when undefined on the resamples."""
    try:
        ci = bootstrap_ci(metric, y, pred, n_resamples=n_resamples, seed=seed, groups=clusters, **kw)
    except JudgeError as err:
        try:
            value = compute_metric(metric, y, pred, **kw)
        except JudgeError:
            value = None
        return {"value": finite_or_none(value), "ci_low": None, "ci_high": None, "method": "none",
                "n_resamples": 0, "note": str(err)}
    return {"value": finite_or_none(ci.value), "ci_low": finite_or_none(ci.low), "ci_high": finite_or_none(ci.high),
            "method": "cluster percentile bootstrap" if clusters is not None else f"{ci.method} bootstrap",
            "n_resamples": int(ci.n_resamples)}


def performance(kind: str, metric: str, y: Any, pred: Any, *, seed: int, n_resamples: int,
                clusters: np.ndarray | None = None, classes: Any = None) -> dict[str, Any]:
    """Primary metric with CI, secondary metrics with CIs, calibration (binary) and curve data."""
    kw = {"labels": np.asarray(classes)} if kind == "multiclass" and classes is not None else {}
    out: dict[str, Any] = {"n": int(len(pred)), **ci_dict(metric, y, pred, seed=seed, n_resamples=n_resamples,
                                                          clusters=clusters, **kw)}
    out["secondary"] = {m: ci_dict(m, y, pred, seed=seed + 1 + i, n_resamples=n_resamples, clusters=clusters, **kw)
                        for i, m in enumerate(SECONDARY_METRICS[kind]) if m != metric}
    out["calibration"] = None
    if kind == "binary":
        out["n_events"] = int(np.sum(y))
        try:
            cal = calibration(y, pred)
            out["calibration"] = {"slope": finite_or_none(cal.slope), "intercept": finite_or_none(cal.intercept),
                                  "brier": finite_or_none(cal.brier)}
        except JudgeError as err:
            out["calibration_note"] = str(err)
    if kind == "survival":
        out["n_events"] = int(np.sum(y["event"]))
    out["curves"] = curves(kind, y, pred, classes)
    return out


def _thin(*arrays: np.ndarray, points: int = CURVE_POINTS) -> list[list[float]]:
    n = len(arrays[0])
    keep = np.unique(np.linspace(0, n - 1, min(points, n)).round().astype(int)) if n else np.array([], dtype=int)
    return [[round(float(v), 6) for v in a[keep]] for a in arrays]


def curves(kind: str, y: Any, pred: Any, classes: Any = None) -> dict[str, Any]:
    """Curve data for the figures: ROC/PR/calibration bins, KM by risk group, binned fit, or
    the confusion matrix (multiclass; rows true class, columns predicted, in ``labels`` order)."""
    pred = np.asarray(pred)
    if kind == "multiclass" and classes is not None and pred.ndim == 2:
        from sklearn.metrics import confusion_matrix

        # compared as text (an object array of integers is a label type sklearn refuses, "unknown"),
        # numbers by value so a class 1 read as 1.0 still matches
        def key(v: Any) -> str:
            try:
                return repr(float(v))
            except (TypeError, ValueError):
                return str(v)

        labels = np.asarray([key(c) for c in classes])
        truth = np.asarray([key(v) for v in np.asarray(y).tolist()])
        matrix = confusion_matrix(truth, labels[np.argmax(pred, axis=1)], labels=labels)
        return {"confusion": {"labels": [str(c) for c in classes], "matrix": matrix.tolist()}}
    if kind == "binary" and np.unique(y).size == 2:
        from sklearn.metrics import precision_recall_curve, roc_curve

        fpr, tpr, _ = roc_curve(y, pred)
        precision, recall, _ = precision_recall_curve(y, pred)
        roc_x, roc_y = _thin(fpr, tpr)
        pr_x, pr_y = _thin(recall[::-1], precision[::-1])
        return {"roc": {"fpr": roc_x, "tpr": roc_y}, "pr": {"recall": pr_x, "precision": pr_y},
                "prevalence": round(float(np.mean(y)), 6), "calibration_bins": _bins(pred, np.asarray(y, float))}
    if kind == "regression":
        return {"fit_bins": _bins(pred, np.asarray(y, float))}
    if kind == "survival":
        return {"km": _km_by_risk(y, pred)}
    return {}


def _bins(pred: np.ndarray, observed: np.ndarray, n_bins: int = CALIBRATION_BINS) -> list[dict[str, float]]:
    """Quantile bins of the prediction: mean predicted vs mean observed, with n."""
    order = np.argsort(pred, kind="stable")
    out = []
    for chunk in np.array_split(order, min(n_bins, len(order))):
        if len(chunk):
            out.append({"predicted": round(float(pred[chunk].mean()), 6),
                        "observed": round(float(observed[chunk].mean()), 6), "n": int(len(chunk))})
    return out


def _km_by_risk(y: Any, risk: np.ndarray) -> dict[str, Any]:
    """Kaplan-Meier curves of risk tertiles and the log-rank test across them."""
    from sksurv.compare import compare_survival
    from sksurv.nonparametric import kaplan_meier_estimator

    cuts = np.quantile(risk, [1 / 3, 2 / 3])
    group = np.digitize(risk, cuts)
    out: dict[str, Any] = {"groups": [], "logrank_chi2": None, "logrank_p": None}
    for g, label in enumerate(KM_GROUPS):
        mask = group == g
        if mask.sum() < 2:
            continue
        times, surv = kaplan_meier_estimator(y["event"][mask], y["time"][mask])
        t, s = _thin(np.concatenate([[0.0], times]), np.concatenate([[1.0], surv]), points=80)
        out["groups"].append({"label": label, "n": int(mask.sum()), "events": int(y["event"][mask].sum()),
                              "time": t, "survival": s})
    if len(out["groups"]) > 1:
        try:
            chi2, p = compare_survival(y, group)
            out["logrank_chi2"], out["logrank_p"] = finite_or_none(chi2), finite_or_none(p)
        except ValueError:  # sksurv refuses degenerate groups (e.g. no events)
            pass
    return out
