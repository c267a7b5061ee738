"""The audit chain appended at commit, the per-process tip, statement budgets, prepared statements."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from autods.errors import StateError
from autods.server.service import Service
from autods.state import schema as t
from autods.state import tx as tx_module
from autods.state.prepared import Prepared
from autods.state.store import Store


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store.open(url)
    yield s
    s.close()


def test_two_processes_worth_of_stores_keep_one_chain(url: str) -> None:
    """Each Store remembers the tip it committed; a write by the other must not fork the chain."""
    a, b = Store.open(url), Store.open(url)
    try:
        run = a.add_run("shared")
        p = a.propose(run.id, {"m": 1}, "h", 0.0, "f", actor="1")
        for seed in range(6):
            (a if seed % 2 else b).enqueue(p.id, seed, actor=str(seed))
        b.add_run("other")
        a.add_run("third")
        events = a.events()
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
        assert a.verify_audit_chain() and b.verify_audit_chain()
    finally:
        a.close()
        b.close()


def test_a_rolled_back_write_does_not_move_the_remembered_tip(store: Store) -> None:
    store.add_run("before")
    with pytest.raises(RuntimeError):
        with store.write("1") as tx:
            tx.add_run("doomed", {})
            raise RuntimeError("refused after the insert")
    store.add_run("after")
    assert [e.payload["name"] for e in store.events()] == ["before", "after"]
    assert store.verify_audit_chain()


def test_verify_detects_an_appended_event_that_skipped_the_tip(store: Store) -> None:
    store.add_run("r")
    last = store.events()[-1]
    with store.engine.begin() as conn:
        conn.execute(t.audit_events.insert().values(
            seq=last.seq + 1, run_id=None, actor="x", verb="forged", payload="{}", prev_hash=last.hash,
            hash="0" * 64, created_at=0.0))
    assert not store.verify_audit_chain()


def _traced(store: Store) -> list[str]:
    """Statements the store's connection runs from now on (single-threaded use: one pooled connection)."""
    seen: list[str] = []
    with store.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.set_trace_callback(seen.append)
    return seen


def test_statement_budget_of_a_claim_result_cycle(tmp_path: Path) -> None:
    """A regression guard for the hot path: the statements one cycle issues (BEGIN and COMMIT
    included; each row of the multi-row audit insert counts)."""
    store = Store.open(f"sqlite:///{tmp_path / 'budget.db'}", pool_size=1)
    try:
        svc = Service(store, stagnation_k=3)
        run = svc.create_run("budget")
        actors = [svc.authenticate(svc.register_agent(run.id, r, r)[1]) for r in ("analyst", "biostatistician", "harness")]
        ann, critic, harness = actors
        assert ann is not None and critic is not None and harness is not None
        p = svc.propose(ann, run.id, {"family": "logistic"}, "h", 0.0)
        svc.critique(critic, p.id, "approve", "ok")
        for seed in range(2):
            svc.enqueue(ann, p.id, seed=seed)
        warm = svc.claim(harness, run.id)
        assert warm is not None
        svc.record_result(harness, warm.id, "auroc", 0.7, True, [0.7])
        seen = _traced(store)
        item = svc.claim(harness, run.id)
        assert item is not None
        claim_sql, seen[:] = list(seen), []
        svc.record_result(harness, item.id, "auroc", 0.7, True, [0.7])
        assert len(claim_sql) == 6, claim_sql  # BEGIN, slots, claim, tip, event, COMMIT
        assert len(seen) == 11, seen  # BEGIN, item, result, post, stats read+write, tip, 3 events, COMMIT
        assert not [s for s in claim_sql + seen if s.startswith("SELECT audit_head")]  # the tip is remembered
    finally:
        store.close()


def test_a_release_that_lost_the_race_changes_nothing(store: Store) -> None:
    """release_expired scans, then updates each item only if it is still claimed and expired:
    a result committed in between (possible on PostgreSQL) wins."""
    run = store.add_run("r")
    p = store.propose(run.id, {"m": 1}, "h", 0.0, "f", actor="1")
    item = store.enqueue(p.id, 0, actor="1")
    store.claim(run.id, actor="2", lease_s=1.0)
    with store.write("3") as tx:
        tx.set_item_status(item.id, "done")
        row = tx_module._RELEASE.first(tx.conn, {"ident_": item.id, "now_": store.now() + 10, "status": "pending",
                                                 "attempts": 1, "claimed_by": None, "lease_expires_at": None,
                                                 "updated_at": 0.0, "reason": "lease expired"})
        assert row is None
    assert store.list_items(run.id)[0].status == "done"
    assert store.release_expired(run.id) == []


def test_prepared_statements_refuse_list_expansion(store: Store) -> None:
    q = Prepared(sa.select(t.runs).where(t.runs.c.name.in_(["a", "b"])))
    with store.read() as tx, pytest.raises(StateError, match="cannot expand lists"):
        q.all(tx.conn)


def test_prepared_json_round_trip(store: Store) -> None:
    run = store.add_run("j", {"nested": {"a": [1, 2.5, None]}, "unicode": "é"})
    with store.read() as tx:
        assert tx.get_run(run.id) == run
