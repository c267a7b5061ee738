"""Request bodies of the hypothesis graph's REST routes (the graph records are the answers).

Text the protocol requires (``if_works``, ``if_fails``, reasons, ``resurrect_if``) defaults
to empty here on purpose: the Service refuses it blank with a 400 that names the field
and why it is required, the same answer over REST, MCP and in-process.
"""

from __future__ import annotations

from pydantic import Field

from autods.server.models import Body, FiniteFloat, OptId
from autods.state.graph_records import DiagnosisStatus, RelationKind, TicketAnswer, Tier

Ids = Field(default_factory=list, max_length=1_000)
Say = Field(default="", max_length=5_000)
Idish = int | str  # an idea named by its id or its title ("demote Y")


class NewDiagnosis(Body):
    claim: str = Field(min_length=1, max_length=5_000)
    finding_ids: list[int] = Ids
    result_ids: list[int] = Ids


class SetDiagnosisStatus(Body):
    status: DiagnosisStatus
    reason: str = Say
    merged_into: int | None = OptId


class NewIdea(Body):
    diagnosis_id: int = Field(ge=1, le=2**62)
    recipe: dict[str, object]
    hypothesis: str = Field(min_length=1, max_length=20_000)
    if_works: str = Say
    if_fails: str = Say
    expected_effect: float = FiniteFloat
    effect_basis: str = Say
    effect_result_ids: list[int] = Ids
    surprise_if: str = Say
    tier: Tier = "NEXT"
    title: str = Field(default="", max_length=500)
    team_id: int | None = OptId


class SetTier(Body):
    tier: Tier
    reason: str = Say
    demote: Idish | None = Field(default=None, examples=[12, "ridge on all features"])
    resurrect_if: str | None = Field(default=None, max_length=5_000)
    surprise_if: str | None = Field(default=None, max_length=5_000)


class NewRelation(Body):
    dst_id: int = Field(ge=1, le=2**62)
    kind: RelationKind
    reason: str = Say


class Dispatch(Body):
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, max_length=20)
    team_id: int | None = OptId


class AnswerTicket(Body):
    answer: TicketAnswer
    reason: str = Say
    resurrect_if: str | None = Field(default=None, max_length=5_000)
    demote: Idish | None = None
    surprise_if: str | None = Field(default=None, max_length=5_000)


__all__ = ["AnswerTicket", "Dispatch", "NewDiagnosis", "NewIdea", "NewRelation", "SetDiagnosisStatus", "SetTier"]
