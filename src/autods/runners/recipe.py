"""The declarative recipe: everything needed to rebuild a model, as JSON, with a canonical hash.

A recipe is data, never code: a model family and its hyperparameters, preprocessing
choices, an optional feature subset, composite features written in the safe grammar of
:mod:`autods.runners.expressions`, and a seed. Two agents proposing the same recipe get the
same :meth:`Recipe.canonical_hash` whatever their key order or float spelling (``1`` and
``1.0`` are one value), which is what makes "do not re-run a dead end" enforceable.

Invalid input raises :class:`~autods.errors.RecipeError` (one line: problem + fix) rather
than a pydantic ``ValidationError``, so the CLI and the server report it the same way.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autods import canonical
from autods.errors import RecipeError
from autods.runners.expressions import parse
from autods.runners.families import get_family

__all__ = ["Composite", "Preprocess", "Recipe", "canonical_json", "default_recipe"]

_IDENT_OK = "letters, digits and '_', not starting with a digit"


class Composite(BaseModel):
    """A derived feature ``name`` computed by ``expr`` (see :mod:`autods.runners.expressions`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    expr: str = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _parses(self) -> Composite:
        parse(self.expr)  # raises RecipeError naming the offending token
        return self


class Preprocess(BaseModel):
    """Preprocessing, fitted inside each training fold.

    ``datetime``: datetime-typed columns become days since 1970-01-01 (``"days"``) or are
    dropped (``"drop"``, the default: calendar time is rarely a causal feature and invites
    temporal leakage). Free-text columns are always dropped.

    ``harmonize``: optional site/batch harmonisation of numeric columns (see
    :mod:`autods.runners.harmonize`), learned on the training fold's rows only;
    ``harmonize_site`` names the site column, which must be among the recipe's features.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    impute: Literal["median", "mean", "most_frequent"] = "median"
    add_indicator: bool = True
    scale: bool = True
    min_frequency: float | int | None = Field(default=0.01, description="one-hot levels rarer than this are grouped")
    log_transform: tuple[str, ...] = ()
    composites: tuple[Composite, ...] = ()
    datetime: Literal["drop", "days"] = "drop"
    harmonize: Literal["none", "site_standardize", "combat"] = "none"
    harmonize_site: str | None = None

    @field_validator("min_frequency")
    @classmethod
    def _freq(cls, v: float | int | None) -> float | int | None:
        if v is not None and (v < 0 or (isinstance(v, float) and v >= 1)):
            raise ValueError("min_frequency is a count >= 1 or a fraction in [0, 1)")
        # 0 groups nothing, which scikit-learn spells None (it refuses 0 and 0.0 at fit time)
        return None if v is not None and v == 0 else v

    @model_validator(mode="after")
    def _harmonize_site(self) -> Preprocess:
        if self.harmonize != "none" and not self.harmonize_site:
            raise ValueError(f"harmonize '{self.harmonize}' needs harmonize_site: the site column")
        return self

    @model_validator(mode="after")
    def _unique_composites(self) -> Preprocess:
        names = [c.name for c in self.composites]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"composite names must be unique; repeated: {dupes}")
        return self


class Recipe(BaseModel):
    """Model family + hyperparameters + preprocessing + feature subset + seed (+ evaluation fidelity)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    family: str
    params: dict[str, Any] = Field(default_factory=dict)
    preprocess: Preprocess = Preprocess()
    features: tuple[str, ...] | None = None
    seed: int = 0
    #: ``full`` (every repeat of the plan) or ``screen`` (its first repeat; cannot be promoted):
    #: see :mod:`autods.judge.fidelity`
    fidelity: Literal["full", "screen"] = "full"

    @model_validator(mode="before")
    @classmethod
    def _check_family(cls, data: Any) -> Any:
        # Raised as RecipeError (not ValueError) on purpose: pydantic lets it through unchanged.
        if isinstance(data, dict) and "family" in data:
            if not isinstance(data["family"], str):
                raise RecipeError(f"family must be a name, got {data['family']!r}", "give family as a string")
            family = get_family(data["family"])
            params = data.get("params") or {}
            if not isinstance(params, dict):
                raise RecipeError(f"params must be a mapping, got {type(params).__name__}", "write params as {name: value}")
            data = {**data, "params": family.resolve(params)}
        return data

    @classmethod
    def parse(cls, obj: Recipe | dict[str, Any] | str) -> Recipe:
        """A Recipe from a Recipe, a dict or a JSON string; any problem is a RecipeError."""
        if isinstance(obj, Recipe):
            return obj
        try:
            return cls.model_validate_json(obj) if isinstance(obj, str) else cls.model_validate(obj)
        except ValidationError as exc:
            # An unknown key usually is a typo of a missing one: report the typo, it names the fix.
            err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
            loc = ".".join(str(p) for p in err["loc"]) or "recipe"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                raise RecipeError(f"recipe has an unknown key '{loc}'", f"use only: {_fields_hint(loc)}") from None
            raise RecipeError(f"recipe field '{loc}' is invalid ({msg})", f"correct '{loc}'") from None

    def canonical_dict(self) -> dict[str, Any]:
        """The recipe with the family's defaults filled in: what actually runs."""
        data = self.model_dump(mode="json")
        data["params"] = {**get_family(self.family).defaults, **data["params"]}
        if data["fidelity"] == "full":
            # full is what every recipe always was: leaving it out keeps their hashes, while a
            # screen hashes apart from its full run (a new recipe, not a duplicate)
            del data["fidelity"]
        return data

    def canonical_hash(self) -> str:
        """sha256 of the canonical JSON (sorted keys, normalised floats, defaults included)."""
        return hashlib.sha256(canonical_json(self.canonical_dict()).encode("utf-8")).hexdigest()

    def __hash__(self) -> int:  # params is a dict, so the generated frozen hash would fail
        return hash(self.canonical_hash())


def _fields_hint(loc: str) -> str:
    model: type[BaseModel] = Preprocess if loc.startswith("preprocess") else Recipe
    if loc.startswith("preprocess.composites"):
        model = Composite
    return ", ".join(model.model_fields)


def canonical_json(obj: Any) -> str:
    """``autods.canonical.canonical_json`` with a recipe's error: a value that cannot be
    hashed (NaN, infinity, a non-JSON object) is a RecipeError naming it."""
    try:
        return canonical.canonical_json(obj)
    except ValueError as err:
        raise RecipeError(f"recipe: {err}", "use finite numbers only") from None
    except TypeError as err:
        raise RecipeError(f"recipe: {err}", "use JSON values only (numbers, strings, booleans, lists, objects)") from None


#: task_type -> the family a first, honest baseline uses.
DEFAULT_FAMILY = {"binary": "logistic", "multiclass": "logistic", "singlecell": "logistic",
                  "regression": "ridge", "biomarker": "ridge", "survival": "cox"}


def default_recipe(task_type: str, seed: int = 0) -> Recipe:
    """The baseline recipe for ``task_type``: logistic, ridge or Cox with default preprocessing."""
    if task_type not in DEFAULT_FAMILY:
        raise RecipeError(f"no default recipe for task type {task_type!r}", f"use one of {sorted(DEFAULT_FAMILY)}")
    return Recipe(family=DEFAULT_FAMILY[task_type], seed=seed)
