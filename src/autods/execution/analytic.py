"""Prepare and load the governed analytic dataset of a run.

The orchestrator calls :func:`prepare_analytic` once (the data steward's step); every
experiment job calls :func:`load_analytic`, so the PHI scan never runs twice and no job
ever touches the raw, identifiable file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from autods.judge.design import Design, make_design
from autods.judge.plan import planned_task
from autods.runfolder import RunFolder, read_json, write_analytic
from autods.tasks.load import Task, load_task
from autods.tasks.spec import read_specs


@dataclass(frozen=True)
class AnalyticTask:
    """A governed task: ``task.frame`` is de-identified; ``exclude`` lists (feature, reason)."""

    task: Task
    exclude: tuple[tuple[str, str], ...]
    design: dict

    @property
    def excluded_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.exclude)


def prepare_analytic(task_dir: Path, folder: RunFolder, *, salt: str) -> tuple[AnalyticTask, Design, dict]:
    """Load, govern (PHI scan, de-identification, leakage audit) and lock the design."""
    from autods.guard.govern import govern

    task = load_task(task_dir)
    gov = govern(task, salt=salt)
    design = make_design(task, excluded=gov.excluded_features, detected_unit=gov.profile.unit_id)
    # From here on the unit of analysis (declared or detected) is the spec's id_column, so every
    # path groups by it and none uses it as a feature.
    task = planned_task(task, gov.profile.unit_id)
    governance = {
        "phi_columns": list(gov.phi_columns),
        "excluded_features": [{"name": n, "reason": r} for n, r in gov.excluded],
        "allowed_features": [{"name": n, "reason": r} for n, r in gov.allowed],
        "findings": [f.model_dump(mode="json") for f in list(gov.findings) + list(design.findings)],
        "actions": [a.model_dump(mode="json") if hasattr(a, "model_dump") else vars(a) for a in gov.actions],
        "profile": gov.profile.model_dump(mode="json"),
        "data_hashes": dict(task.data_hashes),
        "n_rows_received": int(len(task.frame) + task.dropped_missing_endpoint),
        "n_rows_missing_endpoint": int(task.dropped_missing_endpoint),
        # loader provenance: source files + hashes, cohort SQL, row counts per step (never row values)
        "provenance": list(task.provenance),
    }
    write_analytic(folder, gov.frame, governance, design.as_dict())
    governed = replace(task, frame=gov.frame.reset_index(drop=True))
    return AnalyticTask(governed, tuple(gov.excluded), design.as_dict()), design, governance


def load_analytic(folder: RunFolder) -> AnalyticTask:
    """The governed task of a run, rebuilt from ``analytic/`` (the raw data is not read)."""
    spec, launch = read_specs(folder.root / "task")
    cfg = folder.config()
    spec = spec.model_copy(update={"root": Path(cfg.task_dir)})
    design = read_json(folder.analytic / "design.json")
    plan = design.get("plan") or {}
    if spec.id_column is None and plan.get("unit_source") == "detected":
        spec = spec.model_copy(update={"id_column": plan["unit_column"]})  # the detected unit the plan executes
    governance = read_json(folder.analytic / "governance.json")
    frame = pd.read_parquet(folder.analytic / "frame.parquet")
    task = Task(spec=spec, launch=launch, frame=frame, external=None, data_hashes=governance["data_hashes"],
                dropped_missing_endpoint=governance["n_rows_missing_endpoint"],
                provenance=governance.get("provenance", []))
    exclude = tuple((e["name"], e["reason"]) for e in governance["excluded_features"])
    return AnalyticTask(task, exclude, design)
