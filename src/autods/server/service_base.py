"""What every part of the Service shares: the Actor, its settings, identity verbs, and the
lookups and checks each verb starts with.

Import ``Actor``, ``SYSTEM_ACTOR`` and ``Service`` from ``autods.server.service``; this module
is an implementation detail of that façade.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from autods.errors import PermissionDenied, ProtocolViolation
from autods.server import owned, protocol
from autods.state import roles
from autods.state.hashing import token_hash
from autods.state.records import SYSTEM, Agent, Post, Proposal, QueueItem, Run, Team
from autods.state.store import Store, Tx

DEFAULT_LEASE_S = 300.0


@dataclass(frozen=True)
class Actor:
    """Who is calling. ``run_id`` None means not bound to a run (an operator or the system)."""

    agent_id: int | None
    role: str
    run_id: int | None = None
    name: str = ""

    @property
    def key(self) -> str:
        """How this actor is written in ``author`` / ``claimed_by`` / audit fields."""
        return "system" if self.agent_id is None else str(self.agent_id)


SYSTEM_ACTOR = Actor(agent_id=None, role="orchestrator", run_id=None, name="system")


class ServiceBase:
    """Settings and shared checks; the verbs live in the ``service_*`` mixins."""

    def __init__(
        self,
        store: Store,
        *,
        noise_floor: float | None = None,
        slot_limit: int = 8,
        stagnation_k: int = 10,
    ) -> None:
        self.store = store
        self.noise_floor = noise_floor
        self.slot_limit = slot_limit
        self.stagnation_k = stagnation_k

    # -- identity ---------------------------------------------------------------------------

    def create_run(self, name: str, config: dict[str, Any] | None = None, *, actor: Actor = SYSTEM_ACTOR) -> Run:
        """Create a run. Operator-level: the server decides who may call it (no role check for system)."""
        self._allow(actor, "register_agent")
        with self.store.write(actor.key) as tx:
            return tx.add_run(name, config or {})

    def register_agent(
        self,
        run_id: int,
        name: str,
        role: str,
        team_id: int | None = None,
        *,
        actor: Actor = SYSTEM_ACTOR,
    ) -> tuple[Agent, str]:
        """Register an agent and return it with its bearer token (shown once; only its sha256 is kept)."""
        self._allow(actor, "register_agent")
        self._in_run(actor, run_id)
        if role not in roles.ROLES:
            raise ProtocolViolation("unknown_role", f"role {role!r} is not one of {sorted(roles.ROLES)}")
        token = secrets.token_urlsafe(32)
        with self.store.write(actor.key, run_id) as tx:
            self._run(tx, run_id)
            if team_id is not None:
                self._team(tx, team_id, run_id)
            agent = tx.add_agent(run_id, name, role, team_id, token_hash(token))
        return agent, token

    def authenticate(self, token: str) -> Actor | None:
        """The Actor a bearer token stands for, or None for an unknown token."""
        with self.store.read() as tx:
            agent = tx.agent_by_token_hash(token_hash(token))
        if agent is None:
            return None
        return Actor(agent_id=agent.id, role=agent.role, run_id=agent.run_id, name=agent.name)

    # -- shared checks ----------------------------------------------------------------------

    def _allow(self, actor: Actor, verb: str) -> None:
        if not roles.allowed(actor.role, verb):
            raise PermissionDenied(f"role {actor.role!r} may not {verb}")

    def _in_run(self, actor: Actor, run_id: int) -> None:
        if actor.run_id is not None and actor.run_id != run_id:
            raise PermissionDenied(f"agent {actor.key} belongs to run {actor.run_id}, not run {run_id}")

    def _floor(self, tx: Tx, run_id: int) -> float:
        """The noise floor: configured, else the one the orchestrator recorded (server state,
        so a restarted server keeps it), else the champion's fold standard error."""
        if self.noise_floor is not None:
            return self.noise_floor
        recorded = self._records(tx, run_id).get("noise_floor")
        if recorded is not None and isinstance(recorded[1].get("value"), (int, float)):
            return float(recorded[1]["value"])
        champ = tx.champion(run_id)
        return protocol.measured_noise_floor(None if champ is None else tx.get_result(champ.result_id))

    def _records(self, tx: Tx, run_id: int) -> dict[str, tuple[Post, dict[str, Any]]]:
        """The run's owned records (task summary, design, noise floor), each the latest post
        of its owning role (``roles.RECORD_OWNERS``), with its value."""
        role_of = {str(a.id): a.role for a in tx.list_agents(run_id)} | {SYSTEM: "orchestrator"}
        posts = {kind: tx.list_posts(run_id, kind=kind) for kind in {k for k, _ in roles.RECORD_OWNERS.values()}}
        out = {}
        for key, (kind, _) in roles.RECORD_OWNERS.items():
            found = owned.owned_record(posts[kind], key, role_of)
            if found is not None:
                out[key] = found
        return out

    @staticmethod
    def _missing(what: str, ident: int) -> ProtocolViolation:
        return ProtocolViolation("not_found", f"{what} {ident} does not exist")

    def _run(self, tx: Tx, run_id: int) -> Run:
        run = tx.get_run(run_id)
        if run is None:
            raise self._missing("run", run_id)
        return run

    def _team(self, tx: Tx, team_id: int, run_id: int) -> Team:
        team = tx.get_team(team_id)
        if team is None or team.run_id != run_id:
            raise self._missing("team", team_id)
        return team

    def _proposal(self, tx: Tx, proposal_id: int) -> Proposal:
        proposal = tx.get_proposal(proposal_id)
        if proposal is None:
            raise self._missing("proposal", proposal_id)
        return proposal

    def _item(self, tx: Tx, item_id: int, *, lock: bool = False) -> QueueItem:
        item = tx.get_item(item_id, lock=lock)
        if item is None:
            raise self._missing("queue item", item_id)
        return item
