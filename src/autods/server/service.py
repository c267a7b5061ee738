"""The coordination service: every verb of the protocol, enforced in code.

REST, MCP and the in-process client all call this class and nothing below it. Each verb
takes the authenticated ``Actor`` first, checks the actor's role (``state/roles.py``,
refusal: ``PermissionDenied`` -> HTTP 403), then runs its protocol checks and its write in
ONE store transaction, so a check cannot be raced (refusal: ``ProtocolViolation`` -> 409).
Unknown ids are ``ProtocolViolation("not_found", ...)`` (map to 404).

Rules (letters as in issue 4):
  a  enqueue needs >= 1 approving critique by another agent; a reject needs >= 2 approvals
  b  no enqueue of a (recipe hash, seed) already pending, claimed or done in the run
  c  no enqueue inside a dead end unless an approving critique re-opens it with a reason
  d  claims are exactly-once with a lease; heartbeats extend it; expired leases go back to
     pending (attempts + 1) and fail after 3 expiries
  e  results only from the harness role, only for a claimed item
  f  promotion only from a recorded result that beats the champion by > noise floor, confirmed
     by a second result of the same recipe on another seed or split (first champion: confirmation only)
  g  pending or claimed items can be aborted
  h  at most ``slot_limit`` claimed items per run
  i  after each result, K results without improvement emit one ``stuck`` post per episode
  j  verbs outside the actor's role raise PermissionDenied
  k-n (issue 14, no side doors): the server canonicalises every recipe and derives its family;
     a revise blocks a recipe version, a validator's reject is final; design/finding/noise-floor
     records come only from their owning roles; only the owning team, the monitor or the
     orchestrator abort an item (details: protocol.py, service_forum.py, service_queue.py)
  graph (issue 14): diagnoses, ideas, relations, tiers (NOW capped at the workers), verdict
     tickets that lock new work with 423 until answered (service_graph*.py, graph_protocol.py)

The verbs live in ``service_base`` (identity, shared checks), ``service_forum`` (teams,
posts, proposals, critiques, dead ends), ``service_queue`` (a-d, g, h), ``service_results``
(e, f, i) and ``service_reads``; import them from here.
"""

from __future__ import annotations

from autods.server.service_base import DEFAULT_LEASE_S, SYSTEM_ACTOR, Actor
from autods.server.service_forum import ForumVerbs
from autods.server.service_graph_dispatch import GraphVerbs
from autods.server.service_queue import QueueVerbs
from autods.server.service_reads import ReadVerbs
from autods.server.service_results import ResultVerbs


class Service(GraphVerbs, ForumVerbs, QueueVerbs, ResultVerbs, ReadVerbs):
    """Protocol-enforcing façade over a :class:`~autods.state.store.Store`.

    ``Service(store, *, noise_floor=None, slot_limit=8, stagnation_k=10)``.
    ``noise_floor`` None means measured: the standard error of the champion's fold scores.
    ``stagnation_k`` <= 0 disables stagnation posts.
    """


__all__ = ["DEFAULT_LEASE_S", "SYSTEM_ACTOR", "Actor", "Service"]
