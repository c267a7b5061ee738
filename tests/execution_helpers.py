"""Test-only executor targets and a tiny run folder, shared by tests/test_execution_*.py.

The targets are module-level so a spawned worker (or a Ray worker) can import them by
name (``execution_helpers:behave``); pytest puts this directory on ``sys.path``, which a
spawned child inherits. ``job.recipe["do"]`` selects the behaviour. The data-science imports
are deferred so a worker that imports this module starts in a fraction of a second.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autods.execution.base import Job, JobResult

if TYPE_CHECKING:
    import pandas as pd

    from autods.runfolder import RunFolder

TARGET = "execution_helpers:behave"


def behave(job: Job) -> JobResult:
    """sleep | alloc | exit | segv | raise | spawn_child | pid | run (the real run_job)."""
    r: dict[str, Any] = job.recipe
    do = r["do"]
    if do == "run":
        from autods.execution.job import run_job

        return run_job(job.model_copy(update={"recipe": r["recipe"]}))
    if do == "sleep":
        time.sleep(float(r["s"]))
    elif do == "alloc":
        # calloc'd and never touched: costs address space (what RLIMIT_AS counts), not RAM
        block = bytearray(int(r["mb"]) * 2**20)
        del block
    elif do == "exit":
        os._exit(int(r.get("code", 1)))
    elif do == "segv":
        ctypes.string_at(0)  # dereference NULL: SIGSEGV
    elif do == "raise":
        raise ValueError("planted bug")
    elif do == "spawn_child":
        child = subprocess.Popen(["sleep", "300"])
        Path(r["pidfile"]).write_text(str(child.pid))
        time.sleep(300)
    return JobResult(job_id=job.job_id, ok=True,
                     record={"pid": os.getpid(), "do": do, "omp": os.environ.get("OMP_NUM_THREADS")})


def job(job_id: str, **recipe: Any) -> Job:
    return Job(job_id=job_id, run_dir="unused", recipe=recipe)


def pid_gone(pid: int) -> bool:
    """True when ``pid`` no longer exists or is a zombie awaiting its (not our) parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def wait_gone(pids: list[int], within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if all(pid_gone(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def build_run_folder(root: Path, n: int = 120) -> RunFolder:
    """A governed run folder for a small synthetic binary task (prepare_analytic, as the orchestrator does)."""
    import numpy as np
    import pandas as pd

    from autods.execution.analytic import prepare_analytic
    from autods.runfolder import RunConfig, RunFolder

    task = root / "task_src"
    task.mkdir(parents=True)
    rng = np.random.default_rng(0)
    x1, x2, x3 = rng.normal(size=n), rng.normal(size=n), rng.integers(0, 3, size=n)
    y = (x1 + 0.5 * x2 - 0.3 * x3 + rng.normal(size=n) > 0).astype(int)
    pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "y": y}).to_csv(task / "d.csv", index=False)
    (task / "TASK.md").write_text("---\nname: tiny\ntask_type: binary\nendpoint: y\ndata: d.csv\n---\nsynthetic\n")
    folder = RunFolder(root / "run")
    folder.root.mkdir()
    folder.save_config(RunConfig(name="tiny", task_dir=str(task)))
    folder.copy_task_spec(task)
    prepare_analytic(task, folder, salt="test-salt")
    return folder


def real_jobs(folder: RunFolder, prefix: str) -> list[Job]:
    """Two real experiments (two families, two seeds); ``prefix`` keeps artifact folders apart."""
    recipes = [({"family": "logistic", "params": {"C": 0.5}}, 0), ({"family": "lightgbm"}, 1)]
    return [Job(job_id=f"{prefix}{k}", run_dir=str(folder.root), recipe=rec, seed=seed, n_resamples=50)
            for k, (rec, seed) in enumerate(recipes)]


def comparable(result: JobResult) -> dict[str, Any]:
    """The record minus what legitimately differs between runs (wall-clock time)."""
    assert result.ok, result.error
    assert result.record is not None
    return {k: v for k, v in result.record.items() if k != "duration_s"}


def oof(folder: RunFolder, job_id: str) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(folder.artifacts(job_id) / "oof.parquet")


def descendants(pid: int) -> list[int]:
    """Live (non-zombie) descendant pids of ``pid``, from /proc (no psutil needed)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
