"""Checks run on the validated champion; their findings become the report's limitations.

Each returns a finding row ``{check, severity, message, advice}`` (the guardrails' shape),
so the report treats guardrail, design and validation findings alike.
"""

from __future__ import annotations

from typing import Any

from autods.judge.score import direction_value
from autods.judge.calibration_gate import SLOPE_BAND
from autods.reports._context import RunContext

__all__ = ["CALIBRATION_SLOPE_RANGE", "NEAR_PERFECT", "SUBGROUP_GAP", "split_kind", "validation_findings"]

#: CV values at or above these make leakage the first suspect.
NEAR_PERFECT = {"auroc": 0.99, "c_index": 0.95, "r2": 0.99, "macro_f1": 0.99, "accuracy": 0.995}
#: A calibration slope outside this range means over- or under-confident risks: the promotion
#: gate's band (judge/calibration_gate.py), so the report and the gate never disagree.
CALIBRATION_SLOPE_RANGE = SLOPE_BAND
CALIBRATION_INTERCEPT_MAX = 0.2
#: A subgroup gap at least this large (primary metric units) is reported.
SUBGROUP_GAP = 0.05


def split_kind(ctx: RunContext) -> str:
    from autods.runners.evaluate import choose_strategy

    if choose_strategy(ctx.task) == "temporal-split":
        return "temporal: the latest rows by time"
    if ctx.units_repeat:
        return "random: whole units"
    return "random: stratified rows"


def _f(check: str, severity: str, message: str, advice: str) -> dict[str, str]:
    return {"check": check, "severity": severity, "message": message, "advice": advice}


def validation_findings(ctx: RunContext, v: dict[str, Any]) -> list[dict[str, str]]:
    metric, cv, out = v["metric"], v["cv"], []
    excluded = {n for n, _ in ctx.excluded}
    leaked = sorted(set(v["inputs"]) & excluded)
    if leaked:
        out.append(_f("leakage.excluded_input", "blocking", f"the champion reads excluded column(s): {', '.join(leaked)}",
                      "do not use this model; report the defect"))
    if cv.get("value") is not None and metric in NEAR_PERFECT and cv["value"] >= NEAR_PERFECT[metric]:
        out.append(_f("leakage.near_perfect", "warning",
                      f"near-perfect cross-validated {metric} ({cv['value']:.3f}); leakage is the first suspect",
                      "check the top features in the importance table for proxies of the outcome; "
                      "some tasks are genuinely easy, but confirm on external data"))
    design = (ctx.design or {}).get("cv_strategy")
    used = (cv.get("design") or {}).get("strategy")
    if design and used and design != used:
        out.append(_f("design.cv_mismatch", "warning",
                      f"the locked design chose {design} but the experiments used {used}",
                      "treat the CV estimates with caution; rerun with cv_strategy set in LAUNCH.md"))
    test = v.get("test")
    if test is None:
        out.append(_f("validation.no_test", "warning", "no held-out test score is reported",
                      "the cross-validated estimate is the only performance evidence; it is optimistic after model search"))
    elif test.get("value") is not None and cv.get("ci_low") is not None and cv.get("ci_high") is not None:
        t, lo, hi = (direction_value(metric, x) for x in (test["value"], cv["ci_low"], cv["ci_high"]))
        if t < min(lo, hi):
            out.append(_f("validation.test_gap", "warning",
                          f"held-out {metric} ({test['value']:.3f}) falls below the cross-validated interval "
                          f"({cv['ci_low']:.3f} to {cv['ci_high']:.3f})",
                          "the search may have overfitted the CV splits, or the held-out rows differ; "
                          "prefer the held-out estimate"))
    cal = (v.get("oof") or {}).get("calibration")
    if cal and cal.get("slope") is not None:
        lo, hi = CALIBRATION_SLOPE_RANGE
        if not lo <= cal["slope"] <= hi or abs(cal.get("intercept") or 0.0) > CALIBRATION_INTERCEPT_MAX:
            out.append(_f("validation.calibration", "warning",
                          f"calibration slope {cal['slope']:.2f}, intercept {cal['intercept']:.2f} "
                          "(ideal 1 and 0) on out-of-fold predictions",
                          "recalibrate (e.g. logistic recalibration on new data) before using predicted risks"))
    for gap in v.get("subgroup_gaps", []):
        if gap["gap"] is not None and gap["gap"] >= SUBGROUP_GAP:
            out.append(_f("fairness.subgroup_gap", "warning",
                          f"{metric} differs by {gap['gap']:.3f} across '{gap['column']}' "
                          f"(worst: {gap['worst']}, best: {gap['best']})",
                          "check whether the weaker group is under-represented or measured differently; "
                          "report performance per group"))
    small = [s for s in v.get("subgroups", []) if s["value"] is None]
    if small:
        out.append(_f("fairness.small_groups", "info",
                      f"{len(small)} subgroup(s) too small or degenerate to evaluate "
                      f"({', '.join(s['column'] + '=' + s['group'] for s in small[:5])})",
                      "collect more data for these groups before claiming performance there"))
    if v.get("external") is None:
        out.append(_f("validation.no_external", "info", "no external validation data was given",
                      "performance may not transport to other sites or periods; validate externally before use"))
    return out
