"""Idea sketches for diagnoses: recipes drawn from the families registered *now*, with what
each outcome would mean written before the run.

A sketch is a canonical recipe (it parses: the server would accept it) on the champion's
representation (preprocessing and feature set), else the library's safe default one, so an
idea changes one thing: the model, the preprocessing, or the calibration. Families are read
from :data:`~autods.runners.families.FAMILIES` at call time and filtered by the task's kind;
``ensemble`` and ``calibrated`` ideas appear only once those families are registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autods.agents.expert import evidence as ev
from autods.agents.expert.diagnose_effect import expected_effect
from autods.agents.expert.diagnose_evidence import Measured, best, measured, reference
from autods.agents.expert.diagnose_records import IdeaSketch
from autods.agents.expert.library import representations
from autods.agents.observation import Observation
from autods.agents.snapshot import SUMMARY_KEY
from autods.errors import RecipeError
from autods.runners.families import FAMILIES, task_kind
from autods.runners.recipe import DEFAULT_FAMILY, Recipe

ENSEMBLE, CALIBRATED = "ensemble", "calibrated"
#: (parameter, factor) that makes a family's fit more conservative: a smaller C / a larger
#: penalty / larger leaves. Clipped to the family's search range.
SHRINK: dict[str, tuple[str, float]] = {
    "logistic": ("C", 0.1), "spline_logistic": ("C", 0.1), "elastic_net": ("alpha", 10.0), "ridge": ("alpha", 10.0),
    "lasso": ("alpha", 10.0), "spline_ridge": ("alpha", 10.0), "cox": ("alpha", 10.0), "coxnet": ("alpha", 10.0),
    "spline_cox": ("alpha", 10.0), "weibull_aft": ("penalizer", 10.0), "lognormal_aft": ("penalizer", 10.0),
    "lightgbm": ("min_child_samples", 4.0), "lightgbm_small": ("min_child_samples", 2.0),
    "hist_gb": ("min_samples_leaf", 4.0), "random_forest": ("min_samples_leaf", 5.0),
    "extra_trees": ("min_samples_leaf", 5.0), "rsf": ("min_samples_leaf", 2.0),
    "extra_survival_trees": ("min_samples_leaf", 2.0), "ebm": ("min_samples_leaf", 4.0),
}


@dataclass(frozen=True)
class Context:
    """What every detector reads, computed once per observation."""

    obs: Observation
    summary: dict[str, Any]
    design: dict[str, Any]
    kind: str
    ms: list[Measured]
    ref: Measured | None

    @classmethod
    def of(cls, obs: Observation) -> Context:
        ms = measured(obs.results)
        summary = ev.summary(obs)
        return cls(obs, summary, ev.design(obs) or {}, task_kind(obs.task.task_type), ms,
                   reference(ms, obs.champion, obs.task.higher_is_better))

    @property
    def hib(self) -> bool:
        return self.obs.task.higher_is_better

    @property
    def metric(self) -> str:
        return self.obs.task.metric

    @property
    def summary_post(self) -> int | None:
        """The steward's summary post (a ``finding`` post): where profile and design counts are cited from."""
        for post in reversed(self.obs.posts):
            if post.get("kind") == "finding" and ev.post_json(post, SUMMARY_KEY) is not None:
                return int(post["id"])
        return None

    def cite(self, where: str, name: str, value: Any) -> dict[str, Any]:
        """``{where: name, "value": value}`` (where = profile | design), with the summary post that holds it."""
        ref: dict[str, Any] = {where: name, "value": value}
        if self.summary_post is not None:
            ref["finding"] = self.summary_post
        return ref

    def registered(self, family: str) -> bool:
        return family in FAMILIES and self.kind in FAMILIES[family].kinds

    def first(self, *families: str) -> str | None:
        return next((f for f in families if self.registered(f)), None)

    def base(self) -> dict[str, Any]:
        """The representation ideas build on: the champion's (or best recipe's), else the safe default."""
        if self.ref is not None and self.ref.recipe:
            r = self.ref.recipe
            members = (r.get("params") or {}).get("members") if r.get("family") == ENSEMBLE else None
            if members:  # an ensemble's own preprocessing is a pass-through: its first member's is the representation
                r = members[0]
            out: dict[str, Any] = {"preprocess": dict(r.get("preprocess") or {})}
            if r.get("features") is not None:
                out["features"] = list(r["features"])
            return out
        rep = representations(self.summary, self.design)[0] if self.summary.get("features") is not None else None
        return {} if rep is None else {k: v for k, v in rep.recipe("dummy", {}).items() if k in ("preprocess", "features")}

    def feature_names(self) -> list[str]:
        unsafe = set(self.design.get("unsafe_features", []))
        return [str(c["name"]) for c in self.summary.get("features", []) if c["name"] not in unsafe]


def _canonical(recipe: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return Recipe.parse(recipe).canonical_dict()
    except RecipeError:
        return None  # a sketch this registry cannot run is not an idea


def sketch(ctx: Context, family: str, params: dict[str, Any] | None = None, *, title: str, if_works: str,
           if_fails: str, surprise_if: str, preprocess: dict[str, Any] | None = None,
           features: list[str] | None = None) -> IdeaSketch | None:
    """An idea for ``family`` on the base representation (``preprocess`` entries override it;
    ``features`` replaces the feature set), with ``params`` over the family's best recorded
    recipe's parameters (or its defaults). None if the family is not registered for the task
    kind or the recipe does not parse."""
    if not ctx.registered(family):
        return None
    base = ctx.base()
    # the family's best recorded recipe is the starting point: the idea changes what it names, not the tuning
    tuned = best([m for m in ctx.ms if m.family == family], ctx.hib)
    start = dict(tuned.recipe.get("params") or {}) if tuned is not None else {}
    body: dict[str, Any] = {"family": family, "params": {**start, **(params or {})},
                            "preprocess": {**base.get("preprocess", {}), **(preprocess or {})}}
    if features is not None:
        body["features"] = features
    elif base.get("features") is not None:
        body["features"] = base["features"]
    recipe = _canonical(body)
    if recipe is None:
        return None
    effect = expected_effect(ctx.obs.results, recipe, higher_is_better=ctx.hib, champion=ctx.obs.champion)
    return IdeaSketch(title, recipe, if_works, if_fails, surprise_if, effect)


def ensemble_of(ctx: Context, members: list[Measured], *, title: str, if_works: str, if_fails: str,
                surprise_if: str) -> IdeaSketch | None:
    """A Caruana ensemble of recorded recipes (distinct, none an ensemble), if ``ensemble`` is registered."""
    recipes, seen = [], set()
    for m in members:
        if m.recipe and m.recipe_hash not in seen and m.family != ENSEMBLE:
            recipes.append(m.recipe)
            seen.add(m.recipe_hash)
    if len(recipes) < 2 or not ctx.registered(ENSEMBLE):
        return None
    recipe = _canonical({"family": ENSEMBLE, "params": {"members": recipes, "method": "caruana"}})
    if recipe is None:
        return None
    effect = expected_effect(ctx.obs.results, recipe, higher_is_better=ctx.hib, champion=ctx.obs.champion)
    return IdeaSketch(title, recipe, if_works, if_fails, surprise_if, effect)


def recalibrated(ctx: Context, of: Measured | None, *, title: str, if_works: str, if_fails: str,
                 surprise_if: str) -> IdeaSketch | None:
    """``of`` recalibrated inside the training fold (Platt), if ``calibrated`` is registered (binary).
    With nothing recorded yet, the task's default model on the base representation."""
    r = of.recipe if of is not None else {"family": DEFAULT_FAMILY[ctx.obs.task.task_type], "params": {}, **ctx.base()}
    if not r or r.get("family") in (CALIBRATED, ENSEMBLE) or not ctx.registered(CALIBRATED):
        return None
    body = {**r, "family": CALIBRATED,
            "params": {"base": r["family"], "base_params": dict(r.get("params") or {}), "method": "platt"}}
    recipe = _canonical(body)
    if recipe is None:
        return None
    effect = expected_effect(ctx.obs.results, recipe, higher_is_better=ctx.hib, champion=ctx.obs.champion)
    return IdeaSketch(title, recipe, if_works, if_fails, surprise_if, effect)


def shrunk_params(family: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """``params`` moved to a more conservative fit (see :data:`SHRINK`); None if it cannot move."""
    if family not in SHRINK or family not in FAMILIES:
        return None
    spec = FAMILIES[family]
    name, factor = SHRINK[family]
    current = {**spec.defaults, **params}.get(name)
    if not isinstance(current, (int, float)) or isinstance(current, bool) or name not in spec.param_names:
        return None
    target = current * factor
    p = spec.space.get(name)
    if p is not None and p.low is not None and p.high is not None:
        target = min(max(target, p.low), p.high)
    if p is not None and p.type == "int":
        target = int(round(target))
    if target == current:
        return None
    return {**params, name: target}


def compact(ctx: Context, ideas: list[IdeaSketch | None]) -> list[IdeaSketch]:
    """Drop the ideas the registry could not build, repeats of one recipe, and recipes already recorded."""
    out: list[IdeaSketch] = []
    seen = {m.recipe_hash for m in ctx.ms}
    for idea in ideas:
        if idea is None:
            continue
        key = Recipe.parse(idea.recipe).canonical_hash()
        if key not in seen:
            seen.add(key)
            out.append(idea)
    return out


__all__ = ["CALIBRATED", "Context", "ENSEMBLE", "SHRINK", "compact", "ensemble_of", "recalibrated",
           "shrunk_params", "sketch"]
