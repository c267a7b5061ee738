"""The Ray executor (extra ``autods[ray]``): the same jobs, on a Ray cluster or a local Ray.

Each job is one Ray task of :func:`run_on_ray` (which runs the executor's target, by default
:func:`~autods.execution.job.run_job`) with ``max_retries=0``: a crashed experiment is a
result to record, never something to repeat behind the harness's back. At most as many
tasks as the cluster has CPUs are in flight; the rest wait here, so a job's timeout counts
from when it was handed to Ray, not from when it was submitted. A timeout or a cancellation
force-cancels the task (Ray kills its worker process).

Memory: ``memory_mb`` is applied inside the task with the same relative ``RLIMIT_AS`` as the
local executor; Ray's own memory monitor may also kill a task (``error_kind="memory"``).

On a multi-node cluster (``--ray-address``) every node needs autods installed and must see
the run folder at the same path (a shared filesystem): jobs read ``analytic/`` and write
``artifacts/`` there, exactly as local workers do.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from autods.errors import UserInputError
from autods.execution._pool import LocalHandle
from autods.execution._target import Target, call_target, failed, resolve_target, target_name
from autods.execution.base import Job, JobResult

# How often the monitor thread looks at deadlines, cancellations and new submissions.
POLL_S = 0.1


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserInputError("Ray is not installed", "pip install 'autods[ray]'") from None
    return ray


def run_on_ray(target: str, job: dict[str, Any], memory_mb: int | None) -> dict[str, Any]:
    """The Ray task body: the same isolation boundary as a local worker, returning plain JSON."""
    from autods.execution._worker import _limit_memory, capture_warnings, job_log

    fn = resolve_target(target)
    _limit_memory(memory_mb)
    try:
        parsed = Job.model_validate(job)
        with capture_warnings(job_log(parsed.run_dir)):  # Ray workers' stderr is a terminal too
            result = call_target(fn, parsed)
    finally:
        _limit_memory(None)
    return result.model_dump(mode="json")


class RayExecutor:
    """Run jobs as Ray tasks; starts a local Ray (``num_cpus``) when none is initialised."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None, timeout_s: float | None = None,
                 memory_mb: int | None = None, *, target: Target | str | None = None) -> None:
        ray = self._ray = _import_ray()
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._target = target_name(target)
        self.started_ray = False
        if not ray.is_initialized():
            ray.init(address=address, num_cpus=None if address else num_cpus,
                     include_dashboard=False, log_to_driver=False)
            self.started_ray = True
        self._remote = ray.remote(num_cpus=1, max_retries=0)(run_on_ray)
        cpus = num_cpus if self.started_ray and num_cpus else ray.cluster_resources().get("CPU", 1)
        self.capacity = max(1, int(cpus))
        self._lock = threading.Lock()
        self._pending: deque[LocalHandle] = deque()
        self._inflight: dict[Any, tuple[LocalHandle, float | None]] = {}  # ref -> (handle, deadline)
        self._draining: set[Any] = set()  # force-cancelled refs still holding a CPU
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="autods-ray-executor", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> LocalHandle:
        with self._lock:
            if self._closed:
                raise RuntimeError("RayExecutor is closed")
            handle = LocalHandle(job, self)
            self._pending.append(handle)
        self._wake.set()
        return handle

    def close(self) -> None:
        """Cancel pending and running jobs; shut Ray down only if this executor started it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for handle in self._pending:
                handle._finish(failed(handle.job, "cancelled", "executor closed"))
            self._pending.clear()
            for ref, (handle, _) in list(self._inflight.items()):
                handle._finish(failed(handle.job, "cancelled", "executor closed"))
                self._force_cancel(ref)
        self._wake.set()
        self._thread.join()
        if self.started_ray:
            self._ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _cancel(self, handle: LocalHandle) -> bool:
        with self._lock:
            if handle.done():
                return False
            handle._finish(failed(handle.job, "cancelled", "cancelled" if handle.started_at is None
                                  else "cancelled while running; Ray task force-cancelled"))
            if handle in self._pending:
                self._pending.remove(handle)
            for ref, (owner, _) in list(self._inflight.items()):
                if owner is handle:
                    self._force_cancel(ref)
        return True

    def _force_cancel(self, ref: Any) -> None:
        self._inflight.pop(ref, None)
        self._draining.add(ref)
        try:
            self._ray.cancel(ref, force=True)
        except (ValueError, self._ray.exceptions.RayError):
            pass  # already finished: nothing to cancel

    def _dispatch(self) -> None:
        while self._pending and len(self._inflight) + len(self._draining) < self.capacity:
            handle = self._pending.popleft()
            job = handle.job
            memory = job.memory_mb if job.memory_mb is not None else self.memory_mb
            timeout = job.timeout_s if job.timeout_s is not None else self.timeout_s
            ref = self._remote.remote(self._target, job.model_dump(mode="json"), memory)
            handle.started_at = time.monotonic()
            self._inflight[ref] = (handle, None if timeout is None else handle.started_at + timeout)

    def _loop(self) -> None:
        ray = self._ray
        while True:
            with self._lock:
                if self._closed:
                    return
                self._dispatch()
                refs = list(self._inflight) + list(self._draining)
            if not refs:
                self._wake.wait(POLL_S * 10)
                self._wake.clear()
                continue
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=POLL_S, fetch_local=True)
            with self._lock:
                for ref in ready:
                    self._collect(ref)
                now = time.monotonic()
                for ref, (handle, deadline) in list(self._inflight.items()):
                    if deadline is not None and now >= deadline:
                        timeout = deadline - handle.started_at  # type: ignore[operator]
                        handle._finish(failed(handle.job, "timeout",
                                              f"timed out after {timeout:g} s; Ray task force-cancelled"))
                        self._force_cancel(ref)

    def _collect(self, ref: Any) -> None:
        ray = self._ray
        if ref in self._draining:
            self._draining.discard(ref)
            return
        handle, _ = self._inflight.pop(ref)
        try:
            handle._finish(JobResult.model_validate(ray.get(ref)))
        except ray.exceptions.TaskCancelledError:
            handle._finish(failed(handle.job, "cancelled", "Ray task cancelled"))
        except ray.exceptions.OutOfMemoryError as exc:
            handle._finish(failed(handle.job, "memory", f"Ray killed the task for memory: {exc}"))
        except ray.exceptions.RayError as exc:  # worker crashed, node died, ...
            handle._finish(failed(handle.job, "crash", f"{type(exc).__name__}: {exc}"[:2000]))
