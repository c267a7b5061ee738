"""``evaluate(task, recipe)``: cross-validate a recipe under the frozen judge, without any agent.

Steps, in order (each one is the judge's code, never the caller's):

1. A task folder is loaded and, when :mod:`autods.guard.govern` is installed, governed: the
   de-identified frame is used and governance exclusions join ``exclude``. A :class:`Task`
   object is taken as already governed (its frame is used as is).
2. The CV strategy: the ``strategy`` argument, else the design's choice: the task's declared
   strategy (LAUNCH.md ``cv_strategy`` or TASK.md ``validation``), except that repeated
   units force ``patient-grouped-cv`` (rows of one patient on both sides inflate every
   metric), else ``stratified-cv``.
3. The held-out test split is locked with :func:`autods.judge.holdout.lock_holdout` on the
   task's own ``test_fraction`` and ``seed`` (never the ``seed`` argument: trying seeds must
   not move the test set). CV runs on the remaining development rows only; test rows are
   never fitted, predicted or scored here.
4. The folds are the plan's: R repeats of the K-fold split, shuffled from the task's own
   seed (:func:`autods.judge.plan.choose_repeats`), so every experiment of a run is scored on
   exactly the same folds and two experiments' fold scores pair up by key (``r0k0`` ...).
   The ``seed`` argument changes the model's randomness only, never the split.
5. Per fold the recipe is fitted on the training rows alone (all preprocessing included)
   and scored on the test rows. The primary metric gets per-fold scores, a fold t-interval
   and, on the first repeat's pooled out-of-fold predictions, a bootstrap CI clustered by
   unit whenever units repeat (site-grouped designs still cluster by unit: a handful of
   sites is too few clusters to resample). The value is the mean over repeats of each
   repeat's pooled metric, so no lucky arrangement of folds is reported alone.
6. An ``ensemble`` recipe (:mod:`autods.runners.ensemble`) runs on the same folds: its members
   are fitted per training fold and the weights used on fold k are fitted on the other
   folds' out-of-fold scores only. The record then lists the members and weights
   (``ensemble``). Binary records carry the out-of-fold calibration slope and
   calibration-in-the-large (``calibration``, means over repeats) that promotion checks
   (:mod:`autods.judge.calibration_gate`); every repeat's OOF predictions are in ``oof_all``.
7. A recipe with ``fidelity: screen`` is scored on the first repeat of the plan only (the
   folds keyed ``r0k*`` of the full split, :mod:`autods.judge.fidelity`): its record has
   ``cv.repeats == 1`` and fold scores identical to the first K of the full run's.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autods.errors import DataError, JudgeError, UserInputError
from autods.judge.bootstrap import bootstrap_ci, fold_ci
from autods.judge.metrics import compute_metric
from autods.judge.score import METRICS, PRIMARY_METRIC
from autods.judge.splits import make_splitter
from autods.runners.calibrate import oof_calibration
from autods.runners.ensemble import ENSEMBLE, cross_validated, member_inputs, member_recipes
from autods.runners.families import task_kind
from autods.runners.pipeline import RecipeRunner, TrainingData, select_features
from autods.runners.preprocess import dropped_columns
from autods.runners.recipe import Recipe, default_recipe
from autods.runners.record import CVDesign, EvaluationRecord, OutOfFold, finite_or_none
from autods.tasks.load import Task, load_task

__all__ = ["SECONDARY_METRICS", "choose_strategy", "evaluate"]

#: kind -> metrics reported next to the primary one, on the pooled out-of-fold predictions.
SECONDARY_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auroc", "auprc", "brier"),
    "multiclass": ("macro_f1", "accuracy"),
    "regression": ("r2", "rmse"),
    "survival": ("c_index",),
}


def _governed(task: Task) -> tuple[Task, pd.DataFrame, list[tuple[str, str]]]:
    try:
        from autods.guard.govern import govern
    except ModuleNotFoundError as err:
        if err.name != "autods.guard.govern":
            raise
        return task, task.frame, []  # guardrails not installed: the raw frame, nothing excluded
    governance = govern(task)
    from autods.judge.plan import planned_task

    task = planned_task(task, governance.profile.unit_id)
    if len(governance.frame) != len(task.frame):
        raise JudgeError("governance changed the number of rows; evaluate needs the rows aligned with the task")
    return task, governance.frame, [(str(f), str(r)) for f, r in governance.excluded]


def choose_strategy(task: Task, explicit: str | None = None) -> str:
    """explicit > the design's choice (:func:`autods.judge.design.choose_cv`): the declared
    strategy, except that repeated units always force patient-grouped CV."""
    if explicit:
        return explicit
    from autods.judge.design import choose_cv

    return choose_cv(task)[0]


def _group_column(task: Task, strategy: str) -> str | None:
    if strategy == "patient-grouped-cv":
        return task.spec.id_column
    if strategy == "site-grouped-cv":
        return task.spec.site_column
    return None


def _column(frame: pd.DataFrame, col: str | None) -> np.ndarray | None:
    return None if col is None else frame[col].astype(str).to_numpy()


def _times(frame: pd.DataFrame, col: str | None) -> np.ndarray | None:
    """Index times as floats (datetimes as nanoseconds since the epoch) for temporal designs."""
    if col is None:
        return None
    values = frame[col]
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=float)
    try:
        stamps = pd.to_datetime(values, format="mixed")
    except (ValueError, TypeError):
        raise DataError(f"time_column '{col}' holds values that are neither numbers nor dates",
                        "use ISO dates (2021-03-04) or numeric times") from None
    return stamps.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float)


def _data_hash(task: Task) -> str:
    # Ties the held-out split to these exact data files (same rows of other data = other split).
    return hashlib.sha256(json.dumps(sorted(task.data_hashes.items())).encode()).hexdigest() if task.data_hashes else ""


def _metric_kw(kind: str, classes: np.ndarray | None) -> dict[str, Any]:
    return {"labels": classes} if kind == "multiclass" else {}


def _score(metric: str, y: Any, pred: np.ndarray, kw: dict[str, Any]) -> float | None:
    try:
        return finite_or_none(compute_metric(metric, y, pred, **kw))
    except JudgeError:
        return None  # undefined on these rows (e.g. one class in a fold): reported as None


def evaluate(
    task: Task | str | Path,
    recipe: Recipe | dict[str, Any] | None = None,
    *,
    seed: int | None = None,
    exclude: Iterable[str] = (),
    strategy: str | None = None,
    n_splits: int | None = None,
    metric: str | None = None,
    use_holdout: bool = True,
    n_resamples: int = 1000,
    repeats: int | None = None,
) -> EvaluationRecord:
    """Cross-validate ``recipe`` (default: :func:`default_recipe` of the task type) on the
    development rows of ``task``; see the module docstring."""
    started = time.perf_counter()
    recipe = None if recipe is None else Recipe.parse(recipe)  # a bad recipe fails before any loading
    excluded: list[tuple[str, str]] = []
    if isinstance(task, (str, Path)):
        task = load_task(task)
        task, frame, excluded = _governed(task)
    else:
        frame = task.frame
    recipe = default_recipe(task.task_type) if recipe is None else recipe
    excluded += [(c, "declared proxy (TASK.md exclude)") for c in task.spec.exclude if c not in dict(excluded)]
    excluded += [(c, "excluded by the caller") for c in exclude if c not in dict(excluded)]
    kind = task_kind(task.task_type)
    metric = metric or PRIMARY_METRIC[task.task_type]
    if metric not in METRICS:
        raise UserInputError(f"unknown metric {metric!r}", f"use one of: {', '.join(sorted(METRICS))}")
    seed = 0 if seed is None else int(seed)
    n_splits = n_splits or task.launch.n_splits
    strategy = choose_strategy(task, strategy)
    group_col = _group_column(task, strategy)
    from autods.judge.plan import choose_repeats

    repeats = choose_repeats(task, strategy)[0] if repeats is None else int(repeats)

    y = task.target(task.frame)
    units = _column(task.frame, task.spec.id_column)
    times = _times(task.frame, task.spec.time_column)
    # Features come from the governed frame: a column governance dropped or excluded is gone.
    features = tuple(c for c in task.feature_columns([c for c, _ in excluded]) if c in frame.columns)
    data = TrainingData(frame, y, task.task_type, features, task.spec.id_column, time_column=task.spec.time_column)

    dev, holdout_hash, n_holdout = np.arange(len(frame)), None, 0
    if use_holdout and task.launch.test_fraction > 0:
        from autods.judge.holdout import lock_holdout

        split = lock_holdout(len(frame), y, groups=units, fraction=task.launch.test_fraction, seed=task.launch.seed,
                             times=times if strategy == "temporal-split" else None, data_hash=_data_hash(task))
        dev, holdout_hash, n_holdout = np.sort(np.asarray(split.train_idx)), split.content_hash, len(split.test_idx)

    is_ensemble = recipe.family == ENSEMBLE
    used = member_inputs(member_recipes(recipe), features) if is_ensemble else select_features(recipe, features)
    excluded += dropped_columns(frame, used, recipe.preprocess)
    dev_data = data.subset(dev)
    # The split is the plan's (task seed), identical for every experiment; ``seed`` moves the model only.
    splitter = make_splitter(strategy, n_splits=n_splits, seed=task.launch.seed, repeats=repeats)
    # Groups come from the raw frame: de-identification may hash or drop the id column.
    groups = _column(task.frame, group_col) if group_col else units
    folds = splitter.keyed_split(len(dev), y=dev_data.y, groups=None if groups is None else groups[dev],
                                 times=None if times is None else times[dev])
    if recipe.fidelity == "screen":
        from autods.judge.fidelity import screen_folds

        folds = screen_folds(folds)  # the full plan's first repeat: the same folds, not a new split
    classes = np.unique(dev_data.y) if kind == "multiclass" else None
    kw = _metric_kw(kind, classes)
    fitted = recipe if seed == 0 else recipe.model_copy(update={"seed": recipe.seed + seed})

    ensemble = None
    if is_ensemble:
        fold_preds, ensemble = cross_validated(folds, dev_data, fitted, kind, classes, metric, kw,
                                               past_only=strategy == "temporal-split")
    else:
        fold_preds = [_fold_prediction(dev_data, train, test, fitted, kind, classes) for _, train, test in folds]

    by_repeat: dict[str, tuple[list, list, list]] = {}
    fold_keys, fold_scores = [], []
    for (key, _, test), pred in zip(folds, fold_preds):
        fold_keys.append(key)
        fold_scores.append(_score(metric, dev_data.y[test], pred, kw))
        rows, ids, preds = by_repeat.setdefault(key.split("k")[0], ([], [], []))
        rows.append(dev[test])
        ids.append(np.full(len(test), int(key.split("k")[1])))
        preds.append(pred)

    pooled = {r: (np.concatenate(a), np.concatenate(b), np.concatenate(c)) for r, (a, b, c) in by_repeat.items()}
    oof_rows, oof_folds, oof_pred = pooled["r0"]
    y_oof = y[oof_rows]
    clusters = units[oof_rows] if units is not None and pd.Series(units).duplicated().any() else None
    value, low, high, method, n_kept = _pooled_ci(metric, y_oof, oof_pred, n_resamples, task.launch.seed, clusters, kw)
    if len(pooled) > 1:
        mean = _mean_over(pooled, y, metric, kw)
        value = value if mean is None else mean
    secondary = {m: _mean_over(pooled, y, m, kw) for m in SECONDARY_METRICS[kind] if m != metric}
    calibration = _calibration(pooled, y, fitted) if kind == "binary" else None
    finite = [s for s in fold_scores if s is not None]
    fci = fold_ci(finite) if len(finite) >= 2 else None

    return EvaluationRecord(
        task_name=task.spec.name, task_type=task.task_type, recipe=recipe, recipe_hash=recipe.canonical_hash(),
        metric=metric, higher_is_better=METRICS[metric], value=value, ci_low=low, ci_high=high, ci_method=method,
        n_resamples=n_kept, fold_scores=fold_scores,
        fold_mean=finite_or_none(np.mean(finite)) if finite else None,
        fold_sd=finite_or_none(np.std(finite, ddof=1)) if len(finite) >= 2 else None,
        fold_ci_low=None if fci is None else finite_or_none(fci.low),
        fold_ci_high=None if fci is None else finite_or_none(fci.high),
        secondary=secondary, cv=CVDesign(strategy=strategy, group_column=group_col, n_splits=len(folds) // len(pooled),
                                          repeats=len(pooled)),
        fold_keys=fold_keys,
        n_rows=len(dev), n_units=len(np.unique(units[dev])) if units is not None else len(dev), n_holdout=n_holdout,
        n_features=len(used) + len(recipe.preprocess.composites), excluded=excluded,
        oof=OutOfFold(row=oof_rows.tolist(), fold=oof_folds.tolist(), pred=oof_pred.tolist(),
                      classes=None if classes is None else classes.tolist()),
        oof_all=_all_repeats(pooled, classes), calibration=calibration, ensemble=ensemble,
        holdout_hash=holdout_hash, duration_s=round(time.perf_counter() - started, 4), seed=seed,
    )


def _fold_prediction(data: TrainingData, train: np.ndarray, test: np.ndarray, recipe: Recipe, kind: str,
                     classes: np.ndarray | None) -> np.ndarray:
    runner = RecipeRunner().fit(data.subset(train), recipe)
    pred = runner.predict_score(data.frame.iloc[test])
    if kind == "multiclass":  # align columns when a training fold lacks a class
        full = np.zeros((len(test), len(classes)))
        full[:, np.searchsorted(classes, runner.classes_)] = pred
        pred = full
    return pred


def _all_repeats(pooled: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], classes: np.ndarray | None) -> OutOfFold:
    """Every repeat's out-of-fold predictions, stacked, with a ``repeat`` number per row."""
    rows = np.concatenate([r for r, _, _ in pooled.values()])
    folds = np.concatenate([f for _, f, _ in pooled.values()])
    preds = np.concatenate([p for _, _, p in pooled.values()])
    repeat = np.concatenate([np.full(len(r), int(key[1:])) for key, (r, _, _) in pooled.items()])
    return OutOfFold(row=rows.tolist(), fold=folds.tolist(), pred=preds.tolist(), repeat=repeat.tolist(),
                     classes=None if classes is None else classes.tolist())


def _calibration(pooled: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], y: Any, recipe: Recipe
                 ) -> dict[str, float | str | None]:
    """Binary OOF calibration: slope and calibration-in-the-large, each the mean over repeats
    (None when undefined on a repeat), and which recalibration the recipe applied."""
    from autods.runners.calibrate import CALIBRATED

    fits = [oof_calibration(y[rows], pred) for rows, _, pred in pooled.values()]
    slopes, intercepts = [f[0] for f in fits], [f[1] for f in fits]
    method = recipe.params.get("method", "platt") if recipe.family == CALIBRATED else "none"
    return {"calibration_slope": None if None in slopes else finite_or_none(np.mean(slopes)),
            "calibration_intercept": None if None in intercepts else finite_or_none(np.mean(intercepts)),
            "calibration_method": str(method)}


def _mean_over(pooled: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], y: Any, metric: str,
               kw: dict[str, Any]) -> float | None:
    """The mean over repeats of each repeat's pooled value of ``metric`` (None if undefined on one)."""
    values = [_score(metric, y[rows], pred, kw) for rows, _, pred in pooled.values()]
    return None if any(v is None for v in values) else finite_or_none(np.mean(values))


def _pooled_ci(metric: str, y: Any, pred: np.ndarray, n_resamples: int, seed: int, clusters: np.ndarray | None,
               kw: dict[str, Any]) -> tuple[float | None, float | None, float | None, str, int]:
    try:
        ci = bootstrap_ci(metric, y, pred, n_resamples=n_resamples, seed=seed, groups=clusters, **kw)
    except JudgeError:
        # Undefined on the pooled predictions or on most resamples: report the value, no CI.
        return _score(metric, y, pred, kw), None, None, "none", 0
    return finite_or_none(ci.value), finite_or_none(ci.low), finite_or_none(ci.high), ci.method, ci.n_resamples
