"""Runners: a declarative :class:`Recipe` -> a fitted, deterministic pipeline, and :func:`evaluate`.

``evaluate`` is imported lazily: it pulls in the judge, and ``import autods.runners`` (for a
Recipe) must stay cheap.
"""

from __future__ import annotations

from typing import Any

from autods.runners.families import FAMILIES, FamilySpec, Param, register_family
from autods.runners.pipeline import RecipeRunner, TrainingData
from autods.runners.recipe import Composite, Preprocess, Recipe, default_recipe

__all__ = ["FAMILIES", "Composite", "EvaluationRecord", "FamilySpec", "Param", "Preprocess", "Recipe",
           "RecipeRunner", "TrainingData", "default_recipe", "evaluate", "register_family"]


def __getattr__(name: str) -> Any:
    if name in ("evaluate", "EvaluationRecord"):
        from autods.runners import evaluate as module

        return getattr(module, name)
    raise AttributeError(f"module 'autods.runners' has no attribute {name!r}")
