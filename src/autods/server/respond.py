"""How a REST route answers: the Service call off the event loop, the JSON written once.

The Service is synchronous and blocks on the database, so it must not run on the event
loop thread. A plain ``def`` route would get that from FastAPI, at a price: FastAPI then
also runs the response validation in its thread pool, and with the auth dependency that
made three thread hops per request, each costing about as much CPU as a cached Service
call. Routes are therefore ``async def`` and ``await answer(request, verb, *args)``: one
hop, in which the verb runs and its return value is serialised to JSON bytes by
pydantic's Rust core. FastAPI receives a finished ``Response`` and neither validates nor
re-encodes it.

The JSON schema and status code come from the route's own declaration
(``response_model=``, ``status_code=``), so /openapi.json stays the contract and an answer
cannot drift from it: a value that does not fit the declared model fails serialisation
loudly (a warning, an error under pytest).

Write routes use :func:`answer_write` instead: the same, with the hop onto the app's write
lane (``writer``): one thread that runs writes in arrival order, a transaction per batch.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

JSON = "application/json"
T = TypeVar("T")


@functools.cache
def adapter_for(model: Any) -> TypeAdapter[Any]:
    """A (cached) pydantic adapter that writes ``model`` values as JSON."""
    return TypeAdapter(model)


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the thread pool: the one hop a request makes for its blocking work."""
    return await run_in_threadpool(fn, *args)


def _declared(request: Request) -> tuple[TypeAdapter[Any], int]:
    """The matched route's response model (as a cached adapter) and success status."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.response_model is None:
        raise TypeError("answer() serves APIRoutes that declare response_model=")
    return adapter_for(route.response_model), route.status_code or 200


def json_bytes(request: Request, value: Any) -> Response:
    """``value`` as the route declares it, serialised here (for values that need no hop)."""
    adapter, status = _declared(request)
    return Response(adapter.dump_json(value), status_code=status, media_type=JSON)


async def answer(request: Request, verb: Callable[..., Any], *args: Any) -> Response:
    """Run ``verb(*args)`` in the thread pool and answer with its value as the route declares."""
    return await _answer(request, off_loop, verb, args)


async def answer_write(request: Request, verb: Callable[..., Any], *args: Any) -> Response:
    """As :func:`answer`, on the app's write lane (``writer``): for verbs that write."""
    return await _answer(request, request.app.state.writes.run, verb, args)


async def _answer(request: Request, hop: Callable[..., Awaitable[bytes]], verb: Callable[..., Any],
                  args: tuple[Any, ...]) -> Response:
    adapter, status = _declared(request)

    def work() -> bytes:
        return adapter.dump_json(verb(*args))

    return Response(await hop(work), status_code=status, media_type=JSON)
