"""The expert brain: the default, offline, deterministic biostatistical policy.

``ExpertBrain(role).decide(observation)`` is a pure function of the observation (and the
seed it carries): no state is kept between calls. Randomness (Optuna's sampler) is seeded
from the run seed and counts read off the recorded log, so the same log gives the same
decision in any process: a resumed run rebuilds the brain exactly, and two runs with the
same seed and the inline executor produce the same experiment log.

Policies per role live in their own modules: :mod:`.design` (biostatistician),
:mod:`.analyst`, :mod:`.critic` (the rules) and :mod:`.team` (validator / critic,
experimenter, steward, feature agent, translator), :mod:`.monitor`.
"""

from __future__ import annotations

from autods.agents.actions import Action, Wait
from autods.agents.expert.analyst import analyst
from autods.agents.expert.design import biostatistician
from autods.agents.expert.monitor import monitor
from autods.agents.expert.team import experimenter, feature, steward, translator, validator
from autods.agents.observation import Observation


class ExpertBrain:
    """The rule-based policy for one role. ``critique`` / ``dead_ends`` / ``relations`` switch team habits off
    for the single-agent comparison (see :class:`~autods.agents.roles.TeamSpec`)."""

    deterministic = True

    def __init__(self, role: str, *, n_analysts: int = 3, n_critics: int = 1, critique: bool = True,
                 dead_ends: bool = True, relations: bool = True, name: str | None = None) -> None:
        self.role = role
        self.name = name or f"expert:{role}"
        self.n_analysts = max(1, n_analysts)
        self.n_critics = max(1, n_critics)
        self.critique = critique
        self.dead_ends = dead_ends
        self.relations = relations

    def decide(self, observation: Observation) -> Action:
        role = self.role
        if role == "analyst":
            return analyst(observation, self.n_analysts, relations=self.relations)
        if role == "validator":
            return validator(observation, self.critique, self.dead_ends, self.n_critics)
        if role == "experimenter":
            return experimenter(observation)
        if role == "biostatistician":
            return biostatistician(observation, self.critique)
        if role == "steward":
            return steward(observation) if self.critique else Wait()
        if role == "feature":
            return feature(observation)
        if role == "monitor":
            return monitor(observation)
        if role == "translator":
            return translator(observation)
        return Wait(rationale=f"no expert policy for role {role}")


__all__ = ["ExpertBrain"]
