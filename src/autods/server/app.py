"""The coordination server as one ASGI app: REST under ``/api``, MCP at ``/mcp``, the board at ``/``.

``create_app(service)`` is all a caller needs: ``serve`` runs it under uvicorn, tests drive
it in-process through ``httpx.ASGITransport`` (see ``client.Coordinator(app=...)``).

Every REST route is ``async def`` and makes one hop for its blocking Service call
(``respond``): reads into the thread pool, writes onto the write lane (``writer``: one
thread, a transaction per batch of queued writes); the verbs a harness repeats in a loop have a lane that skips FastAPI's
per-request machinery for ordinary requests (``hotpath``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from mcp.server.transport_security import TransportSecuritySettings
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from autods.server import board, routes_graph, routes_read, routes_write
from autods.server.auth import resolve_actor
from autods.server.hotpath import HotPath, lanes_for
from autods.server.http_errors import ApiError, error_json, install_error_handlers
from autods.server.mcp_server import build_mcp
from autods.server.service import Service
from autods.server.writer import MAX_BATCH, PG_MAX_BATCH, WriteLane

API_DESCRIPTION = """Coordination server of AutoDataScientists: the shared experimental state of a run,
with the protocol enforced in code. Authenticate with `Authorization: Bearer <agent token>`.
Every 4xx answer has the body `{"error": {"code", "message", "rule"}}`; a protocol refusal is
409 with `rule` naming the rule. Research use only: not a medical device."""


class _McpEndpoint:
    """``/mcp``: refuses requests without a valid bearer token at the HTTP layer (401) before
    the SDK sees them (tools re-read the header to learn who is calling), then hands over to
    the SDK's streamable-HTTP app of the current lifespan. A session manager runs only once,
    so each lifespan (uvicorn start, or a test client entering the app) builds a fresh one."""

    def __init__(self, service: Service, require_auth: bool) -> None:
        self.service, self.require_auth = service, require_auth
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            scheme, _, token = raw.partition(" ")
            given = token.strip() if scheme.lower() == "bearer" else None
            try:
                await resolve_actor(self.service, given or None, self.require_auth)
            except ApiError as exc:
                await error_json(exc.status, exc.code, exc.message, None, exc.headers)(scope, receive, send)
                return
        if self.app is None:
            await error_json(503, "unavailable", "MCP runs only while the app's lifespan is running "
                             "(serve it with uvicorn)")(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _mcp_security(hosts: list[str] | None) -> TransportSecuritySettings:
    """DNS-rebinding protection for MCP: only the Host names the server is reachable as."""
    allowed = ["127.0.0.1:*", "localhost:*", "[::1]:*"] + [f"{h}:*" for h in hosts or []]
    origins = [f"http://{h}" for h in allowed] + [f"https://{h}" for h in allowed]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=allowed,
                                     allowed_origins=origins)


def create_app(service: Service, *, require_auth: bool = True, allowed_hosts: list[str] | None = None,
               sse_poll_s: float = 0.5) -> FastAPI:
    """Build the server around a Service.

    ``require_auth=False`` (loopback only; ``serve`` enforces it) lets token-less requests
    read as an anonymous viewer. ``allowed_hosts`` adds Host names MCP accepts besides
    loopback (needed when serving on a LAN address).
    """
    mcp = build_mcp(service, require_auth=require_auth)
    endpoint = _McpEndpoint(service, require_auth)
    # One writer thread, a transaction per batch, for every write route (see writer).
    writes = WriteLane(service.store.group, max_batch=PG_MAX_BATCH if service.store.postgres else MAX_BATCH)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        http = mcp.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True,
                                       transport_security=_mcp_security(allowed_hosts))
        endpoint.app = next(r.app for r in http.routes if isinstance(r, Route) and r.path == "/mcp")
        # The SDK's session manager owns a task group that must live as long as the app.
        try:
            async with mcp.session_manager.run():
                yield
        finally:
            endpoint.app = None
            # Writes still queued run before the store can be closed behind them.
            await run_in_threadpool(writes.close, 30.0)

    app = FastAPI(title="autods coordination server", version="1", description=API_DESCRIPTION,
                  lifespan=lifespan)
    app.state.service = service
    app.state.writes = writes
    app.state.require_auth = require_auth
    app.state.sse_poll_s = sse_poll_s
    app.state.mcp = mcp
    install_error_handlers(app)
    app.include_router(routes_write.router)
    app.include_router(routes_read.router)
    app.include_router(board.router)
    routes_graph.install(app)
    # A route, not a mounted sub-app, so /mcp needs no trailing-slash redirect.
    app.router.routes.append(Route("/mcp", endpoint=endpoint, methods=["GET", "POST", "DELETE"],
                                   include_in_schema=False))
    # claim / heartbeat / record_result: ordinary requests skip FastAPI's routing and
    # dependency solving (see hotpath); every other request, and every refusal, goes through it.
    app.add_middleware(HotPath, lanes=lanes_for(routes_write.router.routes, routes_write.HOT_VERBS))
    return app
