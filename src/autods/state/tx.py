"""One transaction over the shared state: typed reads and audited writes.

The Service composes a protocol check and its write inside one ``Tx`` so nothing can slip
between them. Every write appends a hash-chained AuditEvent in the same transaction: if the
write commits, so does its audit link, and vice versa.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel

from autods.errors import StateError
from autods.state import schema as t
from autods.state.hashing import chain_hash
from autods.state.records import (
    SYSTEM, Agent, AuditEvent, ChampionEntry, Critique, DeadEnd, Post, Proposal, QueueItem, Result, Run, Team,
)
from autods.state.tx_reads import ReadsMixin

M = TypeVar("M", bound=BaseModel)


class Tx(ReadsMixin):
    """A transaction bound to one connection. ``actor`` is written into authors and audit events."""

    def __init__(self, conn: sa.Connection, actor: str, clock: Callable[[], float], *, postgres: bool) -> None:
        self.conn = conn
        self.actor = actor
        self.clock = clock
        self.postgres = postgres
        self._tip: tuple[int, str] | None = None

    # -- plumbing ---------------------------------------------------------------------------

    def _insert(self, table: sa.Table, model: type[M], verb: str, audit_run: int | None, /, **values: Any) -> M:
        values.setdefault("created_at", self.clock())
        new_id = self.conn.execute(table.insert().values(**values)).inserted_primary_key[0]
        record = model.model_validate({"id": new_id, **values})
        self._audit(verb, audit_run, record.model_dump(mode="json"))
        return record

    def _update(self, table: sa.Table, model: type[M], ident: int, verb: str, **values: Any) -> M:
        self.conn.execute(table.update().where(table.c.id == ident).values(**values))
        return self._audited(table, model, ident, verb, values)

    def _audited(self, table: sa.Table, model: type[M], ident: int, verb: str, values: dict[str, Any]) -> M:
        """Read back an updated row and log the change."""
        row = self.conn.execute(sa.select(table).where(table.c.id == ident)).one()
        record = model.model_validate(dict(row._mapping))
        self._audit(verb, getattr(record, "run_id", None), {"id": ident, **_jsonable(values)})
        return record

    def _audit(self, verb: str, run_id: int | None, payload: dict[str, Any]) -> None:
        prev_seq, prev_hash = self.lock_tip()
        seq, created = prev_seq + 1, self.clock()
        event = {"seq": seq, "run_id": run_id, "actor": self.actor, "verb": verb, "payload": payload,
                 "created_at": created}
        digest = chain_hash(prev_hash, event)
        self.conn.execute(t.audit_events.insert().values(
            seq=seq, run_id=run_id, actor=self.actor, verb=verb, payload=json.dumps(payload),
            prev_hash=prev_hash, hash=digest, created_at=created,
        ))
        self.conn.execute(t.audit_head.update().where(t.audit_head.c.id == 1).values(seq=seq, hash=digest))
        self._tip = (seq, digest)

    def lock_tip(self) -> tuple[int, str]:
        """The chain tip (seq, hash), read once per transaction and then tracked here.

        On PostgreSQL the read takes the row lock: writers queue on the tip, so two
        transactions can never extend the same hash. SQLite's BEGIN IMMEDIATE already did.
        """
        if self._tip is None:
            head = sa.select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == 1)
            if self.postgres:
                head = head.with_for_update()
            seq, digest = self.conn.execute(head).one()
            self._tip = (int(seq), str(digest))
        return self._tip

    def lock_run(self, run_id: int) -> None:
        """Serialise protocol checks per run on PostgreSQL (SQLite's BEGIN IMMEDIATE already does)."""
        if self.postgres:
            self.conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id).with_for_update())

    # -- runs, agents, teams, forum ----------------------------------------------------------

    def add_run(self, name: str, config: dict[str, Any]) -> Run:
        run = self._insert(t.runs, Run, "add_run", None, name=name, config=config)
        return run

    def add_agent(self, run_id: int, name: str, role: str, team_id: int | None, token_hash: str) -> Agent:
        return self._insert(t.agents, Agent, "add_agent", run_id, run_id=run_id, name=name, role=role,
                            team_id=team_id, token_hash=token_hash)

    def add_team(self, run_id: int, name: str, hypothesis: str, strategy: str) -> Team:
        return self._insert(t.teams, Team, "add_team", run_id, run_id=run_id, name=name, hypothesis=hypothesis,
                            strategy=strategy, status="active")

    def set_team_status(self, team_id: int, status: str) -> Team:
        return self._update(t.teams, Team, team_id, "set_team_status", status=status)

    def add_post(self, run_id: int, kind: str, title: str, body: str, data: dict[str, Any],
                 thread_id: int | None, team_id: int | None, author: str | None = None) -> Post:
        return self._insert(t.posts, Post, "post", run_id, run_id=run_id, kind=kind, title=title, body=body,
                            data=data, thread_id=thread_id, team_id=team_id, author=author or self.actor)

    # -- proposals, critiques, dead ends ------------------------------------------------------

    def add_proposal(self, run_id: int, title: str, recipe: dict[str, Any], hypothesis: str,
                     expected_effect: float, family: str, canonical_hash: str, team_id: int | None,
                     post_id: int | None) -> Proposal:
        return self._insert(t.proposals, Proposal, "propose", run_id, run_id=run_id, title=title, recipe=recipe,
                            hypothesis=hypothesis, expected_effect=expected_effect, family=family,
                            canonical_hash=canonical_hash, team_id=team_id, post_id=post_id, status="open",
                            author=self.actor)

    def set_proposal_status(self, proposal_id: int, status: str) -> Proposal:
        return self._update(t.proposals, Proposal, proposal_id, "set_proposal_status", status=status)

    def add_critique(self, proposal_id: int, verdict: str, reasons: str, reopens_dead_end: int | None) -> Critique:
        run_id = self.conn.execute(
            sa.select(t.proposals.c.run_id).where(t.proposals.c.id == proposal_id)).scalar_one()
        return self._insert(t.critiques, Critique, "critique", run_id, proposal_id=proposal_id, verdict=verdict,
                            reasons=reasons, reopens_dead_end=reopens_dead_end, author=self.actor)

    def add_dead_end(self, run_id: int, family: str, region: dict[str, Any], reason: str,
                     evidence: dict[str, Any], team_id: int | None) -> DeadEnd:
        return self._insert(t.dead_ends, DeadEnd, "add_dead_end", run_id, run_id=run_id, family=family,
                            region=region, reason=reason, evidence=evidence, team_id=team_id, author=self.actor)

    # -- the queue ----------------------------------------------------------------------------

    def add_item(self, run_id: int, proposal_id: int, team_id: int | None, recipe_hash: str, seed: int) -> QueueItem:
        now = self.clock()
        return self._insert(t.queue_items, QueueItem, "enqueue", run_id, run_id=run_id, proposal_id=proposal_id,
                            team_id=team_id, recipe_hash=recipe_hash, seed=seed, status="pending",
                            claimed_by=None, lease_expires_at=None, attempts=0, reason="",
                            created_at=now, updated_at=now)

    def add_items(self, run_id: int, proposal_id: int, team_id: int | None, recipe_hash: str,
                  seeds: Sequence[int]) -> list[int]:
        """Bulk enqueue (setup, benchmarks): one insert, one audit event listing the new ids."""
        now = self.clock()
        rows = [{"run_id": run_id, "proposal_id": proposal_id, "team_id": team_id, "recipe_hash": recipe_hash,
                 "seed": seed, "status": "pending", "claimed_by": None, "lease_expires_at": None, "attempts": 0,
                 "reason": "", "created_at": now, "updated_at": now} for seed in seeds]
        q = t.queue_items
        ids = sorted(self.conn.execute(q.insert().returning(q.c.id), rows).scalars().all())
        self._audit("enqueue_bulk", run_id, {"proposal_id": proposal_id, "recipe_hash": recipe_hash,
                                             "seeds": list(seeds), "ids": ids})
        return ids

    def claim_next(self, run_id: int, team_id: int | None, lease_s: float) -> QueueItem | None:
        """Claim the oldest pending item; exactly-once by the write lock (SQLite) or row locks (PostgreSQL)."""
        q = t.queue_items
        pick = sa.select(q.c.id).where(q.c.run_id == run_id, q.c.status == "pending")
        if team_id is not None:
            pick = pick.where(q.c.team_id == team_id)
        pick = pick.order_by(q.c.id).limit(1)
        if self.postgres:
            pick = pick.with_for_update(skip_locked=True)
        item_id = self.conn.execute(pick).scalar()
        if item_id is None:
            return None
        now = self.clock()
        values = {"status": "claimed", "claimed_by": self.actor, "lease_expires_at": now + lease_s,
                  "updated_at": now}
        done = self.conn.execute(q.update().where(q.c.id == item_id, q.c.status == "pending").values(**values))
        if done.rowcount != 1:
            # Cannot happen under the locks above; refusing beats handing out a job twice.
            raise StateError(f"queue item {item_id} changed under a claim; the store's locking is broken")
        return self._audited(q, QueueItem, item_id, "claim", values)

    def extend_lease(self, item_id: int, lease_s: float) -> QueueItem:
        now = self.clock()
        return self._update(t.queue_items, QueueItem, item_id, "heartbeat", lease_expires_at=now + lease_s,
                            updated_at=now)

    def release_expired(self, run_id: int | None, max_attempts: int) -> list[QueueItem]:
        """Expired claims go back to pending with attempts + 1, or to failed at ``max_attempts``."""
        q = t.queue_items
        now = self.clock()
        stale = sa.select(q.c.id, q.c.attempts).where(q.c.status == "claimed", q.c.lease_expires_at < now)
        if run_id is not None:
            stale = stale.where(q.c.run_id == run_id)
        released = []
        for item_id, attempts in self.conn.execute(stale.order_by(q.c.id)).all():
            status = "failed" if attempts + 1 >= max_attempts else "pending"
            released.append(self._update(
                q, QueueItem, item_id, "lease_expired", status=status, attempts=attempts + 1, claimed_by=None,
                lease_expires_at=None, updated_at=now, reason=f"lease expired ({attempts + 1}/{max_attempts})"))
        return released

    def set_item_status(self, item_id: int, status: str, reason: str = "") -> QueueItem:
        return self._update(t.queue_items, QueueItem, item_id, f"item_{status}", status=status, reason=reason,
                            lease_expires_at=None, updated_at=self.clock())

    # -- results and champions ----------------------------------------------------------------

    def add_result(self, item: QueueItem, split: str, metric: str, value: float, higher_is_better: bool,
                   fold_scores: Sequence[float], ci_low: float | None, ci_high: float | None, duration_s: float,
                   artifacts: dict[str, str]) -> Result:
        return self._insert(t.results, Result, "record_result", item.run_id, run_id=item.run_id,
                            queue_item_id=item.id, proposal_id=item.proposal_id, recipe_hash=item.recipe_hash,
                            seed=item.seed, split=split, metric=metric, value=value,
                            higher_is_better=higher_is_better, fold_scores=list(fold_scores), ci_low=ci_low,
                            ci_high=ci_high, duration_s=duration_s, artifacts=artifacts, recorded_by=self.actor)

    def add_champion(self, result: Result, confirming_result_id: int, previous_value: float | None,
                     noise_floor: float) -> ChampionEntry:
        return self._insert(t.champions, ChampionEntry, "promote", result.run_id, run_id=result.run_id,
                            result_id=result.id, confirming_result_id=confirming_result_id,
                            recipe_hash=result.recipe_hash, metric=result.metric, value=result.value,
                            higher_is_better=result.higher_is_better, previous_value=previous_value,
                            noise_floor=noise_floor, promoted_by=self.actor)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=str))


__all__ = ["Tx", "SYSTEM", "AuditEvent"]
