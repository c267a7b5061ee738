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
                  timeout_s: float | None = None, memory_mb: int | None = None,
                  target: str | None = None) -> Executor:
    """Build the executor named ``kind``.

    ``timeout_s`` / ``memory_mb`` are defaults for jobs that do not set their own; the inline
    executor ignores them (it cannot kill its own process). ``workers`` is the local pool size
    and the CPUs of a local Ray (an existing cluster at ``ray_address`` brings its own).
    ``target`` is the ``"module:function"`` every job runs, :func:`run_job` by default.
    """
    kind = (kind or "local").strip().lower()
    if kind == "inline":
        from autods.execution.inline import InlineExecutor

        return InlineExecutor(target=target)
    if kind == "local":
        from autods.execution.local import LocalProcessExecutor

        return LocalProcessExecutor(workers=workers, timeout_s=timeout_s, memory_mb=memory_mb, target=target)
    if kind == "ray":
        from autods.execution.ray_executor import RayExecutor

        return RayExecutor(address=ray_address, num_cpus=None if ray_address else workers, timeout_s=timeout_s,
                           memory_mb=memory_mb, target=target)
    raise UserInputError(f"Unknown executor {kind!r}", f"use one of: {', '.join(KINDS)}")
