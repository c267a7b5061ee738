"""The coordination service: every verb of the protocol, enforced in code.

REST, MCP and the in-process client all call this class and nothing below it. Each verb
takes the authenticated ``Actor`` first, checks the actor's role (``state/roles.py``,
refusal: ``PermissionDenied`` -> HTTP 403), then runs its protocol checks and its write in
ONE store transaction, so a check cannot be raced (refusal: ``ProtocolViolation`` -> 409).
Unknown ids are ``ProtocolViolation("not_found", ...)`` (map to 404).

Rules (letters as in issue 4):
  a  enqueue needs >= 1 approving critique by another agent; a reject needs >= 2 approvals
  b  no enqueue of a (recipe hash, seed) already pending, claimed or done in the run
  c  no enqueue inside a dead end unless an approving critique re-opens it with a reason
  d  claims are exactly-once with a lease; heartbeats extend it; expired leases go back to
     pending (attempts + 1) and fail after 3 expiries
  e  results only from the harness role, only for a claimed item
  f  promotion only from a recorded result that beats the champion by > noise floor, confirmed
     by a second result of the same recipe on another seed or split (first champion: confirmation only)
  g  pending or claimed items can be aborted
  h  at most ``slot_limit`` claimed items per run
  i  after each result, K results without improvement emit one ``stuck`` post per episode
  j  verbs outside the actor's role raise PermissionDenied
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from autods.errors import PermissionDenied, ProtocolViolation
from autods.server import protocol
from autods.state import roles
from autods.state.hashing import canonical_hash, token_hash
from autods.state.records import (
    LIVE_OR_RUN,
    POST_KINDS,
    SYSTEM,
    Agent,
    AuditEvent,
    ChampionEntry,
    Critique,
    DeadEnd,
    Post,
    Proposal,
    QueueItem,
    Result,
    Run,
    Team,
)
from autods.state.store import Store, Tx

DEFAULT_LEASE_S = 300.0


@dataclass(frozen=True)
class Actor:
    """Who is calling. ``run_id`` None means not bound to a run (an operator or the system)."""

    agent_id: int | None
    role: str
    run_id: int | None = None
    name: str = ""

    @property
    def key(self) -> str:
        """How this actor is written in ``author`` / ``claimed_by`` / audit fields."""
        return "system" if self.agent_id is None else str(self.agent_id)


SYSTEM_ACTOR = Actor(agent_id=None, role="orchestrator", run_id=None, name="system")


class Service:
    """Protocol-enforcing façade over a :class:`Store`.

    ``noise_floor`` None means measured: the standard error of the champion's fold scores.
    ``stagnation_k`` <= 0 disables stagnation posts.
    """

    def __init__(
        self,
        store: Store,
        *,
        noise_floor: float | None = None,
        slot_limit: int = 8,
        stagnation_k: int = 10,
    ) -> None:
        self.store = store
        self.noise_floor = noise_floor
        self.slot_limit = slot_limit
        self.stagnation_k = stagnation_k

    # -- identity ---------------------------------------------------------------------------

    def create_run(self, name: str, config: dict[str, Any] | None = None, *, actor: Actor = SYSTEM_ACTOR) -> Run:
        """Create a run. Operator-level: the server decides who may call it (no role check for system)."""
        self._allow(actor, "register_agent")
        with self.store.write(actor.key) as tx:
            return tx.add_run(name, config or {})

    def register_agent(
        self,
        run_id: int,
        name: str,
        role: str,
        team_id: int | None = None,
        *,
        actor: Actor = SYSTEM_ACTOR,
    ) -> tuple[Agent, str]:
        """Register an agent and return it with its bearer token (shown once; only its sha256 is kept)."""
        self._allow(actor, "register_agent")
        self._in_run(actor, run_id)
        if role not in roles.ROLES:
            raise ProtocolViolation("unknown_role", f"role {role!r} is not one of {sorted(roles.ROLES)}")
        token = secrets.token_urlsafe(32)
        with self.store.write(actor.key, run_id) as tx:
            self._run(tx, run_id)
            if team_id is not None:
                self._team(tx, team_id, run_id)
            agent = tx.add_agent(run_id, name, role, team_id, token_hash(token))
        return agent, token

    def authenticate(self, token: str) -> Actor | None:
        """The Actor a bearer token stands for, or None for an unknown token."""
        with self.store.read() as tx:
            agent = tx.agent_by_token_hash(token_hash(token))
        if agent is None:
            return None
        return Actor(agent_id=agent.id, role=agent.role, run_id=agent.run_id, name=agent.name)

    # -- shared checks ----------------------------------------------------------------------

    def _allow(self, actor: Actor, verb: str) -> None:
        if not roles.allowed(actor.role, verb):
            raise PermissionDenied(f"role {actor.role!r} may not {verb}")

    def _in_run(self, actor: Actor, run_id: int) -> None:
        if actor.run_id is not None and actor.run_id != run_id:
            raise PermissionDenied(f"agent {actor.key} belongs to run {actor.run_id}, not run {run_id}")

    def _floor(self, tx: Tx, run_id: int) -> float:
        if self.noise_floor is not None:
            return self.noise_floor
        champ = tx.champion(run_id)
        return protocol.measured_noise_floor(None if champ is None else tx.get_result(champ.result_id))

    @staticmethod
    def _missing(what: str, ident: int) -> ProtocolViolation:
        return ProtocolViolation("not_found", f"{what} {ident} does not exist")

    def _run(self, tx: Tx, run_id: int) -> Run:
        run = tx.get_run(run_id)
        if run is None:
            raise self._missing("run", run_id)
        return run

    def _team(self, tx: Tx, team_id: int, run_id: int) -> Any:
        team = tx.get_team(team_id)
        if team is None or team.run_id != run_id:
            raise self._missing("team", team_id)
        return team

    def _proposal(self, tx: Tx, proposal_id: int) -> Proposal:
        proposal = tx.get_proposal(proposal_id)
        if proposal is None:
            raise self._missing("proposal", proposal_id)
        return proposal

    def _item(self, tx: Tx, item_id: int) -> QueueItem:
        item = tx.get_item(item_id)
        if item is None:
            raise self._missing("queue item", item_id)
        return item

    # -- teams and forum ----------------------------------------------------------------------

    def create_team(self, actor: Actor, run_id: int, name: str, hypothesis: str, strategy: str) -> Team:
        """Form a team around a hypothesis and strategy (status ``active``)."""
        self._allow(actor, "create_team")
        self._in_run(actor, run_id)
        with self.store.write(actor.key, run_id) as tx:
            self._run(tx, run_id)
            return tx.add_team(run_id, name, hypothesis, strategy)

    def set_team_status(self, actor: Actor, team_id: int, status: str) -> Team:
        """Merge or dissolve an active team; a merged or dissolved team stays so (rule: team_status)."""
        self._allow(actor, "set_team_status")
        if status not in ("merged", "dissolved"):
            raise ProtocolViolation("team_status", f"a team can become 'merged' or 'dissolved', not {status!r}")
        with self.store.write(actor.key) as tx:
            team = tx.get_team(team_id)
            if team is None:
                raise self._missing("team", team_id)
            self._in_run(actor, team.run_id)
            if team.status != "active":
                raise ProtocolViolation("team_status", f"team {team_id} is already {team.status}")
            return tx.set_team_status(team_id, status)

    def post(
        self,
        actor: Actor,
        run_id: int,
        kind: str,
        title: str,
        body: str = "",
        data: dict[str, Any] | None = None,
        thread_id: int | None = None,
        team_id: int | None = None,
    ) -> Post:
        """Write to the forum. Kind ``result`` is the harness's alone: results never live only in prose."""
        self._allow(actor, "post")
        self._in_run(actor, run_id)
        if kind not in POST_KINDS:
            raise ProtocolViolation("post_kind", f"kind {kind!r} is not one of {list(POST_KINDS)}")
        if kind == "result" and actor.role != "harness":
            raise ProtocolViolation("result_post", "only the harness posts results; post a 'finding' or 'note'")
        with self.store.write(actor.key, run_id) as tx:
            self._run(tx, run_id)
            if thread_id is not None:
                parent = tx.get_post(thread_id)
                if parent is None or parent.run_id != run_id:
                    raise self._missing("thread", thread_id)
            if team_id is not None:
                self._team(tx, team_id, run_id)
            return tx.add_post(run_id, kind, title, body, data or {}, thread_id, team_id)

    # -- proposals and critiques --------------------------------------------------------------

    def propose(
        self,
        actor: Actor,
        run_id: int,
        recipe: dict[str, Any],
        hypothesis: str,
        expected_effect: float,
        family: str,
        title: str = "",
        team_id: int | None = None,
    ) -> Proposal:
        """Propose a recipe; also opens a forum thread (a ``proposal`` post) for its critiques."""
        self._allow(actor, "propose")
        self._in_run(actor, run_id)
        recipe_hash = canonical_hash(recipe)
        title = title or f"{family}: {hypothesis[:60]}"
        with self.store.write(actor.key, run_id) as tx:
            self._run(tx, run_id)
            if team_id is not None:
                self._team(tx, team_id, run_id)
            post = tx.add_post(
                run_id, "proposal", title, hypothesis, {"recipe": recipe, "family": family}, None, team_id
            )
            return tx.add_proposal(
                run_id, title, recipe, hypothesis, float(expected_effect), family, recipe_hash, team_id, post.id
            )

    def critique(
        self,
        actor: Actor,
        proposal_id: int,
        verdict: str,
        reasons: str,
        reopens_dead_end: int | None = None,
    ) -> Critique:
        """Critique someone else's proposal (self-critique is refused: rule ``self_critique``).

        ``reopens_dead_end`` names a dead end this approval deliberately re-opens; it needs a reason.
        """
        self._allow(actor, "critique")
        if verdict not in ("approve", "revise", "reject"):
            raise ProtocolViolation("verdict", f"verdict must be approve, revise or reject, not {verdict!r}")
        with self.store.write(actor.key) as tx:
            proposal = self._proposal(tx, proposal_id)
            self._in_run(actor, proposal.run_id)
            if proposal.author == actor.key:
                raise ProtocolViolation("self_critique", "an agent may not critique its own proposal")
            if reopens_dead_end is not None:
                dead_end = tx.get_dead_end(reopens_dead_end)
                if dead_end is None or dead_end.run_id != proposal.run_id:
                    raise self._missing("dead end", reopens_dead_end)
                if verdict != "approve" or not reasons.strip():
                    raise ProtocolViolation(
                        "reopen_dead_end", "re-opening a dead end needs an approving critique with a reason"
                    )
            tx.add_post(
                proposal.run_id, "critique", f"{verdict}: proposal {proposal_id}", reasons,
                {"proposal_id": proposal_id, "verdict": verdict, "reopens_dead_end": reopens_dead_end},
                proposal.post_id, proposal.team_id,
            )
            return tx.add_critique(proposal_id, verdict, reasons, reopens_dead_end)

    # -- the queue ----------------------------------------------------------------------------

    def enqueue(self, actor: Actor, proposal_id: int, seed: int = 0, team_id: int | None = None) -> QueueItem:
        """Queue a proposal for one seed (rules a, b, c). ``team_id`` defaults to the proposal's team."""
        self._allow(actor, "enqueue")
        with self.store.write(actor.key) as tx:
            proposal = self._proposal(tx, proposal_id)
            self._in_run(actor, proposal.run_id)
            tx.lock_run(proposal.run_id)
            critiques = tx.list_critiques(proposal_id)
            protocol.check_approved(proposal, critiques)
            taken = tx.find_items(proposal.run_id, proposal.canonical_hash, seed, LIVE_OR_RUN)
            if taken:
                raise ProtocolViolation(
                    "duplicate",
                    f"recipe {proposal.canonical_hash[:12]} with seed {seed} is already {taken[0].status} "
                    f"as queue item {taken[0].id}; change the recipe or the seed",
                )
            protocol.check_dead_ends(proposal, tx.list_dead_ends(proposal.run_id), critiques)
            team = proposal.team_id if team_id is None else self._team(tx, team_id, proposal.run_id).id
            item = tx.add_item(proposal.run_id, proposal_id, team, proposal.canonical_hash, seed)
            if proposal.status == "open":
                tx.set_proposal_status(proposal_id, "queued")
            return item

    def claim(
        self, actor: Actor, run_id: int, team_id: int | None = None, lease_s: float = DEFAULT_LEASE_S
    ) -> QueueItem | None:
        """Claim the oldest pending item (of ``team_id`` if given) under a lease; None if none is pending.

        Expired leases are released first. Refused when the run already has ``slot_limit`` claimed items.
        """
        self._allow(actor, "claim")
        self._in_run(actor, run_id)
        if lease_s <= 0:
            raise ProtocolViolation("lease", f"lease_s must be positive, got {lease_s}")
        with self.store.write(actor.key, run_id) as tx:
            tx.lock_run(run_id)
            tx.release_expired(run_id, protocol.MAX_ATTEMPTS)
            busy = tx.count_items(run_id, "claimed")
            if busy >= self.slot_limit:
                raise ProtocolViolation(
                    "slot_limit", f"run {run_id} already has {busy} claimed items (limit {self.slot_limit}); retry later"
                )
            return tx.claim_next(run_id, team_id, lease_s)

    def heartbeat(self, actor: Actor, item_id: int, lease_s: float = DEFAULT_LEASE_S) -> QueueItem:
        """Extend the lease of an item this actor holds (the harness may beat for any claimed item)."""
        self._allow(actor, "heartbeat")
        with self.store.write(actor.key) as tx:
            item = self._item(tx, item_id)
            self._in_run(actor, item.run_id)
            if item.status != "claimed":
                raise ProtocolViolation("lease", f"item {item_id} is {item.status}, not claimed")
            if item.claimed_by != actor.key and actor.role != "harness":
                raise ProtocolViolation("lease", f"item {item_id} is held by agent {item.claimed_by}")
            if item.lease_expires_at is not None and item.lease_expires_at < self.store.now():
                raise ProtocolViolation("lease", f"the lease on item {item_id} expired; claim again")
            return tx.extend_lease(item_id, lease_s)

    def release_expired(self, actor: Actor, run_id: int) -> list[QueueItem]:
        """Return expired claims to pending (attempts + 1); after 3 expiries an item is failed."""
        self._allow(actor, "release_expired")
        self._in_run(actor, run_id)
        with self.store.write(actor.key, run_id) as tx:
            return tx.release_expired(run_id, protocol.MAX_ATTEMPTS)

    def abort(self, actor: Actor, item_id: int, reason: str) -> QueueItem:
        """Abort a pending or claimed item (rule g); a finished item cannot be aborted."""
        self._allow(actor, "abort")
        with self.store.write(actor.key) as tx:
            item = self._item(tx, item_id)
            self._in_run(actor, item.run_id)
            if item.status not in ("pending", "claimed"):
                raise ProtocolViolation("not_in_flight", f"item {item_id} is {item.status}; only in-flight items abort")
            return tx.set_item_status(item_id, "aborted", reason)

    # -- results and the champion -------------------------------------------------------------

    def record_result(
        self,
        actor: Actor,
        item_id: int,
        metric: str,
        value: float,
        higher_is_better: bool,
        fold_scores: list[float] | None = None,
        ci_low: float | None = None,
        ci_high: float | None = None,
        duration_s: float = 0.0,
        artifacts: dict[str, str] | None = None,
        split: str = "default",
    ) -> Result:
        """Record the judge's measurement for a claimed item (rule e); the item becomes ``done``.

        Also posts a ``result`` to the forum and may emit the stagnation post (rule i).
        """
        self._allow(actor, "record_result")
        with self.store.write(actor.key) as tx:
            item = self._item(tx, item_id)
            self._in_run(actor, item.run_id)
            if item.status != "claimed":
                raise ProtocolViolation(
                    "result_requires_claim", f"item {item_id} is {item.status}; results are recorded for claimed items"
                )
            result = tx.add_result(
                item, split, metric, float(value), bool(higher_is_better), [float(s) for s in fold_scores or []],
                ci_low, ci_high, float(duration_s), artifacts or {},
            )
            tx.set_item_status(item_id, "done")
            tx.add_post(
                item.run_id, "result", f"{metric} = {value:.4g} (item {item_id}, seed {item.seed})", "",
                {"result_id": result.id, "item_id": item_id, "metric": metric, "value": value}, None, item.team_id,
            )
            self._maybe_stagnation(tx, item.run_id)
            return result

    def record_failure(self, actor: Actor, item_id: int, reason: str) -> QueueItem:
        """Mark a claimed item failed (a crash is data: the reason is kept)."""
        self._allow(actor, "record_failure")
        with self.store.write(actor.key) as tx:
            item = self._item(tx, item_id)
            self._in_run(actor, item.run_id)
            if item.status != "claimed":
                raise ProtocolViolation("result_requires_claim", f"item {item_id} is {item.status}, not claimed")
            return tx.set_item_status(item_id, "failed", reason)

    def _maybe_stagnation(self, tx: Tx, run_id: int) -> None:
        episode = protocol.stagnation_start(tx.list_results(run_id), self.stagnation_k, self._floor(tx, run_id))
        if episode is None:
            return
        for post in tx.list_posts(run_id, kind="stuck"):
            if post.author == SYSTEM and post.data.get("since_result_id") == episode:
                return  # already announced this episode
        tx.add_post(
            run_id, "stuck", f"stagnation: {self.stagnation_k} results without improvement",
            "Re-open discussion: merge, split, pivot or dissolve teams.",
            {"since_result_id": episode, "k": self.stagnation_k}, None, None, author=SYSTEM,
        )

    def promote(self, actor: Actor, result_id: int, confirming_result_id: int | None = None) -> ChampionEntry:
        """Make a result's recipe the champion (rule f).

        Needs a confirming result (same recipe hash, other seed or split; found automatically
        when not given) and, if a champion exists, both results must beat it by more than the
        noise floor in the metric's direction.
        """
        self._allow(actor, "promote")
        with self.store.write(actor.key) as tx:
            result = tx.get_result(result_id)
            if result is None:
                raise self._missing("result", result_id)
            self._in_run(actor, result.run_id)
            tx.lock_run(result.run_id)
            champ = tx.champion(result.run_id)
            floor = self._floor(tx, result.run_id)
            if champ is not None:
                if champ.metric != result.metric or champ.higher_is_better != result.higher_is_better:
                    raise ProtocolViolation(
                        "metric_mismatch", f"champion is judged on {champ.metric}, result {result_id} on {result.metric}"
                    )
                if not protocol.beats(result.value, champ.value, result.higher_is_better, floor):
                    raise ProtocolViolation(
                        "no_improvement",
                        f"result {result_id} ({result.value:.6g}) does not beat the champion ({champ.value:.6g}) "
                        f"by more than the noise floor {floor:.3g}",
                    )
            candidates = [r for r in tx.list_results(result.run_id, recipe_hash=result.recipe_hash)
                          if protocol.is_confirmation(result, r)]
            if confirming_result_id is not None:
                candidates = [r for r in candidates if r.id == confirming_result_id]
            if champ is not None:
                candidates = [r for r in candidates
                              if protocol.beats(r.value, champ.value, r.higher_is_better, floor)]
            if not candidates:
                raise ProtocolViolation(
                    "needs_confirmation",
                    f"no second result of recipe {result.recipe_hash[:12]} on another seed or split"
                    + (" that also beats the champion" if champ is not None else "")
                    + "; enqueue it with another seed first",
                )
            return tx.add_champion(result, candidates[0].id, protocol.champion_value(champ), floor)

    # -- dead ends ----------------------------------------------------------------------------

    def add_dead_end(
        self,
        actor: Actor,
        run_id: int,
        family: str,
        region: dict[str, Any],
        reason: str,
        evidence: dict[str, Any] | None = None,
        team_id: int | None = None,
    ) -> DeadEnd:
        """Register a dead end: recipes of ``family`` containing every ``region`` item are refused."""
        self._allow(actor, "add_dead_end")
        self._in_run(actor, run_id)
        if not reason.strip():
            raise ProtocolViolation("dead_end_reason", "a dead end needs a reason so others can judge it")
        with self.store.write(actor.key, run_id) as tx:
            self._run(tx, run_id)
            if team_id is not None:
                self._team(tx, team_id, run_id)
            return tx.add_dead_end(run_id, family, region, reason, evidence or {}, team_id)

    # -- readers (role verb "read"; every role has it) ----------------------------------------

    def _reader(self, actor: Actor, run_id: int | None = None) -> Any:
        self._allow(actor, roles.READ)
        if run_id is not None:
            self._in_run(actor, run_id)
        return self.store.read()

    def list_runs(self, actor: Actor) -> list[Run]:
        with self._reader(actor) as tx:
            runs: list[Run] = tx.list_runs()
        return [r for r in runs if actor.run_id is None or r.id == actor.run_id]

    def get_run(self, actor: Actor, run_id: int) -> Run:
        with self._reader(actor, run_id) as tx:
            return self._run(tx, run_id)

    def list_agents(self, actor: Actor, run_id: int) -> list[Agent]:
        with self._reader(actor, run_id) as tx:
            return tx.list_agents(run_id)

    def list_teams(self, actor: Actor, run_id: int) -> list[Team]:
        with self._reader(actor, run_id) as tx:
            return tx.list_teams(run_id)

    def list_posts(
        self, actor: Actor, run_id: int, kind: str | None = None, thread_id: int | None = None, since_id: int = 0
    ) -> list[Post]:
        with self._reader(actor, run_id) as tx:
            return tx.list_posts(run_id, kind=kind, thread_id=thread_id, since_id=since_id)

    def get_proposal(self, actor: Actor, proposal_id: int) -> Proposal:
        with self._reader(actor) as tx:
            proposal = self._proposal(tx, proposal_id)
        self._in_run(actor, proposal.run_id)
        return proposal

    def list_proposals(self, actor: Actor, run_id: int, status: str | None = None) -> list[Proposal]:
        with self._reader(actor, run_id) as tx:
            return tx.list_proposals(run_id, status=status)

    def list_critiques(self, actor: Actor, proposal_id: int) -> list[Critique]:
        self.get_proposal(actor, proposal_id)  # existence and run scope
        with self._reader(actor) as tx:
            return tx.list_critiques(proposal_id)

    def get_item(self, actor: Actor, item_id: int) -> QueueItem:
        with self._reader(actor) as tx:
            item = self._item(tx, item_id)
        self._in_run(actor, item.run_id)
        return item

    def list_queue(
        self, actor: Actor, run_id: int, status: str | None = None, team_id: int | None = None
    ) -> list[QueueItem]:
        with self._reader(actor, run_id) as tx:
            return tx.list_items(run_id, status=status, team_id=team_id)

    def list_results(self, actor: Actor, run_id: int) -> list[Result]:
        with self._reader(actor, run_id) as tx:
            return tx.list_results(run_id)

    def champion(self, actor: Actor, run_id: int) -> ChampionEntry | None:
        with self._reader(actor, run_id) as tx:
            return tx.champion(run_id)

    def champion_history(self, actor: Actor, run_id: int) -> list[ChampionEntry]:
        with self._reader(actor, run_id) as tx:
            return tx.champion_history(run_id)

    def list_dead_ends(self, actor: Actor, run_id: int) -> list[DeadEnd]:
        with self._reader(actor, run_id) as tx:
            return tx.list_dead_ends(run_id)

    def events(
        self, actor: Actor, since_seq: int = 0, limit: int = 1000, run_id: int | None = None
    ) -> list[AuditEvent]:
        """Audit events with ``seq > since_seq`` in order (an agent bound to a run sees that run's)."""
        run_id = actor.run_id if actor.run_id is not None else run_id
        with self._reader(actor, run_id) as tx:
            return tx.events(since_seq, limit, run_id)

    def verify_audit_chain(self, actor: Actor) -> bool:
        self._allow(actor, roles.READ)
        return self.store.verify_audit_chain()
