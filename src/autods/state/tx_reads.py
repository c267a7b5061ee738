"""Typed readers of a transaction; every list is in id (or seq) order, oldest first.

Readers on the protocol's hot paths (lookups by id, the claim summary, run stats, the
checks of enqueue) are ``Prepared`` statements; listings for boards and tools go through
SQLAlchemy as usual.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel

from autods.state import schema as t
from autods.state.prepared import Prepared
from autods.state.records import (
    Agent, AuditEvent, ChampionEntry, Critique, DeadEnd, Post, Proposal, QueueItem, Result, Run, RunStats, Team,
)

M = TypeVar("M", bound=BaseModel)
_ID = sa.bindparam("ident_")
_RUN = sa.bindparam("run_")
_q, _r, _c, _a = t.queue_items, t.results, t.champions, t.audit_events

_BY_ID: dict[tuple[str, bool], Prepared] = {}  # (table, lock) -> SELECT * WHERE id = :ident_ [FOR UPDATE]
_TAKEN: dict[tuple[str, ...], Prepared] = {}  # statuses -> items of (run, recipe hash, seed) in them

_CLAIMED = Prepared(sa.select(sa.func.count().label("n"), sa.func.min(_q.c.lease_expires_at).label("soonest"))
                    .where(_q.c.run_id == _RUN, _q.c.status == "claimed"))
_CRITIQUES = Prepared(sa.select(t.critiques).where(t.critiques.c.proposal_id == _ID).order_by(t.critiques.c.id))
_DEAD_ENDS = Prepared(sa.select(t.dead_ends).where(t.dead_ends.c.run_id == _RUN).order_by(t.dead_ends.c.id))
_BY_TOKEN = Prepared(sa.select(t.agents).where(t.agents.c.token_hash == sa.bindparam("hash_")))
# The champion's fold scores ride along with the stats row: the measured noise floor needs them.
_CHAMP_FOLDS = (sa.select(_r.c.fold_scores).join(_c, _c.c.result_id == _r.c.id)
                .where(_c.c.run_id == t.run_stats.c.run_id).order_by(_c.c.id.desc()).limit(1)
                .correlate(t.run_stats).scalar_subquery())
_STATS_SELECT = sa.select(t.run_stats, _CHAMP_FOLDS.label("champion_folds")).where(t.run_stats.c.run_id == _RUN)
_STATS = Prepared(_STATS_SELECT)
_STATS_LOCKED = Prepared(_STATS_SELECT.with_for_update(of=t.run_stats))
_LAST_SEQ = sa.select(_a.c.seq).order_by(_a.c.seq.desc()).limit(1)
_LAST_SEQ_ALL = Prepared(_LAST_SEQ)
_LAST_SEQ_RUN = Prepared(_LAST_SEQ.where(_a.c.run_id == _RUN))


def by_id(table: sa.Table, lock: bool = False) -> Prepared:
    key = (table.name, lock)
    found = _BY_ID.get(key)
    if found is None:
        stmt = sa.select(table).where(table.c.id == _ID)
        _BY_ID[key] = found = Prepared(stmt.with_for_update() if lock else stmt)
    return found


def _taken(statuses: tuple[str, ...]) -> Prepared:
    found = _TAKEN.get(statuses)
    if found is None:
        stmt = (sa.select(_q).where(_q.c.run_id == _RUN, _q.c.recipe_hash == sa.bindparam("hash_"),
                                    _q.c.seed == sa.bindparam("seed_"), sa.or_(*(_q.c.status == s for s in statuses)))
                .order_by(_q.c.id))
        _TAKEN[statuses] = found = Prepared(stmt)
    return found


class ReadsMixin:
    conn: sa.Connection

    def _one(self, table: sa.Table, model: type[M], ident: int, lock: bool = False) -> M | None:
        """One row by id; ``lock`` takes its row lock until commit (PostgreSQL; SQLite's
        BEGIN IMMEDIATE already excludes other writers)."""
        row = by_id(table, lock).first(self.conn, {"ident_": ident})
        return None if row is None else model.model_validate(row)

    def _many(self, query: sa.Select[Any], model: type[M]) -> list[M]:
        return [model.model_validate(dict(row._mapping)) for row in self.conn.execute(query)]

    def _prepared(self, query: Prepared, model: type[M], params: dict[str, Any]) -> list[M]:
        return [model.model_validate(row) for row in query.all(self.conn, params)]

    def get_run(self, run_id: int) -> Run | None:
        return self._one(t.runs, Run, run_id)

    def list_runs(self) -> list[Run]:
        return self._many(sa.select(t.runs).order_by(t.runs.c.id), Run)

    def get_agent(self, agent_id: int) -> Agent | None:
        return self._one(t.agents, Agent, agent_id)

    def agent_by_token_hash(self, token_hash: str) -> Agent | None:
        found = self._prepared(_BY_TOKEN, Agent, {"hash_": token_hash})
        return found[0] if found else None

    def list_agents(self, run_id: int) -> list[Agent]:
        return self._many(sa.select(t.agents).where(t.agents.c.run_id == run_id).order_by(t.agents.c.id), Agent)

    def get_team(self, team_id: int, *, lock: bool = False) -> Team | None:
        return self._one(t.teams, Team, team_id, lock)

    def list_teams(self, run_id: int) -> list[Team]:
        return self._many(sa.select(t.teams).where(t.teams.c.run_id == run_id).order_by(t.teams.c.id), Team)

    def get_post(self, post_id: int) -> Post | None:
        return self._one(t.posts, Post, post_id)

    def list_posts(self, run_id: int, kind: str | None = None, thread_id: int | None = None,
                   since_id: int = 0) -> list[Post]:
        p = t.posts
        q = sa.select(p).where(p.c.run_id == run_id, p.c.id > since_id)
        if kind is not None:
            q = q.where(p.c.kind == kind)
        if thread_id is not None:
            q = q.where(sa.or_(p.c.thread_id == thread_id, p.c.id == thread_id))
        return self._many(q.order_by(p.c.id), Post)

    def get_proposal(self, proposal_id: int) -> Proposal | None:
        return self._one(t.proposals, Proposal, proposal_id)

    def list_proposals(self, run_id: int, status: str | None = None) -> list[Proposal]:
        q = sa.select(t.proposals).where(t.proposals.c.run_id == run_id)
        if status is not None:
            q = q.where(t.proposals.c.status == status)
        return self._many(q.order_by(t.proposals.c.id), Proposal)

    def list_critiques(self, proposal_id: int) -> list[Critique]:
        return self._prepared(_CRITIQUES, Critique, {"ident_": proposal_id})

    def get_dead_end(self, dead_end_id: int) -> DeadEnd | None:
        return self._one(t.dead_ends, DeadEnd, dead_end_id)

    def list_dead_ends(self, run_id: int) -> list[DeadEnd]:
        return self._prepared(_DEAD_ENDS, DeadEnd, {"run_": run_id})

    def get_item(self, item_id: int, *, lock: bool = False) -> QueueItem | None:
        return self._one(t.queue_items, QueueItem, item_id, lock)

    def list_items(self, run_id: int, status: str | None = None, team_id: int | None = None) -> list[QueueItem]:
        q = t.queue_items
        query = sa.select(q).where(q.c.run_id == run_id)
        if status is not None:
            query = query.where(q.c.status == status)
        if team_id is not None:
            query = query.where(q.c.team_id == team_id)
        return self._many(query.order_by(q.c.id), QueueItem)

    def find_items(self, run_id: int, recipe_hash: str, seed: int, statuses: Sequence[str]) -> list[QueueItem]:
        return self._prepared(_taken(tuple(statuses)), QueueItem, {"run_": run_id, "hash_": recipe_hash, "seed_": seed})

    def count_items(self, run_id: int, status: str) -> int:
        q = t.queue_items
        query = sa.select(sa.func.count()).select_from(q).where(q.c.run_id == run_id, q.c.status == status)
        return int(self.conn.execute(query).scalar_one())

    def claimed_summary(self, run_id: int) -> tuple[int, float | None]:
        """(number of claimed items, earliest lease expiry among them) in one index scan."""
        row = _CLAIMED.first(self.conn, {"run_": run_id}) or {"n": 0, "soonest": None}
        return int(row["n"]), row["soonest"]

    def get_result(self, result_id: int) -> Result | None:
        return self._one(t.results, Result, result_id)

    def list_results(self, run_id: int, recipe_hash: str | None = None) -> list[Result]:
        r = t.results
        query = sa.select(r).where(r.c.run_id == run_id)
        if recipe_hash is not None:
            query = query.where(r.c.recipe_hash == recipe_hash)
        return self._many(query.order_by(r.c.id), Result)

    def run_stats(self, run_id: int, *, lock: bool = False) -> tuple[RunStats | None, list[float] | None]:
        """The run's stagnation state and the current champion's fold scores (None without a
        champion), in one statement; ``lock`` holds the stats row until commit."""
        values = (_STATS_LOCKED if lock else _STATS).first(self.conn, {"run_": run_id})
        if values is None:
            return None, None
        folds = values.pop("champion_folds")
        return RunStats.model_validate(values), folds

    def champion_history(self, run_id: int) -> list[ChampionEntry]:
        c = t.champions
        return self._many(sa.select(c).where(c.c.run_id == run_id).order_by(c.c.id), ChampionEntry)

    def champion(self, run_id: int) -> ChampionEntry | None:
        c = t.champions
        found = self._many(sa.select(c).where(c.c.run_id == run_id).order_by(c.c.id.desc()).limit(1),
                           ChampionEntry)
        return found[0] if found else None

    def events(self, since_seq: int = 0, limit: int = 1000, run_id: int | None = None) -> list[AuditEvent]:
        a = t.audit_events
        query = sa.select(a).where(a.c.seq > since_seq)
        if run_id is not None:
            query = query.where(a.c.run_id == run_id)
        rows = self.conn.execute(query.order_by(a.c.seq).limit(limit))
        return [AuditEvent.model_validate({**row._mapping, "payload": json.loads(row.payload)}) for row in rows]

    def last_seq(self, run_id: int | None = None) -> int:
        """Newest audit seq (of ``run_id``'s events if given); 0 when there is none."""
        if run_id is None:
            seq = _LAST_SEQ_ALL.scalar(self.conn)
        else:
            seq = _LAST_SEQ_RUN.scalar(self.conn, {"run_": run_id})
        return int(seq or 0)
