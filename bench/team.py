"""The agent team against a single agent, the framework's overhead, and the champion's
held-out metric against standard baselines.

1. **Team vs single agent.** Same task, seed, budget, expert brain and executor. Team: 3
   analysts, a feature agent, 6 experiment agents, critique, shared dead ends, a monitor.
   Single agent: one proposer, one experiment agent (sequential), no critique (a rubber-stamp
   approval satisfies the server), no dead ends. Per task and seed, the target is 99% of the
   best score either reaches (the issue's definition) and, because on these tasks the default
   recipe alone is often within 1% of the best, also *half the gain*: the default recipe's
   score plus half of the best improvement either run found over it. Experiments- and
   wall-clock-to-target count to the first recorded result whose running best reaches it
   (the baseline runs included). Medians over seeds; ratio = single / team.
2. **Overhead.** An inline team run: wall time not spent inside judge evaluations, per
   experiment, against one bare ``evaluate`` of the default recipe.
3. **Held-out.** The seed-0 team champion is validated (the held-out test scored once) and
   compared on the same held-out rows with the default logistic / Cox model, default
   LightGBM (survival: gradient-boosted Cox, LightGBM has no survival objective here) and
   FLAML given the team's search wall-clock (binary tasks; FLAML has no survival task).

    .venv/bin/python bench/team.py                         # 2 tasks x 5 seeds, budget 20
    .venv/bin/python bench/team.py --seeds 2 --budget 12   # a quicker look
"""

from __future__ import annotations

import importlib.util
import sys


def _missing_extras() -> list[str]:
    """The bench extra's packages this script imports (FLAML's AutoML imports xgboost)."""
    return [name for name in ("flaml", "xgboost") if importlib.util.find_spec(name) is None]


# Checked before the runs start: the held-out part comes last and would end in a traceback.
if __name__ == "__main__" and _missing_extras():
    print(f"bench/team.py needs the bench extra (missing: {', '.join(_missing_extras())}): "
          "run  .venv/bin/pip install -e '.[bench]'  from the repository root")
    sys.exit(2)

import argparse  # noqa: E402 - after the extras check, so a missing extra prints one line
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from autods.agents.roles import TeamSpec  # noqa: E402
from autods.agents.run import RunOptions, start_run  # noqa: E402
from autods.examples import example_path  # noqa: E402


def _state(run_dir: Path) -> dict[str, Any]:
    from autods.server.service import Actor, Service
    from autods.state.store import Store

    store = Store.open(f"sqlite:///{run_dir / 'state.db'}")
    try:
        service, viewer = Service(store), Actor(agent_id=None, role="viewer")
        run = service.list_runs(viewer)[0]
        results = service.list_results(viewer, run.id)
        champ = service.champion(viewer, run.id)
        return {"t0": run.created_at, "values": [r.value for r in results],
                "times": [r.created_at - run.created_at for r in results],
                "durations": [r.duration_s for r in results], "champion": champ}
    finally:
        store.close()


def one_run(task: str, mode: str, seed: int, budget: int, executor: str, workers: int, runs: Path,
            finish: tuple[str, ...] = ()) -> dict[str, Any]:
    team = TeamSpec() if mode == "team" else TeamSpec.single_agent()
    options = RunOptions(team=team.as_dict(), n_resamples=0, finish=finish)
    started = time.monotonic()
    out = start_run(example_path(task), run_name=f"{mode}-{seed}", runs_dir=runs, budget=budget, seed=seed,
                    executor=executor, workers=workers, display=False, options=options)
    elapsed = time.monotonic() - started
    st = _state(out.folder.root)
    default = (out.summary["noise_floor"].get("baseline") or {}).get("default") or {}
    return {**st, "elapsed": elapsed, "floor": out.summary["noise_floor"]["value"], "dir": out.folder.root,
            "best": max(st["values"]), "exit": out.summary["exit_reason"], "default": default.get("value")}


def to_target(run: dict[str, Any], target: float) -> tuple[int | None, float | None]:
    best = -np.inf
    for k, (v, t) in enumerate(zip(run["values"], run["times"]), start=1):
        best = max(best, v)
        if best >= target:
            return k, t
    return None, None


def _median(xs: list[float | None]) -> float | None:
    kept = [x for x in xs if x is not None]
    return statistics.median(kept) if kept else None


def compare(tasks: list[str], seeds: int, budget: int, executor: str, workers: int, runs: Path) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for task in tasks:
        rows = []
        for seed in range(seeds):
            team = one_run(task, "team", seed, budget, executor, workers, runs / task,
                           finish=("validation",) if seed == 0 else ())
            single = one_run(task, "single", seed, budget, executor, workers, runs / task)
            best = max(team["best"], single["best"])
            row: dict[str, Any] = {"seed": seed, "best_team": team["best"], "best_single": single["best"],
                                   "elapsed_team": team["elapsed"], "elapsed_single": single["elapsed"]}
            default = team["default"] if team["default"] is not None else min(team["values"])
            for name, target in (("99pct", 0.99 * best), ("half_gain", default + 0.5 * (best - default))):
                for mode, run in (("team", team), ("single", single)):
                    n, t = to_target(run, target)
                    row[f"{name}_{mode}_experiments"], row[f"{name}_{mode}_seconds"] = n, t
            rows.append(row)
            print(f"  {task} seed {seed}: best team {team['best']:.4f} ({team['exit']}) single {single['best']:.4f} "
                  f"({single['exit']}); half-gain experiments team {row['half_gain_team_experiments']} "
                  f"single {row['half_gain_single_experiments']}", flush=True)
            if seed == 0:
                report.setdefault("champions", {})[task] = {"dir": str(team["dir"]),
                                                            "search_seconds": max(team["times"])}
        summary = {}
        for name in ("99pct", "half_gain"):
            for unit in ("experiments", "seconds"):
                t = _median([r[f"{name}_team_{unit}"] for r in rows])
                s = _median([r[f"{name}_single_{unit}"] for r in rows])
                reached = (sum(r[f"{name}_team_{unit}"] is not None for r in rows),
                           sum(r[f"{name}_single_{unit}"] is not None for r in rows))
                summary[f"{name}_{unit}"] = {"team": t, "single": s, "ratio": None if not t or s is None else s / t,
                                             "reached": reached}
        summary["best_team_median"] = statistics.median(r["best_team"] for r in rows)
        summary["best_single_median"] = statistics.median(r["best_single"] for r in rows)
        report[task] = {"rows": rows, "summary": summary}
    return report


def overhead(task: str, budget: int, runs: Path) -> dict[str, Any]:
    from autods.agents.steward import govern
    from autods.runfolder import RunConfig, RunFolder
    from autods.runners import default_recipe, evaluate
    from autods.tasks.load import load_task

    run = one_run(task, "team", 0, budget, "inline", 1, runs / "overhead")
    scratch = RunFolder(runs / "overhead-govern")
    scratch.save_config(RunConfig(name="g", task_dir=str(example_path(task).resolve())))
    scratch.copy_task_spec(example_path(task))
    t = time.monotonic()
    govern(example_path(task), scratch)
    govern_s = time.monotonic() - t
    loaded = load_task(example_path(task))
    bare = []
    for seed in range(3):
        t = time.monotonic()
        evaluate(loaded, default_recipe(loaded.task_type), seed=seed, n_resamples=0)
        bare.append(time.monotonic() - t)
    n = len(run["values"])
    framework = run["elapsed"] - sum(run["durations"]) - govern_s
    return {"experiments": n, "elapsed": run["elapsed"], "judge_seconds": sum(run["durations"]),
            "govern_seconds": govern_s, "overhead_per_experiment": framework / n,
            "bare_evaluate_seconds": statistics.median(bare)}


def held_out(task: str, champion_dir: Path, search_seconds: float, workers: int) -> dict[str, Any]:
    from autods.judge.bootstrap import bootstrap_ci
    from autods.reports._context import load_context
    from autods.runners import RecipeRunner, TrainingData
    from autods.runners.preprocess import column_kinds

    validation = json.loads((champion_dir / "validation.json").read_text())
    ctx = load_context(champion_dir)
    task_obj, split = ctx.task, ctx.locked_split()
    dev, test = np.asarray(split.train_idx), np.asarray(split.test_idx)
    metric = validation["metric"]
    data = TrainingData(task_obj.frame, ctx.y, task_obj.task_type, ctx.features, task_obj.spec.id_column)

    def score(pred: np.ndarray) -> dict[str, float]:
        ci = bootstrap_ci(metric, ctx.y[test], pred, n_resamples=1000, seed=0)
        return {"value": float(ci.value), "ci_low": float(ci.low), "ci_high": float(ci.high)}

    out: dict[str, Any] = {"metric": metric, "team": validation["test"], "team_family": validation["family"]}
    survival = task_obj.task_type == "survival"
    for name, family in (("default_linear", "cox" if survival else "logistic"),
                         ("default_boosting", "gb_survival" if survival else "lightgbm")):
        runner = RecipeRunner().fit(data.subset(dev), {"family": family})
        out[name] = {**score(runner.predict_score(task_obj.frame.iloc[test])), "family": family}
    if survival or task_obj.task_type != "binary":
        out["flaml"] = {"note": f"FLAML has no {task_obj.task_type} task"}
        return out
    import logging

    from flaml import AutoML

    logging.getLogger("flaml").setLevel(logging.WARNING)

    kinds = column_kinds(task_obj.frame.iloc[dev], list(ctx.features))
    cols = kinds["numeric"] + kinds["boolean"] + kinds["categorical"]
    X = task_obj.frame[cols].copy()
    for c in kinds["categorical"]:
        X[c] = X[c].astype("category")
    automl = AutoML()
    automl.fit(X.iloc[dev], ctx.y[dev], task="classification", metric="roc_auc", time_budget=max(5.0, search_seconds),
               n_jobs=workers, seed=0, verbose=0)
    out["flaml"] = {**score(automl.predict_proba(X.iloc[test])[:, 1]), "time_budget_s": search_seconds,
                    "best_estimator": automl.best_estimator}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="task-breast-cancer,task-gbsg2-survival")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=20)
    ap.add_argument("--executor", default="local")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = ap.parse_args()
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    runs = Path(tempfile.mkdtemp(prefix="autods-bench-team-"))
    print(f"team vs single agent: {tasks}, {args.seeds} seeds, budget {args.budget}, {args.executor} executor "
          f"with {args.workers} workers (runs in {runs})", flush=True)
    report = compare(tasks, args.seeds, args.budget, args.executor, args.workers, runs)
    for task in tasks:
        s = report[task]["summary"]
        print(f"\n{task}: median best team {s['best_team_median']:.4f}, single {s['best_single_median']:.4f}")
        for key, label in (("99pct", "target = 99% of the best either reaches"),
                           ("half_gain", "target = default recipe + half the best gain either finds")):
            e, w = s[f"{key}_experiments"], s[f"{key}_seconds"]
            print(f"  {label}: experiments team {e['team']} / single {e['single']} (ratio {_fmt(e['ratio'])}, "
                  f"reached {e['reached'][0]}/{e['reached'][1]} seeds); wall-clock team {_fmt(w['team'])} s / "
                  f"single {_fmt(w['single'])} s (ratio {_fmt(w['ratio'])})")
        if not (s["half_gain_experiments"]["ratio"] or 0) > 1:
            print("  the team did NOT reach the half-gain target in fewer experiments than the single agent here")
    oh = overhead(tasks[0], 10, runs)
    report["overhead"] = oh
    print(f"\noverhead ({tasks[0]}, inline team run, {oh['experiments']} experiments): "
          f"{oh['overhead_per_experiment']:.2f} s per experiment outside the judge "
          f"(bare evaluate of the default recipe {oh['bare_evaluate_seconds']:.2f} s; governance once "
          f"{oh['govern_seconds']:.1f} s)")
    print("\nheld-out test (scored once for the team; baselines fitted on the same development rows):")
    report["held_out"] = {}
    for task, info in report.get("champions", {}).items():
        h = held_out(task, Path(info["dir"]), info["search_seconds"], args.workers)
        report["held_out"][task] = h
        line = [f"team ({h['team_family']}) {_ci(h['team'])}"]
        line += [f"{k} ({h[k]['family']}) {_ci(h[k])}" for k in ("default_linear", "default_boosting")]
        line.append(f"FLAML {_ci(h['flaml'])}" if "value" in h["flaml"] else h["flaml"]["note"])
        print(f"  {task} {h['metric']}: " + "; ".join(line))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str))


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _ci(d: dict[str, Any]) -> str:
    if d.get("value") is None:
        return "n/a"
    return f"{d['value']:.4f} ({d['ci_low']:.4f}-{d['ci_high']:.4f})"


if __name__ == "__main__":
    main()
