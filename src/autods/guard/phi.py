"""PHI scan: which columns hold protected health information, and of what kind.

Three sources of evidence per column, combined:

- the header (``patient_name``, ``mrn``, ``ssn``, ``dob``, ``phone``, ``email``, ``address``,
  ``zip``, ``notes`` ...), normalised to lower snake case;
- value patterns on a seeded sample of at most ``SAMPLE`` non-missing values: presidio
  (offline, blank spaCy pipeline) for e-mail, phone, SSN, credit card, IP and URL, plus our
  own rules for MRN-like ids, SSN-shaped strings, person names (value shape + a bundled
  name list), dates of birth (named, or implying ages 0–110 years before the index date) and
  free-text notes (scanned for embedded identifiers);
- the profile's column kind (date, text, identifier).

Direct identifiers are ``blocking``; other dates and ages above 89 (HIPAA Safe Harbor
quasi-identifiers) are ``warning``. Evidence holds kinds, counts and fractions, never a value.
Endpoint columns are not scanned: they are the outcome, not an identifier.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from autods.guard import _presidio
from autods.guard._namelist import FIRST_NAMES, is_known_name
from autods.guard._stats import parse_dates
from autods.guard.findings import Finding, Severity
from autods.guard.profile import DataProfile, profile_frame
from autods.tasks.spec import TaskSpec

SAMPLE = 200
SEED = 0
# presidio costs milliseconds per value: it sees at most this many distinct values of a short-value
# column (enough to tell a 50 % match rate from none), and a free-text scan stops after
# TEXT_EARLY_STOP values once it has found an identifier (the verdict cannot change).
PRESIDIO_VALUES = 60
TEXT_EARLY_STOP = 40
VALUE_HIT_MIN = 0.5  # share of sampled values that must match for a value-based kind
NAME_LIST_MIN = 0.3  # share of sampled values with a token in the bundled name list
HEADER_RULES: tuple[tuple[str, str], ...] = (
    (r"(^|_)ip(_?addr(ess)?)?$", "ip_address"),
    (r"(^|_)(first|last|given|family|middle|full|patient|pt|maiden|person|subject)_?names?$|^names?$|surname|forename", "person_name"),
    (r"mrn|medical_?record|(record|chart)_?(no|num|number)$", "mrn"),
    (r"(^|_)ssn($|_)|social_?sec", "ssn"),
    (r"(^|_)dob($|_)|date_?of_?birth|birth_?date|birthday", "date_of_birth"),
    (r"phone|mobile|(^|_)fax($|_)|(^|_)tel($|_)|telephone|cell_?phone", "phone"),
    (r"e_?mail", "email"),
    (r"address|street|(^|_)addr($|_)", "address"),
    (r"(^|_)zip|post_?code|postal", "zip"),
    (r"(^|_)(notes?|text|comments?|narrative|remarks?|free_?text)($|_)", "free_text"),
)
NAME_SHAPE = re.compile(r"^[A-Z][a-z'\u2019-]+(?: [A-Z]\.?)?(?: [A-Z][a-z'\u2019-]+){1,2}$")
SINGLE_NAME_SHAPE = re.compile(r"^[A-Z][a-z'\u2019-]+$")
MRN_SHAPE = re.compile(r"^[A-Za-z]{1,4}[-_:#]?\d{6,10}$")
DIGIT_ID = re.compile(r"^\d{6,10}$")
SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
ID_HEADER = re.compile(r"(^|_)(id|mrn|number|no|nr)$|^id_", re.I)
STREET = re.compile(
    r"\b\d{1,6}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl)\b\.?"
)
CAPITAL_TOKEN = re.compile(r"\b[A-Z][a-z]{1,}\b")
# Fewest digits a number must have to be the announced identifier (zip codes lose leading zeros).
MIN_DIGITS = {"phone": 7, "ssn": 8, "mrn": 4, "zip": 3, "date_of_birth": 6}
DIRECT_KINDS = {"person_name", "mrn", "ssn", "date_of_birth", "phone", "email", "address", "zip",
                "free_text", "credit_card", "ip_address", "url"}


def _normalise(header: object) -> str:
    return re.sub(r"[^a-z0-9]+", "_", re.sub(r"([a-z])([A-Z])", r"\1_\2", str(header))).strip("_").lower()


def header_kind(header: object) -> str | None:
    """The PHI kind a column header announces, if any."""
    name = _normalise(header)
    for pattern, kind in HEADER_RULES:
        if re.search(pattern, name):
            return kind
    return None


def _header_plausible(kind: str, s: pd.Series, col_kind: str, n_unique: int) -> bool:
    """Whether the values could be what the header announces (``night_phone`` minutes are not a phone).

    Numbers qualify only as integers with enough digits for the kind; strings only when they
    are varied enough to identify someone (a two-level ``phone_type`` does not). Dates of birth
    and free text have their own value checks.
    """
    if col_kind == "boolean":
        return False
    if pd.api.types.is_numeric_dtype(s):
        x = pd.to_numeric(s, errors="coerce").dropna().abs()
        if x.empty or bool((x % 1 != 0).any()):
            return False
        digits = float(np.median(np.floor(np.log10(np.maximum(x.to_numpy(dtype=float), 1))) + 1))
        return digits >= MIN_DIGITS.get(kind, 99)
    return n_unique >= min(20, 0.5 * max(int(s.notna().sum()), 1))


def _sample(s: pd.Series) -> pd.Series:
    present = s.dropna()
    return present.sample(SAMPLE, random_state=SEED) if len(present) > SAMPLE else present


def _value_kinds(name: str, values: pd.Series) -> dict[str, float]:
    """Fraction of sampled values matching each PHI kind (short cell values).

    Rules run once per distinct value and are weighted by its count, so a two-level column
    costs two presidio calls, not two hundred. presidio runs on strings only: a float lab
    value is never an e-mail address, and numbers get the digit-shape rules below.
    """
    counts = values.astype(str).str.strip().value_counts()
    n = max(int(counts.sum()), 1)
    strings = pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
    id_header = bool(ID_HEADER.search(name))
    hits: dict[str, int] = {}
    presidio_hits: dict[str, int] = {}
    shaped = listed = presidio_n = 0
    for i, (value, c) in enumerate(counts.items()):
        kinds: set[str] = set()
        if MRN_SHAPE.match(value) or (id_header and DIGIT_ID.match(value)):
            kinds.add("mrn")
        if SSN_SHAPE.match(value):
            kinds.add("ssn")
        if STREET.search(value):
            kinds.add("address")
        if strings:
            if NAME_SHAPE.match(value) or SINGLE_NAME_SHAPE.match(value):
                shaped += c
                listed += c if any(is_known_name(t) for t in value.split()) else 0
                if any(is_known_name(t) for t in value.split()):
                    kinds.add("person_name")
        for kind in kinds:
            hits[kind] = hits.get(kind, 0) + int(c)
        if strings and i < PRESIDIO_VALUES:
            presidio_n += int(c)
            found_here = {_presidio.ENTITY_KIND[r.entity_type] for r in _presidio.entities(value)
                          if r.end - r.start >= 0.6 * len(value)} - {"date"} - kinds
            for kind in found_here:
                presidio_hits[kind] = presidio_hits.get(kind, 0) + int(c)
    if shaped / n < VALUE_HIT_MIN or listed / n < NAME_LIST_MIN:
        hits.pop("person_name", None)  # a few capitalised words that happen to be names are not a name column
    found = {k: c / n for k, c in hits.items()}
    for kind, c in presidio_hits.items():
        found[kind] = max(found.get(kind, 0.0), c / max(presidio_n, 1))
    if found.get("email", 0) >= VALUE_HIT_MIN:
        found.pop("url", None)  # the domain inside every e-mail address also matches the URL pattern
    return {k: round(v, 4) for k, v in found.items() if v >= VALUE_HIT_MIN}


def _embedded(values: pd.Series) -> tuple[dict[str, int], int]:
    """Counts of identifiers embedded in free text, per kind, and how many values were scanned."""
    counts: dict[str, int] = {}
    scanned = 0
    for value in values.astype(str):
        if scanned >= TEXT_EARLY_STOP and counts:
            break
        scanned += 1
        for r in _presidio.entities(value):
            kind = _presidio.ENTITY_KIND[r.entity_type]
            counts[kind] = counts.get(kind, 0) + 1
        streets = len(STREET.findall(value))
        if streets:
            counts["address"] = counts.get("address", 0) + streets
        tokens = CAPITAL_TOKEN.findall(value)
        # A listed first name followed by any capitalised word: surnames are too varied to list.
        names = sum(1 for a, _ in zip(tokens, tokens[1:]) if a.lower() in FIRST_NAMES)
        if names:
            counts["person_name"] = counts.get("person_name", 0) + names
    return counts, scanned


def _index_dates(frame: pd.DataFrame, spec: TaskSpec | None) -> pd.Series | None:
    if spec is None or not spec.time_column or spec.time_column not in frame.columns:
        return None
    return parse_dates(frame[spec.time_column])


def _birth_like(dates: pd.Series, index: pd.Series | None) -> dict[str, Any] | None:
    """Evidence that a date column holds birth dates: implied ages all in 0–110, median adult."""
    ref = index if index is not None else pd.Series(pd.Timestamp.today().normalize(), index=dates.index)
    ages = ((ref - dates).dt.days / 365.25).dropna()
    if len(ages) < 10:
        return None
    in_range = float(((ages >= 0) & (ages <= 110)).mean())
    if in_range >= 0.95 and float(ages.median()) >= 18 and float(ages.std()) >= 5:
        return {"implied_age_in_0_110": round(in_range, 4), "reference": "index date" if index is not None else "today"}
    return None


WARNING_ADVICE = {
    "date": "dates are identifying under HIPAA Safe Harbor: deident_policy: shift_dates shifts them per unit",
    "age_over_89": "ages above 89 are identifying under HIPAA Safe Harbor: top-code them at 90 before the run",
    "free_text": "no identifier was found in the sampled values, but sampling can miss rare ones: "
                 "review the column or drop it if it is not needed",
}


def _finding(column: str, kinds: list[str], by: list[str], severity: Severity, evidence: dict[str, Any]) -> Finding:
    what = ", ".join(kinds)
    if severity is Severity.blocking:
        message = f"PHI: column '{column}' holds direct identifiers ({what}; found by {' + '.join(by)})"
        advice = ("remove the column from the data, or set deident_policy in LAUNCH.md "
                  "(drop, hash, shift_dates) so it is de-identified before any agent sees the data")
    else:
        message = f"PHI (quasi-identifier): column '{column}' holds {what}"
        advice = WARNING_ADVICE.get(kinds[0], WARNING_ADVICE["date"])
    return Finding(check="phi", severity=severity, message=message, advice=advice, feature=column,
                   evidence={"kinds": kinds, "found_by": by, **evidence})


def scan_phi(frame: pd.DataFrame, spec: TaskSpec | None = None, *, profile: DataProfile | None = None) -> list[Finding]:
    """One finding per column that holds PHI. Values are sampled (see ``SAMPLE``, ``SEED``).

    ``profile`` (of this same frame) saves profiling it again.
    """
    profile = profile or profile_frame(frame, spec, site_shift=False)
    endpoint = set(spec.endpoint.columns) if spec else set()
    index = _index_dates(frame, spec)
    findings: list[Finding] = []
    for column in frame.columns:
        if column in endpoint:
            continue
        s, col = frame[column], profile.columns[column]
        kinds: dict[str, None] = {}
        by: list[str] = []
        evidence: dict[str, Any] = {}
        announced = header_kind(column)
        if announced == "free_text" and col.kind in ("numeric", "boolean"):
            announced = None
        elif announced not in (None, "free_text") and col.kind != "datetime" and not _header_plausible(
                announced, s, col.kind, col.n_unique):
            evidence["header_ignored"] = f"header suggests {announced} but the values cannot be"
            announced = None
        if announced:
            kinds[announced] = None
            by.append("header")
        sample = _sample(s)
        evidence.update(sampled_values=int(len(sample)), sample_limit=SAMPLE, seed=SEED)
        if col.kind == "datetime":
            dates = parse_dates(s)
            is_index = spec is not None and column == spec.time_column
            birth = None if dates is None or is_index else _birth_like(dates, index)
            if birth is not None:
                evidence.update(birth)
                if index is None:
                    evidence["possible_date_of_birth"] = True  # no index date: too weak to block on
                elif "date_of_birth" not in kinds:
                    kinds["date_of_birth"] = None
                    by.append("implied ages")
            if not kinds:
                kinds["date"] = None
                by.append("date values")
        elif col.kind == "text" or announced == "free_text":
            kinds.setdefault("free_text", None)
            if col.kind == "text":
                by.append("long text values")
            embedded, scanned = _embedded(sample)
            evidence.update(embedded_identifiers=embedded, text_values_scanned=scanned)
            for kind, count in embedded.items():
                if kind != "date" and count >= VALUE_HIT_MIN * max(scanned, 1):
                    kinds.setdefault(kind, None)
            if not embedded and not announced:
                findings.append(_finding(column, ["free_text"], by, Severity.warning, evidence))
                continue
        elif not pd.api.types.is_bool_dtype(s) and col.kind != "boolean" and len(sample):
            value_kinds = _value_kinds(str(column), sample)
            for kind in value_kinds:
                kinds.setdefault(kind, None)
            if value_kinds:
                by.append("values")
                evidence["value_match_fraction"] = value_kinds
            if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
                evidence["presidio_distinct_values_limit"] = PRESIDIO_VALUES
        if not kinds and _normalise(column) in ("age", "age_years", "age_at_index") and pd.api.types.is_numeric_dtype(s):
            n_old = int((pd.to_numeric(s, errors="coerce") > 89).sum())
            if n_old:
                findings.append(_finding(column, ["age_over_89"], ["values"], Severity.warning, {"n_rows_over_89": n_old}))
            continue
        if not kinds:
            continue
        direct = [k for k in kinds if k in DIRECT_KINDS]
        severity = Severity.blocking if direct else Severity.warning
        findings.append(_finding(column, list(kinds), by or ["header"], severity, evidence))
    return findings


def phi_columns(findings: list[Finding]) -> list[str]:
    """Columns with a blocking PHI finding, in order."""
    return list(dict.fromkeys(f.feature for f in findings if f.check == "phi" and f.blocking and f.feature))


def finding_kinds(finding: Finding) -> list[str]:
    return [str(k) for k in finding.evidence.get("kinds", [])]
