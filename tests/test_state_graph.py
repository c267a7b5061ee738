"""The hypothesis graph in the shared state, through the Service, on SQLite and (marked) PostgreSQL:
schema 3 -> 4, and one refusal test per rule (400 missing text, 409 full NOW, 423 open tickets,
dispatch never hands out alternatives together, a CUT of a running idea aborts it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from autods.errors import PermissionDenied, ProtocolViolation, RecipeError, UserInputError
from autods.server.graph_protocol import TicketsOpen
from autods.server.service import Actor, Service
from autods.state import schema as t
from autods.state.store import Store

ROLES = ("analyst", "analyst", "biostatistician", "validator", "harness", "experimenter", "orchestrator")


@dataclass
class Team:
    service: Service
    run_id: int
    a1: Actor
    a2: Actor
    bio: Actor
    val: Actor
    harness: Actor
    exp: Actor
    orch: Actor


@pytest.fixture
def team(state_url: str) -> Iterator[Team]:
    store = Store.open(state_url)
    service = Service(store)
    run = service.create_run("graph", {"workers": 2})
    actors = []
    for n, role in enumerate(ROLES):
        agent, _ = service.register_agent(run.id, f"{role}-{n}", role)
        actors.append(Actor(agent_id=agent.id, role=role, run_id=run.id))
    yield Team(service, run.id, *actors)
    store.close()


def _recipe(c: float, family: str = "logistic") -> dict[str, object]:
    return {"family": family, "params": {"C": c} if family == "logistic" else {}}


def _idea(tm: Team, diagnosis_id: int, c: float, *, family: str = "logistic", title: str = "",
          surprise: str = "AUC drops below the baseline") -> int:
    idea = tm.service.propose_idea(tm.a1, tm.run_id, diagnosis_id, _recipe(c, family), f"C={c} helps", "keep it",
                                   "drop it", 0.01, "prior: two results of the baseline", surprise_if=surprise,
                                   title=title or f"idea C={c}")
    return idea.id


def _approved(tm: Team, diagnosis_id: int, c: float, **kw: object) -> int:
    idea_id = _idea(tm, diagnosis_id, c, **kw)  # type: ignore[arg-type]
    tm.service.critique(tm.a2, idea_id, "approve", "sound and cheap")
    return idea_id


def _diag(tm: Team, claim: str = "the model underfits") -> int:
    return tm.service.add_diagnosis(tm.a1, tm.run_id, claim).id


def _run_once(tm: Team, value: float = 0.7) -> int:
    item = tm.service.claim(tm.exp, tm.run_id)
    assert item is not None
    return tm.service.record_result(tm.harness, item.id, "auc", value, True, [value, value]).id


def test_idea_needs_if_works_and_if_fails_and_a_parsable_recipe(team: Team) -> None:
    s, d = team.service, _diag(team)
    for works, fails, missing in (("", "x", "if_works"), ("x", "  ", "if_fails"), (None, "x", "if_works")):
        with pytest.raises(UserInputError, match=f"{missing} is required"):
            s.propose_idea(team.a1, team.run_id, d, _recipe(1.0), "h", works, fails, 0.0, "basis")
    with pytest.raises(RecipeError, match="no parameter|unknown"):
        s.propose_idea(team.a1, team.run_id, d, {"family": "logistic", "params": {"depth": 3}}, "h", "w", "f",
                       0.0, "basis")
    # The server derives family and canonical recipe: the defaults are filled in.
    idea = s.get_idea(team.a1, _idea(team, d, 0.5))
    assert idea.family == "logistic" and idea.recipe["params"]["max_iter"] == 2000 and idea.tier == "NEXT"
    with pytest.raises(UserInputError, match="starts in NEXT"):
        s.propose_idea(team.a1, team.run_id, d, _recipe(2.0), "h", "w", "f", 0.0, "b", tier="NOW")


def test_now_needs_a_critique_by_another_agent_and_surprise_if(team: Team) -> None:
    s, d = team.service, _diag(team)
    plain = _idea(team, d, 1.0)
    with pytest.raises(ProtocolViolation) as err:
        s.set_tier(team.a1, plain, "NOW", "go")
    assert err.value.rule == "needs_approval"
    revised = _idea(team, d, 2.0)
    s.critique(team.a2, revised, "approve", "fine")
    s.critique(team.bio, revised, "revise", "use the grouped split")
    with pytest.raises(ProtocolViolation) as err:
        s.set_tier(team.a1, revised, "NOW", "go")
    assert err.value.rule == "revise_pending"
    final = _approved(team, d, 3.0)
    s.critique(team.val, final, "reject", "leaks the site column")
    s.critique(team.bio, final, "approve", "disagree")
    with pytest.raises(ProtocolViolation) as err:
        s.set_tier(team.a1, final, "NOW", "go")
    assert err.value.rule == "rejected_final"
    quiet = _approved(team, d, 4.0, surprise="")
    with pytest.raises(UserInputError, match="surprise_if"):
        s.set_tier(team.a1, quiet, "NOW", "go")
    with pytest.raises(UserInputError, match="reason is required"):
        s.set_tier(team.a1, quiet, "NOW", " ", surprise_if="a calibration slope above 1.2")
    assert s.set_tier(team.a1, quiet, "NOW", "go", surprise_if="slope above 1.2").idea.tier == "NOW"


def test_a_full_now_lists_its_occupants_and_one_call_demotes_by_name(team: Team) -> None:
    s = team.service
    ids = [_approved(team, _diag(team, f"d{i}"), float(i + 1), title=f"try {i}") for i in range(3)]
    s.set_tier(team.a1, ids[0], "NOW", "first")
    s.set_tier(team.a1, ids[1], "NOW", "second")
    with pytest.raises(ProtocolViolation) as err:
        s.set_tier(team.a1, ids[2], "NOW", "third")
    assert err.value.rule == "now_full"
    assert f"idea {ids[0]} 'try 0'" in err.value.reason and f"idea {ids[1]} 'try 1'" in err.value.reason
    with pytest.raises(ProtocolViolation) as err:
        s.set_tier(team.a1, ids[2], "NOW", "third", demote="no such idea")
    assert err.value.rule == "demote_not_in_now"
    change = s.set_tier(team.a1, ids[2], "NOW", "stronger evidence", demote="TRY 0")
    assert change.idea.tier == "NOW" and change.demoted is not None and change.demoted.id == ids[0]
    assert change.demoted.tier == "NEXT" and "stronger evidence" in change.demoted.tier_reason
    assert {i.id for i in s.list_ideas(team.a1, team.run_id, tier="NOW")} == {ids[1], ids[2]}


def test_cut_needs_resurrect_if_and_is_listed_as_a_dead_end(team: Team) -> None:
    s, d = team.service, _diag(team)
    old = s.add_dead_end(team.a1, team.run_id, "lightgbm", {}, "three losses")
    idea = _idea(team, d, 1.0)
    with pytest.raises(UserInputError, match="resurrect_if is required"):
        s.set_tier(team.a1, idea, "CUT", "lost twice")
    cut = s.set_tier(team.a1, idea, "CUT", "lost twice", resurrect_if="a new site arrives").idea
    dead = s.list_dead_ends(team.a1, team.run_id)
    assert [x.id for x in dead][0] == old.id and dead[1].id == cut.dead_end_id
    assert dead[1].evidence == {"idea_id": idea, "diagnosis_id": d, "resurrect_if": "a new site arrives"}
    # The registry refuses the CUT recipe again, however it is labelled.
    again = s.propose(team.a1, team.run_id, s.get_idea(team.a1, idea).recipe, "h", 0.0, "logistic")
    s.critique(team.a2, again.id, "approve", "ok")
    with pytest.raises(ProtocolViolation) as err:
        s.enqueue(team.a1, again.id)
    assert err.value.rule == "dead_end"
    back = s.set_tier(team.a1, idea, "NEXT", "a new site arrived").idea
    assert back.dead_end_id is None and [x.id for x in s.list_dead_ends(team.a1, team.run_id)] == [old.id]


def test_relations_need_a_reason_and_dispatch_never_runs_alternatives_together(team: Team) -> None:
    s = team.service
    x = _approved(team, _diag(team, "nonlinearity"), 1.0)
    y = _approved(team, _diag(team, "interactions"), 2.0)
    z = _approved(team, _diag(team, "imbalance"), 3.0)
    with pytest.raises(UserInputError, match="reason is required"):
        s.relate(team.a1, x, y, "alternative", "")
    with pytest.raises(UserInputError, match="unknown"):
        s.relate(team.a1, x, y, "rivals", "r")
    s.relate(team.a1, x, y, "alternative", "both bend the same curve")
    with pytest.raises(ProtocolViolation) as err:
        s.relate(team.a1, x, y, "alternative", "again")
    assert err.value.rule == "duplicate_relation"
    for i in (x, y):
        s.set_tier(team.a1, i, "NOW", "go")
    out = s.dispatch(team.a1, team.run_id)
    assert [i.proposal_id for i in out.items] == [x]
    assert [(k.idea_id, k.rule) for k in out.skipped] == [(y, "cannot_run_together")]
    with pytest.raises(ProtocolViolation) as err:  # the ordinary enqueue is no side door
        s.enqueue(team.a1, y)
    assert err.value.rule == "cannot_run_together"
    with pytest.raises(ProtocolViolation) as err:
        s.enqueue(team.a1, z)
    assert err.value.rule == "idea_not_now"
    same = _approved(team, s.get_idea(team.a1, x).diagnosis_id, 5.0)
    s.set_tier(team.a1, y, "NEXT", "make room")
    s.set_tier(team.a1, same, "NOW", "go")
    out = s.dispatch(team.a1, team.run_id)
    assert out.items == [] and "same diagnosis" in out.skipped[-1].reason


def test_a_result_opens_tickets_that_lock_dispatch_until_answered(team: Team) -> None:
    s = team.service
    x = _approved(team, _diag(team, "nonlinearity"), 1.0)
    y = _approved(team, _diag(team, "interactions"), 2.0)
    far = _approved(team, _diag(team, "drift"), 3.0)
    s.relate(team.a1, x, y, "conflicts", "opposite predictions")
    s.set_tier(team.a1, x, "NOW", "go")
    s.set_tier(team.a1, y, "NOW", "go")
    assert len(s.dispatch(team.a1, team.run_id, seeds=[0, 1]).items) == 4
    item = s.claim(team.exp, team.run_id)
    assert item is not None
    result = s.record_result(team.harness, item.id, "auc", 0.71, True, [0.7, 0.72])
    tickets = s.list_tickets(team.a1, team.run_id, "open")
    assert sorted(k.idea_id for k in tickets) == [x, y] and all(k.result_id == result.id for k in tickets)
    assert far not in {k.idea_id for k in tickets}
    with pytest.raises(TicketsOpen) as locked:
        s.claim(team.exp, team.run_id)
    assert locked.value.http_status == 423 and locked.value.rule == "tickets_open"
    with pytest.raises(TicketsOpen):
        s.dispatch(team.a1, team.run_id)
    with pytest.raises(UserInputError, match="reason is required"):
        s.answer_ticket(team.a2, tickets[0].id, "HOLD", "")
    s.answer_ticket(team.a2, tickets[0].id, "HOLD", "one seed says little")
    with pytest.raises(ProtocolViolation) as err:
        s.answer_ticket(team.a2, tickets[0].id, "HOLD", "again")
    assert err.value.rule == "ticket_answered"
    with pytest.raises(TicketsOpen):
        s.claim(team.exp, team.run_id)
    with pytest.raises(UserInputError, match="resurrect_if is required"):
        s.answer_ticket(team.a2, tickets[1].id, "CUT", "x's result answers y's question")
    # A CUT of a running idea aborts its work in flight (pending and claimed), in the same call.
    answered = s.answer_ticket(team.a2, tickets[1].id, "CUT", "x answered it", resurrect_if="x fails on seed 1")
    assert answered.idea.tier == "CUT" and answered.ticket.answer == "CUT"
    assert sorted(i.status for i in answered.aborted) == ["aborted", "aborted"]
    assert {i.proposal_id for i in answered.aborted} == {y}
    assert s.claim(team.exp, team.run_id) is not None  # tickets answered: work flows again


def test_a_cut_aborts_a_claimed_item_of_a_running_idea(team: Team) -> None:
    s = team.service
    x = _approved(team, _diag(team), 1.0)
    s.set_tier(team.a1, x, "NOW", "go")
    s.dispatch(team.a1, team.run_id)
    item = s.claim(team.exp, team.run_id)
    assert item is not None and item.status == "claimed"
    change = s.set_tier(team.a1, x, "CUT", "the diagnosis was refuted", resurrect_if="new evidence of underfit")
    assert [(i.id, i.status) for i in change.aborted] == [(item.id, "aborted")]
    assert s.get_item(team.a1, item.id).status == "aborted"
    with pytest.raises(ProtocolViolation) as err:  # the harness's late result is refused, as for any abort
        s.record_result(team.harness, item.id, "auc", 0.7, True)
    assert err.value.rule == "result_requires_claim"


def test_roles_and_diagnosis_rules(team: Team) -> None:
    s = team.service
    with pytest.raises(PermissionDenied):
        s.add_diagnosis(team.exp, team.run_id, "x")
    with pytest.raises(PermissionDenied):
        s.dispatch(team.bio, team.run_id)
    with pytest.raises(ProtocolViolation) as err:
        s.add_diagnosis(team.a1, team.run_id, "x", result_ids=[999])
    assert err.value.rule == "not_found"
    d = _diag(team)
    with pytest.raises(UserInputError, match="merged_into"):
        s.set_diagnosis_status(team.a1, d, "merged", "same thing")
    s.set_diagnosis_status(team.a1, d, "refuted", "the spline term is flat (p = 0.8)")
    with pytest.raises(ProtocolViolation) as err:
        _idea(team, d, 1.0)
    assert err.value.rule == "diagnosis_closed"
    view = s.graph(team.a1, team.run_id)
    assert view.now_capacity == 2 and [x.status for x in view.diagnoses] == ["refuted"]


def test_plain_proposals_flow_as_before(team: Team) -> None:
    s = team.service
    p = s.propose(team.a1, team.run_id, {"family": "logistic"}, "h", 0.0, "logistic")
    s.critique(team.a2, p.id, "approve", "ok")
    s.enqueue(team.a1, p.id)
    _run_once(team)
    assert s.list_tickets(team.a1, team.run_id) == [] and s.claim(team.exp, team.run_id) is None


def test_schema_3_is_upgraded_to_the_graph(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    s = Store.open(url)
    run = s.add_run("old")
    p = s.propose(run.id, {"family": "ridge"}, "h", 0.0, "ridge", actor="1")
    s.close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in ("diagnoses", "ideas", "relations", "tickets"):
            conn.execute(sa.text(f"DROP TABLE {table}"))
        conn.execute(sa.text("UPDATE meta SET value = '3' WHERE key = 'schema_version'"))
    engine.dispose()
    s = Store.open(url)
    try:
        with s.read() as tx:
            version = tx.conn.execute(sa.select(t.meta.c.value).where(t.meta.c.key == "schema_version")).scalar()
            assert version == "4" and tx.list_ideas(run.id) == [] and not tx.is_idea(p.id)
        assert s.verify_audit_chain()
    finally:
        s.close()


def test_ticket_answers_move_the_idea_and_the_chain_verifies(team: Team) -> None:
    s = team.service
    x = _approved(team, _diag(team, "nonlinearity"), 1.0, title="x")
    y = _approved(team, _diag(team, "interactions"), 2.0, title="y")
    z = _approved(team, _diag(team, "imbalance"), 3.0, title="z")
    s.relate(team.a1, x, y, "cheap_probe_for", "x is the cheap version of y")
    s.relate(team.a1, x, z, "independent", "different columns")
    s.set_tier(team.a1, x, "NOW", "go")
    s.set_tier(team.a1, z, "NOW", "go")
    s.dispatch(team.a1, team.run_id)
    item = s.claim(team.exp, team.run_id)
    assert item is not None and item.proposal_id == x
    s.record_result(team.harness, item.id, "auc", 0.8, True, [0.79, 0.81])
    by_idea = {k.idea_id: k for k in s.list_tickets(team.a1, team.run_id, "open")}
    assert set(by_idea) == {x, y, z}  # every idea a relation touches, running z included
    with pytest.raises(ProtocolViolation) as err:  # NOW holds x and z: PROMOTE y must name whom it displaces
        s.answer_ticket(team.a2, by_idea[y].id, "PROMOTE", "the probe worked")
    assert err.value.rule == "now_full"
    promoted = s.answer_ticket(team.a2, by_idea[y].id, "PROMOTE", "the probe worked", demote="z")
    assert promoted.idea.tier == "NOW" and promoted.demoted is not None and promoted.demoted.id == z
    revised = s.answer_ticket(team.a2, by_idea[x].id, "REVISE", "the probe answered; x needs a sharper question")
    assert revised.idea.tier == "PARKED"
    demoted = s.answer_ticket(team.a2, by_idea[z].id, "DEMOTE", "not now")
    assert demoted.idea.tier == "LATER"
    assert s.list_tickets(team.a1, team.run_id, "open") == []
    verbs = {e.verb for e in s.store.events(run_id=team.run_id)}
    assert {"add_diagnosis", "add_idea", "relate", "set_tier", "open_ticket", "answer_ticket"} <= verbs
    assert s.store.verify_audit_chain()


def test_a_cut_racing_a_result_neither_deadlocks_nor_loses_either(team: Team) -> None:
    """A CUT takes the run, then the idea's items; a result holds its item: the result's
    tickets take no run lock, so the two never wait on each other in a cycle (PostgreSQL)."""
    import threading

    s = team.service
    for round_ in range(4):
        idea = _approved(team, _diag(team, f"d{round_}"), float(round_ + 1))
        s.set_tier(team.a1, idea, "NOW", "go")
        s.dispatch(team.a1, team.run_id)
        item = s.claim(team.exp, team.run_id)
        assert item is not None and item.proposal_id == idea
        errors: list[BaseException] = []

        def result() -> None:
            try:
                s.record_result(team.harness, item.id, "auc", 0.7, True, [0.7])
            except ProtocolViolation as exc:  # the CUT won: the item was aborted first
                assert exc.rule == "result_requires_claim"
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        def cut() -> None:
            try:
                s.set_tier(team.a1, idea, "CUT", "enough", resurrect_if="never")
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=result), threading.Thread(target=cut)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        assert not errors and not any(th.is_alive() for th in threads)
        status = s.get_item(team.a1, item.id).status
        assert status in ("done", "aborted") and s.get_idea(team.a1, idea).tier == "CUT"
        for ticket in s.list_tickets(team.a1, team.run_id, "open"):
            s.answer_ticket(team.a2, ticket.id, "HOLD", "settled by the CUT")


def test_merging_diagnoses_and_relations_stay_inside_a_run(team: Team) -> None:
    s = team.service
    a, b = _diag(team, "site shift"), _diag(team, "batch shift")
    with pytest.raises(ProtocolViolation) as err:
        s.set_diagnosis_status(team.a1, a, "merged", "same", merged_into=a)
    assert err.value.rule == "merge_self"
    merged = s.set_diagnosis_status(team.a1, a, "merged", "batches are sites here", merged_into=b)
    assert (merged.status, merged.merged_into, merged.status_reason) == ("merged", b, "batches are sites here")
    mine = _idea(team, b, 1.0)
    other = s.create_run("other", {})
    agent, _ = s.register_agent(other.id, "x", "analyst")
    stranger = Actor(agent_id=agent.id, role="analyst", run_id=other.id)
    with pytest.raises(PermissionDenied):  # an agent of another run cannot reach this run's ideas
        s.relate(stranger, mine, mine + 1, "alternative", "r")
    with pytest.raises(ProtocolViolation) as err:
        s.relate(team.a1, mine, 10_000, "alternative", "r")
    assert err.value.rule == "not_found"
