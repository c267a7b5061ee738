"""Candidate labels from battery verdicts, exactly the rules of issue 3 item 5.

Rules, applied in this order (the first that matches wins):

1. ``rejected`` when any hard gate (construct validity, construct independence, CI
   consistency) fails: "always when a hard gate fails", whatever the cohort size.
2. ``exploratory`` when the cohort has fewer than :data:`MIN_N` units: the battery's
   resampling checks cannot say anything (see below).
3. ``rejected`` when checks 1-3 (held-out, permutation, bootstrap) all fail.
4. ``unstable`` when the held-out estimate reverses the sign of the discovery estimate.
5. ``screened`` when >= 70% of applicable checks pass and every core check (held-out,
   permutation, bootstrap, CI consistency) passes; downgraded to ``conditional`` when the
   effect is marginal, |rho| < :data:`MARGINAL_RHO`, or when confounding sensitivity failed
   (the association is explained by the demographic covariates). The issue is silent on the
   second downgrade; a screened label on an association that runs through age would be
   indefensible, so it can be at most ``conditional``.
6. ``conditional`` when 40% <= share passed < 70%.
7. ``rejected`` otherwise. Read literally, this includes a candidate passing >= 70% of its
   checks with a failed core check: the issue reserves ``conditional`` for the 40-70% band.

Thresholds:

- :data:`MIN_N` = 60 units. The held-out part (30%) then has 18 units, the fewest with which
  a held-out rho can reach p < 0.05 at all for |rho| ~ 0.47, and each random half for the
  subgroup check has 30 units, above its 20-unit minimum.
- :data:`MARGINAL_RHO` = 0.1, Cohen's "small" correlation: below it a significant rho in a
  large cohort is a real but clinically negligible association.
"""

from __future__ import annotations

import numpy as np

from autods.judge.biomarkers.battery import CHECKS, CORE, HARD_GATES, BatteryResult

__all__ = ["LABELS", "MARGINAL_RHO", "MIN_N", "SCREENED_SHARE", "CONDITIONAL_SHARE", "assign_labels", "label_result"]

LABELS = ("screened", "conditional", "exploratory", "rejected", "unstable")
MIN_N = 60
MARGINAL_RHO = 0.1
SCREENED_SHARE = 0.7
CONDITIONAL_SHARE = 0.4

_IDX = {name: k for k, name in enumerate(CHECKS)}


def assign_labels(
    passed: np.ndarray,
    applicable: np.ndarray,
    effect: np.ndarray,
    reversed_: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and reasons for candidates x 11 verdict matrices (``passed`` counts only where applicable)."""
    passed = np.atleast_2d(np.asarray(passed, dtype=bool))
    applicable = np.atleast_2d(np.asarray(applicable, dtype=bool))
    ok = passed & applicable
    fail = applicable & ~passed
    effect = np.atleast_1d(np.asarray(effect, dtype=float))
    reversed_ = np.atleast_1d(np.asarray(reversed_, dtype=bool))
    n_app = applicable.sum(axis=1)
    share = np.where(n_app > 0, ok.sum(axis=1) / np.maximum(n_app, 1), 0.0)

    hard = np.column_stack([fail[:, _IDX[g]] for g in HARD_GATES]).any(axis=1)
    first3 = np.column_stack([fail[:, k] for k in range(3)]).all(axis=1)
    core = np.column_stack([ok[:, _IDX[c]] for c in CORE]).all(axis=1)
    screened = core & (share >= SCREENED_SHARE)
    marginal = np.abs(effect) < MARGINAL_RHO
    confounded = fail[:, _IDX["confounding"]]
    band = (share >= CONDITIONAL_SHARE) & (share < SCREENED_SHARE)

    size = share.size
    labels = np.full(size, "rejected", dtype=object)
    reasons = np.full(size, "fewer than 40% of applicable checks passed, or a core check failed", dtype=object)
    # Assign from the lowest-priority rule up, so higher-priority rules overwrite.
    rules = [
        (band, "conditional", "40-70% of applicable checks passed"),
        (screened & marginal, "conditional", f"screened, downgraded: marginal effect |rho| < {MARGINAL_RHO}"),
        (screened & confounded, "conditional", "screened, downgraded: confounding sensitivity failed (explained by covariates)"),
        (screened & ~marginal & ~confounded, "screened", ">= 70% of applicable checks and all core checks passed"),
        (reversed_, "unstable", "the held-out estimate reverses the sign of the discovery estimate"),
        (first3, "rejected", "held-out, permutation and bootstrap checks all failed"),
        (np.full(size, n < MIN_N), "exploratory", f"cohort of {n} units is below the battery minimum of {MIN_N}"),
        (hard, "rejected", "a hard gate failed"),
    ]
    for mask, label, reason in rules:
        labels[mask] = label
        reasons[mask] = reason
    for j in np.flatnonzero(hard):
        failed = [g for g in HARD_GATES if fail[j, _IDX[g]]]
        reasons[j] = "hard gate failed: " + ", ".join(failed)
    return labels, reasons


def label_result(result: BatteryResult) -> tuple[np.ndarray, np.ndarray]:
    """Labels and reasons for every candidate of a battery run."""
    return assign_labels(result.passed, result.applicable, result.effect,
                         result.evidence["reversed"], result.n)
