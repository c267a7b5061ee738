"""Several data files become one analysis frame: stacked, joined one-to-many, or on unit + time.

The rules (documented for users in docs/data-standards.md, "Several data files"):

1. Files with the same columns (in any order) are stacked row-wise, in TASK.md order.
2. The remaining tables are joined on the unit column: TASK.md's ``join: on`` when given, else
   ``id_column``, else the single column every table shares whose name reads as an identifier
   (:func:`autods.guard.profile.id_name_strength`), else the only column they share when it
   holds codes, one table is unique on it and most values meet.
3. A table unique on the unit is a unit-level table; it is joined one-to-many onto the long
   table (a left join from the long table: its rows are the analysis rows). Two long tables are
   joined on unit + ``time_column`` when both have it; the first one listed is the base.
4. Anything else is ambiguous and a :class:`~autods.errors.DataError` (exit 2) naming the files
   and the fix: no shared key, several candidate keys, neither table unique on the key,
   duplicate unit + time keys on both sides, a non-key column in both tables, or key types
   that differ (numbers in one file, text in the other).

Every stack and join is a provenance ``step`` (rows after it, units, a sentence with the row
counts of both inputs and the unmatched counts) plus a ``join`` record with the same counts as
numbers. A declared ``time_column`` held as ISO date text is read as dates first, so keys match
whatever the files' date formatting, and per-unit time features see dates as with Parquet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from autods.errors import DataError
from autods.guard.profile import id_name_strength
from autods.tasks.provenance import Provenance
from autods.tasks.spec import TaskSpec

__all__ = ["Table", "combine"]

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
FIX = "declare the key in TASK.md, e.g. join: [participant_id] or join: [participant_id, day] (see docs/data-standards.md)"


@dataclass
class Table:
    """One input table: ``label`` names its file(s) in messages and provenance."""

    label: str
    frame: pd.DataFrame


def combine(tables: list[Table], spec: TaskSpec, prov: Provenance) -> pd.DataFrame:
    """Stack tables with the same columns, then join the rest; every step lands in ``prov``."""
    tables = [Table(t.label, _dates(t.frame, spec.time_column)) for t in tables]
    tables = _stack(tables, prov)
    if len(tables) == 1:
        return tables[0].frame
    key = spec.join.on if spec.join is not None else (_unit_column(tables, spec),)
    unit = key[0]
    lacking = [t.label for t in tables if unit not in t.frame.columns]
    if lacking:
        raise DataError(f"join: on names '{unit}', which is not in {', '.join(lacking)}",
                        "list a key column every data file has first in join: on")
    unique = {t.label: _unique(t.frame, [unit]) for t in tables}
    longs = [t for t in tables if not unique[t.label]]
    units = [t for t in tables if unique[t.label]]
    order = longs + units  # long tables first, then unit tables join onto them one-to-many
    base = order[0]
    for other in order[1:]:
        base = _join(base, other, _pair_key(base, other, key, spec, unique), spec, prov)
    return base.frame


def _dates(frame: pd.DataFrame, column: str | None) -> pd.DataFrame:
    """``column`` as datetimes when every recorded value is ISO date text (CSV has no date type)."""
    if column is None or column not in frame.columns or pd.api.types.is_datetime64_any_dtype(frame[column]):
        return frame
    s = frame[column]
    if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
        return frame
    text = s.dropna().astype(str)
    if text.empty or not text.str.match(ISO_DATE).all():
        return frame
    return frame.assign(**{column: pd.to_datetime(s, format="ISO8601")})


def _stack(tables: list[Table], prov: Provenance) -> list[Table]:
    groups: dict[frozenset[str], list[Table]] = {}
    for t in tables:
        groups.setdefault(frozenset(map(str, t.frame.columns)), []).append(t)
    out = []
    for members in groups.values():
        if len(members) == 1:
            out.append(members[0])
            continue
        cols = list(members[0].frame.columns)
        frame = pd.concat([m.frame[cols] for m in members], ignore_index=True)
        label = " + ".join(m.label for m in members)
        counts = " + ".join(str(len(m.frame)) for m in members)
        prov.step(f"stack {label}", len(frame), detail=f"same {len(cols)} columns: stacked row-wise ({counts} rows)")
        prov.records.append({"kind": "join", "name": f"stack {label}", "how": "stack", "files": [m.label for m in members],
                             "rows_in": [len(m.frame) for m in members], "rows": len(frame)})
        out.append(Table(label, frame))
    return out


def _shared(tables: list[Table]) -> list[str]:
    first = [str(c) for c in tables[0].frame.columns]
    return [c for c in first if all(c in t.frame.columns for t in tables[1:])]


def _names(tables: list[Table]) -> str:
    return ", ".join(t.label for t in tables)


def _unit_column(tables: list[Table], spec: TaskSpec) -> str:
    shared = _shared(tables)
    if spec.id_column:
        if spec.id_column in shared:
            return spec.id_column
        missing = [t.label for t in tables if spec.id_column not in t.frame.columns]
        raise DataError(f"data files {_names(tables)}: id_column '{spec.id_column}' is not in {', '.join(missing)}",
                        f"give every file the unit column under one name, or {FIX}")
    candidates = [c for c in shared if id_name_strength(c) == 2]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates and len(shared) == 1 and _only_key(tables, shared[0]):
        return shared[0]
    if not candidates:
        what = f"share no identifier column (shared: {', '.join(shared[:6])})" if shared else "share no column"
        raise DataError(f"data files {_names(tables)} {what}, so they cannot be joined on a unit",
                        f"give the files a shared unit column and {FIX}")
    raise DataError(f"data files {_names(tables)} share several candidate keys ({', '.join(candidates)})",
                    f"name the unit: id_column: {candidates[0]}, or {FIX}")


def _only_key(tables: list[Table], col: str) -> bool:
    """The one shared column is the key whatever its name (statsmodels' dietox: 'Pig') when it holds
    codes (integers or text, never measurements), one table is unique on it, and the values meet."""
    if any(pd.api.types.is_float_dtype(t.frame[col]) for t in tables):
        return False
    if not any(_unique(t.frame, [col]) for t in tables):
        return False
    values = [set(t.frame[col].dropna().astype(str)) for t in tables]
    return min(len(v & values[0]) / max(len(v), 1) for v in values) >= 0.5


def _unique(frame: pd.DataFrame, key: list[str]) -> bool:
    rows = frame[key].dropna()
    return not rows.empty and not bool(rows.duplicated().any())


def _pair_key(base: Table, other: Table, key: tuple[str, ...], spec: TaskSpec, unique: dict[str, bool]) -> list[str]:
    if spec.join is not None:
        return [c for c in key if c in base.frame.columns and c in other.frame.columns]
    t = spec.time_column
    both_long = not unique.get(base.label, False) and not unique.get(other.label, False)
    if both_long and t and t in base.frame.columns and t in other.frame.columns and t != key[0]:
        return [key[0], t]
    return [key[0]]


def _check_key_types(a: Table, b: Table, key: list[str]) -> None:
    for col in key:
        na, nb = (pd.api.types.is_numeric_dtype(t.frame[col]) for t in (a, b))
        da, db = (pd.api.types.is_datetime64_any_dtype(t.frame[col]) for t in (a, b))
        if na != nb or da != db:
            kind = {(True, False): "numbers", (False, True): "dates", (False, False): "text"}
            raise DataError(f"join key '{col}' is {kind[(na, da)]} in {a.label} but {kind[(nb, db)]} in {b.label}",
                            f"write '{col}' the same way in both files")


def _join(base: Table, other: Table, key: list[str], spec: TaskSpec, prov: Provenance) -> Table:
    pair = f"{base.label} and {other.label}"
    collide = [c for c in base.frame.columns if c in other.frame.columns and c not in key]
    if collide:
        shown = ", ".join(f"'{c}'" for c in collide[:5])
        raise DataError(f"data files {pair} both have {shown} besides the key ({', '.join(key)})",
                        f"keep each column in one file only, or add it to the key: {FIX}")
    _check_key_types(base, other, key)
    bu, ou = _unique(base.frame, key), _unique(other.frame, key)
    how = spec.join.how if spec.join is not None else None
    on = " + ".join(key)
    if not bu and not ou:
        dups = {t.label: int(t.frame[key].dropna().duplicated().sum()) for t in (base, other)}
        counts = ", ".join(f"{n} in {label}" for label, n in dups.items())
        problem = (f"duplicate {on} keys in both data files ({counts})" if len(key) > 1
                   else f"neither {base.label} nor {other.label} has one row per '{on}' (repeated keys: {counts})")
        raise DataError(problem, f"make one table unique on the key (aggregate it) or add the time column: {FIX}")
    if how == "one_to_one" and not (bu and ou):
        dup = base if not bu else other
        raise DataError(f"join: how is one_to_one, but {dup.label} repeats '{on}'",
                        "use how: one_to_many, or remove the repeated rows")
    many, one = (base, other) if ou else (other, base)
    kind = "one-to-one" if bu and ou else "one-to-many"
    one_rows = one.frame.dropna(subset=key)
    merged = many.frame.merge(one_rows, on=key, how="left", validate="many_to_one", indicator="_autods_join")
    unmatched_many = int((merged.pop("_autods_join") == "left_only").sum())
    keys_many = pd.MultiIndex.from_frame(many.frame[key].dropna())
    keys_one = pd.MultiIndex.from_frame(one_rows[key])
    unmatched_one = int((~keys_one.isin(keys_many)).sum())
    unit = key[0]
    detail = (f"{kind} left join from {many.label} ({len(many.frame)} rows) to {one.label} ({len(one.frame)} rows, one per "
              f"{on}): {unmatched_many} {many.label} rows have no {one.label} row (kept, its columns missing); "
              f"{unmatched_one} keys of {one.label} have no {many.label} row (not in the data)")
    name = f"join {one.label} to {many.label} on {on}"
    prov.step(name, len(merged), units=int(merged[unit].nunique()), detail=detail)
    prov.records.append({"kind": "join", "name": name, "how": kind.replace("-", "_"), "on": list(key),
                         "many": many.label, "one": one.label, "rows_many": len(many.frame), "rows_one": len(one.frame),
                         "rows": len(merged), "unmatched_many": unmatched_many, "unmatched_one": unmatched_one})
    return Table(f"{many.label} + {one.label}", merged)
