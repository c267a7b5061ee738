"""The orchestrator: a pure coordinator. It starts the phases, steps the agents, hands
claimed jobs to the harness, queues confirmation runs, watches the budget and the exit
condition, and harvests results. It never loads data: this module imports nothing that
reads a file, and the one data-reading step (the steward's) is a callable it is given
(``tests/test_agents_orchestrator.py`` traces every data read of a run to prove it).

Phases: ``steward`` (govern the data, post the summary) -> ``design`` (the design post,
trivial baseline, default recipe on 2-3 seeds -> noise floor, first champion) ->
``discussion`` (analysts propose, critics critique, teams form) -> ``execution`` (queues
fill, experimenters claim, the harness records, the validator promotes confirmed
challengers and registers dead ends; a stagnation alarm re-opens discussion) ->
``validation`` / ``report`` (hooks: champion validation, biomarker track, fact sheet).

Every decision reads the shared state through the client, so a restarted orchestrator
picks up where the log says the run is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from autods.agents.baseline import noise_floor, trivial_value
from autods.agents.client import AgentClient
from autods.agents.harness import Harness
from autods.agents.loop import Agent, Recorder, RoundContext, run_round
from autods.agents.snapshot import FLOOR_KEY, Snapshot, SnapshotReader
from autods.errors import PermissionDenied, ProtocolViolation

VALIDATION_TEAM = "validation"
DISCUSSION_ROUNDS = 8  # at most, before execution starts anyway
REOPENED_ROUNDS = 2
IDLE_ROUNDS = 12
QUIET_ROUNDS = 2  # rounds in which nothing moved before the search counts as exhausted
DESIGN_ROUNDS = 60
#: rounds open verdict tickets may go unanswered before the orchestrator holds them itself
TICKET_ROUNDS = 3


@dataclass(frozen=True)
class Limits:
    """The exit condition: experiment budget, wall-clock minutes, target metric."""

    budget: int
    minutes: float | None = None
    target: float | None = None
    max_rounds: int = 2000
    floor_seeds: int = 3
    noise_floor_sd: float = 1.0
    confirm_seeds: int = 1


@dataclass
class Hooks:
    """What the orchestrator is given to call, each a black box to it."""

    steward: Callable[[], None]
    set_floor: Callable[[float], None] = lambda _v: None
    on_phase: Callable[[str], None] = lambda _p: None
    progress: Callable[[Progress], None] = lambda _p: None
    finish: Sequence[tuple[str, Callable[[], None]]] = ()


@dataclass
class Progress:
    phase: str = "steward"
    round: int = 0
    budget_used: int = 0
    budget_total: int = 0
    results: int = 0
    failed: int = 0
    champion: dict[str, Any] | None = None
    teams: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    exit_reason: str | None = None


class Orchestrator:
    def __init__(self, client: AgentClient, agents: Sequence[Agent], harness: Harness, hooks: Hooks,
                 limits: Limits, *, seed: int = 0, record: Recorder | None = None) -> None:
        self.client = client
        self.agents = list(agents)
        self.harness = harness
        self.hooks = hooks
        self.limits = limits
        self.seed = seed
        self.record = record
        self.reader = SnapshotReader(client)
        self.progress = Progress(budget_total=limits.budget)
        self.started = time.monotonic()
        self.round = 0
        self.over_budget = 0
        self.unanswered = 0  # consecutive rounds with open tickets that no agent answered
        self.held_by_orchestrator = 0
        self._answered_this_round = False

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> Progress:
        self._phase("steward")
        snap = self.reader.read()
        if snap.summary is None:
            self.hooks.steward()
        self.adopt_orphans()
        self._phase("design")
        self._design()
        reason = self._search()
        self.progress.exit_reason = reason
        self._phase("validation")
        self._drain(reason)
        self._rounds("report", 2)
        for name, fn in self.hooks.finish:
            self._phase(name)
            fn()
        self._phase("done")
        return self.progress

    def _phase(self, phase: str) -> None:
        self.progress.phase = phase
        self.hooks.on_phase(phase)
        self._emit(None)

    def _emit(self, snap: Snapshot | None) -> None:
        p = self.progress
        p.round, p.elapsed_s = self.round, time.monotonic() - self.started
        if snap is not None:
            p.budget_used = budget_used(snap)
            p.results = len(snap.results)
            p.failed = sum(1 for q in snap.queue if q["status"] == "failed")
            if snap.champion is not None:
                res = next((r for r in snap.results if r["id"] == snap.champion["result_id"]), {})
                p.champion = {**snap.champion, "ci_low": res.get("ci_low"), "ci_high": res.get("ci_high"),
                              "family": res.get("family")}
            p.teams = [t["name"] for t in snap.teams if t["status"] == "active" and t["name"] != VALIDATION_TEAM]
        self.hooks.progress(p)

    # -- one round --------------------------------------------------------------------------------
    def _step(self, phase: str, snap: Snapshot | None = None, *, wait_s: float = 2.0) -> tuple[Snapshot, bool]:
        """Let every agent act on ``snap`` (read now if not given), hand claims to the harness,
        harvest finished jobs. True when something moved."""
        self.round += 1
        snap = snap if snap is not None else self.reader.read()
        ctx = RoundContext(self.round, phase, self.limits.budget, budget_used(snap), self.seed,
                           stagnating=bool(snap.stuck_posts()))
        outcomes = run_round(self.agents, snap, ctx, self.record)
        self._answered_this_round = any(o.ok and o.kind == "answer_ticket" for o in outcomes)
        moved = any(o.ok and o.kind != "wait" and (o.kind != "claim" or o.claimed) for o in outcomes)
        for o in outcomes:
            if o.claimed is not None:
                self.harness.submit(o.claimed, self._recipe(snap, int(o.claimed["proposal_id"])))
        finished = self.harness.poll(wait_s=0.0 if moved or not self.harness.busy else wait_s)
        self._emit(snap)
        return snap, moved or bool(finished)

    def _recipe(self, snap: Snapshot, proposal_id: int) -> dict[str, Any]:
        for p in snap.proposals:
            if p["id"] == proposal_id:
                return dict(p["recipe"])
        for prop, _ in self.client.list_proposals():  # proposed after the snapshot was read
            if prop.id == proposal_id:
                return dict(prop.recipe)
        raise ProtocolViolation("not_found", f"proposal {proposal_id} of a claimed item does not exist")

    def _rounds(self, phase: str, n: int) -> None:
        for _ in range(n):
            self._step(phase, wait_s=0.0)

    # -- design: baseline and noise floor ----------------------------------------------------------
    def _design(self) -> None:
        while True:
            snap, _ = self._step("design")
            if snap.floor is not None:
                return
            done = self._enqueue_baseline(snap)
            if done:
                self._post_floor(self.reader.read())
                return

    def _baseline_proposals(self, snap: Snapshot) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        mine = [p for p in snap.proposals if p.get("author_name") == "biostatistician"]
        trivial = next((p for p in mine if p["family"] == "dummy"), None)
        default = next((p for p in mine if p["family"] != "dummy"), None)
        return trivial, default

    def _enqueue_baseline(self, snap: Snapshot) -> bool:
        """Queue the baseline runs once approved; True when they have all finished (or the
        design phase ran out of rounds: the search then starts without a measured floor)."""
        in_flight = self.harness.busy or any(q["status"] in ("pending", "claimed") for q in snap.queue)
        if self.round > DESIGN_ROUNDS and not in_flight:
            return True
        trivial, default = self._baseline_proposals(snap)
        if default is None:
            return False
        seeds = [self.seed + k for k in range(max(1, self.limits.floor_seeds))]
        plan = [(default, s) for s in seeds[:2]]
        if len(seeds) > 2 and _seeds_agree(snap, default["id"], seeds[:2]) is False:
            plan += [(default, s) for s in seeds[2:]]  # the fit varies with the seed: measure how much
        if trivial is not None:
            plan.append((trivial, self.seed))
        plan = [(p, s) for p, s in plan if not _objected(p)]  # a critic refused it: measured without it
        items = {(q["proposal_id"], q["seed"]): q for q in snap.queue}
        for prop, seed in plan:
            if (prop["id"], seed) not in items and _approved(prop):
                self._try(lambda p=prop, s=seed: self.client.enqueue(p["id"], s))
        if not plan or any((p["id"], s) not in items for p, s in plan):
            return False
        return all(items[(p["id"], s)]["status"] in ("done", "failed", "aborted") for p, s in plan)

    def _post_floor(self, snap: Snapshot) -> None:
        trivial, default = self._baseline_proposals(snap)
        rs = [r for r in snap.results if default is not None and r["proposal_id"] == default["id"]]
        floor = noise_floor(rs, self.limits.noise_floor_sd) if rs else {
            "value": 0.0, "rule": "not measured: the default recipe produced no result", "n_seeds": 0}
        if rs and len(rs) < self.limits.floor_seeds and default is not None \
                and _seeds_agree(snap, default["id"], [self.seed, self.seed + 1]) is True:
            skipped = self.limits.floor_seeds - 2
            floor["rule"] += (f"; the first two seeds gave the same value (the fit does not depend on the seed), so "
                              f"{skipped} more seed{'s' if skipped > 1 else ''} of the {self.limits.floor_seeds} "
                              f"planned {'were' if skipped > 1 else 'was'} not run and the fold SE sets the floor")
        metric = (snap.summary or {}).get("metric", "")
        triv = [r for r in snap.results if trivial is not None and r["proposal_id"] == trivial["id"]]
        floor["baseline"] = {
            "trivial": {"value": triv[0]["value"], "source": "dummy recipe measured by the judge",
                        "result_id": triv[0]["id"]} if triv else trivial_value(metric, snap.summary or {}),
            "default": None if not rs else {"value": sum(r["value"] for r in rs) / len(rs),
                                            "values": [r["value"] for r in rs], "recipe_hash": rs[0]["recipe_hash"]},
        }
        self.hooks.set_floor(float(floor["value"]))
        self.client.post("finding", f"Noise floor {floor['value']:.4g} ({floor.get('n_seeds', 0)} seeds)",
                         f"Rule: {floor['rule']}. A challenger must beat the champion by more than this.",
                         {FLOOR_KEY: floor})

    # -- discussion and execution ------------------------------------------------------------------
    def _search(self) -> str:
        # Where the search stands is read from the state, not this process's memory: a resumed
        # run whose execution had begun does not discuss again (those rounds would let the
        # analysts propose more before anything runs, and the log would differ from the
        # uninterrupted run's), and the stuck alarms it already answered stay answered.
        start = self.reader.read()
        begun = execution_begun(start, self.agents)
        discussion_until = self.round if begun else self.round + DISCUSSION_ROUNDS
        seen_stuck = max((int(p["id"]) for p in start.stuck_posts()), default=0) if begun else 0
        idle = 0
        while True:
            snap = self.reader.read()
            if self._confirmations(snap):
                snap = self.reader.read()
            reason = self._exit_reason(snap, idle)
            if reason is not None:
                return reason
            stuck = [p["id"] for p in snap.stuck_posts()]
            if stuck and stuck[-1] > seen_stuck:
                seen_stuck = stuck[-1]
                discussion_until = max(discussion_until, self.round + REOPENED_ROUNDS)
            if self.round < discussion_until and _discussion_done(snap, self.agents):
                discussion_until = self.round
            phase = "discussion" if self.round < discussion_until else "execution"
            if self.progress.phase != phase:
                self._phase(phase)
            _, moved = self._step(phase, snap)
            idle = 0 if moved else idle + 1
            if snap.open_tickets and not self._answered_this_round:
                self.unanswered += 1
                if self.unanswered >= TICKET_ROUNDS and not self._hold_tickets():
                    return "tickets_unanswered"
            else:
                self.unanswered = 0

    def _exit_reason(self, snap: Snapshot, idle: int) -> str | None:
        lim = self.limits
        champ = snap.champion
        if lim.target is not None and champ is not None:
            hib = bool(champ["higher_is_better"])
            if (champ["value"] >= lim.target) if hib else (champ["value"] <= lim.target):
                return "target"
        if lim.minutes is not None and time.monotonic() - self.started >= lim.minutes * 60:
            return "minutes"
        in_flight = any(q["status"] in ("pending", "claimed") for q in snap.queue) or self.harness.busy
        # Quiet for QUIET_ROUNDS: every agent (the validator promoting, above all) saw the last result.
        if budget_used(snap) >= lim.budget and not in_flight and idle >= QUIET_ROUNDS:
            return "budget"
        if idle >= IDLE_ROUNDS and not in_flight:
            return "exhausted"
        if self.round >= lim.max_rounds:
            return "max_rounds"
        return None

    def _confirmations(self, snap: Snapshot) -> bool:
        """Queue a second seed for every recipe that beats the champion by more than the floor.

        Confirmations are queued even when the budget is spent (counted in ``over_budget``):
        a result that beats the champion is never left unconfirmed. True when one was queued.
        """
        seeds: dict[str, set[int]] = {}
        for q in snap.queue:
            if q["status"] != "aborted":
                seeds.setdefault(q["recipe_hash"], set()).add(int(q["seed"]))
        queued = False
        for r in _challengers(snap):
            used = seeds.setdefault(r["recipe_hash"], {int(r["seed"])})
            if len(used) >= 1 + self.limits.confirm_seeds:
                continue
            team = self._validation_team(snap)
            seed = max(used) + 1
            if self._try(lambda r=r, s=seed, t=team: self.client.enqueue(r["proposal_id"], s, t)) is not None:
                used.add(seed)
                queued = True
                self.over_budget += int(budget_used(snap) >= self.limits.budget)
        return queued

    def _hold_tickets(self) -> bool:
        """No agent answered the open verdict tickets for :data:`TICKET_ROUNDS` rounds (no
        validator in the team, or its brain failing): hold them, saying so, so new work can
        start again. HOLD is the answer that claims nothing about the data, which this
        process never reads. False when even that was refused: the run then ends, saying why."""
        open_now = self.client.list_tickets(status="open")
        held = 0
        for k in open_now:
            why = (f"no agent answered this ticket in {self.unanswered} rounds; held by the orchestrator "
                   "(no verdict on the data) so the run can go on")
            if self._try(lambda k=k, w=why: self.client.answer_ticket(k.id, "HOLD", w)) is not None:
                held += 1
        if self.record is not None:
            self.record({"type": "orchestrator", "event": "tickets_held", "held": held, "open": len(open_now),
                         "rounds_unanswered": self.unanswered})
        self.held_by_orchestrator += held
        self.unanswered = 0
        return held > 0 or not open_now

    def _validation_team(self, snap: Snapshot) -> int:
        for t in snap.teams:
            if t["name"] == VALIDATION_TEAM:
                return int(t["id"])
        team = self.client.create_team(VALIDATION_TEAM, "a challenger holds up on a second seed",
                                       "confirmation runs queued by the orchestrator")
        snap.teams.append(team.model_dump(mode="json"))
        return team.id

    def _try(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (ProtocolViolation, PermissionDenied) as exc:
            if self.record is not None:
                self.record({"type": "orchestrator", "event": "refused", "reason": str(exc)})
            return None

    # -- resume and the end ----------------------------------------------------------------------
    def adopt_orphans(self) -> None:
        """Claimed items of a previous process: adopt those whose lease still holds, release the rest."""
        self.client.release_expired()
        snap = self.reader.read()
        for q in snap.queue:
            if q["status"] == "claimed" and int(q["id"]) not in self.harness.running:
                held = self._try(lambda q=q: self.harness.client.heartbeat(q["id"], self.harness.lease_s))
                if held is not None:
                    self.harness.submit(q, self._recipe(snap, int(q["proposal_id"])))

    def _drain(self, reason: str) -> None:
        """Stop the search: on a time limit or a reached target, cancel what is queued or
        running (aborted items keep the reason); otherwise let running jobs finish."""
        if reason in ("minutes", "target", "max_rounds"):
            self.harness.cancel_all(f"run ended ({reason})")
            for q in self.reader.read().queue:
                if q["status"] in ("pending", "claimed"):
                    self._try(lambda q=q: self.client.abort(q["id"], f"run ended ({reason})"))
        while self.harness.busy:
            self.harness.poll(wait_s=2.0)


def budget_used(snap: Snapshot) -> int:
    """Experiments committed: queued, running or finished (aborted ones do not count)."""
    return sum(1 for q in snap.queue if q["status"] != "aborted")


def _seeds_agree(snap: Snapshot, proposal_id: int, seeds: list[int]) -> bool | None:
    """Whether the proposal's results on both seeds are equal (a deterministic fit: logistic, Cox,
    ridge, whose further seeds would spend budget for the same number; requests PE1). None until
    both are recorded; a seed that failed counts as disagreeing, so the others still run."""
    values = {r["seed"]: float(r["value"]) for r in snap.results if r["proposal_id"] == proposal_id}
    settled = {q["seed"] for q in snap.queue if q["proposal_id"] == proposal_id
               and q["status"] in ("done", "failed", "aborted")}
    if any(s not in values for s in seeds):
        return False if all(s in settled for s in seeds) else None
    return max(values[s] for s in seeds) - min(values[s] for s in seeds) <= 1e-12


def _approved(p: dict[str, Any]) -> bool:
    return any(c["verdict"] == "approve" and c["author"] != p["author"] for c in p.get("critiques", []))


def _challengers(snap: Snapshot) -> list[dict[str, Any]]:
    """Results worth a confirmation run: those beating the champion by more than the noise
    floor; with no champion after the design phase (the default recipe failed), the best
    result so far, since a first champion needs only its confirmation."""
    if not snap.results or snap.floor is None:
        return []
    champ = snap.champion
    sign = 1.0 if snap.results[0]["higher_is_better"] else -1.0
    if champ is None:
        return [max(snap.results, key=lambda r: sign * r["value"])]
    floor = float(snap.floor.get("value", 0.0))
    return [r for r in snap.results
            if r["recipe_hash"] != champ["recipe_hash"] and sign * (r["value"] - champ["value"]) > floor]


def _objected(p: dict[str, Any]) -> bool:
    """A critic's latest verdict is reject or revise: the server refuses to queue it (a revise
    blocks until a revised recipe is approved), so the design phase measures without it."""
    latest: dict[str, str] = {}
    for c in sorted(p.get("critiques", []), key=lambda c: c["id"]):
        if c["author"] != p["author"]:
            latest[c["author"]] = c["verdict"]
    return any(v in ("reject", "revise") for v in latest.values())


def execution_begun(snap: Snapshot, agents: Sequence[Agent]) -> bool:
    """True once an experiment one of ``agents`` proposed was queued for its team: the gate
    refuses enqueue and dispatch outside the execution phase, so such an item proves the
    phase was reached. The design's baseline runs (the biostatistician's proposals), what the
    server queues itself (a recalibrated variant) and the orchestrator's confirmation runs (the
    validation team) are queued in other phases and prove nothing."""
    searchers = {a.name for a in agents if a.role.name != "biostatistician"
                 and (a.role.may("enqueue") or a.role.may("dispatch"))}
    theirs = {p["id"] for p in snap.proposals if p.get("author_name") in searchers}
    confirming = {t["id"] for t in snap.teams if t["name"] == VALIDATION_TEAM}
    return any(q["proposal_id"] in theirs and q.get("team_id") not in confirming for q in snap.queue)


def _discussion_done(snap: Snapshot, agents: Sequence[Agent]) -> bool:
    analysts = {a.name for a in agents if a.role.name == "analyst"}
    approved_by = {p.get("author_name") for p in snap.proposals if _approved(p)}
    return bool(analysts) and analysts <= approved_by


__all__ = ["Hooks", "Limits", "Orchestrator", "Progress", "budget_used", "execution_begun"]
