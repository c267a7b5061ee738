"""REST routes for the protocol's write verbs: one route per ``Service`` verb.

Handlers are plain ``def``: the Store blocks on the database, so FastAPI runs them in its
thread pool and the event loop stays free for the SSE stream and MCP. Role checks and
protocol rules live in the Service; a refusal surfaces as 403 / 409 through the handlers
in ``http_errors``. The routes add nothing but HTTP framing.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from autods.server import models as m
from autods.server.auth import CurrentActor
from autods.server.http_errors import ERROR_RESPONSES
from autods.server.service import Service
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
def create_run(body: m.CreateRun, request: Request, actor: CurrentActor) -> Run:
    """Create a run (operator-level: the orchestrator role)."""
    return svc(request).create_run(body.name, body.config, actor=actor)


@router.post("/runs/{run_id}/agents", response_model=m.Registered, status_code=201, tags=["agents"])
def register_agent(run_id: m.PathId, body: m.RegisterAgent, request: Request, actor: CurrentActor) -> m.Registered:
    """Register an agent (orchestrator only); the token in the answer is shown once."""
    agent, token = svc(request).register_agent(run_id, body.name, body.role, body.team_id, actor=actor)
    return m.Registered(agent=m.AgentOut.of(agent), token=token)


@router.post("/runs/{run_id}/teams", response_model=Team, status_code=201, tags=["teams"])
def create_team(run_id: m.PathId, body: m.CreateTeam, request: Request, actor: CurrentActor) -> Team:
    return svc(request).create_team(actor, run_id, body.name, body.hypothesis, body.strategy)


@router.post("/teams/{team_id}/status", response_model=Team, tags=["teams"])
def set_team_status(team_id: m.PathId, body: m.SetTeamStatus, request: Request, actor: CurrentActor) -> Team:
    """Merge or dissolve an active team."""
    return svc(request).set_team_status(actor, team_id, body.status)


@router.post("/runs/{run_id}/posts", response_model=Post, status_code=201, tags=["forum"])
def post(run_id: m.PathId, body: m.NewPost, request: Request, actor: CurrentActor) -> Post:
    """Write to the forum (kind ``result`` is the harness's alone)."""
    return svc(request).post(actor, run_id, body.kind, body.title, body.body, body.data,
                             body.thread_id, body.team_id)


@router.post("/runs/{run_id}/proposals", response_model=Proposal, status_code=201, tags=["proposals"])
def propose(run_id: m.PathId, body: m.NewProposal, request: Request, actor: CurrentActor) -> Proposal:
    """Propose a recipe; it opens a forum thread for its critiques."""
    return svc(request).propose(actor, run_id, body.recipe, body.hypothesis, body.expected_effect,
                                body.family, body.title, body.team_id)


@router.post("/proposals/{proposal_id}/critiques", response_model=Critique, status_code=201,
             tags=["proposals"])
def critique(proposal_id: m.PathId, body: m.NewCritique, request: Request, actor: CurrentActor) -> Critique:
    """Critique another agent's proposal: approve, revise or reject, with reasons."""
    return svc(request).critique(actor, proposal_id, body.verdict, body.reasons, body.reopens_dead_end)


@router.post("/proposals/{proposal_id}/enqueue", response_model=QueueItem, status_code=201, tags=["queue"])
def enqueue(proposal_id: m.PathId, body: m.Enqueue, request: Request, actor: CurrentActor) -> QueueItem:
    """Queue an approved proposal for one seed (refused: unapproved, duplicate, dead end)."""
    return svc(request).enqueue(actor, proposal_id, body.seed, body.team_id)


@router.post("/runs/{run_id}/claims", response_model=m.ClaimOut, tags=["queue"])
def claim(run_id: m.PathId, body: m.Claim, request: Request, actor: CurrentActor) -> m.ClaimOut:
    """Claim the oldest pending item under a lease, exactly once; ``item`` null when none is pending."""
    return m.ClaimOut(item=svc(request).claim(actor, run_id, body.team_id, body.lease_s))


@router.post("/queue/{item_id}/heartbeat", response_model=QueueItem, tags=["queue"])
def heartbeat(item_id: m.PathId, body: m.Heartbeat, request: Request, actor: CurrentActor) -> QueueItem:
    """Extend the lease on a claimed item."""
    return svc(request).heartbeat(actor, item_id, body.lease_s)


@router.post("/runs/{run_id}/release-expired", response_model=list[QueueItem], tags=["queue"])
def release_expired(run_id: m.PathId, request: Request, actor: CurrentActor) -> list[QueueItem]:
    """Return expired claims to pending."""
    return svc(request).release_expired(actor, run_id)


@router.post("/queue/{item_id}/abort", response_model=QueueItem, tags=["queue"])
def abort(item_id: m.PathId, body: m.Reason, request: Request, actor: CurrentActor) -> QueueItem:
    """Abort a pending or claimed item."""
    return svc(request).abort(actor, item_id, body.reason)


@router.post("/queue/{item_id}/result", response_model=Result, status_code=201, tags=["results"])
def record_result(item_id: m.PathId, body: m.RecordResult, request: Request, actor: CurrentActor) -> Result:
    """Record the judge's measurement for a claimed item (harness only)."""
    return svc(request).record_result(
        actor, item_id, body.metric, body.value, body.higher_is_better, body.fold_scores,
        body.ci_low, body.ci_high, body.duration_s, body.artifacts, body.split,
    )


@router.post("/queue/{item_id}/failure", response_model=QueueItem, tags=["results"])
def record_failure(item_id: m.PathId, body: m.Reason, request: Request, actor: CurrentActor) -> QueueItem:
    """Mark a claimed item failed, keeping the reason (harness only)."""
    return svc(request).record_failure(actor, item_id, body.reason)


@router.post("/results/{result_id}/promote", response_model=ChampionEntry, status_code=201,
             tags=["results"])
def promote(result_id: m.PathId, body: m.Promote, request: Request, actor: CurrentActor) -> ChampionEntry:
    """Promote a confirmed result that beats the champion by more than the noise floor."""
    return svc(request).promote(actor, result_id, body.confirming_result_id)


@router.post("/runs/{run_id}/dead-ends", response_model=DeadEnd, status_code=201, tags=["dead ends"])
def add_dead_end(run_id: m.PathId, body: m.NewDeadEnd, request: Request, actor: CurrentActor) -> DeadEnd:
    """Register a region of recipe space not worth re-running, with the reason."""
    return svc(request).add_dead_end(actor, run_id, body.family, body.region, body.reason,
                                     body.evidence, body.team_id)
