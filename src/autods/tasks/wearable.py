"""Wearable long format (one row per participant per timestamp) -> checked long frame or per-participant features.

TASK.md needs ``id_column`` (participant) and ``time_column`` (timestamp or day number)::

    format: wearable
    cohort:
      values: [steps, sleep_duration, resting_hr]   # default: numeric columns that vary within a participant
      duplicates: mean                              # mean | first | error, for repeated (participant, timestamp)
      min_timepoints: 7                             # participants with fewer timestamps are dropped
      aggregate: auto                               # auto | long | unit

``aggregate``: ``long`` keeps one row per participant per timestamp, which is what the
biomarker track wants (it builds features itself through
:func:`autods.tasks.longitudinal.construct_features`, inside its own label isolation);
``unit`` builds those same features here, endpoint-blind, and returns one row per
participant with its constant columns and ``time_column`` = the first timestamp (the start of
monitoring); ``auto`` is ``long`` for ``biomarker`` tasks and ``unit`` otherwise, because
the runners model one row per unit.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from autods.errors import DataError
from autods.tasks.longitudinal import construct_features
from autods.tasks.provenance import Provenance
from autods.tasks.registry import cohort_settings, resolve_source
from autods.tasks.spec import TaskSpec

__all__ = ["WearableSettings", "load", "tidy_long", "to_units"]


class WearableSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    values: tuple[str, ...] | None = None
    duplicates: Literal["mean", "first", "error"] = "mean"
    min_timepoints: int = Field(default=1, ge=1)
    aggregate: Literal["auto", "long", "unit"] = "auto"


def _time(col: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col
    try:
        return pd.to_datetime(col, format="ISO8601")
    except (ValueError, TypeError):
        raise DataError(f"time_column '{name}' holds values that are neither numbers nor ISO dates",
                        "use ISO timestamps (2021-03-04T08:00) or numeric days") from None


def tidy_long(frame: pd.DataFrame, idc: str, tc: str, s: WearableSettings, prov: Provenance) -> pd.DataFrame:
    """Parse time, resolve repeated (participant, timestamp) rows, drop participants with too few timestamps."""
    frame = frame.dropna(subset=[idc, tc]).assign(**{tc: lambda f: _time(f[tc], tc)})
    dup = frame.duplicated([idc, tc], keep=False)
    if dup.any():
        if s.duplicates == "error":
            raise DataError(f"{int(dup.sum())} rows repeat a ({idc}, {tc}) pair", "set cohort.duplicates: mean or first")
        before = len(frame)
        if s.duplicates == "first":
            frame = frame.drop_duplicates([idc, tc], keep="first")
        else:
            num = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and c not in (idc, tc)]
            g = frame.groupby([idc, tc], sort=False)
            other = [c for c in frame.columns if c not in num and c not in (idc, tc)]
            frame = pd.concat([g[num].mean(), g[other].first()], axis=1).reset_index()
        prov.step("repeated timestamps resolved", len(frame), removed=before - len(frame),
                  detail=f"{int(dup.sum())} rows shared a ({idc}, {tc}) pair: {s.duplicates}")
    n = frame.groupby(idc)[tc].transform("size")
    short = n < s.min_timepoints
    if short.any():
        frame = frame[~short]
    prov.step(f">= {s.min_timepoints} timestamps per participant", len(frame), units=frame[idc].nunique(),
              removed=int(short.sum()))
    return frame.sort_values([idc, tc], kind="mergesort").reset_index(drop=True)


def to_units(frame: pd.DataFrame, spec: TaskSpec, values: list[str], prov: Provenance) -> pd.DataFrame:
    """One row per participant: constant columns, constructed features, first timestamp as the time column."""
    idc, tc = spec.id_column, spec.time_column
    assert idc is not None and tc is not None
    varying = frame.groupby(idc).nunique(dropna=True).max() > 1
    for col in spec.endpoint.columns:
        if varying.get(col, False):
            raise DataError(f"endpoint '{col}' varies within a participant",
                            "one endpoint value per participant is needed for one row per participant (or use a biomarker task)")
    forbidden = set(spec.endpoint.columns) | set(spec.exclude)
    feats = construct_features(frame, idc, tc, values, forbidden=forbidden)
    static = [c for c in frame.columns if c not in (idc, tc) and c not in values and not varying.get(c, False)]
    first = frame.groupby(idc, sort=True)
    units = first[static].first().join(first[tc].min().rename(tc)).join(feats).reset_index()
    if pd.api.types.is_datetime64_any_dtype(units[tc]):
        units[tc] = units[tc].dt.strftime("%Y-%m-%d")
    prov.step("per-participant features", len(units), units=len(units),
              detail=f"{feats.shape[1]} features from {len(values)} repeated measures ({', '.join(values[:8])}); "
                     f"{tc} = first timestamp")
    return units


def load(spec: TaskSpec, prov: Provenance) -> pd.DataFrame:
    """The wearable loader registered as ``format: wearable``."""
    from autods.tasks.load import read_table

    s = cohort_settings(WearableSettings, spec)
    idc, tc = spec.id_column, spec.time_column
    if not idc or not tc:
        raise DataError("a wearable task needs id_column (participant) and time_column (timestamp)", "add both to TASK.md")
    frames = []
    for rel in spec.data:
        path, package = resolve_source(spec, rel)
        frames.append(read_table(path))
        prov.source(rel, path, package)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    prov.step("rows read", len(frame), units=frame[idc].nunique() if idc in frame.columns else None)
    for col in (idc, tc):
        if col not in frame.columns:
            raise DataError(f"column '{col}' is not in the wearable data", f"use one of: {', '.join(map(str, frame.columns[:12]))}")
    frame = tidy_long(frame, idc, tc, s, prov)
    reserved = {idc, tc, *spec.endpoint.columns, *spec.exclude, *spec.covariates}
    if s.values is not None:
        missing = [v for v in s.values if v not in frame.columns]
        if missing:
            raise DataError(f"cohort.values names '{missing[0]}', which is not a column", "list repeated-measure columns")
        values = list(s.values)
    else:
        varying = frame.groupby(idc).nunique(dropna=True).max() > 1
        values = [c for c in frame.columns if c not in reserved and varying.get(c, False)
                  and pd.api.types.is_numeric_dtype(frame[c])]
    mode = s.aggregate if s.aggregate != "auto" else ("long" if spec.task_type == "biomarker" else "unit")
    if mode == "long":
        prov.step("long format kept", len(frame), units=frame[idc].nunique(),
                  detail=f"{len(values)} repeated measures; features are built by the biomarker track")
        return frame
    return to_units(frame, spec, values, prov)
