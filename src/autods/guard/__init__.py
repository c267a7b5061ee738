"""Guardrails: profile, PHI scan, de-identification, leakage audit, and ``govern`` tying them.

Public API (imported lazily so ``import autods.guard.findings`` stays light)::

    profile_frame(frame, spec=None) -> DataProfile        profile_findings(profile, spec) -> [Finding]
    scan_phi(frame, spec=None) -> [Finding]               deidentify(frame, phi_findings, policy, *, salt, id_column, time_columns)
    audit_leakage(task, frame=None, checks=None) -> [Finding]
    autods.guard.govern.govern(task, *, salt="autods") -> Governance

``govern`` is not re-exported here: the package attribute ``govern`` is the submodule once
it is imported, so ``from autods.guard.govern import govern`` is the one unambiguous spelling.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "profile_frame": "profile", "profile_findings": "profile", "DataProfile": "profile",
    "scan_phi": "phi", "deidentify": "deident", "DeidentAction": "deident",
    "audit_leakage": "leakage", "LEAKAGE_CHECKS": "leakage",
    "Governance": "govern", "Finding": "findings", "Severity": "findings",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'autods.guard' has no attribute {name!r}")
    return getattr(import_module(f"autods.guard.{_EXPORTS[name]}"), name)
