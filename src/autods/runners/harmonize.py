"""Site / batch harmonisation, fitted on training rows only (a step of the recipe's preprocessing).

Two methods, both per numeric column and both learned from the rows ``fit`` sees:

* ``site_standardize``: ``x' = (x - mean_site) / sd_site * sd_pooled + mean_grand``: each
  site is centred and scaled on its own, then put back on the pooled scale so values keep
  their units' order of magnitude.
* ``combat``: the parametric empirical-Bayes location/scale model of Johnson, Li & Rabinovic
  (Biostatistics 2007) without covariates, as in neuroCombat: standardise by the grand mean
  and the pooled variance (divided by N), estimate each site's additive (gamma) and
  multiplicative (delta squared) effect, shrink them towards priors shared across columns,
  and remove them. Needs at least two columns for the priors; with one it falls back to the
  unshrunk estimates.

Leakage rule: every statistic comes from the training rows. ``transform`` applies the
stored site effects to rows of sites seen in training and leaves rows of an unseen site
unchanged (there is no training information about that site); ``n_unseen_`` counts them.
Under site-grouped CV every test site is unseen, so harmonisation changes only what the
model learns from, not the test rows. Missing values stay missing and are ignored in the
statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from autods.errors import RecipeError

__all__ = ["METHODS", "SiteHarmonizer"]

METHODS = ("site_standardize", "combat")
_CONV = 1e-4  # neuroCombat's relative convergence threshold for the EB iteration
_MAX_ITER = 1000


class SiteHarmonizer(TransformerMixin, BaseEstimator):
    """Remove per-site location/scale differences from numeric columns of a DataFrame.

    Fitted attributes: ``sites_`` (site labels seen in training), ``columns_`` (harmonised
    columns), ``grand_mean_`` and ``pooled_sd_`` (per column), ``site_mean_``, ``site_sd_``
    (site x column, site_standardize) or ``gamma_``, ``delta2_`` (site x column, combat),
    ``n_per_site_``.
    """

    def __init__(self, method: str = "combat", site_column: str = "site", columns: list[str] | None = None) -> None:
        self.method = method
        self.site_column = site_column
        self.columns = columns

    def _numeric(self, X: pd.DataFrame) -> list[str]:
        if self.columns is not None:
            return [c for c in self.columns if c != self.site_column]
        return [c for c in X.columns if c != self.site_column and pd.api.types.is_numeric_dtype(X[c])
                and not pd.api.types.is_bool_dtype(X[c])]

    def fit(self, X: pd.DataFrame, y: Any = None) -> SiteHarmonizer:
        if self.method not in METHODS:
            raise RecipeError(f"unknown harmonisation method {self.method!r}", f"use one of {list(METHODS)}")
        if self.site_column not in X.columns:
            raise RecipeError(f"harmonisation needs the site column '{self.site_column}' among the features",
                              "keep the site column in the recipe's features")
        self.columns_ = self._numeric(X)
        site = X[self.site_column].astype(str).to_numpy()
        self.sites_ = np.unique(site)
        x = X[self.columns_].to_numpy(dtype=float)
        present = ~np.isnan(x)
        means, counts, sds = [], [], []
        for s in self.sites_:
            rows = x[site == s]
            n = (~np.isnan(rows)).sum(axis=0)
            counts.append(n)
            with np.errstate(invalid="ignore", divide="ignore"):
                m = np.nansum(rows, axis=0) / np.where(n > 0, n, np.nan)
                sds.append(np.sqrt(np.nansum((rows - m) ** 2, axis=0) / np.where(n > 1, n - 1, np.nan)))
            means.append(m)
        self.n_per_site_ = np.vstack(counts)
        self.site_mean_ = np.vstack(means)
        n_total = present.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.grand_mean_ = np.nansum(self.site_mean_ * self.n_per_site_, axis=0) / n_total
            resid = np.zeros(x.shape[1])
            for k, s in enumerate(self.sites_):
                resid += np.nansum((x[site == s] - self.site_mean_[k]) ** 2, axis=0)
            # Pooled within-site variance over N, as neuroCombat does; 1 where a column is constant.
            var_pooled = resid / n_total
        var_pooled = np.where(np.isfinite(var_pooled) & (var_pooled > 0), var_pooled, 1.0)
        self.pooled_sd_ = np.sqrt(var_pooled)
        if self.method == "site_standardize":
            sd = np.vstack(sds)
            self.site_sd_ = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
        else:
            self._fit_combat(x, site)
        self.n_features_in_ = X.shape[1]
        return self

    def _fit_combat(self, x: np.ndarray, site: np.ndarray) -> None:
        z = (x - self.grand_mean_) / self.pooled_sd_
        g_hat, d_hat, n = [], [], []
        for s in self.sites_:
            zs = z[site == s]
            g_hat.append(np.nanmean(zs, axis=0) if len(zs) else np.zeros(z.shape[1]))
            with np.errstate(invalid="ignore"):
                d = np.nanvar(zs, axis=0, ddof=1) if len(zs) > 1 else np.ones(z.shape[1])
            d_hat.append(np.where(np.isfinite(d) & (d > 0), d, 1.0))  # neuroCombat: a zero variance becomes 1
            n.append((~np.isnan(zs)).sum(axis=0))
        g_hat, d_hat, n = np.vstack(g_hat), np.vstack(d_hat), np.vstack(n).astype(float)
        if z.shape[1] < 2:
            self.gamma_, self.delta2_ = g_hat, d_hat
            return
        g_bar = g_hat.mean(axis=1, keepdims=True)
        t2 = g_hat.var(axis=1, ddof=1, keepdims=True)
        m = d_hat.mean(axis=1, keepdims=True)
        s2 = d_hat.var(axis=1, ddof=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            a = (2 * s2 + m**2) / s2
            b = (m * s2 + m**3) / s2
        g_old, d_old = g_hat.copy(), d_hat.copy()
        for _ in range(_MAX_ITER):
            g_new = (t2 * n * g_hat + d_old * g_bar) / (t2 * n + d_old)
            # sum of squares around g_new from the site's mean and variance: (n-1) d_hat + n (g_hat - g_new)^2
            sum2 = (n - 1) * d_hat + n * (g_hat - g_new) ** 2
            d_new = (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                change = np.nanmax(np.concatenate([np.abs(g_new - g_old) / np.abs(g_old),
                                                   np.abs(d_new - d_old) / np.abs(d_old)]))
            g_old, d_old = g_new, d_new
            if not change > _CONV:
                break
        ok = np.isfinite(g_new) & np.isfinite(d_new) & (d_new > 0)
        self.gamma_ = np.where(ok, g_new, g_hat)
        self.delta2_ = np.where(ok, d_new, d_hat)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        site = X[self.site_column].astype(str).to_numpy()
        x = X[self.columns_].to_numpy(dtype=float)
        idx = {s: k for k, s in enumerate(self.sites_)}
        known = np.array([s in idx for s in site], dtype=bool)
        self.n_unseen_ = int((~known).sum())
        k = np.array([idx.get(s, 0) for s in site])
        adj = x.copy()
        if self.method == "site_standardize":
            z = (x - self.site_mean_[k]) / self.site_sd_[k]
            adj[known] = (z * self.pooled_sd_ + self.grand_mean_)[known]
        else:
            z = (x - self.grand_mean_) / self.pooled_sd_
            star = (z - self.gamma_[k]) / np.sqrt(self.delta2_[k])
            adj[known] = (star * self.pooled_sd_ + self.grand_mean_)[known]
        out[self.columns_] = adj
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self.feature_names_in_ if hasattr(self, "feature_names_in_") else input_features, dtype=object)
