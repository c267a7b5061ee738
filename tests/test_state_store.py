"""Store: schema-version gate, foreign-database refusal, the audit chain and canonical hashing."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from autods.errors import SchemaVersionError, StateError
from autods.state.hashing import canonical_hash, canonical_json
from autods.state.store import Store


@pytest.fixture
def store(state_url: str) -> Iterator[Store]:
    s = Store.open(state_url)
    yield s
    s.close()


def _fill(store: Store) -> int:
    run = store.add_run("r", {"seed": 1})
    p = store.propose(run.id, {"model": "lr", "C": 0.5}, "h", 0.1, "linear", actor="1")
    for seed in range(3):
        store.enqueue(p.id, seed, actor="1")
    store.claim(run.id, actor="2")
    return run.id


def test_reopen_keeps_data_and_chain(state_url: str) -> None:
    s = Store.open(state_url)
    run_id = _fill(s)
    s.close()
    s = Store.open(state_url)
    assert [i.status for i in s.list_items(run_id)] == ["claimed", "pending", "pending"]
    assert s.verify_audit_chain()
    s.close()


def test_newer_schema_is_refused_with_the_fix(store: Store, state_url: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE meta SET value = '99' WHERE key = 'schema_version'"))
    store.close()
    with pytest.raises(SchemaVersionError, match=r"schema version 99, newer .*upgrade autods"):
        Store.open(state_url)


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "clinic.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT)")
    with pytest.raises(SchemaVersionError, match="not an autods state database"):
        Store.open(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('application_id', 'someone-else')")
    with pytest.raises(SchemaVersionError, match="belongs to another program"):
        Store.open(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:  # the refusal changed nothing
        assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")} == {"patients", "meta"}


def test_unsupported_url_is_a_state_error() -> None:
    with pytest.raises(StateError, match="unsupported state URL"):
        Store.open("mysql://localhost/x")


def test_audit_chain_verifies_and_detects_an_edited_row(store: Store) -> None:
    _fill(store)
    events = store.events()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == "0" * 64 and events[1].prev_hash == events[0].hash
    assert {e.verb for e in events} >= {"add_run", "propose", "enqueue", "claim"}
    assert store.verify_audit_chain()
    with store.engine.begin() as conn:  # tamper: rewrite who claimed the job
        conn.execute(sa.text("UPDATE audit_events SET actor = '666' WHERE verb = 'claim'"))
    assert not store.verify_audit_chain()


def test_audit_chain_detects_a_deleted_tail(store: Store) -> None:
    _fill(store)
    last = store.events()[-1].seq
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE seq = :s"), {"s": last})
    assert not store.verify_audit_chain()  # the chain tip no longer matches


def test_events_since(store: Store) -> None:
    _fill(store)
    everything = store.events()
    later = store.events(since_seq=3, limit=2)
    assert [e.seq for e in later] == [4, 5] and later[0] == everything[3]


def test_a_failed_write_leaves_no_trace(store: Store) -> None:
    before = len(store.events())
    with pytest.raises(RuntimeError):
        with store.write("1") as tx:
            tx.add_run("doomed", {})
            raise RuntimeError("protocol check failed after the insert")
    with store.read() as tx:
        assert [r.name for r in tx.list_runs()] == []
    assert len(store.events()) == before and store.verify_audit_chain()


def test_canonical_hash_ignores_spelling() -> None:
    assert canonical_hash({"a": 1, "b": [1.0, {"c": -0.0}]}) == canonical_hash({"b": [1, {"c": 0}], "a": 1.0})
    assert canonical_hash({"x": 0.1 + 0.2}) == canonical_hash({"x": 0.3})
    assert canonical_hash({"x": 0.3}) != canonical_hash({"x": 0.31})
    assert canonical_hash({"x": True}) != canonical_hash({"x": 1})
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'
    with pytest.raises(ValueError, match="non-finite"):
        canonical_hash({"x": math.nan})
