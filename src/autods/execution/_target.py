"""What an executor runs: a target callable ``(Job) -> JobResult``, by default :func:`run_job`.

Executors that cross a process boundary pass the target by its qualified name
(``"package.module:function"``) so the child imports it; a closure or a function defined
in ``__main__`` cannot travel that way. Tests use this seam to run helpers that sleep,
allocate or crash, without adding anything to :class:`~autods.execution.base.Job`.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Callable

from autods.errors import UserInputError
from autods.execution.base import Job, JobResult

Target = Callable[[Job], JobResult]
DEFAULT_TARGET = "autods.execution.job:run_job"


def target_name(target: Target | str | None) -> str:
    """The importable ``module:qualname`` of ``target`` (``None`` means :func:`run_job`)."""
    if target is None:
        return DEFAULT_TARGET
    if isinstance(target, str):
        return target
    module, qualname = getattr(target, "__module__", None), getattr(target, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        raise UserInputError(f"Executor target {target!r} cannot be imported by name in a worker process",
                             "pass a module-level function, or its 'module:function' name")
    return f"{module}:{qualname}"


def resolve_target(name: str) -> Target:
    """Import ``module:qualname`` and return the callable."""
    module_name, _, qualname = name.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise UserInputError(f"Executor target {name} is not callable", "pass a function (Job) -> JobResult")
    return obj  # type: ignore[return-value]


def call_target(target: Target, job: Job) -> JobResult:
    """Run ``target(job)``; an unexpected exception becomes a failed result, as it would in a worker.

    This is the isolation boundary of every executor, so it is the one place where any
    exception is caught: a bug in one experiment must not stop the run, and the inline
    executor must report it exactly as the process pool does (``error_kind`` crash or memory).
    """
    started = time.perf_counter()
    try:
        return target(job)
    except MemoryError:
        return failed(job, "memory", "MemoryError: the job exceeded its memory limit", started)
    except Exception as exc:  # noqa: BLE001 - isolation boundary, see docstring
        tail = "".join(traceback.format_exception(exc)[-3:]).strip()
        return failed(job, "crash", f"{type(exc).__name__}: {exc}\n{tail}", started)


def failed(job: Job, kind: str, error: str, started: float | None = None) -> JobResult:
    """A failed :class:`JobResult` of ``kind`` (timeout | memory | crash | cancelled)."""
    duration = time.perf_counter() - started if started is not None else 0.0
    return JobResult(job_id=job.job_id, ok=False, error=error, error_kind=kind, duration_s=duration)
