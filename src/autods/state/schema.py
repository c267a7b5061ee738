"""Tables of the shared state (SQLAlchemy Core) and the schema-version gate.

Column names equal the record field names in ``records.py``, so a row maps to its record
with ``Model.model_validate(row._mapping)``. The ``meta`` table carries an application id
and the schema version; ``migrations.py`` creates, upgrades or refuses a database.

Indexes follow the hot queries: claims scan ``queue_items(run_id, status, id)``, enqueue's
duplicate check ``(run_id, recipe_hash, seed)``, critiques by ``proposal_id``, a run's
event stream ``audit_events(run_id, seq)``.

The hypothesis graph (schema 4, see ``state/graph_records.py``): ``diagnoses``; ``ideas``, one
row per proposal that is an idea (``ideas.id`` IS the proposal id, so an idea keeps the
proposal's critiques, queue items and results); ``relations`` between two ideas; verdict
``tickets`` opened by results. Open tickets are looked up by ``(run_id, status)`` on every
claim, NOW occupants by ``ideas(run_id, tier)``.
"""

from __future__ import annotations

import sqlalchemy as sa

APPLICATION_ID = "autods-state"
# 2: run_stats, audit_events indexed by (run_id, seq); 3: audit_pending; 4: the hypothesis graph
SCHEMA_VERSION = 4

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

# One row: the tip of the audit chain. A write transaction locks it last, just before its
# commit, so the chain stays linear (two writers never extend the same tip) while the rest
# of the transaction runs concurrently on PostgreSQL.
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
    sa.Column("run_id", sa.Integer),
    sa.Column("actor", sa.String(32), nullable=False),
    sa.Column("verb", sa.String(32), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    _at(),
    sa.Index("ix_audit_run_seq", "run_id", "seq"),
)

# PostgreSQL only: events of committed writes waiting to be linked into the chain (see
# audit.py: writers commit concurrently, a sealer links what they committed in batches).
audit_pending = sa.Table(
    "audit_pending", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer),
    sa.Column("actor", sa.String(32), nullable=False),
    sa.Column("verb", sa.String(32), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    _at(),
)

# Per-run running state of the stagnation rule, updated in the result's own transaction so
# a result costs O(1) instead of a scan of the run's history. Derived data, not audited:
# ``replayed`` False (a run migrated from schema 1) makes the Service rebuild it from the
# run's results once.
run_stats = sa.Table(
    "run_stats", metadata,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("best", sa.Float),
    sa.Column("last_good_id", sa.Integer),
    sa.Column("since_improved", sa.Integer, nullable=False),
    sa.Column("announced_id", sa.Integer),
    sa.Column("replayed", sa.Boolean, nullable=False),
)


# -- the hypothesis graph (schema 4) ------------------------------------------------------

diagnoses = sa.Table(
    "diagnoses", metadata, _id(),
    sa.Column("run_id", sa.Integer, nullable=False, index=True),
    sa.Column("claim", sa.Text, nullable=False),
    sa.Column("finding_ids", sa.JSON, nullable=False),
    sa.Column("result_ids", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_reason", sa.Text, nullable=False),
    sa.Column("merged_into", sa.Integer),
    sa.Column("author", sa.String(32), nullable=False),
    _at(),
)

# The graph's facts about a proposal that is an idea; ``id`` is the proposal's id.
ideas = sa.Table(
    "ideas", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("diagnosis_id", sa.Integer, nullable=False),
    sa.Column("if_works", sa.Text, nullable=False),
    sa.Column("if_fails", sa.Text, nullable=False),
    sa.Column("surprise_if", sa.Text, nullable=False),
    sa.Column("effect_evidence", sa.JSON, nullable=False),
    sa.Column("tier", sa.String(8), nullable=False),
    sa.Column("tier_reason", sa.Text, nullable=False),
    sa.Column("resurrect_if", sa.Text, nullable=False),
    sa.Column("dead_end_id", sa.Integer),
    _at("tier_changed_at"),
    sa.Index("ix_ideas_run_tier", "run_id", "tier"),
    sa.Index("ix_ideas_diagnosis", "diagnosis_id"),
)

relations = sa.Table(
    "relations", metadata, _id(),
    sa.Column("run_id", sa.Integer, nullable=False, index=True),
    sa.Column("src_id", sa.Integer, nullable=False),
    sa.Column("dst_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("author", sa.String(32), nullable=False),
    _at(),
)

tickets = sa.Table(
    "tickets", metadata, _id(),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("idea_id", sa.Integer, nullable=False),
    sa.Column("result_id", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("answer", sa.String(8)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("answered_by", sa.String(32)),
    sa.Column("answered_at", sa.Float),
    _at(),
    sa.Index("ix_tickets_run_status", "run_id", "status"),
)

GRAPH_TABLES = (diagnoses, ideas, relations, tickets)
