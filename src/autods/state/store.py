"""The Store: the shared state behind one URL, SQLite by default, PostgreSQL for scale.

``Store.open("sqlite:///runs/x/state.db")`` or ``Store.open("postgresql+psycopg://...")``.
Writes go through :meth:`Store.write` (one transaction, audited); reads through
:meth:`Store.read`. SQLite: WAL, ``synchronous=NORMAL`` by default (an acknowledged write survives a
process crash; ``sqlite_synchronous="FULL"`` survives power loss too), and
``BEGIN IMMEDIATE`` so a writer takes the lock up front instead of failing to upgrade a read
lock mid-transaction; in-process writers also queue on a lock, because SQLite's busy
handler sleeps in coarse steps and 32 spinning threads would crawl. Connections are pooled,
so the pragmas run once per connection, not per transaction.
PostgreSQL: writers run and commit concurrently under row locks (claims ``FOR UPDATE SKIP
LOCKED``, protocol checks lock their run's row, item transitions are conditional updates);
their audit events are linked into the chain by group seals (``audit.py``).

The verbs below (add_run, post, claim, ...) are each one transaction and enforce no
protocol: that is the Service's job. They exist for tools, tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

from autods.errors import StateError
from autods.state import audit
from autods.state.group import WriteGroup
from autods.state.migrations import check_or_create
from autods.state.records import AuditEvent, Proposal, QueueItem, Run
from autods.state.tx import Tx


class Store:
    """Open with :meth:`open`; thread-safe; close with :meth:`close`."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], float]) -> None:
        self.engine = engine
        self.clock = clock
        self.postgres = engine.dialect.name == "postgresql"
        self._write_lock = threading.Lock() if not self.postgres else None
        # SQLite: the audit tip this process committed last. Writers take turns on the lock
        # above, so it is current unless another process wrote, which the guarded tip update
        # detects. Not kept for PostgreSQL, whose concurrent writers would make it stale.
        self._tip: audit.Tip | None = None
        self._sealer = audit.GroupSealer() if self.postgres else None
        self._local = threading.local()  # this thread's open write group, if any
        self._closed = False

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Callable[[], float] = time.time,
        pool_size: int = 16,
        sqlite_synchronous: str = "NORMAL",
    ) -> Store:
        """Open (creating if empty) the state at ``url``; refuses foreign or newer databases.

        ``sqlite_synchronous``: ``NORMAL`` (default) keeps every acknowledged write across a
        process crash or SIGKILL, and is 10-30x faster than ``FULL`` on this kind of disk;
        ``FULL`` also survives power loss / kernel crash at one fsync per write.
        """
        if sqlite_synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise StateError(f"sqlite_synchronous must be NORMAL, FULL or EXTRA, not {sqlite_synchronous!r}")
        try:
            sa_url = sa.make_url(url)
        except sa.exc.ArgumentError as err:
            raise StateError(f"cannot parse state URL {url!r}: {err}; use sqlite:///path or postgresql+psycopg://") from err
        if sa_url.get_backend_name() == "sqlite":
            engine = _sqlite_engine(sa_url, pool_size, sqlite_synchronous.upper())
        elif sa_url.get_backend_name() == "postgresql":
            engine = sa.create_engine(sa_url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)
        else:
            raise StateError(f"unsupported state URL {url!r}; use sqlite:///path or postgresql+psycopg://")
        store = cls(engine, clock)
        where = sa_url.render_as_string(hide_password=True)
        try:
            with store._begin(write=True) as conn:
                if store.postgres:
                    # Two processes creating the schema at once would both see an empty database.
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(7470221)"))
                check_or_create(conn, where)
            store.seal()  # events a crashed writer committed but did not seal
        except sa.exc.OperationalError as err:
            engine.dispose()
            raise StateError(f"cannot open state database {where}: {err.orig}") from err
        except sqlite3.OperationalError as err:  # raised by the driver directly (BEGIN, prepared statements)
            engine.dispose()
            raise StateError(f"cannot open state database {where}: {err}") from err
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        """Close every pooled connection; later reads and writes are refused (a late
        request would otherwise open a connection nobody closes)."""
        self._closed = True
        self.engine.dispose()

    def _connect(self) -> sa.Connection:
        if self._closed:
            raise StateError("this state store is closed; open it again with Store.open(url)")
        return self.engine.connect()

    def now(self) -> float:
        return self.clock()

    # -- transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _begin(self, write: bool) -> Iterator[sa.Connection]:
        with self._connect() as conn:
            with conn.begin():
                if not self.postgres:
                    # pysqlite runs in autocommit mode (set on connect) and SQLAlchemy's begin
                    # is a no-op for it, so the transaction starts here; on the driver itself,
                    # because a connection event listener would tax every statement.
                    driver: Any = conn.connection.driver_connection
                    driver.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield conn

    @contextlib.contextmanager
    def write(self, actor: str, run_id: int | None = None) -> Iterator[Tx]:
        """One write transaction; commits on success, rolls back on any exception.

        Its audit events are in the chain when this returns: linked as the transaction's
        last statements on SQLite; on PostgreSQL parked with it and sealed after its commit.
        Inside :meth:`group` it is a savepoint of the group's transaction instead.
        """
        group: WriteGroup | None = getattr(self._local, "group", None)
        if group is not None:
            with group.savepoint() as conn:
                tx = Tx(conn, actor, self.clock, postgres=self.postgres)
                yield tx
                if tx.pending and self.postgres:
                    audit.park(conn, tx.pending)
                    group.parked = True
                elif tx.pending:
                    group.tip = audit.append(conn, tx.pending, group.tip)
            return
        if self._sealer is not None:
            with self._connect() as conn:
                with conn.begin():
                    tx = Tx(conn, actor, self.clock, postgres=True)
                    yield tx
                    if tx.pending:
                        audit.park(conn, tx.pending)
                if tx.pending:  # committed; seal on the same connection if this writer has to
                    self._sealer.after_commit(lambda: _seal_on(conn))
            return
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with self._begin(write=True) as conn:
                tx = Tx(conn, actor, self.clock, postgres=False)
                yield tx
                tip = audit.append(conn, tx.pending, self._tip) if tx.pending else None
            if tip is not None:
                self._tip = tip  # committed
        finally:
            if lock is not None:
                lock.release()

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        """The writes this thread makes inside the block share one transaction.

        Each :meth:`write` in the block is a savepoint: one that raises is rolled back alone
        and the others stand; all of them commit together when the block ends, so none is
        durable (or may be acknowledged) before then. If the block raises, or the commit
        fails, none of them is written. :meth:`read` in the block sees the group's writes.
        The server's write lane runs each batch of queued write requests in one group: one
        BEGIN/COMMIT (one fsync) and one connection for the batch instead of one per request.
        On PostgreSQL the group's audit events are sealed after its commit, as a write's are.
        A group opened inside a group on the same thread is part of the outer one.
        """
        if getattr(self._local, "group", None) is not None:
            yield
            return
        if self._sealer is not None:
            with self._connect() as conn:
                with conn.begin():
                    group = WriteGroup(conn, None, postgres=True)
                    with self._grouped(group):
                        yield
                    group.check_open()
                if group.parked:
                    self._sealer.after_commit(lambda: _seal_on(conn))
            return
        lock = self._write_lock
        assert lock is not None  # SQLite
        with lock:
            with self._begin(write=True) as conn:
                group = WriteGroup(conn, self._tip, postgres=False)
                with self._grouped(group):
                    yield
                group.check_open()
            self._tip = group.tip  # committed

    @contextlib.contextmanager
    def _grouped(self, group: WriteGroup) -> Iterator[None]:
        self._local.group = group
        try:
            yield
        finally:
            self._local.group = None

    def seal(self) -> None:
        """PostgreSQL: link parked audit events into the chain now (no-op on SQLite)."""
        if self._sealer is not None:
            with self._connect() as conn:
                self._sealer.after_commit(lambda: _seal_on(conn))

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only transaction (a consistent snapshot on SQLite); in a group, the group's."""
        group: WriteGroup | None = getattr(self._local, "group", None)
        if group is not None:
            yield Tx(group.conn, "reader", self.clock, postgres=self.postgres)
            return
        with self._begin(write=False) as conn:
            yield Tx(conn, "reader", self.clock, postgres=self.postgres)

    # -- audit chain --------------------------------------------------------------------------

    def verify_audit_chain(self) -> bool:
        """Recompute every link; False if any event was edited, removed or reordered."""
        self.seal()
        with self.read() as tx:
            return audit.verify(tx.conn)

    # -- plain verbs (no protocol; one transaction each) --------------------------------------

    def add_run(self, name: str, config: dict[str, Any] | None = None, *, actor: str = "system") -> Run:
        with self.write(actor) as tx:
            return tx.add_run(name, config or {})

    def propose(self, run_id: int, recipe: dict[str, Any], hypothesis: str, expected_effect: float, family: str,
                *, actor: str, title: str = "", team_id: int | None = None) -> Proposal:
        from autods.state.hashing import canonical_hash

        with self.write(actor, run_id) as tx:
            return tx.add_proposal(run_id, title or family, recipe, hypothesis, expected_effect, family,
                                   canonical_hash(recipe), team_id, None)

    def enqueue(self, proposal_id: int, seed: int = 0, *, actor: str, team_id: int | None = None) -> QueueItem:
        with self.write(actor) as tx:
            p = tx.get_proposal(proposal_id)
            if p is None:
                raise StateError(f"proposal {proposal_id} does not exist")
            return tx.add_item(p.run_id, proposal_id, team_id if team_id is not None else p.team_id,
                               p.canonical_hash, seed)

    def claim(self, run_id: int, *, actor: str, team_id: int | None = None, lease_s: float = 300.0) -> QueueItem | None:
        with self.write(actor, run_id) as tx:
            return tx.claim_next(run_id, team_id, lease_s)

    def heartbeat(self, item_id: int, *, actor: str, lease_s: float = 300.0) -> QueueItem:
        with self.write(actor) as tx:
            return tx.extend_lease(item_id, lease_s)

    def release_expired(self, run_id: int | None = None, *, actor: str = "system", max_attempts: int = 3) -> list[QueueItem]:
        with self.write(actor, run_id) as tx:
            return tx.release_expired(run_id, max_attempts)

    def abort(self, item_id: int, reason: str, *, actor: str) -> QueueItem:
        with self.write(actor) as tx:
            return tx.set_item_status(item_id, "aborted", reason)

    def list_items(self, run_id: int, status: str | None = None) -> list[QueueItem]:
        with self.read() as tx:
            return tx.list_items(run_id, status=status)

    def events(self, since_seq: int = 0, limit: int = 1000, run_id: int | None = None) -> list[AuditEvent]:
        with self.read() as tx:
            return tx.events(since_seq, limit, run_id)


def _seal_on(conn: sa.Connection) -> int:
    with conn.begin():
        return audit.seal(conn)


def _sqlite_engine(url: sa.URL, pool_size: int, synchronous: str) -> sa.Engine:
    memory = url.database in (None, "", ":memory:")
    engine = sa.create_engine(
        url,
        connect_args={"timeout": 60.0, "check_same_thread": False},
        # One shared connection for :memory: (each connection would see its own empty database).
        **({"poolclass": StaticPool} if memory else {"pool_size": pool_size, "max_overflow": pool_size * 2}),
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite would defer it)
        cur = dbapi_conn.cursor()
        # temp_store/cache_size: sorts and hot pages stay in memory (the cache is a per-connection cap).
        for pragma in ("journal_mode=WAL", f"synchronous={synchronous}", "busy_timeout=60000", "temp_store=MEMORY",
                       "cache_size=-8000", "wal_autocheckpoint=4000"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    return engine
