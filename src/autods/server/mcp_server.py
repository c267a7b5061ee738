"""MCP face of the coordination server: the Service verbs as tools, the run as resources.

Mounted at ``/mcp`` (streamable HTTP, official ``mcp`` SDK 2.x) inside the FastAPI app,
so a coding agent (a Claude Code subagent, Codex) joins a run by adding one HTTP server to
its MCP config. **Auth is the HTTP bearer header**, exactly as for REST::

    {"mcpServers": {"autods": {"type": "http", "url": "http://127.0.0.1:8765/mcp",
                               "headers": {"Authorization": "Bearer <agent token>"}}}}

We chose the header over a ``token`` tool argument so the secret never enters the
model's context or transcripts, and tool schemas stay the verbs' own arguments. The SDK
exposes each message's HTTP headers to tools (``Context.headers``), so every call is
authenticated afresh; the transport runs stateless, so a server restart loses nothing.
``run_id`` may be omitted wherever an agent's token already binds it to one run.
Refusals come back as tool errors (``isError: true``) whose text is the SDK's prefix
``Error executing tool <name>: `` followed by the REST error body
(``{"error": {"code", "message", "rule"}}``), so agents parse one shape everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

from autods.errors import AutodsError
from autods.server.auth import actor_for_token
from autods.server.http_errors import ApiError, domain_error_response
from autods.server.mcp_graph_tools import register_graph_tools
from autods.server.mcp_tools import register_tools
from autods.server.service import Actor, Service

T = TypeVar("T")

INSTRUCTIONS = (
    "Coordination server of an autods run. Rules are enforced in code: a proposal needs an "
    "approving critique by another agent before enqueue; a critic's 'revise' blocks that recipe until "
    "a changed one, proposed with revises=<proposal id>, is approved; a validator's 'reject' is final "
    "for that recipe; dead ends and duplicates are refused; claims are exactly-once; only the harness "
    "records results. propose takes a recipe; propose_code takes a Python module (contract 1) that "
    "runs only in the sandbox and is scored by the same judge. Read the forum and the experiment "
    "log (resources autods://runs/{run_id}/...) before proposing."
)


def _bearer(ctx: Context) -> str | None:
    headers = ctx.headers or {}
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def dump(value: Any) -> Any:
    """Records and lists of records as plain JSON values (structured tool output)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [dump(v) for v in value]
    return value


class Gate:
    """Authenticates each MCP call and turns domain refusals into tool errors."""

    def __init__(self, service: Service, require_auth: bool) -> None:
        self.service = service
        self.require_auth = require_auth

    def actor(self, ctx: Context) -> Actor:
        try:
            return actor_for_token(self.service, _bearer(ctx), self.require_auth)
        except ApiError as exc:
            raise ToolError(json.dumps({"error": {"code": exc.code, "message": exc.message, "rule": None}}))

    def run_id(self, actor: Actor, run_id: int | None) -> int:
        if run_id is not None:
            return run_id
        if actor.run_id is None:
            raise ToolError(json.dumps({"error": {"code": "invalid_request", "rule": None,
                                                  "message": "run_id is required: this token is not bound to a run"}}))
        return actor.run_id

    def call(self, fn: Callable[[], T]) -> Any:
        try:
            return dump(fn())
        except AutodsError as exc:
            raise ToolError(domain_error_response(exc).body.decode()) from None


def build_mcp(service: Service, *, require_auth: bool = True) -> MCPServer:
    """An MCPServer with every verb as a tool and the run's state as resources."""
    server: MCPServer = MCPServer("autods", instructions=INSTRUCTIONS, log_level="WARNING")
    gate = Gate(service, require_auth)
    register_tools(server, gate)
    register_graph_tools(server, gate)

    def resource(fetch: Callable[[Actor, int], Any]) -> Callable[[str, Context], str]:
        def read(run_id: str, ctx: Context) -> str:
            actor = gate.actor(ctx)
            if not run_id.isdigit():
                raise ToolError("run_id must be an integer")
            return json.dumps(gate.call(lambda: fetch(actor, int(run_id))), indent=1)
        return read

    server.resource("autods://runs/{run_id}/champion", name="champion", mime_type="application/json",
                    description="The current champion and the promotion history")(resource(
        lambda a, r: {"champion": dump(service.champion(a, r)), "history": dump(service.champion_history(a, r))}))
    server.resource("autods://runs/{run_id}/forum", name="forum", mime_type="application/json",
                    description="Forum posts of the run, oldest first")(resource(
        lambda a, r: service.list_posts(a, r)))
    server.resource("autods://runs/{run_id}/experiments", name="experiment-log", mime_type="application/json",
                    description="The experiment log: every recorded result, oldest first")(resource(
        lambda a, r: service.list_results(a, r)))
    return server
