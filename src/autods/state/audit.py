"""The tamper-evident audit chain: ``hash = sha256(prev_hash + canonical(event))``.

A transaction buffers its events (:class:`Pending`) and appends them all at its end with one
UPDATE of the chain tip (``audit_head``) and one INSERT. Linking last keeps the tip's lock
short on PostgreSQL: it is held from the append to the commit, not for the whole
transaction, yet writers still extend the chain one at a time, so ``seq`` is gapless and
commits in order (an ``events(since_seq)`` cursor never skips a late commit).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from autods.errors import StateError
from autods.state import schema as t
from autods.state.hashing import GENESIS, chain_hash
from autods.state.prepared import Prepared

Tip = tuple[int, str]  # (seq, hash) of the newest link

_h = t.audit_head
_HEAD_SELECT = sa.select(_h.c.seq, _h.c.hash).where(_h.c.id == 1)
_HEAD = Prepared(_HEAD_SELECT)
_HEAD_LOCKED = Prepared(_HEAD_SELECT.with_for_update())
_MOVE_STMT = _h.update().where(_h.c.id == 1).values(seq=sa.bindparam("new_seq"), hash=sa.bindparam("new_hash"))
_MOVE = Prepared(_MOVE_STMT)
# Moves the tip only if it is still where this process last saw it: one statement instead of
# read-then-write, and a writer in another process is detected (rowcount 0), never overwritten.
_MOVE_IF = Prepared(_MOVE_STMT.where(_h.c.seq == sa.bindparam("old_seq"), _h.c.hash == sa.bindparam("old_hash")))
_INSERT = Prepared(t.audit_events.insert().values({c.key: sa.bindparam(c.key) for c in t.audit_events.c}))


@dataclass(frozen=True)
class Pending:
    """An event recorded by a write, linked into the chain when its transaction ends."""

    run_id: int | None
    actor: str
    verb: str
    payload: dict[str, Any]
    created_at: float


def _link(events: list[Pending], tip: Tip) -> tuple[list[dict[str, Any]], Tip]:
    seq, prev = tip
    rows = []
    for ev in events:
        seq += 1
        body = {"seq": seq, "run_id": ev.run_id, "actor": ev.actor, "verb": ev.verb, "payload": ev.payload,
                "created_at": ev.created_at}
        digest = chain_hash(prev, body)
        rows.append({**body, "payload": json.dumps(ev.payload), "prev_hash": prev, "hash": digest})
        prev = digest
    return rows, (seq, prev)


def append(conn: sa.Connection, events: list[Pending], known_tip: Tip | None, *, postgres: bool) -> Tip:
    """Link ``events`` after the chain tip and write them; returns the new tip.

    ``known_tip`` is the tip this process last committed (SQLite, where in-process writers
    take turns): when it is still current the append is two statements. Otherwise the tip is
    read (and on PostgreSQL locked until commit) first.
    """
    if known_tip is not None:
        rows, tip = _link(events, known_tip)
        moved = _MOVE_IF.run(conn, {"new_seq": tip[0], "new_hash": tip[1], "old_seq": known_tip[0],
                                    "old_hash": known_tip[1]})
        if moved == 1:
            _INSERT.many(conn, rows)
            return tip
    head = (_HEAD_LOCKED if postgres else _HEAD).first(conn)
    if head is None:
        raise StateError("the audit chain tip (audit_head) is missing: the database was altered outside autods")
    rows, tip = _link(events, (int(head["seq"]), str(head["hash"])))
    _MOVE.run(conn, {"new_seq": tip[0], "new_hash": tip[1]})
    _INSERT.many(conn, rows)
    return tip


def verify(conn: sa.Connection) -> bool:
    """Recompute every link; False if any event was edited, removed, reordered or appended
    without moving the tip."""
    prev, expected_seq = GENESIS, 1
    rows = conn.execute(sa.select(t.audit_events).order_by(t.audit_events.c.seq))
    for row in rows:
        body = {"seq": row.seq, "run_id": row.run_id, "actor": row.actor, "verb": row.verb,
                "payload": json.loads(row.payload), "created_at": row.created_at}
        if row.seq != expected_seq or row.prev_hash != prev or chain_hash(prev, body) != row.hash:
            return False
        prev, expected_seq = row.hash, expected_seq + 1
    head = _HEAD.first(conn)
    return head is not None and head["seq"] == expected_seq - 1 and head["hash"] == prev
