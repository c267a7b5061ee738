"""More learners: explainable boosting, small-data LightGBM, extra trees, k-NN and an RBF SVM.

Each builder imports its library when called (importing :mod:`autods.runners` stays cheap),
seeds every random choice and runs single-threaded, so a recipe reproduces bit for bit.

**lightgbm_small** (:class:`EarlyStoppedLGBM`) carves an inner validation split out of the
*training fold* only (stratified for classification, seeded), boosts with early stopping on
it to find the number of rounds, then **refits on the whole training fold** with that many
rounds: on a small cohort the 20 % held back for stopping is too much data to throw away,
and the refit keeps the fitted model a plain LightGBM model.

Zero-shot configurations, with their sources:

* ``ebm``: InterpretML's documented defaults (Nori et al. 2019, ``interpret`` 0.7: 14 outer
  bags, learning rate 0.015, 1024 bins) are slow single-threaded, so the family default is a
  lighter variant; the portfolio holds those defaults (with 10 pairs in place of "3x", three
  per feature), a main-effects-only GAM (Lou et al. 2012, the GAM that GA2M extends) and a GA2M
  with more pairs and larger leaves (Lou et al. 2013).
* ``lightgbm_small``: the LightGBM documentation's "Deal with Over-fitting" advice (small
  ``num_leaves`` and ``max_bin``, larger ``min_data_in_leaf``, bagging, feature subsampling,
  L2 regularisation) and its advice to cap ``max_depth`` with ``num_leaves`` below ``2^max_depth``.
* ``extra_trees``, ``knn``: AutoGluon's default hyperparameter portfolio (ExtraTrees with the
  gini and entropy criteria; k-NN with uniform and distance weights).
* ``svm_rbf``: Hsu, Chang & Lin, "A Practical Guide to Support Vector Classification"
  (a coarse grid over C and gamma around C = 1, gamma = 1 / n_features on scaled inputs).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from autods.runners.families import CLASSIFY, REGRESS, FamilySpec, Param

__all__ = ["SPECS", "EarlyStoppedLGBM"]

BINARY_REGRESS = frozenset({"binary", "regression"})


class EarlyStoppedLGBM(BaseEstimator):
    """LightGBM whose number of rounds is chosen by early stopping inside the training fold.

    Fitted attributes: ``best_iteration_`` (rounds chosen on the inner split), ``model_``
    (the LightGBM model refitted on every training row with that many rounds), ``classes_``.
    """

    def __init__(self, kind: str = "binary", params: dict[str, Any] | None = None, max_rounds: int = 2000,
                 validation_fraction: float = 0.2, stopping_rounds: int = 50, random_state: int = 0) -> None:
        self.kind = kind
        self.params = params
        self.max_rounds = max_rounds
        self.validation_fraction = validation_fraction
        self.stopping_rounds = stopping_rounds
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        # A classifier or a regressor by ``kind``: meta-estimators (CalibratedClassifierCV) need to know.
        from sklearn.utils import ClassifierTags, RegressorTags

        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor" if self.kind == "regression" else "classifier"
        tags.classifier_tags = None if self.kind == "regression" else ClassifierTags()
        tags.regressor_tags = RegressorTags() if self.kind == "regression" else None
        return tags

    def _model(self, n_estimators: int) -> Any:
        from lightgbm import LGBMClassifier, LGBMRegressor

        cls = LGBMRegressor if self.kind == "regression" else LGBMClassifier
        return cls(n_estimators=n_estimators, random_state=self.random_state, verbose=-1, n_jobs=1, **(self.params or {}))

    def fit(self, X: Any, y: Any) -> EarlyStoppedLGBM:
        import lightgbm
        from sklearn.model_selection import train_test_split

        X, y = np.asarray(X, dtype=float), np.asarray(y)
        # Stratified when every class can give the inner split a row (a tiny fold cannot).
        stratify = y if self.kind != "regression" and np.unique(y, return_counts=True)[1].min() >= 2 else None
        fit_rows, stop_rows = train_test_split(np.arange(len(y)), test_size=self.validation_fraction,
                                               random_state=self.random_state, stratify=stratify)
        probe = self._model(self.max_rounds)
        # LightGBM 4.7 renamed eval_set to eval_X/eval_y (and warns on the old name); 4.3-4.6 know only eval_set.
        stop = {"eval_X": (X[stop_rows],), "eval_y": (y[stop_rows],)} if "eval_X" in inspect.signature(probe.fit).parameters \
            else {"eval_set": [(X[stop_rows], y[stop_rows])]}
        probe.fit(X[fit_rows], y[fit_rows], callbacks=[lightgbm.early_stopping(self.stopping_rounds, verbose=False)], **stop)
        # best_iteration_ is 0 when no round improved the validation loss: keep one round then.
        self.best_iteration_ = max(1, int(probe.best_iteration_ or self.max_rounds))
        self.model_ = self._model(self.best_iteration_).fit(X, y)
        if self.kind != "regression":
            self.classes_ = self.model_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(np.asarray(X, dtype=float))

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model_.predict_proba(np.asarray(X, dtype=float))


def _ebm(kind: str, p: dict[str, Any], seed: int) -> Any:
    from interpret.glassbox import ExplainableBoostingClassifier, ExplainableBoostingRegressor

    cls = ExplainableBoostingRegressor if kind == "regression" else ExplainableBoostingClassifier
    # n_jobs=1: interpret's default spreads bags over processes; one thread keeps fits exact and
    # leaves the machine's cores to the executor that runs folds in parallel.
    return cls(random_state=seed, n_jobs=1, **p)


def _lightgbm_small(kind: str, p: dict[str, Any], seed: int) -> Any:
    outer = {"max_rounds", "validation_fraction", "stopping_rounds"}
    return EarlyStoppedLGBM(kind, {k: v for k, v in p.items() if k not in outer}, p["max_rounds"],
                            p["validation_fraction"], p["stopping_rounds"], seed)


def _extra_trees(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

    if kind == "regression":  # the split criterion is a classification choice; regression uses squared error
        return ExtraTreesRegressor(random_state=seed, **{k: v for k, v in p.items() if k != "criterion"})
    return ExtraTreesClassifier(random_state=seed, **p)


def _knn(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    cls = KNeighborsRegressor if kind == "regression" else KNeighborsClassifier
    return cls(n_neighbors=p["n_neighbors"], weights=p["weights"], p=p["p"], n_jobs=1)


def _svm_rbf(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sklearn.svm import SVC, SVR

    if kind == "regression":
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.preprocessing import StandardScaler

        # C and epsilon are in units of the target: standardising it (inside the fold) makes the
        # defaults mean the same on any scale (SVR with C=1 on diabetes' raw target scored R2 0.13).
        return TransformedTargetRegressor(SVR(C=p["C"], gamma=p["gamma"], epsilon=p["epsilon"]), transformer=StandardScaler())
    from sklearn.calibration import CalibratedClassifierCV

    # Platt scaling fitted on inner folds of the training fold (deterministic StratifiedKFold):
    # SVC(probability=True) would do the same with its own internal random split.
    svc = SVC(C=p["C"], gamma=p["gamma"], class_weight=p["class_weight"], random_state=seed)
    return CalibratedClassifierCV(svc, method=p["calibration"], cv=p["calibration_folds"])


_EBM_DEFAULTS = {"outer_bags": 4, "interactions": 5, "learning_rate": 0.03, "max_bins": 256, "max_interaction_bins": 32,
                 "max_rounds": 5000, "early_stopping_rounds": 50, "min_samples_leaf": 4, "max_leaves": 3,
                 "validation_size": 0.15}
_LGBM_SMALL = {"learning_rate": 0.02, "num_leaves": 7, "max_depth": 3, "min_child_samples": 30, "subsample": 0.8,
               "subsample_freq": 1, "colsample_bytree": 0.8, "reg_lambda": 1.0, "max_bin": 63,
               "max_rounds": 2000, "validation_fraction": 0.2, "stopping_rounds": 50}

SPECS = [
    FamilySpec("ebm", BINARY_REGRESS, _EBM_DEFAULTS,
               {"outer_bags": Param.int(1, 16), "interactions": Param.int(0, 20), "learning_rate": Param.float(0.005, 0.1, log=True),
                "max_bins": Param.int(32, 1024, log=True), "min_samples_leaf": Param.int(2, 50, log=True),
                "max_leaves": Param.int(2, 4)},
               _ebm, "explainable boosting machine (GA2M with pairwise terms; interpret-core, single-threaded)",
               portfolio=({"outer_bags": 14, "learning_rate": 0.015, "max_bins": 1024, "max_interaction_bins": 64,
                           "interactions": 10, "max_leaves": 2},
                          {"interactions": 0},
                          {"interactions": 15, "min_samples_leaf": 10})),
    FamilySpec("lightgbm_small", BINARY_REGRESS, _LGBM_SMALL,
               {"learning_rate": Param.float(0.005, 0.1, log=True), "num_leaves": Param.int(3, 15),
                "max_depth": Param.int(1, 4), "min_child_samples": Param.int(10, 100, log=True),
                "subsample": Param.float(0.5, 1.0), "colsample_bytree": Param.float(0.3, 1.0),
                "reg_lambda": Param.float(0.0, 10.0), "max_rounds": Param.int(200, 5000, log=True)},
               _lightgbm_small, "LightGBM for small cohorts: shallow trees, large leaves, early stopping "
                                "inside the training fold, then a refit on the whole fold",
               portfolio=({"max_depth": 2, "num_leaves": 3, "min_child_samples": 20},
                          {"learning_rate": 0.05, "num_leaves": 15, "max_depth": 4, "min_child_samples": 50},
                          {"colsample_bytree": 0.5, "reg_lambda": 5.0, "min_child_samples": 15})),
    FamilySpec("extra_trees", CLASSIFY | REGRESS,
               {"n_estimators": 300, "criterion": "gini", "max_features": "sqrt", "min_samples_leaf": 1, "n_jobs": 1},
               {"n_estimators": Param.int(100, 1000, log=True), "criterion": Param.choice("gini", "entropy"),
                "max_features": Param.choice("sqrt", "log2", 0.5, 1.0), "min_samples_leaf": Param.int(1, 50, log=True)},
               _extra_trees, "extremely randomised trees (criterion applies to classification; regression splits on squared error)",
               # AutoGluon's gini/entropy pair; Geurts et al. (2006): all features per split for regression.
               portfolio=({"criterion": "entropy"}, {"max_features": 1.0}, {"min_samples_leaf": 5, "max_features": 0.5})),
    FamilySpec("knn", CLASSIFY | REGRESS, {"n_neighbors": 15, "weights": "uniform", "p": 2},
               {"n_neighbors": Param.int(3, 100, log=True), "weights": Param.choice("uniform", "distance"),
                "p": Param.choice(1, 2)},
               _knn, "k nearest neighbours on the scaled design",
               portfolio=({"weights": "distance"}, {"n_neighbors": 5}, {"n_neighbors": 40, "weights": "distance"})),
    FamilySpec("svm_rbf", CLASSIFY | REGRESS,
               {"C": 1.0, "gamma": "scale", "class_weight": None, "epsilon": 0.1, "calibration": "sigmoid",
                "calibration_folds": 5},
               {"C": Param.float(1e-2, 1e3, log=True), "gamma": Param.choice("scale", 0.001, 0.01, 0.1),
                "class_weight": Param.choice(None, "balanced"), "calibration": Param.choice("sigmoid", "isotonic")},
               _svm_rbf, "RBF support-vector machine; classification probabilities Platt-calibrated inside the fold, "
                         "regression on the standardised target",
               portfolio=({"C": 10.0}, {"C": 0.1}, {"C": 10.0, "gamma": 0.01})),
]
