"""The judge's metrics: one entry point, :func:`compute_metric`, and :func:`calibration`.

Input conventions (everyone codes against these):

* binary: ``y_true`` 0/1 ints, ``y_pred`` = P(y=1) (1-D). Labels are accepted for
  ``accuracy``/``macro_f1``; probabilities there are thresholded at ``threshold`` (0.5).
* multiclass: ``y_pred`` 2-D probabilities, columns = classes in sorted order
  (``labels`` kw overrides), or 1-D labels for ``accuracy``/``macro_f1``.
* regression: floats.
* survival: ``y_true`` a scikit-survival structured array (``event`` bool, ``time`` float;
  build it with ``sksurv.util.Surv.from_arrays``); ``y_pred`` a risk score, higher =
  earlier event. ``uno_c`` and ``integrated_brier`` take ``y_train`` (the censoring
  distribution is estimated on it; defaults to ``y_true``); ``integrated_brier`` needs
  ``surv_fn`` (n x len(times) survival probabilities) and ``times``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from sklearn import metrics as skm

from autods.errors import JudgeError
from autods.judge.score import METRICS

__all__ = ["Calibration", "calibration", "compute_metric", "EPS"]

#: Probabilities are clipped to [EPS, 1 - EPS] before any logit.
EPS = 1e-12


@dataclass(frozen=True)
class Calibration:
    """Logistic recalibration summary. Ideal: slope 1, intercept 0.

    ``slope``: coefficient of logit(p) in ``logit P(y=1) = a + b * logit(p)`` (< 1 means
    overconfident predictions). ``intercept``: calibration-in-the-large, the intercept of
    ``logit P(y=1) = a + logit(p)`` (logit(p) as an offset; > 0 means risk underestimated).
    Both are NaN when the logistic fit does not exist (perfect separation).
    """

    slope: float
    intercept: float
    brier: float


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPS, 1.0 - EPS)
    return np.log(p) - np.log1p(-p)


def _binary(y_true: Any, both_classes: bool = True) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise JudgeError("binary metrics need y_true as a 1-D array of 0/1")
    if both_classes and np.unique(y).size < 2:
        raise JudgeError("metric undefined: y_true has a single class")
    return y.astype(int)


def calibration(y_true: Any, p: Any) -> Calibration:
    """Calibration slope, calibration-in-the-large and Brier score of probabilities ``p``."""
    # statsmodels is imported here because it is slow to import and only this needs it.
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    y = _binary(y_true)
    p = np.asarray(p, dtype=float)
    if p.shape != y.shape:
        raise JudgeError(f"calibration: y_true has shape {y.shape}, p has {p.shape}")
    lp = _logit(p)
    brier = float(np.mean((np.clip(p, 0.0, 1.0) - y) ** 2))
    family = sm.families.Binomial()
    with warnings.catch_warnings():
        # Separation makes the MLE not exist; we report NaN instead of a huge number.
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            citl_fit = sm.GLM(y, np.ones((y.size, 1)), family=family, offset=lp).fit()
            if np.ptp(lp) < 1e-12:  # a constant score (the dummy baseline) has no slope to fit
                return Calibration(slope=float("nan"), intercept=float(citl_fit.params[0]), brier=brier)
            slope_fit = sm.GLM(y, sm.add_constant(lp, has_constant="add"), family=family).fit()
        except (PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError):
            return Calibration(slope=float("nan"), intercept=float("nan"), brier=brier)
    return Calibration(
        slope=float(slope_fit.params[1]), intercept=float(citl_fit.params[0]), brier=brier
    )


def _class_labels(y_true: np.ndarray, n_cols: int, labels: Any) -> np.ndarray:
    if labels is not None:
        labels = np.asarray(labels)
    else:
        labels = np.unique(y_true)
        if labels.size != n_cols:
            if np.issubdtype(y_true.dtype, np.integer) and labels.min() >= 0 and labels.max() < n_cols:
                labels = np.arange(n_cols)  # a resample/subgroup can miss a class
            else:
                raise JudgeError(
                    f"y_pred has {n_cols} columns but y_true has {labels.size} classes; pass labels="
                )
    if labels.size != n_cols:
        raise JudgeError(f"labels has {labels.size} entries but y_pred has {n_cols} columns")
    return labels


def _as_labels(y_true: np.ndarray, y_pred: np.ndarray, kw: dict[str, Any]) -> np.ndarray:
    """Predicted labels: argmax of 2-D probabilities, threshold of binary P(y=1), else as is."""
    if y_pred.ndim == 2:
        labels = _class_labels(y_true, y_pred.shape[1], kw.get("labels"))
        return labels[np.argmax(y_pred, axis=1)]
    is_binary = np.isin(y_true, (0, 1)).all()
    if is_binary and np.issubdtype(y_pred.dtype, np.floating) and not np.isin(y_pred, (0, 1)).all():
        return (y_pred >= kw.get("threshold", 0.5)).astype(int)
    return y_pred


def _survival(y: Any, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.dtype.names is None or not {"event", "time"} <= set(arr.dtype.names):
        raise JudgeError(
            f"{name} must be a structured array with fields 'event' and 'time' "
            "(build it with sksurv.util.Surv.from_arrays(event=..., time=...))"
        )
    return arr


def _auroc(y_true: np.ndarray, y_pred: np.ndarray, kw: dict[str, Any]) -> float:
    if y_pred.ndim == 2:
        labels = _class_labels(y_true, y_pred.shape[1], kw.get("labels"))
        return float(skm.roc_auc_score(y_true, y_pred, multi_class="ovr", labels=labels))
    return float(skm.roc_auc_score(_binary(y_true), y_pred))


def _auprc(y_true: np.ndarray, y_pred: np.ndarray, kw: dict[str, Any]) -> float:
    return float(skm.average_precision_score(_binary(y_true), y_pred))


def _brier(y_true: np.ndarray, y_pred: np.ndarray, kw: dict[str, Any]) -> float:
    if y_pred.ndim == 2:  # multiclass Brier: mean over rows of the squared error vector
        labels = _class_labels(y_true, y_pred.shape[1], kw.get("labels"))
        onehot = (y_true[:, None] == labels[None, :]).astype(float)
        return float(np.mean(np.sum((y_pred - onehot) ** 2, axis=1)))
    return float(np.mean((y_pred - _binary(y_true, both_classes=False)) ** 2))


def _log_loss(y_true: np.ndarray, y_pred: np.ndarray, kw: dict[str, Any]) -> float:
    if y_pred.ndim == 2:
        labels = _class_labels(y_true, y_pred.shape[1], kw.get("labels"))
        p = np.clip(y_pred, EPS, 1.0)
        p = p / p.sum(axis=1, keepdims=True)
        return float(skm.log_loss(y_true, p, labels=labels))
    p = np.clip(y_pred.astype(float), EPS, 1.0 - EPS)
    return float(skm.log_loss(_binary(y_true, both_classes=False), p, labels=[0, 1]))


def _accuracy(y_true: np.ndarray, y_pred: np.ndarray, kw: dict[str, Any]) -> float:
    return float(skm.accuracy_score(y_true, _as_labels(y_true, y_pred, kw)))


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray, kw: dict[str, Any]) -> float:
    pred = _as_labels(y_true, y_pred, kw)
    # zero_division=0: a class never predicted scores F1 = 0 rather than warning.
    return float(skm.f1_score(y_true, pred, average="macro", zero_division=0))


def _r2(y_true: np.ndarray, y_pred: np.ndarray, kw: dict[str, Any]) -> float:
    return float(skm.r2_score(y_true.astype(float), y_pred.astype(float)))


def _rmse(y_true: np.ndarray, y_pred: np.ndarray, kw: dict[str, Any]) -> float:
    return float(np.sqrt(np.mean((y_true.astype(float) - y_pred.astype(float)) ** 2)))


def _c_index(y_true: np.ndarray, y_pred: np.ndarray, kw: dict[str, Any]) -> float:
    from sksurv.metrics import concordance_index_censored

    y = _survival(y_true, "y_true")
    return float(concordance_index_censored(y["event"].astype(bool), y["time"], y_pred)[0])


def _uno_c(y_true: np.ndarray, y_pred: np.ndarray, kw: dict[str, Any]) -> float:
    from sksurv.metrics import concordance_index_ipcw

    y = _survival(y_true, "y_true")
    y_train = _survival(kw.get("y_train", y), "y_train")
    return float(concordance_index_ipcw(y_train, y, y_pred, tau=kw.get("tau"))[0])


def _integrated_brier(y_true: np.ndarray, y_pred: np.ndarray, kw: dict[str, Any]) -> float:
    from sksurv.metrics import integrated_brier_score

    if "surv_fn" not in kw or "times" not in kw:
        raise JudgeError("integrated_brier needs surv_fn= (n x len(times) S(t)) and times=")
    y = _survival(y_true, "y_true")
    y_train = _survival(kw.get("y_train", y), "y_train")
    surv = np.asarray(kw["surv_fn"], dtype=float)
    return float(integrated_brier_score(y_train, y, surv, np.asarray(kw["times"], dtype=float)))


def _calibration_slope(y_true: np.ndarray, y_pred: np.ndarray, kw: dict[str, Any]) -> float:
    return calibration(y_true, y_pred).slope


_METRIC_FUNCS: dict[str, Callable[[np.ndarray, np.ndarray, dict[str, Any]], float]] = {
    "auroc": _auroc,
    "auprc": _auprc,
    "brier": _brier,
    "log_loss": _log_loss,
    "accuracy": _accuracy,
    "macro_f1": _macro_f1,
    "r2": _r2,
    "rmse": _rmse,
    "c_index": _c_index,
    "uno_c": _uno_c,
    "integrated_brier": _integrated_brier,
    "calibration_slope": _calibration_slope,
}
assert set(_METRIC_FUNCS) == set(METRICS), "every metric in score.METRICS needs a function"


def compute_metric(name: str, y_true: Any, y_pred: Any, **kw: Any) -> float:
    """Compute metric ``name`` (see :data:`autods.judge.score.METRICS`) under the conventions above.

    Raises :class:`~autods.errors.JudgeError` for an unknown metric, mismatched lengths, or
    a metric that is undefined on this data (e.g. AUROC with one class).
    """
    if name not in _METRIC_FUNCS:
        raise JudgeError(f"unknown metric {name!r}; the judge knows {sorted(_METRIC_FUNCS)}")
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    if yt.shape[0] != yp.shape[0]:
        raise JudgeError(f"{name}: y_true has {yt.shape[0]} rows but y_pred has {yp.shape[0]}")
    if yt.shape[0] == 0:
        raise JudgeError(f"{name}: no rows to score")
    try:
        return _METRIC_FUNCS[name](yt, yp, kw)
    except ValueError as err:  # sklearn/sksurv reject degenerate input with ValueError
        raise JudgeError(f"{name} is undefined on this data: {err}") from err
