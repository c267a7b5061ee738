"""One transaction over the shared state: typed reads and audited writes.

The Service composes a protocol check and its write inside one ``Tx`` so nothing can slip
between them. Every write records an AuditEvent (``self.pending``); the Store writes them
in the same transaction and links them into the hash chain (``audit.py``): if the write
commits, so do its events, and vice versa.

Writes touch each row once: an update returns the new row (``RETURNING``) instead of
reading it back, and state changes of queue items are conditional (``WHERE status = ...``),
so two transactions racing on PostgreSQL cannot both move an item, whatever they read before.
Hot statements are :class:`~autods.state.prepared.Prepared`, built once per shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel

from autods.errors import StateError
from autods.state import schema as t
from autods.state.audit import Pending
from autods.state.graph_tx import GraphTxMixin
from autods.state.prepared import Prepared
from autods.state.records import (
    SYSTEM, Agent, AuditEvent, ChampionEntry, Critique, DeadEnd, Post, Proposal, QueueItem, Result, Run, RunStats,
    Team,
)
from autods.state.tx_reads import ReadsMixin

M = TypeVar("M", bound=BaseModel)
_ID = sa.bindparam("ident_")
_q = t.queue_items

_INSERT: dict[str, Prepared] = {}
_UPDATE: dict[tuple[str, tuple[str, ...]], Prepared] = {}
_MOVE: dict[tuple[str, ...], Prepared] = {}


def _insert_stmt(table: sa.Table) -> Prepared:
    """INSERT of every column but an autoincrement id (RETURNING it)."""
    found = _INSERT.get(table.name)
    if found is None:
        has_id = "id" in table.c
        stmt = table.insert().values({c.key: sa.bindparam(c.key) for c in table.c if c.key != "id"})
        _INSERT[table.name] = found = Prepared(stmt.returning(table.c.id) if has_id else stmt)
    return found


def _update_stmt(table: sa.Table, keys: tuple[str, ...]) -> Prepared:
    """UPDATE table SET <keys> WHERE id = :ident_ RETURNING *."""
    found = _UPDATE.get((table.name, keys))
    if found is None:
        stmt = table.update().where(table.c.id == _ID).values({k: sa.bindparam(k) for k in keys})
        _UPDATE[(table.name, keys)] = found = Prepared(stmt.returning(*table.c))
    return found


def _move_stmt(from_statuses: tuple[str, ...]) -> Prepared:
    """An item's status change, only from one of ``from_statuses`` (RETURNING the row)."""
    found = _MOVE.get(from_statuses)
    if found is None:
        keys = ("status", "reason", "lease_expires_at", "updated_at")
        stmt = (_q.update().where(_q.c.id == _ID, sa.or_(*(_q.c.status == s for s in from_statuses)))
                .values({k: sa.bindparam(k) for k in keys}).returning(*_q.c))
        _MOVE[from_statuses] = found = Prepared(stmt)
    return found


def _pick(team: bool) -> sa.ScalarSelect[Any]:
    """The oldest pending item of a run (of a team); SKIP LOCKED on PostgreSQL, where
    concurrent claimers each take a different row (SQLite compiles it away)."""
    pick = sa.select(_q.c.id).where(_q.c.run_id == sa.bindparam("run_"), _q.c.status == "pending")
    if team:
        pick = pick.where(_q.c.team_id == sa.bindparam("team_"))
    return pick.order_by(_q.c.id).limit(1).with_for_update(skip_locked=True).scalar_subquery()


_CLAIM_VALUES = {"status": "claimed", "claimed_by": sa.bindparam("by_"), "lease_expires_at": sa.bindparam("until_"),
                 "updated_at": sa.bindparam("now_")}
# One statement picks and claims: no window between choosing an item and taking it.
# A run with an open verdict ticket hands out no work (the graph's rule: reasoning catches up
# first); part of the claim's one statement, so no ticket can open between check and claim.
_NO_OPEN_TICKET = ~sa.exists().where(t.tickets.c.run_id == sa.bindparam("run_"), t.tickets.c.status == "open")
_CLAIM = {team: Prepared(_q.update().where(_q.c.id == _pick(team), _q.c.status == "pending", _NO_OPEN_TICKET)
                         .values(**_CLAIM_VALUES).returning(*_q.c)) for team in (False, True)}
_STALE_WHERE = (_q.c.status == "claimed", _q.c.lease_expires_at < sa.bindparam("now_"))
_STALE = {run: Prepared(sa.select(_q.c.id, _q.c.attempts)
                        .where(*_STALE_WHERE, *([_q.c.run_id == sa.bindparam("run_")] if run else []))
                        .order_by(_q.c.id)) for run in (False, True)}
_RELEASE_KEYS = ("status", "attempts", "claimed_by", "lease_expires_at", "updated_at", "reason")
_RELEASE = Prepared(_q.update().where(_q.c.id == _ID, *_STALE_WHERE)
                    .values({k: sa.bindparam(k) for k in _RELEASE_KEYS}).returning(*_q.c))
_LOCK_RUN = Prepared(sa.select(t.runs.c.id).where(t.runs.c.id == sa.bindparam("run_")).with_for_update())
_r = t.results
_ADD_RESULT = Prepared(_r.insert().values({c.key: sa.bindparam(c.key) for c in _r.c if c.key != "id"})
                       .returning(_r.c.id, sa.exists().where(t.ideas.c.id == sa.bindparam("proposal_id")).label("idea")))
_s = t.run_stats
_STATS_UPDATE = Prepared(_s.update().where(_s.c.run_id == sa.bindparam("run_"))
                         .values({c.key: sa.bindparam(c.key) for c in _s.c if c.key != "run_id"}))


class Tx(ReadsMixin, GraphTxMixin):
    """A transaction bound to one connection. ``actor`` is written into authors and audit events."""

    def __init__(self, conn: sa.Connection, actor: str, clock: Callable[[], float], *, postgres: bool) -> None:
        self.conn = conn
        self.actor = actor
        self.clock = clock
        self.postgres = postgres
        self.pending: list[Pending] = []  # audit events, linked by the Store at commit

    # -- plumbing ---------------------------------------------------------------------------

    def _insert(self, table: sa.Table, model: type[M], verb: str, audit_run: int | None, /, **values: Any) -> M:
        values.setdefault("created_at", self.clock())
        new_id = _insert_stmt(table).scalar(self.conn, values)
        record = model.model_validate({"id": new_id, **values})
        self._audit(verb, audit_run, record.model_dump(mode="json"))
        return record

    def _update(self, table: sa.Table, model: type[M], ident: int, verb: str, **values: Any) -> M:
        row = _update_stmt(table, tuple(values)).first(self.conn, {"ident_": ident, **values})
        if row is None:
            raise StateError(f"{table.name} {ident} does not exist")
        return self._audited(row, model, ident, verb, values)

    def _audited(self, row: dict[str, Any], model: type[M], ident: int, verb: str, values: dict[str, Any]) -> M:
        record = model.model_validate(row)
        self._audit(verb, getattr(record, "run_id", None), {"id": ident, **_jsonable(values)})
        return record

    def _audit(self, verb: str, run_id: int | None, payload: dict[str, Any]) -> None:
        self.pending.append(Pending(run_id, self.actor, verb, payload, self.clock()))

    def lock_run(self, run_id: int) -> None:
        """Serialise protocol checks per run on PostgreSQL (SQLite's BEGIN IMMEDIATE already does)."""
        if self.postgres:
            _LOCK_RUN.all(self.conn, {"run_": run_id})

    # -- runs, agents, teams, forum ----------------------------------------------------------

    def add_run(self, name: str, config: dict[str, Any]) -> Run:
        run = self._insert(t.runs, Run, "add_run", None, name=name, config=config)
        _insert_stmt(t.run_stats).run(self.conn, RunStats(run_id=run.id).model_dump())
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

    def add_critique(self, proposal_id: int, verdict: str, reasons: str, reopens_dead_end: int | None,
                     run_id: int | None = None) -> Critique:
        """``run_id`` (the proposal's run, for the audit event) is looked up when not given."""
        if run_id is None:
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
        ids = sorted(self.conn.execute(_q.insert().returning(_q.c.id), rows).scalars().all())
        self._audit("enqueue_bulk", run_id, {"proposal_id": proposal_id, "recipe_hash": recipe_hash,
                                             "seeds": list(seeds), "ids": ids})
        return ids

    def claim_next(self, run_id: int, team_id: int | None, lease_s: float) -> QueueItem | None:
        """Claim the oldest pending item; exactly-once by the write lock (SQLite) or row locks (PostgreSQL)."""
        now = self.clock()
        params: dict[str, Any] = {"run_": run_id, "by_": self.actor, "until_": now + lease_s, "now_": now}
        if team_id is not None:
            params["team_"] = team_id
        row = _CLAIM[team_id is not None].first(self.conn, params)
        if row is None:
            return None
        values = {"status": "claimed", "claimed_by": self.actor, "lease_expires_at": now + lease_s, "updated_at": now}
        return self._audited(row, QueueItem, row["id"], "claim", values)

    def extend_lease(self, item_id: int, lease_s: float) -> QueueItem:
        now = self.clock()
        return self._update(t.queue_items, QueueItem, item_id, "heartbeat", lease_expires_at=now + lease_s,
                            updated_at=now)

    def release_expired(self, run_id: int | None, max_attempts: int) -> list[QueueItem]:
        """Expired claims go back to pending with attempts + 1, or to failed at ``max_attempts``."""
        now = self.clock()
        released = []
        for stale in _STALE[run_id is not None].all(self.conn, {"now_": now, "run_": run_id}):
            item_id, attempts = stale["id"], stale["attempts"]
            status = "failed" if attempts + 1 >= max_attempts else "pending"
            values = {"status": status, "attempts": attempts + 1, "claimed_by": None, "lease_expires_at": None,
                      "updated_at": now, "reason": f"lease expired ({attempts + 1}/{max_attempts})"}
            # Conditional: a result or abort that committed since the scan wins, the item stays as it left it.
            row = _RELEASE.first(self.conn, {"ident_": item_id, "now_": now, **values})
            if row is not None:
                released.append(self._audited(row, QueueItem, item_id, "lease_expired", values))
        return released

    def set_item_status(self, item_id: int, status: str, reason: str = "") -> QueueItem:
        return self._update(t.queue_items, QueueItem, item_id, f"item_{status}", status=status, reason=reason,
                            lease_expires_at=None, updated_at=self.clock())

    def move_item(self, item_id: int, from_statuses: Sequence[str], status: str, reason: str = "") -> QueueItem | None:
        """``set_item_status`` only if the item is in one of ``from_statuses``; None otherwise
        (or when it does not exist). The check and the change are one statement."""
        values = {"status": status, "reason": reason, "lease_expires_at": None, "updated_at": self.clock()}
        row = _move_stmt(tuple(from_statuses)).first(self.conn, {"ident_": item_id, **values})
        return None if row is None else self._audited(row, QueueItem, item_id, f"item_{status}", values)

    # -- results, champions, run stats --------------------------------------------------------

    def add_result(self, item: QueueItem, split: str, metric: str, value: float, higher_is_better: bool,
                   fold_scores: Sequence[float], ci_low: float | None, ci_high: float | None, duration_s: float,
                   artifacts: dict[str, str]) -> Result:
        """Also opens the verdict tickets of an idea's result (``GraphTxMixin.open_tickets``): the
        insert itself says whether the item's proposal is an idea, so a plain result costs nothing more."""
        values = {"run_id": item.run_id, "queue_item_id": item.id, "proposal_id": item.proposal_id,
                  "recipe_hash": item.recipe_hash, "seed": item.seed, "split": split, "metric": metric,
                  "value": value, "higher_is_better": higher_is_better, "fold_scores": list(fold_scores),
                  "ci_low": ci_low, "ci_high": ci_high, "duration_s": duration_s, "artifacts": artifacts,
                  "recorded_by": self.actor, "created_at": self.clock()}
        row = _ADD_RESULT.first(self.conn, values)
        assert row is not None
        result = Result.model_validate({"id": row["id"], **values})
        self._audit("record_result", item.run_id, result.model_dump(mode="json"))
        if row["idea"]:
            self.open_tickets(result)
        return result

    def add_champion(self, result: Result, confirming_result_id: int, previous_value: float | None,
                     noise_floor: float, value: float | None = None) -> ChampionEntry:
        """``value`` is the champion's CV value: the mean over its seeds (default: the result's own)."""
        return self._insert(t.champions, ChampionEntry, "promote", result.run_id, run_id=result.run_id,
                            result_id=result.id, confirming_result_id=confirming_result_id,
                            recipe_hash=result.recipe_hash, metric=result.metric,
                            value=result.value if value is None else float(value),
                            higher_is_better=result.higher_is_better, previous_value=previous_value,
                            noise_floor=noise_floor, promoted_by=self.actor)

    def save_run_stats(self, stats: RunStats) -> None:
        """Write a run's stagnation state (derived data: not audited)."""
        values = stats.model_dump()
        if _STATS_UPDATE.run(self.conn, {"run_": stats.run_id, **values}) == 0:
            _insert_stmt(t.run_stats).run(self.conn, values)


_SCALARS = (str, int, float, bool, type(None))


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as JSON would return them (the audit payload of an update)."""
    if all(type(v) in _SCALARS for v in values.values()):  # the common case, without a JSON round trip
        return dict(values)
    return dict(json.loads(json.dumps(values, default=str)))


__all__ = ["Tx", "SYSTEM", "AuditEvent"]
