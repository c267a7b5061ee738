"""Records of the shared experimental state.

Every record is an immutable pydantic model returned by the Store and the Service; the
server serialises them as they are (``model_dump(mode="json")``). Ids are integers
assigned by the database; times are POSIX seconds (float) from the Store's clock, so
tests can move time without sleeping.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PostKind = Literal["design", "finding", "proposal", "critique", "result", "near-miss", "stuck", "note"]
POST_KINDS: tuple[str, ...] = ("design", "finding", "proposal", "critique", "result", "near-miss", "stuck", "note")
TeamStatus = Literal["active", "merged", "dissolved"]
ProposalStatus = Literal["open", "queued", "withdrawn"]
Verdict = Literal["approve", "revise", "reject"]
ItemStatus = Literal["pending", "claimed", "done", "failed", "aborted"]
# Statuses that make a (recipe hash, seed) pair "taken": a new enqueue of it is a duplicate.
LIVE_OR_RUN: tuple[str, ...] = ("pending", "claimed", "done")

# Author of what the coordination server itself writes (stagnation posts, lease expiry).
SYSTEM = "system"


class Record(BaseModel):
    """Base: frozen, and strict about unknown fields so schema drift is loud."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Run(Record):
    id: int
    name: str
    config: dict[str, Any] = Field(default_factory=dict)
    created_at: float


class Agent(Record):
    """A member of a run. Only the sha256 of its bearer token is ever stored."""

    id: int
    run_id: int
    name: str
    role: str
    team_id: int | None = None
    token_hash: str
    created_at: float


class Team(Record):
    id: int
    run_id: int
    name: str
    hypothesis: str
    strategy: str
    status: TeamStatus = "active"
    created_at: float


class Post(Record):
    """A forum message. ``author`` is an agent id as text, or ``"system"``."""

    id: int
    run_id: int
    thread_id: int | None = None
    team_id: int | None = None
    kind: PostKind
    title: str
    body: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    author: str
    created_at: float


class Proposal(Record):
    """A recipe someone wants run, with the hypothesis it tests."""

    id: int
    run_id: int
    team_id: int | None = None
    post_id: int | None = None
    title: str
    recipe: dict[str, Any]
    hypothesis: str
    expected_effect: float
    family: str
    canonical_hash: str
    status: ProposalStatus = "open"
    author: str
    created_at: float


class Critique(Record):
    id: int
    proposal_id: int
    verdict: Verdict
    reasons: str
    reopens_dead_end: int | None = None
    author: str
    created_at: float


class QueueItem(Record):
    """One (proposal, seed) job. ``recipe_hash`` is copied from the proposal for dedup."""

    id: int
    run_id: int
    proposal_id: int
    team_id: int | None = None
    recipe_hash: str
    seed: int
    status: ItemStatus = "pending"
    claimed_by: str | None = None
    lease_expires_at: float | None = None
    attempts: int = 0
    reason: str = ""
    created_at: float
    updated_at: float


class Result(Record):
    """What the judge measured for one queue item; written by the harness role only."""

    id: int
    run_id: int
    queue_item_id: int
    proposal_id: int
    recipe_hash: str
    seed: int
    split: str = "default"
    metric: str
    value: float
    higher_is_better: bool
    fold_scores: list[float] = Field(default_factory=list)
    ci_low: float | None = None
    ci_high: float | None = None
    duration_s: float = 0.0
    artifacts: dict[str, str] = Field(default_factory=dict)
    recorded_by: str
    created_at: float


class ChampionEntry(Record):
    """One promotion. The latest entry of a run is its champion."""

    id: int
    run_id: int
    result_id: int
    confirming_result_id: int
    recipe_hash: str
    metric: str
    value: float
    higher_is_better: bool
    previous_value: float | None = None
    noise_floor: float
    promoted_by: str
    created_at: float


class DeadEnd(Record):
    """A registered region of recipe space not worth re-running, and why."""

    id: int
    run_id: int
    team_id: int | None = None
    family: str
    region: dict[str, Any] = Field(default_factory=dict)
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    author: str
    created_at: float


class RunStats(Record):
    """Running state of the stagnation rule for one run, kept beside its results.

    ``best``: the running best value; ``last_good_id``: the last result that improved on it
    (names the stagnation episode); ``since_improved``: results since then;
    ``announced_id``: the episode whose stuck post was written; ``replayed`` False: not yet
    rebuilt from the run's results (a database upgraded from schema 1).
    """

    run_id: int
    best: float | None = None
    last_good_id: int | None = None
    since_improved: int = 0
    announced_id: int | None = None
    replayed: bool = True


class AuditEvent(Record):
    """One link of the tamper-evident log: ``hash = sha256(prev_hash + canonical(event))``."""

    seq: int
    run_id: int | None = None
    actor: str
    verb: str
    payload: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str
    hash: str
    created_at: float
