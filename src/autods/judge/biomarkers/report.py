"""The biomarker track's one entry point and its outputs for the fact sheet.

``discover_biomarkers(task)``: build unit-level candidates (constructing features when the
data is long), remove construct overlaps, screen with FDR tracked in a ledger, run the
battery in a spawn subprocess, label, estimate incremental value, apply quality gates.

Fact-sheet rows carry exactly the fields of ARCHITECTURE.md section 6. ``effect`` is
Spearman's rho with the endpoint (binary: with the 0/1 label; survival: with the null-model
martingale residual, positive = higher hazard) and ``ci_low``/``ci_high`` its bootstrap
CI; ``p_value`` is the screening test for the endpoint kind and ``p_adjusted`` its
Benjamini-Hochberg value over every hypothesis in the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autods.guard.findings import Finding
from autods.judge.biomarkers import gates
from autods.judge.biomarkers.battery import BatteryConfig, BatteryInput, BatteryResult, run_battery, run_battery_isolated
from autods.judge.biomarkers.cohort import Cohort, build_cohort
from autods.judge.biomarkers.incremental import IncrementalResult, incremental_value
from autods.judge.biomarkers.labels import label_result
from autods.judge.biomarkers.screening import ScreeningLedger, ScreenResult, construct_overlap, screen
from autods.tasks.load import Task

__all__ = ["CANDIDATE_FIELDS", "JUDGEMENT_AXES", "NOT_ASSESSED", "BiomarkerResult", "discover_biomarkers"]

CANDIDATE_FIELDS = ("feature", "effect", "p_value", "p_adjusted", "ci_low", "ci_high", "checks_passed", "checks_applicable", "label")
JUDGEMENT_AXES = ("plausibility", "novelty", "clinical_utility")
NOT_ASSESSED = "not assessed"
# Which checks inform each computed assessment axis.
_AXES = {
    "statistical_validity": ("permutation", "bootstrap", "leave_one_out", "triangulation", "ci_consistency"),
    "generalizability": ("held_out", "subgroup", "confounding"),
    "interpretability": ("construct_validity", "construct_independence"),
}


@dataclass
class BiomarkerResult:
    """Everything the biomarker track computed; ``candidates`` are the fact-sheet rows."""

    candidates: list[dict[str, Any]]
    assessments: list[dict[str, Any]]
    removed: list[dict[str, object]]
    battery: BatteryResult | None
    screening: ScreenResult | None
    ledger: ScreeningLedger
    incremental: IncrementalResult | None
    findings: list[Finding] = field(default_factory=list)
    forest_plot: list[str] = field(default_factory=list)
    n_units: int = 0

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.candidates, columns=list(CANDIDATE_FIELDS))

    def label_of(self, feature: str) -> str | None:
        return next((r["label"] for r in self.candidates if r["feature"] == feature), None)

    def fact_sheet(self) -> dict[str, Any]:
        """The fact-sheet fragments this track owns."""
        return {"candidates": self.candidates,
                "excluded_features": [{"name": r["name"], "reason": r["reason"]} for r in self.removed],
                "findings": [f.as_row() for f in self.findings],
                "incremental": None if self.incremental is None else self.incremental.as_dict()}


def _assessment(feature: str, j: int, res: BatteryResult, label: str, reason: str, lineage: tuple[str, ...],
                judged: dict[str, str]) -> dict[str, Any]:
    verdicts = res.verdicts(j)
    record: dict[str, Any] = {"feature": feature, "label": label, "label_reason": reason, "verdicts": verdicts}
    for axis, checks in _AXES.items():
        done = [c for c in checks if verdicts[c]["passed"] is not None]
        passed = [c for c in done if verdicts[c]["passed"]]
        record[axis] = {"score": len(passed) / len(done) if done else None, "passed": passed,
                        "failed": [c for c in done if c not in passed]}
    record["interpretability"].update(construct=str(res.construct[j]), built_from=list(lineage))
    for axis in JUDGEMENT_AXES:
        record[axis] = judged.get(axis, NOT_ASSESSED)
    return record


def _run(cohort: Cohort, keep: list[int], validated: list[int], config: BatteryConfig, isolated: bool,
         exclude: set[str]) -> BatteryResult:
    names = tuple(cohort.names[j] for j in keep)
    comp = np.array([bool(exclude.intersection(cohort.lineage.get(n, ()))) and n not in exclude for n in names])
    inp = BatteryInput(
        X=cohort.X[:, keep], features=names, response=cohort.response,
        excluded=cohort.excluded.fillna(cohort.excluded.median()).to_numpy(dtype=float),
        covariates=cohort.covariates, validated=cohort.X[:, validated] if validated else None,
        compositional=comp, sex=cohort.sex, age=cohort.age,
    )
    return run_battery_isolated(inp, config) if isolated else run_battery(inp, config)


def discover_biomarkers(
    task: Task,
    *,
    composites: Iterable[tuple[str, str]] = (),
    config: BatteryConfig | None = None,
    isolated: bool = True,
    top_k: int = 5,
    ledger: ScreeningLedger | None = None,
    round_name: str = "round1",
    validated: Iterable[str] = (),
    judgements: dict[str, dict[str, str]] | None = None,
) -> BiomarkerResult:
    """Screen, validate and label candidate biomarkers of ``task``'s endpoint."""
    cfg = config or BatteryConfig(seed=task.launch.seed)
    ledger = ledger if ledger is not None else ScreeningLedger()
    cohort = build_cohort(task, composites)
    validated = [cohort.names.index(v) for v in validated if v in cohort.names]
    removed = list(cohort.removed)
    overlap = construct_overlap(cohort.X, cohort.names, cohort.excluded.fillna(cohort.excluded.median()))
    removed += overlap
    dropped = {r["name"] for r in overlap}
    keep = [j for j, n in enumerate(cohort.names) if n not in dropped and j not in validated]
    findings: list[Finding] = []
    if not keep:
        return BiomarkerResult([], [], removed, None, None, ledger, None, findings, [], cohort.X.shape[0])
    names = [cohort.names[j] for j in keep]
    scr = screen(cohort.X[:, keep], names, cohort.response)
    ledger.add(round_name, scr)
    p_adj = ledger.adjusted(round_name)
    res = _run(cohort, keep, validated, cfg, isolated, set(task.spec.exclude))
    labels, reasons = label_result(res)
    ev = res.evidence
    rows, assessments = [], []
    for j, name in enumerate(names):
        rows.append({"feature": name, "effect": float(res.effect[j]), "p_value": float(scr.p_value[j]),
                     "p_adjusted": float(p_adj[j]), "ci_low": float(ev["ci_low"][j]), "ci_high": float(ev["ci_high"][j]),
                     "checks_passed": int(res.passed[j].sum()), "checks_applicable": int(res.applicable[j].sum()),
                     "label": str(labels[j])})
        assessments.append(_assessment(name, j, res, str(labels[j]), str(reasons[j]), cohort.lineage.get(name, ()),
                                       (judgements or {}).get(name, {})))
    ranked = [names[j] for j in np.argsort(-np.abs(res.effect), kind="mergesort") if labels[j] in ("screened", "conditional")]
    inc = None
    if ranked:
        pool = [keep[names.index(n)] for n in ranked]
        inc = incremental_value(cohort.covariates, cohort.X[:, pool], ranked, cohort.response, top_k=top_k, seed=cfg.seed)
        sel = [cohort.names.index(n) for n in inc.selected]
        findings += [f for f in (gates.performance_gate(inc.metric, inc.full),
                                 gates.overfit_gate(inc.metric, inc.train_full, inc.full),
                                 gates.vif_gate(cohort.X[:, sel], list(inc.selected))) if f is not None]
    forest, fam = gates.family_gate(ranked)
    if fam is not None:
        findings.append(fam)
    rows.sort(key=lambda r: (r["label"] != "screened", r["p_value"]))
    assessments.sort(key=lambda a: [r["feature"] for r in rows].index(a["feature"]))
    return BiomarkerResult(rows, assessments, removed, res, scr, ledger, inc, findings, forest, cohort.X.shape[0])


