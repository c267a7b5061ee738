"""Harrell's C bootstrap on a large cohort: the Fenwick-tree kernel against the generic loop.

Both compute the same resamples of sksurv's flchain (age as the risk score); the loop calls
``sksurv.metrics.concordance_index_censored`` once per resample, as the judge did above 3,000
units before the tree kernel. Prints seconds and the speed-up ratio (same process, same draws).

    .venv/bin/python bench/harrell.py [--resamples 50]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sksurv.datasets import load_flchain
from sksurv.metrics import concordance_index_censored

from autods.judge._harrell_tree import TreeHarrellKernel
from autods.judge._vectorized import unit_counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resamples", type=int, default=50)
    args = parser.parse_args()
    x, raw = load_flchain()
    keep = raw["futime"] > 0
    y = np.zeros(int(keep.sum()), dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = raw["death"][keep], raw["futime"][keep]
    risk = x["age"].to_numpy(dtype=float)[keep]
    n = len(y)
    drawn = np.random.default_rng(0).integers(0, n, (args.resamples, n))
    t0 = time.perf_counter()
    loop = [concordance_index_censored(y["event"][d], y["time"][d], risk[d])[0] for d in drawn]
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    tree = TreeHarrellKernel(y, risk, np.arange(n), n).replicates(unit_counts(drawn, n))
    t_tree = time.perf_counter() - t0
    assert np.allclose(loop, tree)
    print(f"flchain n={n}, {args.resamples} resamples: loop {t_loop:.2f} s, tree {t_tree:.3f} s, "
          f"speed-up {t_loop / t_tree:.0f}x (max |difference| {np.max(np.abs(np.asarray(loop) - tree)):.1e})")


if __name__ == "__main__":
    main()
