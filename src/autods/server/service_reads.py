"""Service readers (role verb ``read``, which every role has), scoped to the actor's run."""

from __future__ import annotations

from contextlib import AbstractContextManager

from autods.server.models import OwnedRecord, RunRecords
from autods.server.service_base import Actor, ServiceBase
from autods.state import roles
from autods.state.records import (
    Agent, AuditEvent, ChampionEntry, Critique, DeadEnd, Post, Proposal, QueueItem, Result, Run, Team,
)
from autods.state.store import Tx


class ReadVerbs(ServiceBase):
    def _reader(self, actor: Actor, run_id: int | None = None) -> AbstractContextManager[Tx]:
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

    def run_records(self, actor: Actor, run_id: int) -> RunRecords:
        """The task summary, design and noise floor as the server holds them: each from the
        latest post of its owning role (``roles.RECORD_OWNERS``), never from another author's."""
        with self._reader(actor, run_id) as tx:
            self._run(tx, run_id)
            found = self._records(tx, run_id)
            role_of = {str(a.id): a.role for a in tx.list_agents(run_id)}
        return RunRecords(**{key: OwnedRecord(post_id=post.id, author=post.author,
                                              role=role_of.get(post.author, "orchestrator"), value=value)
                             for key, (post, value) in found.items()})

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

    def last_event_seq(self, actor: Actor, run_id: int | None = None) -> int:
        """The newest audit seq :meth:`events` would show this actor (0 if none), scoped like it:
        a board takes it before reading its snapshot and streams ``events(since_seq=...)`` from it."""
        run_id = actor.run_id if actor.run_id is not None else run_id
        with self._reader(actor, run_id) as tx:
            return tx.last_seq(run_id)

    def verify_audit_chain(self, actor: Actor) -> bool:
        self._allow(actor, roles.READ)
        return self.store.verify_audit_chain()
