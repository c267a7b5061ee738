"""Policies of the validator / critic, the experimenter, the steward, the feature agent and
the translator. The analyst, biostatistician and monitor have their own modules."""

from __future__ import annotations

from typing import Any

from autods.agents.actions import Action, Claim, Critique, MarkDeadEnd, Post, Promote, Propose, Wait
from autods.agents.expert import critic
from autods.agents.expert import evidence as ev
from autods.agents.expert.design import BASELINE_PREFIX
from autods.agents.expert.library import representations
from autods.agents.expert.verdicts import answer_tickets
from autods.agents.observation import Observation
from autods.runners.recipe import Recipe

DEAD_END_MIN = 2  # "repeated losses": recipes of a family that must all lose before it is a dead end
VALIDATION_TEAM = "validation"


# -- validator / critic ----------------------------------------------------------------------

def _beats(obs: Observation, value: float, reference: float) -> bool:
    return ev.direction(obs) * (value - reference) > ev.floor(obs)


def _two_seeds(rs: list[dict]) -> tuple[dict, dict] | None:
    """``rs`` best first: the best result and the best confirmation on another seed or split."""
    for other in rs[1:]:
        if (other["seed"], other["split"]) != (rs[0]["seed"], rs[0]["split"]):
            return rs[0], other
    return None


def _calibrated(result: dict, family: str, first: bool) -> bool:
    """The server's calibration gate, asked before a promotion it would refuse (a run's first
    champion is not gated there)."""
    from autods.judge.calibration_gate import calibration_verdict, slope_from_artifacts

    slope, method = slope_from_artifacts(result.get("artifacts") or {})
    return calibration_verdict(slope, family, method, first=first).ok


def promote(obs: Observation) -> Promote | None:
    """The recipe the server's promotion rule would accept, best first.

    On the plan's shared folds that is the server's own paired rule
    (:func:`autods.server.protocol.paired_verdict`: better by the corrected t-test, or simpler
    and not separated); for results off those folds, two seeds that both beat the champion by
    more than the noise floor. The first champion needs only the two results.
    """
    from autods.server import protocol

    champ = ev.champion_value(obs)
    sign = ev.direction(obs)
    champ_rs = [] if obs.champion is None else [
        r for r in obs.results if r["id"] in (obs.champion["result_id"], obs.champion["confirming_result_id"])]
    best: tuple[float, int, int, str] | None = None
    for h, st in ev.by_recipe(obs).items():
        if obs.champion is not None and h == obs.champion["recipe_hash"]:
            continue
        mine = [r for r in obs.results if r["recipe_hash"] == h]
        pair = _two_seeds(sorted(mine, key=lambda r: -sign * r["value"]))
        if pair is None or not _calibrated(pair[0], st.family, first=obs.champion is None):
            continue  # the server's calibration gate would refuse it: asking again every round blocks my critiques
        both = (*pair, *champ_rs)
        if champ_rs and protocol.on_shared_folds([r["split"] for r in both], [r["fold_scores"] for r in both]):
            ok, why = protocol.paired_verdict([r["fold_scores"] for r in pair], [r["fold_scores"] for r in champ_rs],
                                              pair[0]["split"], sign > 0, st.family, champ_rs[0].get("family") or "")
            if not ok:
                continue
        else:
            rs = [r for r in mine if champ is None or _beats(obs, r["value"], champ)]
            pair = _two_seeds(sorted(rs, key=lambda r: -sign * r["value"])) if len(rs) >= 2 else None
            if pair is None:
                continue
            why = "beats the champion by more than the noise floor on two seeds"
        score = sign * (pair[0]["value"] + pair[1]["value"]) / 2
        if best is None or score > best[0]:
            best = (score, pair[0]["id"], pair[1]["id"], why)
    if best is None:
        return None
    return Promote(result_id=best[1], confirming_result_id=best[2], rationale=best[3][:400])


def critique(obs: Observation, rules_on: bool, n_critics: int = 1) -> Critique | None:
    """Review the oldest open proposal I have not reviewed. With several critics, critic k takes
    the proposals whose id is k modulo their number first (one approval is all the server
    needs, so splitting the work multiplies the review throughput), then any left unreviewed."""
    n = max(1, n_critics)
    mine = ev.agent_index(obs.agent) % n
    todo = [p for p in sorted(obs.proposals, key=lambda p: p["id"])
            if p["status"] == "open" and p.get("author_name") != obs.agent and not ev.critiqued_by(p, obs.agent)]
    reviewed = {p["id"] for p in todo
                if any(str(c.get("author_name", "")).startswith("validator") for c in p.get("critiques", []))}
    todo = [p for p in todo if p["id"] % n == mine] + [p for p in todo if p["id"] % n != mine and p["id"] not in reviewed]
    for p in todo:
        baseline = p["title"].startswith(BASELINE_PREFIX) and p.get("author_name") == "biostatistician"
        if not rules_on:
            return Critique(proposal_id=p["id"], verdict="approve",
                            reasons=["single-agent mode: no critique (the server requires one approval)"])
        rules = (critic.duplicate, critic.leakage) if baseline else critic.RULES
        objections = critic.review(obs, p, rules)
        if objections:
            verdict = "reject" if any(o.verdict == "reject" for o in objections) else "revise"
            return Critique(proposal_id=p["id"], verdict=verdict, reasons=[o.reason for o in objections],
                            rationale=", ".join(o.rule for o in objections))
        gain, _ = ev.expected_gain(obs, p["recipe"])
        reasons = ["not a duplicate or near-duplicate of the champion", "outside every dead end",
                   "uses no excluded or leakage-warned feature", "parameters affordable for the events"]
        if not baseline and obs.champion is not None:
            reasons.append(f"expected gain {gain:+.4f} above the noise floor {ev.floor(obs):.4f}")
        return Critique(proposal_id=p["id"], verdict="approve", reasons=reasons)
    return None


def dead_end(obs: Observation) -> MarkDeadEnd | None:
    champ = ev.champion_value(obs)
    champ_recipe = ev.champion_recipe(obs)
    if champ is None or champ_recipe is None:
        return None
    dead = {d["family"] for d in obs.dead_ends if not d.get("region")}
    stats = ev.by_recipe(obs)
    sign = ev.direction(obs)
    for family in sorted({s.family for s in stats.values()}):
        if family in dead or family == champ_recipe.get("family") or family == "dummy":
            continue
        fam = [s for s in stats.values() if s.family == family]
        losses = [s for s in fam if sign * (s.mean - champ) < -ev.floor(obs)]
        if len(fam) >= DEAD_END_MIN and len(losses) == len(fam):
            best = max(s.mean for s in fam) if sign > 0 else min(s.mean for s in fam)
            return MarkDeadEnd(family=family, region={}, reason=(
                f"{len(fam)} recipes of {family} all lost to the champion by more than the noise floor "
                f"(best {best:.4f} vs champion {champ:.4f}, floor {ev.floor(obs):.4f})"),
                evidence={"recipes": [s.recipe_hash[:12] for s in fam], "best": best, "champion": champ,
                          "noise_floor": ev.floor(obs)})
    return None


def validator(obs: Observation, rules_on: bool, dead_ends_on: bool, n_critics: int = 1) -> Action:
    # Open verdict tickets lock all new work, so they come first: every one, each round.
    # With several validators, the first answers (the others would find them answered).
    if obs.tickets and ev.agent_index(obs.agent) == 0:
        return answer_tickets(obs) or Wait()
    action: Action | None = promote(obs) or critique(obs, rules_on, n_critics)
    if action is None and dead_ends_on:
        action = dead_end(obs)
    return action or Wait()


# -- experimenter ----------------------------------------------------------------------------

def experimenter(obs: Observation) -> Action:
    if any(q["status"] == "claimed" and q.get("claimed_by_name") == obs.agent for q in obs.queue):
        return Wait(rationale="my claimed job is running")
    pending = [q for q in obs.queue if q["status"] == "pending"]
    if not pending:
        return Wait()
    validation = {t["id"] for t in obs.teams if t["name"] == VALIDATION_TEAM}
    if any(q["team_id"] in validation for q in pending):
        return Claim(team_id=min(validation), rationale="confirmation runs first")
    teams = sorted({q["team_id"] for q in pending if q["team_id"] is not None})
    if not teams:
        return Claim()
    return Claim(team_id=teams[ev.agent_index(obs.agent) % len(teams)])


# -- steward, feature agent, translator ------------------------------------------------------

def steward(obs: Observation) -> Action:
    """Objects (never approves) to proposals using excluded or leakage-warned features."""
    for p in obs.proposals:
        if p["status"] != "open" or p.get("author_name") == obs.agent or ev.critiqued_by(p, obs.agent):
            continue
        objection = critic.leakage(obs, p)
        if objection is not None:
            return Critique(proposal_id=p["id"], verdict="reject", reasons=[objection.reason], rationale="leakage")
    return Wait()


def feature(obs: Observation) -> Action:
    """Representation variants (preprocessing, feature sets, composites) on the champion's recipe."""
    champ = ev.champion_recipe(obs)
    design = ev.design(obs)
    if champ is None or design is None or obs.noise_floor is None or ev.budget_left(obs) <= 0:
        return Wait()
    mine = ev.proposals_by(obs, obs.agent)
    if any(p["status"] == "open" and not ev.objected(p) for p in mine):
        return Wait(rationale="my proposal awaits critique")
    proposed = {p["canonical_hash"] for p in obs.proposals}
    for rep in representations(ev.summary(obs), design)[1:]:
        recipe = Recipe.parse(rep.recipe(champ["family"], champ.get("params", {}))).canonical_dict()
        if critic.recipe_hash(recipe) in proposed:
            continue
        gain, evidence_text = ev.expected_gain(obs, recipe)
        return Propose(recipe=recipe, hypothesis=f"{rep.idea} improves the champion {champ['family']}.",
                       expected_effect=round(gain, 6), family=champ["family"], title=f"represent: {rep.name}",
                       rationale=evidence_text)
    return Wait(rationale="every representation of the champion is proposed")


def _model_phrase(obs: Observation, res: dict[str, Any]) -> str:
    """``a lightgbm``; a recalibrated variant reads ``a lightgbm recalibrated with a platt map``."""
    family = str(res.get("family") or "model")
    if family != "calibrated":
        return f"a {family}"
    prop = next((p for p in obs.proposals if p["id"] == res.get("proposal_id")), {})
    params = (res.get("recipe") or prop.get("recipe") or {}).get("params") or {}
    return f"a {params.get('base', 'model')} recalibrated with a {params.get('method', 'monotone')} map"


def translator(obs: Observation) -> Action:
    if obs.phase not in ("validation", "report") or any(p.get("author_name") == obs.agent for p in obs.posts):
        return Wait()
    champ = obs.champion
    if champ is None:
        body = "No model was confirmed as champion; see the experiment log for what was tried."
    else:
        res = next((r for r in obs.results if r["id"] == champ["result_id"]), {})
        ci = "" if res.get("ci_low") is None else f" (95% CI {res['ci_low']:.3f} to {res['ci_high']:.3f})"
        # a recalibrated variant may replace the champion it wraps without a second seed (server rule)
        second = champ.get("confirming_result_id") not in (None, champ["result_id"]) and res.get("family") != "calibrated"
        confirmed = "confirmed on a second seed" if second else "promoted by the server's rule (see the champion history)"
        body = (f"The best model is {_model_phrase(obs, res)} with cross-validated "
                f"{champ['metric']} {champ['value']:.3f}{ci} on the development data, {confirmed}. "
                f"{len(obs.results)} experiments were recorded and {len(obs.dead_ends)} dead end(s) "
                "registered. The held-out test is scored once, by the judge, in the report. Research use "
                "only: not a medical device.")
    return Post(post_kind="note", title="Summary for a clinical reader", body=body)


__all__ = ["VALIDATION_TEAM", "critique", "dead_end", "experimenter", "feature", "promote", "steward",
           "translator", "validator"]
