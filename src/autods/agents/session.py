"""One process running one run: the store, the service, the clients, the team, the executor.

Wiring only; the behaviour lives in the orchestrator, the loop, the harness and the brains.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from autods.agents.client import AgentClient
from autods.agents.expert import ExpertBrain
from autods.agents.harness import Harness
from autods.agents.loop import Agent
from autods.agents.orchestrator import Hooks, Limits, Orchestrator, Progress, budget_used
from autods.agents.roles import ROLES, TeamSpec
from autods.agents.snapshot import Snapshot, SnapshotReader
from autods.agents.steward import egress_gate, govern, post_summary
from autods.agents.tracks import make_track_executor
from autods.execution.base import Job
from autods.runfolder import RunFolder, atomic_write_json, read_json

#: roles an LLM brain plays when ``--brain`` names one; critics, the steward, the
#: biostatistician, experimenters and the monitor stay rule-based (rules live in code)
LLM_ROLES = ("analyst", "feature", "translator")
_STATUS = {"steward": "running", "design": "running", "discussion": "running", "execution": "running",
           "validation": "validating", "biomarkers": "validating", "report": "validating", "done": "done"}


def read_summary(folder: RunFolder) -> dict[str, Any]:
    path = folder.root / "run_summary.json"
    return read_json(path) if path.is_file() else {}


class _LazyBrain:
    """An LLM brain built on its first decision, when the steward's PHI columns are known
    (the egress gate needs them) and only if the agent is ever asked."""

    deterministic = False

    def __init__(self, build: Any, name: str) -> None:
        self._build, self._brain, self.name = build, None, name

    def decide(self, observation: Any) -> Any:
        if self._brain is None:
            self._brain = self._build()
        return self._brain.decide(observation)


class Session:
    def __init__(self, folder: RunFolder, *, display: bool | None = None, brain_factory: Any = None) -> None:
        from autods.agents.progress import make_display
        from autods.agents.run import read_options

        self.folder = folder
        self.cfg = folder.config()
        self.options = read_options(folder)
        self.team: TeamSpec = self.options.team_spec
        self.display = make_display(display)
        self.brain_factory = brain_factory
        self.clients: list[AgentClient] = []
        self._gate: Any = None
        self.store: Any = None
        self.app: Any = None
        self.executor: Any = None

    # -- setup -------------------------------------------------------------------------------
    def __enter__(self) -> Session:
        from autods.server.app import create_app
        from autods.server.service import SYSTEM_ACTOR, Service
        from autods.state.store import Store

        k = self.options.stagnation_k or max(4, min(10, self.cfg.budget // 3))
        self.store = Store.open(self.folder.state_url)
        # sequential (the single-agent baseline): one claimed item at a time, and NOW holds one idea
        slots = 1 if self.team.sequential else self.team.experimenters + 2
        self.service = Service(self.store, slot_limit=slots, stagnation_k=k)
        self.app = create_app(self.service)
        run = next((r for r in self.service.list_runs(SYSTEM_ACTOR) if r.name == self.cfg.name), None)
        if run is None:
            config = self.cfg.model_dump(mode="json")
            if self.team.sequential:
                config["now_slots"] = 1
            run = self.service.create_run(self.cfg.name, config)
        _, token = self.service.register_agent(run.id, "orchestrator", "orchestrator")
        self.client = self._client(token)
        return self

    def _client(self, token: str) -> AgentClient:
        client = AgentClient(token=token, app=self.app)
        self.clients.append(client)
        return client

    def _register(self, name: str, role: str) -> AgentClient:
        _, token = self.client.register_agent(name, role)
        return self._client(token)

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.close()
        for c in self.clients:
            c.close()
        if self.store is not None:
            # A request a closed client abandoned may still be queued on the write lane:
            # let it finish before the store closes under it.
            if self.app is not None:
                self.app.state.writes.close(wait_s=30.0)
            self.store.close()

    def _brain(self, name: str, role: str) -> Any:
        if self.brain_factory is not None:
            custom = self.brain_factory(name, role)
            if custom is not None:
                return custom
        spec = self.cfg.brain.strip()
        if spec.lower() == "expert" or role not in LLM_ROLES:
            return ExpertBrain(role, n_analysts=self.team.analysts, n_critics=self.team.validators,
                               critique=self.team.critique, dead_ends=self.team.dead_ends,
                               relations=self.team.relations, name=name)
        from autods.agents.llm import make_brain

        return _LazyBrain(lambda: make_brain(spec, audit=self.folder.append_audit, egress=self.gate(),
                                             seed=self.cfg.seed, name=name), name)

    def gate(self) -> Any:
        if self._gate is None:
            phi = read_json(self.folder.analytic / "governance.json").get("phi_columns", [])
            self._gate = egress_gate(Path(self.cfg.task_dir), list(phi))
        return self._gate

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from autods.execution import make_executor

        agents = [Agent(name, ROLES[role], self._brain(name, role), self._register(name, role))
                  for name, role in self.team.members()]
        harness_client = self._register("harness", "harness")
        self.executor = make_executor(self.cfg.executor, workers=self.cfg.workers, ray_address=self.cfg.ray_address,
                                      timeout_s=self.options.timeout_s)
        warm = getattr(self.executor, "start", None)
        if callable(warm):
            warm()  # workers import while the steward governs the data, not when the first job waits
        harness = Harness(harness_client, self.executor, self.folder, n_resamples=self.options.n_resamples,
                          timeout_s=self.options.timeout_s, lease_s=self.options.lease_s,
                          audit=self.folder.append_audit)
        steward = next(a for a in agents if a.role.name == "steward")
        snap = SnapshotReader(self.client).read()
        if snap.floor is not None:  # resumed after the noise floor was measured
            self.service.noise_floor = float(snap.floor["value"])
        hooks = Hooks(
            steward=lambda: post_summary(steward.client, govern(Path(self.cfg.task_dir), self.folder)),
            set_floor=lambda v: setattr(self.service, "noise_floor", v),
            on_phase=self._on_phase, progress=self.display.update, finish=self._finishers(),
        )
        limits = Limits(budget=self.cfg.budget, minutes=self.cfg.minutes, target=self.cfg.target,
                        max_rounds=self.options.max_rounds, floor_seeds=self.options.floor_seeds,
                        noise_floor_sd=self._launch().promotion_criteria.noise_floor_sd,
                        confirm_seeds=max(1, self._launch().promotion_criteria.confirm_seeds))
        self.orchestrator = Orchestrator(self.client, agents, harness, hooks, limits, seed=self.cfg.seed,
                                         record=self.folder.append_audit)
        started = time.monotonic()
        with self.display:
            progress = self.orchestrator.run()
        summary = self._summary(progress, time.monotonic() - started)
        self.display.final(summary)
        return summary

    def _launch(self) -> Any:
        from autods.tasks.spec import read_specs

        return read_specs(self.folder.root / "task")[1]

    def _on_phase(self, phase: str) -> None:
        status = _STATUS.get(phase, "running")
        if self.cfg.status != status:
            self.cfg = self.cfg.model_copy(update={"status": status})
            self.folder.save_config(self.cfg)

    # -- the end: executor jobs, never in this process's orchestrator --------------------------
    def _finishers(self) -> list[tuple[str, Any]]:
        steps: dict[str, Any] = {
            "validation": self._validate,
            "report": lambda: self._track("track:report", {}, self.cfg.seed),
        }
        if self._task_type() == "biomarker" and not self._biomarkers_done():
            steps["biomarkers"] = lambda: self._track("track:biomarkers", {}, self.cfg.seed)
        return [(name, steps[name]) for name in self.options.finish if name in steps]

    def _biomarkers_done(self) -> bool:
        """True once the biomarker track has written its result: it reads only the analytic data,
        never the champion, so a resumed run keeps it rather than repeating minutes of permutations."""
        path = self.folder.root / "biomarkers.json"
        return path.is_file() and read_json(path).get("status") in ("run", "not applicable")

    def _task_type(self) -> str:
        from autods.tasks.spec import read_specs

        return read_specs(self.folder.root / "task")[0].task_type

    def _track(self, job_id: str, recipe: dict[str, Any], seed: int) -> dict[str, Any]:
        executor = make_track_executor(self.cfg.executor, timeout_s=self.options.timeout_s)
        try:
            job = Job(job_id=job_id, run_dir=str(self.folder.root.resolve()), recipe=recipe, seed=seed,
                      n_resamples=self.options.track_resamples)
            result = executor.submit(job).result()
        finally:
            executor.close()
        entry = {"type": "track", "job_id": job_id, "ok": result.ok, "record": result.record,
                 "error": None if result.error is None else result.error.splitlines()[0][:300]}
        self.folder.append_audit(entry)
        return entry

    def _validate(self) -> None:
        if (self.folder.root / "validation.json").is_file():
            return  # the held-out test is scored once; a resumed run does not try again
        snap = SnapshotReader(self.client).read()
        if snap.champion is None:
            return
        res = next(r for r in snap.results if r["id"] == snap.champion["result_id"])
        recipe = next(p["recipe"] for p in snap.proposals if p["id"] == res["proposal_id"])
        self._track(f"track:validate:{res['queue_item_id']}", recipe, int(res["seed"]))

    def _summary(self, progress: Progress, elapsed: float) -> dict[str, Any]:
        snap: Snapshot = SnapshotReader(self.client).read()
        statuses: dict[str, int] = {}
        for q in snap.queue:
            statuses[q["status"]] = statuses.get(q["status"], 0) + 1
        verdicts: dict[str, int] = {}
        for p in snap.proposals:
            for c in p["critiques"]:
                verdicts[c["verdict"]] = verdicts.get(c["verdict"], 0) + 1
        champ = progress.champion
        n_critiques = sum(verdicts.values())
        critique_rates = {v: {"count": verdicts.get(v, 0),
                              "rate": round(verdicts.get(v, 0) / n_critiques, 4) if n_critiques else None}
                          for v in ("approve", "revise", "reject")}
        summary = {
            "name": self.cfg.name, "task": (snap.summary or {}).get("name"), "exit_reason": progress.exit_reason,
            "elapsed_s": round(elapsed, 2), "rounds": progress.round, "budget": self.cfg.budget,
            "budget_used": budget_used(snap), "confirmations_over_budget": self.orchestrator.over_budget,
            "experiments": {"results": len(snap.results), **statuses}, "champion": champ,
            "noise_floor": snap.floor, "teams": [{k: t[k] for k in ("id", "name", "status")} for t in snap.teams],
            "dead_ends": [{k: d[k] for k in ("id", "family", "region", "reason")} for d in snap.dead_ends],
            "proposals": len(snap.proposals), "critiques": verdicts, "stuck_posts": len(snap.stuck_posts()),
            "critique_rates": critique_rates, "graph": graph_summary(snap.graph, self.orchestrator.held_by_orchestrator),
            "log": [{"result_id": r["id"], "item_id": r["queue_item_id"], "recipe_hash": r["recipe_hash"],
                     "family": r["family"], "seed": r["seed"], "value": r["value"], "duration_s": r["duration_s"]}
                    for r in snap.results],
        }
        atomic_write_json(self.folder.root / "run_summary.json", summary)
        return summary



def graph_summary(graph: dict[str, Any], held_by_orchestrator: int = 0) -> dict[str, Any]:
    """What the hypothesis graph holds at the end: diagnoses, ideas per tier, tickets answered."""
    tiers = {t: 0 for t in ("NOW", "NEXT", "LATER", "PARKED", "CUT")}
    for i in graph.get("ideas", []):
        tiers[i["tier"]] = tiers.get(i["tier"], 0) + 1
    tickets = graph.get("tickets", [])
    answers: dict[str, int] = {}
    for k in tickets:
        if k["status"] == "answered" and k.get("answer"):
            answers[k["answer"]] = answers.get(k["answer"], 0) + 1
    return {"diagnoses": len(graph.get("diagnoses", [])), "ideas": len(graph.get("ideas", [])),
            "ideas_by_tier": tiers, "relations": len(graph.get("relations", [])),
            "tickets_opened": len(tickets), "tickets_answered": sum(answers.values()),
            "tickets_by_answer": answers, "tickets_held_by_orchestrator": held_by_orchestrator}


__all__ = ["LLM_ROLES", "Session", "graph_summary", "read_summary"]
