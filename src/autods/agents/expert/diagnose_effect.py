"""Expected effects from recorded results: what an idea should gain over the champion, read off
its closest recorded relative, never a constant.

The relative is searched from closest to loosest: the same recipe, its uncalibrated base (a
recalibrated variant barely moves a ranking metric), the best recipe of the same family and
model class, of the same class, then of the same family. Structure comes before the name: a
spline model with pairwise terms is closer to recorded trees than to a recorded additive
spline, because what it can represent is what a diagnosis is about. The estimate is the
paired mean fold difference (relative minus champion) on the shared folds with its corrected
standard error (:func:`~autods.agents.expert.diagnose_evidence.gap`); with no relative the
value is None and the basis says why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from autods.agents.expert.diagnose_evidence import base_recipe, best, gap, measured, model_class, reference
from autods.errors import RecipeError


@dataclass(frozen=True)
class Effect:
    """Expected gain over the reference (positive = better), with where it comes from."""

    value: float | None
    se: float | None
    basis: str
    result_ids: list[int] = field(default_factory=list)
    relative: str | None = None  # how the relative was found: recipe | base | family | class

    def as_evidence(self) -> dict[str, Any]:
        """The graph's ``effect_evidence`` shape."""
        return {"basis": self.basis, "result_ids": list(self.result_ids), "finding_ids": [], "se": self.se,
                "relative": self.relative}


def _target_recipe(target: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(target, str):
        return {"family": target, "params": {}}
    if isinstance(target.get("recipe"), dict):  # an idea (sketch or graph record)
        return dict(target["recipe"])
    return dict(target)


def expected_effect(results: Iterable[dict[str, Any]], target: str | dict[str, Any], *, higher_is_better: bool,
                    champion: dict[str, Any] | None = None) -> Effect:
    """The gain of ``target`` (a family name, a recipe, or an idea with a ``recipe``) over the
    champion, estimated from the closest recorded relative: the same recipe, its uncalibrated
    base, the best recipe of its family and model class, of its class, then of its family. The estimate is the paired
    mean fold difference (relative minus champion) with its corrected SE; None when nothing
    related is recorded. A best-of-several relative is optimistic by the selection it hides."""
    from autods.runners.recipe import Recipe  # the registry's parser: imported late like the families

    ms = measured(results)
    ref = reference(ms, champion, higher_is_better)
    recipe = _target_recipe(target)
    family = str(recipe.get("family") or "")
    if ref is None:
        return Effect(None, None, f"no recorded result to compare {family or 'the idea'} with")
    try:  # a bare family name matches no recipe exactly; a sketch that does not parse matches none either
        h = Recipe.parse(recipe).canonical_hash() if recipe.get("params") or recipe.get("preprocess") else None
    except RecipeError:
        h = None
    base = base_recipe(recipe)
    cls = model_class(recipe)
    # Structure before name: a spline model with pairwise terms is closer to the recorded trees than
    # to the recorded additive spline, because what it can represent is what the diagnosis is about.
    tiers = [("recipe", [m for m in ms if h is not None and m.recipe_hash == h]),
             ("base", [m for m in ms if base is not recipe and m.family == base.get("family")]),
             ("family", [m for m in ms if m.family == family and m.cls == cls]),
             ("class", [m for m in ms if cls not in ("other", "baseline") and m.cls == cls]),
             ("family", [m for m in ms if m.family == family])]
    for how, found in tiers:
        rel = best(found, higher_is_better)
        if rel is None:
            continue
        ids = sorted(set(rel.result_ids) | set(ref.result_ids))
        if rel.recipe_hash == ref.recipe_hash:
            return Effect(0.0, ref.fold_se, f"closest recorded relative ({how}: {rel.family}) is the champion "
                                            "itself: no gain measured", ids, how)
        g = gap(rel, ref, higher_is_better)
        return Effect(g.diff, g.se, f"closest recorded relative ({how}: {rel.family}, results "
                                    f"{list(rel.result_ids)}) vs the champion {ref.family}: {g.text()}", ids, how)
    return Effect(None, None, f"no recorded result of {family}, of its base or of its class ({cls}): "
                              "no estimate until one runs")


__all__ = ["Effect", "expected_effect"]
