"""The calibration gate of promotion: a binary champion's risks must mean what they say.

A model can rank patients well (high AUROC) and still be over- or under-confident: its
out-of-fold calibration slope (logistic recalibration, ``logit P(y=1) = a + b logit(p)``,
:func:`autods.judge.metrics.calibration`) is then far from 1 and every absolute risk it
reports is wrong. Promotion refuses such a champion unless its recipe is the recalibrated
variant (``family: calibrated``, Platt or isotonic fitted inside the training fold; see
:mod:`autods.runners.calibrate`), whose slope is measured on the same folds and reported.

:data:`SLOPE_BAND` is ``(0.8, 1.25)``: symmetric on the log scale (1 / 1.25 = 0.8), so
overconfidence (slope < 1, predictions too extreme) and underconfidence (slope > 1) by the
same factor are treated alike. A slope of 0.8 means the logits must shrink by a fifth to be
right. The band is looser than the expected shrinkage of 0.9 that Riley et al. (Statistics in
Medicine 2019, sample size for prediction models, part II) design development samples for,
because these slopes come from cross-validation folds of small cohorts and are noisy; a slope
outside it is a miscalibration no sampling noise explains away. A recalibrated variant passes
whatever its slope: recalibration is the remedy, and what it leaves is reported.

The rule is pure (numbers and a family name in, a verdict out) so the server applies it
without reading any artifact, and a test can plant a slope.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RECALIBRATED_FAMILY", "SLOPE_BAND", "Verdict", "calibration_verdict", "slope_from_artifacts"]

#: accepted out-of-fold calibration slope of a binary champion that is not recalibrated (see the docstring)
SLOPE_BAND = (0.8, 1.25)
#: the family of a recalibrated variant (:mod:`autods.runners.calibrate`)
RECALIBRATED_FAMILY = "calibrated"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


def calibration_verdict(slope: float | None, family: str, method: str | None = None, *, first: bool = False
                        ) -> Verdict:
    """Whether a result with OOF calibration ``slope`` may become champion.

    ``slope`` None (not a binary task, an undefined fit, a record from before the gate) is
    not refused: the gate judges only what was measured. ``method`` is the recipe's
    recalibration (``none`` | ``platt`` | ``isotonic``), when the record says it. ``first``:
    the run has no champion yet; the first one is accepted whatever its slope, because a run
    without a champion has no model to validate or report (its validation findings flag the
    calibration and the expert proposes its Platt variant, which the gate then prefers).
    """
    if slope is None:
        return Verdict(True, "no calibration slope recorded (not a binary task, or undefined)")
    recalibrated = family == RECALIBRATED_FAMILY or (method not in (None, "", "none"))
    low, high = SLOPE_BAND
    if low <= slope <= high:
        return Verdict(True, f"calibration slope {slope:.3g} within [{low}, {high}]")
    if recalibrated:
        return Verdict(True, f"calibration slope {slope:.3g} outside [{low}, {high}], but the recipe is the "
                             f"recalibrated variant")
    if first:
        return Verdict(True, f"calibration slope {slope:.3g} outside [{low}, {high}], accepted as the run's first "
                             f"champion; recalibrate: propose the platt variant")
    side = "overconfident: predictions too extreme" if slope < low else "underconfident: predictions too timid"
    return Verdict(False, f"out-of-fold calibration slope {slope:.3g} is outside [{low}, {high}] ({side}); "
                          f"recalibrate: propose the platt variant (family 'calibrated' with base '{family}', "
                          f"method 'platt', same params and preprocessing)")


def slope_from_artifacts(artifacts: dict[str, str]) -> tuple[float | None, str | None]:
    """(slope, method) as the harness records them in a result's artifacts (strings); None when absent."""
    raw = artifacts.get("calibration_slope")
    try:
        slope = None if raw in (None, "", "None") else float(raw)
    except ValueError:
        slope = None  # an unreadable value is treated as not measured, like a missing one
    return slope, artifacts.get("calibration_method")
