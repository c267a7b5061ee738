"""Benchmark: bootstrap CI of AUROC, vectorised judge path vs a per-resample sklearn loop.

Run: ``.venv/bin/python bench/judge_bootstrap.py [--rows 100000] [--resamples 2000]``.
The loop is timed on ``--loop-resamples`` (100) resamples and scaled linearly to
``--resamples``; the output says so. Peak memory of the vectorised call is measured with
tracemalloc (numpy reports its buffers to it) in a second, untimed run.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc

import numpy as np
from sklearn.metrics import roc_auc_score

from autods.judge.bootstrap import MEMORY_BUDGET, bootstrap_ci, chunk_size


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.0 * y)))
    return y, p


def time_loop(y: np.ndarray, p: np.ndarray, n_resamples: int, seed: int = 0
              ) -> tuple[float, float, np.ndarray]:
    rng = np.random.default_rng(seed)
    start, cpu = time.perf_counter(), time.process_time()
    values = np.empty(n_resamples)
    for b in range(n_resamples):
        idx = rng.integers(0, y.size, size=y.size)
        values[b] = roc_auc_score(y[idx], p[idx])
    return time.perf_counter() - start, time.process_time() - cpu, values


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--loop-resamples", type=int, default=100)
    args = ap.parse_args(argv)
    y, p = make_data(args.rows)
    print(f"AUROC bootstrap CI: {args.rows:,} rows, {args.resamples:,} resamples, "
          f"chunk {chunk_size(args.rows, args.rows, args.resamples)} resamples "
          f"(memory budget {MEMORY_BUDGET / 2**20:.0f} MiB)")

    start, cpu = time.perf_counter(), time.process_time()
    ci = bootstrap_ci("auroc", y, p, n_resamples=args.resamples, seed=0)
    t_vec, c_vec = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    bca = bootstrap_ci("auroc", y, p, n_resamples=args.resamples, seed=0, method="bca")
    t_bca = time.perf_counter() - start

    t_loop_part, c_loop_part, loop_vals = time_loop(y, p, args.loop_resamples)
    scale = args.resamples / args.loop_resamples
    t_loop, c_loop = t_loop_part * scale, c_loop_part * scale

    tracemalloc.start()
    bootstrap_ci("auroc", y, p, n_resamples=args.resamples, seed=0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # ru_maxrss is KiB on Linux, bytes on macOS
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)

    print(f"  point AUROC {ci.value:.4f}; percentile CI [{ci.low:.4f}, {ci.high:.4f}]; "
          f"BCa CI [{bca.low:.4f}, {bca.high:.4f}]")
    print(f"  loop CI from {args.loop_resamples} resamples (sanity): "
          f"[{np.percentile(loop_vals, 2.5):.4f}, {np.percentile(loop_vals, 97.5):.4f}]")
    # CPU time is printed too: on a shared machine wall time mostly measures the neighbours
    print(f"  vectorised, percentile : {t_vec:8.2f} s wall, {c_vec:8.2f} s CPU")
    print(f"  vectorised, BCa        : {t_bca:8.2f} s (includes the closed-form jackknife)")
    print(f"  sklearn loop           : {t_loop:8.2f} s wall, {c_loop:8.2f} s CPU (measured "
          f"{t_loop_part:.2f} s wall on {args.loop_resamples} resamples, scaled x{scale:g})")
    print(f"  speed-up (loop / vectorised percentile): {t_loop / t_vec:.1f}x wall, "
          f"{c_loop / c_vec:.1f}x CPU")
    print(f"  peak traced memory of the vectorised call: {peak / 2**20:.0f} MiB; "
          f"process max RSS {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
