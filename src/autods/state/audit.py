"""The tamper-evident audit chain: ``hash = sha256(prev_hash + canonical(event))``.

A transaction buffers its events (:class:`Pending`); the Store links them into the chain
(``audit_events``, tip in ``audit_head``) so that ``seq`` is gapless and in commit order,
and an ``events(since_seq)`` cursor never skips a late commit.

SQLite (one writer at a time): :func:`append` links them as the transaction's last
statements, one UPDATE of the tip and one INSERT.

PostgreSQL (concurrent writers): holding the tip's row lock until commit would serialise
every write on the commit's fsync (~150 writes/s on the test machine). Instead a write
*parks* its events in ``audit_pending`` inside its own transaction (:func:`park`), so they
commit, or vanish, with it, and commits group. Right after committing, the writer makes
sure a *seal* ran after its commit (:class:`GroupSealer`): one transaction at a time
(advisory lock) moves every committed pending event into the chain. When ``Store.write``
returns, its events are in the chain, as on SQLite. A crash between the two leaves the
events parked, and the next seal (any write, ``Store.open``, ``verify_audit_chain``)
links them: nothing acknowledged is lost, though a parked event is not yet hash-protected.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
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
_p = t.audit_pending
_PARK = Prepared(_p.insert().values({c.key: sa.bindparam(c.key) for c in _p.c if c.key != "id"}))
_UNPARK = Prepared(_p.delete().returning(*_p.c))  # every committed parked event, exactly the ones removed
_SEAL_LOCK = Prepared(sa.select(sa.func.pg_advisory_xact_lock(7470222)))


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


def _extend(conn: sa.Connection, events: list[Pending], *, lock: bool) -> Tip:
    head = (_HEAD_LOCKED if lock else _HEAD).first(conn)
    if head is None:
        raise StateError("the audit chain tip (audit_head) is missing: the database was altered outside autods")
    rows, tip = _link(events, (int(head["seq"]), str(head["hash"])))
    _MOVE.run(conn, {"new_seq": tip[0], "new_hash": tip[1]})
    _INSERT.many(conn, rows)
    return tip


def append(conn: sa.Connection, events: list[Pending], known_tip: Tip | None) -> Tip:
    """SQLite: link ``events`` after the chain tip and write them; returns the new tip.

    ``known_tip`` is the tip this process last committed (in-process writers take turns):
    when it is still current the append is two statements, otherwise the tip is read first.
    """
    if known_tip is not None:
        rows, tip = _link(events, known_tip)
        moved = _MOVE_IF.run(conn, {"new_seq": tip[0], "new_hash": tip[1], "old_seq": known_tip[0],
                                    "old_hash": known_tip[1]})
        if moved == 1:
            _INSERT.many(conn, rows)
            return tip
    return _extend(conn, events, lock=False)


def park(conn: sa.Connection, events: list[Pending]) -> None:
    """PostgreSQL: queue a transaction's events for the sealer (they commit with it)."""
    _PARK.many(conn, [{"run_id": e.run_id, "actor": e.actor, "verb": e.verb, "payload": json.dumps(e.payload),
                       "created_at": e.created_at} for e in events])


def seal(conn: sa.Connection) -> int:
    """PostgreSQL: link every committed parked event into the chain, oldest first; one
    sealer at a time. Returns how many were linked."""
    _SEAL_LOCK.all(conn)
    parked = sorted(_UNPARK.all(conn), key=lambda row: row["id"])
    if parked:
        _extend(conn, [Pending(r["run_id"], r["actor"], r["verb"], json.loads(r["payload"]), r["created_at"])
                       for r in parked], lock=True)
    return len(parked)


class GroupSealer:
    """Seals after commits, one seal for many writers of this process.

    A writer that has committed calls :meth:`after_commit`: it returns once a seal that
    began after that call has finished. If none is running the writer runs one itself,
    otherwise it waits and the next seal covers it, so N concurrent writers cost about one
    seal per commit-and-fsync time, not N.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._started = 0  # seals begun (numbered 1, 2, ...)
        self._done = 0  # the newest seal that has finished
        self._running = False

    def after_commit(self, seal_once: Callable[[], object]) -> None:
        """``seal_once`` runs one seal (in its own transaction) if this writer has to."""
        with self._cond:
            need = self._started + 1  # a seal that begins from now on sees our commit
            while self._done < need:
                if not self._running:
                    self._running = True
                    self._started += 1
                    mine = self._started
                    break
                self._cond.wait()
            else:
                return
        try:
            seal_once()
        finally:
            with self._cond:
                self._running = False
                # Waiting writers need a later seal than this one, so a failed seal releases
                # nobody: one of them runs the next.
                self._done = mine
                self._cond.notify_all()


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
