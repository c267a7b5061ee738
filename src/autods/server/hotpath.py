"""A fast lane for the verbs a harness repeats in a loop: claim, heartbeat, record_result.

Why it exists: on 2 cores, FastAPI's per-request machinery for a real route (two router
passes over ~40 routes, dependency solving for the bearer scheme, the actor, the path id and
the body) cost about as much CPU as the Service call it wrapped, and kept the claim ->
result loop well under its target. The lane is a pure ASGI middleware that answers the
*ordinary* request of those three routes itself: POST, a bearer token this process has
already authenticated, ``Content-Type: application/json``, a body that the route's own
request model accepts, a canonical decimal id in range. It then makes the route's one
hop (the Service call and the JSON, as in ``respond.answer_write``) and replies.

Anything else - a missing, unknown or malformed token, another content type, a body or id
that does not validate, a disconnect, active OpenTelemetry tracing - is handed to FastAPI
untouched (the body it read is replayed), so FastAPI produces the answer it always did,
error shape included. The lane can therefore only give the answer FastAPI would give for a
valid request; ``tests/test_server_hotpath.py`` compares the two byte for byte. The Service
call runs on the app's write lane, as the routes' own (``writer``).

Each lane's path, id name, request model, response model and status are read from the
FastAPI route, so the decorator in ``routes_write`` (and /openapi.json) stays the one source.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from re import Pattern
from typing import Any

from fastapi import Response
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autods import errors
from autods.server.auth import known_actor
from autods.server.http_errors import domain_error_response
from autods.server.respond import JSON, adapter_for
from autods.server.service import Actor, Service

MAX_ID = 2**62  # as models.PathId


@dataclass(frozen=True)
class Lane:
    """One hot route, as its FastAPI declaration describes it."""

    path: Pattern[str]
    id_name: str
    body: type[BaseModel]
    verb: Callable[[Service, Actor, int, Any], Any]
    adapter: TypeAdapter[Any]
    status: int


def lanes_for(routes: list[Any], verbs: dict[str, Callable[[Service, Actor, int, Any], Any]]) -> dict[str, Lane]:
    """Lanes for the POST APIRoutes named in ``verbs``, keyed by their path's last segment."""
    out: dict[str, Lane] = {}
    for route in routes:
        if not isinstance(route, APIRoute) or route.name not in verbs:
            continue
        (id_name,) = route.param_convertors  # each hot route has exactly one id in its path
        body = typing.get_type_hints(route.endpoint)["body"]
        if route.methods != {"POST"} or not issubclass(body, BaseModel) or route.response_model is None:
            raise TypeError(f"hot route {route.name} must be a POST with a body model and response_model")
        last = route.path.rpartition("/")[2]
        if last in out or "{" in last:
            raise TypeError(f"hot route {route.path}: its last path segment must be fixed and unique")
        out[last] = Lane(route.path_regex, id_name, body, verbs[route.name],
                         adapter_for(route.response_model), route.status_code or 200)
    return out


def _canonical_id(raw: str) -> int | None:
    """A decimal id written the one way (no sign, no leading zero) and in range, else None."""
    if not (raw.isascii() and raw.isdigit()) or raw[0] == "0" or len(raw) > 19:
        return None
    value = int(raw)
    return value if value <= MAX_ID else None


def _headers(scope: Scope) -> tuple[bytes | None, bytes | None]:
    """The first Authorization and Content-Type header values (as Starlette's ``get``)."""
    auth = ctype = None
    for name, value in scope["headers"]:
        if name == b"authorization" and auth is None:
            auth = value
        elif name == b"content-type" and ctype is None:
            ctype = value
    return auth, ctype


class HotPath:
    """ASGI middleware: serve ordinary hot-route requests, pass everything else on."""

    def __init__(self, app: ASGIApp, lanes: dict[str, Lane]) -> None:
        self.app = app
        self.lanes = lanes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self._lane(scope)
        if lane is None:
            await self.app(scope, receive, send)
            return
        found = lane.path.match(scope["path"])
        ident = _canonical_id(found.group(lane.id_name)) if found else None
        service: Service = scope["app"].state.service
        actor = self._actor(scope, service)
        if ident is None or actor is None:
            await self.app(scope, receive, send)
            return
        seen: list[Message] = []
        body = await self._body(receive, seen)
        parsed = self._parse(lane, body) if body is not None else None
        if parsed is None:
            await self.app(scope, _replay(seen, receive), send)
            return
        try:
            payload = await scope["app"].state.writes.run(_run, lane, service, actor, ident, parsed)
        except errors.AutodsError as exc:  # the same answer as http_errors' on_domain handler
            response: Response = domain_error_response(exc)
        else:
            response = Response(payload, status_code=lane.status, media_type=JSON)
        await response(scope, receive, send)

    def _lane(self, scope: Scope) -> Lane | None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            return None
        # With OpenTelemetry configured, FastAPI traces each request: keep those spans whole.
        if scope.get("fastapi.telemetry") is not None:
            return None
        return self.lanes.get(scope["path"].rpartition("/")[2])

    @staticmethod
    def _actor(scope: Scope, service: Service) -> Actor | None:
        auth, ctype = _headers(scope)
        if auth is None or ctype is None or ctype.partition(b";")[0].strip().lower() != b"application/json":
            return None
        header = auth.decode("latin-1")
        scheme, token = get_authorization_scheme_param(header)  # as fastapi's HTTPBearer
        if not (scheme and token) or scheme.lower() != "bearer":
            return None
        return known_actor(service, token)

    @staticmethod
    async def _body(receive: Receive, seen: list[Message]) -> bytes | None:
        chunks = []
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] != "http.request":
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    def _parse(lane: Lane, body: bytes) -> BaseModel | None:
        # The same steps as FastAPI: json.loads of the raw body, then the model in Python mode.
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        try:
            return lane.body.model_validate(data)
        except ValidationError:
            return None


def _run(lane: Lane, service: Service, actor: Actor, ident: int, body: BaseModel) -> bytes:
    return lane.adapter.dump_json(lane.verb(service, actor, ident, body))


def _replay(seen: list[Message], receive: Receive) -> Receive:
    """A receive that gives back the messages the lane consumed, then the rest."""
    pending = list(seen)

    async def again() -> Message:
        return pending.pop(0) if pending else await receive()

    return again
