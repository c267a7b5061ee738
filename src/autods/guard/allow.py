"""TASK.md ``allow: {column: reason}``: the user's override that keeps a column governance excluded.

The override is narrow on purpose. It can bring back a column the leakage audit or the
identifier check blocked (a false positive is the user's call, with a reason on the record),
but never the endpoint, the unit of analysis the folds group by, a PHI column, or a column
the same TASK.md also lists under ``exclude:``. Each of those contradictions is bad input
(exit 2), and an entry that changed nothing is reported as such rather than ignored.
"""

from __future__ import annotations

from autods.errors import DataError
from autods.guard.findings import Finding, Severity
from autods.judge.plan import ROW_LEVEL_CV
from autods.tasks.load import Task


def allowed_columns(task: Task, phi: list[str], unit_id: str | None) -> dict[str, str]:
    """The ``allow:`` column entries of ``task`` with their reasons, checked against the data."""
    spec = task.spec
    entries = {name: why for name, why in spec.allow.items() if name != ROW_LEVEL_CV}
    for name in entries:
        fix = f"remove '{name}' from allow: in TASK.md"
        if name not in task.frame.columns:
            raise DataError(f"allow: names '{name}', which is not a column of the data", f"{fix}, or correct its spelling")
        if name in task.endpoint_columns:
            raise DataError(f"allow: names the endpoint column '{name}'", f"{fix}: the endpoint is never a feature")
        if name in (spec.id_column, unit_id):
            raise DataError(f"allow: names '{name}', the unit of analysis the folds group by", f"{fix}: an identifier is never a feature")
        if name in phi:
            raise DataError(f"allow: names '{name}', which holds PHI", f"{fix}: PHI is de-identified and never modelled")
        if name in spec.exclude:
            raise DataError(f"'{name}' is listed under both allow: and exclude:", "keep it in one of the two in TASK.md")
    return entries


def allowance_findings(entries: dict[str, str], overridden: dict[str, list[str]]) -> list[Finding]:
    """One warning per entry: what it kept and over which findings, or that it changed nothing."""
    out = []
    for name, why in entries.items():
        if overridden.get(name):
            out.append(Finding(
                check="allow", severity=Severity.warning, feature=name,
                message=f"'{name}' kept by TASK.md allow: ({why}); it would have been excluded: " + "; ".join(overridden[name]),
                advice="the user overrode the exclusion; review the finding before trusting this column's importance",
                evidence={"reason": why, "overridden": overridden[name]},
            ))
        else:
            out.append(Finding(
                check="allow", severity=Severity.info, feature=name,
                message=f"allow: entry for '{name}' changed nothing: no check excluded it",
                advice="the entry can be removed from TASK.md", evidence={"reason": why},
            ))
    return out
