"""The agents' client: the coordination server's :class:`~autods.server.client.Coordinator`.

Agents, the harness and the orchestrator each hold one, bound to their own token, and
reach the shared state only through it (over HTTP, or in-process through the ASGI app).
The alias keeps agent code saying what it means; there is nothing agent-specific in it.
"""

from __future__ import annotations

from autods.server.client import Coordinator

AgentClient = Coordinator

__all__ = ["AgentClient"]
