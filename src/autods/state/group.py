"""A write group: several Store writes in one transaction, each a savepoint.

Opened by :meth:`Store.group <autods.state.store.Store.group>`; the server's write lane runs
each batch of queued write requests in one. A write that raises is rolled back to its
savepoint alone. Its audit events go with it: ``Store.write`` links them (SQLite, moving
``tip``) or parks them (PostgreSQL) as the savepoint's last statements, so a write that
raises has moved neither.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from autods.errors import StateError
from autods.state import audit

PQTRANS_IDLE, PQTRANS_INTRANS = 0, 2  # libpq: no transaction; in a valid one (3, INERROR: aborted)


class WriteGroup:
    """An open write group: its connection, and on SQLite the audit tip inside it."""

    def __init__(self, conn: sa.Connection, tip: audit.Tip | None, *, postgres: bool) -> None:
        self.conn = conn
        self.tip = tip
        self.postgres = postgres
        self.parked = False  # PostgreSQL: some write parked audit events (seal after commit)
        self.begun = False  # PostgreSQL: psycopg sends BEGIN with the group's first statement
        self.driver: Any = conn.connection.driver_connection

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[sa.Connection]:
        self.check_open()
        if self.postgres:
            with self.conn.begin_nested():  # SAVEPOINT; ROLLBACK TO it if the block raises
                self.begun = True
                yield self.conn
            return
        self.driver.execute("SAVEPOINT autods_write")
        try:
            yield self.conn
        except BaseException:
            if self.driver.in_transaction:
                self.driver.execute("ROLLBACK TO autods_write")
                self.driver.execute("RELEASE autods_write")
            raise
        self.driver.execute("RELEASE autods_write")

    def check_open(self) -> None:
        """Refuse to go on (or commit) when the transaction is no longer whole.

        SQLite rolls the whole transaction back on its own after some errors (disk full,
        I/O), and a COMMIT then is a silent no-op in the driver; PostgreSQL answers COMMIT
        of an aborted transaction with a ROLLBACK. Either way nothing of the group was saved.
        """
        if self.postgres:  # libpq's PQtransactionStatus, as psycopg and psycopg2 report it
            status = self.driver.info.transaction_status
            whole = status == PQTRANS_INTRANS or (status == PQTRANS_IDLE and not self.begun)
        else:
            whole = self.driver.in_transaction
        if not whole:
            raise StateError("the database rolled back this write group's transaction after an error; "
                             "none of its writes was saved: retry them")
