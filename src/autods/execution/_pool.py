"""Bookkeeping of the local executor: a handle per job, a slot per worker process."""

from __future__ import annotations

import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Protocol

from autods.execution.base import Job, JobResult


class _Owner(Protocol):
    """The executor a handle belongs to (local or Ray); it decides what cancelling means."""

    def _cancel(self, handle: LocalHandle) -> bool: ...


class LocalHandle:
    """A job submitted to a local or Ray executor. The first outcome wins: a job
    cancelled or timed out stays so even if its worker's answer arrives a moment later."""

    def __init__(self, job: Job, executor: _Owner) -> None:
        self.job = job
        self._executor = executor
        self._event = threading.Event()
        self._result: JobResult | None = None
        self.started_at: float | None = None  # time.monotonic() when a worker took the job

    def running(self) -> bool:
        """True while a worker is running the job (not when queued, not when finished)."""
        return self.started_at is not None and not self.done()

    def result(self, timeout: float | None = None) -> JobResult:
        """Block until the job is finished; raise :class:`TimeoutError` after ``timeout`` seconds."""
        if not self._event.wait(timeout):
            raise TimeoutError(f"job {self.job.job_id} not finished after {timeout} s")
        assert self._result is not None
        return self._result

    def done(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> bool:
        """Drop a pending job or kill a running one; False when it had already finished."""
        return self._executor._cancel(self)

    def _finish(self, result: JobResult) -> None:
        if not self._event.is_set():
            self._result = result
            self._event.set()


class Slot:
    """One worker process, its pipe, and the job it is running (if any)."""

    def __init__(self, proc: BaseProcess, conn: Connection) -> None:
        self.proc = proc
        self.conn = conn
        self.ready = False
        self.alive = True
        self.killed_by_us = False
        self.handle: LocalHandle | None = None
        self.timeout_s: float | None = None
        self.deadline: float | None = None
        self.memory_limited = False

    def assign(self, handle: LocalHandle, timeout_s: float | None, memory_mb: int | None) -> None:
        self.handle = handle
        self.timeout_s = timeout_s
        self.memory_limited = memory_mb is not None
        handle.started_at = time.monotonic()
        self.deadline = None if timeout_s is None else handle.started_at + timeout_s

    def release(self) -> None:
        self.handle, self.deadline, self.timeout_s = None, None, None

    def kill(self) -> None:
        """SIGKILL the worker's whole process group (it called setsid), so nothing it started survives."""
        self.alive = False
        pid = self.proc.pid
        if pid is None or self.proc.exitcode is not None:
            return
        self.killed_by_us = True
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:  # killed before its setsid(): only the process itself exists yet
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self, grace_s: float) -> None:
        """Ask an idle worker to exit, wait ``grace_s``, then kill; always reaps the process.

        A worker still importing is killed at once: it holds no job, and waiting for its
        imports would make ``close()`` take seconds for nothing.
        """
        if self.alive and self.ready and self.proc.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(grace_s)
        self.kill()
        self.proc.join()
        self.conn.close()


def classify_exit(exitcode: int | None, killed_by_us: bool, memory_limited: bool) -> tuple[str, str]:
    """``(error_kind, message)`` for a worker that died while running a job."""
    if exitcode is not None and exitcode < 0:
        sig = signal.Signals(-exitcode)
        if sig == signal.SIGKILL and not killed_by_us:
            # An outside SIGKILL is almost always the kernel OOM killer (or a cgroup limit).
            return "memory", "worker killed by SIGKILL (likely out of memory)"
        hint = " (possibly the memory limit)" if memory_limited and sig in (signal.SIGABRT, signal.SIGSEGV) else ""
        return "crash", f"worker died from {sig.name}{hint}"
    return "crash", f"worker exited with code {exitcode} while running the job"
