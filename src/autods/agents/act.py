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
    Critique,
    Enqueue,
    FormTeam,
    MarkDeadEnd,
    Post,
    Promote,
    Propose,
    SetTeamStatus,
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
    if isinstance(action, Enqueue):
        if gate.phase != "execution":
            return None, f"enqueue waits for the execution phase (now: {gate.phase})"
        if gate.budget_left <= 0:
            return None, "the experiment budget is spent: nothing more can be enqueued"
    if isinstance(action, Propose):
        try:
            from autods.runners.recipe import Recipe

            recipe = Recipe.parse(action.recipe)
        except RecipeError as exc:
            return None, f"recipe refused: {exc}"
        canonical = recipe.canonical_dict()
        action = action.model_copy(update={"recipe": canonical, "family": recipe.family})
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
    raise TypeError(f"unhandled action kind {kind!r}")  # the union is closed: a new kind needs a branch here


__all__ = ["Gate", "Outcome", "apply", "validate"]
