"""``EvaluationRecord``: what evaluating one recipe produced, as JSON the state store can keep.

Every number in it was computed by the judge's code on out-of-fold predictions of the
development rows; the locked held-out rows are not in it (only their content hash).
Undefined values (a metric that cannot be computed on this data) are ``None``, never NaN,
so the JSON is portable.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict

from autods.runners.recipe import Recipe

__all__ = ["CVDesign", "EvaluationRecord", "OutOfFold", "finite_or_none"]


def finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class CVDesign(BaseModel):
    """The cross-validation design as the fact sheet reports it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str
    group_column: str | None
    n_splits: int  # folds per repeat
    repeats: int = 1


class OutOfFold(BaseModel):
    """Out-of-fold predictions: ``row`` is the 0-based position in the task's frame.

    ``pred`` holds one score per row (P(positive), value or risk), or one probability list
    per row for multiclass with columns in ``classes`` order. Rows a temporal split never
    tests (the earliest block) are absent.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    row: list[int]
    fold: list[int]
    pred: list[float] | list[list[float]]
    classes: list[Any] | None = None
    repeat: list[int] | None = None  # the repeat of each row (``oof_all``: every repeat stacked)


class EvaluationRecord(BaseModel):
    """One recipe evaluated by cross-validation on the development rows of a task."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_name: str
    task_type: str
    recipe: Recipe
    recipe_hash: str
    metric: str
    higher_is_better: bool
    value: float | None  # primary metric on the pooled out-of-fold predictions
    ci_low: float | None
    ci_high: float | None
    ci_method: str
    n_resamples: int
    fold_scores: list[float | None]
    #: one key per fold score, ``r{repeat}k{fold}``: the plan's folds, shared by every experiment of a run
    fold_keys: list[str] = []
    fold_mean: float | None
    fold_sd: float | None
    fold_ci_low: float | None  # t-interval over folds: optimistic, folds share training rows
    fold_ci_high: float | None
    secondary: dict[str, float | None]  # other metrics on the pooled out-of-fold predictions
    cv: CVDesign
    n_rows: int  # development rows used by CV (the held-out rows are not counted)
    n_units: int
    n_holdout: int
    n_features: int  # input columns the recipe used, composites included
    excluded: list[tuple[str, str]]  # (feature, reason) for every column kept out of the model
    oof: OutOfFold  # the first repeat's pooled out-of-fold predictions (one per development row)
    #: every repeat's pooled out-of-fold predictions, stacked (``repeat`` per row); None in older records
    oof_all: OutOfFold | None = None
    #: binary only: ``calibration_slope`` / ``calibration_intercept`` of the OOF predictions (logistic
    #: recalibration, calibration-in-the-large; means over repeats) and ``calibration_method``
    #: (``none`` | ``platt`` | ``isotonic``: what the recipe applied inside its folds)
    calibration: dict[str, float | str | None] | None = None
    #: ensemble recipes only: ``method``, ``members`` [{recipe_hash, family, weight}] (weights fitted on
    #: every fold's out-of-fold scores), ``intercept``, ``weights_by_fold`` {fold key: [weight per member]}
    ensemble: dict[str, Any] | None = None
    holdout_hash: str | None
    duration_s: float
    seed: int
