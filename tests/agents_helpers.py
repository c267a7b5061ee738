"""Builders for observations and records, so expert-policy tests state only what matters."""

from __future__ import annotations

import json
import os
from typing import Any

from autods.agents.observation import ColumnSummary, Observation, TaskSummary
from autods.agents.snapshot import DESIGN_KEY, SUMMARY_KEY
from autods.runners.recipe import Recipe
from autods.state.hashing import canonical_hash

FEATURES = [
    {"name": "age", "kind": "numeric", "missing_fraction": 0.0, "n_unique": 60,
     "stats": {"mean": 55.0, "std": 15.0, "min": 20.0, "median": 55.0, "max": 90.0}},
    {"name": "crp", "kind": "numeric", "missing_fraction": 0.1, "n_unique": 300,
     "stats": {"mean": 12.0, "std": 20.0, "min": 0.1, "median": 5.0, "max": 250.0}},
    {"name": "sex", "kind": "categorical", "missing_fraction": 0.0, "n_unique": 2, "stats": {}},
    {"name": "leaky", "kind": "numeric", "missing_fraction": 0.0, "n_unique": 100,
     "stats": {"mean": 1.0, "std": 1.0, "min": 0.0, "median": 1.0, "max": 4.0}},
]


def summary(*, task_type: str = "binary", epv: float | None = 40.0, findings: list[dict[str, Any]] | None = None,
            excluded: list[dict[str, str]] | None = None, units_repeat: bool = False) -> dict[str, Any]:
    metric = {"binary": "auroc", "survival": "c_index", "regression": "r2", "multiclass": "macro_f1"}[task_type]
    return {"name": "t", "task_type": task_type, "endpoint": "y", "metric": metric, "higher_is_better": True,
            "cv_strategy": "stratified-cv", "n_splits": 5, "n_rows": 1000, "n_units": 1000, "n_events": 200,
            "events_per_variable": epv, "units_repeat": units_repeat, "features": FEATURES,
            "excluded": excluded or [{"name": "mrn", "reason": "PHI"}], "phi_columns": ["mrn"],
            "findings": findings if findings is not None else [
                {"check": "post_outcome", "severity": "warning", "message": "leaky may be recorded after the outcome",
                 "feature": "leaky"}],
            "subgroups": ["sex"], "confounders": ["age", "sex"], "design_reasons": [], "description": ""}


def post(pid: int, kind: str, data: dict[str, Any] | None = None, body: str = "", author: str = "steward",
         title: str = "t", thread_id: int | None = None) -> dict[str, Any]:
    return {"id": pid, "run_id": 1, "thread_id": thread_id, "team_id": None, "kind": kind, "title": title,
            "body": body, "data": data or {}, "author": author, "author_name": author, "created_at": 0.0}


def recipe(family: str = "logistic", **params: Any) -> dict[str, Any]:
    features = params.pop("features", None)
    preprocess = params.pop("preprocess", {})
    body: dict[str, Any] = {"family": family, "params": params, "preprocess": preprocess}
    if features is not None:
        body["features"] = features
    return Recipe.parse(body).canonical_dict()


SAFE = ("age", "crp", "sex")


def proposal(pid: int, rec: dict[str, Any], author: str = "analyst-1", status: str = "open",
             critiques: list[dict[str, Any]] | None = None, title: str = "tune", post_id: int | None = None,
             team_id: int | None = None) -> dict[str, Any]:
    return {"id": pid, "run_id": 1, "team_id": team_id, "post_id": post_id if post_id is not None else 100 + pid,
            "title": title, "recipe": rec, "hypothesis": "h", "expected_effect": 0.01, "family": rec["family"],
            "canonical_hash": canonical_hash(rec), "status": status, "author": author, "author_name": author,
            "created_at": 0.0, "critiques": critiques or []}


def critique(cid: int, pid: int, verdict: str, author: str = "validator-1", reasons: str = "ok") -> dict[str, Any]:
    return {"id": cid, "proposal_id": pid, "verdict": verdict, "reasons": reasons, "reopens_dead_end": None,
            "author": author, "author_name": author, "created_at": 0.0}


def result(rid: int, rec: dict[str, Any], value: float, seed: int = 0, folds: list[float] | None = None,
           proposal_id: int = 1) -> dict[str, Any]:
    return {"id": rid, "run_id": 1, "queue_item_id": rid, "proposal_id": proposal_id, "recipe_hash": canonical_hash(rec),
            "seed": seed, "split": "default", "metric": "auroc", "value": value, "higher_is_better": True,
            "fold_scores": folds or [value - 0.01, value, value + 0.01], "ci_low": None, "ci_high": None,
            "duration_s": 1.0, "artifacts": {}, "recorded_by": "9", "created_at": 0.0, "family": rec["family"],
            "recipe": rec, "proposed_by": "analyst-1"}


def champion(res: dict[str, Any]) -> dict[str, Any]:
    return {"id": 1, "run_id": 1, "result_id": res["id"], "confirming_result_id": res["id"] + 1,
            "recipe_hash": res["recipe_hash"], "metric": "auroc", "value": res["value"], "higher_is_better": True,
            "previous_value": None, "noise_floor": 0.01, "promoted_by": "8", "created_at": 0.0}


def observation(*, agent: str = "validator-1", role: str = "validator", summ: dict[str, Any] | None = None,
                design: dict[str, Any] | None = None, results: list[dict[str, Any]] | None = None,
                proposals: list[dict[str, Any]] | None = None, champ: dict[str, Any] | None = None,
                floor: float | None = 0.01, dead_ends: list[dict[str, Any]] | None = None,
                queue: list[dict[str, Any]] | None = None, teams: list[dict[str, Any]] | None = None,
                extra_posts: list[dict[str, Any]] | None = None, phase: str = "execution",
                budget_total: int = 20, budget_used: int = 5, seed: int = 0) -> Observation:
    from autods.agents.expert.design import design_choices

    summ = summ or summary()
    design = design if design is not None else design_choices(summ)
    posts = [post(1, "finding", {SUMMARY_KEY: summ}),
             post(2, "design", body="```json\n" + json.dumps({DESIGN_KEY: design}) + "\n```",
                  author="biostatistician")] + (extra_posts or [])
    task = TaskSummary(name="t", task_type=summ["task_type"], endpoint="y", metric=summ["metric"],
                       higher_is_better=True, cv_strategy="stratified-cv", n_rows=1000, n_units=1000,
                       n_events=summ["n_events"], events_per_variable=summ["events_per_variable"],
                       features=[ColumnSummary(**c) for c in summ["features"]], excluded=summ["excluded"],
                       findings=summ["findings"], subgroups=summ["subgroups"], confounders=summ["confounders"])
    return Observation(agent=agent, role=role, step=1, phase=phase, allowed_actions=[], task=task,
                       budget_total=budget_total, budget_used=budget_used, noise_floor=floor, champion=champ,
                       results=results or [], proposals=proposals or [], queue=queue or [],
                       dead_ends=dead_ends or [], teams=teams or [], posts=posts, seed=seed)


class InProcess:
    """A coordination service on a temporary SQLite file and clients bound to it."""

    def __init__(self, path: Any) -> None:
        from autods.server.app import create_app
        from autods.server.service import Service
        from autods.state.store import Store

        self.store = Store.open(f"sqlite:///{path}")
        self.service = Service(self.store)
        self.app = create_app(self.service)
        self.run = self.service.create_run("test")
        self.clients: list[Any] = []

    def client(self, name: str, role: str) -> Any:
        from autods.agents.client import AgentClient

        _, token = self.service.register_agent(self.run.id, name, role)
        c = AgentClient(token=token, app=self.app)
        self.clients.append(c)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.store.close()


# -- tracing every data read of a run ----------------------------------------------------------------

#: where a data read may happen: the data steward's deterministic step and executor jobs
ALLOWED_READERS = ("autods/agents/steward.py", "autods/execution/")
_TRACER: list[Any] = []  # the active tracer (audit hooks cannot be removed, so one hook dispatches)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _TRACER and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _TRACER[-1].seen(args[0], "open")


class DataReads:
    """Record every read of the task's data files, the governed frame and out-of-fold
    predictions, with the source files on the call stack at that moment.

    Python-level ``open`` is seen through an audit hook (``sys.addaudithook``); pandas and
    pyarrow readers are wrapped (pyarrow opens files in C++, below the audit hook).
    """

    _hooked = False

    def __init__(self, roots: list[Any]) -> None:
        from pathlib import Path

        self.roots = [Path(r).resolve() for r in roots]
        self.reads: list[dict[str, Any]] = []

    def is_data(self, path: Any) -> bool:
        import os
        from pathlib import Path

        try:
            p = Path(os.fsdecode(path)).resolve()
        except (TypeError, ValueError, OSError):
            return False
        if p.suffix not in (".csv", ".parquet", ".tsv", ".h5ad"):
            return False
        return any(p == r or r in p.parents for r in self.roots)

    def seen(self, path: Any, how: str) -> None:
        import sys

        if not self.is_data(path):
            return
        frame, stack = sys._getframe(1), []
        while frame is not None:
            stack.append(frame.f_code.co_filename.replace("\\", "/"))
            frame = frame.f_back
        allowed = any(a in f for f in stack for a in ALLOWED_READERS)
        self.reads.append({"path": str(path), "how": how, "allowed": allowed,
                           "stack": [f for f in stack if "/autods/" in f]})

    def __enter__(self) -> DataReads:
        import sys

        import pandas as pd
        import pyarrow.parquet as pq

        if not DataReads._hooked:
            sys.addaudithook(_audit)
            DataReads._hooked = True
        self._saved = (pd.read_csv, pd.read_parquet, pq.read_table)

        def wrap(fn: Any, how: str) -> Any:
            def reader(path: Any, *a: Any, **k: Any) -> Any:
                self.seen(path, how)
                return fn(path, *a, **k)
            return reader

        pd.read_csv, pd.read_parquet = wrap(pd.read_csv, "read_csv"), wrap(pd.read_parquet, "read_parquet")
        pq.read_table = wrap(pq.read_table, "read_table")
        _TRACER.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        import pandas as pd
        import pyarrow.parquet as pq

        _TRACER.remove(self)
        pd.read_csv, pd.read_parquet, pq.read_table = self._saved

    @property
    def violations(self) -> list[dict[str, Any]]:
        return [r for r in self.reads if not r["allowed"]]


#: the members a service-level promotion test registers (name, role)
WORLD_MEMBERS = [("ann", "analyst"), ("bob", "analyst"), ("exp", "experimenter"), ("harness", "harness"),
                 ("validator", "validator")]


def service_world(url: str, run_name: str) -> Any:
    """A Service (no noise floor) on ``url`` with one run and the :data:`WORLD_MEMBERS` authenticated:
    yields ``{"svc", "run", <name>: Actor}`` and closes the store after (use from a fixture)."""
    from autods.server.service import Service
    from autods.state.store import Store

    store = Store.open(url)
    svc = Service(store, noise_floor=None)
    run = svc.create_run(run_name)
    actors = {name: svc.authenticate(svc.register_agent(run.id, name, role)[1]) for name, role in WORLD_MEMBERS}
    try:
        yield {"svc": svc, "run": run.id, **actors}
    finally:
        store.close()
