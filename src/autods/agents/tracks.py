"""The end of a run, as executor jobs: the biomarker track, champion validation, the report.

Each of these reads the governed data, so none runs in the orchestrator: they are jobs for
the run's executor with :func:`run_track` as the target (``job_id`` names the track:
``track:biomarkers``, ``track:validate:<experiment id>``, ``track:report``). The reports
engineer's functions are called when they exist (:func:`reports_function` checks for each
one by name); a run without them still finishes, with ``run_summary.json`` only.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

from autods.errors import DataError, JudgeError, UserInputError
from autods.execution.base import Job, JobResult

TARGET = "autods.agents.tracks:run_track"


def reports_function(name: str) -> Any | None:
    """``autods.reports.<name>`` if that part of the reports package is installed, else None."""
    try:
        reports = importlib.import_module("autods.reports")
    except ModuleNotFoundError:
        return None
    if name not in getattr(reports, "__all__", ()):
        return None
    try:
        return getattr(reports, name)
    except ModuleNotFoundError as exc:  # exported name whose module has not landed yet
        if exc.name and exc.name.startswith("autods.reports"):
            return None
        raise


def _biomarkers(job: Job) -> dict[str, Any]:
    from autods.judge.biomarkers import BatteryConfig

    config = BatteryConfig(seed=job.seed, n_permutations=job.n_resamples, n_bootstrap=job.n_resamples)
    track = reports_function("biomarker_track")
    if track is not None:
        doc = track(job.run_dir, config=config)
        return {"status": doc.get("status"), "candidates": len(doc.get("candidates", []))}
    from autods.execution.analytic import load_analytic
    from autods.judge.biomarkers import discover_biomarkers
    from autods.runfolder import RunFolder, atomic_write_json

    folder = RunFolder(Path(job.run_dir))
    result = discover_biomarkers(load_analytic(folder).task, config=config)
    doc = {"status": "run", **result.fact_sheet()}
    atomic_write_json(folder.root / "biomarkers.json", doc)
    return {"status": "run", "candidates": len(doc["candidates"])}


def _validate(job: Job, experiment_id: str) -> dict[str, Any]:
    fn = reports_function("validate_champion")
    if fn is None:
        return {"status": "skipped", "reason": "autods.reports.validate_champion is not installed"}
    out = fn(job.run_dir, job.recipe, seed=job.seed, experiment_id=experiment_id, n_resamples=job.n_resamples)
    test = out.get("test") or {}
    return {"status": "validated", "test": {k: test.get(k) for k in ("value", "ci_low", "ci_high")}}


def _report(job: Job) -> dict[str, Any]:
    done = []
    for name in ("build_fact_sheet", "render_report"):
        fn = reports_function(name)
        if fn is not None:
            fn(job.run_dir)
            done.append(name)
    return {"status": "written" if done else "skipped", "steps": done}


def run_track(job: Job) -> JobResult:
    """Executor target for the end-of-run tracks (see the module docstring)."""
    started = time.perf_counter()
    _, _, rest = job.job_id.partition("track:")
    name, _, arg = rest.partition(":")
    try:
        if name == "biomarkers":
            record = _biomarkers(job)
        elif name == "validate":
            record = _validate(job, arg)
        elif name == "report":
            record = _report(job)
        else:
            raise UserInputError(f"unknown track {job.job_id!r}", "use track:biomarkers, track:validate:ID or track:report")
    except (DataError, JudgeError) as exc:
        return JobResult(job_id=job.job_id, ok=False, error=str(exc), error_kind="judge",
                         duration_s=time.perf_counter() - started)
    return JobResult(job_id=job.job_id, ok=True, record={"track": name, **record},
                     duration_s=time.perf_counter() - started)


def make_track_executor(kind: str, *, timeout_s: float | None = None) -> Any:
    """An executor whose target is :func:`run_track`: inline for inline runs, else one local
    worker process (also for Ray runs: the tracks write into the local run folder)."""
    if (kind or "local").lower() == "inline":
        from autods.execution.inline import InlineExecutor

        return InlineExecutor(target=TARGET)
    from autods.execution.local import LocalProcessExecutor

    return LocalProcessExecutor(workers=1, timeout_s=timeout_s, target=TARGET)


__all__ = ["TARGET", "make_track_executor", "reports_function", "run_track"]
