"""The critic's rules. Each returns None (passes) or a :class:`Objection` with its reason.

Rules, in the order they are applied:

1. **duplicate** — same canonical recipe hash as the champion or as any recipe already
   proposed for a run (a second seed of a recipe is the validator's confirmation, not a
   proposal);
2. **near-duplicate** — the champion's family, representation and fixed parameters, with
   every searched parameter within ``NEAR`` (5%) of its search range of the champion's;
3. **dead end** — inside a registered dead end (family and every region item match);
4. **leakage** — uses (directly or inside a composite) a feature the steward excluded or
   flagged with a leakage warning;
5. **EPV** — events per variable below 10 and the recipe is neither penalised enough nor
   a constrained flexible model;
6. **expected gain** — the evidence-based expected gain (see ``evidence.expected_gain``)
   is not above the noise floor; or tuning the family has not moved the metric (:func:`flat`):
   its recorded recipes on this representation, set at least ``FLAT_DISTANCE`` of the search
   range apart, all lie within one noise floor (a Cox model's small ridge penalty: in
   bench/quality.py runs with a budget of 12, four tunes of it stayed within 0.0006 of the
   default's C-index on gbsg2, WHAS500 and AIDS, a third of the budget); or
   :data:`PENDING_MAX` recipes of the family on this representation are already approved and
   still await their results (those four tunes were all proposed before the first one reported,
   so no result could show the family was flat).

Rules 1-4 and 6 reject; rule 5 asks for a revision (the idea may be right, the size is not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autods.agents.expert import evidence as ev
from autods.agents.expert.library import EPV_LIMIT, FLEXIBLE, PENALISED, PENALTY_BOUND, search_space, warned_features
from autods.agents.expert.tuner import distance
from autods.agents.observation import Observation
from autods.runners.families import FAMILIES
from autods.server.protocol import in_dead_end
from autods.state.hashing import canonical_hash
from autods.state.records import DeadEnd, Proposal

NEAR = 0.05
#: two recipes of a family this far apart in their search space (largest per-parameter distance,
#: :func:`autods.agents.expert.tuner.distance`) probe the response to the parameters, not its noise
FLAT_DISTANCE = 0.25
#: approved recipes of one family and representation that may await their results at once: a
#: further one waits until they report (a small budget is otherwise committed to one family)
PENDING_MAX = 2


@dataclass(frozen=True)
class Objection:
    rule: str
    verdict: str  # reject | revise
    reason: str
    dead_end_id: int | None = None


def _uses(recipe: dict[str, Any]) -> set[str]:
    used = set(recipe.get("features") or ())
    pre = recipe.get("preprocess") or {}
    used |= set(pre.get("log_transform") or ())
    for comp in pre.get("composites") or ():
        used |= {tok for tok in _tokens(comp.get("expr", ""))}
    return used


def _tokens(expr: str) -> set[str]:
    from autods.runners.expressions import columns_of, parse

    return set(columns_of(parse(expr)))


def duplicate(obs: Observation, proposal: dict[str, Any]) -> Objection | None:
    h = proposal["canonical_hash"]
    if obs.champion is not None and obs.champion["recipe_hash"] == h:
        return Objection("duplicate", "reject", "duplicate of the champion (same canonical recipe hash)")
    earlier = [p for p in obs.proposals if p["canonical_hash"] == h and p["id"] < proposal["id"]]
    if earlier:
        return Objection("duplicate", "reject", f"duplicate of proposal {earlier[0]['id']} (same canonical recipe hash)")
    return None


def near_duplicate(obs: Observation, proposal: dict[str, Any]) -> Objection | None:
    champ = ev.champion_recipe(obs)
    recipe = proposal["recipe"]
    if champ is None or champ.get("family") != recipe.get("family"):
        return None
    same_rep = all(champ.get(k) == recipe.get(k) for k in ("preprocess", "features"))
    if not same_rep:
        return None
    design = ev.design(obs) or {}
    space = search_space(recipe["family"], bool(design.get("penalise")))
    d = distance(recipe["family"], recipe.get("params", {}), champ.get("params", {}), space)
    if d <= NEAR:
        return Objection("near_duplicate", "reject",
                         f"near-duplicate of the champion: same family and representation, every parameter "
                         f"within {d:.1%} of its search range (threshold {NEAR:.0%})")
    return None


def dead_end(obs: Observation, proposal: dict[str, Any]) -> Objection | None:
    prop = Proposal.model_validate({k: v for k, v in proposal.items() if k in Proposal.model_fields})
    for d in obs.dead_ends:
        de = DeadEnd.model_validate(d)
        if in_dead_end(prop, de):
            return Objection("dead_end", "reject", f"inside dead end {de.id} ({de.family} {de.region}): {de.reason}",
                             de.id)
    return None


def leakage(obs: Observation, proposal: dict[str, Any]) -> Objection | None:
    if proposal["family"] == "dummy":  # a constant predictor reads no feature
        return None
    summary = ev.summary(obs)
    excluded = {e["name"] for e in obs.task.excluded}
    warned = set(warned_features(summary))
    recipe = proposal["recipe"]
    used = _uses(recipe)
    if recipe.get("features") is None:  # all allowed features: the warned ones are in
        used |= {c.name for c in obs.task.features}
    bad_ex = sorted(used & excluded)
    if bad_ex:
        return Objection("leakage", "reject", f"uses excluded feature(s) {bad_ex}: the steward removed them")
    bad_warn = sorted(used & warned)
    if bad_warn:
        return Objection("leakage", "reject",
                         f"uses feature(s) {bad_warn} with a leakage warning from the steward; drop them from "
                         "the feature set")
    return None


def epv(obs: Observation, proposal: dict[str, Any]) -> Objection | None:
    ratio = obs.task.events_per_variable
    family = proposal["family"]
    if ratio is None or ratio >= EPV_LIMIT or family == "dummy":
        return None
    params = {**proposal["recipe"].get("params", {})}
    # Wrappers are judged by what they wrap: a recalibrated variant by its base model, an
    # ensemble by each member (asking to revise every wrapper blocked them on small cohorts).
    if family == "calibrated":
        base = {"family": params.get("base", ""), "params": params.get("base_params") or {}}
        return epv(obs, {**proposal, "family": base["family"], "recipe": base})
    if family == "ensemble":
        for member in params.get("members") or []:
            objection = epv(obs, {**proposal, "family": member.get("family", ""), "recipe": member})
            if objection is not None:
                return objection
        return None
    if family in PENALTY_BOUND:
        name, limit, side = PENALTY_BOUND[family]
        value = params.get(name)
        weak = value is not None and (value > limit if side == "max" else value < limit)
        if weak:
            return Objection("epv", "revise",
                             f"{ratio:.1f} events per variable (< {EPV_LIMIT:g}): {name}={value:g} is too weak a "
                             f"penalty; use {name} {'<=' if side == 'max' else '>='} {limit:g}")
        return None
    if family in FLEXIBLE:
        space = search_space(family, True)
        outside = [n for n, p in space.items() if p.type != "choice" and n in params
                   and not (float(p.low) <= float(params[n]) <= float(p.high))]  # type: ignore[arg-type]
        if outside:
            return Objection("epv", "revise",
                             f"{ratio:.1f} events per variable (< {EPV_LIMIT:g}): {family} with {outside} outside "
                             "the constrained range has too many effective parameters for the events")
    elif family not in PENALISED:
        return Objection("epv", "revise", f"{ratio:.1f} events per variable: prefer a penalised model")
    return None


def flat(obs: Observation, recipe: dict[str, Any]) -> str | None:
    """Why tuning ``recipe``'s family further is not worth an experiment, or None.

    The evidence: at least two recorded recipes of the family on the same representation, some
    two of them at least :data:`FLAT_DISTANCE` apart in the search space, whose means span less
    than the noise floor. A flat response over a wide move says the parameters do not matter here.
    """
    family, rep = recipe.get("family", ""), ev.representation_key(recipe)
    # wrappers and agent code carry members, bases or programs, not a response surface to tune
    if family not in FAMILIES or not FAMILIES[family].space or family in ("dummy", "ensemble", "calibrated", "code"):
        return None
    stats = [st for st in ev.by_recipe(obs).values() if st.family == family and ev.representation_key(st.recipe) == rep]
    if len(stats) < 2:
        return None
    design = ev.design(obs) or {}
    space = search_space(family, bool(design.get("penalise")))
    params = [st.recipe.get("params", {}) for st in stats]
    apart = max(distance(family, a, b, space) for i, a in enumerate(params) for b in params[i + 1:])
    means = [st.mean for st in stats]
    spread = max(means) - min(means)
    if apart < FLAT_DISTANCE or spread >= ev.floor(obs):
        return None
    return (f"tuning {family} has not moved {obs.task.metric}: {len(stats)} recipes up to {apart:.0%} of the search "
            f"range apart span {spread:.4f}, less than the noise floor")


def pending(obs: Observation, proposal: dict[str, Any]) -> str | None:
    """Why another recipe of the proposal's family should wait for the ones in flight, or None."""
    recipe = proposal["recipe"]
    family, rep = recipe.get("family", ""), ev.representation_key(recipe)
    if family in ("dummy", "ensemble", "calibrated", "code"):
        return None
    measured = {r["recipe_hash"] for r in obs.results}
    live = {q["recipe_hash"] for q in obs.queue if q["status"] in ("pending", "claimed")}  # a failed item waits for nothing
    waiting = [p["id"] for p in obs.proposals
               if p["id"] != proposal["id"] and p["family"] == family and p["canonical_hash"] not in measured
               and ev.representation_key(p["recipe"]) == rep
               and ((p["status"] == "queued" and p["canonical_hash"] in live)
                    or (p["status"] == "open" and ev.approved(p)))]
    if len(waiting) < PENDING_MAX:
        return None
    return (f"{len(waiting)} approved recipes of {family} on this representation (proposals "
            f"{', '.join(map(str, waiting))}) still await their results: another waits until they report")


def gain(obs: Observation, proposal: dict[str, Any]) -> Objection | None:
    if obs.champion is None or obs.noise_floor is None:
        return None
    expected, why = ev.expected_gain(obs, proposal["recipe"])
    if expected <= ev.floor(obs):
        return Objection("expected_gain", "reject",
                         f"expected gain below the noise floor ({ev.floor(obs):.4f}): {why}")
    why_not = flat(obs, proposal["recipe"]) or pending(obs, proposal)
    if why_not is not None:  # the analyst drops a family after two rejections that say "expected gain"
        return Objection("expected_gain", "reject",
                         f"expected gain below the noise floor ({ev.floor(obs):.4f}) for now: {why_not}")
    return None


RULES = (duplicate, near_duplicate, dead_end, leakage, epv, gain)


def review(obs: Observation, proposal: dict[str, Any], rules: tuple[Any, ...] = RULES) -> list[Objection]:
    """Every objection the rules raise (empty: approve)."""
    return [o for o in (rule(obs, proposal) for rule in rules) if o is not None]


def recipe_hash(recipe: dict[str, Any]) -> str:
    return canonical_hash(recipe)


__all__ = ["FLAT_DISTANCE", "NEAR", "PENDING_MAX", "RULES", "Objection", "dead_end", "duplicate", "epv", "flat", "gain",
           "leakage", "near_duplicate", "pending",
           "recipe_hash", "review"]
