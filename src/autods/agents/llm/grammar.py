"""The recipe grammar and the code contract as an LLM reads them, rendered from the registries.

Nothing here lists a family, a parameter, a preprocessing key or a function by hand: families,
kinds, defaults and search ranges come from :data:`autods.runners.families.FAMILIES`; the
preprocessing keys, their allowed values and defaults from the pydantic schema of
:class:`~autods.runners.recipe.Preprocess`; the composite grammar and its functions from
:mod:`autods.runners.expressions`. A family registered at run time (a user's, or another
engineer's new built-in) appears in the next prompt, so the prompt cannot drift from what the
runners accept. ``tests/test_llm_prompt.py`` fails when it does.

The code contract (family ``code``, contract version :data:`CODE_CONTRACT`) is documented with
one worked example; the example is a real module that a test fits on data.
"""

from __future__ import annotations

import json
from typing import Any

CODE_FAMILY = "code"
CODE_CONTRACT = 1
CODE_ENTRY = "Model"

#: what each kind's estimator must return, in the words of the contract
_KIND_METHOD: dict[str, str] = {
    "binary": "predict_proba(X) -> array (n_rows, 2), columns in the sorted order of the labels in y (0, 1)",
    "multiclass": "predict_proba(X) -> array (n_rows, n_classes), columns in the sorted order of the labels in y",
    "regression": "predict(X) -> array (n_rows,) of predicted values",
    "survival": "predict(X) -> array (n_rows,) of risk scores (higher = earlier event); y is a structured "
                "array with fields 'event' (bool) and 'time' (float), as scikit-survival's Surv",
}

#: the worked example: a spline expansion feeding a penalised linear model, per kind. Spline bases
#: lie in [0, 1], so a strong penalty makes probabilities timid (calibration slope well above 1,
#: which the promotion rule refuses); C=10 keeps the slope near 1 on a few hundred rows.
_EXAMPLE_MODEL: dict[str, tuple[str, str, str]] = {
    "binary": ("sklearn.linear_model", "LogisticRegression(C=10.0, max_iter=5000)", "predict_proba"),
    "multiclass": ("sklearn.linear_model", "LogisticRegression(C=10.0, max_iter=5000)", "predict_proba"),
    "regression": ("sklearn.linear_model", "Ridge(alpha=1.0)", "predict"),
    "survival": ("sksurv.linear_model", "CoxPHSurvivalAnalysis(alpha=1.0)", "predict"),
}


def code_available() -> bool:
    """Whether this process can run code experiments: the ``code`` family registers itself when its
    module (which needs the sandbox) is imported. The prompt offers code only then."""
    import importlib

    from autods.runners.families import FAMILIES

    if CODE_FAMILY not in FAMILIES:
        try:
            importlib.import_module("autods.runners.code_family")
        except ImportError:
            return False
    return CODE_FAMILY in FAMILIES


def example_source(kind: str = "binary") -> str:
    """The worked example's module for ``kind``: natural splines of every column, then a penalised
    linear model (a common next step when a linear champion misses curved effects)."""
    module, model, method = _EXAMPLE_MODEL.get(kind, _EXAMPLE_MODEL["binary"])
    cls = model.split("(", 1)[0]
    return (
        "import numpy as np\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import SplineTransformer\n"
        f"from {module} import {cls}\n"
        "\n\n"
        f"class {CODE_ENTRY}:\n"
        '    """Cubic splines (4 knots) of each column, then a lightly penalised linear model."""\n'
        "\n"
        "    def fit(self, X, y):\n"
        f"        self.model_ = make_pipeline(SplineTransformer(n_knots=4, degree=3), {model})\n"
        "        self.model_.fit(np.asarray(X, dtype=float), y)\n"
        "        return self\n"
        "\n"
        f"    def {method}(self, X):\n"
        f"        return self.model_.{method}(np.asarray(X, dtype=float))\n"
    )


def code_recipe(source: str, *, entry: str = CODE_ENTRY, role: str = "estimator", then: str | None = None,
                then_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A code recipe as the runners read it: family ``code`` and the module in ``params``."""
    params: dict[str, Any] = {"source": source, "entry": entry, "role": role, "contract": CODE_CONTRACT}
    if then is not None:
        params["then"] = then
    if then_params:
        params["then_params"] = dict(then_params)
    return {"family": CODE_FAMILY, "params": params}


def _value(v: Any) -> str:
    return json.dumps(v, default=str)


def _param_line(name: str, spec: Any, defaults: dict[str, Any]) -> str:
    default = f" (default {_value(defaults[name])})" if name in defaults else ""
    if spec is None:
        return f"{name}={_value(defaults[name])} (fixed default; may be overridden)"
    if spec.type == "choice":
        return f"{name}: one of {_value(list(spec.choices))}{default}"
    scale = ", log scale" if spec.log else ""
    return f"{name}: {spec.type} in [{_value(spec.low)}, {_value(spec.high)}]{scale}{default}"


def families_text(kind: str | None = None) -> str:
    """Every registered family usable for ``kind`` (all of them when ``kind`` is None)."""
    from autods.runners.families import FAMILIES

    lines = []
    for name in sorted(FAMILIES):
        spec = FAMILIES[name]
        if name == CODE_FAMILY or (kind is not None and kind not in spec.kinds):
            continue
        params = [_param_line(p, spec.space.get(p), spec.defaults) for p in spec.param_names]
        head = f"- {name} [{', '.join(sorted(spec.kinds))}]" + (f": {spec.description}" if spec.description else "")
        lines.append(head + ("\n    " + "; ".join(params) if params else "\n    (no parameters)"))
    return "\n".join(lines)


def _schema_type(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return "one of " + _value(prop["enum"])
    if "anyOf" in prop:
        return " or ".join(_schema_type(p) for p in prop["anyOf"])
    if prop.get("type") == "array":
        items = prop.get("items", {})
        inner = "{name, expr}" if "$ref" in items else items.get("type", "value")
        return f"list of {inner}"
    return str(prop.get("type", "value"))


def preprocess_text() -> str:
    """The keys of ``preprocess`` with their allowed values and defaults (from the pydantic schema)."""
    from autods.runners.recipe import Preprocess

    props = Preprocess.model_json_schema()["properties"]
    lines = []
    for name, prop in props.items():
        note = f" - {prop['description']}" if prop.get("description") else ""
        lines.append(f"- {name}: {_schema_type(prop)} (default {_value(prop.get('default'))}){note}")
    return "\n".join(lines)


def expressions_text() -> str:
    """The composite grammar (the module's own BNF) and its functions with their arity."""
    from autods.runners import expressions as ex

    doc = ex.__doc__ or ""
    start = doc.find("::")
    block = doc[start + 2:].strip("\n").split("\n\n", 1)[0] if start >= 0 else ""
    grammar = "\n".join(line.strip() for line in block.splitlines() if line.strip())
    funcs = [f"{n}(x)" if arity == 1 else f"{n}(x, y, ...)" if arity is None else f"{n}({arity} args)"
             for n, (arity, _) in ex.FUNCTIONS.items()]
    unit = ", ".join(f"{n}(x)" for n in ex.UNIT_FUNCTIONS)
    return (f"{grammar}\nfunctions: {', '.join(funcs)}; unit history: {unit}.\n"
            f"At most {ex.MAX_LENGTH} characters and nesting depth {ex.MAX_DEPTH}; undefined results "
            "(division by zero, log of a non-positive value) are NaN and imputed, never an error.")


def recipe_text(task_type: str | None) -> str:
    """The whole declarative grammar for a task type, as one prompt section."""
    from autods.runners.families import KIND
    from autods.runners.recipe import Recipe

    kind = KIND.get(task_type or "")
    keys = ", ".join(Recipe.model_fields)
    return "\n".join([
        f"Recipe grammar (a recipe is a JSON object with keys {keys}; only these keys):",
        "- family: a model family below; params: overrides of its parameters (others keep their defaults);",
        "- features: a list of column names (null = every allowed feature); seed: an integer.",
        f"Model families for this task ({kind or 'any kind'}):",
        families_text(kind),
        "preprocess keys (fitted inside each training fold):",
        preprocess_text(),
        "Composite features (preprocess.composites: [{\"name\": ..., \"expr\": ...}]) use this grammar:",
        expressions_text(),
    ])


def code_text(task_type: str | None, *, tool: bool = False) -> str:
    """The code contract, version :data:`CODE_CONTRACT`, with one worked example for the task's kind
    (every kind's methods when ``task_type`` is None). ``tool``: the example is the arguments of the
    MCP tool ``propose_code`` instead of a brain's whole ``propose`` action."""
    from autods.runners.families import KIND

    kind = KIND.get(task_type or "", "binary")
    methods = "\n".join(f"  {k}: {m}" for k, m in _KIND_METHOD.items() if k == kind or task_type is None)
    hypothesis = "curved effects of the continuous measurements are missed by the linear champion"
    source = example_source(kind)
    if tool:
        heading = "Worked example (the arguments of propose_code):"
        example: dict[str, Any] = {"source": source, "entry": CODE_ENTRY, "role": "estimator",
                                   "hypothesis": hypothesis, "expected_effect": 0.01}
    else:
        heading = "Worked example (the whole action):"
        example = {"kind": "propose", "family": CODE_FAMILY, "recipe": code_recipe(source), "hypothesis": hypothesis,
                   "expected_effect": 0.01, "rationale": "splines are a cheap test of nonlinearity"}
    return "\n".join([
        f"Code experiments (contract {CODE_CONTRACT}): instead of a family from the grammar you may write a small "
        f"Python module. The recipe is {{\"family\": \"{CODE_FAMILY}\", \"params\": {{\"source\": <module text>, "
        f"\"entry\": <class name, e.g. \"{CODE_ENTRY}\">, \"role\": \"estimator\", \"contract\": {CODE_CONTRACT}}}}} "
        "(role \"transformer\" with \"then\": <built-in family> and optional \"then_params\" defines fit(X, y) + "
        "transform(X) -> a numeric matrix, applied inside the fold before that family).",
        "- The class has scikit-learn's shape: no work in __init__ (it is called without arguments); fit(X, y) "
        "returns self; fitted attributes end in '_'. X is a pandas DataFrame of the preprocessed, numeric "
        "development-fold columns (imputed, scaled, one-hot); y the fold's endpoint (classification: labels coded "
        "0..k-1 in sorted order). " + ("For this task:" if task_type else "Per task kind:"),
        methods,
        "- It runs in a sandbox: no network, no files outside a scratch folder, CPU, memory and time limits, the "
        "project's installed packages only (numpy, pandas, scipy, scikit-learn, lightgbm, scikit-survival...). "
        "It never sees the held-out rows, and the frozen judge scores it on the same folds as any recipe.",
        "- Do not print or return data; a failure comes back to you as the exception type and the last lines of "
        "the traceback (values masked): fix the code and propose it again.",
        heading,
        json.dumps(example, indent=1),
    ])


__all__ = ["CODE_CONTRACT", "CODE_ENTRY", "CODE_FAMILY", "code_available", "code_recipe", "code_text", "example_source",
           "expressions_text", "families_text", "preprocess_text", "recipe_text"]
