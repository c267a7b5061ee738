"""Typed readers of a transaction; every list is in id (or seq) order, oldest first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel

from autods.state import schema as t
from autods.state.records import (
    Agent, AuditEvent, ChampionEntry, Critique, DeadEnd, Post, Proposal, QueueItem, Result, Run, Team,
)

M = TypeVar("M", bound=BaseModel)


class ReadsMixin:
    conn: sa.Connection

    def _one(self, table: sa.Table, model: type[M], ident: int) -> M | None:
        row = self.conn.execute(sa.select(table).where(table.c.id == ident)).first()
        return None if row is None else model.model_validate(dict(row._mapping))

    def _many(self, query: sa.Select[Any], model: type[M]) -> list[M]:
        return [model.model_validate(dict(row._mapping)) for row in self.conn.execute(query)]

    def get_run(self, run_id: int) -> Run | None:
        return self._one(t.runs, Run, run_id)

    def list_runs(self) -> list[Run]:
        return self._many(sa.select(t.runs).order_by(t.runs.c.id), Run)

    def get_agent(self, agent_id: int) -> Agent | None:
        return self._one(t.agents, Agent, agent_id)

    def agent_by_token_hash(self, token_hash: str) -> Agent | None:
        found = self._many(sa.select(t.agents).where(t.agents.c.token_hash == token_hash), Agent)
        return found[0] if found else None

    def list_agents(self, run_id: int) -> list[Agent]:
        return self._many(sa.select(t.agents).where(t.agents.c.run_id == run_id).order_by(t.agents.c.id), Agent)

    def get_team(self, team_id: int) -> Team | None:
        return self._one(t.teams, Team, team_id)

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
        c = t.critiques
        return self._many(sa.select(c).where(c.c.proposal_id == proposal_id).order_by(c.c.id), Critique)

    def get_dead_end(self, dead_end_id: int) -> DeadEnd | None:
        return self._one(t.dead_ends, DeadEnd, dead_end_id)

    def list_dead_ends(self, run_id: int) -> list[DeadEnd]:
        d = t.dead_ends
        return self._many(sa.select(d).where(d.c.run_id == run_id).order_by(d.c.id), DeadEnd)

    def get_item(self, item_id: int) -> QueueItem | None:
        return self._one(t.queue_items, QueueItem, item_id)

    def list_items(self, run_id: int, status: str | None = None, team_id: int | None = None) -> list[QueueItem]:
        q = t.queue_items
        query = sa.select(q).where(q.c.run_id == run_id)
        if status is not None:
            query = query.where(q.c.status == status)
        if team_id is not None:
            query = query.where(q.c.team_id == team_id)
        return self._many(query.order_by(q.c.id), QueueItem)

    def find_items(self, run_id: int, recipe_hash: str, seed: int, statuses: Sequence[str]) -> list[QueueItem]:
        q = t.queue_items
        query = sa.select(q).where(q.c.run_id == run_id, q.c.recipe_hash == recipe_hash, q.c.seed == seed,
                                   q.c.status.in_(list(statuses)))
        return self._many(query.order_by(q.c.id), QueueItem)

    def count_items(self, run_id: int, status: str) -> int:
        q = t.queue_items
        query = sa.select(sa.func.count()).select_from(q).where(q.c.run_id == run_id, q.c.status == status)
        return int(self.conn.execute(query).scalar_one())

    def get_result(self, result_id: int) -> Result | None:
        return self._one(t.results, Result, result_id)

    def list_results(self, run_id: int, recipe_hash: str | None = None) -> list[Result]:
        r = t.results
        query = sa.select(r).where(r.c.run_id == run_id)
        if recipe_hash is not None:
            query = query.where(r.c.recipe_hash == recipe_hash)
        return self._many(query.order_by(r.c.id), Result)

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
