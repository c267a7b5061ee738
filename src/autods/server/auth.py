"""Bearer-token authentication: ``Authorization: Bearer <token>`` -> ``Actor``.

The service owns identities (it hashes and looks up tokens) and role permissions
(``state/roles.py``); this module only turns an HTTP request into the ``Actor`` every verb
takes. Without ``require_auth`` (loopback only, see ``serve``) a request with no token is
an anonymous *viewer*: the board is readable, but every write still needs a real agent,
because the protocol's rules (who critiqued whose proposal) are about identities.
"""

from __future__ import annotations

import weakref
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from autods.server.http_errors import ApiError
from autods.server.service import Actor, Service

ANONYMOUS = Actor(agent_id=None, role="viewer", run_id=None, name="anonymous")

# auto_error=False: a missing header must produce our error shape, not FastAPI's.
bearer_scheme = HTTPBearer(auto_error=False, description="Agent token from register_agent")

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


# Known tokens, per Service: an agent's role and run never change, so a token that
# authenticated once stands for the same Actor for the life of the process. This saves a
# database read on every request. Unknown tokens are not cached (an agent may be
# registered a moment later), and the map is bounded against token-guessing floods.
_KNOWN: weakref.WeakKeyDictionary[Service, dict[str, Actor]] = weakref.WeakKeyDictionary()
_KNOWN_MAX = 10_000


def known_actor(service: Service, token: str) -> Actor | None:
    """The Actor of a token that authenticated before in this process; None otherwise. No I/O."""
    known = _KNOWN.get(service)
    return known.get(token) if known is not None else None


def _actor_without_io(service: Service, token: str | None, require_auth: bool) -> Actor | None:
    """The Actor when no database read is needed (no token, or a token seen before);
    None when the service must look the token up."""
    if not token:
        if require_auth:
            raise ApiError(401, "missing bearer token: send 'Authorization: Bearer <token>'",
                           headers=_CHALLENGE)
        return ANONYMOUS
    return _KNOWN.setdefault(service, {}).get(token)


def actor_for_token(service: Service, token: str | None, require_auth: bool) -> Actor:
    """The Actor for a token; 401 when it is missing (and required) or unknown. Blocking:
    a token not seen before is looked up in the database."""
    actor = _actor_without_io(service, token, require_auth)
    if actor is not None:
        return actor
    assert token  # _actor_without_io answered every token-less call
    actor = service.authenticate(token)
    if actor is None:
        raise ApiError(401, "unknown bearer token", headers=_CHALLENGE)
    known = _KNOWN.setdefault(service, {})
    if len(known) < _KNOWN_MAX:
        known[token] = actor
    return actor


async def resolve_actor(service: Service, token: str | None, require_auth: bool) -> Actor:
    """``actor_for_token`` for the event loop: a known token is a dict lookup on the loop;
    only an unknown one goes to the thread pool, because the lookup blocks on the database."""
    actor = _actor_without_io(service, token, require_auth)
    if actor is None:
        actor = await run_in_threadpool(actor_for_token, service, token, require_auth)
    return actor


# The dependencies are ``async def``: FastAPI runs a plain ``def`` dependency in its thread
# pool, a hop that costs more CPU than the cached lookup it would run.
async def current_actor(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Actor:
    """FastAPI dependency: the authenticated caller of this request."""
    state = request.app.state
    token = creds.credentials if creds is not None else None
    return await resolve_actor(state.service, token, state.require_auth)


async def stream_actor(request: Request,
                       creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
                       token: str | None = None) -> Actor:
    """Like ``current_actor`` but also accepts ``?token=``: a browser ``EventSource`` and
    the board page cannot set headers, so read-only endpoints take the token in the URL."""
    state = request.app.state
    given = creds.credentials if creds is not None else token
    return await resolve_actor(state.service, given, state.require_auth)


CurrentActor = Annotated[Actor, Depends(current_actor)]
StreamActor = Annotated[Actor, Depends(stream_actor)]
