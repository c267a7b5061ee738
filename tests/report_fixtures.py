"""A real run folder without agents, for the report tests.

:func:`build_run` does what a run does, minus the brains: the data steward's step
(``prepare_analytic``), then through the real coordination protocol (``Service`` on a
SQLite ``Store``, agents with their roles) proposals, critiques, enqueues, claims, judge
evaluations (``run_job``, the function every executor runs), recorded results and
failures, promotions and a dead end; then validation, fact sheet and report. Every number
in the resulting report comes from real computation on the bundled example's data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import pytest

from autods.errors import ProtocolViolation, UserInputError
from autods.examples import example_path, list_examples
from autods.execution.analytic import prepare_analytic
from autods.execution.base import Job
from autods.execution.job import run_job
from autods.runfolder import RunConfig, RunFolder
from autods.server.service import Actor, Service
from autods.state.store import Store

#: Every bundled example (the report's number check runs on each).
EXAMPLES = tuple(list_examples())
#: Examples quick enough for the default test run; the others are slow-marked (run in CI).
FAST_EXAMPLES = ("task-breast-cancer", "task-gbsg2-survival")


@dataclass(frozen=True)
class Plan:
    title: str
    family: str
    recipe: dict[str, Any]
    team: int  # index into TEAMS
    hypothesis: str
    seeds: tuple[int, ...] = (0, 1)


TEAMS = (("baseline", "a penalised linear model is hard to beat at this sample size", "linear"),
         ("trees", "interactions and non-linearity add discrimination", "boosting and forests"))

PLANS: dict[str, list[Plan]] = {
    "binary": [
        Plan("logistic baseline", "logistic", {"family": "logistic"}, 0, "the linear baseline"),
        Plan("small LightGBM", "lightgbm", {"family": "lightgbm", "params": {"n_estimators": 60, "num_leaves": 8}}, 1,
             "shallow boosting captures interactions"),
    ],
    "survival": [
        Plan("Cox baseline", "cox", {"family": "cox"}, 0, "proportional hazards baseline"),
        Plan("small survival forest", "rsf", {"family": "rsf", "params": {"n_estimators": 30, "min_samples_leaf": 20}}, 1,
             "a forest captures non-proportional effects"),
    ],
    "regression": [
        Plan("ridge baseline", "ridge", {"family": "ridge"}, 0, "the linear baseline"),
        Plan("small LightGBM", "lightgbm", {"family": "lightgbm", "params": {"n_estimators": 40, "num_leaves": 8}}, 1,
             "shallow boosting captures non-linear dose-response"),
    ],
}
#: A recipe the judge refuses (unknown feature): recorded as a failed experiment with its reason.
BROKEN = Plan("a feature that does not exist", "logistic", {"family": "ridge", "features": ["no_such_column"]}, 0,
              "a typo a brain might make", seeds=(0,))


def _actor(service: Service, run_id: int, name: str, role: str) -> Actor:
    agent, _ = service.register_agent(run_id, name, role)
    return Actor(agent_id=agent.id, role=role, run_id=run_id, name=name)


def _plans(task_type: str) -> list[Plan]:
    kind = {"biomarker": "regression", "multiclass": "binary", "singlecell": "binary"}.get(task_type, task_type)
    broken = Plan(BROKEN.title, PLANS[kind][0].family, {**BROKEN.recipe, "family": PLANS[kind][0].family}, 0,
                  BROKEN.hypothesis, seeds=(0,))
    return [*PLANS[kind], broken]


def run_protocol(folder: RunFolder, task_type: str, *, n_resamples: int = 200) -> dict[str, Any]:
    """Propose -> critique -> enqueue -> claim -> judge -> record -> promote, for a few plans.

    Returns the champion's recipe, seed and experiment id (the artifacts folder name).
    """
    store = Store.open(folder.state_url)
    try:
        service = Service(store)
        run = service.create_run(folder.config().name, {"fixture": True})
        analyst = _actor(service, run.id, "analyst-1", "analyst")
        critic = _actor(service, run.id, "validator-1", "validator")
        harness = _actor(service, run.id, "harness", "harness")
        teams = [service.create_team(analyst, run.id, *t) for t in TEAMS]
        for plan in _plans(task_type):
            proposal = service.propose(analyst, run.id, plan.recipe, plan.hypothesis, 0.01, plan.family, plan.title,
                                       teams[plan.team].id)
            service.critique(critic, proposal.id, "approve", "plausible, affordable, not a dead end")
            for seed in plan.seeds:
                service.enqueue(analyst, proposal.id, seed)
            result_ids = []
            while (item := service.claim(harness, run.id)) is not None:
                res = run_job(Job(job_id=str(item.id), run_dir=str(folder.root), recipe=plan.recipe, seed=item.seed,
                                  n_resamples=n_resamples))
                if not res.ok or res.record is None or res.record["value"] is None:
                    service.record_failure(harness, item.id, f"{res.error_kind}: {res.error}")
                    continue
                rec = res.record
                result = service.record_result(
                    harness, item.id, rec["metric"], rec["value"], rec["higher_is_better"],
                    [s for s in rec["fold_scores"] if s is not None], rec["ci_low"], rec["ci_high"], res.duration_s,
                    {"dir": f"artifacts/{item.id}"})
                result_ids.append(result.id)
            if result_ids:
                try:
                    service.promote(harness, result_ids[0])
                except ProtocolViolation:
                    pass  # not better than the champion by more than the noise floor: stays in the log
        service.add_dead_end(analyst, run.id, "elastic_net", {"params.l1_ratio": 1.0},
                             "pure lasso was unstable across seeds in a pilot", {"pilot_results": [1, 2]}, teams[0].id)
        viewer = Actor(agent_id=None, role="viewer")
        champ = service.champion(viewer, run.id)
        assert champ is not None, "the fixture promotes at least its first confirmed result"
        result = next(r for r in service.list_results(viewer, run.id) if r.id == champ.result_id)
        proposal = service.get_proposal(viewer, result.proposal_id)
        return {"recipe": proposal.recipe, "seed": result.seed, "experiment_id": Path(result.artifacts["dir"]).name}
    finally:
        store.close()


def build_run(task: str | Path, root: Path, *, n_resamples: int = 200, validate: bool = True,
              render: bool = True) -> Path:
    """A complete run folder of a bundled example (by name) or a task folder, under ``root``."""
    task_dir = Path(task) if isinstance(task, Path) else example_path(task)
    name = task_dir.name
    folder = RunFolder(root / name)
    folder.root.mkdir(parents=True)
    command = ["autods", "run", str(task_dir), "--run-name", name, "--budget", "6", "--executor", "inline"]
    folder.save_config(RunConfig(name=name, task_dir=str(task_dir), seed=0, budget=6, executor="inline",
                                 status="running", command=command, created_at="2026-01-01T00:00:00+00:00"))
    folder.copy_task_spec(task_dir)
    prepare_analytic(task_dir, folder, salt="report-fixture")
    governance = json.loads((folder.analytic / "governance.json").read_text())
    analytic_type = json.loads((folder.analytic / "design.json").read_text())["task_type"]
    folder.append_audit({"event": "phase", "phase": "govern", "actor": "steward", "ts": "2026-01-01T00:00:01+00:00",
                         "n_phi_columns": len(governance["phi_columns"])})
    champ = run_protocol(folder, analytic_type, n_resamples=n_resamples)
    folder.append_audit({"event": "champion", "actor": "harness", "ts": "2026-01-01T00:00:02+00:00",
                         "experiment_id": champ["experiment_id"]})
    if validate:
        from autods.judge.biomarkers import BatteryConfig
        from autods.reports import validate_champion

        validate_champion(folder.root, champ["recipe"], seed=champ["seed"], experiment_id=champ["experiment_id"],
                          n_resamples=n_resamples, battery_config=BatteryConfig(seed=0, n_permutations=200,
                                                                                n_bootstrap=200))
    if render:
        from autods.reports import build_fact_sheet, render_report

        build_fact_sheet(folder.root)
        render_report(folder.root)
    return folder.root


_CACHE: dict[str, Path] = {}


def shared_run(example: str, base: Path) -> Path:
    """One run folder per example per test session (building one takes seconds to a minute).

    An example whose loader needs an extra that is not installed is skipped, not failed.
    """
    if example not in _CACHE:
        try:
            _CACHE[example] = build_run(example, base)
        except UserInputError as err:
            if "pip install" not in str(err):
                raise
            pytest.skip(f"{example} needs an optional package: {err}")
    return _CACHE[example]


def example_params() -> list[Any]:
    """pytest params of every bundled example, the slow ones marked."""
    return [pytest.param(e, marks=() if e in FAST_EXAMPLES else pytest.mark.slow) for e in EXAMPLES]


def synthetic_task(root: Path, task_type: str = "binary", *, n: int = 400, seed: int = 0, external: bool = True) -> Path:
    """A small task folder with known structure: ``x_strong`` drives the outcome, ``x_weak`` a
    little, ``noise`` not at all; ``mrn`` is PHI (dropped by governance); ``group`` is a
    fairness subgroup. With ``external``, ``data/external.csv`` holds 200 more rows from the
    same model (with ``mrn`` and 10 rows lacking the endpoint)."""
    rng = np.random.default_rng(seed)

    def rows(m: int, start: int) -> pd.DataFrame:
        x_strong, x_weak, noise = rng.normal(size=m), rng.normal(size=m), rng.normal(size=m)
        frame = pd.DataFrame({"patient_id": [f"P{start + i:05d}" for i in range(m)],
                              "mrn": [f"MRN{7000000 + start + i}" for i in range(m)],
                              "x_strong": x_strong, "x_weak": x_weak, "noise": noise,
                              "group": rng.choice(["A", "B"], size=m)})
        lin = 1.5 * x_strong + 0.4 * x_weak
        if task_type == "binary":
            frame["y"] = (rng.random(m) < 1 / (1 + np.exp(-lin))).astype(int)
        elif task_type == "multiclass":
            score = lin + rng.normal(scale=0.8, size=m)
            frame["y"] = np.where(score < -0.6, "mild", np.where(score < 0.6, "moderate", "severe"))
        elif task_type == "survival":
            t = rng.exponential(np.exp(-lin)) * 10 + 0.01
            c = rng.exponential(15.0, size=m) + 0.01
            frame["time"], frame["event"] = np.minimum(t, c).round(3), (t <= c).astype(int)
        else:
            frame["y"] = 1.0 * x_strong + 0.5 * x_weak + rng.normal(scale=1.0, size=m)  # |rho| < 0.85: not a proxy
        return frame

    folder = root / f"synthetic-{task_type}"
    (folder / "data").mkdir(parents=True)
    rows(n, 0).to_csv(folder / "data" / "cohort.csv", index=False)
    endpoint = "{time: time, event: event}" if task_type == "survival" else "y"
    meta = [f"name: synthetic-{task_type}", f"task_type: {task_type}", f"endpoint: {endpoint}",
            "data: data/cohort.csv", "validation: stratified-cv", "id_column: patient_id", "fairness_subgroups: [group]"]
    # No positive_class: with missing endpoints the external column reads as float (1.0), and
    # a declared positive_class 1 would not match it (reported in .coordination/requests.md).
    if external:
        ext = rows(200, 100000)
        ext.loc[ext.index[:10], "y" if task_type != "survival" else "event"] = None
        ext.to_csv(folder / "data" / "external.csv", index=False)
        meta.append("external: data/external.csv")
    (folder / "TASK.md").write_text("---\n" + "\n".join(meta) + "\n---\nSynthetic task for the report tests.\n")
    return folder


def shared_synthetic(task_type: str, base: Path) -> Path:
    """One run folder of :func:`synthetic_task` per task type per test session."""
    key = f"synthetic-{task_type}"
    if key not in _CACHE:
        _CACHE[key] = build_run(synthetic_task(base / "tasks", task_type), base / "runs")
    return _CACHE[key]
