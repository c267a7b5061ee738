"""Judge overhead: ``evaluate`` of a LightGBM recipe vs plain ``cross_val_predict``.

Both sides fit the same pipeline (the recipe's preprocessing + LightGBM) on the same
patient-grouped folds of the same rows; ``evaluate`` additionally builds the record:
per-fold scores, secondary metrics, a cluster bootstrap CI (1,000 resamples), a fold CI
and the out-of-fold predictions. Reported with and without the held-out lock (with it, CV
runs on the development rows only, so the baseline gets the same rows).

    .venv/bin/python bench/judge_overhead.py            # 100,000 rows x 50 features
    .venv/bin/python bench/judge_overhead.py --rows 20000 --trees 50   # quicker look

Target: ratio <= 1.3. The machine may be shared, so CPU time (this process, all threads) is
printed next to wall time; the CPU ratio is the one that does not move with other load.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline

from autods.judge.splits import make_splitter
from autods.runners import Recipe, evaluate
from autods.runners.families import get_family
from autods.runners.preprocess import build_preprocessor
from autods.tasks.load import Task
from autods.tasks.spec import Endpoint, LaunchSpec, TaskSpec


def synthetic_task(n_rows: int, n_features: int, rows_per_unit: int, seed: int = 0) -> Task:
    """Seeded binary task: unit frailty + 10 informative features, 5% missing values."""
    rng = np.random.default_rng(seed)
    n_units = n_rows // rows_per_unit
    pid = np.repeat(np.arange(n_units), rows_per_unit)[:n_rows]
    X = rng.normal(size=(n_rows, n_features))
    logit = X[:, :10] @ rng.normal(0, 0.5, 10) + rng.normal(0, 1, n_units)[pid]
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    X[rng.random(X.shape) < 0.05] = np.nan
    frame = pd.DataFrame(X, columns=[f"x{i:02d}" for i in range(n_features)])
    frame.insert(0, "pid", [f"u{u:06d}" for u in pid])
    frame["y"] = y
    spec = TaskSpec(name="bench", task_type="binary", endpoint=Endpoint(column="y"), data=("synthetic.csv",),
                    id_column="pid", root=Path("."))
    return Task(spec=spec, launch=LaunchSpec(n_splits=5, test_fraction=0.2, seed=seed), frame=frame)


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    now = _clocks()
    return now[0] - start[0], now[1] - start[1]


def baseline_seconds(task: Task, recipe: Recipe, rows: np.ndarray) -> tuple[float, float]:
    """Plain cross_val_predict of the same pipeline on the same grouped folds of ``rows``."""
    frame = task.frame.iloc[rows]
    y = task.target(frame)
    groups = frame["pid"].to_numpy()
    features = task.feature_columns()
    started = _clocks()
    splits = list(make_splitter("patient-grouped-cv", n_splits=5, seed=task.launch.seed).split(len(rows), y, groups))
    pipe = Pipeline([("prep", build_preprocessor(recipe.preprocess, frame, features)),
                     ("model", get_family(recipe.family).estimator("binary", recipe.params, recipe.seed))])
    cross_val_predict(pipe, frame[features], y, cv=splits, method="predict_proba")
    return _since(started)


def evaluate_seconds(task: Task, recipe: Recipe, use_holdout: bool) -> tuple[tuple[float, float], np.ndarray, float]:
    started = _clocks()
    record = evaluate(task, recipe, strategy="patient-grouped-cv", n_splits=5, n_resamples=1000, use_holdout=use_holdout)
    return _since(started), np.sort(np.asarray(record.oof.row)), record.value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--rows-per-unit", type=int, default=20)
    parser.add_argument("--trees", type=int, default=100)
    args = parser.parse_args()

    task = synthetic_task(args.rows, args.features, args.rows_per_unit)
    recipe = Recipe(family="lightgbm", params={"n_estimators": args.trees})
    print(f"{args.rows:,} rows x {args.features} features, {args.rows // args.rows_per_unit:,} units; "
          f"LightGBM {args.trees} trees, n_jobs=1; 5-fold patient-grouped CV; bootstrap 1,000 resamples")
    modes = [False]
    if importlib.util.find_spec("autods.judge.holdout") is not None:
        modes.append(True)
    else:
        print("(autods.judge.holdout not installed: the holdout-lock variant is skipped)")
    for use_holdout in modes:
        (ev_wall, ev_cpu), rows, auroc = evaluate_seconds(task, recipe, use_holdout)
        base_wall, base_cpu = baseline_seconds(task, recipe, rows)
        label = "with holdout lock   " if use_holdout else "without holdout lock"
        print(f"{label} (CV rows {len(rows):,}, AUROC {auroc:.3f})\n"
              f"  wall: evaluate {ev_wall:7.2f} s  cross_val_predict {base_wall:7.2f} s  ratio {ev_wall / base_wall:5.2f}\n"
              f"  cpu : evaluate {ev_cpu:7.2f} s  cross_val_predict {base_cpu:7.2f} s  ratio {ev_cpu / base_cpu:5.2f}")


if __name__ == "__main__":
    main()
