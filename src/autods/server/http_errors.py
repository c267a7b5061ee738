"""The one JSON error shape of the REST API, and the handlers that produce it.

Every refusal a client can see - bad JSON, missing token, wrong role, unknown record,
protocol rule - arrives as ``{"error": {"code", "message", "rule"}}`` so an agent needs
one parser, and ``rule`` tells it *which* protocol rule it ran into (``null`` otherwise).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from autods import errors


STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "protocol_violation", 422: "invalid_request", 423: "locked",
                503: "unavailable"}


class ErrorBody(BaseModel):
    code: str
    message: str
    rule: str | None = None


class ErrorResponse(BaseModel):
    """The body of every 4xx answer."""

    error: ErrorBody


class ApiError(Exception):
    """Raised by route code for a refusal that is not a protocol rule (401, 403, 404, 400)."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 rule: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.code = code or STATUS_CODES.get(status, "error")
        self.message = message
        self.rule = rule
        self.headers = headers
        super().__init__(message)


def error_json(status: int, code: str, message: str, rule: str | None = None,
               headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "rule": rule}}
    return JSONResponse(body, status_code=status, headers=headers)


def status_for(exc: BaseException) -> int | None:
    """HTTP status for a domain exception, or None when it is not a client error.

    A rule may carry its own status (``http_status``): the graph's open verdict tickets lock
    dispatch with 423 on every lane, the hot lane and MCP included.
    """
    status = getattr(exc, "http_status", None)
    if isinstance(status, int) and status in STATUS_CODES:
        return status
    if isinstance(exc, errors.PermissionDenied):
        return 403
    if isinstance(exc, errors.ProtocolViolation):
        # The service reports unknown ids as the protocol rule "not_found".
        return 404 if exc.rule == "not_found" else 409
    if isinstance(exc, errors.UserInputError):
        return 400
    return None


def domain_error_response(exc: errors.AutodsError) -> JSONResponse:
    status = status_for(exc)
    if status is None:
        # A StateError or other terminal failure is the server's problem, not the caller's.
        return error_json(500, "internal_error", f"{type(exc).__name__}: {exc}")
    rule = getattr(exc, "rule", None)
    message = getattr(exc, "reason", None) or str(exc)
    code = {403: "permission_denied", 404: "not_found"}.get(status, STATUS_CODES[status])
    return error_json(status, code, message, rule)


def _validation_message(errs: list[Any]) -> str:
    parts = []
    for err in errs[:5]:
        loc_parts = list(err.get("loc", ()))
        if loc_parts and loc_parts[0] in ("body", "query", "path", "header"):
            loc_parts = loc_parts[1:]  # where it was sent is obvious; what was wrong is not
        loc = ".".join(str(p) for p in loc_parts)
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _auth_refusal(request: Request) -> JSONResponse | None:
    from autods.server.auth import resolve_actor  # auth imports this module

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = token.strip() if scheme.lower() == "bearer" and token.strip() else None
    state = request.app.state
    try:
        await resolve_actor(state.service, given, state.require_auth)
    except ApiError as exc:
        return error_json(exc.status, exc.code, exc.message, exc.rule, exc.headers)
    return None


def install_error_handlers(app: FastAPI) -> None:
    """Route every error FastAPI or the service can raise through the one shape."""

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_json(exc.status, exc.code, exc.message, exc.rule, exc.headers)

    async def on_domain(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.AutodsError)
        return domain_error_response(exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # FastAPI parses the body before it runs the auth dependency; an unauthenticated
        # caller must still learn "401", not details of what it sent wrong.
        if request.url.path.startswith("/api/"):
            unauthorized = await _auth_refusal(request)
            if unauthorized is not None:
                return unauthorized
        return error_json(422, "invalid_request", _validation_message(list(exc.errors())))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and request.url.path.startswith("/api/"):
            unauthorized = await _auth_refusal(request)  # an unparsable body, as above
            if unauthorized is not None:
                return unauthorized
        code = STATUS_CODES.get(exc.status_code, "error")
        headers = dict(exc.headers) if exc.headers else None
        return error_json(exc.status_code, code, str(exc.detail), None, headers)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(errors.AutodsError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": code.replace("_", " ")}
    for status, code in STATUS_CODES.items() if status in (400, 401, 403, 404, 409, 422)
}
