"""Benchmark: the vectorized 11-check battery vs the same checks per feature with scipy.

    .venv/bin/python bench/battery.py            # 1,000 candidates x 5,000 units
    .venv/bin/python bench/battery.py --quick    # 200 x 1,000, for a smoke run

Both paths run 1,000 permutations and 1,000 bootstrap resamples per candidate. The naive
path (scipy ``spearmanr`` / ``permutation_test`` / ``bootstrap`` / ``pearsonr`` /
``kendalltau``, statsmodels OLS for the partial correlation, one candidate at a time) is
timed on ``--naive`` candidates and scaled linearly to the full family; its leave-one-out
check is timed on the first 10% of deletions and scaled by 10. Both scalings are printed.
Peak memory: tracemalloc peak of the vectorized run, and the process's max RSS.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import statsmodels.api as sm
from scipy import stats

from autods.judge.biomarkers.battery import BatteryConfig, BatteryInput, run_battery
from autods.judge.biomarkers.screening import Response


def make_data(n: int, p: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    age = rng.uniform(20, 80, n)
    sex = rng.choice(np.array(["F", "M"]), n)
    y = X[:, : p // 20] @ rng.uniform(0.05, 0.2, p // 20) + 0.02 * age + rng.normal(size=n)
    return {"X": X, "y": y, "age": age, "sex": sex, "lab": rng.lognormal(size=n)}


def naive_one(x: np.ndarray, d: dict[str, np.ndarray], seed: int, loo_share: float) -> tuple[float, float]:
    """All checks for one candidate with scipy; returns (seconds, leave-one-out seconds before scaling)."""
    y, n = d["y"], x.size
    rng = np.random.default_rng(seed)
    spear = lambda a, b: stats.spearmanr(a, b).statistic  # noqa: E731
    start = time.perf_counter()
    test = rng.random(n) < 0.3
    stats.spearmanr(x[~test], y[~test]), stats.spearmanr(x[test], y[test])
    stats.permutation_test((x,), lambda a: spear(a, y), permutation_type="pairings", n_resamples=1000, rng=rng)
    stats.bootstrap((x, y), spear, paired=True, vectorized=False, n_resamples=1000, method="percentile", rng=rng)
    loo_start = time.perf_counter()
    keep = np.ones(n, dtype=bool)
    for i in range(int(n * loo_share)):
        keep[i] = False
        stats.spearmanr(x[keep], y[keep])
        keep[i] = True
    loo = time.perf_counter() - loo_start
    for mask in (d["sex"] == "F", d["sex"] == "M", *(np.floor(d["age"] / 10) == b for b in range(2, 8))):
        stats.spearmanr(x[mask], y[mask])
    stats.pearsonr(x, y), stats.kendalltau(x, y)
    stats.spearmanr(x, d["lab"]), stats.spearmanr(np.abs(x - np.median(x)), d["lab"])
    design = sm.add_constant(np.column_stack([stats.rankdata(d["age"]), stats.rankdata(d["sex"] == "M")]))
    rx = sm.OLS(stats.rankdata(x), design).fit().resid
    ry = sm.OLS(stats.rankdata(y), design).fit().resid
    stats.pearsonr(rx, ry)
    return time.perf_counter() - start, loo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=5000)
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--naive", type=int, default=5, help="candidates timed on the naive path")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.units, args.candidates = 1000, 200
    d = make_data(args.units, args.candidates)
    inp = BatteryInput(d["X"], tuple(f"c{j}" for j in range(args.candidates)), Response("continuous", d["y"]),
                       excluded=d["lab"][:, None], covariates=np.column_stack([d["age"], d["sex"] == "M"]),
                       sex=d["sex"], age=d["age"])
    cfg = BatteryConfig(n_permutations=1000, n_bootstrap=1000)
    run_battery(BatteryInput(d["X"][:200, :5], tuple("abcde"), Response("continuous", d["y"][:200])), cfg)  # warm-up
    tracemalloc.start()
    t0 = time.perf_counter()
    run_battery(inp, cfg)
    vec = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    loo_share = 0.1
    total = 0.0
    for j in range(args.naive):
        secs, loo = naive_one(d["X"][:, j], d, j, loo_share)
        total += secs + loo * (1 / loo_share - 1)  # scale the sampled deletions to all n
    naive = total / args.naive * args.candidates
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"battery: {args.candidates} candidates x {args.units} units, 1000 permutations + 1000 bootstraps, 11 checks")
    print(f"vectorized wall time      : {vec:8.2f} s   (target < 60 s on 2 cores)")
    print(f"naive per-feature (scipy) : {naive:8.1f} s   (timed on {args.naive} candidates and scaled x{args.candidates / args.naive:g};"
          f" leave-one-out timed on {loo_share:.0%} of deletions and scaled x{1 / loo_share:g})")
    print(f"speed-up                  : {naive / vec:8.1f} x (target >= 50x)")
    print(f"peak memory               : {peak / 2**20:8.1f} MiB tracemalloc peak (vectorized run); max RSS {rss_mb:.0f} MiB")


if __name__ == "__main__":
    main()
