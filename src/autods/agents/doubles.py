"""Test doubles for the brain seam, shipped in the package so users can test their own roles
and step loops without a model (the idea of pydantic-ai's TestModel / FunctionModel).

``ScriptedBrain`` replays a fixed list of actions, then waits forever; ``FunctionBrain`` asks a
function. Both validate what they return through :func:`parse_action`, exactly as an LLM brain
does, so a test double cannot smuggle in an action the real brains could not produce.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from autods.agents.actions import Action, Wait, parse_action
from autods.agents.observation import Observation


def _as_action(obj: Any) -> Action:
    # an already-built Action is re-validated from its dict so a frozen model is passed through unchanged
    if hasattr(obj, "model_dump"):
        return parse_action(obj.model_dump())
    return parse_action(obj)


class ScriptedBrain:
    """Returns the given actions in order, one per ``decide`` call, then ``Wait``.

    ``observations`` keeps every observation it was shown, so a test can assert on what the
    step loop let the brain see.
    """

    def __init__(self, actions: Iterable[Action | dict[str, Any]], name: str = "scripted") -> None:
        self.name = name
        # validate up front: a typo in a script fails at construction, not mid-run
        self._actions: list[Action] = [_as_action(a) for a in actions]
        self._next = 0
        self.observations: list[Observation] = []

    @property
    def remaining(self) -> int:
        return len(self._actions) - self._next

    def decide(self, observation: Observation) -> Action:
        self.observations.append(observation)
        if self._next >= len(self._actions):
            return Wait(rationale="script exhausted")
        action = self._actions[self._next]
        self._next += 1
        return action


class FunctionBrain:
    """Delegates each decision to ``fn(observation)``, which may return an Action or a dict."""

    def __init__(self, fn: Callable[[Observation], Action | dict[str, Any]], name: str = "function") -> None:
        self.name = name
        self._fn = fn
        self.observations: list[Observation] = []

    def decide(self, observation: Observation) -> Action:
        self.observations.append(observation)
        return _as_action(self._fn(observation))


__all__ = ["FunctionBrain", "ScriptedBrain"]
