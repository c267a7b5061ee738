"""The web board: one self-contained HTML page (no CDN, no external assets) at ``/``.

The page is a shell; its script reads ``/api/runs/{id}/board`` and ``/api/runs/{id}/graph``
(the hypothesis graph) and re-reads both whenever the SSE stream reports an event. It therefore renders only what the API returns (posts,
schemas, aggregates), never data rows. Agent-written text is inserted with
``textContent`` so a post cannot inject markup.
"""

from __future__ import annotations

import html
import json
from functools import lru_cache
from importlib import resources

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from autods.server.auth import actor_for_token
from autods.server.http_errors import ApiError

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=1)
def _assets() -> tuple[jinja2.Template, str, str]:
    here = resources.files(__name__)
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string((here / "templates" / "board.html.j2").read_text(encoding="utf-8"))
    # graph.js defines window.AutodsGraph, which board.js calls after each refresh
    js = "\n".join((here / name).read_text(encoding="utf-8") for name in ("graph.js", "board.js"))
    return template, (here / "board.css").read_text(encoding="utf-8"), js


def _script_json(value: object) -> str:
    """JSON safe inside <script>: no '</script>' or '<!--' can close the element early."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _message(status: int, text: str) -> HTMLResponse:
    body = (f"<!doctype html><meta charset=utf-8><title>autods board</title>"
            f"<p style='font:14px system-ui;margin:2em'>{html.escape(text)}</p>")
    return HTMLResponse(body, status_code=status)


@router.get("/", response_class=HTMLResponse)
def board_page(request: Request, token: str | None = None, run: int | None = None) -> HTMLResponse:
    """The board. ``?token=`` is a viewer token (any agent token works); ``?run=`` picks a run."""
    state = request.app.state
    try:
        actor = actor_for_token(state.service, token, state.require_auth)
    except ApiError as exc:
        return _message(exc.status, f"{exc.message}. Open this page as /?token=<viewer token>.")
    run_id = run if run is not None else actor.run_id
    if run_id is None:
        runs = state.service.list_runs(actor)
        if not runs:
            return _message(404, "No run yet: start one with `autods run`, then reload.")
        run_id = runs[-1].id
    template, css, js = _assets()
    config = {"run_id": run_id, "token": token, "api": "/api"}
    page = template.render(css=css, js=js, config_json=_script_json(config))
    # The token rides in the URL; keep it out of Referer headers and shared caches.
    headers = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
               "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
                                          "script-src 'unsafe-inline'; img-src 'self' data:"}
    return HTMLResponse(page, headers=headers)
