"""The hypothesis graph over REST (the client, in-process ASGI; SQLite and marked PostgreSQL) and
one diagnosis -> idea -> critique -> NOW -> result -> ticket -> verdict cycle driven by the
official MCP client over streamable HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autods.errors import Locked, ProtocolViolation
from autods.server.app import create_app
from autods.server.client import Coordinator
from autods.server.transport import ServerError
from autods.server.serve import running_server
from autods.server.service import Service
from autods.state.store import Store
from test_server_mcp import call, connect, refusal

LOGISTIC = {"family": "logistic", "params": {"C": 0.5}}


@dataclass
class Clients:
    a1: Coordinator
    a2: Coordinator
    exp: Coordinator
    harness: Coordinator


def graph_clients(state_url: str, run_name: str, workers: int) -> Iterator[Clients]:
    """Two analysts, an experimenter and the harness over REST on a run with ``workers`` NOW slots."""
    store = Store.open(state_url)
    service = Service(store)
    run = service.create_run(run_name, {"workers": workers})
    app = create_app(service)
    made = [Coordinator(token=service.register_agent(run.id, f"{r}-{n}", r)[1], app=app)
            for n, r in enumerate(("analyst", "analyst", "experimenter", "harness"))]
    yield Clients(*made)
    for c in made:
        c.close()
    store.close()


@pytest.fixture
def clients(state_url: str) -> Iterator[Clients]:
    yield from graph_clients(state_url, "graph-rest", 1)


def _status(exc: pytest.ExceptionInfo[ServerError]) -> tuple[int, str]:
    return exc.value.status, exc.value.code


def _idea(c: Clients, diagnosis_id: int, recipe: dict[str, Any], title: str) -> int:
    idea = c.a1.propose_idea(diagnosis_id, recipe, "helps", "keep it", "drop it", 0.01, "two baseline results",
                             surprise_if="it loses to the dummy", title=title)
    c.a2.critique(idea.id, "approve", "cheap and sound")
    return idea.id


def test_me_lists_the_graph_verbs_each_role_is_granted(clients: Clients) -> None:
    """/api/me tells a token what it may call: an analyst's graph verbs are there, and the
    experimenter, which the graph table grants none, sees none of them."""
    from autods.state.graph_roles import GRAPH_VERBS

    analyst, experimenter = set(clients.a1.me()["verbs"]), set(clients.exp.me()["verbs"])
    assert GRAPH_VERBS <= analyst and {"propose", "critique"} <= analyst
    assert not GRAPH_VERBS & experimenter and "claim" in experimenter


def test_rest_refusals_400_409_423(clients: Clients) -> None:
    c = clients
    d = c.a1.add_diagnosis("underfitting").id
    with pytest.raises(ServerError) as err:  # missing if_works: 400, not a silent default
        c.a1.propose_idea(d, LOGISTIC, "h", "", "drop it", 0.0, "basis")
    assert _status(err) == (400, "bad_request") and "if_works is required" in str(err.value)
    with pytest.raises(ServerError) as err:
        c.a1.propose_idea(d, {"family": "logistic", "params": {"depth": 2}}, "h", "w", "f", 0.0, "basis")
    assert err.value.status == 400
    x = _idea(c, d, LOGISTIC, "x first")
    y = _idea(c, c.a1.add_diagnosis("interactions").id, {"family": "ridge"}, "y second")
    with pytest.raises(ServerError) as err:
        c.a1.set_tier(x, "CUT", "lost", resurrect_if=None)
    assert err.value.status == 400 and "resurrect_if" in str(err.value)
    c.a1.set_tier(x, "NOW", "go")
    with pytest.raises(ProtocolViolation) as full:  # 409, occupants listed
        c.a1.set_tier(y, "NOW", "go")
    assert full.value.rule == "now_full" and f"idea {x} 'x first'" in full.value.reason
    change = c.a1.set_tier(y, "NOW", "y is cheaper", demote="x first")
    assert change.demoted is not None and change.demoted.id == x and change.idea.tier == "NOW"
    assert len(c.a1.dispatch(seeds=[0, 1]).items) == 2
    item = c.exp.claim()
    assert item is not None
    c.harness.record_result(item.id, "auc", 0.7, True, [0.69, 0.71])
    open_ = c.a1.list_tickets(status="open")
    assert [k.idea_id for k in open_] == [y]
    with pytest.raises(Locked) as locked:  # dispatch while a verdict is owed: 423
        c.a1.dispatch()
    assert locked.value.rule == "tickets_open" and f"idea {y}" in str(locked.value)
    plain = c.a1.propose({"family": "dummy"}, "a floor to beat", 0.0, "dummy")
    c.a2.critique(plain.id, "approve", "cheap")
    with pytest.raises(Locked) as locked:  # and so is the ordinary enqueue, even of a plain proposal
        c.a1.enqueue(plain.id)
    assert locked.value.rule == "tickets_open"
    with pytest.raises(Locked) as locked:  # and the claim, on the hot lane too
        c.exp.claim()
    assert locked.value.rule == "tickets_open"
    answered = c.a2.answer_ticket(open_[0].id, "HOLD", "one seed is not a verdict")
    assert answered.ticket.answer == "HOLD" and answered.idea.tier == "NOW"
    assert c.exp.claim() is not None
    view = c.a1.graph()
    assert view.now_capacity == 1 and {i.tier for i in view.ideas} == {"NOW", "NEXT"}


def test_rest_dispatch_keeps_alternatives_apart_and_cut_aborts(clients: Clients) -> None:
    c = clients
    x = _idea(c, c.a1.add_diagnosis("nonlinearity").id, LOGISTIC, "x")
    y = _idea(c, c.a1.add_diagnosis("interactions").id, {"family": "ridge"}, "y")
    c.a1.relate(x, y, "alternative", "both model the same bend")
    with pytest.raises(ServerError) as err:
        c.a1.relate(y, x, "confounds", "")
    assert err.value.status == 400
    c.a1.set_tier(x, "NOW", "go")
    out = c.a1.dispatch()
    assert [i.proposal_id for i in out.items] == [x]
    c.a1.set_tier(y, "NOW", "y instead", demote=x)
    out = c.a1.dispatch()  # x still runs: its alternative waits
    assert out.items == [] and out.skipped[0].rule == "cannot_run_together"
    change = c.a1.set_tier(x, "CUT", "y is the better test", resurrect_if="y fails")
    assert [i.status for i in change.aborted] == ["aborted"]
    assert [q.status for q in c.a1.list_queue()] == ["aborted"]
    assert any(d.evidence.get("idea_id") == x for d in c.a1.list_dead_ends())
    assert [i.proposal_id for i in c.a1.dispatch().items] == [y]


@pytest.fixture(scope="module")
def mcp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp("mcp-graph")
    store = Store.open(f"sqlite:///{tmp / 'state.db'}")
    service = Service(store)
    run = service.create_run("mcp-graph", {"workers": 2})
    tokens = {name: service.register_agent(run.id, name, role)[1]
              for name, role in (("a1", "analyst"), ("a2", "analyst"), ("exp", "experimenter"),
                                 ("harness", "harness"))}
    with running_server(create_app(service)) as url:
        yield url, tokens
    store.close()


def test_mcp_drives_a_full_graph_cycle(mcp_server: tuple[str, dict[str, str]]) -> None:
    url, tokens = mcp_server

    async def go() -> None:
        async with connect(url, tokens["a1"]) as a1, connect(url, tokens["a2"]) as a2, \
                connect(url, tokens["exp"]) as exp, connect(url, tokens["harness"]) as harness:
            tools = {t.name: t.input_schema for t in (await a1.list_tools()).tools}
            assert {"add_diagnosis", "set_diagnosis_status", "propose_idea", "relate", "set_tier", "dispatch",
                    "answer_ticket", "list_tickets", "list_ideas", "graph", "critique"} <= set(tools)
            assert set(tools["propose_idea"]["required"]) == {"diagnosis_id", "recipe", "hypothesis",
                                                              "expected_effect"}
            d = await call(a1, "add_diagnosis", claim="the linear model underfits")
            bad = await refusal(a1, "propose_idea", diagnosis_id=d["id"], recipe=LOGISTIC, hypothesis="h",
                                expected_effect=0.01, if_fails="drop", effect_basis="b")
            assert bad["code"] == "bad_request" and "if_works" in bad["message"]
            idea = await call(a1, "propose_idea", diagnosis_id=d["id"], recipe=LOGISTIC, hypothesis="C=0.5 helps",
                              expected_effect=0.01, if_works="keep C=0.5", if_fails="C is not the limit",
                              effect_basis="prior runs", surprise_if="AUC falls below 0.6")
            early = await refusal(a1, "set_tier", idea_id=idea["id"], tier="NOW", reason="go")
            assert early["rule"] == "needs_approval"
            await call(a2, "critique", proposal_id=idea["id"], verdict="approve", reasons="sound")
            moved = await call(a1, "set_tier", idea_id=idea["id"], tier="NOW", reason="approved")
            assert moved["idea"]["tier"] == "NOW"
            assert len((await call(a1, "dispatch"))["items"]) == 1
            item = (await call(exp, "claim"))["item"]
            await call(harness, "record_result", item_id=item["id"], metric="auc", value=0.72,
                       higher_is_better=True, fold_scores=[0.7, 0.74])
            tickets = (await call(a1, "list_tickets", status="open"))["tickets"]
            assert [k["idea_id"] for k in tickets] == [idea["id"]]
            locked = await refusal(exp, "claim")
            assert locked["rule"] == "tickets_open"
            verdict = await call(a2, "answer_ticket", ticket_id=tickets[0]["id"], answer="DEMOTE",
                                 reason="one seed, gain inside the noise")
            assert verdict["ticket"]["answer"] == "DEMOTE" and verdict["idea"]["tier"] == "NEXT"
            assert (await call(a1, "list_tickets", status="open"))["tickets"] == []
            assert (await call(exp, "claim"))["item"] is None  # unlocked, and nothing else queued
            view = await call(a1, "graph")
            assert [x["status"] for x in view["tickets"]] == ["answered"] and view["now_capacity"] == 2

    asyncio.run(go())
