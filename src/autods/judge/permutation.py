"""Permutation test of "the predictions carry signal about the outcome".

The null re-pairs predictions with outcomes at random. The p-value counts permutations at
least as good as the observed value in the metric's own direction (so lower-is-better
metrics count ``perm <= observed``) and includes the observed pairing:
``p = (1 + #{perm at least as good}) / (1 + n_permutations)``, never 0.

Binary AUROC is vectorised: midranks of the predictions are computed once and a
permutation only changes which ranks belong to positives, so the Mann-Whitney U of a whole
chunk of permutations is one gather and one row sum.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from autods.errors import JudgeError
from autods.judge.metrics import compute_metric
from autods.judge.score import METRICS, TARGETS, direction_value

__all__ = ["permutation_test"]

_CHUNK_CELLS = 4_000_000  # permutations x rows per chunk (int64 -> ~32 MB per array)
_REL_TOL = 1e-12  # ties in the null distribution count as "at least as good"


def _auroc_u(y: np.ndarray, y_pred: np.ndarray, n_permutations: int, rng: np.random.Generator
             ) -> tuple[float, np.ndarray]:
    ranks = stats.rankdata(y_pred)  # midranks; sums of them are exact half-integers
    pos = np.flatnonzero(y == 1)
    observed = float(ranks[pos].sum())
    step = max(1, _CHUNK_CELLS // y.size)
    null: list[np.ndarray] = []
    for start in range(0, n_permutations, step):
        size = min(step, n_permutations - start)
        perms = rng.permuted(np.tile(np.arange(y.size), (size, 1)), axis=1)
        null.append(ranks[perms[:, pos]].sum(axis=1))
    # U and AUROC are increasing functions of the positives' rank sum: compare rank sums.
    return observed, np.concatenate(null)


def permutation_test(
    metric: str, y_true: Any, y_pred: Any, n_permutations: int = 1000, seed: int = 0, **metric_kw: Any
) -> tuple[float, float]:
    """``(observed metric value, one-sided permutation p-value)``; see the module docstring."""
    if metric not in METRICS:
        raise JudgeError(f"unknown metric {metric!r}; the judge knows {sorted(METRICS)}")
    if metric in TARGETS:
        raise JudgeError(f"{metric} has a target value, not a direction; no permutation test")
    if n_permutations < 1:
        raise JudgeError("n_permutations must be >= 1")
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    observed = compute_metric(metric, yt, yp, **metric_kw)
    rng = np.random.default_rng(seed)
    binary_1d = yp.ndim == 1 and yt.dtype.names is None and np.isin(yt, (0, 1)).all()
    if metric == "auroc" and binary_1d and not metric_kw:
        obs_stat, null = _auroc_u(yt, yp, n_permutations, rng)
        at_least = null >= obs_stat - _REL_TOL * abs(obs_stat)
        return observed, float((1 + np.sum(at_least)) / (1 + n_permutations))
    obs_dir = direction_value(metric, observed)
    hits = 0
    for _ in range(n_permutations):
        perm = yp[rng.permutation(yp.shape[0])]
        value = compute_metric(metric, yt, perm, **metric_kw)
        if direction_value(metric, value) >= obs_dir - _REL_TOL * max(1.0, abs(obs_dir)):
            hits += 1
    return observed, float((1 + hits) / (1 + n_permutations))
