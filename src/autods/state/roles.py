"""Roles as data: which Service verbs each role may call.

The server maps a refusal here to HTTP 403; the table is the single place to read or change
who may do what. ``read`` covers every reader (list_*, get_*, champion, events). A brain
never records a result or promotes from its own claim: only ``harness`` records results,
and promotion belongs to the validator, the harness and the orchestrator.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

READ = "read"

VERBS: frozenset[str] = frozenset(
    {
        READ,
        "register_agent",
        "create_team",
        "set_team_status",
        "post",
        "propose",
        "critique",
        "enqueue",
        "claim",
        "heartbeat",
        "release_expired",
        "record_result",
        "record_failure",
        "promote",
        "add_dead_end",
        "abort",
    }
)

_DISCUSS = {READ, "post", "critique"}

ROLES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "viewer": frozenset({READ}),
        "steward": frozenset(_DISCUSS | {"add_dead_end"}),
        "biostatistician": frozenset(_DISCUSS | {"propose", "add_dead_end"}),
        "analyst": frozenset(_DISCUSS | {"propose", "enqueue", "abort", "add_dead_end", "create_team"}),
        "feature": frozenset(_DISCUSS | {"propose"}),
        "experimenter": frozenset(_DISCUSS | {"claim", "heartbeat"}),
        "validator": frozenset(_DISCUSS | {"promote", "add_dead_end"}),
        "translator": frozenset({READ, "post"}),
        # the monitor merges, splits, pivots or dissolves teams when the search stagnates
        "monitor": frozenset({READ, "post", "abort", "release_expired", "create_team", "set_team_status"}),
        "harness": frozenset(
            {READ, "post", "claim", "heartbeat", "record_result", "record_failure", "release_expired", "promote"}
        ),
        "orchestrator": frozenset(
            {
                READ,
                "post",
                "register_agent",
                "create_team",
                "set_team_status",
                "enqueue",
                "abort",
                "release_expired",
                "promote",
                "add_dead_end",
            }
        ),
    }
)


def allowed(role: str, verb: str) -> bool:
    """True when ``role`` may call ``verb``; unknown roles may call nothing."""
    return verb in ROLES.get(role, frozenset())
