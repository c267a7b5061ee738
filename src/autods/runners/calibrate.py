"""Recalibration inside the training fold: the ``calibrated`` family, and the OOF calibration summary.

A recalibrated variant of a binary recipe is the same recipe with ``family: calibrated``
wrapping the original family::

    {"family": "calibrated", "params": {"base": "lightgbm", "base_params": {"num_leaves": 7},
                                        "method": "platt"}, "preprocess": ..., "features": ...}

(:func:`recalibrated` builds it from any binary recipe). The model step is scikit-learn's
``CalibratedClassifierCV(ensemble=False)`` around the base family's estimator: its ``cv``
inner folds are drawn from the rows it is fitted on, i.e. the *outer training fold only*, so
the held-out fold never shapes the calibration map. The map (Platt's sigmoid or isotonic
regression) is fitted on the inner folds' out-of-fold scores of the base model; the base model
itself is fitted once on the whole training fold, so the variant predicts *the same model's
scores through a monotone map*. With Platt (strictly increasing whenever the base ranks
better than chance) the fold's ranking, hence its AUROC, is the base recipe's, up to
probabilities that round to exactly 0 or 1; isotonic is non-decreasing and may tie scores.
The inner split is stratified but not grouped (the pipeline hands the estimator no unit ids);
a Platt map has two parameters, so rows of one patient on both inner sides move it very little.

The calibration of the out-of-fold predictions (:func:`oof_calibration`) is the judge's
logistic recalibration (:func:`autods.judge.metrics.calibration`): the slope of
``logit P(y=1) = a + b logit(p)`` and the calibration-in-the-large intercept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autods.errors import JudgeError, RecipeError
from autods.runners.families import FAMILIES, FamilySpec, Param, get_family, register_family

__all__ = ["CALIBRATED", "METHODS", "oof_calibration", "recalibrated"]

CALIBRATED = "calibrated"
#: recipe word -> scikit-learn's name of the map
METHODS = {"platt": "sigmoid", "isotonic": "isotonic"}


class _CalibratedSpec(FamilySpec):
    """The family's ``resolve`` also checks the wrapped family and its parameters at parse time."""

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        out = super().resolve(params)
        base = out.get("base", self.defaults["base"])
        if base == CALIBRATED or base not in FAMILIES or "binary" not in get_family(base).kinds:
            raise RecipeError(f"calibrated: base {base!r} is not a binary model family",
                              "name a binary family as base, e.g. logistic, lightgbm, random_forest")
        if base == "ensemble":
            raise RecipeError("calibrated: an ensemble cannot be the base", "recalibrate its members instead")
        inner = out.get("base_params", {})
        if not isinstance(inner, dict):
            raise RecipeError("calibrated: base_params must be a mapping", "write base_params as {name: value}")
        # the base family's defaults filled in: one canonical hash however the variant is spelled
        out["base_params"] = {**get_family(base).defaults, **get_family(base).resolve(inner)}
        return out


def _build(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold

    base = get_family(p["base"]).estimator(kind, p["base_params"], seed)
    inner = StratifiedKFold(n_splits=p["cv"], shuffle=True, random_state=seed)
    # ensemble=False: one base model on the whole training fold, the map from inner out-of-fold scores
    return CalibratedClassifierCV(base, method=METHODS[p["method"]], cv=inner, ensemble=False)


SPEC = _CalibratedSpec(
    CALIBRATED, frozenset({"binary"}), {"base": "logistic", "base_params": {}, "method": "platt", "cv": 3},
    {"method": Param.choice(*METHODS), "cv": Param.int(2, 10)}, _build,
    "a binary family recalibrated inside the training fold (Platt or isotonic on inner folds)")


def register() -> None:
    """Register the family once (importing :mod:`autods.runners.evaluate` does it)."""
    if CALIBRATED not in FAMILIES:
        register_family(SPEC)


def recalibrated(recipe: Any, method: str = "platt") -> dict[str, Any]:
    """The recalibrated variant of a binary recipe (a canonical dict): same representation and seed."""
    from autods.runners.recipe import Recipe

    parsed = Recipe.parse(recipe)
    if parsed.family == CALIBRATED:
        return {**parsed.canonical_dict(), "params": {**parsed.params, "method": method}}
    data = parsed.canonical_dict()
    return Recipe.parse({**data, "family": CALIBRATED,
                         "params": {"base": parsed.family, "base_params": parsed.params, "method": method}}
                        ).canonical_dict()


def is_recalibrated(family: str) -> bool:
    return family == CALIBRATED


def oof_calibration(y: np.ndarray, pred: np.ndarray) -> tuple[float | None, float | None]:
    """(slope, calibration-in-the-large) of binary out-of-fold P(y=1); None where the fit does not exist."""
    from autods.judge.metrics import calibration
    from autods.runners.record import finite_or_none

    try:
        cal = calibration(y, pred)
    except JudgeError:
        return None, None  # one class in these rows: no recalibration line
    return finite_or_none(cal.slope), finite_or_none(cal.intercept)


register()  # like the built-in families: registered when the module is imported
