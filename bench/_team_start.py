"""The strong start of bench/team.py: the strongest single recipe of the model portfolio on a
cohort, picked on the development rows only.

Candidates: every registered family of the cohort's kind (not the trivial ``dummy``, nor the
composite ``ensemble`` / ``calibrated`` / ``code`` wrappers) with its defaults, and with each
of its zero-shot portfolio configurations (``FamilySpec.portfolio``). Each is scored by a quick
cross-validation of the run's own plan (``autods.runners.evaluate`` on the task folder, which
holds the development rows only; one repeat of the plan's folds, no bootstrap), and the best
primary metric wins. The run's internal held-out split inside the development rows is not
used for the choice either (``evaluate`` scores only its cross-validation rows).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from autods.errors import AutodsError

SKIP = ("dummy", "ensemble", "calibrated", "code")


def candidates(task_type: str) -> list[dict[str, Any]]:
    from autods.runners.families import FAMILIES, task_kind

    kind = task_kind(task_type)
    out: list[dict[str, Any]] = []
    for name, spec in FAMILIES.items():
        if kind not in spec.kinds or name in SKIP:
            continue
        out.append({"family": name})
        out += [{"family": name, "params": dict(config)} for config in spec.portfolio]
    return out


def pick_start(task_dir: Path, task_type: str, cache: Path) -> dict[str, Any]:
    """The best candidate by quick CV, with every candidate's score; cached in ``cache``."""
    if cache.is_file():
        return json.loads(cache.read_text())
    from threadpoolctl import threadpool_limits

    from autods.judge.score import METRICS
    from autods.runners import evaluate

    scored = []
    started = time.monotonic()
    for recipe in candidates(task_type):
        t = time.monotonic()
        try:
            # one thread: on a shared machine OpenMP's threads (hist_gb) oversubscribe the cores
            with threadpool_limits(1):
                rec = evaluate(task_dir, recipe, seed=0, n_resamples=0, repeats=1)
        except (AutodsError, ValueError, ArithmeticError) as err:  # a family that cannot fit this cohort
            scored.append({"recipe": recipe, "value": None, "error": f"{type(err).__name__}: {err}"[:200]})
            continue
        scored.append({"recipe": recipe, "value": rec.value, "metric": rec.metric,
                       "seconds": round(time.monotonic() - t, 2)})
    ok = [s for s in scored if s["value"] is not None]
    if not ok:
        raise RuntimeError(f"no portfolio candidate could be scored on {task_dir}")
    higher = METRICS[ok[0]["metric"]]
    best = max(ok, key=lambda s: s["value"] if higher else -s["value"])
    out = {"recipe": best["recipe"], "value": best["value"], "metric": best["metric"], "candidates": scored,
           "seconds": round(time.monotonic() - started, 1)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out, indent=2, default=str))
    return out


__all__ = ["SKIP", "candidates", "pick_start"]
