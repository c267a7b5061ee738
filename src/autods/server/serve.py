"""``serve``: run the coordination server under uvicorn (``autods serve`` calls it).

Binding beyond loopback without tokens is refused: anyone who can reach the port could
then read the run. On loopback the default is open *reading* (the board works without a
token); writes always need an agent token, because anonymous callers are viewers.
"""

from __future__ import annotations

import contextlib
import ipaddress
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from autods.errors import UserInputError
from autods.server.app import create_app
from autods.server.service import SYSTEM_ACTOR, Service
from autods.state.store import Store

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, tokens_required: bool | None) -> bool:
    """Resolve whether tokens are required; refuse an open server off loopback."""
    loopback = is_loopback(host)
    if tokens_required is None:
        return not loopback
    if not tokens_required and not loopback:
        raise UserInputError(
            f"refusing to serve on {host} without tokens: anyone who can reach it could read the run",
            "bind to 127.0.0.1, or drop --no-tokens so every request needs an agent token",
        )
    return tokens_required


def uvicorn_options() -> dict[str, Any]:
    """How ``serve`` runs uvicorn: its C HTTP parser and event loop (``uvicorn[standard]``,
    a core dependency; each skipped where it is not installed, e.g. uvloop on Windows); no
    per-request logging; no proxy-header rewriting (the server never uses the client address
    and sits behind no proxy of ours, so that middleware would only cost time); no WebSocket
    protocol (the API, MCP and the board's live updates are plain HTTP and SSE)."""
    opts: dict[str, Any] = {"log_level": "warning", "access_log": False, "proxy_headers": False,
                            "server_header": False, "ws": "none"}
    for module, key in (("httptools", "http"), ("uvloop", "loop")):
        try:
            __import__(module)
            opts[key] = module
        except ImportError:
            pass
    return opts


def viewer_url(service: Service, host: str, port: int) -> str | None:
    """A board URL with a fresh viewer token for the latest run (None when there is no run)."""
    runs = service.list_runs(SYSTEM_ACTOR)
    if not runs:
        return None
    _, token = service.register_agent(runs[-1].id, "board-viewer", "viewer")
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


def serve(state_url: str, host: str = "127.0.0.1", port: int = 8765,
          tokens_required: bool | None = None) -> None:
    """Serve REST (/api), MCP (/mcp) and the board (/) for the state at ``state_url``; blocks."""
    require = check_binding(host, tokens_required)
    store = Store.open(state_url)
    service = Service(store)
    try:
        app = create_app(service, require_auth=require,
                         allowed_hosts=None if is_loopback(host) else [host])
        shown = f"[{host}]" if ":" in host else host
        board = viewer_url(service, host, port) if require else f"http://{shown}:{port}/"
        print(f"autods server on http://{shown}:{port} (API /api, MCP /mcp, OpenAPI /openapi.json)",
              file=sys.stderr)
        if board:
            print(f"board: {board}", file=sys.stderr)
        uvicorn.run(app, host=host, port=port, **uvicorn_options())
    finally:
        store.close()


@contextlib.contextmanager
def running_server(app: Any, host: str = "127.0.0.1", port: int = 0,
                   **uvicorn_opts: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn in a thread on a free port; yields its base URL.

    For tests and benchmarks that need a real socket (MCP client, browser, load)."""
    opts: dict[str, Any] = {"lifespan": "on", **uvicorn_options(), **uvicorn_opts}
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **opts))
    thread = threading.Thread(target=server.run, name="autods-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
