"""Prepared statements: a Core statement compiled once per dialect, run on the driver's cursor.

Why: measured on the 2-core test machine, ``Connection.execute`` of a cached, prebuilt
statement costs ~140 us (execution context, result wrapping, event dispatch) against ~5 us
for the sqlite3 cursor itself, and a claim -> result cycle issues a dozen statements. The
SQL still comes from SQLAlchemy's compiler, so it is the same portable SQL (SQLite,
PostgreSQL); only the per-call machinery is skipped. The statement runs in the
Connection's current transaction (same DBAPI connection).

Type handling is the little our tables need: JSON binds are encoded here (PostgreSQL casts
the text with the ``::JSON`` SQLAlchemy renders), JSON results arrive as text from SQLite
and are decoded; SQLite's 0/1 booleans are left to pydantic's coercion.
Statements must not contain list-expanding ``IN`` parameters (write ``or_`` of equalities).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from autods.errors import StateError


class _Form:
    """A statement compiled for one dialect."""

    __slots__ = ("sql", "order", "defaults", "json_binds", "names", "json_cols")

    def __init__(self, stmt: sa.Executable, dialect: sa.Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        if "__[POSTCOMPILE" in self.sql:
            raise StateError(f"prepared statements cannot expand lists: {self.sql}")
        required = {name: None for name, bind in compiled.binds.items() if bind.required}
        # Literal values in the statement (status = 'pending', LIMIT 1) under their final names.
        self.defaults = {k: v for k, v in compiled.construct_params(required).items() if k not in required}
        self.order: tuple[str, ...] | None = tuple(compiled.positiontup or ()) if compiled.positional else None
        self.json_binds = frozenset(n for n, b in compiled.binds.items() if b.required and isinstance(b.type, sa.JSON))
        columns = list(getattr(stmt, "exported_columns", ()))
        self.names = tuple(str(c.key) for c in columns)
        self.json_cols = (frozenset(i for i, c in enumerate(columns) if isinstance(c.type, sa.JSON))
                          if dialect.name == "sqlite" else frozenset())

    def args(self, params: Mapping[str, Any]) -> Any:
        values = {**self.defaults, **params}
        for name in self.json_binds:
            if values.get(name) is not None:
                values[name] = json.dumps(values[name])
        return values if self.order is None else tuple(values[n] for n in self.order)

    def record(self, row: tuple[Any, ...]) -> dict[str, Any]:
        out = dict(zip(self.names, row))
        for i in self.json_cols:
            if isinstance(row[i], str):
                out[self.names[i]] = json.loads(row[i])
        return out


class Prepared:
    """``Prepared(stmt).first(conn, params)`` -> dict or None; ``.all``; ``.run`` -> rowcount."""

    __slots__ = ("stmt", "_forms")

    def __init__(self, stmt: sa.Executable) -> None:
        self.stmt = stmt
        self._forms: dict[str, _Form] = {}

    def _form(self, conn: sa.Connection) -> _Form:
        form = self._forms.get(conn.dialect.name)
        if form is None:
            form = self._forms[conn.dialect.name] = _Form(self.stmt, conn.dialect)
        return form

    @staticmethod
    def _cursor(conn: sa.Connection) -> Any:
        return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]

    def all(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        form = self._form(conn)
        cur = self._cursor(conn)
        try:
            cur.execute(form.sql, form.args(params or {}))
            return [form.record(row) for row in cur.fetchall()]
        finally:
            cur.close()

    def first(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        found = self.all(conn, params)
        return found[0] if found else None

    def scalar(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> Any:
        row = self.first(conn, params)
        return None if row is None else next(iter(row.values()))

    def run(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> int:
        """Execute without results; the number of rows it changed."""
        form = self._form(conn)
        cur = self._cursor(conn)
        try:
            cur.execute(form.sql, form.args(params or {}))
            return int(cur.rowcount)
        finally:
            cur.close()

    def many(self, conn: sa.Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Execute once per parameter set (executemany: one driver call)."""
        form = self._form(conn)
        cur = self._cursor(conn)
        try:
            cur.executemany(form.sql, [form.args(r) for r in rows])
        finally:
            cur.close()
