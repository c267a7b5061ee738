"""REST routes for readers: runs, forum, proposals with critiques, queues, results, the
champion, dead ends, guardrail findings, events (polled or streamed) and the board snapshot.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from autods.server import models as m
from autods.server.auth import CurrentActor, StreamActor
from autods.server.http_errors import ERROR_RESPONSES
from autods.server.routes_write import svc
from autods.server.service import Actor, Service
from autods.state import roles
from autods.state.records import (
    AuditEvent,
    ChampionEntry,
    DeadEnd,
    ItemStatus,
    Post,
    PostKind,
    ProposalStatus,
    QueueItem,
    Result,
    Run,
    Team,
)

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)

Since = Annotated[int, Query(ge=0, le=2**62)]
Limit = Annotated[int, Query(ge=1, le=5_000)]
OptId = Annotated[int | None, Query(ge=1, le=2**62)]
BOARD_POSTS = 300  # the board shows the latest threads; older ones stay reachable via /posts


@router.get("/me", response_model=m.Me, tags=["agents"])
def me(actor: CurrentActor) -> m.Me:
    """Who the token stands for, and which verbs its role allows."""
    verbs = sorted(roles.ROLES.get(actor.role, frozenset()))
    return m.Me(agent_id=actor.agent_id, role=actor.role, run_id=actor.run_id, name=actor.name, verbs=verbs)


@router.get("/runs", response_model=list[Run], tags=["runs"])
def list_runs(request: Request, actor: CurrentActor) -> list[Run]:
    return svc(request).list_runs(actor)


@router.get("/runs/{run_id}", response_model=Run, tags=["runs"])
def get_run(run_id: m.PathId, request: Request, actor: CurrentActor) -> Run:
    return svc(request).get_run(actor, run_id)


@router.get("/runs/{run_id}/agents", response_model=list[m.AgentOut], tags=["agents"])
def list_agents(run_id: m.PathId, request: Request, actor: CurrentActor) -> list[m.AgentOut]:
    return [m.AgentOut.of(a) for a in svc(request).list_agents(actor, run_id)]


@router.get("/runs/{run_id}/teams", response_model=list[Team], tags=["teams"])
def list_teams(run_id: m.PathId, request: Request, actor: CurrentActor) -> list[Team]:
    return svc(request).list_teams(actor, run_id)


@router.get("/runs/{run_id}/posts", response_model=list[Post], tags=["forum"])
def list_posts(run_id: m.PathId, request: Request, actor: CurrentActor, kind: PostKind | None = None,
               thread_id: OptId = None, since_id: Since = 0) -> list[Post]:
    """Forum posts in order; ``thread_id`` gives one thread, ``since_id`` only newer posts."""
    return svc(request).list_posts(actor, run_id, kind, thread_id, since_id)


def _with_critiques(service: Service, actor: Actor, run_id: int,
                    status: str | None = None) -> list[m.ProposalOut]:
    return [m.ProposalOut(proposal=p, critiques=service.list_critiques(actor, p.id))
            for p in service.list_proposals(actor, run_id, status)]


@router.get("/runs/{run_id}/proposals", response_model=list[m.ProposalOut], tags=["proposals"])
def list_proposals(run_id: m.PathId, request: Request, actor: CurrentActor,
                   status: ProposalStatus | None = None) -> list[m.ProposalOut]:
    """Proposals, each with its critiques."""
    return _with_critiques(svc(request), actor, run_id, status)


@router.get("/proposals/{proposal_id}", response_model=m.ProposalOut, tags=["proposals"])
def get_proposal(proposal_id: m.PathId, request: Request, actor: CurrentActor) -> m.ProposalOut:
    service = svc(request)
    return m.ProposalOut(proposal=service.get_proposal(actor, proposal_id),
                         critiques=service.list_critiques(actor, proposal_id))


@router.get("/runs/{run_id}/queue", response_model=list[QueueItem], tags=["queue"])
def list_queue(run_id: m.PathId, request: Request, actor: CurrentActor, status: ItemStatus | None = None,
               team_id: OptId = None) -> list[QueueItem]:
    """Queue items of the run (of one team with ``team_id``)."""
    return svc(request).list_queue(actor, run_id, status, team_id)


@router.get("/queue/{item_id}", response_model=QueueItem, tags=["queue"])
def get_item(item_id: m.PathId, request: Request, actor: CurrentActor) -> QueueItem:
    return svc(request).get_item(actor, item_id)


@router.get("/runs/{run_id}/results", response_model=list[Result], tags=["results"])
def list_results(run_id: m.PathId, request: Request, actor: CurrentActor) -> list[Result]:
    """The experiment log: every recorded result in order."""
    return svc(request).list_results(actor, run_id)


@router.get("/runs/{run_id}/champion", response_model=m.ChampionOut, tags=["results"])
def champion(run_id: m.PathId, request: Request, actor: CurrentActor) -> m.ChampionOut:
    return m.ChampionOut(champion=svc(request).champion(actor, run_id))


@router.get("/runs/{run_id}/champions", response_model=list[ChampionEntry], tags=["results"])
def champion_history(run_id: m.PathId, request: Request, actor: CurrentActor) -> list[ChampionEntry]:
    """Every promotion in order: the champion trajectory."""
    return svc(request).champion_history(actor, run_id)


@router.get("/runs/{run_id}/dead-ends", response_model=list[DeadEnd], tags=["dead ends"])
def list_dead_ends(run_id: m.PathId, request: Request, actor: CurrentActor) -> list[DeadEnd]:
    return svc(request).list_dead_ends(actor, run_id)


def findings_of(posts: list[Post]) -> list[m.FindingOut]:
    """Guardrail findings are ``finding`` posts whose data names a ``check``."""
    out = []
    for p in posts:
        d = p.data
        if p.kind == "finding" and isinstance(d.get("check"), str):
            out.append(m.FindingOut(post_id=p.id, check=d["check"], severity=str(d.get("severity", "info")),
                                    message=str(d.get("message") or p.title), advice=str(d.get("advice", "")),
                                    feature=d.get("feature") if isinstance(d.get("feature"), str) else None))
    return out


@router.get("/runs/{run_id}/findings", response_model=list[m.FindingOut], tags=["forum"])
def list_findings(run_id: m.PathId, request: Request, actor: CurrentActor) -> list[m.FindingOut]:
    """Guardrail findings posted by the data steward."""
    return findings_of(svc(request).list_posts(actor, run_id, "finding"))


@router.get("/events", response_model=list[AuditEvent], tags=["events"])
def events(request: Request, actor: CurrentActor, since: Since = 0, limit: Limit = 1000,
           run_id: OptId = None) -> list[AuditEvent]:
    """Audit events with ``seq > since``, in order: poll with the last ``seq`` you saw."""
    return svc(request).events(actor, since, limit, run_id)


@router.get("/audit/verify", response_model=m.AuditOk, tags=["events"])
def verify_audit(request: Request, actor: CurrentActor) -> m.AuditOk:
    """Recompute the audit hash chain: false means the log was tampered with."""
    return m.AuditOk(ok=svc(request).verify_audit_chain(actor))


@router.get("/events/stream", tags=["events"], response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}})
async def event_stream(request: Request, actor: StreamActor, since: Since = 0,
                       run_id: OptId = None) -> EventSourceResponse:
    """Server-sent events: one ``event`` message per audit event after ``since``; the SSE
    ``id`` is the seq, so a reconnecting browser resumes via ``Last-Event-ID``."""
    service: Service = request.app.state.service
    last = request.headers.get("last-event-id", "")
    cursor = int(last) if last.isdigit() else since
    # Check permission and run scope before the stream opens, so refusals are plain 403s.
    await run_in_threadpool(service.events, actor, cursor, 1, run_id)
    poll_s: float = request.app.state.sse_poll_s

    async def gen() -> AsyncIterator[ServerSentEvent]:
        nonlocal cursor
        while not await request.is_disconnected():
            batch = await run_in_threadpool(service.events, actor, cursor, 500, run_id)
            for ev in batch:
                cursor = ev.seq
                data = {"seq": ev.seq, "run_id": ev.run_id, "verb": ev.verb, "actor": ev.actor,
                        "created_at": ev.created_at}
                yield ServerSentEvent(data=json.dumps(data), event="event", id=str(ev.seq))
            if not batch:
                await asyncio.sleep(poll_s)

    return EventSourceResponse(gen(), ping=15)


@router.get("/runs/{run_id}/board", response_model=m.Board, tags=["board"])
def board(run_id: m.PathId, request: Request, actor: StreamActor) -> m.Board:
    """Everything the web board draws, in one round-trip."""
    service = svc(request)
    run = service.get_run(actor, run_id)
    tail = _last_seq(service, actor, run_id)
    posts = service.list_posts(actor, run_id)
    return m.Board(
        run=run, last_seq=tail, agents=[m.AgentOut.of(a) for a in service.list_agents(actor, run_id)],
        teams=service.list_teams(actor, run_id), posts=posts[-BOARD_POSTS:],
        proposals=_with_critiques(service, actor, run_id), queue=service.list_queue(actor, run_id),
        results=service.list_results(actor, run_id), champions=service.champion_history(actor, run_id),
        dead_ends=service.list_dead_ends(actor, run_id), findings=findings_of(posts),
    )


def _last_seq(service: Service, actor: Actor, run_id: int) -> int:
    """The newest event seq of a run, so the board's stream starts after its snapshot."""
    cursor, step = 0, 5_000
    while True:
        batch: list[Any] = service.events(actor, cursor, step, run_id)
        if len(batch) < step:
            return batch[-1].seq if batch else cursor
        cursor = batch[-1].seq
