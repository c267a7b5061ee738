"""Pure rules of the hypothesis graph: no database, no clock, testable on plain records.

The Service (``service_graph``) calls them inside its write transaction with records it
just read, as it does ``protocol.py``'s rules for proposals.

Which ideas may run together: none sharing a diagnosis (or joined by ``same_diagnosis``),
none joined by ``alternative`` or ``confounds`` (their results could not be told apart),
and none that ``restates`` a running one (a second run of the same question). An idea
whose ``prerequisite`` has no result yet waits for it. ``conflicts``, ``cheap_probe_for``
and ``independent`` do not hold anything back: conflicting predictions are best tested
side by side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from autods.errors import Locked, ProtocolViolation, UserInputError
from autods.server.protocol import check_approved, latest_verdicts
from autods.state.graph_records import Idea, Relation, Ticket
from autods.state.records import Critique, Proposal

BLOCKING_KINDS = frozenset({"same_diagnosis", "alternative", "confounds", "restates"})
ENTRY_TIERS = ("NEXT", "LATER", "PARKED")  # where a new idea may start: NOW needs a critique first
ONE_DOWN = {"NOW": "NEXT", "NEXT": "LATER", "LATER": "PARKED", "PARKED": "PARKED"}
DEFAULT_WORKERS = 2  # LAUNCH.md's default ``workers``, for a run whose config does not say


class TicketsOpen(Locked):
    """New dispatch waits until every verdict ticket of the run is answered (HTTP 423)."""

    http_status = 423

    def __init__(self, run_id: int, tickets: Sequence[Ticket]) -> None:
        shown = ", ".join(f"ticket {k.id} (idea {k.idea_id}, result {k.result_id})" for k in tickets[:10])
        more = f" and {len(tickets) - 10} more" if len(tickets) > 10 else ""
        super().__init__("tickets_open", f"run {run_id} has {len(tickets)} open verdict ticket(s): {shown}{more}; "
                         "answer them (PROMOTE, HOLD, REVISE, DEMOTE or CUT, with a reason) before new work")
        self.tickets = list(tickets)


def required(value: str | None, name: str, why: str) -> str:
    """``value`` stripped; a missing or blank one is the caller's error (HTTP 400)."""
    text = (value or "").strip()
    if not text:
        raise UserInputError(f"{name} is required: {why}", f"send a non-empty {name}")
    return text


def now_capacity(config: Mapping[str, Any]) -> int:
    """NOW holds at most as many ideas as the run has workers (``runs.config['workers']``), or
    ``runs.config['now_slots']`` when the run sets it (1 for a sequential, single-agent run)."""
    slots = config.get("now_slots")
    if isinstance(slots, int) and not isinstance(slots, bool) and slots >= 1:
        return slots
    workers = config.get("workers")
    if isinstance(workers, int) and not isinstance(workers, bool) and workers >= 1:
        return workers
    return DEFAULT_WORKERS


def now_full(capacity: int, occupants: Sequence[Idea]) -> ProtocolViolation:
    listed = "; ".join(f"idea {i.id} {i.title!r}" for i in occupants)
    return ProtocolViolation(
        "now_full", f"NOW is full ({len(occupants)} of {capacity}, one per worker): {listed}; to add an idea, "
        "demote one of them by id or title, with a reason (demote=..., reason=...)")


def canonical_recipe(recipe: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """(canonical recipe, family, hash) as the server derives them, by :meth:`Recipe.parse`
    (defaults filled in); the proposer's labels play no part. A code experiment is the
    recipe ``{"family": "code", ...}`` of the registered code family. A recipe that does not
    parse is a ``RecipeError`` (HTTP 400) naming the fix."""
    from autods.runners.recipe import Recipe

    parsed = Recipe.parse(recipe)
    return parsed.canonical_dict(), parsed.family, parsed.canonical_hash()


def check_now_entry(idea: Idea, proposal: Proposal, critiques: Sequence[Critique], roles: Mapping[str, str]) -> None:
    """Critique before compute: an approving critique by another agent, no revise outstanding,
    and no validator's reject (final for this version). ``roles``: critic id -> role."""
    verdicts = latest_verdicts(critiques, proposal.author)
    revising = [c for c in verdicts.values() if c.verdict == "revise"]
    if revising:
        raise ProtocolViolation(
            "revise_pending", f"idea {idea.id} has a 'revise' critique by agent {revising[0].author} "
            f"({revising[0].reasons[:200]!r}); propose the revised idea (relate it with 'restates') instead")
    final = [c for c in verdicts.values() if c.verdict == "reject" and roles.get(c.author) == "validator"]
    if final:
        raise ProtocolViolation("rejected_final", f"idea {idea.id} was rejected by validator {final[0].author}: "
                                f"{final[0].reasons[:200]!r}; that verdict is final for this version")
    check_approved(proposal, critiques)


def _blocking_pair(a: int, b: int, relations: Iterable[Relation]) -> Relation | None:
    for r in relations:
        if r.kind in BLOCKING_KINDS and {r.src_id, r.dst_id} == {a, b}:
            return r
    return None


def why_not_together(idea: Idea, running: Sequence[Idea], relations: Sequence[Relation],
                     with_results: set[int]) -> str | None:
    """None when ``idea`` can honestly run beside ``running``; else the reason it cannot."""
    for other in running:
        if other.id == idea.id:
            continue
        if other.diagnosis_id == idea.diagnosis_id:
            return f"idea {other.id} is running on the same diagnosis {idea.diagnosis_id}"
        rel = _blocking_pair(idea.id, other.id, relations)
        if rel is not None:
            return f"idea {other.id} is running and {rel.kind} relates them (relation {rel.id}: {rel.reason[:120]})"
    for r in relations:
        if r.kind == "prerequisite" and r.dst_id == idea.id and r.src_id not in with_results:
            return f"its prerequisite idea {r.src_id} has no result yet (relation {r.id})"
    return None


def find_occupant(occupants: Sequence[Idea], name: str | int) -> Idea | None:
    """The NOW occupant called ``name``: its id, or its title (case-insensitive)."""
    text = str(name).strip()
    for i in occupants:
        if text == str(i.id) or text.lower() == i.title.strip().lower():
            return i
    return None


def dead_end_region(recipe: dict[str, Any]) -> dict[str, Any]:
    """The registry region a CUT idea closes: its whole recipe but the seed (seeds move only the model)."""
    return {k: v for k, v in recipe.items() if k not in ("family", "seed")}
