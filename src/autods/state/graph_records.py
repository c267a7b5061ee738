"""Records of the hypothesis graph (schema 4): diagnoses, ideas, relations, verdict tickets.

The seed's vocabulary stays: an **idea is a proposal** with the graph's facts added (same
id, same critiques, same queue items and results; ``ideas.id`` is the proposal's id), a
dead end is the registry row a CUT writes, and a team's queue is NOW filtered by team.
We extended the proposal by a one-to-one table instead of new proposal columns so the
proposal record, its REST/MCP shape and its audit payload stay exactly what today's
agents read; a proposal without an ``ideas`` row is a plain proposal, as before.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from autods.state.records import ProposalStatus, QueueItem, Record

DiagnosisStatus = Literal["open", "supported", "refuted", "merged"]
DIAGNOSIS_STATUSES: tuple[str, ...] = ("open", "supported", "refuted", "merged")
Tier = Literal["NOW", "NEXT", "LATER", "PARKED", "CUT"]
TIERS: tuple[str, ...] = ("NOW", "NEXT", "LATER", "PARKED", "CUT")
RelationKind = Literal["same_diagnosis", "alternative", "restates", "conflicts", "confounds", "prerequisite",
                       "cheap_probe_for", "independent"]
RELATION_KINDS: tuple[str, ...] = ("same_diagnosis", "alternative", "restates", "conflicts", "confounds",
                                   "prerequisite", "cheap_probe_for", "independent")
TicketAnswer = Literal["PROMOTE", "HOLD", "REVISE", "DEMOTE", "CUT"]
TICKET_ANSWERS: tuple[str, ...] = ("PROMOTE", "HOLD", "REVISE", "DEMOTE", "CUT")
TicketStatus = Literal["open", "answered"]


class Diagnosis(Record):
    """What limits the metric, and the evidence for it (finding post ids, result ids)."""

    id: int
    run_id: int
    claim: str
    finding_ids: list[int] = Field(default_factory=list)
    result_ids: list[int] = Field(default_factory=list)
    status: DiagnosisStatus = "open"
    status_reason: str = ""
    merged_into: int | None = None
    author: str
    created_at: float


class Idea(Record):
    """A proposal that hangs off one diagnosis and says, before it runs, what its outcome means.

    The first block of fields is the proposal's own (``recipe`` canonical, ``family`` derived
    from it by the server). ``effect_evidence``: ``{basis, result_ids, finding_ids}``, where
    the expected effect comes from. ``dead_end_id``: the registry row while the idea is CUT.
    """

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
    diagnosis_id: int
    if_works: str
    if_fails: str
    surprise_if: str = ""
    effect_evidence: dict[str, Any] = Field(default_factory=dict)
    tier: Tier
    tier_reason: str = ""
    resurrect_if: str = ""
    dead_end_id: int | None = None
    tier_changed_at: float


class Relation(Record):
    """``src`` <kind> ``dst`` between two ideas of a run, with the reason someone gave."""

    id: int
    run_id: int
    src_id: int
    dst_id: int
    kind: RelationKind
    reason: str
    author: str
    created_at: float


class Ticket(Record):
    """A verdict owed on ``idea_id`` because ``result_id`` touched it; new dispatch waits for it."""

    id: int
    run_id: int
    idea_id: int
    result_id: int
    status: TicketStatus = "open"
    answer: TicketAnswer | None = None
    reason: str = ""
    answered_by: str | None = None
    answered_at: float | None = None
    created_at: float


# -- what the graph's verbs answer ----------------------------------------------------------


class TierChange(Record):
    """A tier move: the idea as it is now, the NOW occupant it displaced (if any), and the
    queue items a CUT aborted."""

    idea: Idea
    demoted: Idea | None = None
    aborted: list[QueueItem] = Field(default_factory=list)


class TicketAnswered(Record):
    ticket: Ticket
    idea: Idea
    demoted: Idea | None = None
    aborted: list[QueueItem] = Field(default_factory=list)


class Skipped(Record):
    """A NOW idea dispatch did not hand out, and why (``rule`` names the rule that held it)."""

    idea_id: int
    rule: str
    reason: str


class Dispatched(Record):
    items: list[QueueItem] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)


class GraphView(Record):
    """The whole graph of a run in one read (the board, the report, an agent catching up)."""

    run_id: int
    now_capacity: int
    diagnoses: list[Diagnosis]
    ideas: list[Idea]
    relations: list[Relation]
    tickets: list[Ticket]
