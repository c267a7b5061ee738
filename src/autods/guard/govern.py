"""The data steward's pipeline: profile -> PHI scan -> de-identify -> leakage audit.

:func:`govern` is what runs before any brain sees anything. Its result says which columns
held PHI and what was done to them, every finding, and every feature excluded from
modelling *with a reason*: nothing is excluded silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from autods.guard.allow import allowance_findings, allowed_columns
from autods.guard.deident import DeidentAction, deidentify
from autods.guard.findings import Finding, Severity
from autods.guard.leakage import audit_leakage
from autods.guard.phi import phi_columns, scan_phi
from autods.guard.profile import DataProfile, profile_findings, profile_frame
from autods.tasks.load import Task

DECLARED_PROXY = "declared proxy (TASK.md exclude)"
UNIT_ID = "unit-of-analysis id (used for grouping, never a feature)"


@dataclass(frozen=True)
class Governance:
    """The outcome of governing one task's data.

    ``profile`` is redacted for PHI columns (no level names or date ranges), so it can be
    shown to a brain. ``frame`` is the de-identified frame every later step must use.
    ``excluded`` pairs each feature removed from modelling with the reason to report;
    ``allowed`` pairs each column TASK.md's ``allow:`` kept with the user's reason.
    """

    profile: DataProfile
    findings: list[Finding]
    phi_columns: list[str]
    excluded: list[tuple[str, str]]
    frame: pd.DataFrame
    actions: list[DeidentAction] = field(default_factory=list)
    allowed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    @property
    def excluded_features(self) -> list[str]:
        return [name for name, _ in self.excluded]

    def feature_columns(self, task: Task) -> list[str]:
        """Columns a model may use: the de-identified frame minus endpoint, unit id and exclusions."""
        drop = set(task.endpoint_columns) | set(self.excluded_features)
        if task.spec.id_column:
            drop.add(task.spec.id_column)
        return [c for c in self.frame.columns if c not in drop]


def _exclusions(findings: list[Finding], task: Task, unit_id: str | None = None,
                allowed: dict[str, str] | None = None) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """Every feature kept out of modelling, with its reasons: blocking findings, declared
    proxies, and a detected unit id TASK.md did not declare (a declared ``id_column`` is
    dropped by ``Task.feature_columns`` already, so it needs no entry). Columns in ``allowed``
    stay in; the reasons they would have been excluded for are returned beside the list."""
    reasons: dict[str, list[str]] = {}
    if unit_id and unit_id != task.spec.id_column and unit_id not in task.endpoint_columns:
        reasons[unit_id] = [UNIT_ID]
    for f in findings:
        if f.blocking and f.feature:
            reasons.setdefault(f.feature, [])
            if f.message not in reasons[f.feature]:
                reasons[f.feature].append(f.message)
    for col in task.spec.exclude:
        reasons.setdefault(col, [])
        if DECLARED_PROXY not in reasons[col]:
            reasons[col].insert(0, DECLARED_PROXY)
    allowed = allowed or {}
    overridden = {col: why for col, why in reasons.items() if col in allowed}
    return [(col, "; ".join(why)) for col, why in reasons.items() if col not in allowed], overridden


def govern(task: Task, *, salt: str = "autods") -> Governance:
    """Govern ``task.frame`` under ``task.launch.deident_policy``.

    Raises :class:`~autods.errors.GuardrailBlocked` when the policy is ``block`` and PHI is
    present. The leakage audit runs on the de-identified frame, with
    ``task.launch.leakage_checks`` when set.
    """
    spec = task.spec
    profile = profile_frame(task.frame, spec)
    phi = scan_phi(task.frame, spec, profile=profile)
    flagged = phi_columns(phi)
    # A PHI column that is also id-shaped needs one finding (the PHI one), not two.
    findings = [f for f in profile_findings(profile, spec) if not (f.check == "identifier" and f.feature in flagged)]
    findings.extend(phi)
    time_columns = [c for c in (spec.time_column, *profile.datetime_columns) if c]
    frame, actions = deidentify(
        task.frame, phi, task.launch.deident_policy, salt=salt,
        id_column=spec.id_column or profile.unit_id, time_columns=list(dict.fromkeys(time_columns)),
    )
    findings.extend(audit_leakage(task, frame, task.launch.leakage_checks))
    # what the loader decided for the user (e.g. zero follow-up rows dropped) is said where findings are read
    findings.extend(Finding(check=w["check"], severity=Severity.warning, message=w["message"], advice=w["advice"],
                            evidence=w.get("evidence", {})) for w in task.loader_warnings)
    redact = {f.feature for f in phi if f.feature}
    unit = profile.unit_id if profile.unit_id in profile.id_columns else None
    allowed = allowed_columns(task, flagged, unit)
    excluded, overridden = _exclusions(findings, task, unit, allowed)
    findings.extend(allowance_findings(allowed, overridden))
    return Governance(
        profile=profile.redacted(redact), findings=findings, phi_columns=flagged,
        excluded=excluded, frame=frame, actions=actions,
        allowed=[(col, why) for col, why in allowed.items() if overridden.get(col)],
    )
