"""The agents' client: :class:`~autods.server.client.Coordinator` plus the readers it lacks.

``list_teams`` lets analysts and the monitor see the teams; ``list_agents`` maps author ids
to agent names so observations say "analyst-2 proposed", not "agent 7 proposed". Both are
requested upstream (``.coordination/requests.md``); this subclass goes when they land.
"""

from __future__ import annotations

from typing import Any

from autods.server.app import create_app
from autods.server.client import Coordinator
from autods.server.service import Service
from autods.state.records import Team


class AgentClient(Coordinator):
    """A Coordinator that can also list the run's agents and teams."""

    def list_agents(self, run_id: int | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self._get(f"/api/runs/{self._run(run_id)}/agents")
        return out

    def list_teams(self, run_id: int | None = None) -> list[Team]:
        return [Team.model_validate(t) for t in self._get(f"/api/runs/{self._run(run_id)}/teams")]


def in_process(service: Service, token: str, app: Any = None) -> AgentClient:
    """A client bound to ``token`` that reaches ``service`` through its ASGI app, in this process."""
    return AgentClient(token=token, app=app if app is not None else create_app(service))


__all__ = ["AgentClient", "in_process"]
