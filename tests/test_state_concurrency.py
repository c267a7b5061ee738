"""Claims are exactly-once under contention: N threads each claim M items from one queue.

The full issue-4 load (32 threads x 500 claims) is marked slow on SQLite; a smaller default
version keeps the everyday run fast. The PostgreSQL version needs AUTODS_PG_URL.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from autods.state.store import Store


def _seed_queue(store: Store, n_items: int) -> int:
    run = store.add_run("contention")
    p = store.propose(run.id, {"model": "lr"}, "h", 0.0, "linear", actor="analyst")
    with store.write("analyst", run.id) as tx:  # one transaction: setup is not what we measure
        tx.add_items(run.id, p.id, None, p.canonical_hash, range(n_items))
    return run.id


def hammer(store: Store, threads: int, claims_each: int) -> float:
    """Run the contention test; assert exactly-once; return claims per second."""
    run_id = _seed_queue(store, threads * claims_each)
    got: dict[int, list[int]] = {i: [] for i in range(threads)}
    errors: list[BaseException] = []
    start = threading.Barrier(threads + 1)

    def worker(i: int) -> None:
        try:
            start.wait()
            for _ in range(claims_each):
                item = store.claim(run_id, actor=f"w{i}")
                assert item is not None, "queue ran dry: some item was claimed twice or lost"
                got[i].append(item.id)
        except BaseException as err:  # noqa: BLE001 - surfaced to the main thread below
            errors.append(err)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for th in pool:
        th.start()
    start.wait()
    t0 = time.perf_counter()
    for th in pool:
        th.join()
    elapsed = time.perf_counter() - t0
    assert not errors, errors[:3]

    claimed = [item_id for ids in got.values() for item_id in ids]
    counts = Counter(claimed)
    assert len(claimed) == threads * claims_each
    assert not [i for i, c in counts.items() if c > 1], "an item was handed out twice"
    items = store.list_items(run_id)
    assert {i.status for i in items} == {"claimed"}
    # The database agrees with what the threads saw: each item's holder is the thread that got it.
    holder = {item_id: f"w{i}" for i, ids in got.items() for item_id in ids}
    assert all(holder[i.id] == i.claimed_by for i in items)
    assert store.verify_audit_chain()
    rate = len(claimed) / elapsed
    print(f"\n{store.engine.dialect.name}: {threads} threads x {claims_each} claims in {elapsed:.2f}s = {rate:.0f} claims/s")
    return rate


def test_sqlite_claims_exactly_once_small(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        hammer(store, threads=8, claims_each=50)
    finally:
        store.close()


@pytest.mark.slow
def test_sqlite_claims_exactly_once_32x500(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}", pool_size=32)
    try:
        hammer(store, threads=32, claims_each=500)
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_claims_exactly_once_32x500(pg_url: str) -> None:
    store = Store.open(pg_url, pool_size=32)
    try:
        hammer(store, threads=32, claims_each=500)
    finally:
        store.close()
