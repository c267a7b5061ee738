"""Tables of the shared state (SQLAlchemy Core) and the schema-version gate.

Column names equal the record field names in ``records.py``, so a row maps to its record
with ``Model.model_validate(row._mapping)``. The ``meta`` table carries an application id
and the schema version: a database without it, or written by a newer autods, is refused
instead of being silently altered.
"""

from __future__ import annotations

import sqlalchemy as sa

from autods.errors import SchemaVersionError
from autods.state.hashing import GENESIS

APPLICATION_ID = "autods-state"
SCHEMA_VERSION = 1

metadata = sa.MetaData()


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _at(name: str = "created_at") -> sa.Column[float]:
    return sa.Column(name, sa.Float, nullable=False)


meta = sa.Table(
    "meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# One row: the tip of the audit chain. Locking it serialises writers on PostgreSQL, which
# is what keeps the chain linear (two writers must not both extend the same tip).
audit_head = sa.Table(
    "audit_head", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

runs = sa.Table(
    "runs", metadata, _id(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    _at(),
)

agents = sa.Table(
    "agents", metadata, _id(),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("team_id", sa.Integer),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    _at(),
)

teams = sa.Table(
    "teams", metadata, _id(),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("hypothesis", sa.Text, nullable=False),
    sa.Column("strategy", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    _at(),
)

posts = sa.Table(
    "posts", metadata, _id(),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("thread_id", sa.Integer),
    sa.Column("team_id", sa.Integer),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("author", sa.String(32), nullable=False),
    _at(),
    sa.Index("ix_posts_run_kind", "run_id", "kind"),
)

proposals = sa.Table(
    "proposals", metadata, _id(),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("team_id", sa.Integer),
    sa.Column("post_id", sa.Integer),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("recipe", sa.JSON, nullable=False),
    sa.Column("hypothesis", sa.Text, nullable=False),
    sa.Column("expected_effect", sa.Float, nullable=False),
    sa.Column("family", sa.Text, nullable=False),
    sa.Column("canonical_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("author", sa.String(32), nullable=False),
    _at(),
)

critiques = sa.Table(
    "critiques", metadata, _id(),
    sa.Column("proposal_id", sa.Integer, nullable=False, index=True),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("reopens_dead_end", sa.Integer),
    sa.Column("author", sa.String(32), nullable=False),
    _at(),
)

queue_items = sa.Table(
    "queue_items", metadata, _id(),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("proposal_id", sa.Integer, nullable=False),
    sa.Column("team_id", sa.Integer),
    sa.Column("recipe_hash", sa.String(64), nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("claimed_by", sa.String(32)),
    sa.Column("lease_expires_at", sa.Float),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    _at(),
    _at("updated_at"),
    sa.Index("ix_queue_run_status", "run_id", "status", "id"),
    sa.Index("ix_queue_recipe", "run_id", "recipe_hash", "seed"),
)

results = sa.Table(
    "results", metadata, _id(),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("queue_item_id", sa.Integer, nullable=False, unique=True),
    sa.Column("proposal_id", sa.Integer, nullable=False),
    sa.Column("recipe_hash", sa.String(64), nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("split", sa.Text, nullable=False),
    sa.Column("metric", sa.String(32), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("higher_is_better", sa.Boolean, nullable=False),
    sa.Column("fold_scores", sa.JSON, nullable=False),
    sa.Column("ci_low", sa.Float),
    sa.Column("ci_high", sa.Float),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("artifacts", sa.JSON, nullable=False),
    sa.Column("recorded_by", sa.String(32), nullable=False),
    _at(),
    sa.Index("ix_results_recipe", "run_id", "recipe_hash"),
)

champions = sa.Table(
    "champions", metadata, _id(),
    sa.Column("run_id", sa.Integer, nullable=False, index=True),
    sa.Column("result_id", sa.Integer, nullable=False),
    sa.Column("confirming_result_id", sa.Integer, nullable=False),
    sa.Column("recipe_hash", sa.String(64), nullable=False),
    sa.Column("metric", sa.String(32), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("higher_is_better", sa.Boolean, nullable=False),
    sa.Column("previous_value", sa.Float),
    sa.Column("noise_floor", sa.Float, nullable=False),
    sa.Column("promoted_by", sa.String(32), nullable=False),
    _at(),
)

dead_ends = sa.Table(
    "dead_ends", metadata, _id(),
    sa.Column("run_id", sa.Integer, nullable=False, index=True),
    sa.Column("team_id", sa.Integer),
    sa.Column("family", sa.Text, nullable=False),
    sa.Column("region", sa.JSON, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("author", sa.String(32), nullable=False),
    _at(),
)

# payload is Text holding json.dumps of the event payload: hashed and verified as stored.
audit_events = sa.Table(
    "audit_events", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.Integer, index=True),
    sa.Column("actor", sa.String(32), nullable=False),
    sa.Column("verb", sa.String(32), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    _at(),
)


def check_or_create(conn: sa.Connection, where: str) -> None:
    """Create the schema in an empty database; refuse a foreign or newer one. Runs in a write transaction."""
    existing = set(sa.inspect(conn).get_table_names())
    if not existing:
        metadata.create_all(conn)
        conn.execute(meta.insert(), [
            {"key": "application_id", "value": APPLICATION_ID},
            {"key": "schema_version", "value": str(SCHEMA_VERSION)},
        ])
        conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS))
        return
    if "meta" not in existing:
        raise SchemaVersionError(
            f"{where} holds tables ({', '.join(sorted(existing)[:5])}) but is not an autods state database "
            "(no meta table); point --state at an empty or autods database instead"
        )
    rows = {key: value for key, value in conn.execute(sa.select(meta.c.key, meta.c.value))}
    if rows.get("application_id") != APPLICATION_ID:
        raise SchemaVersionError(
            f"{where} has a meta table but application id {rows.get('application_id')!r}, not "
            f"{APPLICATION_ID!r}: it belongs to another program; use a separate database for autods"
        )
    version = int(rows.get("schema_version", "0"))
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where} has schema version {version}, newer than this autods understands ({SCHEMA_VERSION}); "
            "upgrade autods (pip install -U autods) to open it"
        )
    if version < SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where} has schema version {version}, older than {SCHEMA_VERSION}, and no migration exists; "
            "start a new run folder or use the autods release that wrote it"
        )
