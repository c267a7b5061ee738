"""Per-subgroup performance with bootstrap CIs (clustered by unit when given), and the
largest gap per column.

Point values come from fairlearn's ``MetricFrame``. It is handed row indices rather than
the arrays themselves, so every data shape the judge accepts (probability matrices,
survival structured arrays) reaches :func:`compute_metric` unchanged. A subgroup with fewer
than ``min_n`` rows, or on which the metric is undefined (e.g. one class), gets value NaN
and a note instead of a number that would not mean anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from autods.errors import JudgeError
from autods.judge.bootstrap import bootstrap_ci
from autods.judge.metrics import compute_metric
from autods.judge.score import direction_value

__all__ = ["MISSING", "SubgroupResult", "largest_gap", "subgroup_metrics"]

#: Label of rows whose subgroup value is missing (they form their own subgroup).
MISSING = "<missing>"


@dataclass(frozen=True)
class SubgroupResult:
    column: str
    group: str
    n: int
    metric: str
    value: float
    ci_low: float
    ci_high: float
    note: str = ""


def _labels(values: Any, n: int, column: str) -> np.ndarray:
    col = pd.Series(np.asarray(values, dtype=object))
    if len(col) != n:
        raise JudgeError(f"subgroup column {column!r} has {len(col)} values for {n} rows")
    # str labels: stable JSON keys in the fact sheet; missing values stay visible as a group
    return np.where(col.isna(), MISSING, col.astype(str)).astype(str)


def _groups_of(
    metric: str, yt: np.ndarray, yp: np.ndarray, labels: np.ndarray, min_n: int, kw: dict[str, Any]
) -> dict[str, tuple[float, str]]:
    from fairlearn.metrics import MetricFrame  # heavy import, only needed here

    notes: dict[str, str] = {}

    def on_rows(idx_true: np.ndarray, _idx_pred: np.ndarray) -> float:
        rows = np.asarray(idx_true)
        group = str(labels[rows[0]])
        if rows.size < min_n:
            notes[group] = f"n={rows.size} < min_n={min_n}"
            return float("nan")
        try:
            return compute_metric(metric, yt[rows], yp[rows], **kw)
        except JudgeError as err:
            notes[group] = f"undefined: {err}"
            return float("nan")

    idx = np.arange(yt.shape[0])
    frame = MetricFrame(metrics=on_rows, y_true=idx, y_pred=idx, sensitive_features=labels)
    return {str(g): (float(v), notes.get(str(g), "")) for g, v in frame.by_group.items()}


def subgroup_metrics(
    metric: str, y_true: Any, y_pred: Any, groups: dict[str, Any], *, n_resamples: int = 500,
    seed: int = 0, min_n: int = 20, units: Any = None, **metric_kw: Any,
) -> list[SubgroupResult]:
    """One :class:`SubgroupResult` per (column, group), in column order then group order.

    ``units``: one unit (patient) id per row. Given, each subgroup's interval is a cluster
    bootstrap over the subgroup's units: with several rows per patient, resampling rows
    would treat correlated rows as independent and give intervals that are too narrow.
    """
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    unit_ids = None if units is None else np.asarray(units)
    if unit_ids is not None and unit_ids.shape[0] != yt.shape[0]:
        raise JudgeError(f"units has {unit_ids.shape[0]} values for {yt.shape[0]} rows")
    results: list[SubgroupResult] = []
    for c_index, (column, values) in enumerate(groups.items()):
        labels = _labels(values, yt.shape[0], column)
        points = _groups_of(metric, yt, yp, labels, min_n, metric_kw)
        for g_index, (group, (value, note)) in enumerate(sorted(points.items())):
            mask = labels == group
            low = high = float("nan")
            if not math.isnan(value):
                try:
                    ci = bootstrap_ci(metric, yt[mask], yp[mask], n_resamples=n_resamples,
                                      seed=seed + 1000 * c_index + g_index,
                                      groups=None if unit_ids is None else unit_ids[mask], **metric_kw)
                    low, high = ci.low, ci.high
                except JudgeError as err:  # e.g. too few events for most resamples
                    note = f"no CI: {err}"
            results.append(SubgroupResult(column, group, int(mask.sum()), metric, value, low, high, note))
    return results


def largest_gap(results: list[SubgroupResult]) -> dict[str, tuple[str, str, float]]:
    """column -> (worst group, best group, |best - worst|), direction-aware.

    Only groups with a value count; a column with fewer than two such groups is left out.
    """
    by_column: dict[str, list[SubgroupResult]] = {}
    for r in results:
        if not math.isnan(r.value):
            by_column.setdefault(r.column, []).append(r)
    gaps: dict[str, tuple[str, str, float]] = {}
    for column, rows in by_column.items():
        if len(rows) < 2:
            continue
        ranked = sorted(rows, key=lambda r: direction_value(r.metric, r.value))
        worst, best = ranked[0], ranked[-1]
        gaps[column] = (worst.group, best.group, abs(best.value - worst.value))
    return gaps
