"""The ``code`` family: a model (or a feature transformer) written as a small Python module,
fitted and applied only inside the sandbox (:mod:`autods.execution.sandbox`). Contract 1 is
documented, with a worked example, in docs/code-experiments.md.

A code recipe is an ordinary :class:`~autods.runners.recipe.Recipe`::

    {"family": "code", "params": {"contract": 1, "source": "<module text>", "entry": "Model",
                                  "role": "estimator"}}

or, for a transformer applied inside the fold before a built-in family,
``{"role": "transformer", "entry": "Features", "then": "logistic", "then_params": {"C": 0.5}}``.

The source is normalised (``ast.unparse(ast.parse(source))``) when the recipe is parsed, so
the recipe hash, and with it the duplicate and dead-end rules, ignore comments and layout.
:class:`CodeEstimator` is the scikit-learn step the judge fits: it holds the source and the
fitted model as opaque pickle bytes made inside the sandbox; the parent never unpickles them,
so the champion can be pickled by :mod:`autods.reports.model_io` and predicts, after a reload,
in a fresh sandbox.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
from typing import Any, NoReturn

import numpy as np
from sklearn.base import BaseEstimator

from autods.errors import RecipeError
from autods.runners.families import CLASSIFY, FAMILIES, REGRESS, SURVIVAL, FamilySpec, get_family, register_family

__all__ = ["CONTRACT", "CodeEstimator", "CodeFamilySpec", "code_manifest", "normalise_source"]

CONTRACT = 1
ROLES = ("estimator", "transformer")
MAX_SOURCE_CHARS = 200_000
_FIX = "correct the code and propose it again (the judge, its folds and metric are unchanged)"


def normalise_source(source: Any) -> str:
    """``ast.unparse(ast.parse(source))``: comments and formatting do not change the hash."""
    if not isinstance(source, str) or not source.strip():
        raise RecipeError("a code recipe needs params.source: the Python module text", "give params.source")
    if len(source) > MAX_SOURCE_CHARS:
        raise RecipeError(f"code recipe source is {len(source)} characters (limit {MAX_SOURCE_CHARS})", "shorten the module")
    try:
        return ast.unparse(ast.parse(source))
    except SyntaxError as err:
        raise RecipeError(f"code recipe source does not parse (SyntaxError at line {err.lineno}: {err.msg})",
                          "fix the Python syntax") from None
    except (ValueError, RecursionError) as err:  # null bytes, absurd nesting
        raise RecipeError(f"code recipe source does not parse ({type(err).__name__})", "fix the Python source") from None


def _classes_in(source: str) -> set[str]:
    return {n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)}


class CodeFamilySpec(FamilySpec):
    """The ``code`` family: parameters are checked and the source normalised in :meth:`resolve`."""

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        out = super().resolve(params)
        out["source"] = normalise_source(out.get("source"))
        p = {**self.defaults, **out}
        if p["contract"] != CONTRACT:
            raise RecipeError(f"code contract {p['contract']!r} is not supported", f"write contract {CONTRACT} code (docs/code-experiments.md)")
        if p["role"] not in ROLES:
            raise RecipeError(f"code role {p['role']!r} is unknown", f"use one of: {', '.join(ROLES)}")
        if not isinstance(p["entry"], str) or p["entry"] not in _classes_in(out["source"]):
            raise RecipeError(f"the code defines no top-level class {p['entry']!r} (params.entry)",
                              "define the class named by params.entry at module level")
        if p["role"] == "estimator" and (p["then"] is not None or p["then_params"]):
            raise RecipeError("params.then is only for role 'transformer'", "drop then/then_params or set role 'transformer'")
        if p["role"] == "transformer":
            if p["then"] in (None, self.name) or p["then"] not in FAMILIES:
                raise RecipeError(f"a code transformer needs params.then: a built-in family, got {p['then']!r}",
                                  f"set then to one of: {', '.join(sorted(n for n in FAMILIES if n != self.name))}")
            if not isinstance(p["then_params"], dict):
                raise RecipeError("params.then_params must be a mapping", "write then_params as {name: value}")
            out["then_params"] = get_family(p["then"]).resolve(p["then_params"])
        return out


def code_manifest(recipe: Any) -> dict[str, Any] | None:
    """What the manifest and report record of a code recipe (None for any other family):
    ``{contract, sha256 (of the normalised source), entry, role, then, source}``."""
    data = recipe if isinstance(recipe, dict) else recipe.canonical_dict()
    if data.get("family") != "code":
        return None
    p = data["params"]
    source = normalise_source(p["source"])
    return {"contract": p.get("contract", CONTRACT), "sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
            "entry": p.get("entry", "Model"), "role": p.get("role", "estimator"), "then": p.get("then"), "source": source}


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _matrix(X: Any) -> tuple[np.ndarray, list[str]]:
    columns = [str(c) for c in X.columns] if hasattr(X, "columns") else None
    matrix = np.asarray(X, dtype=float)
    if matrix.ndim != 2:
        raise RecipeError(f"a code model needs a 2-D matrix, got {matrix.ndim}-D", "pass rows x features")
    return matrix, columns or [f"x{i}" for i in range(matrix.shape[1])]


def _array(out: dict[str, bytes], name: str, what: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """The child's ``name`` as a finite float array of ``shape`` (None = any length); else refused."""
    if name not in out:
        raise_refused(f"code experiment {what} returned no output ({name})")
    try:
        arr = np.load(io.BytesIO(out[name]), allow_pickle=False)
    except ValueError:
        raise_refused(f"code experiment {what} returned an unreadable array (pickled objects are refused)")
    if arr.dtype.kind not in "fiub":
        raise_refused(f"code experiment {what} returned non-numeric values ({arr.dtype.kind})")
    if arr.ndim == 2 and len(shape) == 1 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != len(shape) or any(want is not None and got != want for got, want in zip(arr.shape, shape)):
        want = "(" + ", ".join("k" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise_refused(f"code experiment {what} returned shape {tuple(arr.shape)} where {want} is required")
    arr = arr.astype(float)
    if not np.isfinite(arr).all():
        raise_refused(f"code experiment {what} returned non-finite values (NaN or infinity)")
    return arr


def raise_refused(problem: str) -> NoReturn:
    from autods.execution.sandbox import SandboxRefused

    raise SandboxRefused(problem, _FIX)


class CodeEstimator(BaseEstimator):
    """A scikit-learn estimator whose ``fit`` and predictions run agent code in the sandbox.

    Fitted attributes: ``model_`` (the code's fitted object as pickle bytes, opaque here),
    ``n_features_in_``, ``classes_`` (classification), ``then_`` and ``n_outputs_`` (transformer),
    ``calls_`` (per sandbox call: op and seconds, for benchmarks).
    """

    def __init__(self, source: str = "", entry: str = "Model", role: str = "estimator", kind: str = "binary",
                 seed: int = 0, then: str | None = None, then_params: dict[str, Any] | None = None) -> None:
        self.source = source
        self.entry = entry
        self.role = role
        self.kind = kind
        self.seed = seed
        self.then = then
        self.then_params = then_params

    @property
    def code_sha256(self) -> str:
        return hashlib.sha256(normalise_source(self.source).encode("utf-8")).hexdigest()

    def _call(self, op: str, X: Any, extra: dict[str, bytes], **header: Any) -> tuple[dict[str, bytes], int]:
        from autods.execution.sandbox import Limits, get_sandbox
        from autods.execution.sandbox_report import explain_failure

        matrix, columns = _matrix(X)
        blobs = {"source.py": self.source.encode("utf-8"), "X.npy": _npy(matrix),
                 "columns.json": json.dumps(columns).encode("utf-8"), **extra}
        limits = Limits.from_env()
        reply, out = get_sandbox().call({"op": op, "entry": self.entry, "seed": int(self.seed), **header}, blobs, limits)
        self.calls_ = [*getattr(self, "calls_", []), (op, float(reply.get("seconds", 0.0)))]
        if reply.get("exit") != 0 or reply.get("timed_out"):
            from dataclasses import asdict

            raise_refused(explain_failure(reply, out, asdict(limits), op))
        return out, len(matrix)

    def fit(self, X: Any, y: Any) -> CodeEstimator:
        y = np.asarray(y)
        if self.kind in CLASSIFY:
            self.classes_ = np.unique(y)
            coded = np.searchsorted(self.classes_, y).astype(np.int64)  # labels 0..k-1, sorted
        elif self.kind in SURVIVAL:
            coded = y  # structured (event: bool, time: float), as scikit-survival's Surv
        else:
            coded = y.astype(float)
        op = "fit" if self.role == "estimator" else "fit_transform"
        out, n = self._call(op, X, {"y.npy": _npy(coded)})
        if "model.pkl" not in out:
            raise_refused(f"code experiment {op} returned no fitted model")
        self.model_ = out["model.pkl"]
        self.n_features_in_ = np.asarray(X).shape[1]
        if self.role == "transformer":
            xt = _array(out, "xt.npy", op, (n, None))
            self.n_outputs_ = xt.shape[1]
            self.then_ = get_family(str(self.then)).estimator(self.kind, dict(self.then_params or {}), self.seed).fit(xt, y)
            if self.kind in CLASSIFY:
                self.classes_ = np.asarray(self.then_.classes_)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The code transformer's features for ``X`` (role ``transformer`` only)."""
        if self.role != "transformer":
            raise RecipeError("transform is for role 'transformer'", "use predict or predict_proba")
        out, n = self._call("transform", X, {"model.pkl": self.model_})
        return _array(out, "xt.npy", "transform", (n, self.n_outputs_))

    def _predict(self, X: Any, method: str, shape_tail: tuple[int, ...]) -> np.ndarray:
        out, n = self._call("predict", X, {"model.pkl": self.model_}, method=method)
        return _array(out, "pred.npy", method, (n, *shape_tail))

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.kind not in CLASSIFY:
            raise RecipeError(f"predict_proba is for classification, this is {self.kind}", "use predict")
        if self.role == "transformer":
            return self.then_.predict_proba(self.transform(X))
        proba = self._predict(X, "predict_proba", (len(self.classes_),))
        if proba.min() < -1e-9 or proba.max() > 1 + 1e-9:  # the judge's Brier and calibration assume probabilities
            raise_refused("code experiment predict_proba returned values outside [0, 1]")
        return proba

    def predict(self, X: Any) -> np.ndarray:
        if self.kind in CLASSIFY:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        if self.role == "transformer":
            return np.asarray(self.then_.predict(self.transform(X)), dtype=float)
        return self._predict(X, "predict", ())


def _build(kind: str, p: dict[str, Any], seed: int) -> CodeEstimator:
    return CodeEstimator(source=p["source"], entry=p["entry"], role=p["role"], kind=kind, seed=seed,
                         then=p["then"], then_params=dict(p["then_params"] or {}))


CODE_FAMILY = CodeFamilySpec(
    "code", CLASSIFY | REGRESS | SURVIVAL,
    {"contract": CONTRACT, "source": None, "entry": "Model", "role": "estimator", "then": None, "then_params": {}},
    {}, _build, "agent-written Python (contract 1), run only in the bubblewrap sandbox")

if "code" not in FAMILIES:
    register_family(CODE_FAMILY)
