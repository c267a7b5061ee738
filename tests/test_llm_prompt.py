"""The LLM system prompt documents the recipe grammar from the registries, so it cannot drift:
a family registered at run time appears with its kinds, defaults and search ranges; every
preprocessing key and its allowed values, every composite function, and the code contract
with a worked example that really fits and predicts."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.metrics import r2_score, roc_auc_score

from autods.agents.llm import grammar
from autods.agents.llm.prompt import system_prompt
from autods.runners import expressions
from autods.runners.families import FAMILIES, KIND, FamilySpec, Param, register_family
from autods.runners.recipe import Preprocess, Recipe
from fake_providers import make_observation


@pytest.fixture()
def temporary_family() -> Any:
    spec = FamilySpec("zz_drift_probe", frozenset({"binary", "survival"}), {"gamma": 0.5, "mode": "a", "fixed": 7},
                      {"gamma": Param.float(0.01, 20.0, log=True), "mode": Param.choice("a", "b")},
                      build=lambda kind, p, seed: None, description="probe family registered by a test")
    register_family(spec)
    yield spec
    del FAMILIES[spec.name]


def _obs(task_type: str = "binary", **kw: Any) -> Any:
    obs = make_observation(**kw)
    return obs.model_copy(update={"task": obs.task.model_copy(update={"task_type": task_type})})


def _family_block(prompt: str, name: str) -> str:
    m = re.search(rf"^- {re.escape(name)} \[([^\]]*)\][^\n]*\n    ([^\n]*)$", prompt, re.M)
    assert m, f"family {name} is not in the prompt"
    return m.group(0)


@pytest.mark.parametrize("task_type", ["binary", "multiclass", "regression", "survival"])
def test_every_registered_family_of_the_kind_is_in_the_prompt_with_its_space(task_type: str) -> None:
    prompt = system_prompt(_obs(task_type))
    kind = KIND[task_type]
    for name, spec in FAMILIES.items():
        if name == grammar.CODE_FAMILY:
            continue
        if kind not in spec.kinds:
            assert not re.search(rf"^- {re.escape(name)} \[", prompt, re.M), f"{name} does not fit {kind}"
            continue
        block = _family_block(prompt, name)
        for p in spec.param_names:
            assert re.search(rf"\b{re.escape(p)}[:=]", block), f"{name}.{p}"
        for p, rng in spec.space.items():
            if rng.type == "choice":
                assert json.dumps(list(rng.choices)) in block
            else:
                assert f"[{json.dumps(rng.low)}, {json.dumps(rng.high)}]" in block, f"{name}.{p} range"


def test_a_family_registered_at_run_time_appears_and_disappears(temporary_family: FamilySpec) -> None:
    block = _family_block(system_prompt(_obs("binary")), "zz_drift_probe")
    assert "[binary, survival]" in block and "probe family registered by a test" in block
    assert 'gamma: float in [0.01, 20.0], log scale (default 0.5)' in block
    assert 'mode: one of ["a", "b"] (default "a")' in block and "fixed=7" in block
    assert "zz_drift_probe" not in system_prompt(_obs("regression"))
    del FAMILIES["zz_drift_probe"]
    assert "zz_drift_probe" not in system_prompt(_obs("binary"))
    register_family(temporary_family)  # for the fixture's teardown


def test_preprocess_keys_and_their_allowed_values_come_from_the_model() -> None:
    prompt = system_prompt(_obs())
    for name, field in Preprocess.model_fields.items():
        line = re.search(rf"^- {name}: (.*)$", prompt, re.M)
        assert line, f"preprocess key {name}"
        for value in getattr(field.annotation, "__args__", ()):
            if isinstance(value, str):
                assert f'"{value}"' in line.group(1), f"{name} value {value}"
    for key in Recipe.model_fields:
        assert key in prompt.split("Recipe grammar", 1)[1].split("\n", 1)[0]


def test_composite_grammar_and_functions_come_from_the_expression_module() -> None:
    prompt = system_prompt(_obs())
    for name in [*expressions.FUNCTIONS, *expressions.UNIT_FUNCTIONS]:
        assert f"{name}(x" in prompt, name
    assert "expr    := term" in prompt and "column  := NAME | `any column name`" in prompt
    assert f"At most {expressions.MAX_LENGTH} characters" in prompt


def test_roles_that_neither_propose_nor_critique_are_not_sent_the_grammar() -> None:
    assert "Recipe grammar" not in system_prompt(_obs(allowed_actions=["post", "wait"]))
    assert "Recipe grammar" in system_prompt(_obs(allowed_actions=["critique", "wait"]))


def _worked_example(prompt: str) -> dict[str, Any]:
    text = prompt.split("Worked example (the whole action):\n", 1)[1]
    obj, _ = json.JSONDecoder().raw_decode(text)
    return obj


def _load(source: str, tmp_path: Path, name: str) -> Any:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    sys.modules.pop(name, None)
    return getattr(module, grammar.CODE_ENTRY)


@pytest.mark.parametrize("task_type", ["binary", "regression"])
def test_the_worked_code_example_is_a_valid_action_whose_model_fits(task_type: str, tmp_path: Path) -> None:
    action = _worked_example(grammar.code_text(task_type))
    assert action["kind"] == "propose" and action["family"] == grammar.CODE_FAMILY
    params = action["recipe"]["params"]
    assert params["entry"] == grammar.CODE_ENTRY and params["role"] == "estimator"
    assert params["contract"] == grammar.CODE_CONTRACT
    model_cls = _load(params["source"], tmp_path, f"example_{task_type}")
    loader = load_breast_cancer if task_type == "binary" else load_diabetes
    X, y = loader(return_X_y=True, as_frame=True)
    X = (X - X.mean()) / X.std()  # the contract hands in preprocessed (scaled) columns
    model = model_cls().fit(X.iloc[:400], y.iloc[:400])
    if task_type == "binary":
        proba = model.predict_proba(X.iloc[400:])
        assert proba.shape == (len(X) - 400, 2) and np.allclose(proba.sum(axis=1), 1)
        assert roc_auc_score(y.iloc[400:], proba[:, 1]) > 0.9
    else:
        assert r2_score(y.iloc[400:], model.predict(X.iloc[400:])) > 0.3


def test_the_worked_example_parses_as_a_recipe_once_the_code_family_exists() -> None:
    pytest.importorskip("autods.runners.code_family", reason="the code family (sandbox work) is not on main yet")
    prompt = system_prompt(_obs())
    assert grammar.code_text("binary") in prompt
    recipe = Recipe.parse(_worked_example(prompt)["recipe"])
    assert recipe.family == grammar.CODE_FAMILY


def test_code_is_offered_only_where_the_code_family_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grammar, "code_available", lambda: False)
    prompt = system_prompt(_obs())
    assert "Recipe grammar" in prompt and "Code experiments" not in prompt


def test_the_tool_example_is_the_arguments_propose_code_takes(tmp_path: Path) -> None:
    from autods.server.mcp_tools import code_recipe_of

    text = grammar.code_text(None, tool=True)
    assert all(k in text for k in ("binary:", "regression:", "survival:"))
    args = json.JSONDecoder().raw_decode(text.split("(the arguments of propose_code):\n", 1)[1])[0]
    assert set(args) == {"source", "entry", "role", "hypothesis", "expected_effect"}
    pytest.importorskip("autods.runners.code_family", reason="the code family (sandbox work) is not on main yet")
    assert code_recipe_of(args["source"], args["entry"], args["role"], None, None).family == grammar.CODE_FAMILY
