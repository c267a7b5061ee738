"""The child side of the local executor: a warm worker that runs jobs sent down a pipe.

Protocol (parent -> child): ``{"job": dict, "memory_mb": int | None}`` per job, ``None`` to stop.
Protocol (child -> parent): ``("ready", pid)`` once imports are done, then one
``("result", JobResult dict, recycle)`` per job; ``recycle`` asks the parent for a fresh
worker (after a MemoryError the heap may be fragmented or half-initialised).

Kept free of heavy imports at module level: a spawned child imports this module before
:func:`worker_main` runs, and BLAS reads its thread count when it is first loaded.
"""

from __future__ import annotations

import importlib
import os
import resource
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS")
# Imported before the worker says "ready" so the first job does not pay for them.
PRELOAD = ("autods.runners.evaluate",)


#: the run log next to ``audit.jsonl``: library warnings of the run and of every worker (issue 11)
RUN_LOG = "run.log"


@contextmanager
def capture_warnings(log: str | Path) -> Iterator[None]:
    """Write warnings (sklearn ConvergenceWarning, numpy overflow, lifelines, ...) to ``log``
    instead of the terminal, one appended record each, for as long as the block runs.

    The filters are reset to Python's default (each warning once per code location), so a
    caller that turned warnings into errors (pytest does) does not crash the run on a
    library's warning; the run log is where they are read. Appends are single writes to a
    file opened in append mode, so workers sharing one log do not interleave records.
    """
    path = Path(log)

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        text = warnings.formatwarning(message, category, filename, lineno, line)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(f"{stamp} pid={os.getpid()} {text}")
        except OSError:
            pass  # a log that cannot be written must not fail the experiment that warned

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield


def job_log(run_dir: str) -> Path:
    """Where a job's warnings go: the run folder's log, or the temp folder's for a job without one."""
    import tempfile

    return Path(run_dir) / RUN_LOG if run_dir and Path(run_dir).is_dir() else Path(tempfile.gettempdir()) / f"autods-{RUN_LOG}"


def _watch_parent(parent_pid: int) -> None:
    """Exit (with the whole process group) when the parent dies, e.g. after ``kill -9``.

    Without this a worker running a long job would outlive its parent, and any processes
    the job started (joblib/loky) with it.
    """
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os.killpg(os.getpgrp(), signal.SIGKILL)


def _vm_bytes() -> int:
    """Current virtual address-space size of this process (what RLIMIT_AS counts)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _limit_memory(memory_mb: int | None) -> None:
    """Let the job grow the address space by ``memory_mb`` over the warm worker's baseline.

    An absolute RLIMIT_AS would be eaten by the imports alone (numpy, sklearn, LightGBM map
    several hundred MB of address space before any data is touched), so the limit is relative.
    Only the soft limit moves, so it can be raised again for the next job.
    """
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = hard if memory_mb is None else _vm_bytes() + int(memory_mb) * 2**20
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def worker_main(conn: Connection, target: str, threads: int, parent_pid: int, preload: tuple[str, ...] = ()) -> None:
    """Entry point of a spawned worker process."""
    os.setsid()  # own process group: a kill reaches anything the job started, Ctrl-C does not
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()

    from threadpoolctl import threadpool_limits

    from autods.execution._target import call_target, resolve_target
    from autods.execution.base import Job

    fn = resolve_target(target)
    for name in preload:
        importlib.import_module(name)
    # BLAS/OpenMP libraries loaded before the env vars were set (by the parent's __main__
    # being re-imported under spawn) still obey this runtime limit.
    limiter = threadpool_limits(limits=threads)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg: dict[str, Any] | None = conn.recv()
        except EOFError:
            break
        if msg is None:
            break
        job = Job.model_validate(msg["job"])
        _limit_memory(msg.get("memory_mb"))
        try:
            with capture_warnings(job_log(job.run_dir)):
                result = call_target(fn, job)
        finally:
            _limit_memory(None)
        conn.send(("result", result.model_dump(mode="json"), result.error_kind == "memory"))
    del limiter
    conn.close()
