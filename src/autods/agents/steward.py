"""The data steward's deterministic step: the only agent code that reads the data.

``govern(task_dir, folder)`` loads the task, runs the guardrails (PHI scan and
de-identification, leakage audit) and locks the design through
:func:`~autods.execution.analytic.prepare_analytic`, which writes the governed analytic
dataset every experiment job reads. It returns a *summary* of aggregates only (column
kinds, missingness, quantiles of numeric features, findings without values), which the
steward posts to the forum: that post is all any brain ever learns about the data.

``egress_gate(task_dir, phi_columns)`` builds the egress gate for LLM brains from the raw
PHI columns (salted hashes of sampled values; the values themselves are not kept).

On resume the governed dataset already exists and is not rebuilt: the PHI scan runs once.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from autods.agents.snapshot import SUMMARY_KEY
from autods.runfolder import RunFolder, read_json

DESCRIPTION_CHARS = 1500


def analytic_ready(folder: RunFolder) -> bool:
    return (folder.analytic / "frame.parquet").is_file()


def govern(task_dir: Path, folder: RunFolder) -> dict[str, Any]:
    """Prepare the analytic dataset (once) and return the steward's summary of it."""
    from autods.execution.analytic import load_analytic, prepare_analytic

    if analytic_ready(folder):
        analytic = load_analytic(folder)
    else:
        # A fresh random salt: hashed identifiers cannot be reversed by anyone holding only the
        # run folder, and it need not survive the step (the governed data is written once).
        analytic, _, _ = prepare_analytic(Path(task_dir), folder, salt=secrets.token_hex(16))
    governance = read_json(folder.analytic / "governance.json")
    design = read_json(folder.analytic / "design.json")
    return summarise(analytic, governance, design)


def summarise(analytic: Any, governance: dict[str, Any], design: dict[str, Any]) -> dict[str, Any]:
    """Aggregates a brain may see: schema, missingness, quantiles, findings, the locked design."""
    task = analytic.task
    features = task.feature_columns(analytic.excluded_names)
    profile = governance.get("profile", {}).get("columns", {})
    cols = []
    for name in features:
        prof = profile.get(name, {})
        stats = {k: v for k, v in (prof.get("stats") or {}).items() if k in ("mean", "std", "min", "median", "max")}
        cols.append({"name": name, "kind": prof.get("kind", "unknown"),
                     "missing_fraction": float(prof.get("missing_fraction", 0.0)),
                     "n_unique": prof.get("n_unique"), "stats": stats})
    ep = task.spec.endpoint
    endpoint = ep.column if not ep.is_survival else f"{ep.time}/{ep.event}"
    summary: dict[str, Any] = {
        "name": task.spec.name, "task_type": task.task_type, "endpoint": str(endpoint),
        "metric": design["metric"], "higher_is_better": bool(design["higher_is_better"]),
        "cv_strategy": design["cv_strategy"], "n_splits": design["n_splits"], "n_rows": int(design["n_rows"]),
        "n_units": int(design["n_units"]), "n_events": design.get("n_events"),
        "events_per_variable": design.get("events_per_variable"),
        "units_repeat": int(design["n_units"]) < int(design["n_rows"]),
        # unit history (unit_mean & co.) is ordered by this column and is not offered without it
        "time_column": task.spec.time_column,
        "features": cols, "excluded": governance.get("excluded_features", []),
        "phi_columns": list(governance.get("phi_columns", [])),
        "findings": [{k: f.get(k) for k in ("check", "severity", "message", "feature")}
                     for f in governance.get("findings", [])],
        "subgroups": list(design.get("subgroups", [])), "confounders": list(design.get("confounders", [])),
        "design_reasons": list(design.get("reasons", [])),
        "description": (task.spec.description or "")[:DESCRIPTION_CHARS],
    }
    if task.task_type in ("binary", "multiclass", "singlecell"):
        counts = task.frame[ep.column].astype(str).value_counts()
        summary["class_counts"] = {str(k): int(v) for k, v in sorted(counts.items())}
    return summary


def post_summary(client: Any, summary: dict[str, Any]) -> None:
    """The steward's posts: one summary (the observation's source) and one per finding."""
    n_excluded = len(summary["excluded"])
    client.post("finding", f"Data steward: {summary['n_rows']} rows, {len(summary['features'])} features, "
                f"{n_excluded} excluded", _summary_text(summary), {SUMMARY_KEY: summary})
    for f in summary["findings"]:
        if f.get("severity") in ("warning", "blocking"):
            client.post("finding", str(f["message"])[:200], "", {k: v for k, v in f.items() if v is not None})


def _summary_text(summary: dict[str, Any]) -> str:
    lines = [f"{summary['task_type']} task on '{summary['endpoint']}': {summary['n_rows']} rows, "
             f"{summary['n_units']} units; primary metric {summary['metric']}, {summary['cv_strategy']}."]
    if summary["phi_columns"]:
        lines.append(f"PHI columns removed or transformed: {', '.join(summary['phi_columns'])}.")
    lines += [f"Excluded {e['name']}: {e['reason']}" for e in summary["excluded"]]
    return "\n".join(lines)[:8000]


def egress_gate(task_dir: Path, phi_columns: list[str]) -> Any:
    """The egress gate for LLM brains, built from the raw PHI columns (values are hashed, not kept)."""
    from autods.guard.egress import EgressGate
    from autods.tasks.load import load_task

    if not phi_columns:
        return EgressGate([])
    task = load_task(Path(task_dir))
    return EgressGate.from_frame(task.frame, phi_columns)


__all__ = ["analytic_ready", "egress_gate", "govern", "post_summary", "summarise"]
