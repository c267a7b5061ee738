"""REST routes for readers: runs, forum, proposals with critiques, queues, results, the
champion, dead ends, guardrail findings, events (polled or streamed) and the board snapshot.

Like the write routes, each is ``async def`` with one thread-pool hop (``respond.answer``)
in which the Service reads and the answer is serialised as the decorator declares it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from autods.server import models as m
from autods.server.auth import CurrentActor, StreamActor
from autods.server.http_errors import ERROR_RESPONSES
from autods.server.respond import answer, json_bytes
from autods.server.routes_write import svc
from autods.server.service import Actor, Service
from autods.state import graph_roles, roles
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
async def me(request: Request, actor: CurrentActor) -> Response:
    """Who the token stands for, and which verbs its role allows."""
    # the graph verbs are granted from their own table (state/graph_roles.py): list both
    verbs = sorted(roles.ROLES.get(actor.role, frozenset()) | graph_roles.GRAPH_ROLES.get(actor.role, frozenset()))
    return json_bytes(request, m.Me(agent_id=actor.agent_id, role=actor.role, run_id=actor.run_id,
                                    name=actor.name, verbs=verbs))


@router.get("/runs", response_model=list[Run], tags=["runs"])
async def list_runs(request: Request, actor: CurrentActor) -> Response:
    return await answer(request, svc(request).list_runs, actor)


@router.get("/runs/{run_id}", response_model=Run, tags=["runs"])
async def get_run(run_id: m.PathId, request: Request, actor: CurrentActor) -> Response:
    return await answer(request, svc(request).get_run, actor, run_id)


def _agents(service: Service, actor: Actor, run_id: int) -> list[m.AgentOut]:
    return [m.AgentOut.of(a) for a in service.list_agents(actor, run_id)]


@router.get("/runs/{run_id}/agents", response_model=list[m.AgentOut], tags=["agents"])
async def list_agents(run_id: m.PathId, request: Request, actor: CurrentActor) -> Response:
    return await answer(request, _agents, svc(request), actor, run_id)


@router.get("/runs/{run_id}/teams", response_model=list[Team], tags=["teams"])
async def list_teams(run_id: m.PathId, request: Request, actor: CurrentActor) -> Response:
    return await answer(request, svc(request).list_teams, actor, run_id)


@router.get("/runs/{run_id}/posts", response_model=list[Post], tags=["forum"])
async def list_posts(run_id: m.PathId, request: Request, actor: CurrentActor, kind: PostKind | None = None,
                     thread_id: OptId = None, since_id: Since = 0) -> Response:
    """Forum posts in order; ``thread_id`` gives one thread, ``since_id`` only newer posts."""
    return await answer(request, svc(request).list_posts, actor, run_id, kind, thread_id, since_id)


def _with_critiques(service: Service, actor: Actor, run_id: int,
                    status: str | None = None) -> list[m.ProposalOut]:
    return [m.ProposalOut(proposal=p, critiques=service.list_critiques(actor, p.id))
            for p in service.list_proposals(actor, run_id, status)]


@router.get("/runs/{run_id}/proposals", response_model=list[m.ProposalOut], tags=["proposals"])
async def list_proposals(run_id: m.PathId, request: Request, actor: CurrentActor,
                         status: ProposalStatus | None = None) -> Response:
    """Proposals, each with its critiques."""
    return await answer(request, _with_critiques, svc(request), actor, run_id, status)


def _proposal(service: Service, actor: Actor, proposal_id: int) -> m.ProposalOut:
    return m.ProposalOut(proposal=service.get_proposal(actor, proposal_id),
                         critiques=service.list_critiques(actor, proposal_id))


@router.get("/proposals/{proposal_id}", response_model=m.ProposalOut, tags=["proposals"])
async def get_proposal(proposal_id: m.PathId, request: Request, actor: CurrentActor) -> Response:
    return await answer(request, _proposal, svc(request), actor, proposal_id)


@router.get("/runs/{run_id}/queue", response_model=list[QueueItem], tags=["queue"])
async def list_queue(run_id: m.PathId, request: Request, actor: CurrentActor, status: ItemStatus | None = None,
                     team_id: OptId = None) -> Response:
    """Queue items of the run (of one team with ``team_id``)."""
    return await answer(request, svc(request).list_queue, actor, run_id, status, team_id)


@router.get("/queue/{item_id}", response_model=QueueItem, tags=["queue"])
async def get_item(item_id: m.PathId, request: Request, actor: CurrentActor) -> Response:
    return await answer(request, svc(request).get_item, actor, item_id)


@router.get("/runs/{run_id}/results", response_model=list[Result], tags=["results"])
async def list_results(run_id: m.PathId, request: Request, actor: CurrentActor) -> Response:
    """The experiment log: every recorded result in order."""
    return await answer(request, svc(request).list_results, actor, run_id)


def _champion(service: Service, actor: Actor, run_id: int) -> m.ChampionOut:
    return m.ChampionOut(champion=service.champion(actor, run_id))


@router.get("/runs/{run_id}/champion", response_model=m.ChampionOut, tags=["results"])
async def champion(run_id: m.PathId, request: Request, actor: CurrentActor) -> Response:
    return await answer(request, _champion, svc(request), actor, run_id)


@router.get("/runs/{run_id}/champions", response_model=list[ChampionEntry], tags=["results"])
async def champion_history(run_id: m.PathId, request: Request, actor: CurrentActor) -> Response:
    """Every promotion in order: the champion trajectory."""
    return await answer(request, svc(request).champion_history, actor, run_id)


@router.get("/runs/{run_id}/dead-ends", response_model=list[DeadEnd], tags=["dead ends"])
async def list_dead_ends(run_id: m.PathId, request: Request, actor: CurrentActor) -> Response:
    return await answer(request, svc(request).list_dead_ends, actor, run_id)


@router.get("/runs/{run_id}/records", response_model=m.RunRecords, tags=["forum"])
async def run_records(run_id: m.PathId, request: Request, actor: CurrentActor) -> Response:
    """The task summary, design and noise floor from server state: the owning role's latest
    post of each (steward, biostatistician, orchestrator); other authors' posts never count."""
    return await answer(request, svc(request).run_records, actor, run_id)


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


def _findings(service: Service, actor: Actor, run_id: int) -> list[m.FindingOut]:
    return findings_of(service.list_posts(actor, run_id, "finding"))


@router.get("/runs/{run_id}/findings", response_model=list[m.FindingOut], tags=["forum"])
async def list_findings(run_id: m.PathId, request: Request, actor: CurrentActor) -> Response:
    """Guardrail findings posted by the data steward."""
    return await answer(request, _findings, svc(request), actor, run_id)


@router.get("/events", response_model=list[AuditEvent], tags=["events"])
async def events(request: Request, actor: CurrentActor, since: Since = 0, limit: Limit = 1000,
                 run_id: OptId = None) -> Response:
    """Audit events with ``seq > since``, in order: poll with the last ``seq`` you saw."""
    return await answer(request, svc(request).events, actor, since, limit, run_id)


def _verify(service: Service, actor: Actor) -> m.AuditOk:
    return m.AuditOk(ok=service.verify_audit_chain(actor))


@router.get("/audit/verify", response_model=m.AuditOk, tags=["events"])
async def verify_audit(request: Request, actor: CurrentActor) -> Response:
    """Recompute the audit hash chain: false means the log was tampered with."""
    return await answer(request, _verify, svc(request), actor)


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


def _board(service: Service, actor: Actor, run_id: int) -> m.Board:
    run = service.get_run(actor, run_id)
    # Taken before the snapshot is read, so the board's stream misses nothing written meanwhile.
    tail = service.last_event_seq(actor, run_id)
    posts = service.list_posts(actor, run_id)
    return m.Board(
        run=run, last_seq=tail, agents=_agents(service, actor, run_id),
        teams=service.list_teams(actor, run_id), posts=posts[-BOARD_POSTS:],
        proposals=_with_critiques(service, actor, run_id), queue=service.list_queue(actor, run_id),
        results=service.list_results(actor, run_id), champions=service.champion_history(actor, run_id),
        dead_ends=service.list_dead_ends(actor, run_id), findings=findings_of(posts),
    )


@router.get("/runs/{run_id}/board", response_model=m.Board, tags=["board"])
async def board(run_id: m.PathId, request: Request, actor: StreamActor) -> Response:
    """Everything the web board draws, in one round-trip."""
    return await answer(request, _board, svc(request), actor, run_id)
