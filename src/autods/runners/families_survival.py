"""Survival families beyond Cox: parametric AFT models, componentwise boosting, extra survival trees.

:class:`AFTSurvival` wraps lifelines' Weibull and log-normal accelerated failure time fitters as
a scikit-survival estimator: ``fit(X, y)`` takes the preprocessed matrix and a structured array
(event field first, time second, as ``sksurv.util.Surv`` builds it); ``predict`` is the risk
score minus the predicted median survival time (higher = earlier event); and
``predict_survival_function`` returns one :class:`AFTCurve` per row, callable on times and with
a ``domain`` like sksurv's ``StepFunction``. The curves are evaluated in closed form from the
fitted coefficients (Weibull ``S(t) = exp(-(t / lambda)^rho)``, log-normal
``S(t) = 1 - Phi((log t - mu) / sigma)``); the reference tests compare them with lifelines' own
predictions. Columns constant in the training fold are dropped (lifelines refuses them), and
non-positive times, which a parametric likelihood cannot hold, are moved to half the smallest
positive time.

Zero-shot configurations, with their sources:

* AFT: lifelines' documented ridge/elastic-net ``penalizer`` (its docs use 0.01 to 0.1 for
  stability on collinear designs) and the unpenalised MLE;
* ``componentwise_gb``: mboost's ``boost_control`` defaults (mstop 100, nu 0.1; Hothorn and
  Buehlmann 2006) and a longer, slower path, plus Buehlmann and Hothorn's (2007) subsampled variant;
* ``extra_survival_trees``: randomForestSRC's survival defaults (nodesize 15, mtry sqrt(p);
  Ishwaran et al. 2008) and smaller leaves for larger cohorts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from autods.runners.families import SURVIVAL, FamilySpec, Param

__all__ = ["SPECS", "AFTCurve", "AFTSurvival"]

_FITTERS = {"weibull": "WeibullAFTFitter", "lognormal": "LogNormalAFTFitter"}


class AFTCurve:
    """S(t) of one row under a fitted AFT model; ``domain`` is the training follow-up (0, max time)."""

    def __init__(self, distribution: str, location: float, scale: float, domain: tuple[float, float]) -> None:
        self.distribution, self.location, self.scale, self.domain = distribution, location, scale, domain

    def __call__(self, t: Any) -> np.ndarray:
        from scipy.stats import norm

        t = np.asarray(t, dtype=float)
        with np.errstate(divide="ignore"):
            log_t = np.log(t)
        if self.distribution == "weibull":  # location = log lambda, scale = rho
            return np.exp(-np.exp(self.scale * (log_t - self.location)))
        return norm.sf((log_t - self.location) / self.scale)  # location = mu, scale = sigma


class AFTSurvival(BaseEstimator):
    """A lifelines AFT model (``distribution``: weibull or lognormal) as a sksurv estimator.

    Fitted attributes: ``fitter_`` (the lifelines fitter), ``columns_`` (kept column indices),
    ``domain_`` (0, largest training time), ``unique_times_`` (training event times).
    """

    def __init__(self, distribution: str = "weibull", penalizer: float = 0.01, l1_ratio: float = 0.0) -> None:
        self.distribution = distribution
        self.penalizer = penalizer
        self.l1_ratio = l1_ratio

    def fit(self, X: Any, y: Any) -> AFTSurvival:
        import lifelines
        import pandas as pd

        X = np.asarray(X, dtype=float)
        event_field, time_field = y.dtype.names[:2]
        time = np.asarray(y[time_field], dtype=float).copy()
        positive = time[time > 0]
        time[time <= 0] = positive.min() / 2 if len(positive) else 1.0
        self.columns_ = np.flatnonzero(np.ptp(X, axis=0) > 0)
        frame = pd.DataFrame(X[:, self.columns_], columns=[f"x{j}" for j in self.columns_])
        frame["_time"], frame["_event"] = time, np.asarray(y[event_field], dtype=bool)
        self.fitter_ = getattr(lifelines, _FITTERS[self.distribution])(penalizer=self.penalizer, l1_ratio=self.l1_ratio)
        self.fitter_.fit(frame, duration_col="_time", event_col="_event")
        self.domain_ = (0.0, float(time.max()))
        self.unique_times_ = np.unique(time[frame["_event"].to_numpy()]) if frame["_event"].any() else np.unique(time)
        self.n_features_in_ = X.shape[1]
        return self

    def _location_scale(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        params = self.fitter_.params_
        loc_name, scale_name = ("lambda_", "rho_") if self.distribution == "weibull" else ("mu_", "sigma_")
        X = np.asarray(X, dtype=float)[:, self.columns_]
        coef = params[loc_name]
        location = coef.get("Intercept", 0.0) + X @ np.array([coef.get(f"x{j}", 0.0) for j in self.columns_])
        scale = np.exp(params[scale_name]["Intercept"])  # the ancillary parameter has an intercept only
        return location, np.full(len(location), scale)

    def predict_median(self, X: Any) -> np.ndarray:
        location, scale = self._location_scale(X)
        if self.distribution == "weibull":
            return np.exp(location) * np.log(2.0) ** (1.0 / scale)
        return np.exp(location)

    def predict(self, X: Any) -> np.ndarray:
        """Risk score: minus the predicted median survival time (higher = earlier event)."""
        return -self.predict_median(X)

    def predict_survival_function(self, X: Any, return_array: bool = False) -> Any:
        """One :class:`AFTCurve` per row, or (``return_array``) S at ``unique_times_`` as sksurv does."""
        location, scale = self._location_scale(X)
        curves = [AFTCurve(self.distribution, float(m), float(s), self.domain_) for m, s in zip(location, scale)]
        if return_array:
            return np.vstack([c(self.unique_times_) for c in curves])
        return np.asarray(curves, dtype=object)


def _aft(distribution: str) -> Any:
    def build(kind: str, p: dict[str, Any], seed: int) -> Any:
        return AFTSurvival(distribution, penalizer=p["penalizer"], l1_ratio=p["l1_ratio"])

    build.__name__ = f"_{distribution}_aft"
    return build


def _componentwise_gb(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sksurv.ensemble import ComponentwiseGradientBoostingSurvivalAnalysis

    return ComponentwiseGradientBoostingSurvivalAnalysis(loss="coxph", random_state=seed, **p)


def _extra_survival_trees(kind: str, p: dict[str, Any], seed: int) -> Any:
    from sksurv.ensemble import ExtraSurvivalTrees

    return ExtraSurvivalTrees(random_state=seed, **p)


_AFT_DEFAULTS = {"penalizer": 0.01, "l1_ratio": 0.0}
_AFT_SPACE = {"penalizer": Param.float(1e-4, 10.0, log=True), "l1_ratio": Param.float(0.0, 1.0)}
_AFT_PORTFOLIO = ({"penalizer": 0.1}, {"penalizer": 0.001})

SPECS = [
    FamilySpec("weibull_aft", SURVIVAL, _AFT_DEFAULTS, _AFT_SPACE, _aft("weibull"),
               "Weibull accelerated failure time model (lifelines), risk = minus the median time",
               survival_function=True, portfolio=_AFT_PORTFOLIO),
    FamilySpec("lognormal_aft", SURVIVAL, _AFT_DEFAULTS, _AFT_SPACE, _aft("lognormal"),
               "log-normal accelerated failure time model (lifelines), risk = minus the median time",
               survival_function=True, portfolio=_AFT_PORTFOLIO),
    FamilySpec("componentwise_gb", SURVIVAL, {"n_estimators": 100, "learning_rate": 0.1, "subsample": 1.0, "dropout_rate": 0.0},
               {"n_estimators": Param.int(50, 2000, log=True), "learning_rate": Param.float(0.01, 0.5, log=True),
                "subsample": Param.float(0.5, 1.0), "dropout_rate": Param.float(0.0, 0.3)},
               _componentwise_gb, "componentwise gradient boosting of a linear Cox model (sparse, scikit-survival)",
               survival_function=True,
               portfolio=({"n_estimators": 500, "learning_rate": 0.05}, {"n_estimators": 300, "subsample": 0.5})),
    FamilySpec("extra_survival_trees", SURVIVAL,
               {"n_estimators": 100, "min_samples_leaf": 15, "max_features": "sqrt", "n_jobs": 1},
               {"n_estimators": Param.int(50, 1000, log=True), "min_samples_leaf": Param.int(3, 50, log=True),
                "max_features": Param.choice("sqrt", "log2", 0.5, 1.0)},
               _extra_survival_trees, "extremely randomised survival trees (scikit-survival)", survival_function=True,
               portfolio=({"min_samples_leaf": 5, "n_estimators": 300}, {"max_features": 0.5, "n_estimators": 300})),
]
