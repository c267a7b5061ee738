"""Request and response bodies of the REST API (the records themselves are responses too).

Requests forbid unknown fields so a misspelt argument from an agent is a 422 naming it,
not a silently ignored default. Sizes are bounded so one bad client cannot fill the store.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from autods.state.records import (
    Agent,
    ChampionEntry,
    Critique,
    DeadEnd,
    Post,
    PostKind,
    Proposal,
    QueueItem,
    Result,
    Run,
    Team,
    Verdict,
)

Text = Field(min_length=1, max_length=20_000)
OptText = Field(default="", max_length=20_000)
Name = Field(min_length=1, max_length=200)
OptId = Field(default=None, ge=1, le=2**62)
Lease = Field(default=300.0, gt=0, le=86_400)
FiniteFloat = Field(allow_inf_nan=False)
# Ids in paths are bounded so an absurd integer is a 422, not a database overflow (500).
PathId = Annotated[int, Path(ge=1, le=2**62)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateRun(Body):
    name: str = Name
    config: dict[str, Any] = Field(default_factory=dict)


class RegisterAgent(Body):
    name: str = Name
    role: str = Field(min_length=1, max_length=40, examples=["analyst"])
    team_id: int | None = OptId


class CreateTeam(Body):
    name: str = Name
    hypothesis: str = Text
    strategy: str = Text


class SetTeamStatus(Body):
    status: Literal["merged", "dissolved"]


class NewPost(Body):
    kind: PostKind
    title: str = Field(min_length=1, max_length=500)
    body: str = OptText
    data: dict[str, Any] = Field(default_factory=dict)
    thread_id: int | None = OptId
    team_id: int | None = OptId


class NewProposal(Body):
    """``family`` is optional: the server derives it from the recipe and refuses a label that
    disagrees. ``revises`` names the proposal this one revises (after a ``revise`` critique)."""

    recipe: dict[str, Any]
    hypothesis: str = Text
    expected_effect: float = FiniteFloat
    family: str | None = Field(default=None, min_length=1, max_length=200)
    title: str = Field(default="", max_length=500)
    team_id: int | None = OptId
    revises: int | None = OptId


class NewCritique(Body):
    verdict: Verdict
    reasons: str = OptText
    reopens_dead_end: int | None = OptId


class Enqueue(Body):
    seed: int = Field(default=0, ge=0, le=2**31)
    team_id: int | None = OptId


class Claim(Body):
    team_id: int | None = OptId
    lease_s: float = Lease


class Heartbeat(Body):
    lease_s: float = Lease


class Reason(Body):
    reason: str = Field(default="", max_length=5_000)


class RecordResult(Body):
    metric: str = Field(min_length=1, max_length=40)
    value: float = FiniteFloat
    higher_is_better: bool
    fold_scores: list[float] = Field(default_factory=list, max_length=1_000)
    ci_low: float | None = Field(default=None, allow_inf_nan=False)
    ci_high: float | None = Field(default=None, allow_inf_nan=False)
    duration_s: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    artifacts: dict[str, str] = Field(default_factory=dict)
    split: str = Field(default="default", min_length=1, max_length=100)


class Promote(Body):
    confirming_result_id: int | None = OptId


class NewDeadEnd(Body):
    family: str = Name
    region: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(min_length=1, max_length=5_000)
    evidence: dict[str, Any] = Field(default_factory=dict)
    team_id: int | None = OptId


# -- responses ----------------------------------------------------------------------------


class AgentOut(BaseModel):
    """An agent as others see it: never its token hash."""

    id: int
    run_id: int
    name: str
    role: str
    team_id: int | None = None
    created_at: float

    @classmethod
    def of(cls, agent: Agent) -> AgentOut:
        return cls(**agent.model_dump(exclude={"token_hash"}))


class Registered(BaseModel):
    """The new agent and its bearer token: shown once, only its sha256 is stored."""

    agent: AgentOut
    token: str


class Me(BaseModel):
    agent_id: int | None
    role: str
    run_id: int | None
    name: str
    verbs: list[str]


class ClaimOut(BaseModel):
    """``item`` is null when nothing is pending: poll again later."""

    item: QueueItem | None


class ChampionOut(BaseModel):
    champion: ChampionEntry | None


class ProposalOut(BaseModel):
    proposal: Proposal
    critiques: list[Critique]


class FindingOut(BaseModel):
    """A guardrail finding as the steward posted it (``kind: finding`` with a ``check``)."""

    post_id: int
    check: str
    severity: str
    message: str
    feature: str | None = None
    advice: str = ""


class OwnedRecord(BaseModel):
    """One record the critics act on, from the post of its owning role that carries it."""

    post_id: int
    author: str
    role: str
    value: dict[str, Any]


class RunRecords(BaseModel):
    """The run's owned records, from server state: the steward's task summary, the
    biostatistician's design and the orchestrator's noise floor (null until posted).
    A post by any other role never fills them."""

    steward_summary: OwnedRecord | None = None
    design: OwnedRecord | None = None
    noise_floor: OwnedRecord | None = None


class AuditOk(BaseModel):
    ok: bool


class Board(BaseModel):
    """Everything the web board draws, in one request: posts, schemas and aggregates only."""

    run: Run
    last_seq: int
    agents: list[AgentOut]
    teams: list[Team]
    posts: list[Post]
    proposals: list[ProposalOut]
    queue: list[QueueItem]
    results: list[Result]
    champions: list[ChampionEntry]
    dead_ends: list[DeadEnd]
    findings: list[FindingOut]
