"""Ensembles of recipes as experiments: greedy selection (Caruana) or a penalised stack.

An ensemble is a recipe like any other::

    {"family": "ensemble", "params": {"members": [<recipe>, <recipe>, ...], "method": "caruana"}}

``members`` are whole recipes (canonical dicts: family, params, preprocessing, features,
seed; at least two, distinct, none an ensemble). ``method``:

* ``caruana``: greedy forward selection with replacement (Caruana, Niculescu-Mizil, Crew &
  Ksikes 2004, "Ensemble selection from libraries of models", ICML): ``rounds`` times, add
  the member (repeats allowed) whose addition gives the best primary metric of the averaged
  scores; the weights are the counts of the best round. Scores averaged are P(1) (binary),
  class probabilities (multiclass), values (regression) or standardised risks (survival:
  members' risks live on different scales).
* ``stack``: a penalised meta-learner on the members' out-of-fold scores: logistic on
  logit P(1) (``C = 1 / penalty``), ridge on values (``alpha = penalty``), or Cox with a
  ridge penalty on standardised risks (sksurv ``CoxPHSurvivalAnalysis(alpha=penalty)``).
  Multiclass stacking is refused (use caruana).

**Why the CV value is not optimistic.** :func:`evaluate` fits every member on each outer
training fold and predicts the outer test fold, exactly as when the member is evaluated
alone, so it has the members' out-of-fold scores of every repeat. The weights used on fold k
of repeat r are fitted only on the repeat-r out-of-fold scores of the *other* folds' rows and
those rows' labels (:func:`fold_combiners`); fold k's labels never enter the weights'
objective (``tests/test_runners_ensemble.py`` permutes them and finds the weights unchanged).
Fold k's labels do reach the other folds' scores through the members' fitted parameters
(the model that predicted fold j trained on fold k), the cheap variant the judge accepts
instead of a full inner CV per outer fold: a member that fits fold k well predicts fold j
no better for it, so the weights learn nothing about fold k from it, and the cost is one
member fit per fold instead of K + 1. Under a temporal design only earlier folds are used
(no weights learned from the future); the first fold gets equal weights.

The fitted model (:class:`EnsembleRunner`, what ``RecipeRunner().fit`` returns for an
ensemble recipe and ``autods.load_model`` reloads): members refitted on all the rows given,
weights fitted on the members' out-of-fold scores of a 5-fold split of those rows (grouped by
unit when units repeat).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from autods.errors import RecipeError
from autods.runners.ensemble_codec import RawColumns, RawRows
from autods.runners.ensemble_weights import METHODS, Combiner, caruana_weights, fit_combiner, fold_combiners
from autods.runners.families import FAMILIES, KIND, FamilySpec, Param, register_family, task_kind
from autods.runners.pipeline import RecipeRunner, TrainingData, select_features
from autods.runners.recipe import Preprocess, Recipe
from autods.tasks.load import Task

__all__ = ["ENSEMBLE", "METHODS", "Combiner", "EnsembleModel", "EnsembleRunner", "caruana_weights",
           "cross_validated", "fit_combiner", "fold_combiners", "member_recipes"]

ENSEMBLE = "ensemble"
#: folds of the split the final model's weights are chosen on
FINAL_FOLDS = 5


class _EnsembleSpec(FamilySpec):
    """``resolve`` also parses the members, so a bad member fails when the recipe is parsed."""

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        out = super().resolve(params)
        members = out.get("members")
        if not isinstance(members, (list, tuple)) or len(members) < 2:
            raise RecipeError("an ensemble needs at least two members",
                              "give params.members: a list of >= 2 recipes (family, params, ...)")
        canon = []
        for m in members:
            recipe = Recipe.parse(m)
            if recipe.family == ENSEMBLE:
                raise RecipeError("an ensemble member cannot itself be an ensemble", "list the inner members directly")
            canon.append(recipe.canonical_dict())
        hashes = [Recipe.parse(c).canonical_hash() for c in canon]
        if len(set(hashes)) < len(hashes):
            raise RecipeError("ensemble members must be distinct recipes", "drop the repeated member")
        out["members"] = canon
        return out


def _not_a_pipeline_model(kind: str, p: dict[str, Any], seed: int) -> Any:
    raise RecipeError("an ensemble is fitted by autods.runners.ensemble.EnsembleRunner, not as a pipeline step",
                      "fit it with RecipeRunner().fit (which hands it over) or EnsembleRunner().fit")


SPEC = _EnsembleSpec(ENSEMBLE, frozenset(set(KIND.values())), {"members": [], "method": "caruana", "rounds": 25,
                                                                "penalty": 1.0},
                     {"method": Param.choice(*METHODS), "rounds": Param.int(5, 100),
                      "penalty": Param.float(1e-3, 1e3, log=True)},
                     _not_a_pipeline_model, "ensemble of recipes: Caruana selection or a penalised stack")


def register() -> None:
    if ENSEMBLE not in FAMILIES:
        register_family(SPEC)


def ensemble_params(recipe: Recipe) -> dict[str, Any]:
    """The recipe's parameters with the family's defaults filled in."""
    return {**SPEC.defaults, **recipe.params}


def member_recipes(recipe: Recipe) -> list[Recipe]:
    """The members, each seeded ``member.seed + ensemble.seed`` (a seed moves every member)."""
    return [Recipe.parse({**m, "seed": int(m.get("seed", 0)) + recipe.seed}) for m in recipe.params["members"]]


def _uses_units(recipe: Recipe) -> bool:
    from autods.runners.expressions import parse, uses_units

    return any(uses_units(parse(c.expr)) for c in recipe.preprocess.composites)


def member_inputs(members: list[Recipe], allowed: tuple[str, ...]) -> list[str]:
    """The raw columns any member reads (its features and its composites' inputs), in a stable order."""
    from autods.runners.expressions import columns_of, parse

    out: list[str] = []
    for m in members:
        names = {c.name for c in m.preprocess.composites}
        reads = set().union(*(columns_of(parse(c.expr)) for c in m.preprocess.composites)) - names
        out += select_features(m, allowed) + sorted(reads & set(allowed))
    return list(dict.fromkeys(out))


def member_scores(runners: list[RecipeRunner], frame: Any, kind: str, classes: np.ndarray | None) -> np.ndarray:
    """Members' scores on ``frame``: n x M, or n x M x C (multiclass, columns aligned to ``classes``)."""
    preds = []
    for runner in runners:
        pred = runner.predict_score(frame)
        if kind == "multiclass":
            full = np.zeros((len(frame), len(classes)))
            full[:, np.searchsorted(classes, runner.classes_)] = pred
            pred = full
        preds.append(pred)
    return np.stack(preds, axis=1)


# -- cross-validation (called by evaluate) -----------------------------------------------------


def cross_validated(folds: list[tuple[str, np.ndarray, np.ndarray]], data: TrainingData, recipe: Recipe, kind: str,
                    classes: np.ndarray | None, metric: str, kw: dict[str, Any], past_only: bool
                    ) -> tuple[list[np.ndarray], dict[str, Any]]:
    """The ensemble's prediction on every outer fold, and what the record says about it.

    Members are fitted on each training fold and predict its test fold; the weights of fold
    k come from :func:`fold_combiners` (other folds of the same repeat only). The summary's
    ``weights`` are fitted on every fold's out-of-fold scores (all repeats): the weights
    the data support as a whole, which the report lists.
    """
    members, params = member_recipes(recipe), ensemble_params(recipe)
    keys = [key for key, _, _ in folds]
    tests = [test for _, _, test in folds]
    scores = []
    for _, train, test in folds:
        runners = [RecipeRunner().fit(data.subset(train), m) for m in members]
        scores.append(member_scores(runners, data.frame.iloc[test], kind, classes))
    combiners = fold_combiners(keys, tests, scores, data.y, kind, params, metric, kw, past_only)
    preds = [combiners[key].predict(P) for key, P in zip(keys, scores)]
    whole = fit_combiner(np.concatenate(scores), data.y[np.concatenate(tests)], kind, params["method"], metric,
                         rounds=params["rounds"], penalty=params["penalty"], kw=kw)
    summary = {
        "method": params["method"],
        # the members' own hashes (as recorded), not the seed-shifted copies this evaluation fitted
        "members": [{"recipe_hash": Recipe.parse(m).canonical_hash(), "family": m["family"], "weight": float(w)}
                    for m, w in zip(recipe.params["members"], whole.weights)],
        "intercept": whole.intercept,
        "weights_by_fold": {key: [float(w) for w in combiners[key].weights] for key in keys},
    }
    return preds, summary


# -- the fitted ensemble -----------------------------------------------------------------------


class EnsembleModel(BaseEstimator):
    """Members refitted on all the rows, weights from a :data:`FINAL_FOLDS`-fold split of them.

    Takes the matrix of the pipeline's :class:`RawColumns` step (``codec``, fitted) and
    decodes it into the raw rows the members read. Fitted: ``runners_`` (one
    :class:`RecipeRunner` per member), ``combiner_``, ``weights_``, ``classes_`` (classification).
    """

    def __init__(self, members: tuple[dict[str, Any], ...] = (), method: str = "caruana", rounds: int = 25,
                 penalty: float = 1.0, task_type: str = "binary", features: tuple[str, ...] = (),
                 unit_column: str | None = None, time_column: str | None = None, seed: int = 0,
                 codec: RawColumns | None = None) -> None:
        self.members = members
        self.method = method
        self.rounds = rounds
        self.penalty = penalty
        self.task_type = task_type
        self.features = features
        self.unit_column = unit_column
        self.time_column = time_column
        self.seed = seed
        self.codec = codec

    def _rows(self, X: Any) -> pd.DataFrame:
        return X if self.codec is None or isinstance(X, pd.DataFrame) else self.codec.decode(X)

    def _split(self, data: TrainingData, groups: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        from autods.judge.splits import make_splitter

        units = None if groups is None else np.asarray(groups).astype(str)
        grouped = units is not None and len(np.unique(units)) < len(units)
        splitter = make_splitter("patient-grouped-cv" if grouped else "stratified-cv", n_splits=FINAL_FOLDS,
                                 seed=self.seed)
        return list(splitter.split(len(data.frame), y=data.y, groups=units if grouped else None))

    def fit(self, X: Any, y: Any, groups: Any = None) -> EnsembleModel:
        """``groups``: one unit id per row; the weights' split keeps a unit's rows together when units repeat."""
        from autods.judge.score import PRIMARY_METRIC

        kind = task_kind(self.task_type)
        X = self._rows(X)
        data = TrainingData(X, y, self.task_type, tuple(self.features), self.unit_column, self.time_column)
        recipes = [Recipe.parse(m) for m in self.members]
        self.classes_ = np.unique(y) if kind in ("binary", "multiclass") else None
        if kind == "binary":
            self.classes_ = np.array([0, 1])
        classes = self.classes_ if kind == "multiclass" else None
        kw = {"labels": classes} if kind == "multiclass" else {}
        split = self._split(data, groups)
        scores, rows = [], []
        for train, test in split:
            runners = [RecipeRunner().fit(data.subset(train), m) for m in recipes]
            scores.append(member_scores(runners, X.iloc[test], kind, classes))
            rows.append(test)
        at = np.concatenate(rows)
        self.combiner_ = fit_combiner(np.concatenate(scores), y[at], kind, self.method, PRIMARY_METRIC[self.task_type],
                                      rounds=self.rounds, penalty=self.penalty, kw=kw)
        self.weights_ = self.combiner_.weights
        self.runners_ = [RecipeRunner().fit(data, m) for m in recipes]
        self.kind_ = kind
        return self

    def _combined(self, X: Any) -> np.ndarray:
        classes = self.classes_ if self.kind_ == "multiclass" else None
        return self.combiner_.predict(member_scores(self.runners_, self._rows(X), self.kind_, classes))

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.kind_ == "binary":
            p = np.clip(self._combined(X), 0.0, 1.0)
            return np.column_stack([1.0 - p, p])
        if self.kind_ == "multiclass":
            return self._combined(X)
        raise RecipeError(f"predict_proba is for classification; this ensemble is {self.kind_}", "use predict")

    def predict(self, X: Any) -> np.ndarray:
        if self.kind_ in ("binary", "multiclass"):
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return self._combined(X)


class EnsembleRunner(RecipeRunner):
    """:class:`RecipeRunner` for an ensemble recipe: the same attributes and predictions.

    ``pipeline_`` is ``prep`` (:class:`RawRows` -> :class:`RawColumns`) -> ``model`` (:class:`EnsembleModel`);
    ``members_`` and ``weights_`` name what the champion combines.
    """

    def fit(self, data: Task | TrainingData, recipe: Recipe | dict[str, Any]) -> EnsembleRunner:
        data = TrainingData.from_task(data) if isinstance(data, Task) else data
        recipe = Recipe.parse(recipe)
        if recipe.family != ENSEMBLE:
            raise RecipeError(f"EnsembleRunner fits ensemble recipes, not '{recipe.family}'", "use RecipeRunner")
        if recipe.features is not None or recipe.preprocess != Preprocess():
            raise RecipeError("an ensemble recipe takes no features or preprocess of its own",
                              "give each member its features and preprocessing")
        kind = task_kind(data.task_type)
        members = member_recipes(recipe)
        features = member_inputs(members, data.features)
        history = any(_uses_units(m) for m in members)
        time_column = data.time_column if history else None
        prep = Pipeline([("composites", RawRows(data.unit_column if history else None, time_column)),
                         ("columns", RawColumns())])
        order = [c for c in (data.unit_column, time_column) if history and c and c in data.frame.columns]
        inputs = data.frame[list(dict.fromkeys(features + order))]
        prep.fit(inputs)
        params = ensemble_params(recipe)
        model = EnsembleModel(tuple(m.canonical_dict() for m in members), params["method"],
                              params["rounds"], params["penalty"], data.task_type, tuple(features),
                              data.unit_column, data.time_column, recipe.seed, codec=prep.named_steps["columns"])
        # fitted step by step: the model decodes with the fitted codec, so it needs it before it fits
        units = data.frame[data.unit_column] if data.unit_column in data.frame.columns else None
        model.fit(prep.transform(inputs), data.y, groups=units)
        pipeline = Pipeline([("prep", prep), ("model", model)])
        self.time_column_ = time_column
        self.pipeline_ = pipeline
        self.feature_names_in_ = np.asarray(features, dtype=object)
        self.classes_ = np.asarray(model.classes_) if kind in ("binary", "multiclass") else None
        self.recipe_, self.kind_, self.unit_column_ = recipe, kind, data.unit_column
        self.members_ = [m.canonical_hash() for m in members]
        self.weights_ = [float(w) for w in model.weights_]
        return self


register()  # like the built-in families: registered when the module is imported
