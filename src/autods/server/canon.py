"""The server's own reading of a recipe: canonical form, family, hash and region.

A proposer's words never decide a rule. Every recipe that reaches the Service (REST, MCP or
in-process) is parsed by :class:`~autods.runners.recipe.Recipe` and kept in its canonical
form (the family's defaults filled in: what actually runs). Its family, its hash (the
duplicate rule) and the values a dead end's region is matched against all come from that
form, so

* a lightgbm recipe labelled "logistic" is a lightgbm recipe (and the mislabel is refused);
* ``{"family": "logistic"}`` and ``{"family": "logistic", "params": {"C": 1.0}}`` are one
  recipe when ``C = 1.0`` is the default, for duplicates and for dead ends alike.

A recipe that does not parse is refused (``ProtocolViolation("recipe")`` -> 409) with the
parser's one-line problem and fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autods.canonical import canonical_json
from autods.errors import ProtocolViolation, RecipeError


@dataclass(frozen=True)
class Canonical:
    """A recipe as the server reads it."""

    recipe: dict[str, Any]  # canonical dict: defaults filled in
    family: str
    hash: str


def canonicalise(recipe: dict[str, Any], label: str | None = None) -> Canonical:
    """Parse ``recipe``; refuse it when it does not parse or ``label`` names another family."""
    from autods.runners.recipe import Recipe  # the runners import numpy-light modules only on use

    try:
        parsed = Recipe.parse(recipe)
    except RecipeError as exc:
        raise ProtocolViolation("recipe", f"recipe refused: {exc}") from None
    if label and label != parsed.family:
        raise ProtocolViolation(
            "family_label",
            f"the recipe is of family '{parsed.family}' but was labelled '{label}'; "
            f"send family '{parsed.family}' or leave it out (the server derives it)",
        )
    return Canonical(parsed.canonical_dict(), parsed.family, parsed.canonical_hash())


def family_name(family: str) -> str:
    """A known family's name, or a refusal listing the known ones (dead ends name real families)."""
    from autods.runners.families import get_family

    try:
        return get_family(family).name
    except RecipeError as exc:
        raise ProtocolViolation("dead_end_family", f"dead end refused: {exc}") from None


def region_value(recipe: dict[str, Any], key: str) -> tuple[bool, Any]:
    """The value a region key names in a canonical recipe.

    ``key`` is a top-level field (``features``), a dotted path (``params.max_depth``,
    ``preprocess.scale``) or a bare parameter or preprocessing name (``max_depth``, ``scale``),
    looked up in that order.
    """
    if key in recipe:
        return True, recipe[key]
    node: Any = recipe
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            node = None
            break
        node = node[part]
    else:
        return True, node
    for section in ("params", "preprocess"):
        inner = recipe.get(section)
        if isinstance(inner, dict) and key in inner:
            return True, inner[key]
    return False, None


def same_value(a: Any, b: Any) -> bool:
    """Equal as the hash sees them: ``1 == 1.0``, lists and tuples alike, key order ignored."""
    try:
        return canonical_json(a) == canonical_json(b)
    except (TypeError, ValueError):
        return bool(a == b)


def in_region(recipe: dict[str, Any], region: dict[str, Any]) -> bool:
    """True when the canonical ``recipe`` has every ``region`` item (an empty region is the whole family)."""
    for key, value in region.items():
        found, actual = region_value(recipe, key)
        if not found or not same_value(actual, value):
            return False
    return True


def check_region(family: str, region: dict[str, Any]) -> None:
    """Refuse a dead-end region key the family's recipes can never have: such a dead end
    would match nothing, silently."""
    from autods.runners.families import get_family
    from autods.runners.recipe import Preprocess, Recipe

    spec = get_family(family)
    known = set(Recipe.model_fields) | set(spec.param_names) | set(Preprocess.model_fields)
    known |= {f"params.{p}" for p in spec.param_names} | {f"preprocess.{p}" for p in Preprocess.model_fields}
    unknown = sorted(k for k in region if k not in known)
    if unknown:
        raise ProtocolViolation(
            "dead_end_region",
            f"dead end refused: family '{family}' recipes have no {unknown}; "
            f"use params.<name> with one of {spec.param_names} or a recipe field",
        )
