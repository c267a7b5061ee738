"""Per-unit features from long data (one row per unit per timestamp), blind to the endpoint.

For every value column ``v`` the unit-level frame gets ``v__mean``, ``v__sd``, ``v__cv``
(sd / |mean|), ``v__iqr``, ``v__mad_successive`` (day-to-day variability: mean absolute
difference of successive daily values), ``v__slope`` (OLS slope per day); when the time
column holds dates, ``v__weekend_ratio`` (weekend mean / weekday mean); when it holds
times of day as well, ``v__night_ratio`` (mean over 22:00-06:00 / mean over 06:00-22:00),
and daily values are then the per-day means. Composites are ``(name, expression)`` pairs in
the safe grammar of :mod:`autods.runners.expressions`, evaluated on the unit-level features.

Label isolation: this module never receives the endpoint. Callers pass ``forbidden`` (the
endpoint and excluded columns); any of them among ``value_columns`` or read by a composite
is refused with a :class:`~autods.errors.JudgeError`.

``frame.attrs["lineage"]`` maps each feature to the raw columns it was built from, which
the battery's construct-independence gate uses to spot compositional candidates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from autods.errors import JudgeError

__all__ = ["NIGHT_HOURS", "STATS", "construct_features", "family_of"]

STATS = ("mean", "sd", "cv", "iqr", "mad_successive", "slope")
#: Night is [22:00, 06:00): the usual actigraphy convention for sleep-period activity.
NIGHT_HOURS = (22, 6)


def family_of(feature: str) -> str:
    """The raw signal a constructed feature summarizes (``steps__sd`` -> ``steps``)."""
    return feature.split("__", 1)[0]


def _ratio(num: pd.DataFrame, den: pd.DataFrame) -> pd.DataFrame:
    # A ratio over a zero or missing denominator is undefined, not infinite.
    return num / den.where(den.abs() > 0)


def _slope(frame: pd.DataFrame, id_column: str, days: pd.Series, cols: list[str]) -> pd.DataFrame:
    """Per-unit OLS slope of each column on days, from grouped sums (rows with a missing value skipped)."""
    v = frame[cols]
    mask = v.notna().astype(float)
    d = mask.mul(days.to_numpy(), axis=0)
    parts = {"n": mask, "d": d, "v": v.fillna(0.0), "dv": d * v.fillna(0.0), "dd": d * days.to_numpy()[:, None]}
    sums = {k: p.groupby(frame[id_column].to_numpy()).sum() for k, p in parts.items()}
    n = sums["n"]
    sxy = sums["dv"] - sums["d"] * sums["v"] / n
    sxx = sums["dd"] - sums["d"] ** 2 / n
    return sxy / sxx.where(sxx > 1e-12)


def construct_features(
    long_frame: pd.DataFrame,
    id_column: str,
    time_column: str,
    value_columns: Sequence[str],
    composites: Iterable[tuple[str, str]] = (),
    forbidden: Iterable[str] = (),
) -> pd.DataFrame:
    """One row per unit (index = unit id) of aggregates of ``value_columns`` plus composites."""
    cols = list(value_columns)
    forbidden = set(forbidden)
    leaked = sorted(forbidden.intersection(cols) | ({id_column, time_column} & set(cols)))
    if leaked:
        raise JudgeError(f"label isolation: feature construction may not read {leaked} (endpoint, excluded, id or time)")
    frame = long_frame[[id_column, time_column, *cols]].copy()
    frame[cols] = frame[cols].apply(pd.to_numeric, errors="coerce").astype(float)
    t = frame[time_column]
    dated = pd.api.types.is_datetime64_any_dtype(t)
    if dated:
        days = (t - t.min()) / pd.Timedelta(days=1)
        day = t.dt.floor("D")
    else:
        days = pd.to_numeric(t, errors="coerce").astype(float)
        day = np.floor(days)
    frame = frame.assign(_day=day, _days=days).sort_values([id_column, time_column], kind="mergesort")
    ids = frame[id_column].to_numpy()
    g = frame.groupby(ids, sort=True)[cols]
    mean, sd = g.mean(), g.std(ddof=1)
    out = {"mean": mean, "sd": sd, "cv": _ratio(sd, mean.abs()), "iqr": g.quantile(0.75) - g.quantile(0.25)}
    daily = frame.groupby([id_column, "_day"], sort=True)[cols].mean()
    out["mad_successive"] = daily.groupby(level=0).diff().abs().groupby(level=0).mean()
    out["slope"] = _slope(frame, id_column, frame["_days"], cols)
    if dated:
        weekend = frame[time_column].dt.dayofweek.to_numpy() >= 5
        if weekend.any() and (~weekend).any():
            out["weekend_ratio"] = _ratio(frame[weekend].groupby(ids[weekend])[cols].mean(),
                                          frame[~weekend].groupby(ids[~weekend])[cols].mean())
        hour = frame[time_column].dt.hour.to_numpy()
        if (frame[time_column] != frame["_day"]).any():
            night = (hour >= NIGHT_HOURS[0]) | (hour < NIGHT_HOURS[1])
            out["night_ratio"] = _ratio(frame[night].groupby(ids[night])[cols].mean(),
                                        frame[~night].groupby(ids[~night])[cols].mean())
    units = mean.index
    pieces = []
    for stat, table in out.items():
        table = table.reindex(units)
        table.columns = [f"{c}__{stat}" for c in table.columns]
        pieces.append(table)
    features = pd.concat(pieces, axis=1)
    features = features[[f"{c}__{s}" for c in cols for s in out]]
    features.index.name = id_column
    lineage = {f: (family_of(f),) for f in features.columns}
    features = _add_composites(features, list(composites), forbidden, lineage)
    features.attrs["lineage"] = lineage
    return features


def _add_composites(features: pd.DataFrame, composites: list[tuple[str, str]], forbidden: set[str],
                    lineage: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """Evaluate (name, expression) composites on the unit-level features with the safe grammar."""
    if not composites:
        return features
    from autods.runners import expressions  # lazy: the grammar belongs to the runners

    added = {}
    for name, text in composites:
        node = expressions.parse(text)
        reads = expressions.columns_of(node)
        sources = tuple(sorted({s for c in reads for s in lineage.get(c, (family_of(c),))}))
        if forbidden.intersection(reads) or forbidden.intersection(sources):
            raise JudgeError(f"label isolation: composite {name!r} reads an endpoint or excluded column")
        if name in features.columns or name in added:
            raise JudgeError(f"composite {name!r} clashes with an existing feature name")
        added[name] = expressions.evaluate_expr(node, features)
        lineage[name] = sources
    return pd.concat([features, pd.DataFrame(added, index=features.index)], axis=1)
