"""The server's write lane: one writer thread, each batch of queued writes in one transaction.

Before this lane, every write request hopped into the shared thread pool, and up to 40
pool threads queued on the Store's write lock (SQLite): each hand-over of the lock was also a hand-over
of the GIL, and each finished request woke the event loop on its own. On 2 cores that cost
as much CPU as the Service's own work and held the claim -> result loop near 330 cycles/s.

Here one thread takes write jobs in arrival order and runs everything that is queued as one
batch: in one ``Store.group`` (one transaction, each job a savepoint, so a refused
request is rolled back alone), committed before any of its answers leaves, then wakes each
waiting event loop once with all of the batch's answers. A job runs in a
copy of its caller's context (as ``run_in_threadpool`` does), so context variables carry
over. The loop itself never blocks on the database, so the SSE stream, the board and reads
(still in the thread pool, concurrent under WAL) stay live while a write waits for the database.

PostgreSQL: the same lane, with batches of at most ``PG_MAX_BATCH``. Measured on 2 cores
with the database server on the same machine, one writer with a transaction per batch did
189-213 claim -> result cycles/s over HTTP against 149-172 for writers in the thread pool
(server CPU 3.2-3.5 against 5.2-5.8 ms per cycle). Other server processes sharing the
database still write concurrently; a batch holds its row locks until its commit.

The thread starts on the first job and ends at :meth:`close` (the app's lifespan and the
run's session call it before closing the store) or when the lane is garbage collected; a
job after ``close`` starts a fresh thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

T = TypeVar("T")

_STOP = None  # the sentinel that ends a writer thread
MAX_BATCH = 64  # jobs per transaction: bounds how long the first of them waits for its commit
# PostgreSQL: each job is a savepoint, a subtransaction; a backend caches 64 of them per
# transaction, and beyond that every snapshot in the cluster gets slower (pg_subtrans).
PG_MAX_BATCH = 32

# (loop, future, context, fn, args)
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", contextvars.Context, Callable[..., Any], tuple[Any, ...]]
_Outcome = tuple[Any, "BaseException | None"]  # (value, error)
_Answer = tuple["asyncio.Future[Any]", Any, "BaseException | None"]


class WriteLane:
    """``await lane.run(fn, *args)``: ``fn(*args)`` on the writer thread."""

    def __init__(self, group: Callable[[], AbstractContextManager[None]], max_batch: int = MAX_BATCH) -> None:
        """``group``: how the writer thread wraps a batch (``Store.group``: one transaction);
        ``max_batch``: jobs per batch."""
        self.group = group
        self.max_batch = max_batch
        # Each writer thread has its own queue, so a thread ended by close() never runs a
        # job beside its successor. ``_current`` holds the live one for the finalizer.
        self._current: list[queue.SimpleQueue[_Job | None]] = []
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        # Collected without close(): end the thread (it holds its queue, not the lane).
        weakref.finalize(self, _stop_all, self._current)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._start().put((loop, future, contextvars.copy_context(), fn, args))
        return await future

    def close(self, wait_s: float = 0.0) -> None:
        """End the writer thread after the jobs already queued; wait up to ``wait_s`` seconds
        for them (close the store only after they ran, or a late job would reopen it)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                _stop_all(self._current)
        if thread is not None and wait_s > 0:
            thread.join(wait_s)

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _start(self) -> queue.SimpleQueue[_Job | None]:
        """The live writer's queue, starting a writer if there is none."""
        with self._start_lock:
            if self._thread is None:
                jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
                self._current[:] = [jobs]
                self._thread = threading.Thread(target=_work, args=(jobs, self.group, self.max_batch),
                                                name="autods-writer", daemon=True)
                self._thread.start()
            return self._current[0]


def _stop_all(current: list[queue.SimpleQueue[_Job | None]]) -> None:
    while current:
        current.pop().put(_STOP)


def _work(jobs: queue.SimpleQueue[_Job | None], group: Callable[[], AbstractContextManager[None]],
          max_batch: int) -> None:
    """The writer thread: take what is queued (up to ``max_batch`` jobs), run it in one
    group, then answer each waiting loop once with the whole batch."""
    while True:
        batch = [jobs.get()]
        while batch[-1] is not None and len(batch) < max_batch:
            try:
                batch.append(jobs.get_nowait())
            except queue.Empty:
                break
        stop = batch[-1] is None
        todo = [job for job in batch if job is not None]
        answers: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
        for (loop, future, _, _, _), outcome in zip(todo, _run_batch(todo, group)):
            answers.setdefault(loop, []).append((future, *outcome))
        for loop, settled in answers.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:  # that loop has closed: nobody is waiting any more
                pass
        if stop:
            return


def _run_batch(todo: list[_Job], group: Callable[[], AbstractContextManager[None]]) -> list[_Outcome]:
    """Each job's (value, error). A job that raises is rolled back alone (its savepoint); if
    the group itself fails (BEGIN or COMMIT), no job of it was written and every job that
    had succeeded gets that error instead."""
    outcomes: list[_Outcome] = []
    try:
        with group():
            for _, _, context, fn, args in todo:
                try:
                    outcomes.append((context.run(fn, *args), None))
                except BaseException as exc:  # handed to the awaiting request, never kills the lane
                    outcomes.append((None, exc))
    except BaseException as exc:
        failed: _Outcome = (None, exc)
        outcomes = [o if o[1] is not None else failed for o in outcomes]
        outcomes += [failed] * (len(todo) - len(outcomes))
    return outcomes


def _settle(settled: list[_Answer]) -> None:
    for future, value, exc in settled:
        if future.cancelled():  # the client went away; the write itself has happened
            continue
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)
