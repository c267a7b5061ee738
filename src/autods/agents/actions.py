"""The closed union of actions a brain may return. Validated before it reaches the server;
an invalid action goes back to the brain with the validation error."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rationale: str = Field(default="", max_length=2000, description="why, in one or two sentences")


class Propose(_Action):
    kind: Literal["propose"] = "propose"
    recipe: dict[str, Any]
    hypothesis: str = Field(min_length=1, max_length=1000)
    expected_effect: float = Field(description="expected change of the primary metric vs the champion")
    family: str
    title: str = ""
    team_id: int | None = None
    revises: int | None = Field(default=None, description="the proposal this revises after a 'revise' critique; "
                                "a revision must change the recipe")


class Critique(_Action):
    kind: Literal["critique"] = "critique"
    proposal_id: int
    verdict: Literal["approve", "revise", "reject"]
    reasons: list[str] = Field(min_length=1)
    reopens_dead_end: int | None = None


class Enqueue(_Action):
    kind: Literal["enqueue"] = "enqueue"
    proposal_id: int
    seed: int = 0
    team_id: int | None = None


class Claim(_Action):
    kind: Literal["claim"] = "claim"
    team_id: int | None = None


class Post(_Action):
    kind: Literal["post"] = "post"
    post_kind: Literal["design", "finding", "proposal", "critique", "near-miss", "stuck", "note"] = "note"
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=8000)
    thread_id: int | None = None
    team_id: int | None = None


class MarkDeadEnd(_Action):
    kind: Literal["mark_dead_end"] = "mark_dead_end"
    family: str
    region: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(min_length=1)
    evidence: dict[str, Any] = Field(default_factory=dict)
    team_id: int | None = None


class FormTeam(_Action):
    kind: Literal["form_team"] = "form_team"
    name: str
    hypothesis: str
    strategy: str


class SetTeamStatus(_Action):
    kind: Literal["set_team_status"] = "set_team_status"
    team_id: int
    status: Literal["active", "merged", "dissolved"]


class Abort(_Action):
    kind: Literal["abort"] = "abort"
    item_id: int
    reason: str = Field(min_length=1)


class Promote(_Action):
    kind: Literal["promote"] = "promote"
    result_id: int
    confirming_result_id: int | None = None


class Wait(_Action):
    """Nothing useful to do now (e.g. waiting for results)."""

    kind: Literal["wait"] = "wait"


# -- the hypothesis graph (issue 14): diagnoses, ideas, relations, tiers, verdict tickets ---------

GraphTier = Literal["NOW", "NEXT", "LATER", "PARKED", "CUT"]
RelationKindName = Literal["same_diagnosis", "alternative", "restates", "conflicts", "confounds", "prerequisite",
                           "cheap_probe_for", "independent"]


class Diagnose(_Action):
    """State what limits the metric, citing finding posts and results (the server checks they exist)."""

    kind: Literal["diagnose"] = "diagnose"
    claim: str = Field(min_length=1, max_length=2000)
    finding_ids: list[int] = Field(default_factory=list, max_length=200)
    result_ids: list[int] = Field(default_factory=list, max_length=200)


class ProposeIdea(_Action):
    """A proposal hanging off one diagnosis that says, before it runs, what each outcome means."""

    kind: Literal["propose_idea"] = "propose_idea"
    diagnosis_id: int
    recipe: dict[str, Any]
    hypothesis: str = Field(min_length=1, max_length=1000)
    if_works: str = Field(min_length=1, max_length=2000)
    if_fails: str = Field(min_length=1, max_length=2000)
    surprise_if: str = Field(default="", max_length=2000, description="required before the idea may enter NOW")
    expected_effect: float = Field(description="expected change of the primary metric vs the champion")
    effect_basis: str = Field(min_length=1, max_length=2000, description="the evidence the expected effect comes from")
    effect_result_ids: list[int] = Field(default_factory=list, max_length=200)
    title: str = Field(default="", max_length=200)
    team_id: int | None = None


class SetTier(_Action):
    """Move an idea between NOW / NEXT / LATER / PARKED / CUT; a full NOW needs ``demote`` (an occupant's id or title)."""

    kind: Literal["set_tier"] = "set_tier"
    idea_id: int
    tier: GraphTier
    reason: str = Field(min_length=1, max_length=2000)
    demote: int | str | None = None
    resurrect_if: str | None = Field(default=None, max_length=2000, description="required for CUT")
    surprise_if: str | None = Field(default=None, max_length=2000)


class Relate(_Action):
    kind: Literal["relate"] = "relate"
    src_id: int
    dst_id: int
    relation: RelationKindName
    reason: str = Field(min_length=1, max_length=2000)


class TicketVerdict(BaseModel):
    """One verdict ticket's answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ticket_id: int
    answer: Literal["PROMOTE", "HOLD", "REVISE", "DEMOTE", "CUT"]
    reason: str = Field(min_length=1, max_length=2000)
    resurrect_if: str | None = Field(default=None, max_length=2000, description="required for CUT")
    demote: int | str | None = None


class AnswerTicket(_Action):
    """Answer open verdict tickets (new work waits for them), each with a reason."""

    kind: Literal["answer_ticket"] = "answer_ticket"
    answers: list[TicketVerdict] = Field(min_length=1, max_length=100)


class Dispatch(_Action):
    """Queue the NOW ideas (of ``team_id``) that can honestly run together, one item per seed."""

    kind: Literal["dispatch"] = "dispatch"
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, max_length=5)
    team_id: int | None = None


Action = Annotated[
    Union[Propose, Critique, Enqueue, Claim, Post, MarkDeadEnd, FormTeam, SetTeamStatus, Abort, Promote, Wait,
          Diagnose, ProposeIdea, SetTier, Relate, AnswerTicket, Dispatch],
    Field(discriminator="kind"),
]

ACTION_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)

ACTION_KINDS: tuple[str, ...] = (
    "propose", "critique", "enqueue", "claim", "post", "mark_dead_end", "form_team",
    "set_team_status", "abort", "promote", "wait",
    "diagnose", "propose_idea", "set_tier", "relate", "answer_ticket", "dispatch",
)


def parse_action(obj: Any) -> Action:
    """Validate a dict or JSON string into an Action (raises pydantic.ValidationError)."""
    if isinstance(obj, (str, bytes)):
        return ACTION_ADAPTER.validate_json(obj)
    return ACTION_ADAPTER.validate_python(obj)


def action_json_schema() -> dict[str, Any]:
    """The JSON Schema LLM brains are asked to follow (tool input / structured output)."""
    return ACTION_ADAPTER.json_schema()
