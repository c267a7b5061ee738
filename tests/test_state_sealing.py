"""PostgreSQL's audit path: writers park events, group seals link them after commit.

The GroupSealer's promise is tested with a fake seal (no database): a writer returns only
after a seal that began after its commit, and concurrent writers share seals. The rest
needs AUTODS_PG_URL: a write's events are in the chain when it returns, parked events a
crashed writer left behind are linked by the next seal, and the chain stays gapless.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from autods.state import audit
from autods.state import schema as t
from autods.state.store import Store


class FakeSeals:
    def __init__(self, duration: float, fail_first: bool = False) -> None:
        self.duration = duration
        self.fail_first = fail_first
        self.spans: list[tuple[float, float]] = []
        self.lock = threading.Lock()
        self.running = 0
        self.overlapped = False

    def __call__(self) -> None:
        with self.lock:
            self.running += 1
            self.overlapped |= self.running > 1
        start = time.perf_counter()
        time.sleep(self.duration)
        with self.lock:
            self.running -= 1
            if self.fail_first:
                self.fail_first = False
                raise ConnectionError("database went away")
            self.spans.append((start, time.perf_counter()))


def test_each_writer_waits_for_a_seal_that_began_after_its_commit() -> None:
    seals = FakeSeals(duration=0.01)
    sealer = audit.GroupSealer()
    calls: list[tuple[float, float]] = []
    lock = threading.Lock()

    def writer() -> None:
        for _ in range(5):
            t0 = time.perf_counter()
            sealer.after_commit(seals)
            with lock:
                calls.append((t0, time.perf_counter()))

    threads = [threading.Thread(target=writer) for _ in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not seals.overlapped  # one seal at a time
    for called, returned in calls:
        assert any(called <= start and end <= returned for start, end in seals.spans)
    assert len(seals.spans) < len(calls) / 2  # writers share seals


def test_a_failed_seal_is_retried_by_a_waiting_writer() -> None:
    seals = FakeSeals(duration=0.02, fail_first=True)
    sealer = audit.GroupSealer()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            sealer.after_commit(seals)
        except ConnectionError as err:
            errors.append(err)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(errors) == 1  # the writer whose seal failed hears about it
    assert len(seals.spans) >= 1  # the others did not return on the failed seal's word


@pytest.fixture
def pg(pg_url: str) -> Iterator[Store]:
    store = Store.open(pg_url, pool_size=16)
    yield store
    store.close()


@pytest.mark.postgres
def test_a_write_is_in_the_chain_when_it_returns(pg: Store) -> None:
    run = pg.add_run("visible")
    p = pg.propose(run.id, {"m": 1}, "h", 0.0, "f", actor="1")
    missing: list[int] = []

    def writer(w: int) -> None:
        for i in range(20):
            item = pg.enqueue(p.id, w * 100 + i, actor=str(w))
            if not any(e.verb == "enqueue" and e.payload["id"] == item.id for e in pg.events(since_seq=0, limit=100_000)):
                missing.append(item.id)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert missing == []
    events = pg.events(limit=100_000)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert pg.verify_audit_chain()


@pytest.mark.postgres
def test_events_a_crashed_writer_left_parked_are_sealed_later(pg: Store) -> None:
    url = pg.engine.url
    run = pg.add_run("crash")
    with pg.engine.begin() as conn:  # committed, never sealed: a writer killed between the two
        conn.execute(t.audit_pending.insert().values(run_id=run.id, actor="9", verb="post", payload='{"id": 1}',
                                                     created_at=1.0))
    assert [e.verb for e in pg.events()] == ["add_run"]
    pg.close()
    reopened = Store.open(url.render_as_string(hide_password=False))
    try:
        assert [e.verb for e in reopened.events()] == ["add_run", "post"]
        assert reopened.verify_audit_chain()
        with reopened.read() as tx:
            assert tx.conn.execute(sa.select(sa.func.count()).select_from(t.audit_pending)).scalar() == 0
    finally:
        reopened.close()
