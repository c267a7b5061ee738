"""Outcome shadows: columns that restate the outcome by how the data were collected.

The rank checks of :mod:`autods.guard.leakage` see a column's association with the outcome;
the shapes here see what a column *is*, from the other columns of the same table:

* a second follow-up time: a numeric column at least as large as the follow-up time in
  nearly every row and rising with it (overall survival beside recurrence-free time);
* an outcome date: a date whose distance to another date of the row is the follow-up time;
* the status of a second follow-up time (``censdead`` beside ``survtime``);
* a missingness flag: a 0/1 column that is exactly whether another column is recorded,
  which inherits that column's verdict;
* a later visit of a baseline measurement: ``cd420`` and ``cd496`` beside ``cd40``, or
  ``hba1c_m12`` beside ``hba1c_bl``;
* CDISC ADaM subject-level variables that are by definition recorded at or after the end of
  treatment or study (``EOSSTT``, ``TRTEDT``, ``DCDECOD``, ``COMP16FL`` ...).

Every one of them is blocking: the column exists because of what happened after the index
time. TASK.md ``allow: {column: reason}`` keeps one the user knows to be baseline.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from autods.guard._leakage_context import LeakageContext
from autods.guard._stats import as_numeric, parse_dates, spearman
from autods.guard.findings import Finding, Severity
from autods.guard.profile import name_tokens

FOLLOW_UP_SHARE = 0.99  # a second follow-up time is >= the endpoint's time in this share of rows
FOLLOW_UP_RHO = 0.5
OUTCOME_DATE_RHO = 0.95
FLAG_AGREEMENT = 0.99
STATUS_TOKENS = {"cens", "censor", "censored", "dead", "death", "died", "deceased", "event", "status", "fail",
                 "failure", "relapse", "recur", "recurrence", "progression", "vital"}
#: baseline markers and later-visit markers of a measurement's name (``_bl`` / ``_0``; ``_w20``, ``_m6``, ``_v2``)
BASELINE_SUFFIX = re.compile(r"^(?P<stem>.+?)[ _.-]?(?:bl|base|baseline|screen|screening)$", re.I)
VISIT_SUFFIX = re.compile(r"^(?P<stem>.+?)[ _.-]?(?:w|wk|week|m|mo|month|y|yr|year|v|visit|d|day|fu)[ _.-]?(?P<n>\d+)$", re.I)
#: a bare visit number after a baseline ``<stem>0`` (ACTG 175's cd40 / cd420 / cd496); small numbers are
#: too often panel members (IL10, IL12) to be read as weeks
BARE_VISIT_MIN = 4
SAME_MEASUREMENT_RHO = 0.3
CDISC_POST = {
    "EOSSTT", "EOSDT", "EOSDY", "DCSREAS", "DCSREASP", "DCDECOD", "DCREASCD", "DISCONFL", "DSRAEFL", "DSDECOD",
    "TRTEDT", "TRTEDTM", "TRTETM", "TRTEDY", "TR01EDT", "TR01EDTM", "TRTDUR", "TRTDURD", "TRTDURM", "TRTDURY",
    "RFENDT", "RFENDTC", "RFXENDTC", "RFPENDTC", "LSTALVDT", "LSTVSTDT", "DTHFL", "DTHDT", "DTHDTC", "DTHCAUS",
    "DTHDY", "CUMDOSE", "AVGDD", "TOTDOSE", "VISNUMEN", "LASTVIS", "EOTSTT", "EOTDT", "DCTREAS",
}
CDISC_FLAG = re.compile(r"^COMP\d+FL$|^EOT\w*FL$|^DCT\w*FL$")
POST_WORDS = re.compile(r"^off_?tr(ea)?t|withdr[ae]w|dropout|discontinu", re.I)  # offtrt, off_treatment


def _finding(col: str, message: str, evidence: dict) -> Finding:
    return Finding(check="outcome_shadow", severity=Severity.blocking, feature=col, message=message,
                   advice="it is recorded because of what happened after the index time; exclude it, or keep it "
                          "with TASK.md allow: {column: reason} if it truly is known at prediction time",
                   evidence=evidence)


def _second_follow_up(ctx: LeakageContext) -> dict[str, str]:
    if ctx.outcome_kind != "survival" or ctx.time is None:
        return {}
    out: dict[str, str] = {}
    t = ctx.time
    for col in ctx.features:
        if ctx.profile.kind(col) != "numeric":
            continue
        x = as_numeric(ctx.frame[col])
        both = ~np.isnan(x) & ~np.isnan(t) if x is not None else None
        if both is None or both.sum() < 20:
            continue
        share = float(np.mean(x[both] >= t[both] - 1e-9))
        rho = spearman(x[both], t[both])
        if share >= FOLLOW_UP_SHARE and rho is not None and rho > FOLLOW_UP_RHO:
            out[col] = (f"a second follow-up time: '{col}' is at least the follow-up time in {share:.1%} of rows "
                        f"and rises with it (Spearman {rho:.2f})")
    return out


def _outcome_dates(ctx: LeakageContext, follow_ups: dict[str, str]) -> dict[str, str]:
    """Dates whose distance to another date of the row is the follow-up time (or a second one)."""
    if ctx.outcome_kind != "survival" or ctx.time is None:
        return {}
    clocks = {"the follow-up time": ctx.time,
              **{f"'{c}'": as_numeric(ctx.frame[c]) for c in follow_ups}}
    dates = {c: parse_dates(ctx.frame[c]) for c in ctx.frame.columns
             if c in ctx.features and ctx.profile.kind(c) == "datetime"}
    dates = {c: d for c, d in dates.items() if d is not None}
    out: dict[str, str] = {}
    for later, d1 in dates.items():
        for earlier, d0 in dates.items():
            if later == earlier:
                continue
            gap = (d1 - d0).dt.days.to_numpy(dtype=float)
            for label, clock in clocks.items():
                ok = ~np.isnan(gap) & ~np.isnan(clock)
                if ok.sum() < 20 or np.nanmedian(gap[ok]) <= 0:
                    continue
                rho = spearman(gap[ok], clock[ok])
                if rho is not None and rho > OUTCOME_DATE_RHO:
                    out[later] = f"an outcome date: '{later}' minus '{earlier}' is {label} (Spearman {rho:.3f})"
                    break
            if later in out:
                break
    return out


def _status_companions(ctx: LeakageContext, follow_ups: dict[str, str]) -> dict[str, str]:
    if not follow_ups:
        return {}
    out = {}
    for col in ctx.features:
        if col in follow_ups or ctx.profile.kind(col) != "boolean":
            continue
        if set(name_tokens(col)) & STATUS_TOKENS or any(col.lower().startswith(t) for t in ("cens", "dead", "death")):
            out[col] = (f"the status of a second follow-up time ({', '.join(follow_ups)}): an outcome indicator "
                        "recorded at the end of follow-up")
    return out


def _later_visits(ctx: LeakageContext) -> dict[str, str]:
    """Later visits of a baseline measurement, by name.

    Marked visits (``hba1c_m12`` beside ``hba1c_bl`` or ``hba1c_0``) count on their own. Bare
    numbers after a ``<stem>0`` baseline (``cd420``, ``cd496`` beside ``cd40``) count only when
    the visit schedule is shared by at least two measurements (``cd820`` beside ``cd80`` also
    has visit 20) and the values look like the same measurement again (same scale, correlated
    with the baseline): a lone ``IL17`` beside ``IL10`` is a cytokine panel, and ``MRPL48``
    beside ``MRPL40`` are two genes, not a week-8 visit.
    """
    names = {str(c).lower(): c for c in sorted(ctx.frame.columns, key=lambda c: len(str(c)))}
    baselines: dict[str, str] = {}
    for low, col in names.items():  # shortest first, so 'cd420' is seen as cd4 at visit 20, not cd42 at 0
        m = BASELINE_SUFFIX.match(low)
        if m:
            baselines[m["stem"].rstrip(" _.-")] = col
        elif low.endswith("0") and len(low) > 2 and low[-2] != "0" and _bare_visit(low, baselines) is None:
            baselines.setdefault(low[:-1].rstrip(" _.-"), col)  # 'cd40' is 'cd4' at visit 0
    out: dict[str, str] = {}
    bare: dict[str, list[tuple[str, int]]] = {}  # stem -> [(column, visit number)]
    for low, col in names.items():
        if col not in ctx.features or col in baselines.values():
            continue
        m = VISIT_SUFFIX.match(low)
        if m and m["stem"].rstrip(" _.-") in baselines and int(m["n"]) > 0:
            out[col] = f"a later visit of the baseline measurement '{baselines[m['stem'].rstrip(' _.-')]}'"
            continue
        visit = _bare_visit(low, baselines)
        if visit is not None and _same_measurement(ctx.frame[col], ctx.frame[baselines[visit[0]]]):
            bare.setdefault(visit[0], []).append((col, visit[1]))
    visits_of = {stem: {n for _, n in cols} for stem, cols in bare.items()}
    for stem, cols in bare.items():
        shared = any(visits_of[stem] & visits_of[other] for other in visits_of if other != stem)
        if shared:
            for col, n in cols:
                out[col] = f"a later visit of the baseline measurement '{baselines[stem]}' (visit {n})"
    return out


def _same_measurement(later: pd.Series, baseline: pd.Series) -> bool:
    """Same scale (means within a factor of 3) and correlated (Spearman > 0.3) on rows with both."""
    a, b = as_numeric(later), as_numeric(baseline)
    if a is None or b is None:
        return False
    both = ~np.isnan(a) & ~np.isnan(b)
    if both.sum() < 20:
        return False
    ma, mb = float(np.mean(a[both])), float(np.mean(b[both]))
    rho = spearman(a[both], b[both])
    same_scale = ma > 0 and mb > 0 and 1 / 3 <= ma / mb <= 3
    return same_scale and rho is not None and rho > SAME_MEASUREMENT_RHO


def _bare_visit(low: str, baselines: dict[str, str]) -> tuple[str, int] | None:
    """(stem, visit) when ``low`` is a baseline's stem followed by a visit number: cd420 -> (cd4, 20)."""
    for cut in range(len(low) - 1, 0, -1):  # every split of the trailing digits
        stem, n = low[:cut], low[cut:]
        if not n.isdigit():
            return None
        if not n.startswith("0") and int(n) >= BARE_VISIT_MIN and stem in baselines:
            return stem, int(n)
    return None


def _cdisc_post(ctx: LeakageContext) -> dict[str, str]:
    out = {}
    for col in ctx.features:
        name = str(col)
        if name.upper() in CDISC_POST or CDISC_FLAG.match(name.upper()):
            out[col] = f"'{name}' is a CDISC ADaM variable recorded at or after the end of treatment or study"
        elif POST_WORDS.search(name):
            out[col] = f"its name ('{name}') records a treatment discontinuation or withdrawal"
    return out


def missingness_flags(ctx: LeakageContext, blocked: set[str]) -> list[Finding]:
    """0/1 columns that are exactly whether a blocked column is recorded: they carry the same signal."""
    out = {}
    for col in ctx.features:
        if col in blocked or ctx.profile.kind(col) != "boolean":
            continue
        x = as_numeric(ctx.frame[col])
        if x is None or np.isnan(x).any():
            continue
        for other in blocked:
            if other not in ctx.frame.columns:
                continue
            missing = ctx.frame[other].isna().to_numpy(dtype=float)
            if missing.min() == missing.max():
                continue
            agree = float(np.mean(x == missing))
            if max(agree, 1 - agree) >= FLAG_AGREEMENT:
                out[col] = f"a missingness flag: it is whether '{other}' is recorded ({max(agree, 1 - agree):.1%} of rows)"
                break
    return [_finding(col, f"outcome shadow: {why}", {"shape": why}) for col, why in out.items()]


def outcome_shadows(ctx: LeakageContext) -> list[Finding]:
    """The blocking findings of this module, one per column (the first shape that matches)."""
    follow_ups = _second_follow_up(ctx)
    found: dict[str, str] = {}
    for part in (follow_ups, _outcome_dates(ctx, follow_ups), _status_companions(ctx, follow_ups), _later_visits(ctx),
                 _cdisc_post(ctx)):
        for col, why in part.items():
            found.setdefault(col, why)
    return [_finding(col, f"outcome shadow: {why}", {"shape": why}) for col, why in found.items()]


__all__ = ["missingness_flags", "outcome_shadows"]
