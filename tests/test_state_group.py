"""Store.group: many writes, one transaction, each write a savepoint (SQLite and PostgreSQL).

The server's write lane runs each batch of queued write requests in one group, so these
are the guarantees its answers rest on: a refused write is rolled back alone, nothing in
a group is visible to others (or durable) before the group commits, a failed group leaves
nothing behind, and the audit chain stays whole through all of it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from autods.errors import StateError
from autods.state.store import Store


@pytest.fixture
def store(state_url: str) -> Iterator[Store]:
    s = Store.open(state_url)
    yield s
    s.close()


def seeded(store: Store, items: int = 4) -> tuple[int, list[int]]:
    run = store.add_run("group")
    p = store.propose(run.id, {"model": "lr"}, "h", 0.0, "linear", actor="analyst")
    ids = [store.enqueue(p.id, seed=s, actor="analyst").id for s in range(items)]
    return run.id, ids


def n_events(store: Store) -> int:
    return len(store.events(0, 10_000))


def test_a_refused_write_is_rolled_back_alone(store: Store) -> None:
    run_id, ids = seeded(store)
    before = n_events(store)
    with store.group():
        first = store.claim(run_id, actor="h1")
        with pytest.raises(StateError):
            with store.write("h1", run_id) as tx:
                tx.claim_next(run_id, None, 60.0)  # a real write, then a refusal after it
                raise StateError("refused after writing")
        second = store.claim(run_id, actor="h2")
    assert first is not None and second is not None
    claimed = {i.id: i.claimed_by for i in store.list_items(run_id, status="claimed")}
    assert claimed == {first.id: "h1", second.id: "h2"}  # the refused write's claim is gone
    assert n_events(store) == before + 2  # and so are its audit events
    assert store.verify_audit_chain()
    # The next group and a plain write continue the same chain.
    with store.group():
        store.claim(run_id, actor="h3")
    store.claim(run_id, actor="h4")
    assert len(store.list_items(run_id, status="claimed")) == 4
    assert store.verify_audit_chain()


def test_nothing_is_visible_to_others_before_the_group_commits(store: Store, state_url: str) -> None:
    run_id, _ = seeded(store)
    other = Store.open(state_url)
    try:
        with store.group():
            item = store.claim(run_id, actor="h1")
            assert item is not None
            # This thread reads its own group's writes ...
            assert [i.id for i in store.list_items(run_id, status="claimed")] == [item.id]
            # ... another connection does not, until the commit.
            assert other.list_items(run_id, status="claimed") == []
        assert [i.id for i in other.list_items(run_id, status="claimed")] == [item.id]
    finally:
        other.close()


def test_a_group_that_raises_writes_nothing(store: Store) -> None:
    run_id, _ = seeded(store)
    before = n_events(store)
    with pytest.raises(RuntimeError, match="batch broke"):
        with store.group():
            assert store.claim(run_id, actor="h1") is not None
            assert store.claim(run_id, actor="h2") is not None
            raise RuntimeError("batch broke")
    assert store.list_items(run_id, status="claimed") == []
    assert n_events(store) == before
    # The in-memory chain tip did not move with the rolled-back events.
    assert store.claim(run_id, actor="h3") is not None
    assert store.verify_audit_chain()


def test_a_transaction_the_database_rolled_back_is_never_reported_committed(store: Store) -> None:
    """Disk-full and I/O errors make SQLite roll the whole transaction back by itself, and
    committing then is a silent no-op in the driver; PostgreSQL turns COMMIT of an aborted
    transaction into ROLLBACK. The group must notice, not report success."""
    run_id, _ = seeded(store)
    with pytest.raises(StateError, match="rolled back this write group"):
        with store.group():
            assert store.claim(run_id, actor="h1") is not None
            driver = store._local.group.driver  # what SQLite does on SQLITE_FULL
            driver.execute("ROLLBACK")
    assert store.list_items(run_id, status="claimed") == []
    # A write started after that rollback is refused rather than run outside the group.
    refused = False
    with pytest.raises(StateError, match="rolled back this write group"):
        with store.group():
            assert store.claim(run_id, actor="h2") is not None
            store._local.group.driver.execute("ROLLBACK")
            try:
                store.claim(run_id, actor="h2b")
            except StateError:
                refused = True
                raise
    assert refused
    assert store.list_items(run_id, status="claimed") == []
    assert store.claim(run_id, actor="h3") is not None
    assert store.verify_audit_chain()


def test_an_aborted_postgresql_group_is_refused(store: Store) -> None:
    if not store.postgres:
        pytest.skip("PostgreSQL: a failed statement outside a savepoint aborts the transaction")
    run_id, _ = seeded(store)
    with pytest.raises(StateError, match="rolled back this write group"):
        with store.group():
            assert store.claim(run_id, actor="h1") is not None
            with pytest.raises(Exception, match="division by zero"):
                store._local.group.driver.execute("SELECT 1/0")
    assert store.list_items(run_id, status="claimed") == []
    assert store.claim(run_id, actor="h2") is not None
    assert store.verify_audit_chain()


def test_groups_nest_as_one_and_other_threads_wait(store: Store) -> None:
    import threading

    if store.postgres:
        pytest.skip("SQLite: one writer at a time (PostgreSQL writers run concurrently)")
    run_id, _ = seeded(store)
    seen: list[int] = []

    def outsider() -> None:  # a write from another thread waits for the group's commit
        item = store.claim(run_id, actor="outside")
        assert item is not None
        seen.append(len(store.list_items(run_id, status="claimed")))

    with store.group():
        store.claim(run_id, actor="h1")
        t = threading.Thread(target=outsider)
        t.start()
        with store.group():  # nested: part of the outer group
            store.claim(run_id, actor="h2")
        t.join(timeout=0.3)
        assert t.is_alive()  # still waiting for the write lock
    t.join(timeout=30)
    assert seen == [3]
    assert store.verify_audit_chain()


def test_a_closed_store_refuses_instead_of_reopening(state_url: str) -> None:
    store = Store.open(state_url)
    run_id, _ = seeded(store)
    store.close()
    for attempt in (lambda: store.claim(run_id, actor="late"), lambda: store.list_items(run_id),
                    lambda: store.group().__enter__()):
        with pytest.raises(StateError, match="closed"):
            attempt()
