"""The local executor (default): a pool of warm worker processes on this machine.

Why ``spawn`` and not ``fork``: the parent holds threads (the scheduler, uvicorn, BLAS
pools), SQLite connections and open files; a forked child inherits locks held by other
threads at the instant of the fork and can deadlock, and shares SQLite handles, which SQLite
forbids across processes. A spawned child is a fresh interpreter with none of that.

Why warm workers: a spawned child needs about 2-3 s to import autods, pandas, sklearn
and LightGBM (measured on the 2-core dev machine), as long as a small experiment. So each
worker imports once, then runs jobs sent down a pipe (:mod:`autods.execution._worker`). A
worker killed for a timeout, a cancellation or a crash is replaced, paying that cost again.

Per job: timeout (the worker's process group is killed -> ``error_kind="timeout"``), memory
limit (``RLIMIT_AS`` over the worker's baseline; a MemoryError -> ``"memory"``; an outside
SIGKILL, i.e. the OOM killer, -> ``"memory"``), crash isolation (a segfault or ``os._exit``
-> ``"crash"``, other jobs continue), cancellation (pending: dropped; running: killed ->
``"cancelled"``). BLAS/OpenMP threads per worker are capped so workers x threads <= cores.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections import deque
from multiprocessing.connection import Connection, wait

from autods.errors import UserInputError
from autods.execution._pool import LocalHandle, Slot, classify_exit
from autods.execution._target import DEFAULT_TARGET, Target, failed, target_name
from autods.execution._worker import PRELOAD, worker_main
from autods.execution.base import Job, JobResult

# An idle worker exits on the stop message in milliseconds; past this it is killed.
STOP_GRACE_S = 2.0
MAX_STARTUP_FAILURES = 3


def _cores() -> int:
    """CPUs this process may use (the affinity mask a container or taskset allows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class LocalProcessExecutor:
    """Run jobs in ``workers`` warm, spawned worker processes; see the module docstring."""

    def __init__(self, workers: int = 2, timeout_s: float | None = None, memory_mb: int | None = None,
                 *, target: Target | str | None = None, threads_per_worker: int | None = None) -> None:
        if workers < 1:
            raise UserInputError(f"workers must be at least 1, got {workers}", "pass --workers 1 or more")
        self.workers = workers
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.threads = threads_per_worker or max(1, _cores() // workers)
        self._target = target_name(target)
        self._preload = PRELOAD if self._target == DEFAULT_TARGET else ()
        self._ctx = mp.get_context("spawn")
        self._lock = threading.Lock()
        self._pending: deque[LocalHandle] = deque()
        self._slots: list[Slot] = []
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self._closed = False
        self._thread: threading.Thread | None = None
        self._startup_failures = 0
        self.workers_started = 0  # how many processes were spawned (replacements included)

    # -- public API ---------------------------------------------------------------------
    def submit(self, job: Job) -> LocalHandle:
        with self._lock:
            if self._closed:
                raise RuntimeError("LocalProcessExecutor is closed")
            handle = LocalHandle(job, self)
            self._pending.append(handle)
            self._ensure_thread()
        self._wake()
        return handle

    def start(self) -> None:
        """Spawn every worker now (optional): their ~2 s of imports overlap with the caller's
        own preparation instead of delaying the first jobs."""
        with self._lock:
            if self._closed:
                raise RuntimeError("LocalProcessExecutor is closed")
            while len(self._slots) < self.workers:
                self._slots.append(self._spawn())
            self._ensure_thread()
        self._wake()

    def close(self) -> None:
        """Cancel pending and running jobs, stop every worker, and reap them (no orphans)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            while self._pending:
                handle = self._pending.popleft()
                handle._finish(failed(handle.job, "cancelled", "executor closed"))
            slots = list(self._slots)
            for slot in slots:
                if slot.handle is not None:
                    slot.handle._finish(failed(slot.handle.job, "cancelled", "executor closed"))
                    slot.kill()
        self._wake()
        if self._thread is not None:
            self._thread.join()
        for slot in slots:
            slot.stop(STOP_GRACE_S)
        self._wake_r.close()
        self._wake_w.close()

    def child_pids(self) -> list[int]:
        """Pids of live worker processes (for tests and ``autods status``)."""
        with self._lock:
            return [s.proc.pid for s in self._slots if s.proc.pid is not None and s.proc.is_alive()]

    def __enter__(self) -> LocalProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- called by handles --------------------------------------------------------------
    def _cancel(self, handle: LocalHandle) -> bool:
        with self._lock:
            if handle.done():
                return False
            if handle in self._pending:
                self._pending.remove(handle)
                handle._finish(failed(handle.job, "cancelled", "cancelled before it ran"))
                return True
            handle._finish(failed(handle.job, "cancelled", "cancelled while running; worker killed"))
            for slot in self._slots:
                if slot.handle is handle:
                    slot.kill()
        self._wake()
        return True

    # -- scheduler ----------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="autods-local-executor", daemon=True)
            self._thread.start()

    def _wake(self) -> None:
        try:
            self._wake_w.send_bytes(b"x")
        except OSError:
            pass  # closed: the scheduler has already exited

    def _spawn(self) -> Slot:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=worker_main, args=(child, self._target, self.threads, os.getpid(), self._preload),
                                 name="autods-worker", daemon=True)
        proc.start()
        child.close()  # the child owns its end; closing ours makes its death an EOF for us
        self.workers_started += 1
        return Slot(proc, parent)

    def _dispatch(self) -> None:
        """Hand pending jobs to ready idle workers; start workers while jobs are waiting."""
        for slot in self._slots:
            if not self._pending:
                return
            if slot.ready and slot.handle is None and slot.alive:
                handle = self._pending.popleft()
                job = handle.job
                memory = job.memory_mb if job.memory_mb is not None else self.memory_mb
                timeout = job.timeout_s if job.timeout_s is not None else self.timeout_s
                try:
                    slot.conn.send({"job": job.model_dump(mode="json"), "memory_mb": memory})
                except OSError:
                    self._pending.appendleft(handle)  # worker died under us; retried after reaping
                    slot.alive = False
                    continue
                slot.assign(handle, timeout, memory)
        starting = sum(1 for s in self._slots if not s.ready)
        while self._pending and len(self._slots) < self.workers and starting < len(self._pending):
            self._slots.append(self._spawn())
            starting += 1

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                self._dispatch()
                objects: list[object] = [self._wake_r]
                for slot in self._slots:
                    objects += [slot.conn, slot.proc.sentinel]
                deadlines = [s.deadline for s in self._slots if s.deadline is not None]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready = wait(objects, timeout)  # type: ignore[arg-type]
            if self._wake_r in ready:
                while self._wake_r.poll():
                    self._wake_r.recv_bytes()
            with self._lock:
                if self._closed:
                    return
                self._harvest()

    def _harvest(self) -> None:
        now = time.monotonic()
        for slot in list(self._slots):
            self._read(slot)
            if slot.handle is not None and slot.deadline is not None and now >= slot.deadline:
                slot.handle._finish(failed(slot.handle.job, "timeout",
                                           f"timed out after {slot.timeout_s:g} s; worker killed"))
                slot.kill()
            if not slot.alive or not slot.proc.is_alive():
                if not slot.killed_by_us:
                    slot.proc.join(timeout=2)  # a broken pipe usually means it is exiting right now
                slot.kill()  # no-op when dead; a recycled idle worker needs no graceful exit
                slot.proc.join(timeout=5)
                if slot.handle is not None:
                    kind, why = classify_exit(slot.proc.exitcode, slot.killed_by_us, slot.memory_limited)
                    slot.handle._finish(failed(slot.handle.job, kind, why))
                slot.conn.close()
                self._slots.remove(slot)
                if not slot.ready:
                    self._startup_failures += 1
        if self._startup_failures >= MAX_STARTUP_FAILURES:
            # A worker that cannot even start (bad target, broken environment) would otherwise
            # be respawned forever; fail the queue instead.
            while self._pending:
                handle = self._pending.popleft()
                handle._finish(failed(handle.job, "crash", f"worker process failed to start "
                                      f"{self._startup_failures} times (target {self._target})"))

    def _read(self, slot: Slot) -> None:
        """Take every message the worker has sent; a broken pipe marks the worker dead."""
        try:
            while slot.conn.poll():
                kind, *rest = slot.conn.recv()
                if kind == "ready":
                    slot.ready = True
                    self._startup_failures = 0
                elif kind == "result":
                    body, recycle = rest
                    if slot.handle is not None:
                        slot.handle._finish(JobResult.model_validate(body))
                    slot.release()
                    if recycle:
                        slot.conn.send(None)
                        slot.alive = False
        except (EOFError, OSError):
            slot.alive = False
