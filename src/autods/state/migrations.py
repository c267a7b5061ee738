"""Create, upgrade or refuse a state database (the schema-version gate).

A database without our ``meta`` row, or one written by a newer autods, is refused instead of
being altered. An older one is upgraded in the opening write transaction, step by step, so
a crash mid-upgrade leaves it as it was.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from autods.errors import SchemaVersionError
from autods.state import schema as t
from autods.state.hashing import GENESIS


def _v1_to_v2(conn: sa.Connection) -> None:
    """run_stats (one row per run, to be rebuilt from its results on first use); the
    audit index gains seq so a run's newest event is an index lookup."""
    t.run_stats.create(conn)
    runs = [{"run_id": rid, "best": None, "last_good_id": None, "since_improved": 0, "announced_id": None,
             "replayed": False} for rid in conn.execute(sa.select(t.runs.c.id)).scalars()]
    if runs:
        conn.execute(t.run_stats.insert(), runs)
    conn.execute(sa.text("DROP INDEX IF EXISTS ix_audit_events_run_id"))
    next(i for i in t.audit_events.indexes if i.name == "ix_audit_run_seq").create(conn)


def _v2_to_v3(conn: sa.Connection) -> None:
    """audit_pending: PostgreSQL writers park their events there for the sealer."""
    t.audit_pending.create(conn)


def _v3_to_v4(conn: sa.Connection) -> None:
    """The hypothesis graph: diagnoses, ideas (facts of proposals that are ideas), relations,
    verdict tickets. Existing proposals stay plain proposals; existing dead ends stay."""
    for table in t.GRAPH_TABLES:
        table.create(conn)


# version -> the step that upgrades it to version + 1
STEPS: dict[int, Callable[[sa.Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}


def check_or_create(conn: sa.Connection, where: str) -> None:
    """Create the schema in an empty database; upgrade an older one; refuse a foreign or newer one.

    Runs in the write transaction that opens the store.
    """
    existing = set(sa.inspect(conn).get_table_names())
    if not existing:
        t.metadata.create_all(conn)
        conn.execute(t.meta.insert(), [
            {"key": "application_id", "value": t.APPLICATION_ID},
            {"key": "schema_version", "value": str(t.SCHEMA_VERSION)},
        ])
        conn.execute(t.audit_head.insert().values(id=1, seq=0, hash=GENESIS))
        return
    if "meta" not in existing:
        raise SchemaVersionError(
            f"{where} holds tables ({', '.join(sorted(existing)[:5])}) but is not an autods state database "
            "(no meta table); point --state at an empty or autods database instead"
        )
    rows = {key: value for key, value in conn.execute(sa.select(t.meta.c.key, t.meta.c.value))}
    if rows.get("application_id") != t.APPLICATION_ID:
        raise SchemaVersionError(
            f"{where} has a meta table but application id {rows.get('application_id')!r}, not "
            f"{t.APPLICATION_ID!r}: it belongs to another program; use a separate database for autods"
        )
    version = int(rows.get("schema_version", "0"))
    if version > t.SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where} has schema version {version}, newer than this autods understands ({t.SCHEMA_VERSION}); "
            "upgrade autods (pip install -U autods) to open it"
        )
    if version < t.SCHEMA_VERSION and version not in STEPS:
        raise SchemaVersionError(
            f"{where} has schema version {version}, older than {t.SCHEMA_VERSION}, and no migration exists; "
            "start a new run folder or use the autods release that wrote it"
        )
    while version < t.SCHEMA_VERSION:
        STEPS[version](conn)
        version += 1
        conn.execute(t.meta.update().where(t.meta.c.key == "schema_version").values(value=str(version)))
