"""Hyperparameters inside a family: Optuna's ask/tell, one study per family, rebuilt from the log.

A study is never kept in memory between decisions. Each time an analyst wants parameters
for a family it builds a fresh study, *tells* it every recorded result of that family
(mean over seeds per recipe), and *asks* once with ``TPESampler(seed=s)`` where ``s`` is
derived from the run seed, the family and how many proposals the family already has. The
answer is therefore a function of the recorded log alone: a resumed run (or a second run
with the same seed) asks the same question and gets the same answer, and no sampler state
is lost in a crash.

Proposed-but-unmeasured parameter sets are avoided by re-asking (next derived seed) when
the answer duplicates one, up to a few times.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from autods.runners.families import FAMILIES, Param

N_STARTUP = 4  # random trials before TPE models the results: budgets here are small
MAX_REASKS = 6


def _distributions(space: dict[str, Param]) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for name, p in space.items():
        if p.type == "float":
            out[name] = FloatDistribution(float(p.low), float(p.high), log=p.log)  # type: ignore[arg-type]
        elif p.type == "int":
            out[name] = IntDistribution(int(p.low), int(p.high), log=p.log)  # type: ignore[arg-type]
        else:
            out[name] = CategoricalDistribution(list(p.choices))
    return out


def _inside(dist: Any, value: Any) -> bool:
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError, IndexError):
        return False


def _key(params: dict[str, Any], names: list[str]) -> tuple[Any, ...]:
    return tuple(round(params[n], 10) if isinstance(params.get(n), float) else params.get(n) for n in names)


@functools.lru_cache(maxsize=256)
def _ask_cached(family: str, space_key: tuple[Any, ...], told_key: tuple[Any, ...], seed: int,
                maximize: bool) -> tuple[tuple[str, Any], ...]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = dict(space_key)
    dists = _distributions(space)
    study = optuna.create_study(direction="maximize" if maximize else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=N_STARTUP))
    for params, value in told_key:
        params = dict(params)
        usable = {k: v for k, v in params.items() if k in dists and _inside(dists[k], v)}
        if len(usable) == len(dists) and math.isfinite(value):
            study.add_trial(optuna.trial.create_trial(params=usable, distributions=dists, value=value))
    trial = study.ask(dists)
    return tuple(sorted(trial.params.items()))


def suggest(family: str, space: dict[str, Param], told: list[tuple[dict[str, Any], float]],
            proposed: list[dict[str, Any]], seed: int, maximize: bool) -> dict[str, Any] | None:
    """Parameters for the next recipe of ``family`` (only the searched ones), or None when
    every re-ask duplicated an earlier proposal.

    ``told``: (params, value) of each measured recipe; ``proposed``: params of every recipe of
    the family already proposed (measured or not); the family's defaults count as proposed
    once the default recipe exists.
    """
    defaults = FAMILIES[family].defaults
    names = sorted(space)
    seen = {_key({**defaults, **p}, names) for p in proposed}
    space_key = tuple(sorted(space.items()))
    told_key = tuple((tuple(sorted((k, v) for k, v in {**defaults, **p}.items() if k in space)), float(v))
                     for p, v in told)
    for attempt in range(MAX_REASKS):
        params = dict(_ask_cached(family, space_key, told_key, seed + attempt, maximize))
        if _key({**defaults, **params}, names) not in seen:
            return params
    return None


def distance(family: str, a: dict[str, Any], b: dict[str, Any], space: dict[str, Param] | None = None) -> float:
    """Largest per-parameter distance between two parameter sets, each scaled to [0, 1] of its
    search range (log scale where the range is logarithmic); a differing choice counts 1."""
    spec = FAMILIES[family]
    space = space or spec.space
    a, b = {**spec.defaults, **a}, {**spec.defaults, **b}
    worst = 0.0
    for name, p in space.items():
        x, y = a.get(name), b.get(name)
        if p.type == "choice" or not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
            worst = max(worst, 0.0 if x == y else 1.0)
            continue
        lo, hi = float(p.low), float(p.high)  # type: ignore[arg-type]
        if p.log and lo > 0 and x > 0 and y > 0:
            x, y, lo, hi = math.log(x), math.log(y), math.log(lo), math.log(hi)
        worst = max(worst, abs(float(x) - float(y)) / (hi - lo) if hi > lo else 0.0)
    for name in set(a) | set(b):  # fixed (unsearched) parameters must match exactly
        if name not in space and a.get(name) != b.get(name):
            worst = max(worst, 1.0)
    return worst


__all__ = ["distance", "suggest"]
