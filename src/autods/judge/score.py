"""Direction-aware scores: the judge decides which way "better" points, never the caller.

Every metric the judge can compute is listed in :data:`METRICS` with its direction.
``calibration_slope`` is the one metric that is neither higher- nor lower-is-better: its
ideal is 1 (below 1 = overconfident, above 1 = underconfident). It is listed as ``False``
(lower is better) because the judge compares it by the *distance* ``|slope - 1|``, which is
lower-is-better; :data:`TARGETS` records the ideal value so the comparison is explicit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from autods.errors import JudgeError

__all__ = ["METRICS", "PRIMARY_METRIC", "TARGETS", "Score", "direction_value"]

#: metric name -> higher_is_better. See the module docstring for ``calibration_slope``.
METRICS: dict[str, bool] = {
    "auroc": True,
    "auprc": True,
    "brier": False,
    "accuracy": True,
    "macro_f1": True,
    "r2": True,
    "rmse": False,
    "c_index": True,
    "uno_c": True,
    "integrated_brier": False,
    "calibration_slope": False,
    "log_loss": False,
}

#: Metrics whose ideal is a target value rather than an extreme; compared by |value - target|.
TARGETS: dict[str, float] = {"calibration_slope": 1.0}

#: task_type -> the metric a champion is judged on.
PRIMARY_METRIC: dict[str, str] = {
    "binary": "auroc",
    "multiclass": "macro_f1",
    "regression": "r2",
    "survival": "c_index",
    "biomarker": "r2",
    "singlecell": "macro_f1",
}


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise JudgeError(f"unknown metric {metric!r}; the judge knows {sorted(METRICS)}")


def direction_value(metric: str, value: float) -> float:
    """Map ``value`` to a scale where larger is always better (NaN stays NaN).

    Used wherever the judge ranks values of one metric (scores, subgroup gaps, permutation
    tests) so the direction logic lives in one place.
    """
    _check_metric(metric)
    if metric in TARGETS:
        return -abs(value - TARGETS[metric])
    return value if METRICS[metric] else -value


@dataclass(frozen=True)
class Score:
    """One value of one metric. Comparisons are direction-aware and refuse mixed metrics."""

    metric: str
    value: float

    def __post_init__(self) -> None:
        _check_metric(self.metric)
        # Stored as a plain float so scores serialise and compare predictably.
        object.__setattr__(self, "value", float(self.value))

    @property
    def higher_is_better(self) -> bool:
        """True when a larger value is better (``calibration_slope``: see module docstring)."""
        return METRICS[self.metric]

    def better_than(self, other: Score, margin: float = 0.0) -> bool:
        """True when this score beats ``other`` by strictly more than ``margin``.

        ``margin`` is in the metric's own units (e.g. the measured noise floor) and must be
        non-negative. A NaN on either side is never better: an undefined score cannot win.
        """
        if not isinstance(other, Score):
            raise JudgeError(f"cannot compare a Score with {type(other).__name__}")
        if other.metric != self.metric:
            raise JudgeError(
                f"cannot compare {self.metric!r} with {other.metric!r}: scores of different metrics"
            )
        if margin < 0 or math.isnan(margin):
            raise JudgeError(f"margin must be a non-negative number, got {margin!r}")
        if math.isnan(self.value) or math.isnan(other.value):
            return False
        mine = direction_value(self.metric, self.value)
        theirs = direction_value(other.metric, other.value)
        return mine > theirs + margin
