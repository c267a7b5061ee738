"""Service verbs of the queue: enqueue (rules a, b, c), claim with a lease (d, h), heartbeat,
release of expired leases, abort (g).

Enqueue reads the proposal's recipe as the server does (``server/canon.py``): the duplicate
rule compares canonical hashes (defaults filled in, so spelling out a default is the same
recipe), and dead ends match the derived family and the canonical recipe, never the
proposer's label. Approval (rule a, ``protocol.check_approved``) is judged on every critique
of the recipe *version* (all proposals of the run with that canonical hash): a critic's
``revise`` blocks until a changed recipe is approved, a validator's ``reject`` is final, and
a withdrawn (revised) proposal is not enqueued.

Fidelity (:mod:`autods.judge.fidelity`): a screened recipe (``fidelity: screen``, the plan's
first repeat) hashes apart from its full-fidelity run, so running it in full later is not a
duplicate; a second screen of it (any seed) is. Critiques judge the model, not how many repeats
score it: the critiques of a recipe's screen count for its full run and the other way round.

Abort (rule g) is the owning team's: the proposal's author, an agent registered in the
item's team, the proposal's team or the proposer's team, or the monitor / orchestrator
(``roles.ABORT_ANY``); anyone else is refused (403). Team membership is the one the server
registered (``Agent.team_id``), never a team an agent names in a request.
"""

from __future__ import annotations

from typing import Any

from autods.errors import PermissionDenied, ProtocolViolation
from autods.judge.fidelity import SCREEN, fidelity_of
from autods.server import canon, protocol
from autods.server.service_base import DEFAULT_LEASE_S, Actor, ServiceBase
from autods.state import roles
from autods.state.records import LIVE_OR_RUN, Critique, Proposal, QueueItem
from autods.state.store import Tx


class QueueVerbs(ServiceBase):
    def enqueue(self, actor: Actor, proposal_id: int, seed: int = 0, team_id: int | None = None) -> QueueItem:
        """Queue a proposal for one seed (rules a, b, c). ``team_id`` defaults to the proposal's team."""
        self._allow(actor, "enqueue")
        with self.store.write(actor.key) as tx:
            proposal = self._proposal(tx, proposal_id)
            self._in_run(actor, proposal.run_id)
            tx.lock_run(proposal.run_id)
            if proposal.status == "withdrawn":
                raise ProtocolViolation(
                    "withdrawn", f"proposal {proposal_id} was withdrawn by a revision; enqueue the revised proposal")
            read = canon.canonicalise(proposal.recipe)  # records from before canonicalisation too
            critiques = self._version_critiques(tx, proposal, read.hash)
            validators = {str(a.id) for a in tx.list_agents(proposal.run_id) if a.role in roles.FINAL_REJECT}
            protocol.check_approved(proposal, critiques, validators)
            taken = tx.find_items(proposal.run_id, read.hash, seed, LIVE_OR_RUN)
            if fidelity_of(read.recipe) == SCREEN:
                # a screen decides whether the full plan is worth running: once per recipe, on any seed
                taken = taken or [q for q in tx.list_items(proposal.run_id)
                                  if q.recipe_hash == read.hash and q.status in LIVE_OR_RUN]
                if taken:
                    raise ProtocolViolation(
                        "duplicate",
                        f"recipe {read.hash[:12]} was already screened (queue item {taken[0].id}, "
                        f"{taken[0].status}); a recipe is screened once: run it at full fidelity instead",
                    )
            if taken:
                raise ProtocolViolation(
                    "duplicate",
                    f"recipe {read.hash[:12]} with seed {seed} is already {taken[0].status} "
                    f"as queue item {taken[0].id}; change the recipe or the seed",
                )
            protocol.check_dead_ends(proposal, read, tx.list_dead_ends(proposal.run_id), critiques)
            team = proposal.team_id if team_id is None else self._team(tx, team_id, proposal.run_id).id
            item = tx.add_item(proposal.run_id, proposal_id, team, read.hash, seed)
            if proposal.status == "open":
                tx.set_proposal_status(proposal_id, "queued")
            return item

    @staticmethod
    def _version_critiques(tx: Tx, proposal: Proposal, recipe_hash: str) -> list[Critique]:
        """Critiques of every proposal of the run with this canonical recipe: re-proposing a
        recipe under a new id does not shed a revise or a reject."""
        model = _model_hash(proposal.recipe)
        twins = [p.id for p in tx.list_proposals(proposal.run_id)
                 if p.id != proposal.id and (p.canonical_hash in (recipe_hash, proposal.canonical_hash)
                                             or (model is not None and _model_hash(p.recipe) == model))]
        critiques = list(tx.list_critiques(proposal.id))
        for twin in twins:
            critiques += tx.list_critiques(twin)
        return sorted(critiques, key=lambda c: c.id)

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
            # One scan answers both "how many slots are taken" and "has any lease run out";
            # the release pass runs only when one has.
            busy, soonest = tx.claimed_summary(run_id)
            if soonest is not None and soonest < tx.clock():
                tx.release_expired(run_id, protocol.MAX_ATTEMPTS)
                busy, _ = tx.claimed_summary(run_id)
            if busy >= self.slot_limit:
                raise ProtocolViolation(
                    "slot_limit", f"run {run_id} already has {busy} claimed items (limit {self.slot_limit}); retry later"
                )
            return tx.claim_next(run_id, team_id, lease_s)

    def heartbeat(self, actor: Actor, item_id: int, lease_s: float = DEFAULT_LEASE_S) -> QueueItem:
        """Extend the lease of an item this actor holds (the harness may beat for any claimed item)."""
        self._allow(actor, "heartbeat")
        with self.store.write(actor.key) as tx:
            item = self._item(tx, item_id, lock=True)  # a result or release cannot land between check and write
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
        """Abort a pending or claimed item (rule g); a finished item cannot be aborted.

        Only the owning team may: see the module docstring."""
        self._allow(actor, "abort")
        with self.store.write(actor.key) as tx:
            item = tx.move_item(item_id, ("pending", "claimed"), "aborted", reason)
            if item is None:  # missing, or no longer in flight: say which
                item = self._item(tx, item_id)
                self._in_run(actor, item.run_id)
                raise ProtocolViolation("not_in_flight", f"item {item_id} is {item.status}; only in-flight items abort")
            self._in_run(actor, item.run_id)  # refusing rolls the abort back
            self._check_owner(tx, actor, item)
            return item

    def _check_owner(self, tx: Tx, actor: Actor, item: QueueItem) -> None:
        if actor.role in roles.ABORT_ANY:
            return
        proposal = tx.get_proposal(item.proposal_id)
        if proposal is not None and proposal.author == actor.key:
            return
        agent = None if actor.agent_id is None else tx.get_agent(actor.agent_id)
        proposer = tx.get_agent(int(proposal.author)) if proposal is not None and proposal.author.isdigit() else None
        teams = {item.team_id, None if proposal is None else proposal.team_id,
                 None if proposer is None else proposer.team_id} - {None}
        if agent is not None and agent.team_id is not None and agent.team_id in teams:
            return
        raise PermissionDenied(
            f"agent {actor.key} may not abort item {item.id}: it belongs to "
            + (f"team {sorted(teams)[0]}" if teams else f"agent {None if proposal is None else proposal.author}")
            + "; ask that team, the monitor or the orchestrator")


def _model_hash(recipe: dict[str, Any]) -> str | None:
    """The canonical hash of a recipe at full fidelity (its screen and its full run share it);
    None when the recipe does not parse (an old record: it then shares critiques by hash only)."""
    try:
        read = canon.canonicalise({k: v for k, v in recipe.items() if k != "fidelity"})
    except ProtocolViolation:
        return None
    return read.hash
