"""Leakage audit: features that know the answer, rows that repeat, dates from the future.

Checks (``LEAKAGE_CHECKS``) and thresholds:

``post_outcome``
    The *presence* of a value is tied to the outcome: AUROC of the missingness indicator
    (and, for numeric columns with >2 values and >=20 % zeros, of the non-zero indicator)
    against the outcome (binary endpoint; survival: the event indicator; continuous: the
    outcome ranks). Blocking when AUROC > 0.90 or < 0.10, warning above 0.80 / below 0.20.
    A header that reads post-outcome (``post_``, ``after_``, ``follow_up``, ``death``,
    ``discharge_disposition``) is a warning.
``target_proxy``
    |Spearman| > 0.85 with the endpoint (survival: with time among events, and with the
    event indicator), or association > 0.85 with any column in TASK.md ``exclude``
    (Spearman; Cramér's V between two categorical columns). Blocking.
``single_feature_discrimination``
    One feature alone separates the outcome: AUROC > 0.95 or < 0.05 (binary, survival
    event, one-vs-rest per class for multiclass) or |Spearman| > 0.90 (continuous), on its values
    or with its missing rows ranked at either end. Warning for review; blocking beyond 0.99
    (AUROC > 0.99 / < 0.01, |Spearman| > 0.99; multiclass: for every class, since one class told
    apart by one measurement is often biology and a label copy tells all apart — a numeric feature
    of at most 20 levels is read through its out-of-fold class rates, so a code 1/2/3 is seen
    whole), and blocking above the warning level when the
    feature is identifier-shaped or named (near-unique integers, a counter in row order),
    administrative (a date, a site, a bookkeeping header) or separates through its missingness.
``repeated_units``
    The unit id (declared, or detected by the profile) repeats: CV must be grouped.
``duplicate_rows``
    Exact duplicate rows (warning with the count).
``dated_after_index``
    With ``time_column`` known: a date column later than the row's index date in > 50 %
    of rows with both dates is blocking.
``interval_start``
    Survival in counting-process form: a numeric column between 0 and the follow-up time on
    every row whose rows chain as ``(start, stop]`` intervals within a unit (or, without a
    unit id, whose header reads as an entry time) is blocking (``_intervals``).

Categorical features are scored through out-of-fold target-mean encoding (see
``_leakage_context``); free-text columns enter only ``post_outcome``, identifiers also the
single-feature check on their raw numbers (to report an order leak; they are excluded anyway).
Every blocking finding names its ``feature`` so the caller excludes it with the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from autods.errors import TaskSpecError
from autods.guard._intervals import interval_starts
from autods.guard._leakage_context import LeakageContext, administrative_reason, build_context, identifier_reason
from autods.guard._shadow import missingness_flags, outcome_shadows
from autods.guard._stats import as_numeric, auroc, cramers_v, oof_target_encode, parse_dates, spearman
from autods.guard.findings import Finding, Severity
from autods.tasks.load import Task

PRESENCE_BLOCK, PRESENCE_WARN = 0.90, 0.80
PROXY_RHO = 0.85
DISCRIM_WARN, DISCRIM_BLOCK = 0.95, 0.99
#: multiclass: a numeric feature with at most this many levels is also read as a possible label code
CODE_LEVELS = 20
RHO_WARN, RHO_BLOCK = 0.90, 0.99
AFTER_INDEX_BLOCK = 0.50
POST_NAME = re.compile(r"(^|_)(post|after)(_|$)|^post|follow_?up|death|died|deceased|discharge_?disp", re.I)
EXCLUDE_ADVICE = "exclude this feature, or if it is truly known at prediction time, document why in TASK.md"


def _sev(block: bool) -> Severity:
    return Severity.blocking if block else Severity.warning


def _first_records(ctx: LeakageContext) -> np.ndarray | None:
    """Each unit's first row (by ``time_column`` when declared, else row order), when units repeat."""
    unit = ctx.unit_id
    frame = ctx.frame
    if unit is None or unit not in frame.columns or not frame[unit].duplicated().any():
        return None
    order = np.arange(len(frame))
    time_col = ctx.task.spec.time_column
    if time_col and time_col in frame.columns:
        s = frame[time_col]
        key = s if pd.api.types.is_numeric_dtype(s) else parse_dates(s)
        if key is not None:
            order = np.argsort(pd.Series(key).rank(method="first").fillna(np.inf).to_numpy(), kind="stable")
    repeat = pd.Series(frame[unit].to_numpy()[order]).duplicated().to_numpy()
    first = np.zeros(len(frame), dtype=bool)
    first[order[~repeat]] = True
    return first


def _post_outcome(ctx: LeakageContext) -> list[Finding]:
    out: list[Finding] = []
    first = _first_records(ctx)
    for col in ctx.features:
        s = ctx.frame[col]
        indicators = {"missingness": s.notna().to_numpy(dtype=float)}
        x = as_numeric(s) if ctx.profile.kind(col) == "numeric" else None
        if x is not None and pd.Series(x).nunique() > 2 and np.nanmean(x == 0) >= 0.2:
            indicators["non-zero value"] = ((x != 0) & ~np.isnan(x)).astype(float)
        worst: tuple[float, str, dict[str, float]] | None = None
        for how, ind in indicators.items():
            if ind.min() == ind.max():
                continue
            for name, yb in ({"continuous": ctx.y} if ctx.outcome_kind == "continuous" else ctx.binary_targets()).items():
                auc = auroc(yb, ind) if ctx.outcome_kind == "continuous" else auroc(ind, yb)
                if auc is None:
                    continue
                strength = max(auc, 1 - auc)
                if worst is None or strength > worst[0]:
                    ev = {"auroc": round(auc, 4), "indicator": how, "target": name}
                    if ctx.outcome_kind != "continuous":
                        ev |= {"present_when_event": round(float(ind[yb == 1].mean()), 4),
                               "present_when_no_event": round(float(ind[yb == 0].mean()), 4)}
                    worst = (strength, how, ev)
        missing = s.isna().to_numpy()
        baseline_gap = first is not None and missing.any() and bool(first[missing].all())
        if worst and worst[0] > PRESENCE_WARN and baseline_gap:
            # Feed intake before the first weighing is not recorded: the gap is the first visit, not the outcome.
            out.append(Finding(
                check="first_record_gap", severity=Severity.warning, feature=col,
                message=f"'{col}' is missing only on each unit's first record; its missingness tracks the "
                        f"{ctx.endpoint_label} (AUROC {worst[2]['auroc']}) through the visit order, kept",
                advice="a value not yet recorded at a unit's first visit is a baseline fact; review it",
                evidence=worst[2] | {"missing_only_at_first_record": True}))
        elif worst and worst[0] > PRESENCE_WARN:
            out.append(Finding(
                check="post_outcome", severity=_sev(worst[0] > PRESENCE_BLOCK), feature=col,
                message=f"post-outcome: whether '{col}' is recorded ({worst[1]}) is tied to the {ctx.endpoint_label} "
                        f"(AUROC {worst[2]['auroc']})",
                advice="a value recorded because of the outcome is not available at prediction time; " + EXCLUDE_ADVICE,
                evidence=worst[2]))
        elif POST_NAME.search(str(col)):
            out.append(Finding(
                check="post_outcome", severity=Severity.warning, feature=col,
                message=f"post-outcome: the name '{col}' suggests it is measured after the index time",
                advice="confirm it is known at prediction time; otherwise list it under exclude in TASK.md",
                evidence={"by": "column name"}))
    return out


def _association(a: pd.Series, b: pd.Series, ctx: LeakageContext, col: str) -> tuple[float | None, str]:
    xa, xb = as_numeric(a), as_numeric(b)
    cat_a = ctx.profile.kind(col) in ("categorical", "boolean") and xa is None
    if xa is not None and xb is not None and not cat_a:
        return spearman(xa, xb), "spearman"
    if xa is None and xb is None:
        return cramers_v(a, b), "cramers_v"
    if xb is not None:  # categorical feature vs numeric excluded column
        return spearman(oof_target_encode(a, xb), xb), "spearman (out-of-fold encoded)"
    return spearman(xa, oof_target_encode(b, xa)), "spearman (out-of-fold encoded)"  # type: ignore[arg-type]


def _target_proxy(ctx: LeakageContext) -> list[Finding]:
    targets: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # name -> (row mask, target)
    everyone = np.ones(len(ctx.frame), dtype=bool)
    if ctx.outcome_kind == "survival":
        targets["event indicator"] = (everyone, ctx.y)
        targets["time among events"] = (ctx.y == 1, ctx.time)  # type: ignore[assignment]
    elif ctx.outcome_kind in ("binary", "continuous"):
        targets["endpoint"] = (everyone, ctx.y)
    # A continuous target (a regression endpoint, time among events) is tracked honestly by strong
    # measurements (weight by the week of weighing); only near-identity blocks there. A 0/1 target at
    # |Spearman| > 0.85 is near-perfect separation (the point-biserial ceiling is 0.87 at 50 % prevalence).
    continuous = {"time among events"} | ({"endpoint"} if ctx.outcome_kind == "continuous" else set())
    out: list[Finding] = []
    for col in ctx.features:
        hits: list[str] = []
        evidence: dict[str, object] = {}
        block = False
        for name, (mask, y) in targets.items():
            x = ctx.view(col, name, np.where(mask, y, np.nan))
            rho = spearman(x[mask], y[mask]) if x is not None else None
            if rho is not None and abs(rho) > PROXY_RHO:
                hits.append(f"{name} (Spearman {rho:.3f})")
                evidence[f"spearman {name}"] = round(rho, 4)
                block = block or name not in continuous or abs(rho) > RHO_BLOCK
        for ex in ctx.task.spec.exclude:
            if ex in ctx.frame.columns and ctx.profile.kind(col) not in ("text", "identifier"):
                value, method = _association(ctx.frame[col], ctx.frame[ex], ctx, col)
                if value is not None and abs(value) > PROXY_RHO:
                    hits.append(f"excluded '{ex}' ({method} {value:.3f})")
                    evidence[f"association_with_{ex}"] = {"value": round(value, 4), "method": method}
                    block = True
        if hits:
            why = identifier_reason(col, ctx.frame[col], ctx.profile) or administrative_reason(col, ctx.profile)
            block = block or why is not None
            out.append(Finding(
                check="target_proxy", severity=_sev(block), feature=col,
                message=f"target proxy: '{col}' tracks {'; '.join(hits)} (|association| > {PROXY_RHO})"
                        + ("" if block else "; kept: a strong measurement of a continuous outcome, for review"),
                advice=EXCLUDE_ADVICE, evidence=evidence | {"threshold": PROXY_RHO, "block_above": RHO_BLOCK}))
    return out


def _filled(x: np.ndarray, missing: np.ndarray) -> list[np.ndarray]:
    """``x`` with its missing rows ranked below, then above, every value: how a model can see them."""
    present = x[~missing & ~np.isnan(x)]
    if not missing.any() or not len(present):
        return []
    lo, hi = float(present.min()) - 1.0, float(present.max()) + 1.0
    return [np.where(missing, lo, x), np.where(missing, hi, x)]


@dataclass
class _Separation:
    stat: float  # AUROC (binary targets) or Spearman (continuous) of the strongest view
    strength: float  # max(AUROC, 1 - AUROC) or |Spearman|
    target: str
    by: str  # "values" or "with missingness"
    values_strength: float = 0.0  # the strongest on present values alone
    missingness_strength: float = 0.0  # the missingness indicator alone (binary targets)
    every_class_strength: float = 0.0  # multiclass: the weakest class's best separation


def _separation(ctx: LeakageContext, col: str) -> _Separation | None:
    """The strongest single-feature separation of ``col``: on its values, and with its missingness."""
    continuous = ctx.outcome_kind == "continuous"
    s = ctx.frame[col]
    missing = s.isna().to_numpy()
    # Identifiers get no view (a target-encoded id memorises); their raw numbers still show an order leak.
    raw = as_numeric(s) if ctx.profile.kind(col) == "identifier" and pd.api.types.is_numeric_dtype(s) else None
    best: _Separation | None = None
    values, by_missing = 0.0, 0.0
    per_class: list[float] = []
    for name, y in ({"continuous": ctx.y} if continuous else ctx.binary_targets()).items():
        x = raw if ctx.profile.kind(col) == "identifier" else ctx.view(col, name, y)
        if x is not None and ctx.outcome_kind == "multiclass" and raw is None and s.nunique(dropna=True) <= CODE_LEVELS:
            # A few numeric levels may be a label code (1, 2, 3): ranks miss the middle class, the
            # out-of-fold class rate per level does not.
            x = oof_target_encode(s, y)
        if x is None:
            continue
        this_class = 0.0
        for by, v in [("values", x), *(("with missingness", f) for f in _filled(x, missing))]:
            stat = spearman(v, y) if continuous else auroc(v, y)
            if stat is None:
                continue
            strength = abs(stat) if continuous else max(stat, 1 - stat)
            values = max(values, strength) if by == "values" else values
            this_class = max(this_class, strength)
            if best is None or strength > best.strength:
                best = _Separation(stat, strength, name, by)
        per_class.append(this_class)
        ind = auroc(missing.astype(float), y) if missing.any() and not continuous else None
        by_missing = max(by_missing, ind, 1 - ind) if ind is not None else by_missing
    if best is not None:
        best.values_strength, best.missingness_strength = values, by_missing
        best.every_class_strength = min(per_class) if per_class else 0.0
    return best


def _single_feature(ctx: LeakageContext) -> list[Finding]:
    continuous = ctx.outcome_kind == "continuous"
    warn, block = (RHO_WARN, RHO_BLOCK) if continuous else (DISCRIM_WARN, DISCRIM_BLOCK)
    out: list[Finding] = []
    for col in ctx.features:
        sep = _separation(ctx, col)
        if sep is None or sep.strength <= warn:
            continue
        # What the feature *is* decides exclusion below the block threshold; a strong
        # measurement (Wisconsin cell nuclei reach AUROC 0.97 honestly) stays, for review.
        why = identifier_reason(col, ctx.frame[col], ctx.profile) or administrative_reason(col, ctx.profile)
        if why is None and (sep.values_strength <= warn or sep.missingness_strength > warn):
            why = "its signal lies in its missingness (whether it is recorded, not its value)"
        # Multiclass: one class told apart by one honest measurement (setosa by petal length, a cell
        # type by its marker gene) is biology; a copy of the label tells every class apart.
        strong = sep.every_class_strength > block if ctx.outcome_kind == "multiclass" else sep.strength > block
        label = f"Spearman {sep.stat:.3f}" if continuous else f"AUROC {sep.stat:.3f}, {sep.target}"
        evidence: dict[str, object] = {
            "spearman" if continuous else "auroc": round(sep.stat, 4), "target": sep.target, "by": sep.by,
            "values_strength": round(sep.values_strength, 4), "warn_above": warn, "block_above": block}
        if sep.missingness_strength:
            evidence["missingness_strength"] = round(sep.missingness_strength, 4)
        if why:
            evidence["excluded_because"] = why
        out.append(Finding(
            check="single_feature_discrimination", severity=_sev(strong or why is not None), feature=col,
            message=f"single feature '{col}' alone {'tracks' if continuous else 'separates'} the {ctx.endpoint_label} "
                    f"({label})" + (f"; excluded: {why}" if why else ""),
            advice=("it separates the outcome by what it is, not by what it measures. " if why else
                    "near-perfect discrimination from one variable is rarely biology; review it. ") + EXCLUDE_ADVICE,
            evidence=evidence))
    return out


def _repeated_units(ctx: LeakageContext) -> list[Finding]:
    col = ctx.unit_id
    if col is None or col not in ctx.frame.columns:
        return []
    ids = ctx.frame[col].dropna()
    n_units, n_rows = int(ids.nunique()), int(len(ids))
    if n_units >= n_rows:
        return []
    declared = ctx.task.spec.id_column == col
    requested = ctx.task.cv_strategy
    msg = f"repeated units: {n_rows} rows over {n_units} units of '{col}'; CV is forced to be grouped by unit"
    if requested in ("stratified-cv", "temporal-split"):
        msg += f" (requested {requested} would put one unit's rows in both training and test)"
    advice = ("nothing to do: the judge groups folds by id_column" if declared
              else f"set id_column: {col} in TASK.md; without it grouped CV cannot be enforced")
    return [Finding(check="repeated_units", severity=Severity.warning, feature=col, message=msg, advice=advice,
                    evidence={"n_rows": n_rows, "n_units": n_units, "max_rows_per_unit": int(ids.value_counts().max()),
                              "declared": declared})]


def _duplicate_rows(ctx: LeakageContext) -> list[Finding]:
    n = ctx.profile.n_duplicate_rows
    if n == 0:
        return []
    return [Finding(check="duplicate_rows", severity=Severity.warning,
                    message=f"{n} exact duplicate row(s) ({n / max(ctx.profile.n_rows, 1):.1%} of rows)",
                    advice="remove duplicates or confirm they are real repeated measurements; "
                           "duplicates split across folds inflate CV estimates",
                    evidence={"n_duplicate_rows": n, "n_rows": ctx.profile.n_rows})]


def _dated_after_index(ctx: LeakageContext) -> list[Finding]:
    time_col = ctx.task.spec.time_column
    index = parse_dates(ctx.frame[time_col]) if time_col and time_col in ctx.frame.columns else None
    if index is None:
        return []
    out: list[Finding] = []
    for col in ctx.features:
        if col == time_col or ctx.profile.kind(col) != "datetime":
            continue
        dates = parse_dates(ctx.frame[col])
        both = dates.notna() & index.notna() if dates is not None else None
        if both is None or both.sum() == 0:
            continue
        frac = float((dates[both] > index[both]).mean())
        if frac > AFTER_INDEX_BLOCK:
            out.append(Finding(
                check="dated_after_index", severity=Severity.blocking, feature=col,
                message=f"dated after index: '{col}' is later than the index date '{time_col}' in {frac:.0%} of rows",
                advice="a feature dated after the prediction time is not available then; " + EXCLUDE_ADVICE,
                evidence={"fraction_after_index": round(frac, 4), "n_compared": int(both.sum())}))
    return out


LEAKAGE_CHECKS: dict[str, Callable[[LeakageContext], list[Finding]]] = {
    "post_outcome": _post_outcome,
    "outcome_shadow": outcome_shadows,
    "target_proxy": _target_proxy,
    "single_feature_discrimination": _single_feature,
    "repeated_units": _repeated_units,
    "duplicate_rows": _duplicate_rows,
    "dated_after_index": _dated_after_index,
    "interval_start": interval_starts,
}


def audit_leakage(task: Task, frame: pd.DataFrame | None = None, checks: Iterable[str] | None = None) -> list[Finding]:
    """Run the named leakage checks (default: all) on ``frame`` (default: ``task.frame``)."""
    names = list(LEAKAGE_CHECKS) if checks is None else list(checks)
    for name in names:
        if name not in LEAKAGE_CHECKS:
            raise TaskSpecError(f"unknown leakage check '{name}' in LAUNCH.md leakage_checks",
                                f"use any of: {', '.join(LEAKAGE_CHECKS)}")
    ctx = build_context(task, task.frame if frame is None else frame)
    findings = [f for name in names for f in LEAKAGE_CHECKS[name](ctx)]
    if "outcome_shadow" in names:  # a 0/1 flag of whether a blocked column is recorded carries its signal
        findings += missingness_flags(ctx, {f.feature for f in findings if f.blocking and f.feature})
    return findings
