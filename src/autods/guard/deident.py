"""De-identification policies applied to the columns the PHI scan flagged.

``drop``
    Drop every column with a blocking PHI finding. The unit id is replaced by a salted
    hash instead of dropped: grouped CV needs it, and the hash cannot be reversed without
    the salt.
``hash``
    Salted SHA-256 (truncated to ``HASH_CHARS`` hex characters) for identifier columns (MRN,
    SSN, phone, e-mail, zip, ...). Free text, names, addresses and dates of birth are dropped:
    hashing them keeps nothing analysable, and a hashed free-text note is still a unique key.
``shift_dates``
    Every date column (dates of birth, index and other dates) is shifted by a per-unit number
    of days drawn from the salted hash of the unit id, so all dates of one unit move together
    and intervals within a unit are preserved exactly. Other PHI is dropped, the unit id hashed.
``block``
    Raise :class:`~autods.errors.GuardrailBlocked` if any PHI column is present.

Warning-level findings (service dates, ages over 89) are left in place by ``drop`` and
``hash``: they are quasi-identifiers the user chose to keep; ``shift_dates`` shifts the dates.
Every action is recorded as a :class:`DeidentAction`; actions never carry values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import pandas as pd
from pydantic import BaseModel, ConfigDict

from autods.errors import GuardrailBlocked
from autods.guard._stats import parse_dates
from autods.guard.findings import Finding
from autods.guard.phi import finding_kinds, phi_columns

POLICIES = ("drop", "hash", "shift_dates", "block")
HASH_CHARS = 16
MAX_SHIFT_DAYS = 365
# Hashing free text or a name keeps a unique key and nothing analysable: drop these instead.
DROP_UNDER_HASH = {"free_text", "person_name", "address", "date_of_birth"}
DATE_KINDS = {"date_of_birth", "date"}


class DeidentAction(BaseModel):
    """What was done to one column. ``action`` is dropped | hashed | date_shifted."""

    model_config = ConfigDict(frozen=True)

    column: str
    kinds: tuple[str, ...]
    policy: str
    action: str
    reason: str


def salted_hash(values: pd.Series, salt: str) -> pd.Series:
    """Deterministic given ``salt``; missing stays missing. Each distinct value is hashed once."""
    table = {v: hashlib.sha256(f"{salt}\x1f{v}".encode()).hexdigest()[:HASH_CHARS] for v in values.dropna().unique()}
    return values.map(table).astype("object")


def unit_shift_days(units: pd.Series, salt: str) -> pd.Series:
    """Per-unit shift of 1..MAX_SHIFT_DAYS days, either direction, derived from the salted unit id.

    Never zero, so no unit keeps its true dates; the same unit always gets the same shift.
    """
    def one(v: object) -> int:
        h = int.from_bytes(hashlib.sha256(f"shift\x1f{salt}\x1f{v}".encode()).digest()[:8], "big")
        magnitude = 1 + h % MAX_SHIFT_DAYS
        return magnitude if (h >> 40) & 1 else -magnitude

    table = {v: one(v) for v in units.unique()}
    return units.map(table).astype(int)


def _kinds_by_column(findings: Iterable[Finding], blocking_only: bool) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in findings:
        if f.check == "phi" and f.feature and (f.blocking or not blocking_only):
            out.setdefault(f.feature, []).extend(k for k in finding_kinds(f) if k not in out.get(f.feature, []))
    return out


def _block(columns: list[str]) -> GuardrailBlocked:
    return GuardrailBlocked(
        f"deident_policy is 'block' and the data holds PHI in column(s): {', '.join(columns)}. "
        "Remove these columns from the data, or choose another deident_policy in LAUNCH.md "
        "(drop, hash or shift_dates)."
    )


def deidentify(
    frame: pd.DataFrame,
    phi_findings: Sequence[Finding],
    policy: str,
    *,
    salt: str,
    id_column: str | None,
    time_columns: Sequence[str] = (),
) -> tuple[pd.DataFrame, list[DeidentAction]]:
    """Apply ``policy`` to the PHI columns; return the new frame and what was done."""
    if policy not in POLICIES:
        raise ValueError(f"unknown deident policy {policy!r}; expected one of {POLICIES}")
    blocking = _kinds_by_column(phi_findings, blocking_only=True)
    flagged = [c for c in phi_columns(list(phi_findings)) if c in frame.columns]
    if policy == "block":
        if flagged:
            raise _block(flagged)
        return frame.copy(), []
    out = frame.copy()
    actions: list[DeidentAction] = []

    def record(column: str, action: str, reason: str) -> None:
        actions.append(DeidentAction(column=column, kinds=tuple(blocking.get(column, ["unit_id"])),
                                     policy=policy, action=action, reason=reason))

    if policy == "shift_dates":
        all_kinds = _kinds_by_column(phi_findings, blocking_only=False)
        dated = [c for c, k in all_kinds.items() if DATE_KINDS & set(k)]
        shifts = unit_shift_days(out[id_column] if id_column else pd.Series(out.index.astype(str), index=out.index), salt)
        for column in dict.fromkeys([*dated, *time_columns]):
            if column not in out.columns or column == id_column:
                continue
            dates = parse_dates(out[column])
            if dates is None:
                continue  # a header said "dob" but the values are not dates: handled as PHI below
            out[column] = dates + pd.to_timedelta(shifts, unit="D")
            actions.append(DeidentAction(column=column, kinds=tuple(all_kinds.get(column, ["date"])), policy=policy,
                                         action="date_shifted", reason="dates shifted by a per-unit offset (intervals kept)"))
    shifted = {a.column for a in actions}
    for column in flagged:
        if column == id_column or column in shifted:
            continue
        kinds = set(blocking[column])
        if policy == "hash" and not kinds & DROP_UNDER_HASH:
            out[column] = salted_hash(out[column], salt)
            record(column, "hashed", "identifier replaced by a salted SHA-256 (linkage kept, value gone)")
        else:
            out = out.drop(columns=column)
            record(column, "dropped", f"direct identifier ({', '.join(sorted(kinds))}) removed")
    if id_column and id_column in out.columns:
        out[id_column] = salted_hash(out[id_column], salt)
        record(id_column, "hashed", "unit id replaced by a salted hash; kept for patient-grouped CV")
    return out, actions
