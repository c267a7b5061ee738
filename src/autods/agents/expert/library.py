"""The strategy library: model families x preprocessing x feature sets x composite features.

Everything here is decided from the steward's aggregates (column kinds, missingness,
quantiles, findings) and the biostatistician's design, never from rows. A *representation*
is the non-model half of a recipe (``preprocess`` + ``features``); a strategy is a family
with a representation.

Family order per task kind encodes prior experience on tabular clinical data: a penalised
linear model first (the reference every other model must beat), then gradient boosting,
then the rest. When events per variable are low (< 10) the order puts the penalised models
first and flexible models get a constrained search space (:func:`search_space`).

The whole model portfolio (splines, explainable boosting, small-data boosting, extra trees,
k-NN, SVM, AFT and componentwise survival models) is ordered and classified here, so the
critic and the tuner handle any of them; :func:`families_for` offers it on request
(``portfolio=True``), and then on a small cohort the structured and small-data families come
right after the penalised linear ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autods.runners.expressions import quote_name
from autods.runners.families import FAMILIES, Param, task_kind

#: kind -> families in the order an expert tries them: a penalised linear model, its spline
#: variant, then boosting (the small-data variant right after the default one, explainable
#: boosting after both: it costs the most per experiment), then the rest. The core families keep
#: their relative order, so a run without the portfolio explores as before.
FAMILY_ORDER: dict[str, tuple[str, ...]] = {
    "binary": ("logistic", "spline_logistic", "lightgbm", "lightgbm_small", "ebm", "elastic_net", "hist_gb",
               "random_forest", "extra_trees", "svm_rbf", "knn"),
    "multiclass": ("logistic", "lightgbm", "elastic_net", "hist_gb", "random_forest", "extra_trees", "svm_rbf", "knn"),
    "regression": ("ridge", "spline_ridge", "lightgbm", "lightgbm_small", "ebm", "elastic_net", "hist_gb",
                   "random_forest", "extra_trees", "lasso", "svm_rbf", "knn"),
    # the spline Cox before coxnet: a near-copy of the ridge Cox default tells less than structure does
    "survival": ("cox", "spline_cox", "coxnet", "gb_survival", "componentwise_gb", "rsf", "weibull_aft",
                 "lognormal_aft", "extra_survival_trees"),
}
#: the design puts the whole portfolio on the menu up to this many rows (``design_choices``); above it
#: only the core menu: explainable boosting is fitted single-threaded and an RBF SVM's fit grows at
#: least quadratically with the rows, and the core boosting and forests have the data they need
PORTFOLIO_MAX_ROWS = 5000
#: the families an expert offers unless asked for the whole portfolio (``families_for(portfolio=True)``):
#: the first menu, whose cost and behaviour every end-to-end run so far was measured with
CORE_FAMILIES = frozenset({"logistic", "lightgbm", "elastic_net", "hist_gb", "random_forest", "ridge", "lasso",
                           "cox", "coxnet", "gb_survival", "rsf"})
#: families whose parameters are shrunk: the safe choice when events per variable are low
#: (componentwise boosting shrinks a sparse linear Cox model; the AFT models carry a ridge penalty)
PENALISED = frozenset({"logistic", "elastic_net", "ridge", "lasso", "cox", "coxnet", "spline_logistic", "spline_ridge",
                       "spline_cox", "componentwise_gb", "weibull_aft", "lognormal_aft"})
FLEXIBLE = frozenset({"lightgbm", "hist_gb", "random_forest", "rsf", "gb_survival", "ebm", "lightgbm_small",
                      "extra_trees", "extra_survival_trees", "svm_rbf", "knn"})
#: on a small cohort (low events per variable) these come right after the penalised linear models:
#: structure a linear model misses, at a cost the events can pay for
SMALL_COHORT = ("spline_logistic", "spline_ridge", "spline_cox", "lightgbm_small", "ebm", "componentwise_gb")
#: leakage checks whose warnings make a feature unsafe to model (blocking ones are already
#: excluded). A warning that a single feature discriminates strongly is *not* among them: it
#: flags a feature to look at, and in a diagnostic task (tumour size and malignancy) it is
#: often the signal itself; the feature agent proposes the model without it as a sensitivity
#: check instead (:func:`flagged_features`).
#: A target-proxy *warning* is the same kind of flag: the guard keeps a strong measurement of a
#: continuous outcome (weight by week of weighing) and blocks the real proxies; so is a value
#: missing only at each unit's first record.
LEAKAGE_CHECKS = frozenset({"post_outcome", "dated_after_index"})
FLAG_CHECKS = frozenset({"single_feature_discrimination", "target_proxy", "first_record_gap"})
EPV_LIMIT = 10.0

# Narrower ranges than the runners' spaces: the extremes cost minutes per fit on a laptop
# and rarely win on a few thousand rows; a user who wants them writes the recipe by hand.
_CAPS: dict[str, dict[str, Param]] = {
    "random_forest": {"n_estimators": Param.int(100, 400, log=True)},
    "rsf": {"n_estimators": Param.int(50, 300, log=True)},
    "lightgbm": {"n_estimators": Param.int(50, 600, log=True)},
    "hist_gb": {"max_iter": Param.int(50, 400, log=True)},
    "gb_survival": {"n_estimators": Param.int(50, 400, log=True)},
    "extra_trees": {"n_estimators": Param.int(100, 400, log=True)},
    "extra_survival_trees": {"n_estimators": Param.int(50, 300, log=True)},
    "componentwise_gb": {"n_estimators": Param.int(50, 600, log=True)},
    "ebm": {"outer_bags": Param.int(1, 8)},  # single-threaded bags cost seconds each
    "lightgbm_small": {"max_rounds": Param.int(200, 2000, log=True)},
}
#: Under low EPV a penalised model needs at least this much shrinkage: (parameter, bound,
#: "max" = the value may not exceed the bound, "min" = it may not fall below it).
PENALTY_BOUND: dict[str, tuple[str, float, str]] = {
    "logistic": ("C", 1.0, "max"), "elastic_net": ("alpha", 1e-3, "min"), "cox": ("alpha", 0.1, "min"),
    "coxnet": ("alpha", 1e-3, "min"), "ridge": ("alpha", 0.1, "min"), "lasso": ("alpha", 1e-4, "min"),
    # A spline basis multiplies each continuous input's parameters by about n_knots: shrink harder.
    "spline_logistic": ("C", 0.1, "max"), "spline_ridge": ("alpha", 1.0, "min"), "spline_cox": ("alpha", 1.0, "min"),
    "weibull_aft": ("penalizer", 0.01, "min"), "lognormal_aft": ("penalizer", 0.01, "min"),
}
#: the default model's penalty when events per variable are low: the strong end of each family's
#: search range (sksurv's ridge alpha is on the summed partial likelihood, so it grows with n)
LOW_EPV_DEFAULTS: dict[str, dict[str, float]] = {"cox": {"alpha": 10.0}, "logistic": {"C": 0.1},
                                                 "ridge": {"alpha": 10.0}}
# Under low EPV a flexible model must stay small: few leaves, large leaves.
_LOW_EPV: dict[str, dict[str, Param]] = {
    "lightgbm": {"num_leaves": Param.int(4, 15, log=True), "min_child_samples": Param.int(20, 200, log=True)},
    "hist_gb": {"max_leaf_nodes": Param.int(4, 15, log=True), "min_samples_leaf": Param.int(20, 200, log=True)},
    "random_forest": {"min_samples_leaf": Param.int(5, 50, log=True)},
    "rsf": {"min_samples_leaf": Param.int(10, 50, log=True)},
    "gb_survival": {"max_depth": Param.int(1, 2)},
    "ebm": {"interactions": Param.int(0, 5), "min_samples_leaf": Param.int(10, 50, log=True)},
    "lightgbm_small": {"num_leaves": Param.int(3, 7), "max_depth": Param.int(1, 3)},
    "extra_trees": {"min_samples_leaf": Param.int(5, 50, log=True)},
    "extra_survival_trees": {"min_samples_leaf": Param.int(10, 50, log=True)},
    "svm_rbf": {"C": Param.float(1e-2, 10.0, log=True)},
    "knn": {"n_neighbors": Param.int(10, 100, log=True)},
}


@dataclass(frozen=True)
class Representation:
    """The non-model half of a recipe, with the idea behind it."""

    name: str
    preprocess: dict[str, Any] = field(default_factory=dict)
    features: tuple[str, ...] | None = None
    idea: str = ""

    def recipe(self, family: str, params: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"family": family, "params": dict(params), "preprocess": dict(self.preprocess)}
        if self.features is not None:
            out["features"] = list(self.features)
        return out


def families_for(task_type: str, penalise: bool, portfolio: bool = False) -> list[str]:
    """Families to try for ``task_type``, in expert order.

    Without ``portfolio`` only :data:`CORE_FAMILIES`. Under ``penalise`` (low events per variable)
    the penalised families come first; with ``portfolio`` the :data:`SMALL_COHORT` families follow
    them, then everything else in :data:`FAMILY_ORDER`'s order.
    """
    kind = task_kind(task_type)
    order = [f for f in FAMILY_ORDER.get(kind, ()) if f in FAMILIES and kind in FAMILIES[f].kinds
             and (portfolio or f in CORE_FAMILIES)]
    if penalise:
        first = [f for f in order if f in PENALISED and f not in SMALL_COHORT]
        small = [f for f in order if f in SMALL_COHORT and f not in first]
        order = first + small + [f for f in order if f not in first and f not in small]
    return order


def search_space(family: str, penalise: bool) -> dict[str, Param]:
    space = dict(FAMILIES[family].space)
    space.update(_CAPS.get(family, {}))
    if penalise:
        space.update(_LOW_EPV.get(family, {}))
        if family in PENALTY_BOUND:
            name, bound, side = PENALTY_BOUND[family]
            p = space[name]
            space[name] = Param.float(p.low, bound, p.log) if side == "max" else Param.float(bound, p.high, p.log)
    return space


def starting_params(family: str, space: dict[str, Param]) -> dict[str, Any]:
    """The family's defaults moved into ``space``: an explorer's first recipe of a family
    respects the design's limits (e.g. large leaves under low EPV)."""
    out: dict[str, Any] = {}
    for name, p in space.items():
        value = FAMILIES[family].defaults.get(name)
        if p.type == "choice":
            if value not in p.choices:
                out[name] = p.choices[0]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            clipped = min(max(value, p.low), p.high)  # type: ignore[type-var]
            if clipped != value:
                out[name] = int(clipped) if p.type == "int" else float(clipped)
    return out


def warned_features(summary: dict[str, Any]) -> list[str]:
    """Features carrying a warning-level leakage finding: modelled only with a stated reason."""
    out = {f.get("feature") for f in summary.get("findings", [])
           if f.get("check") in LEAKAGE_CHECKS and f.get("severity") == "warning" and f.get("feature")}
    return sorted(str(f) for f in out)


def flagged_features(summary: dict[str, Any]) -> list[str]:
    """Features flagged for review (not excluded): strong single-feature discrimination."""
    out = {f.get("feature") for f in summary.get("findings", [])
           if f.get("check") in FLAG_CHECKS and f.get("severity") == "warning" and f.get("feature")}
    return sorted(str(f) for f in out)


def site_shifted(summary: dict[str, Any]) -> list[str]:
    return sorted({str(f["feature"]) for f in summary.get("findings", [])
                   if f.get("check") == "site_shift" and f.get("feature")})


def skewed(features: list[dict[str, Any]]) -> list[str]:
    """Non-negative numeric features with a heavy right tail (mean well above the median, or a
    maximum beyond median + 4 SD): a log1p often linearises them for linear models."""
    out = []
    for col in features:
        s = col.get("stats") or {}
        if col.get("kind") != "numeric" or not {"min", "median", "mean", "max", "std"} <= set(s):
            continue
        if s["min"] is None or s["min"] < 0 or not s["std"]:
            continue
        heavy = s["max"] > s["median"] + 4 * s["std"] or (s["median"] > 0 and s["mean"] > 1.25 * s["median"])
        if heavy:
            out.append(str(col["name"]))
    return out


def unit_history(summary: dict[str, Any], feats: list[dict[str, Any]],
                 base: tuple[str, ...] | None = None) -> Representation | None:
    """Each row's mean of a unit's *earlier* visits of the most complete numerics. Offered only
    when units repeat and the task has a time column: without time order, history is look-ahead."""
    time = summary.get("time_column")
    structural = {time, summary.get("unit_column")}
    numeric = [c for c in feats if c.get("kind") == "numeric" and c["name"] not in structural]
    present = {c.get("name") for c in summary.get("features", [])} | {e.get("name") for e in summary.get("excluded", [])}
    if not (summary.get("units_repeat") and time and time in present and numeric):
        return None  # no time order (or governance dropped the time column): history would look ahead
    taken = {str(c["name"]) for c in summary.get("features", [])} | {str(e.get("name")) for e in summary.get("excluded", [])}
    picks = [str(c["name"]) for c in sorted(numeric, key=lambda c: c.get("missing_fraction", 0.0))[:3]]
    comps = []
    for n in picks:
        name = f"{n}__unit_mean"
        while name in taken:  # never shadow a column (or another composite) of the same name
            name += "_"
        taken.add(name)
        comps.append({"name": name, "expr": f"unit_mean({quote_name(n)})"})
    return Representation("unit-history", {"composites": comps}, base,
                          f"per-unit means over earlier visits (ordered by '{time}') carry each unit's history")


def representations(summary: dict[str, Any], design: dict[str, Any]) -> list[Representation]:
    """The representation variants worth trying for this task, the safe default first."""
    feats = [c for c in summary.get("features", []) if c["name"] not in set(design.get("unsafe_features", []))]
    names = tuple(c["name"] for c in feats)
    base = None if len(names) == len(summary.get("features", [])) else names
    out = [Representation("default", {}, base, "median imputation with missingness indicators, scaled numerics")]
    logs = [n for n in skewed(feats)]
    if logs:
        out.append(Representation("log-skewed", {"log_transform": logs}, base,
                                  f"log1p of right-skewed features ({', '.join(logs[:4])}) linearises their effect"))
    history = unit_history(summary, feats, base)
    if history is not None:
        out.append(history)
    flagged = [n for n in flagged_features(summary) if n in names]
    if flagged:
        kept = tuple(n for n in names if n not in flagged)
        out.append(Representation("without-flagged", {}, kept,
                                  f"sensitivity check: without the features flagged for near-perfect single-feature "
                                  f"discrimination ({', '.join(flagged[:4])})"))
    shifted = [n for n in site_shifted(summary) if n in names]
    if shifted:
        kept = tuple(n for n in names if n not in shifted)
        out.append(Representation("site-robust", {}, kept,
                                  f"drop site-shifted features ({', '.join(shifted[:4])}) so the model transports"))
    dates = [c["name"] for c in feats if c.get("kind") == "datetime"]
    if dates:
        out.append(Representation("dates-as-days", {"datetime": "days"}, base,
                                  "calendar time as days: captures secular trends (watch temporal leakage)"))
    if any(c.get("missing_fraction", 0.0) > 0.05 for c in feats):
        out.append(Representation("mean-impute", {"impute": "mean", "add_indicator": False}, base,
                                  "mean imputation without indicators: fewer parameters when missingness is uninformative"))
    return out


__all__ = ["CORE_FAMILIES", "EPV_LIMIT", "FAMILY_ORDER", "FLEXIBLE", "SMALL_COHORT", "LEAKAGE_CHECKS", "LOW_EPV_DEFAULTS", "PENALISED", "PENALTY_BOUND",
           "PORTFOLIO_MAX_ROWS",
           "Representation",
           "families_for", "flagged_features", "representations", "search_space", "site_shifted", "skewed", "starting_params",
           "unit_history", "warned_features"]
