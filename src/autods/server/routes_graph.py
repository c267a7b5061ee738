"""REST routes of the hypothesis graph: diagnoses, ideas, relations, tiers, dispatch, tickets.

Like ``routes_write`` / ``routes_read``: ``async def`` handlers with one hop (the write lane
for writes, the thread pool for reads) and the answer serialised as the decorator declares.
Refusals: 400 missing required text or a bad recipe, 403 role, 404 unknown id, 409 a graph
rule (``rule`` names it: ``now_full`` lists NOW's occupants), 423 while verdict tickets are
open (``rule: tickets_open``). :func:`install` adds the routes and the 423 handler to the app.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from autods.server import models_graph as g
from autods.server.auth import CurrentActor
from autods.server.graph_protocol import TicketsOpen
from autods.server.http_errors import ERROR_RESPONSES, ErrorResponse, error_json
from autods.server.models import PathId
from autods.server.respond import answer, answer_write
from autods.server.routes_write import svc
from autods.state.graph_records import (
    Diagnosis, Dispatched, GraphView, Idea, Relation, Ticket, TicketAnswered, TicketStatus, Tier, TierChange,
)

LOCKED = {423: {"model": ErrorResponse, "description": "locked: verdict tickets are open"}}
router = APIRouter(prefix="/api", responses={**ERROR_RESPONSES, **LOCKED}, tags=["graph"])
OptId = Annotated[int | None, Query(ge=1, le=2**62)]


@router.post("/runs/{run_id}/diagnoses", response_model=Diagnosis, status_code=201)
async def add_diagnosis(run_id: PathId, body: g.NewDiagnosis, request: Request, actor: CurrentActor) -> Response:
    """State what limits the metric, citing finding posts and results."""
    return await answer_write(request, svc(request).add_diagnosis, actor, run_id, body.claim, body.finding_ids,
                              body.result_ids)


@router.post("/diagnoses/{diagnosis_id}/status", response_model=Diagnosis)
async def set_diagnosis_status(diagnosis_id: PathId, body: g.SetDiagnosisStatus, request: Request,
                               actor: CurrentActor) -> Response:
    return await answer_write(request, svc(request).set_diagnosis_status, actor, diagnosis_id, body.status,
                              body.reason, body.merged_into)


@router.get("/runs/{run_id}/diagnoses", response_model=list[Diagnosis])
async def list_diagnoses(run_id: PathId, request: Request, actor: CurrentActor) -> Response:
    return await answer(request, svc(request).list_diagnoses, actor, run_id)


@router.post("/runs/{run_id}/ideas", response_model=Idea, status_code=201)
async def propose_idea(run_id: PathId, body: g.NewIdea, request: Request, actor: CurrentActor) -> Response:
    """Propose an idea on a diagnosis; ``if_works`` and ``if_fails`` are required (400)."""
    return await answer_write(request, svc(request).propose_idea, actor, run_id, body.diagnosis_id, body.recipe,
                              body.hypothesis, body.if_works, body.if_fails, body.expected_effect, body.effect_basis,
                              body.effect_result_ids, body.surprise_if, body.tier, body.title, body.team_id)


@router.get("/runs/{run_id}/ideas", response_model=list[Idea])
async def list_ideas(run_id: PathId, request: Request, actor: CurrentActor, tier: Tier | None = None,
                     team_id: OptId = None, diagnosis_id: OptId = None) -> Response:
    """Ideas of the run; a team's queue is ``tier=NOW&team_id=...``."""
    return await answer(request, svc(request).list_ideas, actor, run_id, tier, team_id, diagnosis_id)


@router.get("/ideas/{idea_id}", response_model=Idea)
async def get_idea(idea_id: PathId, request: Request, actor: CurrentActor) -> Response:
    return await answer(request, svc(request).get_idea, actor, idea_id)


@router.post("/ideas/{idea_id}/tier", response_model=TierChange)
async def set_tier(idea_id: PathId, body: g.SetTier, request: Request, actor: CurrentActor) -> Response:
    """Move an idea between tiers; to NOW past a full NOW, ``demote`` one occupant by id or title."""
    return await answer_write(request, svc(request).set_tier, actor, idea_id, body.tier, body.reason, body.demote,
                              body.resurrect_if, body.surprise_if)


@router.post("/ideas/{idea_id}/relations", response_model=Relation, status_code=201)
async def relate(idea_id: PathId, body: g.NewRelation, request: Request, actor: CurrentActor) -> Response:
    """``idea_id`` <kind> ``dst_id``, with a reason."""
    return await answer_write(request, svc(request).relate, actor, idea_id, body.dst_id, body.kind, body.reason)


@router.get("/runs/{run_id}/relations", response_model=list[Relation])
async def list_relations(run_id: PathId, request: Request, actor: CurrentActor, idea_id: OptId = None) -> Response:
    return await answer(request, svc(request).list_relations, actor, run_id, idea_id)


@router.post("/runs/{run_id}/dispatch", response_model=Dispatched)
async def dispatch(run_id: PathId, body: g.Dispatch, request: Request, actor: CurrentActor) -> Response:
    """Queue the NOW ideas that can run together; the others are listed with the reason."""
    return await answer_write(request, svc(request).dispatch, actor, run_id, body.seeds, body.team_id)


@router.get("/runs/{run_id}/tickets", response_model=list[Ticket])
async def list_tickets(run_id: PathId, request: Request, actor: CurrentActor, status: TicketStatus | None = None,
                       idea_id: OptId = None) -> Response:
    return await answer(request, svc(request).list_tickets, actor, run_id, status, idea_id)


@router.post("/tickets/{ticket_id}/answer", response_model=TicketAnswered)
async def answer_ticket(ticket_id: PathId, body: g.AnswerTicket, request: Request, actor: CurrentActor) -> Response:
    """PROMOTE, HOLD, REVISE, DEMOTE or CUT, with a reason (CUT: and ``resurrect_if``)."""
    return await answer_write(request, svc(request).answer_ticket, actor, ticket_id, body.answer, body.reason,
                              body.resurrect_if, body.demote, body.surprise_if)


@router.get("/runs/{run_id}/graph", response_model=GraphView)
async def graph(run_id: PathId, request: Request, actor: CurrentActor) -> Response:
    """The whole graph of the run: diagnoses, ideas by tier, relations, tickets, NOW's capacity."""
    return await answer(request, svc(request).graph, actor, run_id)


async def _locked(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TicketsOpen)
    return error_json(423, "locked", exc.reason, exc.rule)


def install(app: FastAPI) -> None:
    """Add the graph's routes and its 423 answer (a handler for ``TicketsOpen``, which is more
    specific than the app's ProtocolViolation -> 409 handler)."""
    app.include_router(router)
    app.add_exception_handler(TicketsOpen, _locked)
