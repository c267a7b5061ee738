"""The hypothesis graph's reads and audited writes, mixed into :class:`~autods.state.tx.Tx`.

No protocol here (that is ``server/service_graph.py``); each write records its audit event
in the transaction like every other Tx write. Graph listings are not on the claim loop's
hot path, except :meth:`GraphTxMixin.has_open_tickets`, which every claim asks, so it is a
prepared, indexed probe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from autods.errors import StateError
from autods.state import schema as t
from autods.state.audit import Pending
from autods.state.graph_records import Diagnosis, Idea, Relation, Ticket
from autods.state.prepared import Prepared
from autods.state.records import Proposal, QueueItem, Result

_p, _i, _q, _k = t.proposals, t.ideas, t.queue_items, t.tickets
_IDEA_COLUMNS = [*_p.c, *(c for c in _i.c if c.key not in ("id", "run_id"))]
_IDEAS = sa.select(*_IDEA_COLUMNS).select_from(_p.join(_i, _i.c.id == _p.c.id))
_OPEN_TICKET = Prepared(sa.select(_k.c.id).where(_k.c.run_id == sa.bindparam("run_"), _k.c.status == "open")
                        .order_by(_k.c.id).limit(1))
_IS_IDEA = Prepared(sa.select(_i.c.id).where(_i.c.id == sa.bindparam("ident_")))
IN_FLIGHT: tuple[str, ...] = ("pending", "claimed")


class GraphTxMixin:
    conn: sa.Connection
    clock: Callable[[], float]
    actor: str
    pending: list[Pending]
    postgres: bool

    def _audit(self, verb: str, run_id: int | None, payload: dict[str, Any]) -> None:
        raise NotImplementedError  # Tx defines it; declared so the mixin type-checks alone

    def _graph_insert(self, table: sa.Table, **values: Any) -> dict[str, Any]:
        values.setdefault("created_at", self.clock())
        row = self.conn.execute(table.insert().values(**values).returning(*table.c)).one()
        return dict(row._mapping)

    def _graph_update(self, table: sa.Table, ident: int, verb: str, run_id: int, where: Sequence[Any] = (),
                      **values: Any) -> dict[str, Any] | None:
        """Update one row (only if ``where`` holds: a conditional transition); None if none matched."""
        stmt = table.update().where(table.c.id == ident, *where).values(**values).returning(*table.c)
        row = self.conn.execute(stmt).first()
        if row is None:
            return None
        self._audit(verb, run_id, {"id": ident, **values})
        return dict(row._mapping)

    # -- diagnoses ------------------------------------------------------------------------------

    def add_diagnosis(self, run_id: int, claim: str, finding_ids: list[int], result_ids: list[int]) -> Diagnosis:
        row = self._graph_insert(t.diagnoses, run_id=run_id, claim=claim,
                                 finding_ids=finding_ids, result_ids=result_ids, status="open", status_reason="",
                                 merged_into=None, author=self.actor)
        record = Diagnosis.model_validate(row)
        self._audit("add_diagnosis", run_id, record.model_dump(mode="json"))
        return record

    def get_diagnosis(self, diagnosis_id: int, *, lock: bool = False) -> Diagnosis | None:
        q = sa.select(t.diagnoses).where(t.diagnoses.c.id == diagnosis_id)
        row = self.conn.execute(q.with_for_update() if lock else q).first()
        return None if row is None else Diagnosis.model_validate(dict(row._mapping))

    def list_diagnoses(self, run_id: int) -> list[Diagnosis]:
        d = t.diagnoses
        rows = self.conn.execute(sa.select(d).where(d.c.run_id == run_id).order_by(d.c.id))
        return [Diagnosis.model_validate(dict(r._mapping)) for r in rows]

    def set_diagnosis_status(self, diagnosis: Diagnosis, status: str, reason: str,
                             merged_into: int | None) -> Diagnosis:
        row = self._graph_update(t.diagnoses, diagnosis.id, "set_diagnosis_status", diagnosis.run_id,
                                 status=status, status_reason=reason, merged_into=merged_into)
        assert row is not None  # read in this transaction
        return Diagnosis.model_validate(row)

    # -- ideas ----------------------------------------------------------------------------------

    def add_idea(self, proposal: Proposal, diagnosis_id: int, if_works: str, if_fails: str, surprise_if: str,
                 effect_evidence: dict[str, Any], tier: str, reason: str) -> Idea:
        now = self.clock()
        values = {"id": proposal.id, "run_id": proposal.run_id, "diagnosis_id": diagnosis_id, "if_works": if_works,
                  "if_fails": if_fails, "surprise_if": surprise_if, "effect_evidence": effect_evidence, "tier": tier,
                  "tier_reason": reason, "resurrect_if": "", "dead_end_id": None, "tier_changed_at": now}
        self.conn.execute(_i.insert().values(**values))
        self._audit("add_idea", proposal.run_id, values)
        return Idea.model_validate({**proposal.model_dump(), **values})

    def is_idea(self, proposal_id: int) -> bool:
        return _IS_IDEA.first(self.conn, {"ident_": proposal_id}) is not None

    def get_idea(self, idea_id: int, *, lock: bool = False) -> Idea | None:
        q = _IDEAS.where(_i.c.id == idea_id)
        row = self.conn.execute(q.with_for_update(of=_i) if lock else q).first()
        return None if row is None else Idea.model_validate(dict(row._mapping))

    def list_ideas(self, run_id: int, tier: str | None = None, team_id: int | None = None,
                   diagnosis_id: int | None = None) -> list[Idea]:
        q = _IDEAS.where(_i.c.run_id == run_id)
        if tier is not None:
            q = q.where(_i.c.tier == tier)
        if team_id is not None:
            q = q.where(_p.c.team_id == team_id)
        if diagnosis_id is not None:
            q = q.where(_i.c.diagnosis_id == diagnosis_id)
        return [Idea.model_validate(dict(r._mapping)) for r in self.conn.execute(q.order_by(_i.c.id))]

    def set_idea_tier(self, idea: Idea, tier: str, reason: str, *, resurrect_if: str | None = None,
                      dead_end_id: int | None = None, surprise_if: str | None = None) -> Idea:
        values: dict[str, Any] = {"tier": tier, "tier_reason": reason, "tier_changed_at": self.clock(),
                                  "dead_end_id": dead_end_id}
        if resurrect_if is not None:
            values["resurrect_if"] = resurrect_if
        if surprise_if is not None:
            values["surprise_if"] = surprise_if
        # Conditional on the tier it was read in: a concurrent move of the same idea loses loudly.
        row = self._graph_update(_i, idea.id, "set_tier", idea.run_id, (_i.c.tier == idea.tier,), **values)
        if row is None:
            raise StateError(f"idea {idea.id} changed tier concurrently; read it again")
        return idea.model_copy(update={k: row[k] for k in values})

    def ideas_in_flight(self, run_id: int) -> dict[int, list[QueueItem]]:
        """Idea id -> its pending or claimed queue items (the ideas that are running)."""
        q = (sa.select(_q).join(_i, _i.c.id == _q.c.proposal_id)
             .where(_q.c.run_id == run_id, sa.or_(*(_q.c.status == s for s in IN_FLIGHT))).order_by(_q.c.id))
        out: dict[int, list[QueueItem]] = {}
        for row in self.conn.execute(q):
            item = QueueItem.model_validate(dict(row._mapping))
            out.setdefault(item.proposal_id, []).append(item)
        return out

    def ideas_with_results(self, run_id: int) -> set[int]:
        r = t.results
        q = sa.select(r.c.proposal_id).join(_i, _i.c.id == r.c.proposal_id).where(r.c.run_id == run_id).distinct()
        return set(self.conn.execute(q).scalars())

    def remove_dead_end(self, dead_end_id: int, run_id: int, why: str) -> None:
        """Lift a dead end a CUT wrote (its idea was resurrected); the audit log keeps it."""
        self.conn.execute(t.dead_ends.delete().where(t.dead_ends.c.id == dead_end_id))
        self._audit("lift_dead_end", run_id, {"id": dead_end_id, "reason": why})

    # -- relations ------------------------------------------------------------------------------

    def add_relation(self, run_id: int, src_id: int, dst_id: int, kind: str, reason: str) -> Relation:
        row = self._graph_insert(t.relations, run_id=run_id, src_id=src_id, dst_id=dst_id,
                                 kind=kind, reason=reason, author=self.actor)
        record = Relation.model_validate(row)
        self._audit("relate", run_id, record.model_dump(mode="json"))
        return record

    def list_relations(self, run_id: int, idea_id: int | None = None) -> list[Relation]:
        r = t.relations
        q = sa.select(r).where(r.c.run_id == run_id)
        if idea_id is not None:
            q = q.where(sa.or_(r.c.src_id == idea_id, r.c.dst_id == idea_id))
        return [Relation.model_validate(dict(row._mapping)) for row in self.conn.execute(q.order_by(r.c.id))]

    # -- tickets --------------------------------------------------------------------------------

    def add_ticket(self, run_id: int, idea_id: int, result_id: int) -> Ticket:
        row = self._graph_insert(_k, run_id=run_id, idea_id=idea_id, result_id=result_id,
                                 status="open", answer=None, reason="", answered_by=None, answered_at=None)
        record = Ticket.model_validate(row)
        self._audit("open_ticket", run_id, record.model_dump(mode="json"))
        return record

    def get_ticket(self, ticket_id: int) -> Ticket | None:
        row = self.conn.execute(sa.select(_k).where(_k.c.id == ticket_id)).first()
        return None if row is None else Ticket.model_validate(dict(row._mapping))

    def list_tickets(self, run_id: int, status: str | None = None, idea_id: int | None = None) -> list[Ticket]:
        q = sa.select(_k).where(_k.c.run_id == run_id)
        if status is not None:
            q = q.where(_k.c.status == status)
        if idea_id is not None:
            q = q.where(_k.c.idea_id == idea_id)
        return [Ticket.model_validate(dict(r._mapping)) for r in self.conn.execute(q.order_by(_k.c.id))]

    def open_tickets(self, result: Result) -> list[Ticket]:
        """A result of an idea opens a ticket on every idea it touches (``touched``), running
        ones included; called by ``Tx.add_result`` in the result's own transaction.

        It takes no run lock (the result's transaction already holds its item's row, and a CUT
        holds the run before it aborts items: the other order would deadlock). None is needed:
        a claim checks for open tickets in its one statement, and an enqueue or dispatch that
        read no tickets only reads what this transaction does not write, so it serialises
        before the result."""
        idea = self.get_idea(result.proposal_id)
        if idea is None:
            return []
        near = touched(idea, self.list_ideas(result.run_id), self.list_relations(result.run_id))
        return [self.add_ticket(result.run_id, i.id, result.id) for i in near]

    def has_open_tickets(self, run_id: int) -> bool:
        return _OPEN_TICKET.first(self.conn, {"run_": run_id}) is not None

    def answer_ticket(self, ticket: Ticket, answer: str, reason: str) -> Ticket | None:
        """Answer an open ticket; None when it was answered meanwhile (the check is the update)."""
        row = self._graph_update(_k, ticket.id, "answer_ticket", ticket.run_id, (_k.c.status == "open",),
                                 status="answered", answer=answer, reason=reason, answered_by=self.actor,
                                 answered_at=self.clock())
        return None if row is None else Ticket.model_validate(row)


def touched(idea: Idea, ideas: Sequence[Idea], relations: Sequence[Relation]) -> list[Idea]:
    """The ideas a result of ``idea`` speaks to: itself, every idea a relation joins to it,
    and every idea on the same diagnosis (an implicit ``same_diagnosis``); CUT ones are settled."""
    near = {idea.id}
    for r in relations:
        if idea.id in (r.src_id, r.dst_id):
            near |= {r.src_id, r.dst_id}
    return [i for i in ideas if (i.id in near or i.diagnosis_id == idea.diagnosis_id) and i.tier != "CUT"]
