"""Roles as data: which Service verbs each role may call.

The server maps a refusal here to HTTP 403; the table is the single place to read or change
who may do what. ``read`` covers every reader (list_*, get_*, champion, events). A brain
never records a result or promotes from its own claim: only ``harness`` records results,
and promotion belongs to the validator, the harness and the orchestrator.

Beyond verbs, the table says who owns the records the critics act on (``POST_KIND_OWNERS``,
``RECORD_OWNERS``: steward for findings, biostatistician for the design, orchestrator for
the noise floor), who may abort anyone's item (``ABORT_ANY``) and whose reject is final
(``FINAL_REJECT``).
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


# -- who owns which record -------------------------------------------------------------------
# The critics and the protocol act on three records: the steward's task summary (and its
# guardrail findings), the biostatistician's design, and the noise floor the orchestrator
# measured. Each has one owning role; a post of that kind, or carrying that data key, from
# any other role is refused (403), so nobody can forge the design a critic checks
# events-per-variable against. The orchestrator stands in for the system (the process
# that runs the team) and may write every record; ``result`` posts stay the harness's.

#: post kind -> the roles that may post it
POST_KIND_OWNERS: Mapping[str, frozenset[str]] = MappingProxyType({
    "design": frozenset({"biostatistician"}),
    "finding": frozenset({"steward", "orchestrator"}),
})

#: reserved ``data`` key of a post -> (the post kind it must have, the roles that may write it)
RECORD_OWNERS: Mapping[str, tuple[str, frozenset[str]]] = MappingProxyType({
    "steward_summary": ("finding", frozenset({"steward"})),
    "design": ("design", frozenset({"biostatistician"})),
    "noise_floor": ("finding", frozenset({"orchestrator"})),
})

#: roles that may abort any item; other roles with ``abort`` only their own team's (or own) items
ABORT_ANY: frozenset[str] = frozenset({"monitor", "orchestrator"})

#: roles whose ``reject`` is final for a recipe version
FINAL_REJECT: frozenset[str] = frozenset({"validator"})


def may_post(role: str, kind: str, data_keys: frozenset[str] | set[str] = frozenset()) -> str | None:
    """None when ``role`` may write a post of ``kind`` with these data keys; else why not, and the fix."""
    owners = POST_KIND_OWNERS.get(kind)
    if owners is not None and role not in owners:
        return f"'{kind}' posts are the {' or '.join(sorted(owners))}'s; post a 'note' instead"
    for key in sorted(data_keys):
        if key in RECORD_OWNERS:
            need_kind, owners = RECORD_OWNERS[key]
            if role not in owners:
                return f"the '{key}' record is the {' or '.join(sorted(owners))}'s; leave '{key}' out of data"
            if kind != need_kind:
                return f"the '{key}' record is a '{need_kind}' post, not a '{kind}' post; post it as '{need_kind}'"
    return None


def allowed(role: str, verb: str) -> bool:
    """True when ``role`` may call ``verb``; unknown roles may call nothing."""
    return verb in ROLES.get(role, frozenset())
