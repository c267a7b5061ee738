"""What a diagnosis hands the graph: the claim with its evidence references, and idea sketches
whose meaning is fixed before they run. Plain records; :meth:`Diagnosis.graph_diagnosis` and
:meth:`Diagnosis.graph_ideas` give the keyword arguments of the coordination client's
``add_diagnosis`` and ``propose_idea``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autods.agents.expert.diagnose_effect import Effect

#: what an idea's ``effect_basis`` starts with when no recorded result supports an estimate
NO_ESTIMATE = "no estimate"


@dataclass(frozen=True)
class IdeaSketch:
    """A recipe worth running for one diagnosis, with its meaning fixed before it runs."""

    title: str
    recipe: dict[str, Any]
    if_works: str
    if_fails: str
    surprise_if: str
    expected_effect: Effect

    @property
    def family(self) -> str:
        return str(self.recipe["family"])

    def as_dict(self) -> dict[str, Any]:
        e = self.expected_effect
        return {"title": self.title, "recipe": self.recipe, "family": self.family, "if_works": self.if_works,
                "if_fails": self.if_fails, "surprise_if": self.surprise_if, "expected_effect": e.value,
                "expected_effect_se": e.se, "effect_evidence": e.as_evidence()}


@dataclass(frozen=True)
class Diagnosis:
    """A claim about what limits the metric, the evidence it cites and the ideas that follow."""

    key: str
    claim: str
    evidence: list[dict[str, Any]]
    strength: float
    ideas: list[IdeaSketch] = field(default_factory=list)

    @property
    def result_ids(self) -> list[int]:
        return sorted({int(r["result"]) for r in self.evidence if "result" in r})

    @property
    def finding_ids(self) -> list[int]:
        """Post ids of cited findings: what the graph's ``Diagnosis.finding_ids`` holds."""
        return sorted({int(r["finding"]) for r in self.evidence if "finding" in r})

    def graph_diagnosis(self) -> dict[str, Any]:
        """Keyword arguments of ``client.add_diagnosis`` (the key leads the claim, so a reader of the
        board and a later :func:`~autods.agents.expert.diagnose.diagnose` can match the two)."""
        return {"claim": f"[{self.key}] {self.claim}"[:2000], "finding_ids": self.finding_ids,
                "result_ids": self.result_ids}

    def graph_ideas(self, diagnosis_id: int) -> list[dict[str, Any]]:
        """Keyword arguments of ``client.propose_idea`` for each sketch. The server wants a finite
        expected effect: with no estimate it gets 0.0 and a basis that starts with :data:`NO_ESTIMATE`."""
        out = []
        for idea in self.ideas:
            e = idea.expected_effect
            basis = e.basis if e.value is not None else f"{NO_ESTIMATE}: {e.basis}"
            if e.value is not None and e.se is not None:
                basis += f" (expected {e.value:+.4g}, SE {e.se:.3g})"
            out.append({"diagnosis_id": diagnosis_id, "recipe": idea.recipe, "title": idea.title[:200],
                        "hypothesis": f"{idea.title}: {self.claim}"[:1000], "if_works": idea.if_works,
                        "if_fails": idea.if_fails, "surprise_if": idea.surprise_if,
                        "expected_effect": 0.0 if e.value is None else float(e.value),
                        "effect_basis": basis[:2000], "effect_result_ids": list(e.result_ids)})
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "claim": self.claim, "evidence": self.evidence, "strength": self.strength,
                "result_ids": self.result_ids, "finding_ids": self.finding_ids,
                "ideas": [i.as_dict() for i in self.ideas]}


def from_p(p: float | None) -> float:
    """A test's strength: 1 - p, clipped; 0 without a p-value."""
    return 0.0 if p is None else round(min(1.0, max(0.0, 1.0 - p)), 4)


__all__ = ["Diagnosis", "IdeaSketch", "NO_ESTIMATE", "from_p"]
