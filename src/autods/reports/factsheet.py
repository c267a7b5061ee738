"""``build_fact_sheet(run_dir)``: assemble ``fact_sheet.json``, validate it, write it atomically.

The fact sheet is the single source of every number the report and model card show. It is
assembled only from files the deterministic code wrote (``run.json``, ``analytic/``,
``validation.json``, ``biomarkers.json``, ``audit.jsonl``) and from the state store; it never
computes a metric itself. Its schema ships as ``fact_sheet.schema.json`` (JSON Schema
2020-12); a sheet that does not validate is never written.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from autods.errors import JudgeError
from autods.reports.audit_sentences import sentence
from autods.reports.beliefs import empty_beliefs
from autods.reports._context import RunContext, load_context
from autods.reports.limitations import limitations
from autods.reports.runstate import empty_state, read_state
from autods.runfolder import atomic_write_json, read_json
from autods.tasks.provenance import cohort_flow

__all__ = ["DISCLAIMER", "FACT_SHEET", "SCHEMA_VERSION", "build_fact_sheet", "fact_sheet_schema", "validate_fact_sheet"]

FACT_SHEET = "fact_sheet.json"
SCHEMA_VERSION = "1.0"
AUDIT_EXCERPT = 12
DISCLAIMER = ("Research use only. This report and the model it describes are not a medical device and must not be "
              "used for clinical decisions about individual patients. Every number was computed by deterministic "
              "code from the data; none was written by a language model.")


def fact_sheet_schema() -> dict[str, Any]:
    return json.loads(resources.files("autods.reports").joinpath("fact_sheet.schema.json").read_text("utf-8"))


def validate_fact_sheet(sheet: dict[str, Any]) -> None:
    """Raise :class:`~autods.errors.JudgeError` naming the first schema violation."""
    import jsonschema

    bad = _non_finite(sheet)
    if bad:
        raise JudgeError(f"fact sheet holds a non-finite number at {bad}; undefined values must be null")
    validator = jsonschema.Draft202012Validator(fact_sheet_schema())
    errors = sorted(validator.iter_errors(sheet), key=lambda e: list(e.absolute_path))
    if errors:
        where = ".".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise JudgeError(f"fact sheet violates its schema at {where}: {errors[0].message}")


def _non_finite(obj: Any, path: str = "") -> str | None:
    if isinstance(obj, float) and not math.isfinite(obj):
        return path or "(top level)"
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        found = _non_finite(value, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def _maybe(path: Path) -> Any:
    return read_json(path) if path.is_file() else None


def _task(ctx: RunContext) -> dict[str, Any]:
    spec, ep = ctx.task.spec, ctx.task.spec.endpoint
    endpoint: Any = {"time": ep.time, "event": ep.event} if ep.is_survival else ep.column
    positive = ctx.task.positive_class
    return {"name": spec.name, "task_type": spec.task_type, "endpoint": endpoint,
            "endpoint_text": f"time {ep.time}, event {ep.event}" if ep.is_survival else str(ep.column),
            "positive_class": None if positive is None else str(positive), "validation": ctx.task.cv_strategy,
            "description": spec.description.strip(), "id_column": spec.id_column, "site_column": spec.site_column,
            "time_column": spec.time_column, "external": spec.external}


def _cohort(ctx: RunContext, v: dict[str, Any] | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    gov, design, frame = ctx.governance, ctx.design, ctx.task.frame
    split = ctx.locked_split()
    n_test = 0 if split is None else int(len(split.test_idx))
    units = ctx.units

    def n_units(rows: Any) -> int | None:
        return None if units is None else int(len(set(units[rows])))

    data = {"n_rows": int(len(frame)), "n_units": int(design.get("n_units") or len(frame)),
            "n_features": int(design.get("n_candidate_features") or len(ctx.features)),
            "n_rows_received": int(gov.get("n_rows_received", len(frame))),
            "n_columns_received": (gov.get("profile") or {}).get("n_columns"),
            "n_rows_missing_endpoint": int(gov.get("n_rows_missing_endpoint", 0)), "n_events": design.get("n_events"),
            "n_development": int(len(frame) - n_test), "n_holdout": n_test,
            "files": [{"name": k, "sha256": h} for k, h in sorted((gov.get("data_hashes") or {}).items())]}
    loader_steps = cohort_flow(_provenance_records(ctx))
    if loader_steps:  # the loader's own steps end with 'endpoint recorded' (rows received minus missing)
        flow = [{**step, "note": step["note"] or ""} for step in loader_steps]
    else:
        flow = [{"step": "rows received", "n_rows": data["n_rows_received"], "n_units": None,
                 "note": ", ".join(sorted((gov.get("data_hashes") or {}))) or "task data"},
                {"step": "excluded: endpoint missing", "n_rows": data["n_rows_missing_endpoint"], "n_units": None,
                 "note": "rows without an outcome cannot be analysed"}]
    flow.append({"step": "analytic sample", "n_rows": data["n_rows"], "n_units": data["n_units"],
                 "note": "de-identified; every later step uses these rows"})
    if split is not None:
        flow.append({"step": "held-out test split (locked before any model was fitted)", "n_rows": n_test,
                     "n_units": n_units(split.test_idx), "note": "scored once, at the end"})
        flow.append({"step": "development rows (cross-validation)", "n_rows": data["n_development"],
                     "n_units": n_units(split.train_idx), "note": "every experiment was fitted and compared here"})
    oof_n = ((v or {}).get("oof") or {}).get("n")
    if oof_n is not None and oof_n != data["n_development"]:
        flow.append({"step": "rows with out-of-fold predictions", "n_rows": int(oof_n), "n_units": None,
                     "note": "a temporal split never tests its earliest block"})
    ext = (v or {}).get("external")
    if ext:
        flow.append({"step": "external validation rows", "n_rows": int(ext["n"]), "n_units": None,
                     "note": f"{ext['file']}: {ext['n_rows_received'] - ext['n']} rows without an endpoint dropped"})
    return data, flow


def _provenance_records(ctx: RunContext) -> list[dict[str, Any]]:
    return list(getattr(ctx.task, "provenance", None) or ctx.governance.get("provenance") or [])


def _provenance(ctx: RunContext) -> dict[str, Any]:
    """Loader provenance for the report: sources, cohort SQL, unit conversions, loader drops."""
    records = _provenance_records(ctx)

    def of(kind: str) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "kind"} for r in records if r.get("kind") == kind]

    return {"sources": [{"path": str(r.get("path", r.get("name", ""))), "sha256": str(r.get("sha256", "")),
                         "bytes": r.get("bytes"), "package": r.get("package")} for r in of("source")],
            "queries": [{"name": str(r.get("name", "")), "dialect": str(r.get("dialect", "")), "sql": str(r.get("sql", ""))}
                        for r in of("query")],
            "units": [{k: r.get(k) for k in ("analyte", "from", "to", "factor", "offset", "rows", "source")}
                      for r in of("units")],
            "drops": [{"name": str(r.get("name", "")), "columns": ", ".join(map(str, r.get("columns", []))),
                       "reason": str(r.get("reason", ""))} for r in of("drop")]}


def _guardrails(ctx: RunContext, v: dict[str, Any] | None) -> dict[str, Any]:
    gov, design = ctx.governance, ctx.design
    findings = [{"check": f["check"], "severity": f["severity"], "message": f["message"],
                 "advice": f.get("advice", ""), "feature": f.get("feature")} for f in gov.get("findings", [])]
    used = ((v or {}).get("cv") or {}).get("design") or {}
    cv = {"strategy": used.get("strategy") or design.get("cv_strategy"),
          "group_column": used.get("group_column", design.get("group_column")),
          "n_splits": int(used.get("n_splits") or design.get("n_splits") or ctx.task.launch.n_splits)}
    plan = design.get("plan") or {}
    # the rest of the executed plan: which unit kept rows together, and how the held-out rows were drawn
    declared = "declared" if ctx.task.spec.id_column else "none"  # run folders from before the plan existed
    cv |= {"unit_column": ctx.task.spec.id_column, "unit_source": plan.get("unit_source", declared),
           "repeats": int(plan.get("repeats") or 1), "holdout_kind": plan.get("holdout_kind"),
           "stratify": plan.get("stratify"), "allow": dict(ctx.task.spec.allow)}
    return {"phi_columns": list(gov.get("phi_columns", [])),
            "excluded_features": [{"name": n, "reason": r} for n, r in ctx.excluded],
            # columns TASK.md's allow: kept against a check that would have excluded them
            "allowed_features": [{"name": str(e["name"]), "reason": str(e["reason"])}
                                 for e in gov.get("allowed_features", [])],
            "findings": findings, "cv": cv, "deident_policy": ctx.task.launch.deident_policy,
            "actions": [{"column": a["column"], "action": a["action"], "reason": a["reason"]}
                        for a in gov.get("actions", [])]}


def _named(secondary: dict[str, Any] | None) -> dict[str, Any]:
    return {m: {**ci, "name": m} for m, ci in (secondary or {}).items()}


def _champion(v: dict[str, Any] | None) -> dict[str, Any] | None:
    if v is None:
        return None
    ci = ("value", "ci_low", "ci_high")
    test, ext, oof = v.get("test"), v.get("external"), v.get("oof") or {}
    return {"experiment_id": v["experiment_id"], "model": v["family"], "metric": v["metric"],
            "higher_is_better": v["higher_is_better"], "recipe": v["recipe"], "recipe_hash": v["recipe_hash"],
            "cv": {k: v["cv"].get(k) for k in ci} | {"method": v["cv"].get("ci_method"),
                                                      "clustered": bool(v["cv"].get("clustered")),
                                                      "fold_mean": v["cv"].get("fold_mean"),
                                                      "fold_sd": v["cv"].get("fold_sd"), "n_rows": v["cv"].get("n_rows"),
                                                      "selection": v["cv"].get("selection")},
            "test": ({k: test.get(k) for k in ci} | {"n": test["n"], "scored_at": test.get("scored_at"),
                                                     "kind": (v.get("test_split") or {}).get("kind", "")})
            if test else {"value": None, "ci_low": None, "ci_high": None, "n": 0, "scored_at": None, "kind": ""},
            "external": ({k: ext.get(k) for k in ci} | {"n": ext["n"], "file": ext["file"]}) if ext else None,
            "calibration": oof.get("calibration"), "test_calibration": (test or {}).get("calibration"),
            "secondary": {"cv": _named(oof.get("secondary")), "test": _named((test or {}).get("secondary")),
                          "external": _named((ext or {}).get("secondary"))},
            "inputs": list(v.get("inputs", []))}


def _figures(v: dict[str, Any] | None) -> dict[str, Any]:
    if v is None:
        return {}
    return {"cv": (v.get("oof") or {}).get("curves", {}), "test": (v.get("test") or {}).get("curves", {}),
            "external": (v.get("external") or {}).get("curves", {})}


def _audit(ctx: RunContext, state: dict[str, Any]) -> dict[str, Any]:
    path = ctx.folder.audit_log
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    excerpt = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        line_ = sentence(event)
        if line_["summary"].strip():  # a claim that found nothing says nothing: keep the lines that do
            excerpt.append(line_)
    return {"n_lines": len(lines), "excerpt": excerpt[-AUDIT_EXCERPT:], "chain_verified": state.get("chain_verified")}


def build_fact_sheet(run_dir: str | Path) -> dict[str, Any]:
    """Assemble, validate and write ``runs/NAME/fact_sheet.json``; returns the sheet."""
    ctx = load_context(run_dir)
    cfg, root = ctx.config, ctx.root
    v = _maybe(root / "validation.json")
    bio = _maybe(root / "biomarkers.json") or {"status": "not run", "candidates": [], "assessments": [],
                                                  "removed": [], "incremental": None, "findings": [],
                                                  "reason": "the biomarker track did not run for this task"}
    try:
        state = read_state(ctx.folder)
    except JudgeError:
        state = empty_state()
    data, flow = _cohort(ctx, v)
    test = (v or {}).get("test") or {}
    sheet: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "conventions": {"ci_level_percent": 95},
        "run": {"name": cfg.name, "status": cfg.status, "seed": cfg.seed, "budget": cfg.budget, "brain": cfg.brain,
                "executor": cfg.executor, "command": " ".join(cfg.command), "created_at": cfg.created_at,
                "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        "task": _task(ctx), "data": data, "cohort_flow": flow, "provenance": _provenance(ctx), "guardrails": _guardrails(ctx, v),
        "design": {k: val for k, val in ctx.design.items() if k != "findings"},
        "champion": _champion(v),
        "subgroups": (v or {}).get("subgroups", []),
        "candidates": bio.get("candidates", []),
        "biomarkers": {k: bio.get(k) for k in ("status", "reason", "assessments", "removed", "incremental", "findings",
                                               "n_units")} | {"reason": bio.get("reason", "")},
        "experiments": {k: state["counts"][k] for k in ("total", "promoted", "failed", "dead_ends", "aborted")},
        "experiment_log": state["log"], "trajectory": state["trajectory"], "teams": state["teams"],
        "dead_ends": state["dead_ends"], "discussion": state["discussion"],
        "beliefs": state.get("beliefs") or empty_beliefs(),
        "importance": test.get("importance"),
        "figures": _figures(v),
        "validation": {"notes": (v or {}).get("notes", []), "subgroup_gaps": (v or {}).get("subgroup_gaps", []),
                       "findings": (v or {}).get("findings", []), "test_split": (v or {}).get("test_split"),
                       "shap": test.get("shap"), "validated_at": (v or {}).get("validated_at"),
                       "model": (v or {}).get("model"), "code": (v or {}).get("code")},
        "audit": _audit(ctx, state),
        "disclaimer": DISCLAIMER,
    }
    sheet["limitations"] = limitations(sheet, bio)
    validate_fact_sheet(sheet)
    atomic_write_json(root / FACT_SHEET, sheet)
    return sheet
