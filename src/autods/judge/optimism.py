"""How optimistic is the champion's CV value after picking it from many tries?

Bootstrap bias-corrected cross-validation (BBC-CV; Tsamardinos, Greasidou & Borboudakis 2018,
"Bootstrapping the out-of-sample predictions for efficient and accurate cross-validation",
Machine Learning 107:1895-1922). Take the out-of-fold prediction matrix of every experiment of
the run (rows x experiments, all on the plan's folds). On each bootstrap sample of units,
select the experiment that scores best on the drawn units, then score that selection on the
units not drawn. The mean of those out-of-bag scores estimates the performance of "the
selection procedure", which is what a user actually gets; the gap to the winner's raw CV
value is the optimism of the search.

Units are resampled whole (a cluster bootstrap) when rows repeat a patient. Metrics with a
vectorised kernel (:mod:`autods.judge._vectorized`) are computed for all resamples at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from autods.errors import JudgeError
from autods.judge._vectorized import make_kernel, unit_counts
from autods.judge.metrics import compute_metric
from autods.judge.score import METRICS

#: bootstrap draws; the paper uses 1,000, and its estimate is stable well below that
N_BOOT = 500


@dataclass(frozen=True)
class Optimism:
    """The raw CV value of the winner, the BBC-CV estimate and their gap (positive = raw was optimistic)."""

    metric: str
    winner: str
    raw: float
    corrected: float
    ci_low: float
    ci_high: float
    n_experiments: int
    n_boot: int

    @property
    def optimism(self) -> float:
        return self.raw - self.corrected if METRICS[self.metric] else self.corrected - self.raw

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "winner": self.winner, "raw": self.raw, "corrected": self.corrected,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "optimism": self.optimism,
                "n_experiments": self.n_experiments, "n_boot": self.n_boot, "method": "BBC-CV"}


def _scores(metric: str, y: np.ndarray, pred: np.ndarray, units: np.ndarray, n_units: int,
            weights: np.ndarray) -> np.ndarray:
    """The metric under each row of unit ``weights`` (n_boot x n_units), NaN where undefined."""
    kernel = make_kernel(metric, y, pred, units, n_units, {})
    if kernel is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(kernel.replicates(weights), dtype=float)
    out = np.full(weights.shape[0], np.nan)
    for b, w in enumerate(weights):
        rows = np.repeat(np.arange(len(y)), w[units].astype(int))
        try:
            out[b] = compute_metric(metric, y[rows], pred[rows])
        except JudgeError:
            continue
    return out


def bbc_cv(metric: str, y: Any, oof: Mapping[str, Any], *, groups: Any = None, n_boot: int = N_BOOT,
           seed: int = 0) -> Optimism:
    """BBC-CV over the experiments in ``oof`` (name -> out-of-fold predictions aligned with ``y``)."""
    if metric not in METRICS:
        raise JudgeError(f"unknown metric {metric!r}")
    if not oof:
        raise JudgeError("BBC-CV needs at least one experiment's out-of-fold predictions")
    y_arr = np.asarray(y)
    names = list(oof)
    preds = [np.asarray(oof[n]) for n in names]
    if any(p.shape[0] != y_arr.shape[0] for p in preds):
        raise JudgeError("every experiment's out-of-fold predictions must cover the same rows as y")
    units = np.arange(len(y_arr)) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    n_units = int(units.max()) + 1
    rng = np.random.default_rng(seed)
    in_bag = unit_counts(rng.integers(0, n_units, size=(n_boot, n_units)), n_units)
    out_bag = (in_bag == 0).astype(float)
    sign = 1.0 if METRICS[metric] else -1.0
    inside = np.column_stack([sign * _scores(metric, y_arr, p, units, n_units, in_bag) for p in preds])
    outside = np.column_stack([_scores(metric, y_arr, p, units, n_units, out_bag) for p in preds])
    usable = ~np.isnan(inside).all(axis=1)
    pick = np.nanargmax(np.where(np.isnan(inside[usable]), -np.inf, inside[usable]), axis=1)
    chosen = outside[usable][np.arange(pick.size), pick]
    chosen = chosen[np.isfinite(chosen)]
    if chosen.size == 0:
        raise JudgeError(f"{metric} is undefined on every bootstrap sample")
    full = [compute_metric(metric, y_arr, p) for p in preds]
    best = int(np.argmax(sign * np.asarray(full)))
    low, high = np.percentile(chosen, [2.5, 97.5])
    return Optimism(metric=metric, winner=names[best], raw=float(full[best]), corrected=float(chosen.mean()),
                    ci_low=float(low), ci_high=float(high), n_experiments=len(names), n_boot=int(chosen.size))
