"""A write group (SQLite): several Store writes in one transaction, each a savepoint.

Opened by :meth:`Store.group <autods.state.store.Store.group>`; the server's write lane runs
each batch of queued write requests in one. A write that raises is rolled back to its
savepoint alone, and the audit tip it moved goes back with it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

import sqlalchemy as sa

from autods.errors import StateError
from autods.state import audit


class WriteGroup:
    """An open write group (SQLite): its connection and the audit tip inside it."""

    def __init__(self, conn: sa.Connection, tip: audit.Tip | None) -> None:
        self.conn = conn
        self.tip = tip
        self.driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[sa.Connection]:
        self.check_open()
        self.driver.execute("SAVEPOINT autods_write")
        tip = self.tip
        try:
            yield self.conn
        except BaseException:
            self.tip = tip
            if self.driver.in_transaction:
                self.driver.execute("ROLLBACK TO autods_write")
                self.driver.execute("RELEASE autods_write")
            raise
        self.driver.execute("RELEASE autods_write")

    def check_open(self) -> None:
        # Some SQLite errors (disk full, I/O) roll the whole transaction back on their own.
        if not self.driver.in_transaction:
            raise StateError("SQLite rolled back this write group's transaction after an error; "
                             "none of its writes was saved: retry them")
