"""The pure function every executor runs: one recipe, one seed, on the run's analytic data."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from autods.errors import JudgeError, RecipeError, UserInputError
from autods.execution.analytic import load_analytic
from autods.execution.base import Job, JobResult
from autods.runfolder import RunFolder, atomic_write_text

if TYPE_CHECKING:  # importing the runners is the worker's job, not this module's
    from autods.runners.record import OutOfFold

#: every repeat's out-of-fold predictions (columns repeat, row, fold, pred | p_<class>)
OOF_REPEATS = "oof_repeats.parquet"


def run_job(job: Job) -> JobResult:
    """Evaluate the job's recipe with the frozen judge; write its artifacts; never raise for a bad recipe."""
    from autods.runners.evaluate import evaluate

    started = time.perf_counter()
    folder = RunFolder(Path(job.run_dir))
    try:
        analytic = load_analytic(folder)
        record = evaluate(analytic.task, job.recipe, seed=job.seed, exclude=analytic.excluded_names,
                          n_resamples=job.n_resamples)
    except RecipeError as exc:
        return JobResult(job_id=job.job_id, ok=False, error=str(exc), error_kind="recipe",
                         duration_s=time.perf_counter() - started)
    except (JudgeError, UserInputError) as exc:
        return JobResult(job_id=job.job_id, ok=False, error=str(exc), error_kind="judge",
                         duration_s=time.perf_counter() - started)
    out = folder.artifacts(job.job_id)
    out.mkdir(parents=True, exist_ok=True)
    # oof.parquet keeps its shape (repeat 0, one row per development row) for its readers;
    # oof_repeats.parquet has every repeat, a ``repeat`` column first (ensembles, optimism).
    _oof_frame(record.oof).to_parquet(out / "oof.parquet", index=False)
    if record.oof_all is not None:
        _oof_frame(record.oof_all).to_parquet(out / OOF_REPEATS, index=False)
    heavy = {"oof", "oof_all"}
    body = record.model_dump(mode="json", exclude=heavy)
    atomic_write_text(out / "record.json", record.model_dump_json(indent=2, exclude=heavy))
    return JobResult(job_id=job.job_id, ok=True, record=body, duration_s=time.perf_counter() - started)


def _oof_frame(oof: OutOfFold) -> pd.DataFrame:
    frame = pd.DataFrame({"repeat": oof.repeat} if oof.repeat is not None else {})
    frame["row"], frame["fold"] = oof.row, oof.fold
    if oof.pred and isinstance(oof.pred[0], list):
        for k, cls in enumerate(oof.classes or range(len(oof.pred[0]))):
            frame[f"p_{cls}"] = [p[k] for p in oof.pred]  # type: ignore[index]
    else:
        frame["pred"] = oof.pred
    return frame
