"""Determinism and resume: the same seed gives the same experiment log; a crash at any
point loses nothing and runs nothing twice; ``kill -9`` at random moments in a subprocess
(slow) leaves a log with no gap and no duplicate."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from threadpoolctl import threadpool_limits

from autods.agents.harness import Harness
from autods.agents.orchestrator import Orchestrator
from autods.agents.run import RunOptions, resume_run, start_run
from autods.agents.status import run_status
from autods.cli import run as cli
from autods.server.service import Actor, Service
from autods.state.store import Store

OPTS = RunOptions(n_resamples=0, floor_seeds=2, finish=())
BUDGET = 7


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with threadpool_limits(1):
        yield


class Crash(BaseException):
    """Stands in for the process dying: nothing in the run catches it."""


def _log(folder: Path) -> list[tuple[str, int, float]]:
    summary = json.loads((folder / "run_summary.json").read_text())
    return [(e["recipe_hash"], e["seed"], round(e["value"], 12)) for e in summary["log"]]


def _state(folder: Path) -> dict[str, Any]:
    store = Store.open(f"sqlite:///{folder / 'state.db'}")
    try:
        service, viewer = Service(store), Actor(agent_id=None, role="viewer")
        run_id = service.list_runs(viewer)[0].id
        return {"items": service.list_queue(viewer, run_id), "results": service.list_results(viewer, run_id)}
    finally:
        store.close()


def _check_no_gap_no_duplicate(folder: Path) -> dict[str, Any]:
    st = _state(folder)
    items, results = st["items"], st["results"]
    assert [i.id for i in items] == list(range(1, len(items) + 1))
    assert [r.id for r in results] == list(range(1, len(results) + 1)), "a gap in the experiment log"
    assert all(i.status in ("done", "failed", "aborted") for i in items), [i.status for i in items]
    done = {i.id for i in items if i.status == "done"}
    assert sorted(r.queue_item_id for r in results) == sorted(done), "a finished item without exactly one result"
    pairs = [(r.recipe_hash, r.seed) for r in results]
    assert len(pairs) == len(set(pairs)), "an experiment was recorded twice"
    return st


@pytest.fixture(scope="module")
def reference(examples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("ref")
    with threadpool_limits(1):
        start_run(examples_dir / "task-breast-cancer", run_name="ref", runs_dir=runs, budget=BUDGET,
                  executor="inline", display=False, options=OPTS)
    return runs / "ref"


def test_same_seed_same_experiment_log(examples_dir: Path, reference: Path, tmp_path: Path) -> None:
    start_run(examples_dir / "task-breast-cancer", run_name="again", runs_dir=tmp_path, budget=BUDGET,
              executor="inline", display=False, options=OPTS)
    first, second = _log(reference), _log(tmp_path / "again")
    assert len(first) >= BUDGET - 1 and len({h for h, _, _ in first}) >= 3
    assert first == second


@pytest.mark.slow
def test_a_crash_mid_job_resumes_with_nothing_lost_or_repeated(examples_dir: Path, reference: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    original = Harness._record
    calls = {"n": 0}

    def dying(self: Harness, item_id: int, res: Any, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 4:  # the job ran, its result was never recorded: a claimed orphan
            raise Crash()
        return original(self, item_id, res, *args)

    monkeypatch.setattr(Harness, "_record", dying)
    with pytest.raises(Crash):
        start_run(examples_dir / "task-breast-cancer", run_name="c", runs_dir=tmp_path, budget=BUDGET,
                  executor="inline", display=False, options=OPTS)
    before = _state(tmp_path / "c")
    assert len(before["results"]) == 3 and any(i.status == "claimed" for i in before["items"])
    monkeypatch.setattr(Harness, "_record", original)
    resume_run(tmp_path / "c", display=False)
    after = _check_no_gap_no_duplicate(tmp_path / "c")
    assert [(r.id, r.value) for r in after["results"][:3]] == [(r.id, r.value) for r in before["results"]]
    assert len(after["results"]) >= BUDGET - 1
    assert run_status(tmp_path / "c")["status"] == "done"


def test_a_crash_between_rounds_resumes_to_the_uninterrupted_log(examples_dir: Path, reference: Path,
                                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Orchestrator._emit

    def dying(self: Orchestrator, snap: Any) -> None:
        original(self, snap)
        if snap is not None and len(snap.results) >= 4:
            raise Crash()

    monkeypatch.setattr(Orchestrator, "_emit", dying)
    with pytest.raises(Crash):
        start_run(examples_dir / "task-breast-cancer", run_name="b", runs_dir=tmp_path, budget=BUDGET,
                  executor="inline", display=False, options=OPTS)
    monkeypatch.setattr(Orchestrator, "_emit", original)
    resume_run(tmp_path / "b", display=False)
    _check_no_gap_no_duplicate(tmp_path / "b")
    # the expert brains rebuild their state (Optuna studies included) from the recorded log
    assert _log(tmp_path / "b") == _log(reference)


def test_a_resumed_run_whose_execution_had_begun_does_not_discuss_again(examples_dir: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The discussion phase runs its full length when an analyst never gets an approval (forced
    here); a resume after execution began must not start it over: extra discussion rounds let
    the analysts propose more before anything runs, and the dispatch order differed."""
    import autods.agents.orchestrator as orchestrator

    monkeypatch.setattr(orchestrator, "_discussion_done", lambda snap, agents: False)
    rounds: dict[str, int] = {}
    step = Orchestrator._step

    def counting(self: Orchestrator, phase: str, *args: Any, **kwargs: Any) -> Any:
        key = f"{self.limits.budget}:{phase}"
        rounds[key] = rounds.get(key, 0) + 1
        return step(self, phase, *args, **kwargs)

    monkeypatch.setattr(Orchestrator, "_step", counting)
    start_run(examples_dir / "task-breast-cancer", run_name="long", runs_dir=tmp_path, budget=BUDGET,
              executor="inline", display=False, options=OPTS)
    discussed = rounds.pop(f"{BUDGET}:discussion")
    rounds.clear()
    original = Orchestrator._emit

    def dying(self: Orchestrator, snap: Any) -> None:
        original(self, snap)
        if snap is None:
            return
        searched = {p["id"] for p in snap.proposals if p.get("author_name", "")
                    .startswith(("analyst", "feature"))}
        # in the execution phase, after an analyst's result (a crash inside a discussion is not covered)
        if self.progress.phase == "execution" and any(r["proposal_id"] in searched for r in snap.results):
            raise Crash()

    monkeypatch.setattr(Orchestrator, "_emit", dying)
    with pytest.raises(Crash):
        start_run(examples_dir / "task-breast-cancer", run_name="cut", runs_dir=tmp_path, budget=BUDGET,
                  executor="inline", display=False, options=OPTS)
    monkeypatch.setattr(Orchestrator, "_emit", original)
    resume_run(tmp_path / "cut", display=False)
    _check_no_gap_no_duplicate(tmp_path / "cut")
    assert discussed >= orchestrator.DISCUSSION_ROUNDS and rounds[f"{BUDGET}:discussion"] == discussed
    assert _log(tmp_path / "cut") == _log(tmp_path / "long")


def test_status_and_cli_contract_on_a_finished_run(reference: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["status", str(reference), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["status"] == "done" and info["champion"]["metric"] == "auroc"
    assert info["experiments"]["results"] == len(_log(reference))
    assert cli(["resume", str(reference), "--quiet"]) == 0  # a finished run is left as it is
    capsys.readouterr()
    code = cli(["run", str(Path(json.loads((reference / "run.json").read_text())["task_dir"])),
                "--run-name", "ref", "--runs-dir", str(reference.parent), "--executor", "inline"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "already exists" in err[0] and "autods resume" in err[0]


def test_resume_of_a_folder_that_is_not_a_run_is_a_user_error(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["resume", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


@pytest.mark.slow
def test_kill_9_at_random_points_leaves_no_gap_and_no_duplicate(examples_dir: Path, tmp_path: Path) -> None:
    rng = random.Random(20240501)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    script = (
        "import sys; from autods.agents.run import RunOptions, start_run, resume_run\n"
        "opts = RunOptions(n_resamples=0, floor_seeds=2, finish=())\n"
        "if sys.argv[1] == 'run':\n"
        f"    start_run({str(examples_dir / 'task-breast-cancer')!r}, run_name='k', runs_dir={str(tmp_path)!r},"
        " budget=40, executor='inline', display=False, options=opts)\n"
        "else:\n"
        f"    resume_run({str(tmp_path / 'k')!r}, display=False)\n"
    )
    kills = 0
    for attempt in range(6):
        mode = "run" if attempt == 0 else "resume"
        log = tmp_path / f"stderr-{attempt}.txt"
        with open(log, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-c", script, mode], env=env, stdout=subprocess.DEVNULL,
                                    stderr=err)
            deadline = time.monotonic() + rng.uniform(3.0, 9.0)
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
        assert proc.returncode == 0, log.read_text()[-2000:]
        break
    final = subprocess.run([sys.executable, "-c", script, "resume"], env=env, capture_output=True, timeout=900)
    assert final.returncode == 0, final.stderr.decode()[-2000:]
    assert kills >= 2
    st = _check_no_gap_no_duplicate(tmp_path / "k")
    assert len(st["results"]) >= 14


@pytest.mark.postgres
def test_a_run_on_postgresql_state(examples_dir: Path, tmp_path: Path, pg_url: str) -> None:
    url = pg_url
    out = start_run(examples_dir / "task-breast-cancer", run_name="pg", runs_dir=tmp_path, budget=5,
                    executor="inline", display=False, options=OPTS, state_url=url)
    assert not (tmp_path / "pg" / "state.db").exists()
    assert out.summary["exit_reason"] in ("budget", "exhausted") and len(out.summary["log"]) >= 4
    info = run_status(tmp_path / "pg")
    assert info["state"] == "ok" and info["experiments"]["results"] == len(out.summary["log"])
