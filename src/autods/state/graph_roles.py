"""Who may act on the hypothesis graph: the graph's verbs per role, as data.

Kept beside ``roles.py`` (not in it) while the protocol hardening of issue 14 edits that
table; ``allowed`` reads both, so a later merge into ``ROLES`` changes no behaviour.
Reading the graph is the ordinary ``read`` verb of ``roles.py``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from autods.state import roles

GRAPH_VERBS: frozenset[str] = frozenset({"diagnose", "propose_idea", "relate", "set_tier", "dispatch",
                                         "answer_ticket"})

_REASON = frozenset({"diagnose", "relate", "set_tier", "answer_ticket"})  # reasoning about the graph

GRAPH_ROLES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "steward": frozenset({"diagnose"}),
        "biostatistician": _REASON | {"propose_idea"},
        "analyst": GRAPH_VERBS,
        "feature": frozenset({"diagnose", "propose_idea", "relate"}),
        "validator": _REASON,
        "monitor": _REASON,
        # the orchestrator launches and dispatches; it never proposes (it never looks at data)
        "orchestrator": _REASON | {"dispatch"},
    }
)


def allowed(role: str, verb: str) -> bool:
    """True when ``role`` may call the graph verb (or the ordinary verb) ``verb``."""
    return verb in GRAPH_ROLES.get(role, frozenset()) or roles.allowed(role, verb)
