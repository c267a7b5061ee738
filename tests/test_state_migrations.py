"""Schema upgrades: a schema-1 database opens as the current schema with nothing lost; no path, no open."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from autods.errors import SchemaVersionError
from autods.state import schema as t
from autods.state.store import Store


def _as_schema_1(url: str) -> None:
    """Turn a current database into what schema 1 wrote: no run_stats, no graph, the old audit index."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in ("run_stats", "diagnoses", "ideas", "relations", "tickets"):
            conn.execute(sa.text(f"DROP TABLE {table}"))
        conn.execute(sa.text("DROP TABLE audit_pending"))
        conn.execute(sa.text("DROP INDEX ix_audit_run_seq"))
        conn.execute(sa.text("CREATE INDEX ix_audit_events_run_id ON audit_events (run_id)"))
        conn.execute(sa.text("UPDATE meta SET value = '1' WHERE key = 'schema_version'"))
    engine.dispose()


def _indexes(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return {i["name"] for i in sa.inspect(engine).get_indexes("audit_events")}
    finally:
        engine.dispose()


def test_schema_1_is_upgraded_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    s = Store.open(url)
    runs = [s.add_run(name) for name in ("a", "b")]
    p = s.propose(runs[0].id, {"m": 1}, "h", 0.0, "f", actor="1")
    s.enqueue(p.id, 0, actor="1")
    before = s.events()
    s.close()
    _as_schema_1(url)

    s = Store.open(url)
    try:
        assert s.events() == before and s.verify_audit_chain()
        with s.read() as tx:
            version = tx.conn.execute(sa.select(t.meta.c.value).where(t.meta.c.key == "schema_version")).scalar()
            stats = [tx.run_stats(r.id)[0] for r in runs]
            pending = tx.conn.execute(sa.select(sa.func.count()).select_from(t.audit_pending)).scalar()
        assert version == str(t.SCHEMA_VERSION) == "4" and pending == 0
        assert [(x.run_id, x.replayed) for x in stats if x is not None] == [(runs[0].id, False), (runs[1].id, False)]
    finally:
        s.close()
    assert "ix_audit_run_seq" in _indexes(url) and "ix_audit_events_run_id" not in _indexes(url)
    Store.open(url).close()  # a second open finds nothing to do


def test_a_version_without_an_upgrade_path_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    Store.open(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE meta SET value = '0' WHERE key = 'schema_version'"))
    engine.dispose()
    with pytest.raises(SchemaVersionError, match="older than 4, and no migration exists"):
        Store.open(url)
