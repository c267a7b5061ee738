"""Vectorised bootstrap kernels: all resamples of a chunk in a few numpy passes.

A resample is described by unit multiplicities ``M`` (chunk x n_units): how many times each
unit (a row, or a cluster of rows for the cluster bootstrap) was drawn. Every metric here
is a function of a few additive per-unit sums, so one product ``M @ A`` gives the sums of
every resample at once, and deleting unit g for the jackknife is ``total - A[g]``.

AUROC uses the Mann-Whitney form: with scores sorted once into tie bins, the resampled
counts of positives P and negatives N per bin give
``U = sum_j P_j * (N_<j + N_j / 2)`` (midranks handle ties) and ``AUROC = U / (n1 * n0)``.
That is O(chunk x n) per chunk with no Python loop over resamples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from autods.judge.metrics import EPS, _as_labels

__all__ = ["VECTORIZED", "AurocKernel", "HarrellKernel", "SumKernel", "make_kernel", "unit_counts"]

#: Metrics with a vectorised kernel (binary 1-D predictions for auroc/brier/log_loss).
VECTORIZED = frozenset({"auroc", "brier", "log_loss", "accuracy", "r2", "rmse", "c_index"})

#: Harrell's C keeps two dense unit x unit pair matrices; above this many units the Fenwick-tree
#: kernel (:mod:`autods.judge._harrell_tree`, O(n log n) per resample, block jackknife) is used.
HARRELL_MAX_UNITS = 3000


def unit_counts(idx: np.ndarray, n_units: int) -> np.ndarray:
    """Multiplicity matrix (chunk x n_units, float64) of a chunk of drawn unit indices."""
    chunk = idx.shape[0]
    offsets = (np.arange(chunk, dtype=np.int64) * n_units)[:, None]
    flat = (idx + offsets).ravel()
    return np.bincount(flat, minlength=chunk * n_units).reshape(chunk, n_units).astype(float)


@dataclass(frozen=True)
class SumKernel:
    """A metric ``f(sums)`` of per-unit additive sums ``A`` (n_units x k)."""

    sums: np.ndarray
    f: Callable[[np.ndarray], np.ndarray]

    def replicates(self, counts: np.ndarray) -> np.ndarray:
        return self.f(counts @ self.sums)

    def jackknife(self) -> np.ndarray:
        return self.f(self.sums.sum(axis=0)[None, :] - self.sums)


def _unit_sums(columns: list[np.ndarray], units: np.ndarray, n_units: int) -> np.ndarray:
    return np.column_stack([np.bincount(units, weights=c, minlength=n_units) for c in columns])


def _ratio(t: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return t[:, 0] / t[:, 1]


def _root_ratio(t: np.ndarray) -> np.ndarray:
    return np.sqrt(_ratio(t))


def _r2(t: np.ndarray) -> np.ndarray:
    # columns: SSE, sum y, sum y^2, n (y centred by its global mean to limit cancellation)
    sst = t[:, 2] - t[:, 1] ** 2 / t[:, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 1.0 - t[:, 0] / sst
    return np.where(sst > 0, out, np.nan)


class AurocKernel:
    """Binary AUROC for all resamples via tie-binned Mann-Whitney counts."""

    def __init__(self, y: np.ndarray, score: np.ndarray, units: np.ndarray, n_units: int) -> None:
        ties, tie = np.unique(score, return_inverse=True)
        self.m = ties.size
        y = y.astype(np.int64)
        # per-unit count of rows in each (tie bin, class) cell: column 2*tie + y
        self.cells = sparse.csr_array(
            (np.ones(y.size), (units, 2 * tie.ravel() + y)), shape=(n_units, 2 * self.m)
        )
        self.y, self.tie, self.units, self.n_units = y, tie.ravel(), units, n_units
        self.code = 2 * self.tie.astype(np.int64) + y

    @staticmethod
    def _from_bins(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        below = np.cumsum(neg, axis=1) - neg
        # 2U in the bins' own dtype: exact integer arithmetic for integer counts
        u = np.sum(pos * (2 * below + neg), axis=1) / 2.0
        n1, n0 = pos.sum(axis=1), neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where((n1 > 0) & (n0 > 0), u / (n1 * n0), np.nan)

    def replicates(self, counts: np.ndarray) -> np.ndarray:
        bins = np.asarray(self.cells.T @ counts.T).T  # (chunk, 2m)
        return self._from_bins(bins[:, 1::2], bins[:, 0::2])

    def replicates_from_rows(self, idx: np.ndarray) -> np.ndarray:
        """AUROC of each row of ``idx`` (chunk x k drawn row indices; rows are the units).

        One bincount of the drawn rows' (tie bin, class) cells, offset per resample, is
        about twice as fast as the general unit-count product for the plain bootstrap.
        """
        chunk, width = idx.shape[0], 2 * self.m
        keys = self.code[idx]
        keys += (np.arange(chunk, dtype=np.int64) * width)[:, None]
        bins = np.bincount(keys.ravel(), minlength=chunk * width).reshape(chunk, width)
        return self._from_bins(bins[:, 1::2], bins[:, 0::2])

    def jackknife(self) -> np.ndarray:
        """Leave-one-unit-out AUROC in O(n log n): remove every pair that involves unit g."""
        y, tie, units, g = self.y, self.tie, self.units, self.n_units
        pos_bin = np.bincount(tie, weights=y, minlength=self.m)
        neg_bin = np.bincount(tie, weights=1 - y, minlength=self.m)
        n1, n0 = pos_bin.sum(), neg_bin.sum()
        neg_below = np.cumsum(neg_bin) - neg_bin
        pos_above = n1 - np.cumsum(pos_bin)
        # each row's share of U against all rows of the other class
        share = np.where(y == 1, neg_below[tie] + 0.5 * neg_bin[tie], pos_above[tie] + 0.5 * pos_bin[tie])
        involving = np.bincount(units, weights=share, minlength=g)
        within = self._within_unit_u(y, tie, units)
        u_total = float(np.sum(pos_bin * (neg_below + 0.5 * neg_bin)))
        n1_g = n1 - np.bincount(units, weights=y, minlength=g)
        n0_g = n0 - np.bincount(units, weights=1 - y, minlength=g)
        # pairs inside unit g were counted once from each side
        u_g = u_total - (involving - within)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where((n1_g > 0) & (n0_g > 0), u_g / (n1_g * n0_g), np.nan)

    def _within_unit_u(self, y: np.ndarray, tie: np.ndarray, units: np.ndarray) -> np.ndarray:
        if np.unique(units).size == units.size:
            return np.zeros(self.n_units)  # every unit is one row: no within-unit pairs
        cell = units.astype(np.int64) * self.m + tie
        keys, inv = np.unique(cell, return_inverse=True)
        pos = np.bincount(inv, weights=y, minlength=keys.size)
        neg = np.bincount(inv, weights=1 - y, minlength=keys.size)
        key_unit = keys // self.m
        cum = np.cumsum(neg) - neg
        first = np.searchsorted(key_unit, key_unit, side="left")
        below = cum - cum[first]  # negatives of the same unit in lower tie bins
        return np.bincount(key_unit, weights=pos * (below + 0.5 * neg), minlength=self.n_units)


class HarrellKernel:
    """Harrell's C for all resamples: ``C = w'Kw / w'Qw`` with unit multiplicities ``w``.

    ``Q[i, j]`` marks comparable pairs exactly as scikit-survival's
    ``concordance_index_censored`` does (i had the event and j's time is later, or equal
    with j censored); ``K`` holds 1 for a concordant pair (risk_i > risk_j) and 0.5 for a
    risk tie within ``tol``. Rows are summed into their units first, so the cluster
    bootstrap is the same product.
    """

    def __init__(self, y: np.ndarray, risk: np.ndarray, units: np.ndarray, n_units: int, tol: float = 1e-8) -> None:
        event = np.asarray(y["event"], dtype=bool)
        time = np.asarray(y["time"], dtype=float)
        later = time[None, :] > time[:, None]
        same_censored = (time[None, :] == time[:, None]) & ~event[None, :]
        comparable = event[:, None] & (later | same_censored)
        diff = risk[:, None] - risk[None, :]
        tied = np.abs(diff) <= tol
        score = comparable * np.where(tied, 0.5, (diff > 0).astype(float))
        agg = sparse.csr_array((np.ones(units.size), (units, np.arange(units.size))), shape=(n_units, units.size))
        self.k = np.asarray((agg @ sparse.csr_array(score) @ agg.T).todense())
        self.q = np.asarray((agg @ sparse.csr_array(comparable.astype(float)) @ agg.T).todense())

    def replicates(self, counts: np.ndarray) -> np.ndarray:
        num = np.einsum("bi,bi->b", counts @ self.k, counts)
        den = np.einsum("bi,bi->b", counts @ self.q, counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)

    def jackknife(self) -> np.ndarray:
        def drop(m: np.ndarray) -> np.ndarray:
            return m.sum() - m.sum(axis=0) - m.sum(axis=1) + np.diag(m)

        num, den = drop(self.k), drop(self.q)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)


def make_kernel(
    metric: str, y_true: np.ndarray, y_pred: np.ndarray, units: np.ndarray, n_units: int, kw: dict
) -> SumKernel | AurocKernel | None:
    """The vectorised kernel for ``metric`` on this data, or None to use the generic loop."""
    if metric == "c_index":
        names = y_true.dtype.names or ()
        if not ({"event", "time"} <= set(names) and y_pred.ndim == 1 and not kw):
            return None
        if n_units <= HARRELL_MAX_UNITS:
            return HarrellKernel(y_true, y_pred.astype(float), units, n_units)
        from autods.judge._harrell_tree import TreeHarrellKernel

        return TreeHarrellKernel(y_true, y_pred.astype(float), units, n_units)
    if metric not in VECTORIZED or y_true.dtype.names is not None or kw.keys() - {"labels", "threshold"}:
        return None
    if metric in ("auroc", "brier", "log_loss"):
        if y_pred.ndim != 1 or not np.isin(y_true, (0, 1)).all():
            return None
        y, p = y_true.astype(float), y_pred.astype(float)
        if metric == "auroc":
            return AurocKernel(y_true, p, units, n_units)
        if metric == "brier":
            loss = (p - y) ** 2
        else:
            pc = np.clip(p, EPS, 1.0 - EPS)
            loss = -(y * np.log(pc) + (1.0 - y) * np.log1p(-pc))
        return SumKernel(_unit_sums([loss, np.ones_like(y)], units, n_units), _ratio)
    if metric == "accuracy":
        hit = (_as_labels(y_true, y_pred, kw) == y_true).astype(float)
        return SumKernel(_unit_sums([hit, np.ones_like(hit)], units, n_units), _ratio)
    if y_pred.ndim != 1:
        return None
    y, p = y_true.astype(float), y_pred.astype(float)
    sq = (y - p) ** 2
    if metric == "rmse":
        return SumKernel(_unit_sums([sq, np.ones_like(y)], units, n_units), _root_ratio)
    yc = y - y.mean()
    return SumKernel(_unit_sums([sq, yc, yc**2, np.ones_like(y)], units, n_units), _r2)
