"""Evaluation fidelity: screen cheaply before paying for every repeat (successive halving).

A recipe runs at ``full`` fidelity (the default: every repeat of the plan's R x K folds) or
asks for ``screen`` (``"fidelity": "screen"`` in the recipe): the first repeat of the *same*
plan only, i.e. the K folds keyed ``r0k0 .. r0k{K-1}`` of the full split, so a screened
recipe's fold scores are exactly the first K of its full-fidelity run and pair with every
other experiment's first repeat. A screen costs ``1/R`` of a full evaluation, and
:func:`full_equivalents` counts a budget in full-equivalent evaluations (the orchestrator's
run budget still counts one per queued item, screen or not; no built-in agent proposes a
screen yet).

Screening decides what deserves the full plan; it never decides the champion. One repeat of
K folds on a small cohort is the noisy estimate the repeats exist to average away, so the
server refuses to promote a screened result (``ProtocolViolation("screening_fidelity")``,
:func:`promotion_refusal`). The canonical recipe keeps the fidelity only when it is
``screen`` (a full recipe hashes as it always did), so the full run of a screened recipe is a
new recipe, not a duplicate, while a second screen of it is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["FIDELITIES", "FULL", "SCREEN", "cost", "fidelity_of", "full_equivalents", "promotion_refusal",
           "screen_folds"]

FULL = "full"
SCREEN = "screen"
FIDELITIES = (FULL, SCREEN)


def fidelity_of(recipe: dict[str, Any] | None) -> str:
    """The fidelity a recipe (dict, canonical or not) asks for; a recipe without the key is full."""
    value = (recipe or {}).get("fidelity", FULL)
    return SCREEN if value == SCREEN else FULL


def cost(fidelity: str, repeats: int) -> float:
    """Full-equivalent evaluations of one run at ``fidelity`` under a plan of ``repeats`` repeats."""
    return 1.0 / max(1, int(repeats)) if fidelity == SCREEN else 1.0


def full_equivalents(recipes: Iterable[dict[str, Any] | None], repeats: int) -> float:
    """The budget used by the given committed runs (one recipe per queued, running or finished item)."""
    return sum(cost(fidelity_of(r), repeats) for r in recipes)


def screen_folds(folds: Sequence[tuple[str, Any, Any]]) -> list[tuple[str, Any, Any]]:
    """The first repeat of a keyed R x K split (keys ``r0k*``): what a screening run is scored on."""
    return [f for f in folds if str(f[0]).startswith("r0k")]


def promotion_refusal(fidelity: str) -> str | None:
    """Why a result of this fidelity cannot become champion; None when it can."""
    if fidelity != SCREEN:
        return None
    return ("it was evaluated at screening fidelity (one repeat of the plan); run the recipe at full fidelity "
            "(the same recipe without \"fidelity\": \"screen\") and promote that result")
