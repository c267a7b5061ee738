"""Reports: validate the champion, assemble the fact sheet, render the report and model card.

The end of a run, in order (the orchestrator calls these; ``autods report`` re-runs 2-3)::

    validate_champion(run_dir, recipe, seed=..., experiment_id=...)   # validation.json, champion/
    build_fact_sheet(run_dir)                                          # fact_sheet.json (schema-checked)
    render_report(run_dir)                                             # report.html, model_card.md, manifest.json

``load_model(run_dir)`` gives the champion back as a predictor on raw rows. Names are
re-exported lazily so ``import autods.reports`` does not pull in matplotlib or scikit-learn.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "validate_champion": "validate",
    "build_fact_sheet": "factsheet",
    "validate_fact_sheet": "factsheet",
    "fact_sheet_schema": "factsheet",
    "render_report": "html",
    "write_model_card": "model_card",
    "write_manifest": "manifest",
    "load_model": "model_io",
    "ChampionModel": "model_io",
    "biomarker_track": "biomarkers",
    "export_mlflow": "mlflow_export",
    "write_claude_pack": "claude_pack",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'autods.reports' has no attribute {name!r}")
    return getattr(import_module(f"autods.reports.{_EXPORTS[name]}"), name)
