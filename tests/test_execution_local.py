"""Local process-pool executor: same records as inline, and the isolation guarantees.

Worker targets come from tests/execution_helpers.py (importable by name in a spawned
child). Each guarantee is checked by what the parent can observe: the error kind, how fast
the answer came, which pids still exist, and that the executor keeps serving jobs after.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from execution_helpers import TARGET, build_run_folder, comparable, job, oof, pid_gone, real_jobs, wait_gone

from autods.execution.inline import InlineExecutor
from autods.execution.local import LocalProcessExecutor
from autods.runfolder import RunFolder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> RunFolder:
    return build_run_folder(tmp_path_factory.mktemp("exec_local"))


@pytest.fixture
def pool() -> Iterator[LocalProcessExecutor]:
    ex = LocalProcessExecutor(workers=2, target=TARGET)
    yield ex
    ex.close()


def test_local_records_equal_inline_records(folder: RunFolder) -> None:
    inline = [InlineExecutor().submit(j).result() for j in real_jobs(folder, "inl")]
    with LocalProcessExecutor(workers=2) as ex:
        handles = [ex.submit(j) for j in real_jobs(folder, "loc")]
        local = [h.result(timeout=300) for h in handles]
    assert [comparable(r) for r in local] == [comparable(r) for r in inline]
    for k in range(2):
        pd.testing.assert_frame_equal(oof(folder, f"loc{k}"), oof(folder, f"inl{k}"))


def test_jobs_run_in_other_processes_in_parallel(pool: LocalProcessExecutor) -> None:
    warm = [pool.submit(job(f"w{k}", do="pid")) for k in range(2)]
    assert all(h.result(timeout=120).ok for h in warm)
    started = time.monotonic()
    sleepers = [pool.submit(job(f"s{k}", do="sleep", s=1.0)) for k in range(2)]
    results = [h.result(timeout=60) for h in sleepers]
    assert all(r.ok for r in results)
    assert time.monotonic() - started < 1.9  # two 1 s jobs on two workers overlap
    pids = {r.record["pid"] for r in results}  # type: ignore[index]
    assert os.getpid() not in pids and pids == set(pool.child_pids())
    # BLAS/OpenMP threads capped so workers x threads <= cores
    assert {r.record["omp"] for r in results} == {str(pool.threads)}  # type: ignore[index]
    assert pool.threads * pool.workers <= max(2, len(os.sched_getaffinity(0)))


def test_timeout_kills_worker_and_pool_recovers(pool: LocalProcessExecutor) -> None:
    long = job("t", do="sleep", s=60).model_copy(update={"timeout_s": 1.0})
    h = pool.submit(long)
    r = h.result(timeout=60)
    assert (r.ok, r.error_kind) == (False, "timeout") and "1 s" in (r.error or "")
    assert pool.submit(job("after", do="pid")).result(timeout=120).ok


def test_executor_default_timeout_applies(tmp_path: Path) -> None:
    with LocalProcessExecutor(workers=1, timeout_s=0.5, target=TARGET) as ex:
        assert ex.submit(job("t", do="sleep", s=60)).result(timeout=60).error_kind == "timeout"


def test_memory_limit(pool: LocalProcessExecutor) -> None:
    big = job("big", do="alloc", mb=1500).model_copy(update={"memory_mb": 200})
    small = job("small", do="alloc", mb=50).model_copy(update={"memory_mb": 200})
    r_big, r_small = pool.submit(big).result(timeout=120), pool.submit(small).result(timeout=120)
    assert (r_big.ok, r_big.error_kind) == (False, "memory")
    assert r_small.ok
    # without a limit the same allocation succeeds, so the limit (not the machine) refused it
    assert pool.submit(job("free", do="alloc", mb=1500)).result(timeout=120).ok


@pytest.mark.parametrize("do", ["exit", "segv"])
def test_crash_is_isolated(pool: LocalProcessExecutor, do: str) -> None:
    bad = pool.submit(job("bad", do=do))
    good = [pool.submit(job(f"g{k}", do="sleep", s=0.2)) for k in range(3)]
    r = bad.result(timeout=120)
    assert (r.ok, r.error_kind) == (False, "crash")
    assert ("SIGSEGV" if do == "segv" else "code 1") in (r.error or "")
    assert all(h.result(timeout=120).ok for h in good)


def test_python_exception_is_a_crash_result_not_a_dead_worker(pool: LocalProcessExecutor) -> None:
    r = pool.submit(job("e", do="raise")).result(timeout=120)
    assert r.error_kind == "crash" and "planted bug" in (r.error or "")
    assert pool.workers_started <= 2  # the worker survived its job's exception


def test_cancel_pending_and_running(tmp_path: Path) -> None:
    with LocalProcessExecutor(workers=1, target=TARGET) as ex:
        running = ex.submit(job("run", do="sleep", s=60))
        pending = ex.submit(job("pend", do="pid"))
        deadline = time.monotonic() + 120
        while not running.running() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert running.running() and not pending.running()
        assert pending.cancel() is True
        assert pending.done() and pending.result().error_kind == "cancelled"
        worker = ex.child_pids()
        assert running.cancel() is True
        r = running.result(timeout=10)
        assert r.error_kind == "cancelled"
        assert wait_gone(worker), "the cancelled job's worker still exists"
        assert running.cancel() is False
        assert ex.submit(job("next", do="pid")).result(timeout=120).ok


def test_result_timeout_raises(pool: LocalProcessExecutor) -> None:
    h = pool.submit(job("slow", do="sleep", s=30))
    with pytest.raises(TimeoutError):
        h.result(timeout=0.05)
    assert h.cancel()


def test_close_leaves_no_process_behind(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    ex = LocalProcessExecutor(workers=2, target=TARGET)
    busy = ex.submit(job("gc", do="spawn_child", pidfile=str(pidfile)))
    queued = [ex.submit(job(f"q{k}", do="sleep", s=60)) for k in range(3)]
    deadline = time.monotonic() + 120
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = ex.child_pids() + [int(pidfile.read_text())]
    assert len(pids) == 3 and not any(pid_gone(p) for p in pids)
    ex.close()
    assert wait_gone(pids, within_s=5), [p for p in pids if not pid_gone(p)]
    assert {busy.result(timeout=0).error_kind} | {h.result(timeout=0).error_kind for h in queued} == {"cancelled"}
    assert ex.child_pids() == []
    with pytest.raises(RuntimeError):
        ex.submit(job("late", do="pid"))


def test_broken_target_fails_jobs_instead_of_respawning_forever() -> None:
    with LocalProcessExecutor(workers=1, target="execution_helpers:no_such_function") as ex:
        r = ex.submit(job("x", do="pid")).result(timeout=180)
    assert r.error_kind == "crash" and "failed to start" in (r.error or "")


def test_start_warms_workers_and_close_does_not_wait_for_imports() -> None:
    ex = LocalProcessExecutor(workers=2)  # default target: workers import the whole ML stack
    ex.start()
    pids = ex.child_pids()
    assert len(pids) == 2
    started = time.monotonic()
    ex.close()  # workers still importing hold no job: killed, not awaited
    assert time.monotonic() - started < 1.5
    assert wait_gone(pids, within_s=5)


DRIVER = """
import sys, time
sys.path.insert(0, {tests!r})
from autods.execution.local import LocalProcessExecutor
from execution_helpers import TARGET, job
if __name__ == "__main__":
    ex = LocalProcessExecutor(workers=1, target=TARGET)
    h = ex.submit(job("gc", do="spawn_child", pidfile={pidfile!r}))
    while not h.running():
        time.sleep(0.02)
    print(ex.child_pids()[0], flush=True)
    time.sleep(300)
"""


def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    """After ``kill -9`` of the run process (resume's use case) no worker or job child lingers."""
    import signal
    import subprocess
    import sys

    pidfile = tmp_path / "grandchild.pid"
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(tests=str(Path(__file__).parent), pidfile=str(pidfile)))
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True) as driver:
        try:
            worker = int(driver.stdout.readline())  # type: ignore[union-attr]
            deadline = time.monotonic() + 60
            while not pidfile.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            grandchild = int(pidfile.read_text())
            assert not pid_gone(worker) and not pid_gone(grandchild)
        finally:
            driver.send_signal(signal.SIGKILL)
            driver.wait()
    assert wait_gone([worker, grandchild], within_s=10), "worker or job child outlived its killed parent"
