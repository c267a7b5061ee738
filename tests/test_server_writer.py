"""The server's write lane (server/writer.py): one writer thread, one transaction per batch.

Checked with a recording ``group`` (what the lane wraps each batch in) and against a real
Store: order, batching, errors that reach only their own request, a failed commit that no
request is told succeeded, context variables, shutdown and restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from autods.errors import StateError
from autods.server.writer import MAX_BATCH, PG_MAX_BATCH, WriteLane
from autods.state.store import Store

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


class Recorder:
    """A ``group`` that records how jobs were batched, optionally failing at its end."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.fail_commit = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        self.batches.append([])
        yield
        if self.fail_commit:
            raise StateError("commit failed")

    def job(self, n: int) -> int:
        assert threading.current_thread().name == "autods-writer"
        self.batches[-1].append(n)
        return n * 10


def queued(lane: WriteLane) -> int:
    return lane._current[0].qsize() if lane._current else 0


def test_jobs_run_in_order_on_one_thread_and_queued_jobs_share_a_batch() -> None:
    rec = Recorder()
    lane = WriteLane(rec)
    gate = threading.Event()

    def blocker() -> str:
        gate.wait(10)
        return "first"

    async def main() -> list[object]:
        first = asyncio.ensure_future(lane.run(blocker))
        await asyncio.sleep(0.05)  # the writer is now inside the first (one-job) batch
        rest = [asyncio.ensure_future(lane.run(rec.job, n)) for n in range(MAX_BATCH + 5)]
        while queued(lane) < MAX_BATCH + 5:
            await asyncio.sleep(0.005)
        gate.set()
        return [await first, *[await r for r in rest]]

    try:
        answers = asyncio.run(main())
    finally:
        lane.close()
    assert answers == ["first", *[n * 10 for n in range(MAX_BATCH + 5)]]
    # One batch for the blocker, then the queue drained in MAX_BATCH-sized batches, in order.
    assert rec.batches == [[], list(range(MAX_BATCH)), list(range(MAX_BATCH, MAX_BATCH + 5))]


def test_an_error_reaches_only_its_own_request() -> None:
    rec = Recorder()
    lane = WriteLane(rec)

    def boom() -> None:
        raise StateError("refused")

    async def main() -> list[object]:
        return await asyncio.gather(lane.run(rec.job, 1), lane.run(boom), lane.run(rec.job, 2),
                                    return_exceptions=True)

    try:
        one, err, two = asyncio.run(main())
    finally:
        lane.close()
    assert (one, two) == (10, 20)
    assert isinstance(err, StateError) and str(err) == "refused"


def test_a_failed_commit_is_reported_to_every_request_of_its_batch() -> None:
    rec = Recorder()
    rec.fail_commit = True
    lane = WriteLane(rec)

    def boom() -> None:
        raise ValueError("its own error")

    async def main() -> list[object]:
        return await asyncio.gather(lane.run(rec.job, 1), lane.run(boom), return_exceptions=True)

    try:
        ok, own = asyncio.run(main())
    finally:
        lane.close()
    assert isinstance(ok, StateError) and "commit failed" in str(ok)  # never told it succeeded
    assert isinstance(own, ValueError)  # a job that failed anyway keeps its own error


def test_context_variables_carry_over_to_the_writer() -> None:
    lane = WriteLane(Recorder())

    async def main() -> str:
        VAR.set("caller")
        return await lane.run(VAR.get)

    try:
        assert asyncio.run(main()) == "caller"
    finally:
        lane.close()


def test_close_ends_the_thread_and_the_next_job_starts_another() -> None:
    lane = WriteLane(Recorder())

    async def one() -> str:
        return await lane.run(lambda: threading.current_thread().name)

    assert asyncio.run(one()) == "autods-writer"
    thread = lane._thread
    assert thread is not None and lane.running
    lane.close()
    thread.join(timeout=10)
    assert not thread.is_alive() and not lane.running
    assert asyncio.run(one()) == "autods-writer"
    assert lane._thread is not thread
    lane.close()


def test_close_can_wait_for_the_jobs_already_queued() -> None:
    lane = WriteLane(Recorder())
    gate = threading.Event()
    ran: list[int] = []

    def job(n: int) -> None:
        gate.wait(10)
        ran.append(n)

    async def main() -> None:
        tasks = [asyncio.ensure_future(lane.run(job, n)) for n in range(3)]
        await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()  # their clients went away: the writes are still queued

    asyncio.run(main())
    threading.Timer(0.2, gate.set).start()
    lane.close(wait_s=30)  # e.g. the run's session, before it closes the store
    assert ran == [0, 1, 2]


def test_a_cancelled_request_does_not_disturb_the_others() -> None:
    lane = WriteLane(Recorder())
    gate = threading.Event()
    ran: list[str] = []

    def slow() -> str:
        gate.wait(10)
        ran.append("slow")
        return "slow"

    async def main() -> str:
        task = asyncio.ensure_future(lane.run(slow))
        await asyncio.sleep(0.05)
        task.cancel()  # the client went away while its write was running
        other = asyncio.ensure_future(lane.run(lambda: "other"))
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await other

    try:
        assert asyncio.run(main()) == "other"
    finally:
        lane.close()
    assert ran == ["slow"]  # the write itself still happened, as on the thread pool


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_real_store_batches_commit_together_and_refusals_roll_back_alone(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = Store.open(url)
    run = store.add_run("lane")
    p = store.propose(run.id, {"model": "lr"}, "h", 0.0, "linear", actor="analyst")
    for s in range(40):
        store.enqueue(p.id, seed=s, actor="analyst")
    lane = WriteLane(store.group, max_batch=PG_MAX_BATCH if store.postgres else MAX_BATCH)

    def claim(n: int) -> int:
        # As a Service verb: the protocol check may refuse after the transaction has written.
        with store.write(f"h{n}", run.id) as tx:
            item = tx.claim_next(run.id, None, 60.0)
            assert item is not None
            if n % 4 == 3:
                raise StateError(f"refused {n}")  # the savepoint must undo the claim
            return item.id

    async def main() -> list[object]:
        return await asyncio.gather(*[lane.run(claim, n) for n in range(40)], return_exceptions=True)

    try:
        answers = asyncio.run(main())
    finally:
        lane.close()
    ok = [a for a in answers if isinstance(a, int)]
    assert len(ok) == 30 and all(isinstance(a, StateError) for a in answers if not isinstance(a, int))
    claimed = store.list_items(run.id, status="claimed")
    assert sorted(i.id for i in claimed) == sorted(ok)
    assert {i.claimed_by for i in claimed} == {f"h{n}" for n in range(40) if n % 4 != 3}
    assert store.verify_audit_chain()
    store.close()
