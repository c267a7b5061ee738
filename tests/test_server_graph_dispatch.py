"""Dispatch on the hypothesis graph when an enqueue it makes is refused (SQLite and marked
PostgreSQL): a NOW idea whose recipe repeats work already queued or run must not hold back
the ideas it could not run beside, and it leaves NOW saying why instead of being offered, and
refused, on every later dispatch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from test_server_graph import Clients, graph_clients

FIRST = {"family": "logistic", "params": {"C": 0.25}}
OTHER = {"family": "logistic", "params": {"C": 4.0}}


@pytest.fixture
def clients(state_url: str) -> Iterator[Clients]:
    yield from graph_clients(state_url, "graph-dispatch", 2)


def _now_idea(c: Clients, diagnosis_id: int, recipe: dict[str, object], title: str) -> int:
    idea = c.a1.propose_idea(diagnosis_id, recipe, "helps", "keep it", "drop it", 0.01, "two baseline results",
                             surprise_if="it loses to the dummy", title=title)
    c.a2.critique(idea.id, "approve", "cheap and sound")
    c.a1.set_tier(idea.id, "NOW", "approved")
    return idea.id


def _run_once(c: Clients) -> None:
    item = c.exp.claim()
    assert item is not None
    c.harness.record_result(item.id, "auc", 0.7, True, [0.69, 0.71])
    for k in c.a1.list_tickets(status="open"):
        c.a2.answer_ticket(k.id, "HOLD", "one seed is not a verdict")


def test_a_duplicate_leaves_now_with_its_reason_and_does_not_block_its_sibling(clients: Clients) -> None:
    c = clients
    plain = c.a1.propose(FIRST, "a plain proposal run before the graph", 0.0, title="ridge first")
    c.a2.critique(plain.id, "approve", "cheap")
    c.a1.enqueue(plain.id, 0)
    _run_once(c)
    d = c.a1.add_diagnosis("[overfitting] the default overfits").id
    dup = _now_idea(c, d, dict(FIRST), "the same recipe again")  # first in NOW, so dispatch tries it first
    sibling = _now_idea(c, d, OTHER, "a new setting")  # same diagnosis: may not run beside dup
    out = c.a1.dispatch(seeds=[0])
    assert [i.proposal_id for i in out.items] == [sibling]  # the duplicate held nothing back
    said = [s for s in out.skipped if s.idea_id == dup]
    assert [s.rule for s in said] == ["duplicate"] and "moved to PARKED" in said[0].reason
    parked = c.a1.get_idea(dup)
    assert parked.tier == "PARKED" and f"proposal(s) [{plain.id}]" in parked.tier_reason
    assert "measure nothing new" in parked.tier_reason
    assert all(s.idea_id != dup for s in c.a1.dispatch(seeds=[0]).skipped)  # not offered again


def test_an_idea_repeating_its_own_run_goes_back_to_next(clients: Clients) -> None:
    c = clients
    d = c.a1.add_diagnosis("[nonlinearity] a bend the linear model misses").id
    x = _now_idea(c, d, OTHER, "x")
    assert [i.proposal_id for i in c.a1.dispatch(seeds=[0]).items] == [x]
    _run_once(c)
    out = c.a1.dispatch(seeds=[0])  # x is still in NOW, its seed 0 has run
    assert out.items == [] and [s.rule for s in out.skipped] == ["duplicate"]
    back = c.a1.get_idea(x)
    assert back.tier == "NEXT" and "its own earlier run" in back.tier_reason
    c.a1.set_tier(x, "NOW", "a second seed confirms it")
    assert [(i.proposal_id, i.seed) for i in c.a1.dispatch(seeds=[0, 1]).items] == [(x, 1)]
    assert c.a1.get_idea(x).tier == "NOW"  # one seed was new: it stays
