"""Small, dependency-light statistics the guardrails share.

Everything here tolerates missing values, constant inputs and categorical columns, because
the guardrails run on raw user data before anything has been cleaned. Functions return
``None`` when a statistic is undefined instead of raising or warning.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy.stats import rankdata

MIN_ROWS = 10
DATE_SHAPE = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2})?(\.\d+)?)?\s*$")
# Explicit formats only: pandas warns (and our tests treat warnings as errors) when it has to guess.
DATE_FORMATS = ("ISO8601", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%m-%d-%Y", "%d-%m-%Y")


def auroc(score: np.ndarray, label: np.ndarray) -> float | None:
    """Mann–Whitney AUROC of ``score`` for ``label`` (0/1); ``None`` if a class is absent.

    Rows where either input is missing are dropped. Ties count one half, as in sklearn.
    """
    s = np.asarray(score, dtype=float)
    y = np.asarray(label, dtype=float)
    keep = ~(np.isnan(s) | np.isnan(y))
    s, y = s[keep], y[keep]
    n1 = int((y == 1).sum())
    n0 = int((y == 0).sum())
    if n1 == 0 or n0 == 0:
        return None
    ranks = rankdata(s)
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman correlation on pairwise-complete rows; ``None`` if either side is constant."""
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    if keep.sum() < MIN_ROWS:
        return None
    ra, rb = rankdata(a[keep]), rankdata(b[keep])
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def cramers_v(x: pd.Series, y: pd.Series) -> float | None:
    """Bias-uncorrected Cramér's V between two categorical series (pairwise-complete rows)."""
    both = pd.DataFrame({"x": x.astype("object"), "y": y.astype("object")}).dropna()
    if len(both) < MIN_ROWS:
        return None
    table = pd.crosstab(both["x"], both["y"]).to_numpy(dtype=float)
    if min(table.shape) < 2:
        return None
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / (table.sum() * (min(table.shape) - 1))))


def oof_target_encode(x: pd.Series, y: np.ndarray, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Encode a categorical column by the out-of-fold mean of ``y`` per level.

    Out-of-fold (not in-sample) so that a high-cardinality column such as a row id cannot
    look perfectly predictive by memorising the target: each row's code comes from the other
    folds only, and a level unseen there gets the global mean. Missing stays missing.
    """
    yv = np.asarray(y, dtype=float)
    level, _ = pd.factorize(x, use_na_sentinel=True)  # -1 marks a missing level
    n_levels = int(level.max()) + 1 if len(level) else 0
    codes = np.full(len(x), np.nan)
    fold = np.random.default_rng(seed).integers(0, n_folds, size=len(x))
    usable = (level >= 0) & np.isfinite(yv)
    for k in range(n_folds):
        train, test = usable & (fold != k), (fold == k) & (level >= 0)
        if not train.any() or not test.any():
            continue
        sums = np.bincount(level[train], weights=yv[train], minlength=n_levels)
        counts = np.bincount(level[train], minlength=n_levels)
        means = np.divide(sums, counts, out=np.full(n_levels, yv[train].mean()), where=counts > 0)
        codes[test] = means[level[test]]
    return codes


def parse_dates(values: pd.Series, min_fraction: float = 0.9) -> pd.Series | None:
    """Parse a column as dates if at least ``min_fraction`` of its non-missing values parse.

    Returns a datetime64 series (unparseable values as NaT) or ``None``. Datetime dtypes pass
    through; numbers are never treated as dates (an integer lab value is not an epoch).
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return None
    present = values.dropna().astype(str)
    if present.empty:
        return None
    head = present.sample(min(len(present), 200), random_state=0)
    if head.map(lambda v: bool(DATE_SHAPE.match(v))).mean() < min_fraction:
        return None
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(head, format=fmt, errors="coerce")
        if parsed.notna().mean() >= min_fraction:
            full = pd.to_datetime(values.where(values.notna(), None).astype("object"), format=fmt, errors="coerce")
            return full
    return None


def as_numeric(values: pd.Series) -> np.ndarray | None:
    """Numeric view of a column for rank statistics: numbers, booleans and dates (as days)."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float).to_numpy()
    if pd.api.types.is_numeric_dtype(values):
        return pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    dates = parse_dates(values)
    if dates is not None:
        days = (dates - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0
        return days.astype(float).to_numpy()
    return None
