"""The brain seam: ``Brain.decide(observation) -> Action``, the only thing an LLM or the
expert policy does. Brains never compute, edit or report a metric."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from autods.agents.actions import Action
from autods.agents.observation import Observation


@runtime_checkable
class Brain(Protocol):
    name: str

    def decide(self, observation: Observation) -> Action: ...
