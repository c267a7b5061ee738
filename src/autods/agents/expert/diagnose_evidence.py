"""The measured evidence diagnoses stand on: recorded results pooled per recipe, paired gaps
between model classes on the shared folds, and expected effects estimated from relatives.

Every number here is the judge's (recorded fold scores and values); this module only pairs,
averages and tests them. Gaps are oriented so that positive means "better" whatever the
metric's direction.

* :func:`measured` pools one recipe's results (its seeds) fold by fold, keyed by the plan's
  fold keys (``r{repeat}k{fold}`` from a ``folds:RxK`` split label).
* :func:`gap` compares two pooled recipes: the corrected paired t-test of
  :mod:`autods.judge.paired` when both ran on the same plan folds, otherwise an unpaired
  normal approximation from the fold standard errors (older runs, external tools).
* :func:`model_class` puts a recipe in ``linear`` / ``additive`` (nonlinear main effects
  only) / ``interacting`` (trees, kernels, splines or EBM with interaction terms), so a
  tree-versus-additive gap can be read as interactions and an additive-versus-linear gap as
  nonlinearity.
* :func:`expected_effect` estimates what an idea gains over the champion from its closest
  recorded relative (same recipe, its uncalibrated base, same family and class, same class,
  same family), with the
  standard error of the paired difference; with no relative it says so and gives None.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from scipy import stats

from autods.errors import JudgeError
from autods.judge.paired import ALPHA, compare
from autods.runners.families import FAMILIES

FOLDS_PREFIX = "folds:"  # the harness's split label of results scored on the plan's R x K folds

LINEAR = frozenset({"logistic", "elastic_net", "ridge", "lasso", "cox", "coxnet", "weibull_aft", "lognormal_aft",
                    # componentwise boosting with least-squares base learners stays linear in each feature
                    "componentwise_gb", "componentwise_boosting"})
SPLINES = frozenset({"spline_logistic", "spline_ridge", "spline_cox"})
TREES = frozenset({"random_forest", "extra_trees", "lightgbm", "lightgbm_small", "hist_gb", "rsf", "gb_survival",
                   "extra_survival_trees"})
KERNELS = frozenset({"knn", "svm_rbf"})
WRAPPERS = frozenset({"calibrated"})  # a monotone map on a base model: the base's class


def fold_plan(split: str) -> tuple[int, int] | None:
    """(repeats, K) of a ``folds:RxK`` label, else None."""
    if not split.startswith(FOLDS_PREFIX):
        return None
    try:
        r, k = (int(x) for x in split[len(FOLDS_PREFIX):].split("x"))
    except ValueError:
        return None
    return (r, k) if r >= 1 and k >= 2 else None


def _params(recipe: dict[str, Any]) -> dict[str, Any]:
    family = recipe.get("family", "")
    defaults = FAMILIES[family].defaults if family in FAMILIES else {}
    return {**defaults, **(recipe.get("params") or {})}


def base_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    """The wrapped recipe of a recalibrated one (same representation); any other recipe itself."""
    if recipe.get("family") not in WRAPPERS:
        return recipe
    p = recipe.get("params") or {}
    return {**recipe, "family": p.get("base", ""), "params": dict(p.get("base_params") or {})}


def model_class(recipe: dict[str, Any]) -> str:
    """``linear`` | ``additive`` | ``interacting`` | ``ensemble`` | ``baseline`` | ``other``."""
    recipe = base_recipe(recipe)
    family, p = recipe.get("family", ""), _params(recipe)
    if family == "dummy":
        return "baseline"
    if family in ("ensemble", "stack"):
        return "ensemble"
    if family in LINEAR:
        return "linear"
    if family in SPLINES:
        return "interacting" if p.get("interactions") else "additive"
    if family == "ebm":
        return "interacting" if int(p.get("interactions") or 0) > 0 else "additive"
    if family in TREES:
        # depth-one trees (stumps) add up one feature at a time: an additive model
        stumps = p.get("max_depth") == 1 or p.get("num_leaves") == 2 or p.get("max_leaf_nodes") == 2
        return "additive" if stumps else "interacting"
    if family in KERNELS:
        return "interacting"
    return "other"


@dataclass(frozen=True)
class Measured:
    """One recipe's recorded results pooled over seeds: fold-wise means on one split."""

    recipe_hash: str
    family: str
    recipe: dict[str, Any]
    result_ids: tuple[int, ...]
    split: str
    folds: dict[str, float]
    values: tuple[float, ...]
    calibration_slope: float | None = None
    train_value: float | None = None

    @property
    def cls(self) -> str:
        return model_class(self.recipe)

    @property
    def mean(self) -> float:
        """Mean over folds (the value pairing compares); the recorded values when there are no folds."""
        return statistics.fmean(self.folds.values()) if self.folds else statistics.fmean(self.values)

    @property
    def fold_se(self) -> float | None:
        f = list(self.folds.values())
        return statistics.stdev(f) / math.sqrt(len(f)) if len(f) >= 2 else None

    def refs(self) -> list[dict[str, Any]]:
        return [{"result": rid} for rid in self.result_ids]


def _number(*candidates: Any) -> float | None:
    for c in candidates:
        try:
            v = float(c)
        except (TypeError, ValueError):
            continue
        if math.isfinite(v):
            return v
    return None


def calibration_slope(result: dict[str, Any]) -> float | None:
    """The OOF calibration slope if the record carries it (``calibration.slope`` or the artifacts' string)."""
    cal = result.get("calibration") if isinstance(result.get("calibration"), dict) else {}
    art = result.get("artifacts") or {}
    return _number(cal.get("slope"), cal.get("calibration_slope"), art.get("calibration_slope"),
                   result.get("calibration_slope"))


def train_value(result: dict[str, Any]) -> float | None:
    """The primary metric on the training rows, if recorded (apparent performance)."""
    art = result.get("artifacts") or {}
    return _number(result.get("train_value"), art.get("train_value"), art.get("apparent_value"))


def _keys(result: dict[str, Any], n: int) -> list[str]:
    keys = result.get("fold_keys") or []
    if len(keys) == n:
        return [str(k) for k in keys]
    plan = fold_plan(str(result.get("split") or ""))
    if plan is not None and plan[0] * plan[1] == n:
        return [f"r{i // plan[1]}k{i % plan[1]}" for i in range(n)]
    return [f"f{i}" for i in range(n)]


def measured(results: Iterable[dict[str, Any]]) -> list[Measured]:
    """Results pooled per recipe (first-seen order); a recipe's seeds on different splits keep the
    most-measured split only, since fold scores of different folds do not average."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        if r.get("recipe_hash") and _number(r.get("value")) is not None:
            groups.setdefault(str(r["recipe_hash"]), []).append(r)
    out = []
    for h, rs in groups.items():
        by_split: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for r in rs:
            n = len(r.get("fold_scores") or [])
            by_split.setdefault((str(r.get("split") or ""), n), []).append(r)
        (split, n), kept = max(by_split.items(), key=lambda kv: (len(kv[1]), kv[0][1]))
        folds: dict[str, float] = {}
        if n >= 2:
            keys = _keys(kept[0], n)
            scores = [[float(s) for s in r["fold_scores"]] for r in kept]
            if all(math.isfinite(s) for row in scores for s in row):
                folds = {k: statistics.fmean(col) for k, col in zip(keys, zip(*scores))}
        slopes = [s for s in (calibration_slope(r) for r in kept) if s is not None]
        trains = [t for t in (train_value(r) for r in kept) if t is not None]
        first = kept[0]
        out.append(Measured(h, str(first.get("family") or (first.get("recipe") or {}).get("family") or ""),
                            dict(first.get("recipe") or {}), tuple(int(r["id"]) for r in kept), split, folds,
                            tuple(float(r["value"]) for r in kept),
                            statistics.fmean(slopes) if slopes else None,
                            statistics.fmean(trains) if trains else None))
    return out


@dataclass(frozen=True)
class Gap:
    """``a`` minus ``b`` (positive = ``a`` better), its SE and one-sided p; ``paired`` on shared folds."""

    diff: float
    se: float | None
    p_value: float | None
    n_folds: int
    paired: bool

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA and self.diff > 0

    def text(self) -> str:
        se = "" if self.se is None else f", SE {self.se:.3g}"
        p = "" if self.p_value is None else f", one-sided p = {self.p_value:.3g}"
        how = f"paired on {self.n_folds} shared folds" if self.paired else "unpaired (folds not shared)"
        return f"gain {self.diff:+.4g} (positive = better){se}{p}, {how}"


def gap(a: Measured, b: Measured, higher_is_better: bool) -> Gap:
    sign = 1.0 if higher_is_better else -1.0
    plan = fold_plan(a.split)
    if a.split == b.split and plan is not None and a.folds and set(a.folds) == set(b.folds):
        try:
            t = compare(a.folds, b.folds, higher_is_better=higher_is_better, test_over_train=1.0 / (plan[1] - 1))
            return Gap(t.mean_diff, t.se, t.p_value, t.n_folds, True)
        except JudgeError:
            pass  # non-finite folds: fall through to the unpaired approximation
    diff = sign * (a.mean - b.mean)
    if a.fold_se is None or b.fold_se is None:
        return Gap(diff, None, None, 0, False)
    se = math.hypot(a.fold_se, b.fold_se)
    p = (0.0 if diff > 0 else 1.0) if se == 0 else float(stats.norm.sf(diff / se))
    return Gap(diff, se, p, min(len(a.folds), len(b.folds)), False)


def best(ms: Sequence[Measured], higher_is_better: bool) -> Measured | None:
    """The best pooled recipe (ties: first recorded)."""
    sign = 1.0 if higher_is_better else -1.0
    return max(ms, key=lambda m: sign * m.mean) if ms else None


def of_class(ms: Sequence[Measured], *classes: str) -> list[Measured]:
    return [m for m in ms if m.cls in classes]


def reference(ms: Sequence[Measured], champion: dict[str, Any] | None, higher_is_better: bool) -> Measured | None:
    """What an idea must beat: the champion's pooled results, else the best non-trivial recipe."""
    if champion is not None:
        for m in ms:
            if m.recipe_hash == champion.get("recipe_hash"):
                return m
    return best([m for m in ms if m.cls != "baseline"] or list(ms), higher_is_better)


__all__ = ["FOLDS_PREFIX", "Gap", "LINEAR", "Measured", "SPLINES", "TREES", "base_recipe", "best",
           "calibration_slope", "fold_plan", "gap", "measured", "model_class", "of_class", "reference", "train_value"]
