"""Ray executor on a local 2-CPU Ray: same records as inline, timeout, crash, cancel, close.

Marked ``ray`` (a local Ray takes several seconds to start): skipped locally unless
AUTODS_TEST_ALL=1, always run in CI. The helper targets reach Ray workers through
PYTHONPATH, which a local Ray's workers inherit from the driver's environment.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from execution_helpers import TARGET, build_run_folder, comparable, descendants, job, oof, real_jobs, wait_gone

from autods.errors import UserInputError
from autods.execution import make_executor
from autods.execution.base import Job
from autods.execution.inline import InlineExecutor
from autods.execution.ray_executor import RayExecutor  # imports ray only when an executor is built
from autods.runfolder import RunFolder

TESTS_DIR = str(Path(__file__).resolve().parent)
BEFORE_RAY: set[int] = set()  # our child processes before Ray started (e.g. multiprocessing's resource tracker)


def test_missing_ray_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(UserInputError) as info:
        make_executor("ray")
    assert str(info.value) == "Ray is not installed. Fix: pip install 'autods[ray]'."


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> RunFolder:
    return build_run_folder(tmp_path_factory.mktemp("exec_ray"))


@pytest.fixture(scope="module")
def ray_ex() -> Iterator[RayExecutor]:
    pytest.importorskip("ray")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS_DIR, old) if p)
    BEFORE_RAY.update(descendants(os.getpid()))
    try:
        ex = RayExecutor(num_cpus=2, target=TARGET)
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = old
    yield ex
    ex.close()


@pytest.mark.ray
def test_ray_records_equal_inline_records(ray_ex: RayExecutor, folder: RunFolder) -> None:
    inline = [InlineExecutor().submit(j).result() for j in real_jobs(folder, "inl")]
    ex = RayExecutor()  # attaches to the running Ray, default target run_job
    assert not ex.started_ray
    assert ex.capacity == 2, ex.capacity
    handles = [ex.submit(j) for j in real_jobs(folder, "ray")]
    results = [h.result(timeout=300) for h in handles]
    ex.close()
    import ray

    assert ray.is_initialized(), "closing an executor that attached must not shut Ray down"
    for got, want in zip(results, inline, strict=True):
        assert got.ok, got.error
        assert comparable(got) == comparable(want)
    for k in range(2):
        pd.testing.assert_frame_equal(oof(folder, f"ray{k}"), oof(folder, f"inl{k}"))


@pytest.mark.ray
def test_ray_runs_jobs_in_worker_processes(ray_ex: RayExecutor) -> None:
    results = [h.result(timeout=120) for h in [ray_ex.submit(job(f"p{k}", do="pid")) for k in range(3)]]
    assert all(r.ok for r in results)
    assert os.getpid() not in {r.record["pid"] for r in results}  # type: ignore[index]


@pytest.mark.ray
def test_ray_timeout(ray_ex: RayExecutor) -> None:
    started = time.monotonic()
    r = ray_ex.submit(job("t", do="sleep", s=60).model_copy(update={"timeout_s": 1.0})).result(timeout=60)
    assert (r.ok, r.error_kind) == (False, "timeout")
    assert time.monotonic() - started < 20
    assert ray_ex.submit(job("after", do="pid")).result(timeout=120).ok


@pytest.mark.ray
def test_ray_crash_and_exception_are_isolated(ray_ex: RayExecutor) -> None:
    bad = ray_ex.submit(job("x", do="exit"))
    raised = ray_ex.submit(job("r", do="raise"))
    good = ray_ex.submit(job("g", do="sleep", s=0.2))
    assert bad.result(timeout=120).error_kind == "crash"
    assert raised.result(timeout=120).error_kind == "crash" and "planted bug" in (raised.result().error or "")
    assert good.result(timeout=120).ok


@pytest.mark.ray
def test_ray_memory_limit(ray_ex: RayExecutor) -> None:
    big = job("big", do="alloc", mb=1500).model_copy(update={"memory_mb": 200})
    assert ray_ex.submit(big).result(timeout=120).error_kind == "memory"
    assert ray_ex.submit(job("free", do="alloc", mb=1500)).result(timeout=120).ok


@pytest.mark.ray
def test_ray_cancel_pending_and_running(ray_ex: RayExecutor) -> None:
    running = [ray_ex.submit(job(f"run{k}", do="sleep", s=60)) for k in range(2)]  # fills both CPUs
    pending = ray_ex.submit(job("pend", do="pid"))
    deadline = time.monotonic() + 60
    while not all(h.running() for h in running) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(1.0)  # let Ray start the tasks in its workers
    assert all(h.running() for h in running) and not pending.running()
    assert pending.cancel() is True and pending.result(timeout=0).error_kind == "cancelled"
    for h in running:
        assert h.cancel() is True
        assert h.result(timeout=0).error_kind == "cancelled"
    # well under the 60 s sleeps: force-cancel killed them and freed both CPUs
    assert ray_ex.submit(job("next", do="pid")).result(timeout=30).ok


def _sandboxes_under_ray_workers() -> list[tuple[int, str]]:
    """(bwrap pid, its parent's process title) for every bubblewrap sandbox this driver's Ray runs
    (a sandbox the driver itself started is a direct child of the driver, and is not counted)."""
    found = []
    for pid in descendants(os.getpid()):
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            title = Path(f"/proc/{parent}/cmdline").read_bytes().split(b"\0")[0].decode()
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if os.path.basename(argv0) == "bwrap" and parent != os.getpid():
            found.append((pid, title))
    return found


CODE_LOGISTIC = """
from sklearn.linear_model import LogisticRegression
class Model:
    def fit(self, X, y):
        self.m = LogisticRegression(C=0.5, l1_ratio=0.0, max_iter=2000, random_state=0).fit(X, y)
        return self
    def predict_proba(self, X):
        return self.m.predict_proba(X)
"""


@pytest.mark.ray
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
def test_ray_runs_code_experiments_in_the_sandbox_on_the_worker(ray_ex: RayExecutor, folder: RunFolder) -> None:
    """A Ray worker can read the run folder (it must, to read analytic/), yet the code it runs
    cannot: the read is refused inside a bubblewrap sandbox whose parent is the Ray worker, and
    an honest code model scores on the worker exactly like the same logistic recipe."""
    frame = folder.analytic / "frame.parquet"
    assert frame.exists()
    hostile = ("class Model:\n    def fit(self, X, y):\n"
               f"        self.stolen = open({str(frame)!r}, 'rb').read()\n        return self\n")
    wrap = {"do": "run", "recipe": {}}
    jobs = [Job(job_id="rayc_bad", run_dir=str(folder.root), recipe={**wrap, "recipe": {"family": "code", "params": {"source": hostile}}},
                n_resamples=50),
            Job(job_id="rayc_code", run_dir=str(folder.root), recipe={**wrap, "recipe": {"family": "code", "params": {"source": CODE_LOGISTIC}}},
                n_resamples=50),
            Job(job_id="rayc_rec", run_dir=str(folder.root), recipe={**wrap, "recipe": {"family": "logistic", "params": {"C": 0.5}}},
                n_resamples=50)]
    bad, coded, recipe = [h.result(timeout=300) for h in [ray_ex.submit(j) for j in jobs]]
    assert (bad.ok, bad.error_kind) == (False, "recipe"), bad
    assert "code experiment fit failed in the sandbox: FileNotFoundError" in (bad.error or ""), bad.error
    assert "\n" not in (bad.error or "")
    boxes = _sandboxes_under_ray_workers()
    assert boxes and all(title.startswith("ray::") for _, title in boxes), boxes
    assert coded.ok and recipe.ok, (coded.error, recipe.error)
    assert coded.record["fold_scores"] == pytest.approx(recipe.record["fold_scores"], abs=1e-9)  # type: ignore[index]


@pytest.mark.ray
def test_ray_close_shuts_down_the_ray_it_started(ray_ex: RayExecutor) -> None:
    import ray

    assert ray_ex.started_ray
    children = [p for p in descendants(os.getpid()) if p not in BEFORE_RAY]
    assert children, "a local Ray runs child processes (gcs_server, raylet, workers)"
    queued = ray_ex.submit(job("q", do="sleep", s=60))
    ray_ex.close()
    assert not ray.is_initialized()
    assert queued.result(timeout=0).error_kind == "cancelled"
    assert wait_gone(children, within_s=30), [p for p in children if p in descendants(os.getpid())]
