"""One full-team run on the readmission cohort (planted PHI, a post-outcome leak, repeated
patients), checked four ways: it finishes and reports; the protocol shows in the state
(critique before every enqueue, no experiment twice, nothing re-run inside a dead end);
every data read happened in the steward's step or an executor job, never in the
orchestrator; and no PHI value reached a brain, the forum, a log line or the report.

Brains of the analysts, the feature agent and the translator are recording
``FunctionBrain`` doubles wrapping the expert policy: what they were shown is exactly what an
LLM brain would be sent (before its egress gate, which this test does not rely on).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from agents_helpers import DataReads
from autods.agents.doubles import FunctionBrain
from autods.agents.expert import ExpertBrain
from autods.agents.run import RunOptions, start_run
from autods.server.protocol import in_dead_end
from autods.server.service import Actor, Service
from autods.state.records import DeadEnd, Proposal
from autods.state.store import Store

PHI_COLUMNS = ("mrn", "patient_name", "phone", "date_of_birth", "discharge_note")
RECORDED = ("analyst", "feature", "translator")


@pytest.fixture(scope="module")
def team_run(examples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    task = examples_dir / "task-readmission"
    runs = tmp_path_factory.mktemp("runs")
    brains: dict[str, FunctionBrain] = {}

    def factory(name: str, role: str) -> FunctionBrain | None:
        if role not in RECORDED:
            return None
        expert = ExpertBrain(role, n_analysts=3, name=name)
        brains[name] = FunctionBrain(expert.decide, name=name)
        return brains[name]

    options = RunOptions(n_resamples=20, track_resamples=20, floor_seeds=2, finish=("validation", "report"))
    with threadpool_limits(1), DataReads([task / "data", runs]) as reads:
        out = start_run(task, run_name="team", runs_dir=runs, budget=6, executor="inline", display=False,
                        options=options, brain_factory=factory)
    yield {"summary": out.summary, "folder": out.folder.root, "brains": brains, "reads": reads, "task": task}


def _state(folder: Path) -> tuple[Service, Actor, int, Store]:
    store = Store.open(f"sqlite:///{folder / 'state.db'}")
    service = Service(store)
    viewer = Actor(agent_id=None, role="viewer")
    return service, viewer, service.list_runs(viewer)[0].id, store


@pytest.mark.slow
def test_the_team_run_finishes_with_a_confirmed_champion_and_a_report(team_run: dict[str, Any]) -> None:
    s, folder = team_run["summary"], team_run["folder"]
    brief = {k: v for k, v in s.items() if k != "log"}
    assert s["exit_reason"] in ("budget", "exhausted") and s["budget_used"] >= 6, brief
    assert s["champion"]["metric"] == "auroc" and s["noise_floor"]["n_seeds"] == 2, brief
    tracks = [line for line in (folder / "audit.jsonl").read_text().splitlines() if '"track"' in line]
    for name in ("run_summary.json", "audit.jsonl", "validation.json", "fact_sheet.json"):
        assert (folder / name).is_file(), (name, tracks)
    assert any(t["name"].startswith("analyst-") for t in s["teams"])


@pytest.mark.slow
def test_every_enqueue_follows_an_approving_critique_and_nothing_runs_twice(team_run: dict[str, Any]) -> None:
    service, viewer, run_id, store = _state(team_run["folder"])
    try:
        items = service.list_queue(viewer, run_id)
        for item in items:
            crits = service.list_critiques(viewer, item.proposal_id)
            prop = service.get_proposal(viewer, item.proposal_id)
            assert any(c.verdict == "approve" and c.author != prop.author and c.created_at <= item.created_at
                       for c in crits), f"item {item.id} was queued without an approving critique"
        taken = [(i.recipe_hash, i.seed) for i in items if i.status != "aborted"]
        assert len(taken) == len(set(taken))
        for de in service.list_dead_ends(viewer, run_id):
            later = [i for i in items if i.created_at > de.created_at]
            for i in later:
                assert not in_dead_end(service.get_proposal(viewer, i.proposal_id), de), "a dead end was re-run"
        results = service.list_results(viewer, run_id)
        assert len({r.queue_item_id for r in results}) == len(results)
        harness = {str(a.id) for a in service.list_agents(viewer, run_id) if a.role == "harness"}
        assert results and all(r.recorded_by in harness for r in results)  # never a brain
    finally:
        store.close()


def test_dead_end_check_is_not_vacuous_on_a_synthetic_record() -> None:
    de = DeadEnd(id=1, run_id=1, family="lightgbm", region={}, reason="r", author="1", created_at=0.0)
    p = Proposal(id=1, run_id=1, title="t", recipe={"family": "lightgbm"}, hypothesis="h", expected_effect=0.0,
                 family="lightgbm", canonical_hash="x", author="2", created_at=1.0)
    assert in_dead_end(p, de)


@pytest.mark.slow
def test_only_the_steward_and_executor_jobs_read_data(team_run: dict[str, Any]) -> None:
    reads = team_run["reads"]
    assert reads.violations == [], reads.violations[:3]
    stewards = [r for r in reads.reads if any("agents/steward.py" in f for f in r["stack"])]
    jobs = [r for r in reads.reads if any("execution/job.py" in f for f in r["stack"])]
    assert stewards and any(r["path"].endswith(".csv") for r in stewards)
    assert jobs and any(r["path"].endswith("frame.parquet") for r in jobs)


@pytest.mark.slow
def test_the_tracer_flags_a_read_outside_the_steward_and_executors(team_run: dict[str, Any]) -> None:
    frame = team_run["folder"] / "analytic" / "frame.parquet"
    with DataReads([team_run["folder"]]) as reads:
        pd.read_parquet(frame)  # this test module is neither the steward nor an executor
    assert reads.violations and all(v["path"] == str(frame) for v in reads.violations)


def test_orchestrator_module_imports_no_reader() -> None:
    import autods.agents.orchestrator as orch

    tree = ast.parse(Path(orch.__file__).read_text(encoding="utf-8"))
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    forbidden = {"pandas", "pyarrow", "numpy", "autods.tasks.load", "autods.execution.analytic",
                 "autods.execution.job", "autods.runners", "autods.judge"}
    assert not {m for m in imported if any(m == f or m.startswith(f + ".") for f in forbidden)}
    calls = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
             for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert not calls & {"open", "read_csv", "read_parquet", "read_table", "read_h5ad", "load_task"}


def _phi_values(task: Path) -> list[str]:
    raw = pd.read_csv(task / "data" / "encounters.csv", dtype=str)
    values = {v for c in PHI_COLUMNS for v in raw[c].dropna().unique()}
    return sorted(v for v in values if len(v) >= 6)


@pytest.mark.slow
def test_no_phi_value_reaches_a_brain_the_forum_a_log_or_the_report(team_run: dict[str, Any]) -> None:
    phi = _phi_values(team_run["task"])
    assert len(phi) > 1000  # the cohort really has planted PHI
    shown = [obs.model_dump_json() for b in team_run["brains"].values() for obs in b.observations]
    assert len(shown) > 20
    haystacks = {"observations": "\n".join(shown).encode()}
    for path in team_run["folder"].rglob("*"):
        if path.is_file():
            haystacks[str(path.relative_to(team_run["folder"]))] = path.read_bytes()
    assert "state.db" in haystacks and "audit.jsonl" in haystacks and "report.html" in haystacks or \
        "fact_sheet.json" in haystacks
    leaks = [(name, v) for name, blob in haystacks.items() for v in phi if v.encode() in blob]
    assert leaks == [], leaks[:5]
    obs = team_run["brains"]["analyst-1"].observations[-1]
    assert "mrn" in {e["name"] for e in obs.task.excluded}  # the brain is told the column was removed
