"""Dispatch on the hypothesis graph, and the graph's hold on the queue verbs (rules g6, g7).

``GraphVerbs`` is the mixin the Service registers. It wraps ``enqueue`` of the queue mixin
in one transaction (a ``Store.group``: the gate's read and the verb's write commit
together; inside the server's write lane that is the lane's batch) so a ticket a
concurrent result opens cannot slip between the check and the write; on PostgreSQL both
sides lock the run's row. ``claim`` needs no wrapper transaction: its one statement refuses
work while a ticket is open (``Tx.claim_next``), and a ``None`` answer is then explained
as 423. Results open tickets in their own insert (``Tx.add_result``). A run without ideas
pays nothing on the claim -> result loop.
"""

from __future__ import annotations

from collections.abc import Sequence

from autods.errors import PermissionDenied, ProtocolViolation, UserInputError
from autods.server import graph_protocol as gp
from autods.server.service_base import DEFAULT_LEASE_S, Actor
from autods.server.service_graph import GraphCore
from autods.server.service_queue import QueueVerbs
from autods.server.service_results import ResultVerbs
from autods.state.graph_records import Dispatched, Idea, Skipped
from autods.state.records import LIVE_OR_RUN, QueueItem
from autods.state.store import Tx


class GraphVerbs(GraphCore, QueueVerbs, ResultVerbs):
    def _gate(self, tx: Tx, run_id: int) -> None:
        """g6: no new work while a verdict is owed (423)."""
        tx.lock_run(run_id)
        if tx.has_open_tickets(run_id):
            raise gp.TicketsOpen(run_id, tx.list_tickets(run_id, "open"))

    def dispatch(self, actor: Actor, run_id: int, seeds: Sequence[int] = (0,),
                 team_id: int | None = None) -> Dispatched:
        """Queue every NOW idea (of ``team_id``) that can honestly run beside what is running (g7),
        for each of ``seeds``, through the ordinary enqueue rules (critique, duplicate, dead end).

        Only an idea that was queued holds back the ideas it cannot run beside: one whose every
        enqueue was refused is reported in ``skipped`` and blocks nothing (a duplicate also
        leaves NOW, see :meth:`_settle_refused`)."""
        self._gallow(actor, "dispatch")
        self._in_run(actor, run_id)
        if not seeds or any(s < 0 for s in seeds):
            raise UserInputError("seeds must be one or more non-negative integers", "send seeds like [0] or [0, 1]")
        skipped: list[Skipped] = []
        with self.store.group():
            with self.store.read() as tx:
                self._run(tx, run_id)
                self._gate(tx, run_id)
                flight = tx.ideas_in_flight(run_id)
                ideas = {i.id: i for i in tx.list_ideas(run_id)}
                relations = tx.list_relations(run_id)
                with_results = tx.ideas_with_results(run_id)
            running = [ideas[i] for i in flight if i in ideas]
            now = sorted((i for i in ideas.values() if i.tier == "NOW" and (team_id is None or i.team_id == team_id)),
                         key=lambda i: (i.tier_changed_at, i.id))
            items: list[QueueItem] = []
            for idea in now:
                if idea.id in flight:
                    skipped.append(Skipped(idea_id=idea.id, rule="running", reason="already has work in flight"))
                    continue
                why = gp.why_not_together(idea, running, relations, with_results)
                if why is not None:
                    skipped.append(Skipped(idea_id=idea.id, rule="cannot_run_together", reason=why))
                    continue
                queued, refused = self._dispatch_one(actor, idea, seeds)
                items += queued
                if queued:  # only work actually queued holds back the ideas it cannot run beside
                    running.append(idea)
                    skipped += _said(idea, refused)
                else:
                    skipped += self._settle_refused(actor, idea, refused)
        return Dispatched(items=items, skipped=skipped)

    def _dispatch_one(self, actor: Actor, idea: Idea,
                      seeds: Sequence[int]) -> tuple[list[QueueItem], list[tuple[int, ProtocolViolation]]]:
        """Enqueue ``idea`` for each seed through the ordinary rules; a refused enqueue is rolled
        back alone (its savepoint) and returned with its seed."""
        items, refused = [], []
        for seed in dict.fromkeys(seeds):
            try:
                items.append(QueueVerbs.enqueue(self, actor, idea.id, seed))
            except PermissionDenied:
                raise
            except ProtocolViolation as exc:
                refused.append((seed, exc))
        return items, refused

    def _settle_refused(self, actor: Actor, idea: Idea, refused: list[tuple[int, ProtocolViolation]]) -> list[Skipped]:
        """The report of a NOW idea none of whose seeds could be queued. When every seed repeats
        work that is queued, running or done (``duplicate``), the idea leaves NOW, saying so: it
        would measure nothing new, and kept in NOW it would hold a worker's slot and come back to
        every later dispatch, refused each time. A repeat of its own earlier run sends it to NEXT
        (another seed may run it again); a repeat of another proposal's run parks it. Other
        refusals (critique rules, a dead end) are reported and the idea stays: a critique may
        yet arrive."""
        said = _said(idea, refused)
        if not refused or any(exc.rule != "duplicate" for _, exc in refused):
            return said
        with self.store.write(actor.key, idea.run_id) as tx:
            tx.lock_run(idea.run_id)
            current = tx.get_idea(idea.id)
            if current is None or current.tier != "NOW":
                return said
            owners = {item.proposal_id for seed, _ in refused
                      for item in tx.find_items(idea.run_id, idea.canonical_hash, seed, LIVE_OR_RUN)}
            tier = "NEXT" if owners <= {idea.id} else "PARKED"
            whose = "its own earlier run" if tier == "NEXT" else f"the run of proposal(s) {sorted(owners - {idea.id})}"
            self._move(tx, current, tier, f"dispatch: every seed repeats {whose} ({'; '.join(s.reason for s in said)}"[:1800]
                       + "): it would measure nothing new, so it leaves NOW")
        return [s.model_copy(update={"reason": f"{s.reason}; moved to {tier}"}) for s in said]

    def enqueue(self, actor: Actor, proposal_id: int, seed: int = 0, team_id: int | None = None) -> QueueItem:
        """The queue's enqueue, refused while tickets are open (423); an idea's proposal only
        from NOW and only beside ideas it can run with (409), as dispatch would."""
        self._allow(actor, "enqueue")
        with self.store.group():
            with self.store.read() as tx:
                proposal = tx.get_proposal(proposal_id)
                if proposal is not None:
                    self._in_run(actor, proposal.run_id)
                    self._gate(tx, proposal.run_id)
                    if tx.is_idea(proposal_id):
                        self._idea_may_run(tx, proposal_id)
            return super().enqueue(actor, proposal_id, seed, team_id)

    def _idea_may_run(self, tx: Tx, idea_id: int) -> None:
        idea = tx.get_idea(idea_id)
        assert idea is not None
        if idea.tier != "NOW":
            raise ProtocolViolation("idea_not_now", f"idea {idea_id} is {idea.tier}; only NOW ideas run "
                                    "(move it to NOW after an approving critique, or dispatch)")
        flight = tx.ideas_in_flight(idea.run_id)
        running = [i for i in tx.list_ideas(idea.run_id) if i.id in flight]
        why = gp.why_not_together(idea, running, tx.list_relations(idea.run_id), tx.ideas_with_results(idea.run_id))
        if why is not None:
            raise ProtocolViolation("cannot_run_together", f"idea {idea_id} cannot run now: {why}")

    def claim(self, actor: Actor, run_id: int, team_id: int | None = None,
              lease_s: float = DEFAULT_LEASE_S) -> QueueItem | None:
        """The queue's claim; while tickets are open it hands out nothing (the claim statement
        itself checks, ``Tx.claim_next``) and says why: 423."""
        item = super().claim(actor, run_id, team_id, lease_s)
        if item is None:
            with self.store.read() as tx:
                if tx.has_open_tickets(run_id):
                    raise gp.TicketsOpen(run_id, tx.list_tickets(run_id, "open"))
        return item


def _said(idea: Idea, refused: list[tuple[int, ProtocolViolation]]) -> list[Skipped]:
    return [Skipped(idea_id=idea.id, rule=exc.rule, reason=f"seed {seed}: {exc.reason}") for seed, exc in refused]
