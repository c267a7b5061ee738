"""The executor seam: ``Executor.submit(job) -> handle``, ``handle.result(timeout)``, ``close()``.

Every executor (inline, local process pool, Ray) runs the same pure function,
:func:`autods.execution.job.run_job`, so a result never depends on where it ran.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict


class Job(BaseModel):
    """One experiment: evaluate ``recipe`` on the run's analytic dataset with ``seed``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    run_dir: str
    recipe: dict[str, Any]
    seed: int = 0
    timeout_s: float | None = None
    memory_mb: int | None = None
    n_resamples: int = 1000


class JobResult(BaseModel):
    """What the harness records. ``record`` is an EvaluationRecord as JSON (without OOF rows,
    which are written to ``artifacts/JOB_ID/oof.parquet``)."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    ok: bool
    record: dict[str, Any] | None = None
    error: str | None = None
    error_kind: str | None = None  # timeout | memory | crash | cancelled | recipe | judge
    duration_s: float = 0.0


@runtime_checkable
class JobHandle(Protocol):
    def result(self, timeout: float | None = None) -> JobResult: ...

    def done(self) -> bool: ...

    def cancel(self) -> bool: ...


@runtime_checkable
class Executor(Protocol):
    def submit(self, job: Job) -> JobHandle: ...

    def close(self) -> None: ...
