"""REST routes for the protocol's write verbs: one route per ``Service`` verb.

Handlers are ``async def`` and make one hop for the Service call and its JSON
(``respond.answer_write``, onto the write lane: one writer thread, a transaction per batch): the Store blocks on the database, so it stays off the event loop, which
serves the SSE stream and MCP. Each decorator declares the answer's model and
status; that declaration is both the OpenAPI contract and what ``answer_write`` serialises.
Role checks and protocol rules live in the Service; a refusal surfaces as 403 / 409
through the handlers in ``http_errors``. The routes add nothing but HTTP framing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from autods.server import models as m
from autods.server.auth import CurrentActor
from autods.server.http_errors import ERROR_RESPONSES
from autods.server.respond import answer_write
from autods.server.service import Actor, Service
from autods.state.records import (
    ChampionEntry,
    Critique,
    DeadEnd,
    Post,
    Proposal,
    QueueItem,
    Result,
    Run,
    Team,
)


router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)


def svc(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


@router.post("/runs", response_model=Run, status_code=201, tags=["runs"])
async def create_run(body: m.CreateRun, request: Request, actor: CurrentActor) -> Response:
    """Create a run (operator-level: the orchestrator role)."""
    return await answer_write(request, functools.partial(svc(request).create_run, actor=actor), body.name, body.config)


def _register(service: Service, actor: Actor, run_id: int, body: m.RegisterAgent) -> m.Registered:
    agent, token = service.register_agent(run_id, body.name, body.role, body.team_id, actor=actor)
    return m.Registered(agent=m.AgentOut.of(agent), token=token)


@router.post("/runs/{run_id}/agents", response_model=m.Registered, status_code=201, tags=["agents"])
async def register_agent(run_id: m.PathId, body: m.RegisterAgent, request: Request,
                         actor: CurrentActor) -> Response:
    """Register an agent (orchestrator only); the token in the answer is shown once."""
    return await answer_write(request, _register, svc(request), actor, run_id, body)


@router.post("/runs/{run_id}/teams", response_model=Team, status_code=201, tags=["teams"])
async def create_team(run_id: m.PathId, body: m.CreateTeam, request: Request, actor: CurrentActor) -> Response:
    return await answer_write(request, svc(request).create_team, actor, run_id, body.name, body.hypothesis,
                        body.strategy)


@router.post("/teams/{team_id}/status", response_model=Team, tags=["teams"])
async def set_team_status(team_id: m.PathId, body: m.SetTeamStatus, request: Request,
                          actor: CurrentActor) -> Response:
    """Merge or dissolve an active team."""
    return await answer_write(request, svc(request).set_team_status, actor, team_id, body.status)


@router.post("/runs/{run_id}/posts", response_model=Post, status_code=201, tags=["forum"])
async def post(run_id: m.PathId, body: m.NewPost, request: Request, actor: CurrentActor) -> Response:
    """Write to the forum (kind ``result`` is the harness's alone)."""
    return await answer_write(request, svc(request).post, actor, run_id, body.kind, body.title, body.body, body.data,
                        body.thread_id, body.team_id)


@router.post("/runs/{run_id}/proposals", response_model=Proposal, status_code=201, tags=["proposals"])
async def propose(run_id: m.PathId, body: m.NewProposal, request: Request, actor: CurrentActor) -> Response:
    """Propose a recipe; it opens a forum thread for its critiques. The server canonicalises
    the recipe and derives its family (a disagreeing ``family`` label is refused)."""
    return await answer_write(request, svc(request).propose, actor, run_id, body.recipe, body.hypothesis,
                        body.expected_effect, body.family, body.title, body.team_id, body.revises)


@router.post("/proposals/{proposal_id}/critiques", response_model=Critique, status_code=201,
             tags=["proposals"])
async def critique(proposal_id: m.PathId, body: m.NewCritique, request: Request, actor: CurrentActor) -> Response:
    """Critique another agent's proposal: approve, revise or reject, with reasons."""
    return await answer_write(request, svc(request).critique, actor, proposal_id, body.verdict, body.reasons,
                        body.reopens_dead_end)


@router.post("/proposals/{proposal_id}/enqueue", response_model=QueueItem, status_code=201, tags=["queue"])
async def enqueue(proposal_id: m.PathId, body: m.Enqueue, request: Request, actor: CurrentActor) -> Response:
    """Queue an approved proposal for one seed (refused: unapproved, duplicate, dead end)."""
    return await answer_write(request, svc(request).enqueue, actor, proposal_id, body.seed, body.team_id)


# The verbs a harness repeats in a loop. ``hotpath`` answers ordinary requests of these
# three routes without FastAPI's routing and dependency machinery; both paths call these.
def _claim(service: Service, actor: Actor, run_id: int, body: m.Claim) -> m.ClaimOut:
    return m.ClaimOut(item=service.claim(actor, run_id, body.team_id, body.lease_s))


def _heartbeat(service: Service, actor: Actor, item_id: int, body: m.Heartbeat) -> QueueItem:
    return service.heartbeat(actor, item_id, body.lease_s)


def _record_result(service: Service, actor: Actor, item_id: int, body: m.RecordResult) -> Result:
    return service.record_result(actor, item_id, body.metric, body.value, body.higher_is_better,
                                 body.fold_scores, body.ci_low, body.ci_high, body.duration_s,
                                 body.artifacts, body.split)


HOT_VERBS: dict[str, Callable[[Service, Actor, int, Any], Any]] = {
    "claim": _claim, "heartbeat": _heartbeat, "record_result": _record_result,
}


@router.post("/runs/{run_id}/claims", response_model=m.ClaimOut, tags=["queue"])
async def claim(run_id: m.PathId, body: m.Claim, request: Request, actor: CurrentActor) -> Response:
    """Claim the oldest pending item under a lease, exactly once; ``item`` null when none is pending."""
    return await answer_write(request, _claim, svc(request), actor, run_id, body)


@router.post("/queue/{item_id}/heartbeat", response_model=QueueItem, tags=["queue"])
async def heartbeat(item_id: m.PathId, body: m.Heartbeat, request: Request, actor: CurrentActor) -> Response:
    """Extend the lease on a claimed item."""
    return await answer_write(request, _heartbeat, svc(request), actor, item_id, body)


@router.post("/runs/{run_id}/release-expired", response_model=list[QueueItem], tags=["queue"])
async def release_expired(run_id: m.PathId, request: Request, actor: CurrentActor) -> Response:
    """Return expired claims to pending."""
    return await answer_write(request, svc(request).release_expired, actor, run_id)


@router.post("/queue/{item_id}/abort", response_model=QueueItem, tags=["queue"])
async def abort(item_id: m.PathId, body: m.Reason, request: Request, actor: CurrentActor) -> Response:
    """Abort a pending or claimed item: the owning team's, the monitor's or the orchestrator's."""
    return await answer_write(request, svc(request).abort, actor, item_id, body.reason)


@router.post("/queue/{item_id}/result", response_model=Result, status_code=201, tags=["results"])
async def record_result(item_id: m.PathId, body: m.RecordResult, request: Request,
                        actor: CurrentActor) -> Response:
    """Record the judge's measurement for a claimed item (harness only)."""
    return await answer_write(request, _record_result, svc(request), actor, item_id, body)


@router.post("/queue/{item_id}/failure", response_model=QueueItem, tags=["results"])
async def record_failure(item_id: m.PathId, body: m.Reason, request: Request, actor: CurrentActor) -> Response:
    """Mark a claimed item failed, keeping the reason (harness only)."""
    return await answer_write(request, svc(request).record_failure, actor, item_id, body.reason)


@router.post("/results/{result_id}/promote", response_model=ChampionEntry, status_code=201,
             tags=["results"])
async def promote(result_id: m.PathId, body: m.Promote, request: Request, actor: CurrentActor) -> Response:
    """Promote a confirmed result that beats the champion by more than the noise floor."""
    return await answer_write(request, svc(request).promote, actor, result_id, body.confirming_result_id)


@router.post("/runs/{run_id}/dead-ends", response_model=DeadEnd, status_code=201, tags=["dead ends"])
async def add_dead_end(run_id: m.PathId, body: m.NewDeadEnd, request: Request, actor: CurrentActor) -> Response:
    """Register a region of recipe space not worth re-running, with the reason."""
    return await answer_write(request, svc(request).add_dead_end, actor, run_id, body.family, body.region,
                        body.reason, body.evidence, body.team_id)
