"""Sandbox overhead: a code experiment wrapping LightGBM vs the ``lightgbm`` recipe (issue 13 §8).

Both go through the same ``evaluate`` (same preprocessing, same 5 stratified folds, same
bootstrap); the code experiment's LightGBM has the recipe's parameters, so the two AUROCs
agree to the last digit and the difference in time is the sandbox: the zygote start (once
per process) and, per fold, two calls (fit; predict) that fork a fresh locked-down child,
ship the fold matrix as .npy, and return the model as pickle bytes.

    .venv/bin/python bench/sandbox.py                 # 10,000 rows x 20 features, 3 rounds
    .venv/bin/python bench/sandbox.py --rows 2000 --rounds 1   # quick look

Target: total ratio (sandbox start included) <= 1.5. Rounds alternate recipe and code so
that load from other processes on a shared machine hits both; medians are printed. CPU time
is printed beside wall time: the sandbox runs in its own session (bubblewrap's --new-session),
which Linux's autogroup scheduler gives a CPU share of its own, so on a loaded machine the
sandbox's wall time can beat the parent's and only the CPU ratio shows the overhead.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from autods.execution import sandbox
from autods.runners import Recipe, evaluate
from autods.runners.code_family import CodeEstimator
from autods.runners.families import get_family
from autods.tasks.load import Task
from autods.tasks.spec import Endpoint, LaunchSpec, TaskSpec

LGBM = """
from lightgbm import LGBMClassifier

class Model:
    def fit(self, X, y):
        self.m = LGBMClassifier(random_state=0, **PARAMS).fit(X.to_numpy(), y)
        return self

    def predict_proba(self, X):
        return self.m.predict_proba(X.to_numpy())
"""


def synthetic_task(n_rows: int, n_features: int, seed: int = 0) -> Task:
    """Seeded binary task: 10 informative features of ``n_features``, 5% missing values."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features))
    logit = X[:, :10] @ rng.normal(0, 0.7, 10)
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    X[rng.random(X.shape) < 0.05] = np.nan
    frame = pd.DataFrame(X, columns=[f"x{i:02d}" for i in range(n_features)])
    frame["y"] = y
    spec = TaskSpec(name="bench", task_type="binary", endpoint=Endpoint(column="y"), data=("synthetic.csv",), root=Path("."))
    # no held-out split: all rows are cross-validated, as the brief's "5-fold on 10,000 rows"
    return Task(spec=spec, launch=LaunchSpec(n_splits=5, test_fraction=0.0, seed=seed), frame=frame)


def timed(task: Task, recipe: Recipe) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process plus the sandbox's calls, AUROC)."""
    box = sandbox.get_sandbox()
    started, cpu, box_cpu = time.perf_counter(), time.process_time(), box.cpu_seconds
    record = evaluate(task, recipe, strategy="stratified-cv", n_splits=5, repeats=1, n_resamples=200)
    used = time.process_time() - cpu + box.cpu_seconds - box_cpu
    return time.perf_counter() - started, used, float(record.value)


def call_seconds(task: Task, recipe: Recipe) -> tuple[float, float]:
    """Seconds of one fit call and one predict call inside the sandbox (the child's own clock)."""
    X = task.frame.drop(columns="y").fillna(0.0)
    est = CodeEstimator(recipe.params["source"], kind="binary").fit(X, task.target())
    est.predict_proba(X)
    return est.calls_[0][1], est.calls_[1][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    task = synthetic_task(args.rows, args.features)
    params = {k: v for k, v in get_family("lightgbm").defaults.items()}
    recipe = Recipe(family="lightgbm")
    code = Recipe(family="code", params={"source": LGBM.replace("**PARAMS", ", ".join(f"{k}={v!r}" for k, v in params.items()))})
    print(f"{args.rows:,} rows x {args.features} features; LightGBM {params['n_estimators']} trees, n_jobs=1; "
          f"5-fold stratified CV, 1 repeat; {args.rounds} alternating rounds")

    sandbox.shutdown_sandbox()
    started = time.perf_counter()
    box = sandbox.get_sandbox()
    start_s = time.perf_counter() - started
    print(f"sandbox start (bwrap + interpreter + preloading {', '.join(box.preloaded)}): {start_s:.2f} s")

    recipe_s, code_s, recipe_cpu, code_cpu = [], [], [], []
    for _ in range(args.rounds):
        r_s, r_cpu, r_auc = timed(task, recipe)
        c_s, c_cpu, c_auc = timed(task, code)
        recipe_s.append(r_s)
        code_s.append(c_s)
        recipe_cpu.append(r_cpu)
        code_cpu.append(c_cpu)
        assert abs(r_auc - c_auc) < 1e-9, (r_auc, c_auc)  # same model, same folds: same score
    fit_s, predict_s = call_seconds(task, code)
    r, c = statistics.median(recipe_s), statistics.median(code_s)
    print(f"AUROC recipe = code = {r_auc:.6f}")
    print(f"evaluate, median of {args.rounds}: recipe {r:.2f} s  code (warm sandbox) {c:.2f} s  ratio {c / r:.2f}")
    rc, cc = statistics.median(recipe_cpu), statistics.median(code_cpu)
    print(f"CPU (this process + the sandbox's calls), median: recipe {rc:.2f} s  code {cc:.2f} s  ratio {cc / rc:.2f}")
    print(f"first code experiment of a process (start included): {c + start_s:.2f} s  ratio {(c + start_s) / r:.2f}")
    print(f"per-fold overhead (warm): {(c - r) / 5:.3f} s  ({(c - r) / 5 / (r / 5) * 100:.0f}% of a recipe fold)")
    print(f"inside the sandbox, all {args.rows:,} rows: fit call {fit_s:.3f} s, predict call {predict_s:.3f} s")


if __name__ == "__main__":
    main()
