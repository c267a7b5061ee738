"""The trivial baseline and the noise floor, computed from recorded results (never from data).

Noise floor: the default recipe is run on 2-3 seeds. Every experiment of a run is scored on the
plan's one set of repeated folds, so a seed moves only the model's own randomness (for a
deterministic linear baseline the seeds agree); the floor is the larger of the SD of those
scores and the mean standard error of their fold scores, times ``noise_floor_sd`` from
LAUNCH.md ``promotion_criteria``. It is the promotion rule only where results do not share
folds (see ``server/protocol.py``); on shared folds promotion uses the paired test.

Trivial baseline: a constant predictor. When the runners offer a ``dummy`` family it is
measured by the judge like any recipe; otherwise its value is the documented constant-
predictor value of the metric: AUROC and C-index 0.5 (a constant score ranks no pair),
R2 0 (the mean predictor; slightly below 0 out of fold), and for multiclass the macro-F1
of always predicting the majority class, ``2p / (1 + p) / K`` with ``p`` its share of
the ``K`` classes' rows (from the steward's class counts).
"""

from __future__ import annotations

import statistics
from typing import Any

CONSTANT_VALUE = {"auroc": 0.5, "c_index": 0.5, "r2": 0.0}


def noise_floor(results: list[dict[str, Any]], multiplier: float = 1.0) -> dict[str, Any]:
    """The floor from the default recipe's results (one per seed)."""
    values = [float(r["value"]) for r in results]
    sd = statistics.stdev(values) if len(values) >= 2 else 0.0
    ses = [statistics.stdev(r["fold_scores"]) / len(r["fold_scores"]) ** 0.5
           for r in results if len(r.get("fold_scores") or []) >= 2]
    fold_se = statistics.fmean(ses) if ses else 0.0
    return {"value": max(sd, fold_se) * multiplier, "sd_seeds": sd, "fold_se": fold_se, "multiplier": multiplier,
            "n_seeds": len(values), "values": values, "recipe_hash": results[0]["recipe_hash"] if results else None,
            "rule": "max(SD over seeds, mean fold SE) x noise_floor_sd"}


def trivial_value(metric: str, summary: dict[str, Any]) -> dict[str, Any] | None:
    """The documented constant-predictor value, when the judge has no ``dummy`` family."""
    if metric in CONSTANT_VALUE:
        return {"value": CONSTANT_VALUE[metric], "source": f"constant predictor: {metric} of a constant score"}
    counts = summary.get("class_counts") or {}
    if metric == "macro_f1" and counts:
        total = sum(counts.values())
        p = max(counts.values()) / total
        return {"value": 2 * p / (1 + p) / len(counts),
                "source": "majority-class predictor: F1 2p/(1+p) for the majority class, 0 for the others"}
    if metric == "accuracy" and counts:
        return {"value": max(counts.values()) / sum(counts.values()), "source": "majority-class share"}
    return None


__all__ = ["CONSTANT_VALUE", "noise_floor", "trivial_value"]
