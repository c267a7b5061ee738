"""The study design the biostatistician locks before any model is fitted.

Chooses the primary metric and its direction, the CV strategy (and says why), the held-out
fraction, and measures events-per-variable. Repeated units force grouped CV whatever the
spec says: a patient in both train and test folds inflates every metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from autods.guard.findings import Finding, Severity
from autods.judge.plan import ROW_LEVEL_CV, check_declared_cv, make_plan, planned_task, unit_of_analysis, units_repeat
from autods.judge.score import METRICS, PRIMARY_METRIC

if TYPE_CHECKING:
    from autods.tasks.load import Task

#: below this many events per candidate variable, a full model is likely to overfit
EPV_WARNING = 10.0


@dataclass(frozen=True)
class Design:
    task_type: str
    metric: str
    higher_is_better: bool
    cv_strategy: str
    n_splits: int
    group_column: str | None
    time_column: str | None
    test_fraction: float
    seed: int
    n_rows: int
    n_units: int
    n_events: int | None
    n_candidate_features: int
    events_per_variable: float | None
    subgroups: tuple[str, ...]
    confounders: tuple[str, ...]
    reasons: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = field(default=())
    plan: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "findings"}
        out["findings"] = [f.as_row() for f in self.findings]
        return out


def choose_cv(task: Task, detected_unit: str | None = None) -> tuple[str, str | None, list[str], list[Finding]]:
    """Return (strategy, group column, reasons, findings)."""
    reasons: list[str] = []
    findings: list[Finding] = []
    unit, _ = unit_of_analysis(task, detected_unit)
    requested = task.cv_strategy
    repeated = units_repeat(task, unit)
    check_declared_cv(task, unit)
    if requested == "site-grouped-cv":
        reasons.append(f"site-grouped CV on '{task.spec.site_column}' as requested: tests transport to unseen sites")
        return requested, task.spec.site_column, reasons, findings
    if requested == "temporal-split":
        reasons.append(f"temporal split on '{task.spec.time_column}' as requested: trains on the past, tests on the future")
        return requested, unit if repeated else None, reasons, findings
    if repeated and requested == "stratified-cv":  # check_declared_cv let it through: allow names a reason
        why = task.spec.allow[ROW_LEVEL_CV]
        findings.append(Finding(
            check="design.cv",
            severity=Severity.warning,
            message=f"row-level stratified CV over repeated units in '{unit}', allowed in TASK.md: {why}",
            advice="row-level folds put one unit's rows on both sides; metrics are optimistic unless rows are independent",
            evidence={"unit_column": unit, "n_rows": int(len(task.frame)), "n_units": int(task.frame[unit].nunique())},
        ))
        reasons.append(f"stratified CV over rows as allowed in TASK.md (allow: row_level_cv: {why})")
        return requested, None, reasons, findings
    if repeated:
        reasons.append(f"patient-grouped CV on '{unit}': units repeat across rows, so whole units stay in one fold")
        return "patient-grouped-cv", unit, reasons, findings
    strategy = requested or "stratified-cv"
    reasons.append("stratified CV: one row per unit, folds keep the outcome distribution" if strategy == "stratified-cv"
                   else f"{strategy} as requested")
    return strategy, None, reasons, findings


def _events(task: Task) -> int | None:
    y = task.target()
    if task.task_type == "survival":
        return int(np.sum(y["event"]))
    if task.task_type == "binary":
        return int(min(y.sum(), len(y) - y.sum()))
    return None


def make_design(task: Task, excluded: tuple[str, ...] | list[str] = (), detected_unit: str | None = None) -> Design:
    """Lock the design from the task and the steward's exclusions."""
    unit_col, unit_source = unit_of_analysis(task, detected_unit)
    task = planned_task(task, detected_unit)
    strategy, group_col, reasons, findings = choose_cv(task, detected_unit)
    metric = PRIMARY_METRIC[task.task_type]
    features = task.feature_columns(exclude=tuple(excluded))
    n_features = len(features)
    n_events = _events(task)
    epv = None if n_events is None or n_features == 0 else n_events / n_features
    if epv is not None and epv < EPV_WARNING:
        findings.append(Finding(
            check="design.epv",
            severity=Severity.warning,
            message=f"{epv:.1f} events per candidate variable ({n_events} events, {n_features} features)",
            advice="prefer penalised models (ridge, elastic net, CoxNet) or fewer features; treat wide models as exploratory",
            evidence={"events": n_events, "features": n_features},
        ))
    reasons.append(f"primary metric {metric} ({'higher' if METRICS[metric] else 'lower'} is better) for a {task.task_type} task")
    if unit_source == "detected":
        reasons.insert(0, f"unit of analysis '{unit_col}' detected (not declared): folds and the held-out split "
                          "keep each unit's rows on one side, and it is never a feature")
    n_units = int(task.frame[unit_col].nunique()) if unit_col else len(task.frame)
    plan = make_plan(task, strategy, group_col, unit_col, unit_source, tuple(reasons))
    confounders = tuple(task.spec.covariates) or tuple(c for c in ("age", "sex") if c in task.frame.columns)
    return Design(
        task_type=task.task_type,
        metric=metric,
        higher_is_better=METRICS[metric],
        cv_strategy=strategy,
        n_splits=task.launch.n_splits,
        group_column=group_col,
        time_column=task.spec.time_column,
        test_fraction=task.launch.test_fraction,
        seed=task.launch.seed,
        n_rows=len(task.frame),
        n_units=n_units,
        n_events=n_events,
        n_candidate_features=n_features,
        events_per_variable=None if epv is None else round(epv, 2),
        subgroups=tuple(task.fairness_subgroups),
        confounders=confounders,
        reasons=tuple(reasons),
        findings=tuple(findings),
        plan=plan.as_dict(),
    )
