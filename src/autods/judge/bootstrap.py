"""Bootstrap confidence intervals, permutation tests and fold-based intervals.

Resampling draws unit indices (rows, or clusters when ``groups`` is given: a cluster
bootstrap takes all rows of each drawn unit) in chunks sized to keep working memory near
:data:`MEMORY_BUDGET` bytes. ``auroc``, ``brier``, ``log_loss``, ``accuracy``, ``r2`` and
``rmse`` are computed for a whole chunk at once (see :mod:`autods.judge._vectorized`);
other metrics loop over the same draws, so both paths see identical resamples.

Resamples on which the metric is undefined (e.g. AUROC with one class drawn) are dropped;
``CI.n_resamples`` is the number kept.

BCa follows Efron (1987) as scipy does: bias correction from the share of replicates below
the estimate (ties count half), acceleration from the leave-one-unit-out jackknife. The
jackknife is exact and closed-form for the vectorised metrics; for other metrics it is
exact up to :data:`JACKKNIFE_MAX` units and otherwise a delete-a-block jackknife over
``JACKKNIFE_MAX`` random blocks of units (an approximation of the acceleration that keeps
the cost bounded; the acceleration is a small correction, so the effect on the CI is small).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from autods.errors import JudgeError
from autods.judge._vectorized import make_kernel, unit_counts
from autods.judge.metrics import compute_metric
from autods.judge.permutation import permutation_test

__all__ = [
    "CI",
    "JACKKNIFE_MAX",
    "MEMORY_BUDGET",
    "bootstrap_ci",
    "bootstrap_replicates",
    "fold_ci",
    "jackknife_values",
    "permutation_test",  # lives in permutation.py; re-exported here where callers look
]

#: Approximate bytes of working memory per chunk of resamples.
MEMORY_BUDGET = 200 * 1024**2
#: Above this many units the generic jackknife switches to blocks (see module docstring).
JACKKNIFE_MAX = 1000
#: Metric keyword arguments holding one entry per row, resampled with the rows.
ROW_KWARGS = frozenset({"surv_fn"})
_BYTES_PER_CELL = 8 * 8  # float64 working arrays alive per (resample, row) cell in a chunk

MetricArg = str | Callable[[Any, Any], float]


@dataclass(frozen=True)
class CI:
    """A point estimate with a two-sided interval. ``n_resamples``: replicates (or folds) used."""

    value: float
    low: float
    high: float
    method: str
    n_resamples: int


def _units(groups: Any, n: int) -> tuple[np.ndarray, int]:
    if groups is None:
        return np.arange(n), n
    g = np.asarray(groups)
    if g.shape[0] != n:
        raise JudgeError(f"groups has {g.shape[0]} entries for {n} rows")
    _, codes = np.unique(g, return_inverse=True)
    codes = codes.ravel()
    return codes, int(codes.max()) + 1


def chunk_size(n_rows: int, n_units: int, n_resamples: int) -> int:
    """Resamples per chunk so one chunk's working arrays stay near :data:`MEMORY_BUDGET`."""
    return int(max(1, min(n_resamples, MEMORY_BUDGET // (_BYTES_PER_CELL * max(n_rows, n_units)))))


def _draws(n_units: int, n_rows: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    step = chunk_size(n_rows, n_units, n_resamples)
    for start in range(0, n_resamples, step):
        yield rng.integers(0, n_units, size=(min(step, n_resamples - start), n_units))


def _rows_of(drawn: np.ndarray, order: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """All rows of the drawn units (with repeats), without a Python loop over units."""
    lengths = sizes[drawn]
    ends = np.cumsum(lengths)
    offsets = np.repeat(starts[drawn] - (ends - lengths), lengths)
    return order[offsets + np.arange(ends[-1])]


def _scorer(metric: MetricArg, kw: dict[str, Any]) -> Callable[[Any, Any, np.ndarray | None], float]:
    row_kw = {k: np.asarray(v) for k, v in kw.items() if k in ROW_KWARGS}
    other_kw = {k: v for k, v in kw.items() if k not in ROW_KWARGS}

    def score(y_true: Any, y_pred: Any, rows: np.ndarray | None) -> float:
        if rows is not None:
            y_true, y_pred = y_true[rows], y_pred[rows]
        if callable(metric):
            return float(metric(y_true, y_pred))
        extra = {k: (v if rows is None else v[rows]) for k, v in row_kw.items()}
        try:
            return compute_metric(metric, y_true, y_pred, **extra, **other_kw)
        except JudgeError:
            return float("nan")  # degenerate resample (e.g. one class drawn): dropped later

    return score


def bootstrap_replicates(
    metric: MetricArg, y_true: Any, y_pred: Any, *, n_resamples: int = 2000, seed: int = 0,
    groups: Any = None, **metric_kw: Any,
) -> np.ndarray:
    """The ``n_resamples`` bootstrap values of ``metric`` (NaN where undefined)."""
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    units, n_units = _units(groups, yt.shape[0])
    kernel = None if callable(metric) else make_kernel(metric, yt, yp, units, n_units, metric_kw)
    out: list[np.ndarray] = []
    if kernel is not None:
        by_rows = groups is None and hasattr(kernel, "replicates_from_rows")
        for drawn in _draws(n_units, yt.shape[0], n_resamples, seed):
            if by_rows:
                out.append(kernel.replicates_from_rows(drawn))
            else:
                out.append(kernel.replicates(unit_counts(drawn, n_units)))
        return np.concatenate(out)
    score = _scorer(metric, metric_kw)
    order = np.argsort(units, kind="stable")
    sizes = np.bincount(units, minlength=n_units)
    starts = np.cumsum(sizes) - sizes
    for drawn in _draws(n_units, yt.shape[0], n_resamples, seed):
        out.append(np.array([score(yt, yp, _rows_of(d, order, starts, sizes)) for d in drawn]))
    return np.concatenate(out)


def jackknife_values(
    metric: MetricArg, y_true: Any, y_pred: Any, *, groups: Any = None, seed: int = 0, **metric_kw: Any
) -> np.ndarray:
    """Leave-one-unit-out values (or delete-a-block values above :data:`JACKKNIFE_MAX` units)."""
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    units, n_units = _units(groups, yt.shape[0])
    kernel = None if callable(metric) else make_kernel(metric, yt, yp, units, n_units, metric_kw)
    if kernel is not None:
        return kernel.jackknife()
    if n_units > JACKKNIFE_MAX:
        blocks = np.random.default_rng(seed).permutation(n_units) % JACKKNIFE_MAX
        units, n_units = blocks[units], JACKKNIFE_MAX
    score = _scorer(metric, metric_kw)
    rows = np.arange(yt.shape[0])
    return np.array([score(yt, yp, rows[units != g]) for g in range(n_units)])


def _bca_levels(reps: np.ndarray, value: float, jack: np.ndarray, alpha: float) -> np.ndarray:
    b = reps.size
    share = (np.sum(reps < value) + np.sum(reps <= value)) / (2.0 * b)
    z0 = special.ndtri(np.clip(share, 0.5 / b, 1 - 0.5 / b))  # finite when value is extreme
    jack = jack[np.isfinite(jack)]
    accel = 0.0  # no usable jackknife: BCa reduces to bias-corrected percentile
    if jack.size > 1:
        d = jack.mean() - jack
        den = 6.0 * np.sum(d**2) ** 1.5
        accel = float(np.sum(d**3) / den) if den > 0 else 0.0
    z = special.ndtri(np.array([alpha / 2, 1 - alpha / 2]))
    return special.ndtr(z0 + (z0 + z) / (1 - accel * (z0 + z)))


def bootstrap_ci(
    metric: MetricArg, y_true: Any, y_pred: Any, *, n_resamples: int = 2000, alpha: float = 0.05,
    method: str = "percentile", seed: int = 0, groups: Any = None, **metric_kw: Any,
) -> CI:
    """Bootstrap CI of ``metric`` (a name from ``METRICS`` or a callable ``f(y_true, y_pred)``).

    ``method``: ``"percentile"`` or ``"bca"``. ``groups``: one unit id per row for a cluster
    bootstrap. Raises :class:`JudgeError` when the metric is undefined on the full data or
    on more than half of the resamples.
    """
    if method not in ("percentile", "bca"):
        raise JudgeError(f"unknown bootstrap method {method!r}; use 'percentile' or 'bca'")
    if not 0 < alpha < 1 or n_resamples < 2:
        raise JudgeError("need 0 < alpha < 1 and n_resamples >= 2")
    value = _scorer(metric, metric_kw)(np.asarray(y_true), np.asarray(y_pred), None)
    if np.isnan(value):
        name = metric if isinstance(metric, str) else "the metric"
        raise JudgeError(f"{name} is undefined on the full data; no interval")
    reps = bootstrap_replicates(metric, y_true, y_pred, n_resamples=n_resamples, seed=seed,
                                groups=groups, **metric_kw)
    reps = reps[np.isfinite(reps)]
    if reps.size < n_resamples / 2:
        raise JudgeError(f"metric undefined on {n_resamples - reps.size} of {n_resamples} "
                         "resamples (too few events?)")
    levels = np.array([alpha / 2, 1 - alpha / 2])
    if method == "bca":
        jack = jackknife_values(metric, y_true, y_pred, groups=groups, seed=seed, **metric_kw)
        levels = _bca_levels(reps, value, jack, alpha)
    low, high = np.percentile(reps, 100 * levels)
    return CI(value=float(value), low=float(low), high=float(high), method=method,
              n_resamples=int(reps.size))


def fold_ci(values: Any, alpha: float = 0.05) -> CI:
    """Mean of per-fold values +/- t(k-1) * sd / sqrt(k).

    Folds share training rows, so this interval is optimistic (too narrow); it summarises
    fold spread and is no substitute for a bootstrap on held-out predictions.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 2 or not np.all(np.isfinite(v)):
        raise JudgeError("fold_ci needs at least two finite fold values")
    mean, half = v.mean(), stats.t.ppf(1 - alpha / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return CI(value=float(mean), low=float(mean - half), high=float(mean + half), method="t",
              n_resamples=int(v.size))
