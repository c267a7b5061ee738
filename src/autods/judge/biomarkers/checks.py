"""The resampling checks of the battery (1-5), each vectorized across candidates.

All checks work on a :class:`Prepared` bundle: candidate ranks computed once, standardized
so that ``Zx.T @ zy`` is Spearman's rho of every candidate at once. Each check returns a
:class:`Outcome` of per-candidate booleans plus evidence arrays.

Two deliberate approximations, both O(1/n) and documented where they are used:
bootstrap and leave-one-out recompute Pearson on the *full-sample* ranks instead of
re-ranking every resample (re-ranking would cost a sort per candidate per resample).
Tests bound the difference against scipy's re-ranked ``bootstrap(spearmanr)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from autods.judge.biomarkers.stats import RankIndex, corr_pvalue, corrwith, rank_columns, standardize

__all__ = ["Outcome", "Prepared", "bootstrap_ci", "held_out", "leave_one_out", "permutation", "subgroups"]


@dataclass(frozen=True)
class Prepared:
    """Ranks of candidates and of the (working) response, computed once per battery run."""

    X: np.ndarray
    w: np.ndarray
    ranks: np.ndarray
    Zx: np.ndarray
    zy: np.ndarray
    rho: np.ndarray
    index: RankIndex

    @classmethod
    def build(cls, X: np.ndarray, w: np.ndarray) -> Prepared:
        index = RankIndex(X)
        ranks = index.ranks()
        Zx, zy = standardize(ranks), standardize(rank_columns(w))
        return cls(X, w, ranks, Zx, zy, np.clip(Zx.T @ zy, -1.0, 1.0), index)

    @property
    def n(self) -> int:
        return int(self.X.shape[0])


@dataclass
class Outcome:
    passed: np.ndarray
    applicable: np.ndarray
    evidence: dict[str, np.ndarray] = field(default_factory=dict)


def _spearman_subset(prep: Prepared, idx: np.ndarray) -> np.ndarray:
    mask = np.zeros(prep.n, dtype=bool)
    mask[idx] = True
    # idx is sorted by construction (flatnonzero), so mask order == idx order.
    return corrwith(prep.index.ranks(mask), rank_columns(prep.w[mask]))


def stratified_split(strata: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of held-out units, the same share drawn from every stratum."""
    mask = np.zeros(strata.size, dtype=bool)
    for level in np.unique(strata):
        members = np.flatnonzero(strata == level)
        take = int(round(fraction * members.size))
        mask[rng.permutation(members)[:take]] = True
    return mask


def held_out(prep: Prepared, strata: np.ndarray, fraction: float, alpha: float, rng: np.random.Generator) -> Outcome:
    """Check 1: discover on one part of the units, confirm the sign (and p < alpha) on the rest."""
    test = stratified_split(strata, fraction, rng)
    r_disc = _spearman_subset(prep, np.flatnonzero(~test))
    r_test = _spearman_subset(prep, np.flatnonzero(test))
    p_test = corr_pvalue(r_test, int(test.sum()))
    same = np.sign(r_test) == np.sign(r_disc)
    reversed_ = (np.sign(r_test) * np.sign(r_disc)) < 0
    passed = same & (r_disc != 0) & (p_test < alpha)
    return Outcome(passed, np.ones_like(passed), {"rho_discovery": r_disc, "rho_heldout": r_test,
                                                  "p_heldout": p_test, "reversed": reversed_})


def permutation(prep: Prepared, n_perm: int, alpha: float, rng: np.random.Generator, chunk: int = 250) -> Outcome:
    """Check 2: two-sided permutation p, scipy's convention ``min(1, 2 min(P(<=), P(>=)))`` with +1 smoothing."""
    n, p = prep.Zx.shape
    ge = np.zeros(p)
    le = np.zeros(p)
    tol = 1e-12 * np.maximum(1.0, np.abs(prep.rho))
    done = 0
    while done < n_perm:
        b = min(chunk, n_perm - done)
        order = np.argsort(rng.random((b, n)), axis=1)
        null = prep.Zx.T @ prep.zy[order].T  # (p, b): every candidate against every permuted label
        ge += (null >= prep.rho[:, None] - tol[:, None]).sum(axis=1)
        le += (null <= prep.rho[:, None] + tol[:, None]).sum(axis=1)
        done += b
    p_ge, p_le = (ge + 1) / (n_perm + 1), (le + 1) / (n_perm + 1)
    pval = np.minimum(1.0, 2 * np.minimum(p_ge, p_le))
    return Outcome(pval < alpha, np.ones(p, dtype=bool), {"p_permutation": pval})


def unit_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """Multiplicity of every unit in every resample (resamples x units)."""
    b = idx.shape[0]
    flat = (idx + (np.arange(b, dtype=np.int64) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)


def bootstrap_ci(prep: Prepared, n_boot: int, rng: np.random.Generator, level: float = 0.95, chunk: int = 250) -> Outcome:
    """Check 3: percentile bootstrap CI of rho over units; fails when the CI straddles zero.

    A resample is a vector of unit multiplicities ``c``; its weighted Pearson on the ranks
    needs only ``c @ x``, ``c @ x^2`` and ``c @ (x y)``, so a chunk of resamples is three
    matrix products for all candidates.
    """
    n, p = prep.Zx.shape
    x, y = prep.Zx, prep.zy
    # One product per chunk: [x | x*y | x^2] side by side keeps the BLAS call large.
    stacked = np.hstack([x, x * y[:, None], x * x])
    ys = np.column_stack([y, y * y])
    reps = np.empty((n_boot, p))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        C = unit_counts(rng.integers(0, n, size=(b, n)), n) / n
        sums, ysum = C @ stacked, C @ ys
        mx, my = sums[:, :p], ysum[:, 0]
        cov = sums[:, p:2 * p] - mx * my[:, None]
        var_x = sums[:, 2 * p:] - mx * mx
        var_y = ysum[:, 1] - my * my
        with np.errstate(divide="ignore", invalid="ignore"):
            reps[done:done + b] = np.nan_to_num(cov / np.sqrt(np.maximum(var_x * var_y[:, None], 0.0)))
        done += b
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(reps, [tail, 100 - tail], axis=0)
    passed = (low > 0) | (high < 0)
    return Outcome(passed, np.ones(p, dtype=bool), {"ci_low": low, "ci_high": high, "ci_mid": (low + high) / 2})


def leave_one_out(prep: Prepared, block: int = 1024) -> Outcome:
    """Check 4: rho recomputed without each unit in closed form; fails if any deletion flips the sign.

    With centred ranks the sums over the remaining n - 1 units are the totals minus unit i,
    so all n x p deletions cost a few elementwise passes (done in blocks of units to bound memory).
    """
    n, p = prep.ranks.shape
    x = prep.ranks - prep.ranks.mean(axis=0)
    y = rank_columns(prep.w)
    y = y - y.mean()
    sxy, sxx, syy = x.T @ y, (x * x).sum(axis=0), float(y @ y)
    m = n - 1
    lo = np.full(p, np.inf)
    hi = np.full(p, -np.inf)
    where = np.zeros(p, dtype=np.int64)
    for start in range(0, n, block):
        xi, yi = x[start:start + block], y[start:start + block, None]
        # Sums without unit i; totals of centred data are 0, so the remaining sum of x is -x_i.
        cxy = (sxy - xi * yi) - (xi * yi) / m
        cxx = (sxx - xi * xi) - (xi * xi) / m
        cyy = (syy - yi * yi) - (yi * yi) / m
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.nan_to_num(cxy / np.sqrt(cxx * cyy))
        toward_zero = r * np.sign(prep.rho)
        worst = toward_zero.argmin(axis=0)
        cand = toward_zero[worst, np.arange(p)]
        better = cand < lo
        where = np.where(better, worst + start, where)
        lo = np.minimum(lo, cand)
        hi = np.maximum(hi, toward_zero.max(axis=0))
    passed = (lo > 0) & (prep.rho != 0)
    return Outcome(passed, np.ones(p, dtype=bool), {"loo_worst_rho": lo * np.sign(prep.rho), "loo_most_influential": where})


def subgroups(prep: Prepared, groups: list[tuple[str, np.ndarray]], min_size: int) -> Outcome:
    """Check 5: the association keeps its sign in every evaluable subgroup (>= ``min_size`` units)."""
    p = prep.X.shape[1]
    agree = np.ones(p, dtype=bool)
    n_eval = 0
    worst = np.full(p, np.inf)
    for _, mask in groups:
        idx = np.flatnonzero(mask)
        if idx.size < min_size or np.unique(prep.w[idx]).size < 2:
            continue
        r = _spearman_subset(prep, idx)
        agree &= np.sign(r) == np.sign(prep.rho)
        worst = np.minimum(worst, r * np.sign(prep.rho))
        n_eval += 1
    applicable = np.full(p, n_eval >= 2)
    worst = np.where(np.isfinite(worst), worst * np.sign(prep.rho), np.nan)
    return Outcome(agree & applicable & (prep.rho != 0), applicable,
                   {"subgroups_evaluated": np.full(p, n_eval), "subgroup_worst_rho": worst})
