"""Recipe preprocessing -> a scikit-learn pipeline that is always fitted inside a fold.

Column handling (decided from the training frame's dtypes, so every fold agrees):

* numeric and boolean: optional ``log1p`` (values <= -1 become missing), imputation with
  missingness indicators, optional standard scaling;
* categorical (strings, pandas categories, low-cardinality objects): most-frequent
  imputation, then one-hot with rare levels grouped (``min_frequency``); a level unseen in
  training maps to the infrequent bucket (or to all zeros when there is none);
* datetime columns (datetime dtype, or strings that are all ISO dates ``YYYY-MM-DD...``):
  dropped by default, or days since 1970-01-01 (``datetime: "days"``). Other date-looking
  strings are treated as categorical/text: guessing formats silently is how day and month
  get swapped;
* free text (object columns whose values are long or mostly unique): dropped, since a bag of
  words is a modelling decision a recipe should make explicitly.

Optional site harmonisation (``harmonize``, :mod:`autods.runners.harmonize`) runs between
the composites and the column blocks, on numeric columns, with site effects learned from
the training rows. Composite features are the first step of the pipeline: :class:`CompositeFeatures` only
remembers columns when fitted, and computes per-unit aggregates on whatever frame it
transforms, so they too respect fold boundaries.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from autods.errors import RecipeError
from autods.runners.expressions import NEEDS_TIME, columns_of, evaluate_expr, parse, unit_order, uses_units
from autods.runners.harmonize import SiteHarmonizer
from autods.site_codes import is_site_code
from autods.runners.recipe import Composite, Preprocess

__all__ = ["CompositeFeatures", "build_preprocessor", "column_kinds"]

#: An object column is free text when its mean length exceeds this many characters ...
TEXT_MEAN_LENGTH = 40
#: ... or when it has more than this share of distinct values among more than 50 rows.
TEXT_UNIQUE_SHARE = 0.5
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"


def column_kinds(frame: pd.DataFrame, columns: list[str]) -> dict[str, list[str]]:
    """Split ``columns`` into numeric, boolean, categorical, datetime and text."""
    kinds: dict[str, list[str]] = {"numeric": [], "boolean": [], "categorical": [], "datetime": [], "text": []}
    for col in columns:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s):
            kinds["boolean"].append(col)
        elif pd.api.types.is_datetime64_any_dtype(s):
            kinds["datetime"].append(col)
        elif pd.api.types.is_numeric_dtype(s):
            # an integer-coded site ('inst' 1..33) is levels, not a quantity (autods.site_codes)
            kinds["categorical" if is_site_code(col, s) else "numeric"].append(col)
        elif isinstance(s.dtype, pd.CategoricalDtype):
            kinds["categorical"].append(col)
        elif _is_iso_date(s):
            kinds["datetime"].append(col)
        else:
            kinds["text" if _is_text(s) else "categorical"].append(col)
    return kinds


def _is_iso_date(s: pd.Series) -> bool:
    values = s.dropna()
    return bool(len(values)) and bool(values.astype(str).str.match(_ISO_DATE).all())


def _is_text(s: pd.Series) -> bool:
    values = s.dropna().astype(str)
    if values.empty:
        return False
    many_unique = len(values) > 50 and values.nunique() / len(values) > TEXT_UNIQUE_SHARE
    return bool(values.str.len().mean() > TEXT_MEAN_LENGTH or many_unique)


def _log1p(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.log1p(np.where(x > -1, x, np.nan))


def _to_float(x: Any) -> np.ndarray:
    return np.asarray(pd.DataFrame(x).astype("float64"), dtype=float)


def _to_days(x: Any) -> np.ndarray:
    frame = pd.DataFrame(x)
    out = np.empty(frame.shape, dtype=float)
    for j, col in enumerate(frame.columns):
        ts = pd.to_datetime(frame[col], format="ISO8601") if frame[col].dtype == object else pd.to_datetime(frame[col])
        # Naive timestamps are read as UTC; days since the epoch keep order and spacing.
        out[:, j] = (ts - pd.Timestamp("1970-01-01", tz=ts.dt.tz)).dt.total_seconds().to_numpy() / 86400.0
    return out


def _to_str(x: Any) -> np.ndarray:
    # One dtype for the encoder: mixed int/str levels would make OneHotEncoder fail to sort.
    frame = pd.DataFrame(x)
    return frame.astype(str).astype(object).where(frame.notna(), np.nan).to_numpy()


class CompositeFeatures(TransformerMixin, BaseEstimator):
    """Append composite columns computed by the safe grammar; drop the unit id (and a time
    column that is read only to order unit history).

    ``fit`` only checks and remembers columns. ``transform`` evaluates every expression on
    the frame it is given, so per-unit history uses only that frame's (earlier) rows.
    """

    def __init__(self, composites: tuple[Composite, ...] = (), unit_column: str | None = None,
                 time_column: str | None = None, drop_time: bool = False) -> None:
        self.composites = composites
        self.unit_column = unit_column
        self.time_column = time_column
        self.drop_time = drop_time

    def fit(self, X: pd.DataFrame, y: Any = None) -> CompositeFeatures:
        self.trees_ = [(c.name, parse(c.expr)) for c in self.composites]
        for name, tree in self.trees_:
            if name in X.columns:
                raise RecipeError(f"composite '{name}' has the name of an existing column", "rename the composite")
            missing = sorted(columns_of(tree) - set(X.columns) - {c.name for c in self.composites})
            if missing:
                raise RecipeError(f"composite '{name}' uses unknown column '{missing[0]}'", "use feature columns the recipe may see")
            if uses_units(tree) and self.unit_column is None:
                raise RecipeError(f"composite '{name}' uses a per-unit aggregate but the task has no unit id", "set id_column in TASK.md")
            if uses_units(tree) and self.time_column is None:
                raise RecipeError(f"composite '{name}' uses a per-unit aggregate (a unit's history), "
                                  "which needs the task's time_column to order rows", NEEDS_TIME)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        units = None if self.unit_column is None else out[self.unit_column].to_numpy()
        times = None if self.time_column is None else unit_order(out[self.time_column], self.time_column)
        for name, tree in self.trees_:
            out[name] = evaluate_expr(tree, out, units, times)  # later composites may use earlier ones
        drop = [c for c in (self.unit_column, self.time_column if self.drop_time else None) if c is not None]
        return out.drop(columns=list(dict.fromkeys(drop)))


def build_preprocessor(pp: Preprocess, frame: pd.DataFrame, features: list[str], unit_column: str | None = None,
                       time_column: str | None = None) -> Pipeline:
    """Unfitted pipeline ``composites -> columns`` for the training ``frame`` restricted to ``features``.

    ``unit_column`` and ``time_column`` are read only by per-unit history composites.
    """
    missing_logs = sorted(set(pp.log_transform) - set(features) - {c.name for c in pp.composites})
    if missing_logs:
        raise RecipeError(f"log_transform names '{missing_logs[0]}', which is not an allowed feature", "list feature columns only")
    kinds = column_kinds(frame, features)
    kinds["numeric"] += [c.name for c in pp.composites]
    bad_logs = sorted(set(pp.log_transform) - set(kinds["numeric"]))
    if bad_logs:
        raise RecipeError(f"log_transform names '{bad_logs[0]}', which is not numeric", "log-transform numeric columns only")

    def numeric(log: bool) -> Pipeline:
        steps: list[tuple[str, Any]] = [("log1p", FunctionTransformer(_log1p, feature_names_out="one-to-one"))] if log else []
        steps.append(("impute", SimpleImputer(strategy=pp.impute, add_indicator=pp.add_indicator)))
        if pp.scale:
            steps.append(("scale", StandardScaler()))
        return Pipeline(steps)

    logged = [c for c in kinds["numeric"] if c in pp.log_transform]
    plain = [c for c in kinds["numeric"] if c not in pp.log_transform]
    blocks: list[tuple[str, Any, list[str]]] = [("numeric", numeric(False), plain), ("log", numeric(True), logged)]
    if kinds["boolean"]:
        as_float = FunctionTransformer(_to_float, feature_names_out="one-to-one")
        blocks.append(("boolean", Pipeline([("float", as_float), ("impute", SimpleImputer(strategy="most_frequent"))]), kinds["boolean"]))
    if kinds["categorical"]:
        encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=pp.min_frequency, sparse_output=False)
        cat = Pipeline([("str", FunctionTransformer(_to_str, feature_names_out="one-to-one")),
                        ("impute", SimpleImputer(strategy="most_frequent")), ("onehot", encoder)])
        blocks.append(("categorical", cat, kinds["categorical"]))
    if kinds["datetime"] and pp.datetime == "days":
        days = Pipeline([("days", FunctionTransformer(_to_days, feature_names_out="one-to-one")), ("impute", numeric(False))])
        blocks.append(("datetime", days, kinds["datetime"]))
    blocks = [b for b in blocks if b[2]]
    if not blocks:
        raise RecipeError("no usable feature columns remain after preprocessing", "check the feature subset and column types")
    columns = ColumnTransformer(blocks, remainder="drop", sparse_threshold=0.0)
    units = _needs_units(pp)
    if units and time_column is not None and time_column not in frame.columns:
        raise RecipeError(f"time_column '{time_column}' is not in the governed data (de-identification dropped it), "
                          "so unit history has no order", "keep the time column (deident_policy) or drop the per-unit aggregate")
    time = time_column if units else None
    composites = CompositeFeatures(tuple(pp.composites), unit_column if units else None, time,
                                   drop_time=time is not None and time not in features)
    steps: list[tuple[str, Any]] = [("composites", composites)]
    if pp.harmonize != "none":
        if pp.harmonize_site not in features:
            raise RecipeError(f"harmonize_site '{pp.harmonize_site}' is not among the recipe's features",
                              "add the site column to the features (or set harmonize: none)")
        numeric = [c for c in kinds["numeric"] if c != pp.harmonize_site]
        steps.append(("harmonize", SiteHarmonizer(pp.harmonize, pp.harmonize_site, numeric)))
    # Models get a plain matrix whatever sklearn's global transform_output says: the user's column
    # names stay in get_feature_names_out() (importances map back through it), and an estimator
    # never sees them (LightGBM refuses '"', ':', ',', '[', ']', '{', '}' in feature names).
    columns.set_output(transform="default")
    return Pipeline([*steps, ("columns", columns)])


def _needs_units(pp: Preprocess) -> bool:
    return any(uses_units(parse(c.expr)) for c in pp.composites)


def dropped_columns(frame: pd.DataFrame, features: list[str], pp: Preprocess) -> list[tuple[str, str]]:
    """(column, reason) for every feature the preprocessor will not use."""
    kinds = column_kinds(frame, features)
    out = [(c, "free-text column (dropped by the runner)") for c in kinds["text"]]
    if pp.datetime == "drop":
        out += [(c, "datetime column (dropped; set preprocess.datetime='days' to use it)") for c in kinds["datetime"]]
    return out
