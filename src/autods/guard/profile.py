"""Profile a data frame: column kinds, missingness, cardinality, duplicates, and the
structural columns (unit id, site, dates, free text) even when TASK.md does not name them.

Statistics are aggregates only. Level names are reported for low-cardinality categorical
columns; :meth:`DataProfile.redacted` strips them from columns later found to hold PHI, so
a profile can be shown to a brain after the PHI scan.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from autods.guard._site_shift import site_shifts
from autods.guard._stats import parse_dates
from autods.guard.findings import Finding, Severity
from autods.site_codes import MAX_SITES, SITE_NAME, is_site_code
from autods.tasks.spec import TaskSpec

Kind = Literal["numeric", "categorical", "boolean", "datetime", "text", "identifier"]

# Identifier names are matched on whole tokens of the header (split at spaces, dots,
# underscores, hyphens and camelCase), so `pid` and `PatientID` match but `pidx_score`,
# `covid` or `patient_age` do not. ID_TOKENS name an id wherever they stand; UNIT_NOUNS only
# alone (`patient`, `case`) or before a number word (`case_number`, `study no`); `study` only
# before one, since a pooled analysis's bare `study` column is site-like, not a record id.
ID_TOKENS = {"id", "ids", "pid", "mrn", "uuid", "guid", "identifier", "usubjid", "subjid", "patid", "ptid"}
UNIT_NOUNS = {"subject", "subj", "patient", "case", "record", "participant", "person", "study", "encounter",
              "sample", "specimen", "accession", "serial"}
NUMBER_WORDS = {"no", "nr", "num", "number"}
# Trailing words the old header rule took as an id suffix (`icd_code`): weaker, the shape must be id-like.
WEAK_SUFFIXES = {"key", "code"}
FUSED_ID = re.compile(r"^(pat|pt|patient|subj|subject|case|rec|record|participant|person|study|sample|row|seq|obs)"
                      r"(id|no|nr|num|number|key)$")
ID_SUBSTRING = re.compile(r"identifier|uuid|guid", re.I)
ID_SHAPE = re.compile(r"^[A-Za-z]{0,6}[-_]?\d{2,}[A-Za-z0-9-_]*$|^[0-9a-fA-F-]{16,}$")
BOOL_LEVELS = {"0", "1", "true", "false", "yes", "no", "y", "n", "t", "f", "0.0", "1.0"}
MAX_TOP_LEVELS = 20
MAX_ROWS_PER_UNIT = 200
SHAPE_SAMPLE = 2000
MIN_SHAPE_ROWS = 30  # fewer rows than this cannot show an id's shape (uniqueness, a counter) convincingly
NEAR_UNIQUE = 0.98


class ColumnProfile(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    kind: Kind
    dtype: str
    missing_fraction: float
    n_unique: int
    stats: dict[str, Any] = Field(default_factory=dict)


class DataProfile(BaseModel):
    """What the data steward knows about a frame before anything else touches it."""

    model_config = ConfigDict(frozen=True)

    n_rows: int
    n_columns: int
    n_duplicate_rows: int
    columns: dict[str, ColumnProfile]
    id_columns: list[str] = Field(default_factory=list)
    unit_id: str | None = None
    n_units: int | None = None
    site_columns: list[str] = Field(default_factory=list)
    #: site columns whose values are integer codes: modelled as categorical levels (autods.site_codes)
    site_codes: list[str] = Field(default_factory=list)
    datetime_columns: list[str] = Field(default_factory=list)
    text_columns: list[str] = Field(default_factory=list)
    # {site column: {feature or outcome: evidence}}; filled only for detected/declared sites.
    site_shift: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)

    def kind(self, column: str) -> Kind | None:
        col = self.columns.get(column)
        return col.kind if col else None

    def redacted(self, columns: list[str] | set[str]) -> DataProfile:
        """A copy whose statistics for ``columns`` (e.g. PHI columns) are removed."""
        cols = {
            name: col.model_copy(update={"stats": {"redacted": True}}) if name in columns else col
            for name, col in self.columns.items()
        }
        return self.model_copy(update={"columns": cols})


def _is_text_like(s: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype)


def name_tokens(name: str) -> list[str]:
    """Lower-case word tokens of a header: ``'PatientID'`` -> ``['patient', 'id']``, ``'study no'``
    -> ``['study', 'no']``; letters and digits stay together (``'PID1'``, a gene, is one token)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)  # 'IDNumber' -> 'ID Number'
    return [t for t in re.split(r"[^0-9a-z]+", spaced.lower()) if t]


def id_name_strength(name: str) -> int:
    """2: the header names a record or unit id; 1: only an id-like suffix (``_code``, ``_number``); 0: neither."""
    tokens = name_tokens(name)
    if not tokens:
        return 0
    if ID_SUBSTRING.search(str(name)) or any(t in ID_TOKENS or FUSED_ID.match(t) for t in tokens):
        return 2
    if len(tokens) == 1 and tokens[0] in UNIT_NOUNS - {"study"}:
        return 2
    if tokens[-1] in NUMBER_WORDS and (len(tokens) == 1 or tokens[-2] in UNIT_NOUNS):
        return 2
    if tokens[0] == "unnamed" and len(tokens) == 2 and tokens[1].isdigit():
        return 2  # a pandas index written into the CSV
    return 1 if tokens[-1] in NUMBER_WORDS | WEAK_SUFFIXES else 0


def integer_id_shape(values: np.ndarray) -> str | None:
    """Why integer ``values`` (row order, NaN allowed) look like an id, or ``None``.

    A counter (near-unique and monotone in row order) or near-unique integers filling a
    contiguous range. Measurements almost never do either: n random draws from a range
    only 1.5 n wide collide; a frame sorted by a measurement repeats a value within 30 rows.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n < MIN_SHAPE_ROWS:
        return None
    n_unique = len(np.unique(x))
    if n_unique < NEAR_UNIQUE * n:
        return None
    step = np.diff(x)
    if bool((step >= 0).all() or (step <= 0).all()):
        return "a near-unique integer sequence monotone in row order"
    if n >= 2 * MIN_SHAPE_ROWS and x.max() - x.min() + 1 <= 1.5 * n_unique:
        return "near-unique integers filling a contiguous range"
    return None


#: a repeated-measures block needs this many units, this many rows per unit on average, and a
#: clock (a numeric column strictly increasing inside this share of the blocks)
MIN_BLOCK_UNITS, MIN_BLOCK_ROWS, CLOCK_SHARE = 10, 3.0, 0.95
CLOCK_RESTARTS = 0.5  # ... and falls back at this share of the boundaries between blocks


def longitudinal_unit(frame: pd.DataFrame, name: str, others: list[str]) -> str | None:
    """Why ``name`` looks like the unit of repeated measurements whatever its header, or ``None``.

    The shape of a long table written one unit after another (statsmodels' dietox: 'Pig' 4601..,
    12 weighings each): every value occupies one contiguous block of rows, there are many
    blocks of several rows, and some other numeric column (a visit, a week, a date) strictly
    increases inside nearly every block and starts again lower at most block boundaries. A
    frame merely sorted by a measurement makes blocks too, but no column restarts inside them.
    """
    s = frame[name]
    present = s.notna()
    if not present.all() or len(s) < MIN_SHAPE_ROWS:
        return None
    n_units = int(s.nunique())
    if n_units < MIN_BLOCK_UNITS or len(s) / n_units < MIN_BLOCK_ROWS:
        return None
    blocks = s.ne(s.shift()).cumsum()
    if int(blocks.iloc[-1]) != n_units:
        return None  # a value recurs after another one: not written unit by unit
    inside = blocks.eq(blocks.shift()).to_numpy()  # row continues the block of the row before it
    for other in others:
        x = pd.to_numeric(frame[other], errors="coerce") if other != name else None
        if x is None or x.isna().any():
            continue
        step = x.diff().to_numpy()
        falls = inside & (step <= 0)
        # a clock restarts with each unit (weeks 1..12, then 1..12); a column merely sorted over the
        # whole frame rises inside every block too, but never falls back between them
        restarts = float(np.mean(step[~inside][1:] < 0)) if n_units > 1 else 0.0
        if 1.0 - np.unique(blocks.to_numpy()[falls]).size / n_units >= CLOCK_SHARE and restarts >= CLOCK_RESTARTS:
            return f"{n_units} blocks of consecutive rows, '{other}' increasing inside each: repeated measurements"
    return None


def _kind(name: str, s: pd.Series) -> tuple[Kind, pd.Series | None]:
    """Column kind, plus the parsed dates when the column is a date column."""
    present = s.dropna()
    n_unique = int(present.nunique())
    if pd.api.types.is_bool_dtype(s):
        return "boolean", None
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime", parse_dates(s)
    if pd.api.types.is_numeric_dtype(s):
        if n_unique <= 2 and set(present.astype(float).unique()) <= {0.0, 1.0}:
            return "boolean", None
        x = present.astype(float).to_numpy()
        if not len(x) or not np.all(np.mod(x, 1) == 0):
            return "numeric", None
        strength = id_name_strength(name)
        if strength and (n_unique >= 0.1 * len(x) or (strength == 2 and n_unique > MAX_SITES)):
            return "identifier", None
        return ("identifier" if integer_id_shape(x) else "numeric"), None
    if not _is_text_like(s) or present.empty:
        return "categorical", None
    # Shape tests on a seeded sample: they decide a column's kind, not count its rows.
    text = (present.sample(SHAPE_SAMPLE, random_state=0) if len(present) > SHAPE_SAMPLE else present).astype(str)
    if n_unique <= 2 and set(text.str.lower().unique()) <= BOOL_LEVELS:
        return "boolean", None
    dates = parse_dates(s)
    if dates is not None:
        return "datetime", dates
    ratio = n_unique / len(present)
    if ratio >= 0.5 or n_unique > 100:
        spaced = text.str.contains(r"\s").mean()
        if spaced >= 0.5 and text.str.len().median() >= 25:
            return "text", None
        if text.map(lambda v: bool(ID_SHAPE.match(v))).mean() >= 0.9 or id_name_strength(name) or spaced >= 0.5:
            return "identifier", None
    if id_name_strength(name) and text.map(lambda v: bool(ID_SHAPE.match(v))).mean() >= 0.9 and n_unique > MAX_SITES:
        return "identifier", None
    return "categorical", None


def _stats(kind: Kind, s: pd.Series, dates: pd.Series | None) -> dict[str, Any]:
    present = s.dropna()
    if present.empty:
        return {}
    if kind == "numeric":
        x = present.astype(float)
        return {k: float(v) for k, v in (("mean", x.mean()), ("std", x.std(ddof=1) if len(x) > 1 else 0.0),
                                          ("min", x.min()), ("median", x.median()), ("max", x.max()))}
    if kind == "datetime" and dates is not None:
        d = dates.dropna()
        return {"min": d.min().date().isoformat(), "max": d.max().date().isoformat()} if len(d) else {}
    if kind in ("categorical", "boolean") and present.nunique() <= MAX_TOP_LEVELS:
        counts = present.astype(str).value_counts()
        return {"levels": {str(k): int(v) for k, v in counts.items()}}
    if kind == "text":
        return {"median_length": float(present.astype(str).str.len().median())}
    return {}


def _n_duplicates(frame: pd.DataFrame) -> int:
    if frame.empty:
        return 0
    try:
        return int(frame.duplicated().sum())
    except TypeError:  # unhashable cells (lists from Parquet): compare their string forms instead
        return int(frame.astype(str).duplicated().sum())


def _unit_id_score(name: str, col: ColumnProfile, n_rows: int) -> float:
    """Higher is more id-like: an id name, then many distinct values that still repeat."""
    named = id_name_strength(name) or "patient" in name.lower() or "subject" in name.lower()
    return (2.0 if named else 0.0) + col.n_unique / max(n_rows, 1)


def profile_frame(frame: pd.DataFrame, spec: TaskSpec | None = None, *, site_shift: bool = True) -> DataProfile:
    """Profile ``frame``; ``spec`` (optional) pins the declared id, site and time columns.

    ``site_shift=False`` skips the per-site comparisons (the costly part) for callers that
    only need kinds and structural columns.
    """
    n_rows = int(len(frame))
    endpoint = set(spec.endpoint.columns) if spec else set()
    # Declared outcome, time and site columns keep their measured kind even when id-shaped
    # (a survival time sorted ascending, an integer day counter declared as time_column).
    structural = endpoint | ({c for c in (spec.time_column, spec.site_column) if c} if spec else set())
    columns: dict[str, ColumnProfile] = {}
    dates_of: dict[str, pd.Series] = {}
    for name in frame.columns:
        s = frame[name]
        kind, dates = _kind(str(name), s)
        if name in structural and kind == "identifier":
            kind = "numeric" if pd.api.types.is_numeric_dtype(s) else "categorical"
        if dates is not None:
            dates_of[name] = dates
        columns[name] = ColumnProfile(
            name=str(name), kind=kind, dtype=str(s.dtype), missing_fraction=float(s.isna().mean()) if n_rows else 0.0,
            n_unique=int(s.nunique(dropna=True)), stats=_stats(kind, s, dates),
        )
    n_dup = _n_duplicates(frame)
    # A unit of repeated measurements is an identifier whatever its header (its blocks give it away).
    clocks = [c for c, p in columns.items() if p.kind == "numeric" and c not in endpoint]
    for name, col in list(columns.items()):
        if col.kind in ("numeric", "categorical") and name not in structural and \
                (col.kind == "categorical" or np.all(np.mod(frame[name].dropna().astype(float), 1) == 0)) and \
                longitudinal_unit(frame, name, clocks):
            columns[name] = col.model_copy(update={"kind": "identifier"})

    repeats = [c for c, p in columns.items() if p.kind == "identifier" and c not in endpoint
               and 1 < p.n_unique < frame[c].notna().sum() and frame[c].notna().sum() / p.n_unique <= MAX_ROWS_PER_UNIT]
    declared_id = spec.id_column if spec else None
    if declared_id and declared_id in columns and declared_id not in repeats:
        repeats.insert(0, declared_id)
    repeats.sort(key=lambda c: (c != declared_id, -_unit_id_score(c, columns[c], n_rows)))
    unit_id = repeats[0] if repeats else declared_id

    sites = [c for c, p in columns.items() if c not in endpoint and p.kind in ("categorical", "boolean", "numeric")
             and SITE_NAME.search(c) and 2 <= p.n_unique <= MAX_SITES and p.kind != "identifier"]
    if spec and spec.site_column and spec.site_column not in sites:
        sites.insert(0, spec.site_column)
    codes = [c for c in sites if c in frame.columns and is_site_code(c, frame[c])]
    for c in codes:  # what the runners will see it as (preprocess.column_kinds applies the same rule)
        columns[c] = columns[c].model_copy(update={"kind": "categorical"})
    date_cols = [c for c, p in columns.items() if p.kind == "datetime"]
    if spec and spec.time_column and spec.time_column not in date_cols:
        date_cols.insert(0, spec.time_column)
    outcome = spec.endpoint.event if spec and spec.endpoint.is_survival else (spec.endpoint.column if spec else None)
    numeric = [c for c, p in columns.items() if p.kind == "numeric" and c not in endpoint]
    shifts = {s: site_shifts(frame, s, numeric, outcome) for s in sites} if site_shift else {}
    return DataProfile(
        site_shift={s: v for s, v in shifts.items() if v},
        n_rows=n_rows, n_columns=int(frame.shape[1]), n_duplicate_rows=n_dup, columns=columns,
        id_columns=repeats, unit_id=unit_id,
        n_units=int(frame[unit_id].nunique()) if unit_id else None,
        site_columns=sites, site_codes=codes, datetime_columns=date_cols,
        text_columns=[c for c, p in columns.items() if p.kind == "text"],
    )


def profile_findings(profile: DataProfile, spec: TaskSpec | None = None) -> list[Finding]:
    """What the profile implies for the analysis design: undeclared structure and site shift."""
    out: list[Finding] = []
    declared_id = spec.id_column if spec else None
    if profile.unit_id and declared_id is None and profile.unit_id in profile.id_columns:
        out.append(Finding(
            check="profile", severity=Severity.warning, feature=profile.unit_id,
            message=f"unit-of-analysis id detected but not declared: '{profile.unit_id}' "
                    f"({profile.n_units} units over {profile.n_rows} rows)",
            advice=f"set id_column: {profile.unit_id} in TASK.md so CV keeps each unit's rows in one fold",
            evidence={"candidates": profile.id_columns, "n_units": profile.n_units, "n_rows": profile.n_rows},
        ))
    skip = {profile.unit_id, declared_id, *(spec.endpoint.columns if spec else ()), *(spec.exclude if spec else ())}
    for name, col in profile.columns.items():
        if col.kind == "identifier" and name not in skip:
            # An id's value is arbitrary: as a feature it can only memorise rows (or leak order).
            out.append(Finding(
                check="identifier", severity=Severity.blocking, feature=name,
                message=f"record identifier: '{name}' is an id, not a feature ({col.n_unique} distinct values)",
                advice="it is excluded from modelling; if its order carries time, declare time_column instead",
                evidence={"n_unique": col.n_unique, "n_rows": profile.n_rows},
            ))
    declared_site = spec.site_column if spec else None
    for site in profile.site_columns:
        if site == declared_site and site in profile.site_codes:
            out.append(Finding(
                check="profile", severity=Severity.info, feature=site,
                message=f"site column '{site}' holds integer codes ({profile.columns[site].n_unique} levels): "
                        "modelled as categorical levels, not as a quantity",
                advice="none needed; recode it as text in the data if some levels should be merged",
                evidence={"n_levels": profile.columns[site].n_unique},
            ))
        if site != declared_site:
            code = (": integer codes, modelled as categorical levels, not as a quantity"
                    if site in profile.site_codes else "")
            out.append(Finding(
                check="profile", severity=Severity.info, feature=site,
                message=f"site-like column detected: '{site}' ({profile.columns[site].n_unique} levels){code}",
                advice=f"set site_column: {site} in TASK.md to enable site-grouped (transport) validation",
                evidence={"n_levels": profile.columns[site].n_unique},
            ))
        for column, ev in profile.site_shift.get(site, {}).items():
            what = "outcome rate" if ev.get("is_outcome") else f"feature '{column}'"
            size = f"rate gap {ev['rate_gap']}" if "rate_gap" in ev else f"SMD {ev['smd_extreme_sites']}"
            out.append(Finding(
                check="site_shift", severity=Severity.warning, feature=column,
                message=f"site shift: {what} differs strongly across '{site}' ({size})",
                advice="validate with site-grouped CV (cv_strategy: site-grouped-cv) and report per-site performance; "
                       "consider site as a covariate or harmonising the measurement",
                evidence={"site_column": site, **ev},
            ))
    time_col = spec.time_column if spec else None
    undeclared_dates = [c for c in profile.datetime_columns if c != time_col]
    if time_col is None and undeclared_dates:
        out.append(Finding(
            check="profile", severity=Severity.info,
            message=f"date columns detected but no time_column declared: {', '.join(undeclared_dates)}",
            advice="set time_column in TASK.md to the index date so temporal splits and dated-after-index checks can run",
            evidence={"datetime_columns": undeclared_dates},
        ))
    for name, col in profile.columns.items():
        if col.missing_fraction >= 0.5:
            out.append(Finding(
                check="profile", severity=Severity.info, feature=name,
                message=f"'{name}' is missing in {col.missing_fraction:.0%} of rows",
                advice="check whether missingness is informative (the leakage audit tests it against the outcome)",
                evidence={"missing_fraction": round(col.missing_fraction, 4)},
            ))
        elif col.n_unique <= 1:
            out.append(Finding(
                check="profile", severity=Severity.info, feature=name,
                message=f"'{name}' is constant", advice="it carries no information; it can be dropped",
                evidence={"n_unique": col.n_unique},
            ))
    return out
