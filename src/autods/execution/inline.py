"""The inline executor: runs each job in the calling process, in submission order.

Deterministic and cheap, for tests and for ``--workers 1`` debugging. It enforces no
timeout and no memory limit (there is no process to kill); use the local executor for that.
"""

from __future__ import annotations

from autods.execution._target import Target, call_target, failed, resolve_target, target_name
from autods.execution.base import Job, JobResult


class InlineHandle:
    """A job that ran (or will run, when lazy) in this process."""

    def __init__(self, job: Job, target: Target, result: JobResult | None) -> None:
        self._job = job
        self._target = target
        self._result = result

    def result(self, timeout: float | None = None) -> JobResult:
        if self._result is None:
            self._result = call_target(self._target, self._job)
        return self._result

    def done(self) -> bool:
        return self._result is not None

    def cancel(self) -> bool:
        """Cancel a lazy job that has not run yet; a finished job cannot be cancelled."""
        if self._result is not None:
            return False
        self._result = failed(self._job, "cancelled", "cancelled before it ran")
        return True


class InlineExecutor:
    """Run ``target(job)`` synchronously at :meth:`submit` (or at ``result()`` when ``lazy``)."""

    def __init__(self, *, lazy: bool = False, target: Target | str | None = None) -> None:
        self.lazy = lazy
        self._target = target if callable(target) else resolve_target(target_name(target))
        self._closed = False

    def submit(self, job: Job) -> InlineHandle:
        if self._closed:
            raise RuntimeError("InlineExecutor is closed")
        result = None if self.lazy else call_target(self._target, job)
        return InlineHandle(job, self._target, result)

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
