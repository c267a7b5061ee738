"""Biomarker discovery: screening with FDR, the 11-check battery, labels, incremental value.

Public API: :func:`discover_biomarkers` (the one entry point), :func:`run_battery` /
:func:`run_battery_isolated`, :func:`screen` with :class:`ScreeningLedger`, and
:func:`assign_labels`. Submodules import lazily-heavy pieces (scikit-survival) only on use.
"""

from autods.judge.biomarkers.battery import CHECKS, BatteryConfig, BatteryInput, BatteryResult, run_battery, run_battery_isolated
from autods.judge.biomarkers.labels import assign_labels, label_result
from autods.judge.biomarkers.report import BiomarkerResult, discover_biomarkers
from autods.judge.biomarkers.screening import Response, ScreeningLedger, screen

__all__ = [
    "CHECKS", "BatteryConfig", "BatteryInput", "BatteryResult", "BiomarkerResult", "Response", "ScreeningLedger",
    "assign_labels", "discover_biomarkers", "label_result", "run_battery", "run_battery_isolated", "screen",
]
