"""Quality gates that suppress misleading biomarker outputs, each returning a ``Finding``.

A gate never deletes results: it returns a warning :class:`~autods.guard.findings.Finding`
whose ``evidence["suppress"]`` names the output the report must not draw (the
multivariable coefficient table, model-based importance, or forest-plot rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from autods.guard.findings import Finding, Severity
from autods.tasks.longitudinal import family_of

__all__ = ["MAX_PER_FAMILY", "MIN_AUROC", "MIN_R2", "OVERFIT_RATIO", "VIF_MAX",
           "family_gate", "overfit_gate", "performance_gate", "variance_inflation", "vif_gate"]

#: Above this VIF the coefficients of collinear candidates are not individually interpretable.
VIF_MAX = 50.0
MIN_AUROC = 0.55
MIN_R2 = 0.0
#: Train skill more than 5x the CV skill: the model memorised the training folds.
OVERFIT_RATIO = 5.0
MAX_PER_FAMILY = 2


def variance_inflation(X: np.ndarray) -> np.ndarray:
    """VIF_j = 1 / (1 - R^2_j) = diagonal of the inverse correlation matrix (inf when singular)."""
    X = np.asarray(X, dtype=float)
    if X.shape[1] < 2:
        return np.ones(X.shape[1])
    corr = np.corrcoef(X, rowvar=False)
    try:
        return np.diag(np.linalg.inv(corr))
    except np.linalg.LinAlgError:
        # A singular correlation matrix is perfect collinearity: every VIF is infinite.
        return np.full(X.shape[1], np.inf)


def vif_gate(X: np.ndarray, names: Sequence[str]) -> Finding | None:
    vif = variance_inflation(X)
    bad = {n: float(v) for n, v in zip(names, vif) if not np.isfinite(v) or v > VIF_MAX}
    if not bad:
        return None
    return Finding(check="biomarker_vif", severity=Severity.warning,
                   message=f"variance inflation > {VIF_MAX:g} among selected candidates: {', '.join(bad)}",
                   advice="report univariate effects only, or keep one representative of each collinear group",
                   evidence={"vif": bad, "suppress": "multivariable_coefficients"})


def performance_gate(metric: str, cv_value: float) -> Finding | None:
    """Best CV AUROC < 0.55 or R^2 < 0: the model explains nothing, so its importances mean nothing."""
    floor = {"auroc": MIN_AUROC, "c_index": MIN_AUROC, "r2": MIN_R2}[metric]
    if cv_value >= floor:
        return None
    return Finding(check="biomarker_performance", severity=Severity.warning,
                   message=f"best cross-validated {metric} is {cv_value:.3f}, below {floor:g}",
                   advice="do not interpret model-based importance; report the univariate battery only",
                   evidence={"metric": metric, "cv": cv_value, "floor": floor, "suppress": "model_importance"})


def overfit_gate(metric: str, train_value: float, cv_value: float) -> Finding | None:
    """Train-to-CV ratio of skill above chance (0.5 for AUROC/C, 0 for R^2) greater than 5."""
    chance = 0.0 if metric == "r2" else 0.5
    train_skill, cv_skill = train_value - chance, cv_value - chance
    ratio = train_skill / cv_skill if cv_skill > 0 else np.inf
    if ratio <= OVERFIT_RATIO or train_skill <= 0:
        return None
    return Finding(check="biomarker_overfit", severity=Severity.warning,
                   message=f"train-to-CV {metric} skill ratio is {ratio:.1f} (> {OVERFIT_RATIO:g})",
                   advice="use fewer candidates or stronger regularization before reading the model",
                   evidence={"metric": metric, "train": train_value, "cv": cv_value, "ratio": float(ratio),
                             "suppress": "model_importance"})


def family_gate(ranked: Sequence[str], family: Callable[[str], str] = family_of) -> tuple[list[str], Finding | None]:
    """Keep at most two representatives per feature family (in rank order) for forest plots."""
    kept, dropped, seen = [], [], {}
    for name in ranked:
        fam = family(name)
        seen[fam] = seen.get(fam, 0) + 1
        (kept if seen[fam] <= MAX_PER_FAMILY else dropped).append(name)
    if not dropped:
        return kept, None
    return kept, Finding(check="biomarker_family", severity=Severity.info,
                         message=f"{len(dropped)} forest-plot rows dropped: at most {MAX_PER_FAMILY} per feature family",
                         advice="the dropped rows restate a family already shown; see the full candidate table",
                         evidence={"dropped": dropped, "suppress": "forest_plot_rows"})
