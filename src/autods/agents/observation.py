"""What a brain sees: schemas, aggregates, findings and the shared state, never data rows.

An Observation is built by the step loop from the coordination client's answers and the
run's governance summary. Everything in it may leave the process (after the egress gate):
column names, kinds and missing fractions, metric values, recipes, forum posts.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ColumnSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    kind: str
    missing_fraction: float
    n_unique: int | None = None


class TaskSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    task_type: str
    endpoint: str
    metric: str
    higher_is_better: bool
    cv_strategy: str
    n_rows: int
    n_units: int
    n_events: int | None = None
    events_per_variable: float | None = None
    features: list[ColumnSummary] = Field(default_factory=list)
    excluded: list[dict[str, str]] = Field(default_factory=list)
    findings: list[dict[str, Any]] = Field(default_factory=list)
    subgroups: list[str] = Field(default_factory=list)
    confounders: list[str] = Field(default_factory=list)
    description: str = ""


class Observation(BaseModel):
    """One step's view for one agent. ``state`` holds the server's JSON answers as given."""

    model_config = ConfigDict(frozen=True)

    agent: str
    role: str
    team_id: int | None = None
    step: int
    phase: str  # discussion | execution | validation
    allowed_actions: list[str]
    task: TaskSummary
    budget_total: int
    budget_used: int
    noise_floor: float | None = None
    baseline: dict[str, Any] | None = None
    champion: dict[str, Any] | None = None
    results: list[dict[str, Any]] = Field(default_factory=list)
    proposals: list[dict[str, Any]] = Field(default_factory=list)
    queue: list[dict[str, Any]] = Field(default_factory=list)
    dead_ends: list[dict[str, Any]] = Field(default_factory=list)
    teams: list[dict[str, Any]] = Field(default_factory=list)
    posts: list[dict[str, Any]] = Field(default_factory=list)
    #: the hypothesis graph (issue 14): diagnoses, ideas (proposals with a tier, same ids),
    #: relations between ideas, and the verdict tickets still open (new work waits for them)
    diagnoses: list[dict[str, Any]] = Field(default_factory=list)
    ideas: list[dict[str, Any]] = Field(default_factory=list)
    relations: list[dict[str, Any]] = Field(default_factory=list)
    tickets: list[dict[str, Any]] = Field(default_factory=list)
    now_capacity: int = 2
    stagnating: bool = False
    feedback: str | None = None  # why the previous action was refused or invalid
    seed: int = 0
