"""Checks 6-11 of the battery: triangulation, the construct gates, confounding, CI consistency, AUC.

Hard gates (7, 9, 10) reject a candidate on their own, whatever else it passes; see
:mod:`autods.judge.biomarkers.labels`.
"""

from __future__ import annotations

import numpy as np

from autods.judge.biomarkers.checks import Outcome, Prepared
from autods.judge.biomarkers.screening import overlap_threshold
from autods.judge.biomarkers.stats import (
    corr_pvalue,
    corrwith,
    kendall_columns,
    mann_whitney_auc,
    rank_columns,
    residualize,
    standardize,
)

__all__ = ["AUC_MIN", "SHRINK_MAX", "ci_consistency", "confounding", "construct_independence",
           "construct_validity", "discrimination", "triangulation"]

#: Check 8 fails when the partial correlation keeps less than this share of the raw one.
SHRINK_MAX = 0.5
#: Check 11: a classification biomarker must reach this AUROC in its own direction.
AUC_MIN = 0.55


def triangulation(prep: Prepared, alpha: float) -> Outcome:
    """Check 6: Pearson (raw values) and Kendall's tau-b agree with rho in sign, and both are significant."""
    r = corrwith(prep.X, prep.w)
    p_r = corr_pvalue(r, prep.n)
    tau, p_tau = kendall_columns(prep.X, prep.w)
    s = np.sign(prep.rho)
    passed = (np.sign(r) == s) & (np.sign(tau) == s) & (s != 0) & (p_r < alpha) & (p_tau < alpha)
    return Outcome(passed, np.ones_like(passed), {"pearson": r, "p_pearson": p_r, "kendall": tau, "p_kendall": p_tau})


def _excluded_rho(prep: Prepared, E: np.ndarray) -> np.ndarray:
    """|Spearman| of every candidate (rows) with every excluded variable (columns)."""
    return np.abs(prep.Zx.T @ standardize(rank_columns(E)))


def construct_validity(prep: Prepared, E: np.ndarray) -> Outcome:
    """Check 7 (hard gate): |rho| with any excluded variable above :func:`overlap_threshold` (0.85 for N > 30)."""
    p = prep.X.shape[1]
    if E.shape[1] == 0:
        return Outcome(np.ones(p, dtype=bool), np.ones(p, dtype=bool), {"max_rho_excluded": np.zeros(p)})
    worst = _excluded_rho(prep, E).max(axis=1)
    return Outcome(worst <= overlap_threshold(prep.n), np.ones(p, dtype=bool), {"max_rho_excluded": worst})


def construct_independence(prep: Prepared, E: np.ndarray, compositional: np.ndarray) -> tuple[Outcome, np.ndarray]:
    """Check 9 (hard gate): classify each candidate as independent, proxy or compositional.

    Compositional: its lineage reads an excluded variable (known from construction).
    Proxy: |rho| above the overlap threshold between the candidate and an excluded variable,
    either of them folded around its median (``|v - median(v)|``); the folded forms catch
    U-shaped transforms (x^2 of a centred lab value, or its square root) that a monotone
    rank correlation with the raw variable misses.
    """
    p = prep.X.shape[1]
    if E.shape[1]:
        folded = np.abs(E - np.median(E, axis=0))
        Zf = standardize(rank_columns(np.abs(prep.X - np.median(prep.X, axis=0))))
        strength = np.maximum.reduce([
            _excluded_rho(prep, E).max(axis=1),
            _excluded_rho(prep, folded).max(axis=1),
            np.abs(Zf.T @ standardize(rank_columns(E))).max(axis=1),
        ])
    else:
        strength = np.zeros(p)
    proxy = strength > overlap_threshold(prep.n)
    kind = np.where(compositional, "compositional", np.where(proxy, "proxy", "independent"))
    passed = kind == "independent"
    return Outcome(passed, np.ones(p, dtype=bool), {"proxy_strength": strength}), kind


def confounding(prep: Prepared, design: np.ndarray | None, alpha: float) -> Outcome:
    """Check 8: partial Spearman given covariates (and validated candidates).

    Every variable is ranked, the ranks are residualized on the ranked conditioning set by
    one QR, and the residuals are correlated (df = n - 2 - k). Fails when the partial
    correlation is not significant, changes sign, or keeps < 50% of the raw rho.
    """
    p = prep.X.shape[1]
    if design is None or design.shape[1] == 0:
        return Outcome(np.zeros(p, dtype=bool), np.zeros(p, dtype=bool), {})
    D = rank_columns(design)
    rx = residualize(prep.ranks, D)
    ry = residualize(rank_columns(prep.w)[:, None], D)[:, 0]
    partial = corrwith(rx, ry)
    k = int(np.linalg.matrix_rank(np.column_stack([np.ones(prep.n), D])) - 1)
    p_partial = corr_pvalue(partial, prep.n, k)
    kept = np.abs(partial) >= SHRINK_MAX * np.abs(prep.rho)
    passed = (p_partial < alpha) & kept & (np.sign(partial) == np.sign(prep.rho))
    return Outcome(passed, np.ones(p, dtype=bool), {"partial_rho": partial, "p_partial": p_partial})


def ci_consistency(prep: Prepared, ci_mid: np.ndarray) -> Outcome:
    """Check 10 (hard gate): the point estimate and the bootstrap CI midpoint agree in sign."""
    passed = (np.sign(prep.rho) == np.sign(ci_mid)) & (prep.rho != 0)
    return Outcome(passed, np.ones_like(passed), {})


def discrimination(prep: Prepared, binary: bool) -> Outcome:
    """Check 11: AUROC in the candidate's own direction >= 0.55; applicable to classification only."""
    p = prep.X.shape[1]
    if not binary:
        return Outcome(np.zeros(p, dtype=bool), np.zeros(p, dtype=bool), {})
    auc = mann_whitney_auc(prep.ranks, prep.w)
    directed = np.where(prep.rho >= 0, auc, 1 - auc)
    return Outcome(directed >= AUC_MIN, np.ones(p, dtype=bool), {"auc": directed})
