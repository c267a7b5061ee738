"""Blocking HTTP calls to the coordination server, over a socket or in-process.

Agents are synchronous code (a step loop, often one thread per agent), so the client is
synchronous. Over the network that is a plain ``httpx.Client``. In-process (tests, the
inline executor) httpx 0.28 only offers an *async* ``ASGITransport``; we run one
``httpx.AsyncClient`` on a private event loop in a daemon thread and hand coroutines to it
with ``run_coroutine_threadsafe``. We chose this over ``starlette.testclient.TestClient``
because (a) both modes then speak the same httpx types, (b) a single loop serves many
agent threads at once without a portal per request, and (c) product code does not depend
on a test utility. Errors are mapped here, so callers see the autods exception tree.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx

from autods import errors
from autods.errors import Locked, PermissionDenied, ProtocolViolation



class ServerError(errors.AutodsError):
    """The server answered with a status the protocol does not explain (4xx other than
    401/403/409, or 5xx). ``status`` and the error body are kept for the caller."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        super().__init__(f"HTTP {status} {code}: {message}")


class Unauthorized(ServerError):
    """401: no token, or a token the server does not know."""


def raise_for_error(resp: httpx.Response) -> None:
    """Turn an error answer into the matching exception; 2xx returns quietly."""
    if resp.status_code < 400:
        return
    try:
        body = resp.json().get("error", {})
    except ValueError:
        body = {}
    code = str(body.get("code") or "error")
    message = str(body.get("message") or resp.text[:200])
    rule = body.get("rule")
    if resp.status_code == 409:
        raise ProtocolViolation(rule or "protocol", message)
    if resp.status_code == 423:  # locked by a protocol rule until something is answered (verdict tickets)
        raise Locked(rule or "locked", message)
    if resp.status_code == 403:
        raise PermissionDenied(message)
    if resp.status_code == 404 and rule == "not_found":
        raise ProtocolViolation(rule, message)
    if resp.status_code == 401:
        raise Unauthorized(401, code, message)
    raise ServerError(resp.status_code, code, message)


class _LoopThread:
    """One asyncio loop in a daemon thread, running an in-process ASGI httpx client."""

    def __init__(self, app: Any, headers: dict[str, str], timeout: float) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="autods-asgi", daemon=True)
        self._thread.start()

        async def make() -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app)
            return httpx.AsyncClient(transport=transport, base_url="http://autods.local",
                                     headers=headers, timeout=timeout)

        self._client = self._submit(make())

    def _submit(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._submit(self._client.request(method, url, **kwargs))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._submit(self._client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


class Transport:
    """``request(method, path, json=..., params=...) -> parsed JSON``; raises on errors."""

    def __init__(self, base_url: str | None, token: str | None, app: Any | None,
                 timeout: float = 30.0) -> None:
        if (base_url is None) == (app is None):
            raise errors.UserInputError("Coordinator needs exactly one of base_url or app",
                                        "pass base_url='http://127.0.0.1:8765' or app=create_app(...)")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http: httpx.Client | None = None
        self._inproc: _LoopThread | None = None
        if app is not None:
            self._inproc = _LoopThread(app, headers, timeout)
        else:
            assert base_url is not None
            self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def request(self, method: str, path: str, *, json: Any = None,
                params: dict[str, Any] | None = None) -> Any:
        if params:
            params = {k: v for k, v in params.items() if v is not None}
        if self._inproc is not None:
            resp = self._inproc.request(method, path, json=json, params=params)
        else:
            assert self._http is not None
            resp = self._http.request(method, path, json=json, params=params)
        raise_for_error(resp)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def close(self) -> None:
        if self._inproc is not None:
            self._inproc.close()
        if self._http is not None:
            self._http.close()
