"""The analyst's policy: form a team, fill its queue, propose the next recipe.

Each step does the first of:

1. **form a team** around my first proposal that survived critique;
1b. **the hypothesis graph** (:mod:`.graph_analyst`): diagnose, relate, fill NOW, dispatch,
   propose ideas from the diagnoses' sketches; when no diagnosis fires it does nothing and
   the steps below decide as they did before the graph;
2. **enqueue** an approved, not yet queued proposal: mine, or one from an agent that cannot
   enqueue (the feature agent) assigned to me by proposal id;
3. **propose** when I have nothing awaiting critique and the budget is not committed:

   * *diversity*: in every cycle (each analyst's k-th proposal) exactly one analyst is the
     explorer and proposes an untried family at its defaults; after a stagnation alarm
     every analyst explores once (a pivot). When no family is untried, the explorer says so
     and proposes an untried representation of the best family, or tunes;
   * *tuning*: the others tune the families ranked by their best result (analyst r takes
     rank r), with Optuna's ask/tell told every recorded result of the family, on the
     representation of the family's best recipe;
   * a family whose last two proposals of mine were rejected for low expected gain, or that
     is a dead end, is not proposed again;
   * before either, two judge-shaped proposals (:func:`_recalibration`, :func:`_ensemble`):
     the Platt variant of the best binary recipe whose recorded out-of-fold calibration slope
     is outside the promotion band (the server refuses it as champion otherwise), and, once
     at least :data:`ENSEMBLE_MIN_FAMILIES` families have results, an ensemble of each
     family's best recipe (Caruana selection first, then a stack; at most
     :data:`ENSEMBLE_MAX` per run).
"""

from __future__ import annotations

from typing import Any

from autods.agents.actions import Action, Enqueue, FormTeam, Propose, Wait
from autods.agents.expert import evidence as ev
from autods.agents.expert.graph_analyst import diagnosis_key, graph_step
from autods.agents.expert.library import families_for, representations, search_space, starting_params
from autods.agents.expert.tuner import suggest
from autods.agents.observation import Observation
from autods.runners.families import FAMILIES
from autods.runners.recipe import Recipe
from autods.state.hashing import canonical_hash

ENQUEUERS = ("analyst",)
#: distinct families with results before an ensemble of their best recipes is worth proposing
ENSEMBLE_MIN_FAMILIES = 3
#: members of a proposed ensemble: the best recipe of each of the best families
ENSEMBLE_MEMBERS = 4
#: ensemble proposals per run (each costs the sum of its members' evaluations)
ENSEMBLE_MAX = 3
#: families never taken as ensemble members (a constant model adds nothing; ensembles do not nest)
_NOT_MEMBERS = ("dummy", "ensemble")


def _dead_families(obs: Observation) -> set[str]:
    return {d["family"] for d in obs.dead_ends if not d.get("region") and d.get("team_id") is None}


def _gain_rejected(obs: Observation, family: str) -> bool:
    mine = [p for p in ev.proposals_by(obs, obs.agent) if p["family"] == family]
    last = mine[-2:]
    return len(last) == 2 and all(
        any(c["verdict"] == "reject" and "expected gain" in c["reasons"] for c in p.get("critiques", []))
        for p in last)


def _my_team(obs: Observation) -> int | None:
    if obs.team_id is not None:
        return obs.team_id
    for t in obs.teams:  # after a restart the team I lead is found by its name
        if t["status"] == "active" and t["name"].startswith(f"{obs.agent}:"):
            return int(t["id"])
    return None


def _enqueue(obs: Observation, n_analysts: int, team: int | None) -> Action | None:
    if obs.phase != "execution" or ev.budget_left(obs) <= 0:
        return None
    taken = ev.queued_hashes(obs)
    me, idx = obs.agent, ev.agent_index(obs.agent)
    for p in obs.proposals:
        author = p.get("author_name") or ""
        mine = author == me
        adopted = not author.startswith(ENQUEUERS) and p["id"] % n_analysts == idx and author != "biostatistician"
        if p.get("idea") is not None:
            continue  # an idea runs from NOW (graph_analyst: dispatch, or its enqueue when the budget is short)
        # judged on the recipe version, as the server does: a twin's reject would refuse it every round
        if ((mine or adopted) and p["status"] == "open" and ev.version_approved(obs, p)
                and p["canonical_hash"] not in taken):
            return Enqueue(proposal_id=p["id"], seed=obs.seed, team_id=team,
                           rationale="approved by a critic; queued for my team")
    return None


def _explore(obs: Observation, families: list[str]) -> tuple[str, str] | None:
    tried = {p["family"] for p in obs.proposals}
    untried = [f for f in families if f not in tried]
    if not untried:
        return None
    pick = untried[ev.agent_index(obs.agent) % len(untried)]
    return pick, f"diversity: {pick} is untried (untried families: {', '.join(untried)})"


def _base_recipe(obs: Observation, family: str, design: dict[str, Any]) -> dict[str, Any]:
    """The representation to use for ``family``: its best recipe's, else the champion's, else the default."""
    best = [s for s in ev.by_recipe(obs).values() if s.family == family]
    if best:
        sign = ev.direction(obs)
        return max(best, key=lambda s: sign * s.mean).recipe
    champ = ev.champion_recipe(obs)
    if champ is not None:
        # the champion's representation, not its hyperparameters: another family has other ones
        # (coxnet's parameters on a Cox champion were refused as "no parameter 'ties'")
        return champ if champ.get("family") == family else {**champ, "family": family, "params": {}}
    return representations(ev.summary(obs), design)[0].recipe(family, {})


def _untried_representation(obs: Observation, families: list[str],
                            design: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The best family's best recipe with a representation nobody has proposed yet."""
    best = ev.family_best(obs)
    ranked = sorted((f for f in families if f in best), key=lambda f: -ev.direction(obs) * best[f])
    if not ranked:
        return None
    base = _base_recipe(obs, ranked[0], design)
    proposed = {p["canonical_hash"] for p in obs.proposals}
    for rep in representations(ev.summary(obs), design)[1:]:
        recipe = Recipe.parse(rep.recipe(ranked[0], base.get("params", {}))).canonical_dict()
        if canonical_hash(recipe) not in proposed:
            return recipe, rep.idea
    return None


def _tune(obs: Observation, family: str, design: dict[str, Any]) -> dict[str, Any] | None:
    space = search_space(family, bool(design.get("penalise")))
    stats = [s for s in ev.by_recipe(obs).values() if s.family == family]
    told = [(s.recipe.get("params", {}), s.mean) for s in stats]
    proposed = [p["recipe"].get("params", {}) for p in obs.proposals if p["family"] == family]
    seed = ev.stable_seed(obs.seed, family, len(proposed), obs.agent)  # analysts tuning together ask apart
    params = suggest(family, space, told, proposed, seed, obs.task.higher_is_better)
    if params is None:
        return None
    base = _base_recipe(obs, family, design)
    return {**base, "family": family, "params": {**base.get("params", {}), **params}}


def _slope(results: list[dict[str, Any]]) -> float | None:
    """Mean recorded OOF calibration slope of one recipe's results (None when none was recorded)."""
    from autods.judge.calibration_gate import slope_from_artifacts

    slopes = [s for s in (slope_from_artifacts(r.get("artifacts") or {})[0] for r in results) if s is not None]
    return sum(slopes) / len(slopes) if slopes else None


def _recalibration(obs: Observation) -> Propose | None:
    """The Platt variant of the best binary recipe the calibration gate would refuse as champion."""
    from autods.judge.calibration_gate import RECALIBRATED_FAMILY, SLOPE_BAND
    from autods.runners.calibrate import recalibrated

    if obs.task.task_type != "binary":
        return None
    sign, champ = ev.direction(obs), ev.champion_value(obs)
    champ_hash = None if obs.champion is None else obs.champion["recipe_hash"]
    proposed = {p["canonical_hash"] for p in obs.proposals}
    low, high = SLOPE_BAND
    candidates = []
    for st in ev.by_recipe(obs).values():
        if st.family in (RECALIBRATED_FAMILY, *_NOT_MEMBERS) or not st.recipe:
            continue
        slope = _slope([r for r in obs.results if r["recipe_hash"] == st.recipe_hash])
        if slope is None or low <= slope <= high:
            continue
        if champ is None or st.recipe_hash == champ_hash or sign * st.mean > sign * champ:
            candidates.append((st, slope))
    for st, slope in sorted(candidates, key=lambda c: -sign * c[0].mean):
        variant = recalibrated(st.recipe, "platt")
        if canonical_hash(variant) in proposed:
            continue
        gain, evidence_text = ev.expected_gain(obs, variant)
        return Propose(recipe=variant, family=RECALIBRATED_FAMILY, title=f"recalibrate: platt {st.family}",
                       hypothesis=(f"{st.family} ({obs.task.metric} {st.mean:.4f}) has an out-of-fold calibration "
                                   f"slope of {slope:.3f}, outside [{low}, {high}], so promotion refuses it; Platt "
                                   f"recalibration inside the training fold repairs its risks at the same "
                                   f"discrimination.")[:1000],
                       expected_effect=round(gain, 6), rationale=evidence_text[:2000])
    return None


def _member_key(st: ev.RecipeStats) -> str:
    # a recalibrated recipe is its base family for diversity: Platt does not change what a model learns
    return str(st.recipe.get("params", {}).get("base", st.family)) if st.family == "calibrated" else st.family


def _ensemble(obs: Observation, dead: set[str]) -> Propose | None:
    """An ensemble of the best recipe of each of the best families, once enough families have results."""
    if "ensemble" in dead or _gain_rejected(obs, "ensemble"):
        return None
    earlier = [p for p in obs.proposals if p["family"] == "ensemble"]
    live = {q["recipe_hash"] for q in obs.queue if q["status"] in ("pending", "claimed")}
    waiting = [p for p in earlier if (p["status"] == "open" and not ev.objected(p)) or p["canonical_hash"] in live]
    if len(earlier) >= ENSEMBLE_MAX or waiting:
        return None  # the cap, or one still awaiting critique or its result
    sign = ev.direction(obs)
    best: dict[str, ev.RecipeStats] = {}
    for st in ev.by_recipe(obs).values():
        key = _member_key(st)
        if st.family in _NOT_MEMBERS or not st.recipe or (key in best and sign * best[key].mean >= sign * st.mean):
            continue
        best[key] = st
    if len(best) < ENSEMBLE_MIN_FAMILIES:
        return None
    ranked = sorted(best.values(), key=lambda st: -sign * st.mean)[:ENSEMBLE_MEMBERS]
    members = [st.recipe for st in ranked]
    methods = ("caruana",) if obs.task.task_type in ("multiclass", "singlecell") else ("caruana", "stack")
    proposed = {p["canonical_hash"] for p in obs.proposals}
    for method in methods:
        recipe = Recipe.parse({"family": "ensemble", "params": {"members": members, "method": method}}).canonical_dict()
        if canonical_hash(recipe) in proposed:
            continue
        gain, evidence_text = ev.expected_gain(obs, recipe)
        names = ", ".join(f"{st.family} {st.mean:.4f}" for st in ranked)
        how = ("greedy selection with replacement (Caruana 2004)" if method == "caruana"
               else "a penalised stack on their out-of-fold scores")
        return Propose(recipe=recipe, family="ensemble", title=f"ensemble: {method} of {len(members)} families",
                       hypothesis=(f"an ensemble of the best recipe of {len(members)} families ({names}), weighted by "
                                   f"{how} inside each fold, improves {obs.task.metric} over the champion: their "
                                   f"errors differ.")[:1000],
                       expected_effect=round(gain, 6), rationale=evidence_text[:2000])
    return None


def _propose(obs: Observation, n_analysts: int, design: dict[str, Any]) -> Action | None:
    dead = _dead_families(obs)
    special = _recalibration(obs) or _ensemble(obs, dead)
    if special is not None:
        return special
    # the design decides whether the whole portfolio is on the menu (design.py: small cohorts)
    families = [f for f in families_for(obs.task.task_type, bool(design.get("penalise")),
                                        portfolio=bool(design.get("portfolio"))) if f not in dead]
    families = [f for f in families if not _gain_rejected(obs, f)]
    if not families:
        return None
    mine = ev.proposals_by(obs, obs.agent)
    idx = ev.agent_index(obs.agent)
    explorer = (len(mine) + idx) % n_analysts == 0
    stuck = [p["id"] for p in obs.posts if p["kind"] == "stuck"]
    if stuck and (not mine or mine[-1]["post_id"] is None or mine[-1]["post_id"] < stuck[-1]):
        explorer = True  # a stagnation alarm after my last proposal: pivot
    note = ""
    if explorer:
        found = _explore(obs, families)
        if found is not None:
            family, note = found
            rep = _base_recipe(obs, family, design)
            start = starting_params(family, search_space(family, bool(design.get("penalise"))))
            recipe = {**rep, "family": family, "params": start}
            return _proposal(obs, recipe, note, "explore")
        note = f"no untried family left ({', '.join(families)} all tried or dead ends)"
        rep = _untried_representation(obs, families, design)
        if rep is not None:
            return _proposal(obs, rep[0], f"{note}: an untried representation instead ({rep[1]})", "explore")
        note += ": tuning instead. "
    sign = ev.direction(obs)
    best = ev.family_best(obs)
    ranked = sorted((f for f in families if f in best), key=lambda f: -sign * best[f]) or families
    order = ranked[idx % len(ranked):] + ranked[: idx % len(ranked)]
    for family in order:
        recipe = _tune(obs, family, design)
        if recipe is not None:
            return _proposal(obs, recipe, note + f"tune {family} (rank {ranked.index(family) + 1} by best result)",
                             "tune")
    return None


def _proposal(obs: Observation, recipe: dict[str, Any], why: str, mode: str) -> Propose:
    canonical = Recipe.parse(recipe).canonical_dict()
    gain, evidence_text = ev.expected_gain(obs, canonical)
    family = canonical["family"]
    changed = {k: v for k, v in canonical["params"].items() if FAMILIES[family].defaults.get(k) != v}
    hypothesis = (f"{family} with {changed or 'its defaults'} improves {obs.task.metric} over the champion. "
                  f"{why}.")[:1000]
    return Propose(recipe=canonical, hypothesis=hypothesis, expected_effect=round(gain, 6), family=family,
                   title=f"{mode}: {family}", rationale=evidence_text[:2000])


def _diagnosis_team(obs: Observation, mine: list[dict[str, Any]]) -> FormTeam | None:
    """A team is a lens on a diagnosis: formed around my first idea that survived critique,
    it is named for the diagnosis the idea tests and holds that diagnosis' claim as its
    hypothesis (the family is one way of testing it, not the team's identity)."""
    idea = next((p for p in mine if p.get("idea") is not None and ev.approved(p)), None)
    if idea is None:
        return None
    did = idea["idea"]["diagnosis_id"]
    node = next((d for d in obs.diagnoses if d["id"] == did), None)
    if node is None:
        return None
    key = diagnosis_key(node["claim"]) or f"diagnosis {did}"
    return FormTeam(name=f"{obs.agent}: [{key}]", hypothesis=node["claim"][:500],
                    strategy=f"ideas testing diagnosis {did}, first: {idea['title'][:150]}",
                    rationale=f"idea {idea['id']} on diagnosis {did} survived critique")


def analyst(obs: Observation, n_analysts: int, *, relations: bool = True) -> Action:
    design = ev.design(obs)
    if design is None or obs.noise_floor is None:
        return Wait(rationale="waiting for the design and the noise floor")
    mine = ev.proposals_by(obs, obs.agent)
    team = _my_team(obs)
    if team is None:
        lens = _diagnosis_team(obs, mine)
        if lens is not None:
            return lens
        survivor = next((p for p in mine if ev.approved(p)), None)
        if survivor is not None:
            return FormTeam(name=f"{obs.agent}: {survivor['family']}", hypothesis=survivor["hypothesis"][:500],
                            strategy=survivor["title"], rationale="a proposal survived critique")
    # diagnoses and their ideas first; generic proposals below
    graph = graph_step(obs, n_analysts, team, relations=relations)
    if graph is not None:
        return graph
    queued = _enqueue(obs, n_analysts, team)
    if queued is not None:
        return queued
    awaiting = [p for p in mine if p["status"] == "open" and not ev.objected(p)]
    open_all = [p for p in obs.proposals if p["status"] == "open" and not ev.objected(p)]
    if awaiting or ev.budget_left(obs) - len(open_all) <= 0:
        return Wait(rationale="a proposal of mine awaits critique" if awaiting else "the budget is committed")
    proposal = _propose(obs, n_analysts, design)
    return proposal if proposal is not None else Wait(rationale="no recipe worth proposing")


__all__ = ["analyst"]
