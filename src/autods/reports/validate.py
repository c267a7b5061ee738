"""Validate the champion at the end of a run and write ``validation.json``.

:func:`validate_champion` (called by the orchestrator once the search stops):

1. fits the champion recipe on **all development rows** (never the held-out rows) and saves
   ``champion/model.joblib`` (a :class:`~autods.reports.model_io.ChampionModel`) and
   ``champion/recipe.json``;
2. on the champion's out-of-fold predictions (its ``artifacts/ID/``, re-evaluated when
   missing): secondary metrics with bootstrap CIs, calibration (binary), curve data, and
   subgroup metrics with CIs over ``fairness_subgroups`` (and the site column);
3. scores the locked held-out split **exactly once** through
   :meth:`~autods.judge.holdout.HoldoutLedger.score_once`; the same single look yields the
   metric with its CI and the permutation importance (SHAP when installed). A second call
   reads the ledger instead of scoring again;
4. external validation when TASK.md names ``external`` (same governance: PHI columns
   dropped by name, exclusions applied, the champion's own inputs);
5. re-checks for leakage and records findings the report turns into limitations.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autods.errors import JudgeError
from autods.judge.score import METRICS, PRIMARY_METRIC
from autods.reports import checks
from autods.reports._context import RunContext, load_context
from autods.reports.evidence import performance
from autods.reports.model_io import MODEL_FULL_FILE, ChampionModel, save_model
from autods.runfolder import atomic_write_json, read_json
from autods.runners.code_family import code_manifest
from autods.runners.families import task_kind
from autods.runners.pipeline import RecipeRunner, TrainingData
from autods.runners.recipe import Recipe
from autods.tasks.provenance import file_sha256

__all__ = ["VALIDATION_FILE", "validate_champion"]

VALIDATION_FILE = "validation.json"


def _oof(ctx: RunContext, recipe: Recipe, seed: int, experiment_id: str, n_resamples: int) -> tuple[dict, pd.DataFrame]:
    """The champion's EvaluationRecord (JSON) and OOF rows; re-evaluated when the artifacts are gone."""
    out = ctx.folder.artifacts(experiment_id)
    if not ((out / "record.json").is_file() and (out / "oof.parquet").is_file()):
        from autods.execution.base import Job
        from autods.execution.job import run_job

        result = run_job(Job(job_id=str(experiment_id), run_dir=str(ctx.root), recipe=recipe.model_dump(mode="json"),
                             seed=seed, n_resamples=n_resamples))
        if not result.ok:
            raise JudgeError(f"the champion recipe failed to re-evaluate: {result.error}")
    record = read_json(out / "record.json")
    if record["recipe_hash"] != recipe.canonical_hash():
        raise JudgeError(f"artifacts/{experiment_id} hold another recipe than the champion's; pass its experiment_id")
    return record, pd.read_parquet(out / "oof.parquet")


def _oof_pred(oof: pd.DataFrame, kind: str) -> np.ndarray:
    if "pred" in oof.columns:
        return oof["pred"].to_numpy(dtype=float)
    return oof[[c for c in oof.columns if c.startswith("p_")]].to_numpy(dtype=float)


def _classes(ctx: RunContext, kind: str, runner: RecipeRunner) -> list[Any] | None:
    if kind == "binary":
        levels = pd.unique(ctx.task.frame[ctx.task.spec.endpoint.column].dropna())
        positive = ctx.task.positive_class
        negative = next((v for v in levels if str(v) != str(positive)), 0)
        return [negative.item() if hasattr(negative, "item") else negative,
                positive.item() if hasattr(positive, "item") else positive]
    if kind == "multiclass":
        return [c.item() if hasattr(c, "item") else c for c in runner.classes_]
    return None


def _subgroups(ctx: RunContext, metric: str, y: Any, pred: np.ndarray, rows: np.ndarray, seed: int,
               n_resamples: int, kw: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    from autods.judge.subgroups import largest_gap, subgroup_metrics

    task = ctx.task
    wanted = list(dict.fromkeys([*task.fairness_subgroups, *([task.spec.site_column] if task.spec.site_column else [])]))
    present = [c for c in wanted if c in task.frame.columns]
    notes = [f"subgroup column '{c}' was removed by de-identification; not evaluated" for c in wanted if c not in present]
    if not present:
        return [], [], notes
    groups = {c: task.frame[c].to_numpy()[rows] for c in present}
    units = ctx.units[rows] if ctx.units_repeat else None  # patients with several rows: resample patients
    res = subgroup_metrics(metric, y, pred, groups, n_resamples=n_resamples, seed=seed, units=units, **kw)
    fin = _finite
    rows_out = [{"column": r.column, "group": r.group, "n": r.n, "metric": r.metric, "value": fin(r.value),
                 "ci_low": fin(r.ci_low), "ci_high": fin(r.ci_high), "note": r.note} for r in res]
    gaps = [{"column": c, "worst": w, "best": b, "gap": fin(g)} for c, (w, b, g) in largest_gap(res).items()]
    return rows_out, gaps, notes


def _finite(v: Any) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _score_test(ctx: RunContext, split: Any, runner: RecipeRunner, kind: str, metric: str, classes: list | None,
                *, seed: int, n_resamples: int, repeats: int, tag: dict[str, str]) -> tuple[dict | None, str]:
    from autods.judge.holdout import HoldoutLedger
    from autods.reports.importance import permutation_importances, shap_importances

    if split is None:
        return None, "no held-out split was locked (test_fraction is 0)"
    ledger = HoldoutLedger(ctx.folder.holdout_ledger)
    if ledger.is_scored(split):
        entry = ledger.records()[split.content_hash]
        res = entry.get("result")
        if entry.get("status") == "scored" and isinstance(res, dict) and res.get("recipe_hash") == tag["recipe_hash"]:
            return {**res, "scored_at": entry["scored_at"]}, ""
        return None, (f"the held-out split was already scored at {entry['scored_at']} "
                      f"(status {entry.get('status')}) by another model; it may be scored once, so it is not reported")
    kw = {"labels": np.asarray(classes)} if kind == "multiclass" else {}
    repeat_units = ctx.units_repeat

    def scorer(test_idx: np.ndarray) -> dict[str, Any]:
        frame, y = ctx.task.frame.iloc[test_idx], ctx.y[test_idx]
        pred = runner.predict_score(frame)
        clusters = ctx.units[test_idx] if repeat_units else None
        out = performance(kind, metric, y, pred, seed=seed, n_resamples=n_resamples, clusters=clusters, classes=classes)
        out["importance"] = permutation_importances(runner, frame, y, metric, seed=seed, n_repeats=repeats, kw=kw)
        out["shap"] = shap_importances(runner, frame, seed=seed)
        return {**out, **tag}

    res = ledger.score_once(split, scorer)
    return {**res, "scored_at": ledger.records()[split.content_hash]["scored_at"]}, ""


def _external(ctx: RunContext, model: ChampionModel, kind: str, metric: str, classes: list | None,
              *, seed: int, n_resamples: int) -> dict[str, Any] | None:
    from autods.tasks.load import read_table

    spec = ctx.task.spec
    if not spec.external:
        return None
    path = Path(ctx.config.task_dir) / spec.external
    raw = read_table(path, role="external")
    received = len(raw)
    raw = raw.dropna(subset=[c for c in spec.endpoint.columns if c in raw.columns]).reset_index(drop=True)
    phi = [c for c in ctx.governance.get("phi_columns", []) if c in raw.columns]
    frame = raw.drop(columns=phi)  # PHI by name, as governed; the model then keeps only its inputs
    for col in spec.endpoint.columns:
        # Missing endpoints make pandas read an integer column as float (1.0); the task codes
        # classes by their text, so restore the development data's integer type.
        dev_dtype = ctx.task.frame[col].dtype
        if pd.api.types.is_integer_dtype(dev_dtype) and pd.api.types.is_float_dtype(frame[col]) \
                and bool((frame[col] == frame[col].round()).all()):
            frame[col] = frame[col].astype(dev_dtype)
    y = ctx.task.target(frame)
    pred = model._score(frame)
    units = frame[spec.id_column].astype(str).to_numpy() if spec.id_column and spec.id_column in frame else None
    clusters = units if units is not None and len(np.unique(units)) < len(units) else None
    out = performance(kind, metric, y, pred, seed=seed, n_resamples=n_resamples, clusters=clusters, classes=classes)
    return {**out, "file": spec.external, "sha256": file_sha256(path), "n_rows_received": int(received),
            "phi_columns_dropped": phi}


def _selection(ctx: RunContext, metric: str, kind: str, rows: np.ndarray, seed: int) -> dict[str, Any] | None:
    """BBC-CV over every recorded experiment scored on the champion's folds (same development rows):
    the CV value the search would deliver once the optimism of picking its maximum is removed."""
    from autods.judge.optimism import bbc_cv

    if kind == "multiclass":
        return None  # one score per row is needed; multiclass OOF holds a probability per class
    oof: dict[str, np.ndarray] = {}
    for path in sorted((ctx.root / "artifacts").glob("*/oof.parquet")):
        frame = pd.read_parquet(path)
        if "pred" in frame.columns and np.array_equal(frame["row"].to_numpy(), rows):
            oof[path.parent.name] = frame["pred"].to_numpy(dtype=float)
    if len(oof) < 2:
        return None
    groups = ctx.units[rows] if ctx.units_repeat else None
    try:
        out = bbc_cv(metric, ctx.y[rows], oof, groups=groups, seed=seed)
    except JudgeError:
        return None
    return out.as_dict()


def _champion_model(ctx: RunContext, runner: RecipeRunner, rows: np.ndarray, classes: list | None,
                    experiment_id: str, metric: str) -> ChampionModel:
    event_times = None
    if runner.kind_ == "survival":
        y = ctx.y[rows]
        event_times = np.unique(np.quantile(y["time"][y["event"]], np.linspace(0.0, 1.0, 100)))
    return ChampionModel(runner, task_type=ctx.task.task_type, classes=classes, experiment_id=experiment_id,
                         metric=metric, governance={k: ctx.governance.get(k, []) for k in ("actions", "phi_columns")},
                         unit_column=ctx.task.spec.id_column, event_times=event_times)


def _refit_full(ctx: RunContext, data: TrainingData, recipe: Recipe, split: Any, classes: list | None,
                experiment_id: str, metric: str) -> dict[str, Any] | None:
    """The champion recipe refitted on every row, written only after the held-out test was scored.

    The held-out rows have done their one job (the test figure) by now; leaving them out of the
    model a user deploys would throw away a fifth of the data for nothing. The figures still
    describe the development-row fit (``model.joblib``), which estimates this model's performance.
    """
    if split is None:
        return None  # no held-out rows: model.joblib already saw every row
    every = np.arange(len(ctx.task.frame))
    runner = RecipeRunner().fit(data.subset(every), recipe)
    path = save_model(_champion_model(ctx, runner, every, classes, experiment_id, metric), ctx.folder.champion_dir,
                      MODEL_FULL_FILE)
    return {"path": str(path.relative_to(ctx.root)), "sha256": file_sha256(path), "n_rows": int(len(every))}


def validate_champion(run_dir: str | Path, recipe: dict[str, Any] | Recipe, *, seed: int, experiment_id: str,
                      n_resamples: int = 1000, importance_repeats: int = 5, biomarkers: str | bool = "auto",
                      battery_config: Any = None) -> dict[str, Any]:
    """Validate the champion of ``run_dir`` (see the module docstring); returns ``validation.json``.

    ``experiment_id`` names the champion's ``artifacts/`` folder. ``biomarkers``: ``"auto"``
    runs the biomarker track for biomarker tasks when ``biomarkers.json`` is absent; True
    always runs it, False never.
    """
    ctx = load_context(run_dir)
    recipe = Recipe.parse(recipe)
    task, experiment_id = ctx.task, str(experiment_id)
    kind, metric = task_kind(task.task_type), PRIMARY_METRIC[task.task_type]
    record, oof = _oof(ctx, recipe, seed, experiment_id, n_resamples)
    split = ctx.locked_split()
    if split is not None and record.get("holdout_hash") not in (None, split.content_hash):
        raise JudgeError("the champion's CV ran on another held-out split than the one locked for this run")
    dev = np.arange(len(task.frame)) if split is None else np.asarray(split.train_idx)

    data = TrainingData(task.frame, ctx.y, task.task_type, ctx.features, task.spec.id_column,
                        time_column=task.spec.time_column)
    runner = RecipeRunner().fit(data.subset(dev), recipe)
    classes = _classes(ctx, kind, runner)
    model = _champion_model(ctx, runner, dev, classes, experiment_id, metric)
    model_path = save_model(model, ctx.folder.champion_dir)
    atomic_write_json(ctx.folder.champion_dir / "recipe.json", {**recipe.canonical_dict(), "experiment_id": experiment_id,
                                                               "recipe_hash": recipe.canonical_hash()})

    rows = oof["row"].to_numpy()
    y_oof, pred_oof = ctx.y[rows], _oof_pred(oof, kind)
    kw = {"labels": np.asarray(classes)} if kind == "multiclass" else {}
    clusters = ctx.units[rows] if ctx.units_repeat else None
    oof_perf = performance(kind, metric, y_oof, pred_oof, seed=seed, n_resamples=n_resamples, clusters=clusters,
                           classes=classes)
    subgroups, gaps, notes = _subgroups(ctx, metric, y_oof, pred_oof, rows, seed, min(n_resamples, 500), kw)
    tag = {"experiment_id": experiment_id, "recipe_hash": recipe.canonical_hash()}
    test, test_note = _score_test(ctx, split, runner, kind, metric, classes, seed=seed, n_resamples=n_resamples,
                                  repeats=importance_repeats, tag=tag)
    external = _external(ctx, model, kind, metric, classes, seed=seed, n_resamples=n_resamples)
    full = _refit_full(ctx, data, recipe, split, classes, experiment_id, metric)

    validation: dict[str, Any] = {
        "experiment_id": experiment_id, "recipe": recipe.canonical_dict(), "recipe_hash": recipe.canonical_hash(),
        "family": recipe.family, "seed": int(seed), "metric": metric, "higher_is_better": METRICS[metric],
        "cv": {k: record.get(k) for k in ("value", "ci_low", "ci_high", "ci_method", "n_resamples", "fold_scores",
                                          "fold_mean", "fold_sd", "fold_ci_low", "fold_ci_high", "n_rows", "n_units",
                                          "n_holdout", "n_features", "seed")}
        | {"design": record.get("cv"), "clustered": ctx.units_repeat,
           "selection": _selection(ctx, metric, kind, rows, seed)},
        "oof": oof_perf, "subgroups": subgroups, "subgroup_gaps": gaps, "notes": notes + ([test_note] if test_note else []),
        "test": test, "external": external,
        "test_split": None if split is None else {"n": int(len(split.test_idx)), "content_hash": split.content_hash,
                                                  "kind": checks.split_kind(ctx)},
        "inputs": [str(c) for c in runner.feature_names_in_],
        # agent-written code: its normalised source and hash travel with the champion (None otherwise)
        "code": code_manifest(recipe),
        "model": {"path": str(model_path.relative_to(ctx.root)), "sha256": file_sha256(model_path),
                  "n_rows": int(len(dev)), "full": full},
        "validated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    validation["findings"] = checks.validation_findings(ctx, validation)
    if biomarkers is True or (biomarkers == "auto" and task.task_type == "biomarker"
                              and not (ctx.root / "biomarkers.json").is_file()):
        from autods.reports.biomarkers import biomarker_track

        biomarker_track(ctx, config=battery_config)
    atomic_write_json(ctx.root / VALIDATION_FILE, validation)
    return validation
