"""Model families: a registry that the built-ins use exactly the way a user would.

A family is a name, the task kinds it supports, default hyperparameters, a search space
(for Optuna proposals) and a builder ``build(kind, params, seed) -> estimator``. Recipes
name a family and override some of its parameters; the builder receives the defaults
merged with the overrides, already type-checked against the space.

Task types map to four kinds (:data:`KIND`): ``binary``, ``multiclass``, ``regression``
(also ``biomarker``) and ``survival``. Survival estimators follow scikit-survival:
``predict`` returns a risk score (higher = earlier event).

``portfolio`` holds a short list of zero-shot configurations (parameter overrides, each
checked against the space when the family is registered) that an agent may try before any
search; each family's module names where its configurations come from.

Built-in families beyond the first dozen live in modules named for what they hold
(:mod:`~autods.runners.families_linear`, :mod:`~autods.runners.families_more`,
:mod:`~autods.runners.families_survival`) and are registered here at import; their heavy
libraries are imported inside the builders.

Register your own::

    register_family(FamilySpec("my_svm", frozenset({"binary"}), {"C": 1.0},
                               {"C": Param.float(1e-3, 1e3, log=True)}, build=my_builder))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

from autods.errors import RecipeError

__all__ = ["FAMILIES", "KIND", "FamilySpec", "Param", "get_family", "register_family", "task_kind"]

#: task_type -> the kind of model it needs.
KIND: dict[str, str] = {
    "binary": "binary",
    "multiclass": "multiclass",
    "singlecell": "multiclass",
    "regression": "regression",
    "biomarker": "regression",
    "survival": "survival",
}
CLASSIFY = frozenset({"binary", "multiclass"})
REGRESS = frozenset({"regression"})
SURVIVAL = frozenset({"survival"})


def task_kind(task_type: str) -> str:
    if task_type not in KIND:
        raise RecipeError(f"task type {task_type!r} has no model kind", f"use one of {sorted(KIND)}")
    return KIND[task_type]


class Param(NamedTuple):
    """One searchable hyperparameter: ``(type, low, high, log)`` or a tuple of ``choices``."""

    type: str  # "float" | "int" | "choice"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @classmethod
    def float(cls, low: float, high: float, log: bool = False) -> Param:
        return cls("float", low, high, log)

    @classmethod
    def int(cls, low: int, high: int, log: bool = False) -> Param:
        return cls("int", low, high, log)

    @classmethod
    def choice(cls, *choices: Any) -> Param:
        return cls("choice", choices=tuple(choices))

    def coerce(self, name: str, value: Any) -> Any:
        """Return ``value`` in this parameter's type, or raise a RecipeError naming ``name``."""
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.type == "float" and numeric:
            return float(value)
        if self.type == "int" and numeric and float(value).is_integer():
            return int(value)
        if self.type == "choice" and value in self.choices:
            return value
        expected = f"one of {list(self.choices)}" if self.type == "choice" else f"a {self.type} (search range {self.low}..{self.high})"
        raise RecipeError(f"parameter '{name}' = {value!r} is not {expected}", f"give '{name}' {expected}")


Builder = Callable[[str, dict[str, Any], int], Any]


@dataclass(frozen=True)
class FamilySpec:
    """A model family. ``defaults`` and ``space`` together name every accepted parameter."""

    name: str
    kinds: frozenset[str]
    defaults: dict[str, Any]
    space: dict[str, Param]
    build: Builder
    description: str = ""
    survival_function: bool = field(default=False)  # estimator has predict_survival_function
    portfolio: tuple[dict[str, Any], ...] = ()  # zero-shot configurations: parameter overrides

    @property
    def param_names(self) -> list[str]:
        return sorted(set(self.defaults) | set(self.space))

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Validate ``params`` (names and types) and return them normalised, without defaults."""
        out: dict[str, Any] = {}
        for key, value in params.items():
            if key not in self.defaults and key not in self.space:
                raise RecipeError(
                    f"family '{self.name}' has no parameter '{key}'",
                    f"use one of: {', '.join(self.param_names)}",
                )
            out[key] = self.space[key].coerce(key, value) if key in self.space else value
        return out

    def estimator(self, kind: str, params: dict[str, Any], seed: int) -> Any:
        if kind not in self.kinds:
            raise RecipeError(
                f"family '{self.name}' does not support {kind} tasks",
                f"choose a family for {kind}: {', '.join(sorted(n for n, f in FAMILIES.items() if kind in f.kinds))}",
            )
        return self.build(kind, {**self.defaults, **self.resolve(params)}, seed)


FAMILIES: dict[str, FamilySpec] = {}


def register_family(spec: FamilySpec, *, replace: bool = False) -> FamilySpec:
    """Add ``spec`` to :data:`FAMILIES`; re-registering a name needs ``replace=True``."""
    if spec.name in FAMILIES and not replace:
        raise RecipeError(f"model family '{spec.name}' is already registered", "pick another name or pass replace=True")
    for config in spec.portfolio:
        spec.resolve(config)  # a portfolio entry with an unknown or mistyped parameter fails here, not in a run
    FAMILIES[spec.name] = spec
    return spec


def get_family(name: str) -> FamilySpec:
    if name not in FAMILIES:
        raise RecipeError(f"unknown model family '{name}'", f"use one of: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]


# --- built-in families --------------------------------------------------------------
# Estimators are imported inside builders: importing autods.runners must stay cheap.
# Every stochastic estimator gets random_state=seed and a single thread, so a recipe
# reproduces bit for bit on any machine.


def _logistic(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=p["C"], l1_ratio=0.0, class_weight=p["class_weight"], max_iter=p["max_iter"], random_state=seed)


def _elastic_net(kind: str, p: dict[str, Any], seed: int) -> Any:
    if kind == "regression":
        from sklearn.linear_model import ElasticNet

        return ElasticNet(alpha=p["alpha"], l1_ratio=p["l1_ratio"], max_iter=p["max_iter"], random_state=seed)
    from sklearn.linear_model import LogisticRegression

    # One strength parameter for both kinds: C = 1 / alpha keeps "larger alpha = more shrinkage".
    return LogisticRegression(
        solver="saga", C=1.0 / p["alpha"], l1_ratio=p["l1_ratio"], max_iter=p["max_iter"], tol=1e-3, random_state=seed
    )


def _ridge(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(alpha=p["alpha"])


def _lasso(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import Lasso

    return Lasso(alpha=p["alpha"], max_iter=p["max_iter"], random_state=seed)


def _random_forest(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestRegressor if kind == "regression" else RandomForestClassifier
    return cls(random_state=seed, **p)


def _lightgbm(kind: str, p: dict[str, Any], seed: int) -> Any:
    from lightgbm import LGBMClassifier, LGBMRegressor

    cls = LGBMRegressor if kind == "regression" else LGBMClassifier
    return cls(random_state=seed, **p)


def _hist_gb(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingRegressor if kind == "regression" else HistGradientBoostingClassifier
    return cls(random_state=seed, **p)


def _cox(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    return CoxPHSurvivalAnalysis(alpha=p["alpha"], ties=p["ties"], n_iter=p["n_iter"])


def _coxnet(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sksurv.linear_model import CoxnetSurvivalAnalysis

    # A single alpha: the recipe, not the path, decides the penalty, and predict uses it.
    return CoxnetSurvivalAnalysis(alphas=[p["alpha"]], l1_ratio=p["l1_ratio"], max_iter=p["max_iter"], fit_baseline_model=True)


def _rsf(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sksurv.ensemble import RandomSurvivalForest

    return RandomSurvivalForest(random_state=seed, **p)


def _gb_survival(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sksurv.ensemble import GradientBoostingSurvivalAnalysis

    return GradientBoostingSurvivalAnalysis(random_state=seed, **p)


_LEAF = Param.int(1, 50, log=True)
_BUILTINS = [
    FamilySpec("logistic", CLASSIFY, {"C": 1.0, "class_weight": None, "max_iter": 2000},
               {"C": Param.float(1e-3, 1e2, log=True), "class_weight": Param.choice(None, "balanced")},
               _logistic, "L2-penalised logistic regression (lbfgs)"),
    FamilySpec("elastic_net", CLASSIFY | REGRESS, {"alpha": 0.01, "l1_ratio": 0.5, "max_iter": 5000},
               {"alpha": Param.float(1e-4, 10.0, log=True), "l1_ratio": Param.float(0.0, 1.0)},
               _elastic_net, "elastic net: LogisticRegression(saga, C=1/alpha) or ElasticNet"),
    FamilySpec("ridge", REGRESS, {"alpha": 1.0}, {"alpha": Param.float(1e-3, 1e3, log=True)}, _ridge, "L2 linear regression"),
    FamilySpec("lasso", REGRESS, {"alpha": 0.01, "max_iter": 5000}, {"alpha": Param.float(1e-4, 10.0, log=True)},
               _lasso, "L1 linear regression"),
    FamilySpec("random_forest", CLASSIFY | REGRESS,
               {"n_estimators": 200, "max_depth": None, "min_samples_leaf": 1, "max_features": "sqrt", "n_jobs": 1},
               {"n_estimators": Param.int(100, 1000, log=True), "min_samples_leaf": _LEAF,
                "max_features": Param.choice("sqrt", "log2", 0.5, 1.0)},
               _random_forest, "random forest"),
    FamilySpec("lightgbm", CLASSIFY | REGRESS,
               {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
                "subsample": 1.0, "subsample_freq": 0, "colsample_bytree": 1.0, "reg_lambda": 0.0,
                "verbose": -1, "n_jobs": 1},
               {"n_estimators": Param.int(50, 2000, log=True), "learning_rate": Param.float(0.005, 0.3, log=True),
                "num_leaves": Param.int(4, 256, log=True), "min_child_samples": Param.int(5, 200, log=True),
                "subsample": Param.float(0.5, 1.0), "colsample_bytree": Param.float(0.3, 1.0),
                "reg_lambda": Param.float(0.0, 10.0)},
               _lightgbm, "LightGBM gradient boosting (single-threaded: deterministic)"),
    FamilySpec("hist_gb", CLASSIFY | REGRESS,
               {"max_iter": 200, "learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20,
                "l2_regularization": 0.0, "early_stopping": False},
               {"max_iter": Param.int(50, 1000, log=True), "learning_rate": Param.float(0.01, 0.3, log=True),
                "max_leaf_nodes": Param.int(4, 128, log=True), "min_samples_leaf": Param.int(5, 200, log=True),
                "l2_regularization": Param.float(0.0, 10.0)},
               _hist_gb, "histogram gradient boosting (early stopping off: it would carve a random split)"),
    FamilySpec("cox", SURVIVAL, {"alpha": 0.01, "ties": "efron", "n_iter": 100},
               {"alpha": Param.float(1e-4, 10.0, log=True), "ties": Param.choice("efron", "breslow")},
               _cox, "Cox proportional hazards with a small ridge penalty for stability", survival_function=True),
    FamilySpec("coxnet", SURVIVAL, {"alpha": 0.01, "l1_ratio": 0.5, "max_iter": 100000},
               {"alpha": Param.float(1e-4, 1.0, log=True), "l1_ratio": Param.float(0.01, 1.0)},
               _coxnet, "elastic-net Cox", survival_function=True),
    FamilySpec("rsf", SURVIVAL, {"n_estimators": 100, "min_samples_leaf": 15, "max_features": "sqrt", "n_jobs": 1},
               {"n_estimators": Param.int(50, 1000, log=True), "min_samples_leaf": Param.int(3, 50, log=True),
                "max_features": Param.choice("sqrt", "log2", 0.5, 1.0)},
               _rsf, "random survival forest", survival_function=True),
    FamilySpec("gb_survival", SURVIVAL, {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 3, "subsample": 1.0},
               {"n_estimators": Param.int(50, 1000, log=True), "learning_rate": Param.float(0.01, 0.3, log=True),
                "max_depth": Param.int(1, 6), "subsample": Param.float(0.5, 1.0)},
               _gb_survival, "gradient-boosted Cox survival (scikit-survival)", survival_function=True,
               # Tuned boosted Cox, zero-shot: Friedman (2002) stochastic boosting (subsample 0.5-0.8 with
               # shrinkage), Ridgeway's gbm guide (shrinkage 0.01-0.05 with more trees), and stumps (depth 1:
               # an additive Cox model, Buehlmann and Hothorn 2007).
               portfolio=({"n_estimators": 300, "learning_rate": 0.05, "max_depth": 2, "subsample": 0.8},
                          {"n_estimators": 500, "learning_rate": 0.02, "max_depth": 3, "subsample": 0.5},
                          {"n_estimators": 400, "learning_rate": 0.05, "max_depth": 1, "subsample": 0.8})),
]
def _dummy(kind: str, p: dict[str, Any], seed: int) -> Any:
    from autods.runners.baseline import build_dummy

    return build_dummy(kind, p, seed)


_BUILTINS.append(FamilySpec("dummy", CLASSIFY | REGRESS | SURVIVAL, {}, {}, _dummy,
                            "trivial baseline: prevalence, training mean, or one constant risk (ignores features)"))
for _spec in _BUILTINS:
    register_family(_spec)


def _register_portfolio_modules() -> None:
    # Imported here, after FamilySpec and Param exist: these modules build their specs from them.
    from autods.runners import families_linear, families_more, families_survival

    for module in (families_linear, families_more, families_survival):
        for spec in module.SPECS:
            register_family(spec)


_register_portfolio_modules()
