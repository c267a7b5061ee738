"""``autods check``: load -> govern (profile, PHI, de-identification, leakage) -> design -> baseline screen.

The baseline screen fits the task type's default recipe once, through the frozen judge, to
report what only a fitted model reveals: subgroups where discrimination is clearly worse.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from autods.guard.findings import Finding, Severity
from autods.judge.design import Design, make_design

#: a subgroup is flagged when its metric's CI upper bound lies below the overall value minus this margin
SUBGROUP_GAP_MARGIN = 0.0
SUBGROUP_MIN_N = 30


@dataclass
class Checkup:
    task_name: str
    task_type: str
    design: Design
    findings: list[Finding]
    excluded: list[tuple[str, str]]
    phi_columns: list[str]
    baseline: dict[str, Any] | None = None
    subgroups: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Severity}
        for f in self.findings:
            out[f.severity.value] += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": {"name": self.task_name, "task_type": self.task_type},
            "design": self.design.as_dict(),
            "findings": [f.model_dump(mode="json") for f in self.findings],
            "excluded_features": [{"name": n, "reason": r} for n, r in self.excluded],
            "phi_columns": self.phi_columns,
            "baseline": self.baseline,
            "subgroups": self.subgroups,
        }


def run_checkup(task_dir: str | Path, *, baseline: bool = True) -> Checkup:
    from autods.guard.govern import govern
    from autods.tasks.load import load_task

    task = load_task(task_dir)
    gov = govern(task)
    excluded = list(gov.excluded)
    design = make_design(task, excluded=[n for n, _ in excluded], detected_unit=gov.profile.unit_id)
    findings = list(gov.findings) + list(design.findings)
    result = Checkup(
        task_name=task.spec.name,
        task_type=task.task_type,
        design=design,
        findings=findings,
        excluded=excluded,
        phi_columns=list(gov.phi_columns),
    )
    if baseline and task.task_type in ("binary", "survival", "regression", "multiclass"):
        _baseline_screen(task, gov, design, result)
    return result


def _baseline_screen(task: Any, gov: Any, design: Design, result: Checkup) -> None:
    from autods.judge.subgroups import subgroup_metrics
    from autods.runners import default_recipe
    from autods.runners import evaluate as run_evaluate

    from autods.judge.plan import planned_task

    # the governed frame and exclusions are already here (evaluate takes a Task as governed);
    # the detected unit joins the spec, so the baseline runs the design's grouped plan
    governed = planned_task(replace(task, frame=gov.frame.reset_index(drop=True)), gov.profile.unit_id)
    record = run_evaluate(governed, default_recipe(task.task_type), exclude=gov.excluded_features, n_resamples=300)
    result.baseline = {
        "recipe": record.recipe.family,
        "metric": record.metric,
        "value": record.value,
        "ci_low": record.ci_low,
        "ci_high": record.ci_high,
    }
    rows = np.asarray(record.oof.row)
    if not task.fairness_subgroups or design.metric not in ("auroc", "c_index", "r2"):
        return
    y = task.target(task.frame.iloc[rows])
    pred = np.asarray(record.oof.pred)
    groups = {c: task.frame[c].astype(str).to_numpy()[rows] for c in task.fairness_subgroups}
    # Patients with several rows: resample patients, as the CV interval does.
    unit = task.spec.id_column or gov.profile.unit_id
    units = None
    if unit is not None and unit in task.frame.columns:  # ids stay in this process; only their grouping is used
        ids = task.frame[unit].astype(str).to_numpy()
        units = ids[rows] if len(np.unique(ids)) < len(ids) else None
    subs = subgroup_metrics(design.metric, y, pred, groups, n_resamples=300, seed=design.seed, min_n=SUBGROUP_MIN_N,
                            units=units)
    for s in subs:
        row = {"column": s.column, "group": s.group, "n": s.n, "metric": s.metric, "value": s.value,
               "ci_low": s.ci_low, "ci_high": s.ci_high}
        result.subgroups.append(row)
        if np.isfinite(s.ci_high) and s.ci_high < record.value - SUBGROUP_GAP_MARGIN:
            result.findings.append(Finding(
                check="subgroup.gap",
                severity=Severity.warning,
                feature=s.column,
                message=(f"{s.metric} in {s.column}={s.group} is {s.value:.3f} (95% CI {s.ci_low:.3f}-{s.ci_high:.3f}, "
                         f"n={s.n}), below the overall {record.value:.3f} of the default {record.recipe.family} model"),
                advice="report this subgroup separately; look for missing predictors or a different outcome process there",
                evidence=row,
            ))
