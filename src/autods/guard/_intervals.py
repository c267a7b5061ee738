"""Counting-process survival rows: a column that is each row's entry time into risk.

Data in ``(start, stop]`` form (lifelines' Stanford heart transplant table: one row per
interval of a patient, ``start`` the time the interval began) reaches ``autods run`` as an
ordinary survival table whose time is ``stop``. The judge's survival families are time-fixed:
every row is scored as if followed from time 0, with no left truncation, and ``start`` as a
feature tells the model how much follow-up the row already had: a row that began late has
survived that long. So such a column is excluded, with the reason and what to give instead.

A numeric feature is an interval start when, on every row with both values, ``0 <= x <= time``
and ``x > 0`` on at least :data:`MIN_LATE` of rows, and either

* with a unit id, the rows of a unit sorted by ``x`` chain (each ``x`` equals the previous
  row's time) for at least :data:`CHAIN_SHARE` of consecutive pairs, or
* without one, the header reads like an entry time (:data:`START_NAME`).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from autods.guard._leakage_context import LeakageContext
from autods.guard._stats import as_numeric
from autods.guard.findings import Finding, Severity

MIN_LATE = 0.05
CHAIN_SHARE = 0.9
START_NAME = re.compile(r"^(t_?)?(start|entry|enter|begin)(_?time|_?day|_?t)?$|^(t|time)_?0$|^tstart$", re.I)
ADVICE = ("autods fits time-fixed survival models on one row per unit: give one row per patient (baseline "
          "covariates, total follow-up time and final event); (start, stop] interval rows are scored as if each "
          "began at time 0, without left truncation")


def _chain_share(frame: pd.DataFrame, unit: str, x: np.ndarray, time: np.ndarray) -> tuple[float, int]:
    """Share of consecutive pairs within units (sorted by ``x``) whose start equals the previous stop."""
    rows = pd.DataFrame({"u": frame[unit].to_numpy(), "x": x, "t": time}).dropna()
    rows = rows[rows.groupby("u")["u"].transform("size") > 1].sort_values(["u", "x"], kind="mergesort")
    if rows.empty:
        return 0.0, 0
    prev_t = rows.groupby("u")["t"].shift(1)
    pairs = prev_t.notna()
    n = int(pairs.sum())
    if n == 0:
        return 0.0, 0
    return float(np.isclose(rows["x"][pairs], prev_t[pairs]).mean()), n


def interval_starts(ctx: LeakageContext) -> list[Finding]:
    if ctx.outcome_kind != "survival" or ctx.time is None:
        return []
    out: list[Finding] = []
    for col in ctx.features:
        if ctx.profile.kind(col) != "numeric":
            continue
        x = as_numeric(ctx.frame[col])
        if x is None:
            continue
        both = ~np.isnan(x) & ~np.isnan(ctx.time)
        if both.sum() < 10:
            continue
        xs, ts = x[both], ctx.time[both]
        if xs.min() < 0 or np.any(xs > ts + 1e-9) or (xs > 0).mean() < MIN_LATE:
            continue
        evidence: dict[str, object] = {"share_after_zero": round(float((xs > 0).mean()), 4)}
        unit = ctx.unit_id if ctx.unit_id in ctx.frame.columns else None
        if unit is not None:
            share, n_pairs = _chain_share(ctx.frame, unit, x, ctx.time)
            if n_pairs == 0 or share < CHAIN_SHARE:
                continue
            why = f"rows of one '{unit}' chain as (start, stop] intervals in {share:.0%} of {n_pairs} consecutive pairs"
            evidence.update({"chain_share": round(share, 4), "n_pairs": n_pairs, "unit": unit})
        elif START_NAME.search(col):
            why = "its header reads as an entry time"
        else:
            continue
        time_name = ctx.task.spec.endpoint.time
        out.append(Finding(
            check="interval_start", severity=Severity.blocking, feature=col,
            message=(f"counting-process entry time: '{col}' lies between 0 and the follow-up time '{time_name}' on every "
                     f"row and {why}; as a feature it tells the model how long the row had already survived"),
            advice=ADVICE, evidence=evidence))
    return out


__all__ = ["CHAIN_SHARE", "MIN_LATE", "START_NAME", "interval_starts"]
