"""The biomarker track of a run: screen, validate and label candidates; write ``biomarkers.json``.

It runs on the governed frame's **development rows** only (the locked held-out rows stay
for the champion's single scoring) with governance exclusions removed, except the declared
proxies in TASK.md ``exclude``, which the battery needs to test construct overlap.
The orchestrator may write ``biomarkers.json`` itself; :func:`build_fact_sheet` reads it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from autods.errors import DataError, JudgeError
from autods.reports._context import RunContext, load_context
from autods.runfolder import atomic_write_json

__all__ = ["BIOMARKERS_FILE", "biomarker_track"]

BIOMARKERS_FILE = "biomarkers.json"


def _check_rows(assessment: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-check verdicts as rows: check name, passed (True/False/None = not applicable)."""
    return [{"check": name, "passed": v.get("passed")} for name, v in assessment.get("verdicts", {}).items()]


def biomarker_track(run: str | Path | RunContext, *, config: Any = None, isolated: bool = True) -> dict[str, Any]:
    """Run :func:`~autods.judge.biomarkers.discover_biomarkers` and write ``biomarkers.json``.

    Returns the document written. A task the battery cannot handle (e.g. an endpoint that
    varies within a unit, or a multiclass endpoint) gets ``status: "not applicable"`` and
    the reason, rather than an error: the track is a side output for non-biomarker tasks.
    """
    from autods.judge.biomarkers import BatteryConfig, discover_biomarkers

    ctx = run if isinstance(run, RunContext) else load_context(run)
    task = ctx.task
    split = ctx.locked_split()
    dev = np.arange(len(task.frame)) if split is None else np.asarray(split.train_idx)
    drop = [n for n, _ in ctx.excluded if n not in task.spec.exclude and n in task.frame.columns]
    frame = task.frame.iloc[dev].drop(columns=drop).reset_index(drop=True)
    doc: dict[str, Any] = {"status": "run", "reason": "", "n_rows": int(len(frame)), "candidates": [],
                           "assessments": [], "removed": [], "incremental": None, "findings": [], "forest_plot": []}
    try:
        result = discover_biomarkers(replace(task, frame=frame), config=config or BatteryConfig(seed=task.launch.seed),
                                     isolated=isolated)
    except (DataError, JudgeError) as err:
        doc.update(status="not applicable", reason=str(err))
    else:
        part = result.fact_sheet()
        doc.update(candidates=part["candidates"], incremental=part["incremental"], findings=part["findings"],
                   removed=[{"name": str(r["name"]), "reason": str(r["reason"])} for r in result.removed],
                   forest_plot=list(result.forest_plot), n_units=int(result.n_units),
                   assessments=[{"feature": a["feature"], "label": a["label"], "label_reason": a["label_reason"],
                                 "checks": _check_rows(a)} for a in result.assessments])
    atomic_write_json(ctx.root / BIOMARKERS_FILE, doc)
    return doc
