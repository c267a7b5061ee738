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


Action = Annotated[
    Union[Propose, Critique, Enqueue, Claim, Post, MarkDeadEnd, FormTeam, SetTeamStatus, Abort, Promote, Wait],
    Field(discriminator="kind"),
]

ACTION_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)

ACTION_KINDS: tuple[str, ...] = (
    "propose", "critique", "enqueue", "claim", "post", "mark_dead_end", "form_team",
    "set_team_status", "abort", "promote", "wait",
)


def parse_action(obj: Any) -> Action:
    """Validate a dict or JSON string into an Action (raises pydantic.ValidationError)."""
    if isinstance(obj, (str, bytes)):
        return ACTION_ADAPTER.validate_json(obj)
    return ACTION_ADAPTER.validate_python(obj)


def action_json_schema() -> dict[str, Any]:
    """The JSON Schema LLM brains are asked to follow (tool input / structured output)."""
    return ACTION_ADAPTER.json_schema()
