"""The step loop: observe -> ``Brain.decide`` -> validate -> act -> record.

Agents step in synchronous rounds (see :mod:`autods.agents.snapshot`): every agent observes
the same snapshot, decides, and the actions are applied in the team's fixed order. A
refused or invalid action is not retried here; its reason is the brain's ``feedback`` on
its next step, which is how an LLM learns the protocol and how the expert brain avoids
asking twice.

Brains that call a model are slow, so their decisions in a round run in threads (the
observation they see is fixed, so the order of answers does not matter); the expert brain
decides in the calling thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from autods.agents.act import Gate, Outcome, apply, validate
from autods.agents.actions import Action, Wait
from autods.agents.brain import Brain
from autods.agents.client import AgentClient
from autods.agents.roles import RoleSpec
from autods.agents.snapshot import Snapshot
from autods.errors import GuardrailBlocked, PermissionDenied, ProtocolViolation, RecipeError, RetryableError
from autods.server.transport import ServerError

Recorder = Callable[[dict[str, Any]], None]
REFUSED = "proposal refused:"


@dataclass
class Agent:
    """One member of the team: a name, a role, a brain and its own authenticated client."""

    name: str
    role: RoleSpec
    brain: Brain
    client: AgentClient
    team_id: int | None = None
    steps: int = 0
    feedback: str | None = None

    @property
    def slow(self) -> bool:
        return not getattr(self.brain, "deterministic", False)


@dataclass(frozen=True)
class RoundContext:
    """What the orchestrator tells every agent this round."""

    round: int
    phase: str
    budget_total: int
    budget_used: int
    seed: int
    stagnating: bool = False

    queued_this_round: int = 0

    @property
    def gate(self) -> Gate:
        return Gate(budget_left=self.budget_total - self.budget_used, phase=self.phase,
                    queued_this_round=self.queued_this_round)


def observe(agent: Agent, snap: Snapshot, ctx: RoundContext) -> Any:
    return snap.observation(
        agent=agent.name, role=agent.role.name, team_id=agent.team_id, step=agent.steps, phase=ctx.phase,
        allowed=list(agent.role.allowed_actions), budget_total=ctx.budget_total, budget_used=ctx.budget_used,
        feedback=agent.feedback, seed=ctx.seed, stagnating=ctx.stagnating,
    )


def _decide(agent: Agent, snap: Snapshot, ctx: RoundContext) -> tuple[Any, str | None]:
    """The brain's raw answer, or Wait with the reason the brain could not answer."""
    obs = observe(agent, snap, ctx)
    try:
        return agent.brain.decide(obs), None
    except GuardrailBlocked as exc:
        return Wait(), f"your last prompt was blocked by the egress gate ({exc}); use aggregates only"
    except RetryableError as exc:
        return Wait(), f"the model did not answer ({type(exc).__name__}); try again"
    except ValidationError as exc:
        return Wait(), f"your answer was not a valid action ({exc.errors()[0]['msg']})"
    except RecipeError as exc:
        # A recipe the brain built itself (the expert one included) is the brain's mistake, not
        # the user's input: it goes back to the brain as a refused proposal; the run goes on.
        return Wait(), f"{REFUSED} {exc}; propose a recipe its family accepts"


def decide_all(agents: Sequence[Agent], snap: Snapshot, ctx: RoundContext) -> list[tuple[Any, str | None]]:
    slow = [i for i, a in enumerate(agents) if a.slow]
    answers: list[tuple[Any, str | None] | None] = [None] * len(agents)
    if len(slow) > 1:
        with ThreadPoolExecutor(max_workers=min(8, len(slow)), thread_name_prefix="autods-brain") as pool:
            for i, ans in zip(slow, pool.map(lambda i: _decide(agents[i], snap, ctx), slow)):
                answers[i] = ans
    for i, agent in enumerate(agents):
        if answers[i] is None:
            answers[i] = _decide(agent, snap, ctx)
    return [a for a in answers if a is not None]


def act(agent: Agent, raw: Any, brain_error: str | None, ctx: RoundContext,
        record: Recorder | None = None) -> Outcome:
    """Validate and apply one decision; remember the feedback; record non-trivial steps."""
    agent.steps += 1
    action: Action | None
    if brain_error is not None:
        refused = brain_error.startswith(REFUSED)
        action, outcome = Wait(), Outcome("propose" if refused else "wait", False, brain_error)
        if refused and brain_error != agent.feedback:
            _post_refusal(agent, brain_error)
    else:
        action, refusal = validate(raw, agent.role, ctx.gate)
        outcome = Outcome(getattr(raw, "kind", "invalid"), False, refusal) if action is None else \
            apply(action, agent.client, agent.team_id)
    agent.feedback = outcome.feedback if not outcome.ok else None
    if outcome.ok and outcome.kind == "form_team" and agent.team_id is None:
        agent.team_id = int(outcome.created["team_id"])
    entry = {"type": "agent_step", "round": ctx.round, "agent": agent.name, "role": agent.role.name,
             "action": _brief(action if action is not None else raw), "ok": outcome.ok,
             "feedback": outcome.feedback, "created": outcome.created}
    if record is not None and (outcome.kind != "wait" or not outcome.ok):
        record(entry)
    return outcome


def _post_refusal(agent: Agent, reason: str) -> None:
    """Tell the forum once that this agent's proposal was refused (the audit log has every step)."""
    if not agent.role.may("post"):
        return
    try:
        agent.client.post("note", f"{agent.name}: proposal refused", reason[:1000], {"refused": True})
    except (ProtocolViolation, PermissionDenied, ServerError):
        pass  # the refusal is still the brain's feedback and an audit line


def _brief(action: Any) -> dict[str, Any]:
    """The action as logged: everything but long free text."""
    data = action.model_dump(mode="json") if hasattr(action, "model_dump") else {"raw": str(action)[:500]}
    for key in ("body", "hypothesis", "rationale"):
        if isinstance(data.get(key), str) and len(data[key]) > 300:
            data[key] = data[key][:300] + "..."
    return json.loads(json.dumps(data, default=str))


def run_round(agents: Sequence[Agent], snap: Snapshot, ctx: RoundContext,
              record: Recorder | None = None) -> list[Outcome]:
    """One synchronous round: all decide on ``snap``, then act in order."""
    decisions = decide_all(agents, snap, ctx)
    outcomes, used = [], ctx.budget_used
    for agent, (raw, err) in zip(agents, decisions):
        # the budget gate counts this round's enqueues and dispatched items: agents decided on the same snapshot
        outcome = act(agent, raw, err, replace(ctx, budget_used=used, queued_this_round=used - ctx.budget_used),
                      record)
        used += int(outcome.ok and outcome.kind == "enqueue") + (
            len(outcome.created.get("item_ids", [])) if outcome.ok and outcome.kind == "dispatch" else 0)
        outcomes.append(outcome)
    return outcomes


__all__ = ["Agent", "RoundContext", "act", "decide_all", "observe", "run_round"]
