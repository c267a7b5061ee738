"""The fitted ensemble's ``prep`` steps: raw rows in, a lossless float matrix out, and back.

An ensemble's members each bring their own preprocessing, so the ensemble itself must hand
them the raw rows. Its pipeline still has the shape every report expects
(``prep`` = ``composites`` -> ``columns``, then ``model``): :class:`RawRows` passes rows
through (and names the unit / time columns that members' unit-history composites read, as
:class:`~autods.reports.model_io.ChampionModel` asks of any recipe), and :class:`RawColumns`
encodes every raw column as one float column (numbers as themselves, datetimes as
nanoseconds (exact to a microsecond), other values as the code of a level seen in training) that
:meth:`RawColumns.decode` turns back into the same frame. Model-agnostic explainers (SHAP's
permutation explainer) then perturb raw inputs of the whole ensemble, one column per input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

__all__ = ["UNSEEN", "RawColumns", "RawRows"]

#: what a level never seen in training decodes to: unknown to every member's encoder, as it was
UNSEEN = "__autods_unseen_level__"


class RawRows(BaseEstimator):
    """Rows pass through; ``unit_column`` / ``time_column`` are set when a member's unit history reads them."""

    def __init__(self, unit_column: str | None = None, time_column: str | None = None) -> None:
        self.unit_column = unit_column
        self.time_column = time_column

    def fit(self, X: Any, y: Any = None) -> RawRows:
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: Any) -> Any:
        return X

    def fit_transform(self, X: Any, y: Any = None) -> Any:
        return self.fit(X, y).transform(X)


def _kind(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return "number"
    if pd.api.types.is_datetime64_dtype(values):  # tz-naive; tz-aware stamps are levels (exact either way)
        return "datetime"
    return "level"


class RawColumns(BaseEstimator):
    """Raw columns <-> floats, exactly: ``decode(transform(frame))`` equals ``frame`` on training levels.

    Fitted: ``columns_``, ``kinds_`` (number | datetime | level), ``dtypes_``, ``levels_``.
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> RawColumns:
        self.columns_ = [str(c) for c in X.columns]
        self.kinds_ = {c: _kind(X[c]) for c in self.columns_}
        self.dtypes_ = {c: X[c].dtype for c in self.columns_}
        self.levels_ = {c: pd.Index(pd.unique(X[c].dropna())) for c in self.columns_ if self.kinds_[c] == "level"}
        self.n_features_in_ = len(self.columns_)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(X), len(self.columns_)))
        for j, c in enumerate(self.columns_):
            values = X[c]
            if self.kinds_[c] == "number":
                out[:, j] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            elif self.kinds_[c] == "datetime":
                stamps = pd.to_datetime(values).astype("datetime64[ns]")
                out[:, j] = np.where(stamps.isna(), np.nan, stamps.to_numpy().astype("int64").astype(float))
            else:
                codes = self.levels_[c].get_indexer(values).astype(float)  # -1: a level training never saw
                out[:, j] = np.where(values.isna().to_numpy(), np.nan, codes)
        return out

    def fit_transform(self, X: pd.DataFrame, y: Any = None) -> np.ndarray:
        return self.fit(X, y).transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"raw__{c}" for c in self.columns_], dtype=object)

    def decode(self, M: np.ndarray) -> pd.DataFrame:
        """The frame :meth:`transform` encoded (an unseen level comes back as :data:`UNSEEN`)."""
        M = np.asarray(M, dtype=float)
        out: dict[str, Any] = {}
        for j, c in enumerate(self.columns_):
            col = M[:, j]
            missing = np.isnan(col)
            if self.kinds_[c] == "number":
                series = pd.Series(col)
                dtype = self.dtypes_[c]
                if not missing.any() or not isinstance(dtype, np.dtype):
                    try:
                        series = series.astype(dtype)  # ints and bools back; nullable dtypes keep their NA
                    except (TypeError, ValueError):
                        pass  # a value the original dtype cannot hold: float is exact
                out[c] = series
            elif self.kinds_[c] == "datetime":
                out[c] = pd.Series(pd.to_datetime(np.where(missing, np.nan, col).astype("float"), unit="ns"))
            else:
                levels = np.asarray([*self.levels_[c], UNSEEN], dtype=object)  # code -1 is the last: UNSEEN
                values = levels[np.where(missing, -1, col).astype(int)]
                values[missing] = np.nan
                out[c] = pd.Series(values, dtype=object)
        return pd.DataFrame(out)
