"""Recipe: validation with one-line RecipeErrors, JSON round trip, canonical hash stability."""

from __future__ import annotations

import json

import pytest

from autods.errors import RecipeError
from autods.runners import Recipe, default_recipe
from autods.runners.recipe import Preprocess, canonical_json
from autods.state.hashing import canonical_hash


def test_hash_ignores_key_order_and_float_spelling() -> None:
    a = Recipe(family="lightgbm", params={"learning_rate": 0.1, "n_estimators": 100})
    b = Recipe.model_validate({"params": {"n_estimators": 100.0, "learning_rate": 0.1000000000000001}, "family": "lightgbm"})
    assert a.canonical_hash() == b.canonical_hash()
    assert hash(a) == hash(b)


def test_hash_includes_defaults() -> None:
    # Spelling out a default is the same recipe as leaving it out.
    assert Recipe(family="logistic").canonical_hash() == Recipe(family="logistic", params={"C": 1}).canonical_hash()
    assert Recipe(family="logistic").canonical_hash() != Recipe(family="logistic", params={"C": 0.5}).canonical_hash()
    assert Recipe(family="logistic").canonical_hash() != Recipe(family="logistic", seed=1).canonical_hash()


def test_hash_is_a_stable_constant() -> None:
    # Pinned: a change here silently breaks dead-end matching against stored recipes.
    r = Recipe(family="ridge", params={"alpha": 2.0}, preprocess=Preprocess(scale=False))
    assert r.canonical_hash() == "7497a858f3b168a4d65468450614961ef42bfcaf3bb89045580189589396d303"
    assert r.canonical_hash() == Recipe.model_validate_json(r.model_dump_json()).canonical_hash()


def test_recipe_and_server_hash_alike() -> None:
    # The server's duplicate rule hashes the recipe dict it is sent; the runner hashes the model.
    r = Recipe(family="lightgbm", params={"learning_rate": 0.30000000000000004, "n_estimators": 200.0})
    assert r.canonical_hash() == canonical_hash(r.canonical_dict())


@pytest.mark.parametrize(("value", "fix"), [(float("nan"), "finite numbers"), (float("-inf"), "finite numbers"),
                                            ({1, 2}, "JSON values")])
def test_unhashable_values_are_recipe_errors(value: object, fix: str) -> None:
    with pytest.raises(RecipeError, match=fix) as err:
        canonical_json({"params": {"x": value}})
    assert "\n" not in str(err.value) and "recipe:" in str(err.value)


def test_json_round_trip_with_composites() -> None:
    r = Recipe(
        family="elastic_net",
        params={"alpha": 0.1, "l1_ratio": 0.3},
        preprocess={"impute": "mean", "log_transform": ["crp"], "min_frequency": 5,
                    "composites": [{"name": "ratio", "expr": "a / `b c`"}]},
        features=["a", "b c", "crp"],
        seed=7,
    )
    again = Recipe.model_validate_json(r.model_dump_json())
    assert again == r
    assert json.loads(r.model_dump_json())["preprocess"]["composites"][0]["expr"] == "a / `b c`"


def test_unknown_family_lists_valid_ones() -> None:
    with pytest.raises(RecipeError, match="unknown model family 'xgboost'.*logistic"):
        Recipe(family="xgboost")


def test_unknown_param_names_it_and_lists_valid() -> None:
    with pytest.raises(RecipeError, match="'logistic' has no parameter 'alpha'.*C, class_weight"):
        Recipe(family="logistic", params={"alpha": 1.0})


def test_bad_param_type_is_recipe_error() -> None:
    with pytest.raises(RecipeError, match="'C' = 'big'"):
        Recipe(family="logistic", params={"C": "big"})
    with pytest.raises(RecipeError, match="class_weight"):
        Recipe(family="logistic", params={"class_weight": "heavy"})


def test_parse_turns_validation_errors_into_recipe_errors() -> None:
    with pytest.raises(RecipeError, match="unknown key 'famly'"):
        Recipe.parse({"famly": "logistic"})
    with pytest.raises(RecipeError, match="preprocess.impute"):
        Recipe.parse({"family": "logistic", "preprocess": {"impute": "knn"}})
    with pytest.raises(RecipeError, match="unexpected character"):
        Recipe.parse({"family": "logistic", "preprocess": {"composites": [{"name": "x", "expr": "__import__('os')"}]}})
    assert Recipe.parse('{"family": "ridge"}').family == "ridge"


def test_recipe_is_frozen() -> None:
    r = Recipe(family="ridge")
    with pytest.raises(ValueError):
        r.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(("task_type", "family"), [("binary", "logistic"), ("multiclass", "logistic"),
                                                   ("regression", "ridge"), ("biomarker", "ridge"), ("survival", "cox")])
def test_default_recipe(task_type: str, family: str) -> None:
    assert default_recipe(task_type).family == family
