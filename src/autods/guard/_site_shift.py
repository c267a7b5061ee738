"""Per-site distribution shift: the aggregates behind the profile's "site shift" findings.

A feature shifts across sites when the two most extreme site means differ by at least
``SMD_MIN`` pooled within-site standard deviations *and* a Kruskal–Wallis test rejects
equality at ``P_MAX``. Both are required: large sites make tiny differences significant,
and tiny sites make large differences noise. The outcome shifts when the per-site event
rate (binary endpoint) differs by at least ``RATE_GAP_MIN`` with a chi-square ``P_MAX``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, kruskal

SMD_MIN = 0.5
RATE_GAP_MIN = 0.10
P_MAX = 1e-3
MIN_PER_SITE = 20
MAX_REPORTED = 10


def _numeric_shift(x: pd.Series, site: pd.Series) -> dict[str, Any] | None:
    both = pd.DataFrame({"x": pd.to_numeric(x, errors="coerce"), "site": site.astype(str)}).dropna()
    groups = {k: g["x"].to_numpy(dtype=float) for k, g in both.groupby("site") if len(g) >= MIN_PER_SITE}
    if len(groups) < 2:
        return None
    means = {k: float(v.mean()) for k, v in groups.items()}
    dof = sum(len(v) - 1 for v in groups.values())
    pooled = float(np.sqrt(sum(((v - v.mean()) ** 2).sum() for v in groups.values()) / max(dof, 1)))
    if pooled == 0 or all(np.ptp(v) == 0 for v in groups.values()):
        return None
    smd = (max(means.values()) - min(means.values())) / pooled
    p = float(kruskal(*groups.values()).pvalue)
    if smd < SMD_MIN or p >= P_MAX:
        return None
    return {
        "per_site_mean": {k: round(m, 4) for k, m in sorted(means.items())},
        "per_site_n": {k: int(len(v)) for k, v in sorted(groups.items())},
        "smd_extreme_sites": round(smd, 3),
        "kruskal_p": p,
    }


def _rate_shift(y: pd.Series, site: pd.Series) -> dict[str, Any] | None:
    both = pd.DataFrame({"y": y, "site": site.astype(str)}).dropna()
    counts = both["site"].value_counts()
    both = both[both["site"].isin(counts[counts >= MIN_PER_SITE].index)]
    if both["site"].nunique() < 2 or both["y"].nunique() != 2:
        return None
    table = pd.crosstab(both["site"], both["y"])
    positive = table.columns[-1]
    rates = (table[positive] / table.sum(axis=1)).astype(float)
    gap = float(rates.max() - rates.min())
    p = float(chi2_contingency(table.to_numpy()).pvalue)
    if gap < RATE_GAP_MIN or p >= P_MAX:
        return None
    return {
        "per_site_rate": {str(k): round(float(v), 4) for k, v in rates.sort_index().items()},
        "per_site_n": {str(k): int(v) for k, v in table.sum(axis=1).sort_index().items()},
        "rate_gap": round(gap, 4),
        "chi2_p": p,
    }


def site_shifts(
    frame: pd.DataFrame, site: str, numeric: list[str], outcome: str | None
) -> dict[str, dict[str, Any]]:
    """``{column: evidence}`` for the columns that shift across ``site`` (strongest first)."""
    found: dict[str, dict[str, Any]] = {}
    if outcome is not None and outcome in frame.columns:
        shift = _rate_shift(frame[outcome], frame[site])
        if shift is None and pd.api.types.is_numeric_dtype(frame[outcome]) and frame[outcome].nunique() > 2:
            shift = _numeric_shift(frame[outcome], frame[site])
        if shift is not None:
            found[outcome] = {**shift, "is_outcome": True}
    ranked = []
    for col in numeric:
        if col == site or col == outcome:
            continue
        shift = _numeric_shift(frame[col], frame[site])
        if shift is not None:
            ranked.append((shift["smd_extreme_sites"], col, shift))
    for _, col, shift in sorted(ranked, key=lambda t: -t[0])[:MAX_REPORTED]:
        found[col] = shift
    return found
