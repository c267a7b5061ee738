"""The frozen judge: metrics, splits, the locked held-out test set, resampling, subgroups.

Brains choose what to try; only the judge computes, compares and records metrics. The
public names below are re-exported lazily so ``import autods.judge.score`` (used by light
modules such as the design step) does not pull in scikit-learn, scipy and fairlearn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autods.judge.bootstrap import CI, bootstrap_ci, fold_ci, permutation_test
    from autods.judge.holdout import HoldoutLedger, HoldoutSplit, lock_holdout, verify
    from autods.judge.metrics import Calibration, calibration, compute_metric
    from autods.judge.score import METRICS, PRIMARY_METRIC, Score
    from autods.judge.splits import Splitter, assert_no_group_overlap, make_splitter
    from autods.judge.subgroups import SubgroupResult, largest_gap, subgroup_metrics

_EXPORTS: dict[str, str] = {
    "METRICS": "score",
    "PRIMARY_METRIC": "score",
    "Score": "score",
    "Calibration": "metrics",
    "calibration": "metrics",
    "compute_metric": "metrics",
    "Splitter": "splits",
    "assert_no_group_overlap": "splits",
    "make_splitter": "splits",
    "HoldoutLedger": "holdout",
    "HoldoutSplit": "holdout",
    "lock_holdout": "holdout",
    "verify": "holdout",
    "CI": "bootstrap",
    "bootstrap_ci": "bootstrap",
    "fold_ci": "bootstrap",
    "permutation_test": "bootstrap",
    "SubgroupResult": "subgroups",
    "largest_gap": "subgroups",
    "subgroup_metrics": "subgroups",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"autods.judge.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'autods.judge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
