"""``model_card.md``: the champion's model card (Mitchell et al. 2019 sections), from the fact sheet.

Like the HTML report, it formats fact-sheet values and adds no number of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autods.reports.html import format_value as fmt
from autods.runfolder import atomic_write_text

__all__ = ["MODEL_CARD", "model_card_text", "write_model_card"]

MODEL_CARD = "model_card.md"


def _ci(node: dict[str, Any] | None) -> str:
    if not node or node.get("value") is None:
        return "not available"
    if node.get("ci_low") is None:
        return fmt(node["value"])
    return f"{fmt(node['value'])} ({fmt(node['ci_low'])} to {fmt(node['ci_high'])})"


def model_card_text(fs: dict[str, Any]) -> str:
    task, champ, data = fs["task"], fs["champion"], fs["data"]
    level = fs["conventions"]["ci_level_percent"]
    lines = [f"# Model card: {task['name']}", "", f"> {fs['disclaimer']}", ""]
    failures = fs["run"].get("failures") or []
    if failures:  # a run that finished with failures says so before anything else
        lines += ["## This run finished with failures", "",
                  *(f"- **{f['part']}**: {f['cause']} Fix: {f['fix']}" for f in failures), ""]
    lines += ["## Model details", ""]
    if champ is None:
        lines += ["No champion was validated in this run; there is no model to describe.", ""]
    else:
        params = ", ".join(f"{k}={v}" for k, v in sorted(champ["recipe"].get("params", {}).items()))
        lines += [f"- Family: `{champ['model']}` ({params})",
                  f"- Experiment: {champ['experiment_id']}; recipe hash `{champ['recipe_hash'][:16]}`",
                  f"- Inputs ({len(champ['inputs'])}): {', '.join(f'`{c}`' for c in champ['inputs'])}",
                  f"- Task: {task['task_type']}; endpoint `{task['endpoint_text']}`",
                  "- Built by the autods agent team; every metric computed by the frozen judge.",
                  *_load_lines(fs)]
    lines += ["## Intended use", "",
              "Research on retrospective data: method development, hypothesis generation, and a baseline for "
              "prospective validation. Not intended for clinical decisions about individual patients.", "",
              "## Data", "",
              f"- Analytic sample: {fmt(data['n_rows'])} rows, {fmt(data['n_units'])} units, "
              f"{fmt(data['n_features'])} candidate features",
              f"- Held-out test split: {fmt(data['n_holdout'])} rows, locked before any model was fitted",
              f"- Protected health information: {', '.join(fs['guardrails']['phi_columns']) or 'none flagged'} "
              f"(policy: {fs['guardrails']['deident_policy']})",
              f"- Excluded features: {', '.join(e['name'] for e in fs['guardrails']['excluded_features']) or 'none'}", ""]
    if champ is not None:
        lines += [f"## Performance ({level}% bootstrap intervals)", "",
                  f"| {champ['metric']} | value |", "|---|---|",
                  f"| cross-validation (out-of-fold) | {_ci(champ['cv'])} |",
                  f"| held-out test, scored once ({fmt(champ['test'].get('n'))} rows) | {_ci(champ['test'])} |",
                  f"| external | {_ci(champ['external'])} |", ""]
        cal = champ.get("calibration")
        if cal:
            lines += [f"Calibration (out-of-fold): slope {fmt(cal['slope'])}, intercept {fmt(cal['intercept'])}, "
                      f"Brier {fmt(cal['brier'])}.", ""]
        if fs["subgroups"]:
            lines += ["## Subgroups (out-of-fold)", "", "| column | group | n | value |", "|---|---|---|---|"]
            lines += [f"| {s['column']} | {s['group']} | {fmt(s['n'])} | {_ci(s)} |" for s in fs["subgroups"]]
            lines.append("")
    lines += _belief_lines(fs.get("beliefs") or {})
    lines += ["## Limitations and ethical considerations", ""]
    lines += [f"- **{lim['severity']}**: {lim['text']}" + (f" ({lim['advice']})" if lim["advice"] else "")
              for lim in fs["limitations"]] or ["- none recorded"]
    lines += ["", "## Reproducibility", "", f"- Command: `{fs['run']['command']}`",
              "- Data hashes, seeds and package versions: `manifest.json`; every number: `fact_sheet.json`.", ""]
    return "\n".join(lines)


def write_model_card(run_dir: str | Path, fs: dict[str, Any]) -> Path:
    path = Path(run_dir) / MODEL_CARD
    atomic_write_text(path, model_card_text(fs))
    return path


def _load_lines(fs: dict[str, Any]) -> list[str]:
    """How to get the model back, and which fit the figures describe."""
    model = (fs.get("validation") or {}).get("model") or {}
    full = model.get("full")
    if not full:
        return ["- Load it: `autods.load_model(run_dir)` (takes a DataFrame with the task's raw columns).", ""]
    return [f"- Load it: `autods.load_model(run_dir)` returns this recipe refitted on all {fmt(full['n_rows'])} rows "
            "after the held-out test was scored once (takes a DataFrame with the task's raw columns). The figures "
            f"below describe the same recipe fitted on the {fmt(model.get('n_rows'))} development rows; that exact "
            "model is `autods.load_model(run_dir, which='tested')`.", ""]


def _belief_lines(beliefs: dict[str, Any]) -> list[str]:
    """What the team believed, one line per diagnosis: its claim, fate and ideas' outcomes."""
    if not beliefs.get("available"):
        return []
    lines = ["## What the team believed", ""]
    for d in beliefs["diagnoses"]:
        ideas = "; ".join(f"{i['title']} ({i['tier']}, {i['outcome']})" for i in d["ideas"]) or "no idea proposed"
        why = f": {d['status_reason']}" if d["status_reason"] else ""
        lines.append(f"- {d['claim']} — **{d['status']}**{why}. Ideas: {ideas}.")
    return [*lines, ""]
