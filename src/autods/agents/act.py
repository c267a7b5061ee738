"""Validate a brain's action and carry it out through the agent's client.

Validation, in order: the action parses into the closed union (pydantic); the agent's role
may take it (derived from the server's role table); the run's state allows it (budget left,
execution phase for enqueues); a proposed recipe parses as a :class:`Recipe` and is sent in
canonical form (defaults filled) so equal recipes hash equal on the server. Anything refused
here or by the server (403 / 409) comes back as feedback text for the brain's next step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from autods.agents.actions import (
    Abort,
    Action,
    Claim,
    AnswerTicket,
    Critique,
    Diagnose,
    Dispatch,
    Enqueue,
    FormTeam,
    MarkDeadEnd,
    Post,
    Promote,
    Propose,
    ProposeIdea,
    Relate,
    SetTeamStatus,
    SetTier,
    Wait,
    parse_action,
)
from autods.agents.client import AgentClient
from autods.agents.roles import RoleSpec
from autods.errors import PermissionDenied, ProtocolViolation, RecipeError
from autods.server.transport import ServerError


@dataclass(frozen=True)
class Gate:
    """What the orchestrator allows this round, beyond role permissions."""

    budget_left: int
    phase: str
    #: experiments queued earlier this round by other agents (all decided on one snapshot)
    queued_this_round: int = 0


@dataclass
class Outcome:
    """What happened to one action: ``ok``, what it created, or why it was refused."""

    kind: str
    ok: bool
    feedback: str | None = None
    created: dict[str, Any] = field(default_factory=dict)
    claimed: dict[str, Any] | None = None


def validate(raw: Any, role: RoleSpec, gate: Gate) -> tuple[Action | None, str | None]:
    """The action to apply, or None with the reason it is refused."""
    try:
        action = parse_action(raw.model_dump() if hasattr(raw, "model_dump") else raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return None, f"invalid action ({where}: {first['msg']}); answer with one action of the allowed kinds"
    if not role.may(action.kind):
        return None, (f"role {role.name} may not {action.kind}; allowed: {', '.join(role.allowed_actions)}")
    if isinstance(action, (Enqueue, Dispatch)):
        if gate.phase != "execution":
            return None, f"{action.kind} waits for the execution phase (now: {gate.phase})"
        if gate.budget_left <= 0:
            return None, "the experiment budget is spent: nothing more can be enqueued"
    if isinstance(action, Dispatch) and gate.queued_this_round:
        # dispatch hands out every NOW idea that can run; the brain counted them against a budget
        # that has moved since its snapshot, so the count may overrun it: next round decides again
        return None, (f"dispatch waits: {gate.queued_this_round} experiment(s) were queued this round after "
                      "your snapshot was read; decide again on the next one")
    if isinstance(action, Dispatch) and len(set(action.seeds)) > gate.budget_left:
        action = action.model_copy(update={"seeds": sorted(set(action.seeds))[:gate.budget_left]})
    if isinstance(action, SetTier) and action.tier == "CUT" and not (action.resurrect_if or "").strip():
        return None, "a CUT needs resurrect_if: say which evidence would bring the idea back"
    if isinstance(action, AnswerTicket):
        bare = [a.ticket_id for a in action.answers if a.answer == "CUT" and not (a.resurrect_if or "").strip()]
        if bare:
            return None, f"CUT answers need resurrect_if (tickets {bare})"
    if isinstance(action, (Propose, ProposeIdea)):
        try:
            from autods.runners.recipe import Recipe

            recipe = Recipe.parse(action.recipe)
        except RecipeError as exc:
            return None, f"recipe refused: {exc}"
        canonical = recipe.canonical_dict()
        update: dict[str, Any] = {"recipe": canonical}
        if isinstance(action, Propose):
            update["family"] = recipe.family
        action = action.model_copy(update=update)
    return action, None


def apply(action: Action, client: AgentClient, team_id: int | None) -> Outcome:
    """Carry out a validated action; protocol refusals become feedback, never exceptions."""
    try:
        return _apply(action, client, team_id)
    except (ProtocolViolation, PermissionDenied) as exc:
        rule = getattr(exc, "rule", "permission")
        return Outcome(action.kind, False, f"refused by the server ({rule}): {exc}")
    except ServerError as exc:
        return Outcome(action.kind, False, f"the server could not take it: {exc}")


def _apply(action: Action, c: AgentClient, team_id: int | None) -> Outcome:
    kind = action.kind
    if isinstance(action, Wait):
        return Outcome(kind, True)
    if isinstance(action, Propose):
        p = c.propose(action.recipe, action.hypothesis, action.expected_effect, action.family, action.title,
                      action.team_id if action.team_id is not None else team_id, revises=action.revises)
        return Outcome(kind, True, created={"proposal_id": p.id, "recipe_hash": p.canonical_hash})
    if isinstance(action, Critique):
        cr = c.critique(action.proposal_id, action.verdict, "; ".join(action.reasons), action.reopens_dead_end)
        return Outcome(kind, True, created={"critique_id": cr.id})
    if isinstance(action, Enqueue):
        item = c.enqueue(action.proposal_id, action.seed, action.team_id if action.team_id is not None else team_id)
        return Outcome(kind, True, created={"item_id": item.id})
    if isinstance(action, Claim):
        claimed = c.claim(action.team_id)
        if claimed is None:
            return Outcome(kind, True, "nothing was pending in that queue")
        return Outcome(kind, True, created={"item_id": claimed.id}, claimed=claimed.model_dump(mode="json"))
    if isinstance(action, Post):
        post = c.post(action.post_kind, action.title, action.body, {"rationale": action.rationale} if action.rationale
                      else None, action.thread_id, action.team_id if action.team_id is not None else team_id)
        return Outcome(kind, True, created={"post_id": post.id})
    if isinstance(action, MarkDeadEnd):
        de = c.add_dead_end(action.family, action.region, action.reason, action.evidence, action.team_id)
        return Outcome(kind, True, created={"dead_end_id": de.id})
    if isinstance(action, FormTeam):
        team = c.create_team(action.name, action.hypothesis, action.strategy)
        return Outcome(kind, True, created={"team_id": team.id})
    if isinstance(action, SetTeamStatus):
        team = c.set_team_status(action.team_id, action.status)
        return Outcome(kind, True, created={"team_id": team.id, "status": team.status})
    if isinstance(action, Abort):
        item = c.abort(action.item_id, action.reason)
        return Outcome(kind, True, created={"item_id": item.id})
    if isinstance(action, Promote):
        champ = c.promote(action.result_id, action.confirming_result_id)
        return Outcome(kind, True, created={"champion_id": champ.id, "result_id": champ.result_id})
    graph = _apply_graph(action, c, team_id)
    if graph is not None:
        return graph
    raise TypeError(f"unhandled action kind {kind!r}")  # the union is closed: a new kind needs a branch here



def _apply_graph(action: Action, c: AgentClient, team_id: int | None) -> Outcome | None:
    """The hypothesis graph's actions; None for any other kind."""
    kind = action.kind
    if isinstance(action, Diagnose):
        d = c.add_diagnosis(action.claim, action.finding_ids, action.result_ids)
        return Outcome(kind, True, created={"diagnosis_id": d.id})
    if isinstance(action, ProposeIdea):
        idea = c.propose_idea(action.diagnosis_id, action.recipe, action.hypothesis, action.if_works,
                              action.if_fails, action.expected_effect, action.effect_basis, action.effect_result_ids,
                              surprise_if=action.surprise_if, title=action.title,
                              team_id=action.team_id if action.team_id is not None else team_id)
        return Outcome(kind, True, created={"idea_id": idea.id, "proposal_id": idea.id,
                                            "recipe_hash": idea.canonical_hash})
    if isinstance(action, SetTier):
        change = c.set_tier(action.idea_id, action.tier, action.reason, action.demote, action.resurrect_if,
                            action.surprise_if)
        created: dict[str, Any] = {"idea_id": change.idea.id, "tier": change.idea.tier}
        if change.demoted is not None:
            created["demoted"] = change.demoted.id
        return Outcome(kind, True, created=created)
    if isinstance(action, Relate):
        rel = c.relate(action.src_id, action.dst_id, action.relation, action.reason)
        return Outcome(kind, True, created={"relation_id": rel.id})
    if isinstance(action, Dispatch):
        # team_id as given: None dispatches every NOW idea (an idea proposed before its author
        # formed a team has none, so the agent's team would filter it out)
        out = c.dispatch(list(action.seeds), action.team_id)
        skipped = "; ".join(f"idea {s.idea_id}: {s.reason}" for s in out.skipped)[:1500]
        if not out.items:  # not ok: a dispatch that queued nothing must not count as progress
            return Outcome(kind, False, f"dispatch: nothing queued ({skipped or 'no NOW idea to hand out'})",
                           created={"item_ids": []})
        return Outcome(kind, True, skipped or None, created={"item_ids": [i.id for i in out.items], "skipped": [s.idea_id for s in out.skipped]})
    if isinstance(action, AnswerTicket):
        return _answer(action, c)
    return None


def _answer(action: AnswerTicket, c: AgentClient) -> Outcome:
    """Answer each ticket in turn; one refused (answered meanwhile, NOW full) does not stop the others."""
    answered: list[int] = []
    refused: list[str] = []
    for a in action.answers:
        try:
            c.answer_ticket(a.ticket_id, a.answer, a.reason, a.resurrect_if, a.demote)
            answered.append(a.ticket_id)
        except (ProtocolViolation, PermissionDenied, ServerError) as exc:
            refused.append(f"ticket {a.ticket_id} ({getattr(exc, 'rule', 'refused')}): {exc}")
    feedback = "; ".join(refused)[:1500] or None
    return Outcome(action.kind, bool(answered) or not refused, feedback,
                   created={"tickets": answered, "refused": len(refused)})


__all__ = ["Gate", "Outcome", "apply", "validate"]
