"""Executors: where experiment jobs run. All share one protocol (:mod:`autods.execution.base`).

``make_executor("inline" | "local" | "ray", ...)`` builds one; backends are imported lazily so
``import autods.execution`` stays cheap and Ray is only needed when asked for.
"""

from __future__ import annotations

from autods.errors import UserInputError
from autods.execution.base import Executor, Job, JobHandle, JobResult

KINDS = ("inline", "local", "ray")

__all__ = ["KINDS", "Executor", "Job", "JobHandle", "JobResult", "make_executor"]


def make_executor(kind: str = "local", *, workers: int = 2, ray_address: str | None = None,
                  timeout_s: float | None = None, memory_mb: int | None = None) -> Executor:
    """Build the executor named ``kind``.

    ``timeout_s`` / ``memory_mb`` are defaults for jobs that do not set their own. The inline
    executor ignores them (it cannot kill itself); Ray enforces the timeout but not memory
    (Ray's own memory monitor does that on a cluster).
    """
    kind = (kind or "local").strip().lower()
    if kind == "inline":
        from autods.execution.inline import InlineExecutor

        return InlineExecutor()
    if kind == "local":
        from autods.execution.local import LocalProcessExecutor

        return LocalProcessExecutor(workers=workers, timeout_s=timeout_s, memory_mb=memory_mb)
    if kind == "ray":
        from autods.execution.ray_executor import RayExecutor

        return RayExecutor(address=ray_address, num_cpus=None if ray_address else workers, timeout_s=timeout_s)
    raise UserInputError(f"Unknown executor {kind!r}", f"use one of: {', '.join(KINDS)}")
