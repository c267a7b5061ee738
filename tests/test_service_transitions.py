"""Item transitions done as one conditional statement: a refusal that comes after the
statement rolls it back, and the claim's single slot scan still releases expired leases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from autods.errors import PermissionDenied, ProtocolViolation
from autods.server.service import SYSTEM_ACTOR, Actor, Service
from autods.state.records import QueueItem
from autods.state.store import Store


class Clock:
    t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Service, Clock, dict[str, Actor], int, int]]:
    clock = Clock()
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}", clock=clock)
    svc = Service(store, slot_limit=1)
    run, other = svc.create_run("mine"), svc.create_run("other")
    actors: dict[str, Actor] = {}
    for name, role, run_id in (("ann", "analyst", run.id), ("bob", "analyst", run.id), ("h", "harness", run.id),
                               ("stranger", "analyst", other.id), ("h2", "harness", other.id)):
        actor = svc.authenticate(svc.register_agent(run_id, name, role)[1])
        assert actor is not None
        actors[name] = actor
    p = svc.propose(actors["ann"], run.id, {"family": "logistic"}, "h", 0.0)
    svc.critique(actors["bob"], p.id, "approve", "ok")
    yield svc, clock, actors, run.id, p.id
    store.close()


def _item(svc: Service, item_id: int) -> QueueItem:
    return svc.get_item(SYSTEM_ACTOR, item_id)


def test_refusals_after_the_transition_roll_it_back(world: tuple[Service, Clock, dict[str, Actor], int, int]) -> None:
    svc, _, a, run_id, proposal_id = world
    item = svc.enqueue(a["ann"], proposal_id, seed=0)
    with pytest.raises(PermissionDenied, match="belongs to run"):
        svc.abort(a["stranger"], item.id, "not mine")
    assert _item(svc, item.id).status == "pending"
    claimed = svc.claim(a["h"], run_id)
    assert claimed is not None
    for verb in (lambda: svc.record_result(a["h2"], item.id, "auroc", 0.9, True),
                 lambda: svc.record_failure(a["h2"], item.id, "crash")):
        with pytest.raises(PermissionDenied):
            verb()
        assert _item(svc, item.id).status == "claimed"
    assert svc.list_results(SYSTEM_ACTOR, run_id) == []
    with pytest.raises(ProtocolViolation, match="does not exist") as exc:
        svc.record_result(a["h"], 999, "auroc", 0.9, True)
    assert exc.value.rule == "not_found"
    svc.record_result(a["h"], item.id, "auroc", 0.9, True)
    with pytest.raises(ProtocolViolation, match="is done") as exc:
        svc.record_failure(a["h"], item.id, "late")
    assert exc.value.rule == "result_requires_claim"


def test_claim_frees_an_expired_slot_first(world: tuple[Service, Clock, dict[str, Actor], int, int]) -> None:
    svc, clock, a, run_id, proposal_id = world
    for seed in range(2):
        svc.enqueue(a["ann"], proposal_id, seed=seed)
    first = svc.claim(a["h"], run_id, lease_s=10)
    assert first is not None
    with pytest.raises(ProtocolViolation) as exc:  # slot_limit 1, lease still running
        svc.claim(a["h"], run_id)
    assert exc.value.rule == "slot_limit"
    clock.t += 11
    again = svc.claim(a["h"], run_id, lease_s=10)  # the expired lease returns to pending, then the oldest wins
    assert again is not None and again.id == first.id and again.attempts == 1
    verbs = [e.verb for e in svc.events(SYSTEM_ACTOR, run_id=run_id)][-2:]
    assert verbs == ["lease_expired", "claim"]
