"""Inline executor and the make_executor factory: the deterministic executor tests rely on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from execution_helpers import TARGET, behave, build_run_folder, comparable, job, real_jobs

from autods.errors import UserInputError
from autods.execution import make_executor
from autods.execution.base import Executor, Job, JobHandle, JobResult
from autods.execution.inline import InlineExecutor
from autods.execution.local import LocalProcessExecutor


def test_factory_kinds_and_unknown_kind() -> None:
    assert isinstance(make_executor("inline"), InlineExecutor)
    local = make_executor("LOCAL", workers=3, timeout_s=5, memory_mb=100)
    assert isinstance(local, LocalProcessExecutor) and isinstance(local, Executor)
    assert (local.workers, local.timeout_s, local.memory_mb) == (3, 5, 100)
    local.close()
    with pytest.raises(UserInputError) as info:
        make_executor("spark")
    assert "Unknown executor 'spark'" in str(info.value) and "inline, local, ray" in str(info.value)


def test_runs_at_submit_in_order() -> None:
    ex = InlineExecutor(target=behave)
    h = ex.submit(job("a", do="pid"))
    assert isinstance(h, JobHandle) and h.done()  # ran synchronously
    assert h.result().ok and h.result().record["pid"] == os.getpid()  # type: ignore[index]
    assert h.cancel() is False  # already finished


def test_target_by_name_and_unimportable_target() -> None:
    assert InlineExecutor(target=TARGET).submit(job("a", do="pid")).result().ok
    with pytest.raises(UserInputError, match="cannot be imported by name"):
        LocalProcessExecutor(target=lambda j: j)  # type: ignore[arg-type,return-value]


def test_lazy_mode_defers_and_cancels() -> None:
    ex = InlineExecutor(lazy=True, target=behave)
    h1, h2 = ex.submit(job("a", do="pid")), ex.submit(job("b", do="pid"))
    assert not h1.done() and not h2.done()
    assert h2.cancel() is True
    assert h2.result().error_kind == "cancelled"
    assert h1.result().ok and h1.done()


@pytest.mark.parametrize(("do", "kind", "needle"), [("raise", "crash", "ValueError: planted bug")])
def test_exception_in_job_becomes_failed_result(do: str, kind: str, needle: str) -> None:
    r = InlineExecutor(target=behave).submit(job("x", do=do)).result()
    assert (r.ok, r.error_kind) == (False, kind) and needle in (r.error or "")


def test_memory_error_is_memory_kind() -> None:
    def oom(j: Job) -> JobResult:  # in-process target: never has to be importable by name
        raise MemoryError

    r = InlineExecutor(target=oom).submit(job("m")).result()
    assert r.error_kind == "memory" and not r.ok


def test_closed_executor_refuses_jobs() -> None:
    ex = InlineExecutor(target=behave)
    ex.close()
    with pytest.raises(RuntimeError, match="closed"):
        ex.submit(job("a", do="pid"))


def test_real_jobs_are_deterministic_inline(tmp_path: Path) -> None:
    folder = build_run_folder(tmp_path)
    with InlineExecutor() as ex:
        first = ex.submit(real_jobs(folder, "a")[0]).result()
        again = ex.submit(real_jobs(folder, "b")[0]).result()
    assert comparable(first) == comparable(again)
    assert first.record["recipe"]["family"] == "logistic" and 0.5 < first.record["value"] <= 1.0  # type: ignore[index]
    assert (folder.artifacts("a0") / "record.json").is_file() and (folder.artifacts("b0") / "oof.parquet").is_file()
