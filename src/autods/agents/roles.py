"""Roles as data: who is on the team, what each may do, and which brain it gets by default.

An agent role names the server role it authenticates as (``state/roles.py``); its allowed
actions are *derived* from that table through :data:`ACTION_VERB`, so the step loop can never
offer a brain an action the server would refuse with 403, and a permission granted on the
server reaches the agents without a second edit here. ``wait`` is always allowed.

:class:`TeamSpec` says how many agents of each role a run starts, and which of the team's
habits are on (critique, dead-end sharing, the monitor): ``bench/team.py`` compares the full
team with :meth:`TeamSpec.single_agent`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from autods.agents.actions import ACTION_KINDS
from autods.state import graph_roles

#: action kind -> the Service verb it calls (None: no server call).
ACTION_VERB: dict[str, str | None] = {
    "propose": "propose",
    "critique": "critique",
    "enqueue": "enqueue",
    "claim": "claim",
    "post": "post",
    "mark_dead_end": "add_dead_end",
    "form_team": "create_team",
    "set_team_status": "set_team_status",
    "abort": "abort",
    "promote": "promote",
    "wait": None,
    # the hypothesis graph's verbs (``state/graph_roles.py``)
    "diagnose": "diagnose",
    "propose_idea": "propose_idea",
    "set_tier": "set_tier",
    "relate": "relate",
    "answer_ticket": "answer_ticket",
    "dispatch": "dispatch",
}


@dataclass(frozen=True)
class RoleSpec:
    """One role of the team. ``server_role`` is what its token may do on the server."""

    name: str
    server_role: str
    description: str
    default_brain: str = "expert"

    @property
    def allowed_actions(self) -> tuple[str, ...]:
        """Action kinds whose verb the server grants this role (plus ``wait``), in union order."""
        return tuple(k for k in ACTION_KINDS
                     if ACTION_VERB[k] is None or graph_roles.allowed(self.server_role, ACTION_VERB[k] or ""))

    def may(self, kind: str) -> bool:
        return kind in self.allowed_actions


ROLES: dict[str, RoleSpec] = {
    spec.name: spec
    for spec in (
        RoleSpec("steward", "steward",
                 "Data steward: runs the deterministic ingest/govern step (PHI scan, de-identification, "
                 "leakage audit), posts its findings, and objects to proposals that use excluded or "
                 "leakage-warned features."),
        RoleSpec("biostatistician", "biostatistician",
                 "Frames the question: primary metric, CV design, events-per-variable limits, confounders "
                 "and subgroups; proposes the trivial baseline and the default model whose seeds measure "
                 "the noise floor; objects to models with too many parameters for the events."),
        RoleSpec("feature", "feature",
                 "Feature / representation agent: proposes preprocessing, feature sets and composite "
                 "features (log transforms, per-unit aggregates) on the champion's family."),
        RoleSpec("analyst", "analyst",
                 "Analyst: proposes recipes from the strategy library, tunes a family with Optuna "
                 "(ask/tell on the recorded results), forms a team around a surviving proposal, fills "
                 "its team's queue and registers its team's dead ends."),
        RoleSpec("experimenter", "experimenter",
                 "Experiment agent: claims queued jobs (confirmations first, then its team's queue); "
                 "the harness runs them through the executor and records what the judge measured."),
        RoleSpec("validator", "validator",
                 "Validator / critic: critiques every proposal against the rules (duplicate of the "
                 "champion, dead end, EPV, leakage, expected gain below the noise floor), promotes "
                 "confirmed challengers, and turns families with repeated losses into dead ends."),
        RoleSpec("translator", "translator",
                 "Translator: summarises the champion and the run for a clinical reader, with numbers "
                 "copied from recorded results only."),
        RoleSpec("monitor", "monitor",
                 "Monitor: watches for stagnation (the server's stuck posts) and merges, splits, pivots "
                 "or dissolves teams; re-opens discussion."),
    )
}


def role(name: str) -> RoleSpec:
    if name not in ROLES:
        raise KeyError(f"unknown agent role {name!r}; known: {sorted(ROLES)}")
    return ROLES[name]


@dataclass(frozen=True)
class TeamSpec:
    """How many agents of each role a run starts, and which team habits are on.

    ``critique``: critics apply their rules (off: a single approving critique is still given,
    because the server requires one, but it approves everything). ``dead_ends``: the
    validator registers dead ends and analysts avoid them. ``monitor``: react to stagnation.
    ``relations``: analysts relate their ideas on the graph. ``sequential``: one experiment at a
    time (NOW holds one idea and the server lets one item be claimed at once).
    """

    analysts: int = 3
    experimenters: int = 6
    validators: int = 1
    feature_agents: int = 1
    critique: bool = True
    dead_ends: bool = True
    monitor: bool = True
    translator: bool = True
    relations: bool = True
    sequential: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def single_agent(cls) -> TeamSpec:
        """The same brain as one agent, for the bench: one analyst, one experimenter, sequential
        dispatch (one NOW slot, one claimed item), no critique (the validator's rubber-stamp
        approval satisfies the server's critique rule), no relations, no validator dead-end rule (its own
        CUT verdicts still register, as the graph records every cut)."""
        return cls(analysts=1, experimenters=1, validators=1, feature_agents=0, critique=False,
                   dead_ends=False, monitor=False, translator=False, relations=False, sequential=True)

    def members(self) -> list[tuple[str, str]]:
        """``(agent name, role)`` in the fixed order agents step each round."""
        out: list[tuple[str, str]] = [("steward", "steward"), ("biostatistician", "biostatistician")]
        out += [(f"feature-{i + 1}", "feature") for i in range(self.feature_agents)]
        out += [(f"analyst-{i + 1}", "analyst") for i in range(self.analysts)]
        out += [(f"validator-{i + 1}", "validator") for i in range(self.validators)]
        out += [(f"experimenter-{i + 1}", "experimenter") for i in range(self.experimenters)]
        if self.monitor:
            out.append(("monitor", "monitor"))
        if self.translator:
            out.append(("translator", "translator"))
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeamSpec:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


__all__ = ["ACTION_VERB", "ROLES", "RoleSpec", "TeamSpec", "role"]
