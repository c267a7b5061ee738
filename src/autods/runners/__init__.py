"""Runners: a declarative :class:`Recipe` -> a fitted, deterministic pipeline, and :func:`evaluate`.

``evaluate`` is imported here, not lazily: a submodule named like the function would
otherwise shadow it on the package (``autods.runners.evaluate`` would be the module).
"""

from __future__ import annotations

from autods.runners.evaluate import evaluate
from autods.runners.families import FAMILIES, FamilySpec, Param, register_family
from autods.runners.pipeline import RecipeRunner, TrainingData
from autods.runners.recipe import Composite, Preprocess, Recipe, default_recipe
from autods.runners.record import EvaluationRecord

# Families kept in their own modules register on import: the sandboxed agent-written "code"
# family, ensembles of recipes and recalibrated variants. Every process that reads recipes
# (CLI, server, executor workers) imports this package first.
from autods.runners import calibrate as _calibrate  # noqa: E402,F401
from autods.runners import code_family as _code_family  # noqa: E402,F401
from autods.runners import ensemble as _ensemble  # noqa: E402,F401

__all__ = ["FAMILIES", "Composite", "EvaluationRecord", "FamilySpec", "Param", "Preprocess", "Recipe",
           "RecipeRunner", "TrainingData", "default_recipe", "evaluate", "register_family"]

