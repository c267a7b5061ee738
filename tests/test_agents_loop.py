"""The step loop: an invalid or refused action goes back to the brain as feedback; a valid
one reaches the server through the agent's own client, in canonical form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agents_helpers import InProcess, summary
from autods.agents.actions import Critique, Enqueue, Propose
from autods.agents.doubles import ScriptedBrain
from autods.agents.loop import Agent, RoundContext, run_round
from autods.agents.roles import ROLES, TeamSpec
from autods.agents.snapshot import SUMMARY_KEY, SnapshotReader
from autods.state import roles as server_roles


@pytest.fixture()
def svc(tmp_path: Path) -> Iterator[InProcess]:
    env = InProcess(tmp_path / "state.db")
    env.client("steward", "steward").post("finding", "summary", "", {SUMMARY_KEY: summary()})
    yield env
    env.close()


def _round(env: InProcess, agents: list[Agent], phase: str = "execution", budget_used: int = 0) -> list:
    viewer = env.clients[0]
    snap = SnapshotReader(viewer).read()
    return run_round(agents, snap, RoundContext(1, phase, 10, budget_used, 0))


def _agent(env: InProcess, name: str, role: str, actions: list) -> Agent:
    return Agent(name, ROLES[role], ScriptedBrain(actions, name=name), env.client(name, role))


def test_roles_offer_exactly_the_actions_the_server_grants() -> None:
    verbs = {"propose": "propose", "critique": "critique", "enqueue": "enqueue", "claim": "claim", "post": "post",
             "mark_dead_end": "add_dead_end", "form_team": "create_team", "set_team_status": "set_team_status",
             "abort": "abort", "promote": "promote"}
    for spec in ROLES.values():
        for kind, verb in verbs.items():
            assert spec.may(kind) == server_roles.allowed(spec.server_role, verb), (spec.name, kind)
        assert spec.may("wait") and spec.description
    assert not ROLES["experimenter"].may("propose") and not ROLES["analyst"].may("promote")
    team = TeamSpec().members()
    assert sum(r == "analyst" for _, r in team) == 3 and sum(r == "experimenter" for _, r in team) == 6
    assert TeamSpec.single_agent().members().count(("analyst-1", "analyst")) == 1


def test_invalid_and_forbidden_actions_come_back_as_feedback(svc: InProcess) -> None:
    bad = _agent(svc, "analyst-1", "analyst", [])
    bad.brain = ScriptedBrain([])
    bad.brain.decide = lambda obs: {"kind": "propose", "recipe": {"family": "logistic"}}  # type: ignore[method-assign]
    exp = _agent(svc, "experimenter-1", "experimenter",
                 [Propose(recipe={"family": "logistic"}, hypothesis="h", expected_effect=0.0, family="logistic")])
    out = _round(svc, [bad, exp])
    assert not out[0].ok and "invalid action" in (out[0].feedback or "")
    assert not out[1].ok and "may not propose" in (out[1].feedback or "") and "claim" in (out[1].feedback or "")
    assert exp.feedback == out[1].feedback


def test_a_bad_recipe_is_refused_before_the_server(svc: InProcess) -> None:
    a = _agent(svc, "analyst-1", "analyst",
               [Propose(recipe={"family": "no_such"}, hypothesis="h", expected_effect=0.0, family="no_such")])
    out = _round(svc, [a])
    assert not out[0].ok and "unknown model family" in (out[0].feedback or "")
    assert svc.clients[0].list_proposals() == []


def test_server_refusals_are_feedback_and_the_next_observation_carries_them(svc: InProcess) -> None:
    a = _agent(svc, "analyst-1", "analyst",
               [Propose(recipe={"family": "logistic"}, hypothesis="h", expected_effect=0.0, family="logistic"),
                Enqueue(proposal_id=1)])
    first = _round(svc, [a])
    assert first[0].ok
    (prop, _), = svc.clients[0].list_proposals()
    assert prop.recipe["params"]["C"] == 1.0 and prop.recipe["preprocess"]["impute"] == "median"  # canonical form
    second = _round(svc, [a])
    assert not second[0].ok and "needs_approval" in (second[0].feedback or "")
    _round(svc, [a])
    assert a.brain.observations[-1].feedback is not None  # type: ignore[attr-defined]
    assert "needs_approval" in a.brain.observations[-1].feedback  # type: ignore[attr-defined]


def test_enqueue_waits_for_execution_and_budget(svc: InProcess) -> None:
    a = _agent(svc, "analyst-1", "analyst",
               [Propose(recipe={"family": "logistic"}, hypothesis="h", expected_effect=0.0, family="logistic")])
    v = _agent(svc, "validator-1", "validator", [])
    _round(svc, [a, v])
    v.brain = ScriptedBrain([Critique(proposal_id=1, verdict="approve", reasons=["fine"])])
    a.brain = ScriptedBrain([Enqueue(proposal_id=1), Enqueue(proposal_id=1), Enqueue(proposal_id=1)])
    out = _round(svc, [v, a], phase="discussion")
    assert out[0].ok and not out[1].ok and "execution phase" in (out[1].feedback or "")
    out = _round(svc, [a], budget_used=10)
    assert not out[0].ok and "budget" in (out[0].feedback or "")
    out = _round(svc, [a])
    assert out[0].ok and out[0].created["item_id"] == 1
