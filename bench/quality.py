"""The team's champion against peers on public cohorts, scored on rows nobody but the scorer sees
(issue 12, deliverable 8).

For each cohort (shipped offline inside a package; several loaders are the gauntlet's own,
imported from ``tests/gauntlet``) one seeded development / held-out split is drawn (stratified
on the label, or on the event for survival). Only the development rows are written to a task
folder (TASK.md, LAUNCH.md with ``exit_condition: {budget: N}``, a CSV) and run through the
default ``autods run`` (local executor, expert brain); the champion comes back through
``autods.load_model`` and is scored once on the held-out rows with ``autods.judge.metrics``.
The run's own internal held-out split lies inside the development rows.

Peers are fitted on the same development rows and scored on the same held-out rows: default
logistic / ridge / Cox (sksurv ``CoxPHSurvivalAnalysis``) after one simple preprocessing
(median / mode imputation, scaling, one-hot), default LightGBM (survival: sksurv's default
gradient-boosted Cox, as LightGBM has no survival objective), a random survival forest, FLAML
(60 s) and AutoGluon ``medium_quality`` (120 s). FLAML and AutoGluon have no survival task and
are skipped there.

Noise: a paired bootstrap of the held-out rows (the judge's ``bootstrap_replicates``, the same
seed gives the champion and the default model identical resamples); the champion beats (loses
to) the default model "by more than the noise" when the 95% percentile interval of the
difference lies wholly above (below) zero. The default model is the default linear peer.

    .venv/bin/python bench/quality.py --quick                     # 3 small cohorts, short budgets
    .venv/bin/python bench/quality.py                             # all cohorts, budget 12
    .venv/bin/python bench/quality.py --cohorts wdbc,gbsg2 --budget 8
    .venv/bin/python bench/quality.py --combine a.json,b.json     # merge runs made side by side
"""

from __future__ import annotations

import importlib.util
import sys

# AutoGluon, FLAML and xgboost come with the bench extra; say so instead of a traceback.
_EXTRAS = ("flaml", "xgboost", "autogluon.tabular", "lightgbm", "sksurv")


def _missing_extras() -> list[str]:
    missing = []
    for name in _EXTRAS:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # the parent package (autogluon) is absent
            found = False
        if not found:
            missing.append(name)
    return missing


if __name__ == "__main__" and _missing_extras():
    print(f"bench/quality.py needs the bench extra (missing: {', '.join(_missing_extras())}): "
          "run  .venv/bin/pip install -e '.[bench]'  from the repository root")
    sys.exit(2)

import argparse  # noqa: E402 - after the extras check, so a missing extra prints one line
import json  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))  # the gauntlet's cohort loaders

from _quality_cohorts import COHORTS, QUICK, Cohort  # noqa: E402
from _quality_peers import fit_peers  # noqa: E402

from autods.judge.bootstrap import bootstrap_replicates  # noqa: E402
from autods.judge.metrics import compute_metric  # noqa: E402
from autods.judge.score import METRICS, PRIMARY_METRIC  # noqa: E402

SPLIT_SEED = 20261203
TEST_FRACTION = 0.25
N_RESAMPLES = 1000


def split(cohort: Cohort, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """One fixed development / held-out split (stratified on the label, or on the event)."""
    from sklearn.model_selection import train_test_split

    strat = {"binary": cohort.endpoint, "multiclass": cohort.endpoint,
             "survival": cohort.event}.get(cohort.task_type)
    idx = np.arange(len(frame))
    dev, test = train_test_split(idx, test_size=TEST_FRACTION, random_state=SPLIT_SEED,
                                 stratify=None if strat is None else frame[strat])
    return np.sort(dev), np.sort(test)


def write_task(folder: Path, cohort: Cohort, dev: pd.DataFrame, budget: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    dev.to_csv(folder / "data" / "dev.csv", index=False)
    keys: dict[str, Any] = {"name": cohort.name, "task_type": cohort.task_type}
    if cohort.task_type == "survival":
        keys["endpoint"] = {"time": cohort.time, "event": cohort.event}
    else:
        keys["endpoint"] = cohort.endpoint
    if cohort.positive is not None:
        keys["positive_class"] = cohort.positive
    keys["data"] = "data/dev.csv"
    front = yaml.safe_dump(keys, sort_keys=False, default_flow_style=None).strip()
    (folder / "TASK.md").write_text(f"---\n{front}\n---\n{cohort.description}\n", encoding="utf-8")
    launch = yaml.safe_dump({"exit_condition": {"budget": budget}}, default_flow_style=None).strip()
    (folder / "LAUNCH.md").write_text(f"---\n{launch}\n---\nbench/quality.py: default run, budget {budget}.\n",
                                      encoding="utf-8")
    return folder


def run_champion(task: Path, runs: Path, name: str, log: Path) -> tuple[Path | None, float, str | None]:
    """The default ``autods run`` in its own process (a product crash is a finding, not ours)."""
    if (runs / name / "champion" / "model.joblib").is_file():  # a re-run in the same --workdir resumes
        return runs / name, 0.0, None
    autods = Path(sys.executable).parent / "autods"
    cmd = [str(autods), "run", str(task), "--runs-dir", str(runs), "--run-name", name, "--quiet"]
    started = time.monotonic()
    with log.open("w") as fh:
        code = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - started
    if code != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        return None, elapsed, f"`{' '.join(cmd)}` exit {code}: {' | '.join(tail)}"
    return runs / name, elapsed, None


def truth(cohort: Cohort, test: pd.DataFrame) -> Any:
    if cohort.task_type == "survival":
        from sksurv.util import Surv

        return Surv.from_arrays(test[cohort.event].astype(bool).to_numpy(), test[cohort.time].astype(float).to_numpy())
    y = test[cohort.endpoint]
    if cohort.task_type == "binary":
        return (y == cohort.positive).astype(int).to_numpy()
    return y.to_numpy()


def champion_predictions(cohort: Cohort, run_dir: Path, test: pd.DataFrame) -> tuple[np.ndarray, dict[str, Any]]:
    import autods

    model = autods.load_model(run_dir)
    raw = test.drop(columns=[c for c in cohort.outcome_columns if c in test.columns])
    if cohort.task_type == "binary":
        pred = model.predict_proba(raw)[:, 1]  # [1 - p, p], p = P(positive class)
    elif cohort.task_type == "multiclass":
        # labels come back as an object array; give them the held-out labels' dtype
        pred = np.asarray(model.predict(raw)).astype(test[cohort.endpoint].dtype)
    else:
        pred = np.asarray(model.predict(raw), dtype=float)
    return pred, {"family": model.recipe_.get("family"), "experiment": model.experiment_id_}


def refit_on_all_dev(cohort: Cohort, run_dir: Path, dev: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Diagnostic, not the product's output: the champion's recipe and inputs refitted on all the
    development rows (the saved champion is fitted on the run's internal training part only, 80% of
    them), so the table separates what the search chose from how many rows it was fitted on."""
    import autods
    from autods.runners import RecipeRunner, TrainingData

    model = autods.load_model(run_dir)
    features = tuple(model.feature_names_in_)
    y = truth(cohort, dev)
    if cohort.task_type == "multiclass":
        y = dev[cohort.endpoint].to_numpy()
    runner = RecipeRunner().fit(TrainingData(dev[list(features)], y, cohort.task_type, features), model.recipe_)
    score = np.asarray(runner.predict_score(test[list(features)]))
    if cohort.task_type == "multiclass":
        return np.asarray(runner.classes_)[np.argmax(score, axis=1)].astype(test[cohort.endpoint].dtype)
    return score


def add_refit(results: Path) -> None:
    """Add the refit diagnostic to the rows of an earlier run (its --workdir must still exist)."""
    report = json.loads(results.read_text())
    work = Path(report["workdir"])
    by_name = {c.name: c for c in COHORTS}
    for row in report["rows"]:
        cohort = by_name[row["cohort"]]
        if "champion" not in row["values"]:
            continue
        frame = pd.read_csv(work / "staging" / cohort.name / "full.csv")
        dev_idx, test_idx = split(cohort, frame)
        dev, test = frame.iloc[dev_idx].reset_index(drop=True), frame.iloc[test_idx].reset_index(drop=True)
        pred = refit_on_all_dev(cohort, work / "runs" / cohort.name, dev, test)
        row["champion_refit_all_dev"] = compute_metric(row["metric"], truth(cohort, test), pred)
        print(f"{cohort.name}: champion {row['values']['champion']:.4f}, its recipe refitted on all development "
              f"rows {row['champion_refit_all_dev']:.4f}, default {row['values']['default']:.4f}", flush=True)
    results.write_text(json.dumps(report, indent=2, default=str))


def paired_noise(metric: str, y: Any, champ: np.ndarray, default: np.ndarray) -> dict[str, float]:
    """95% percentile interval of champion - default over identical bootstrap resamples of the held-out rows."""
    a = bootstrap_replicates(metric, y, champ, n_resamples=N_RESAMPLES, seed=0)
    b = bootstrap_replicates(metric, y, default, n_resamples=N_RESAMPLES, seed=0)
    d = a - b
    d = d[np.isfinite(d)]
    if not METRICS[metric]:
        d = -d  # positive = champion better, whatever the metric's direction
    low, high = np.percentile(d, [2.5, 97.5])
    return {"diff_low": float(low), "diff_high": float(high), "n_resamples": int(d.size)}


def ratio(metric: str, champ: float, best: float) -> float:
    return champ / best if METRICS[metric] else best / champ


def one_cohort(cohort: Cohort, budget: int, quick: bool, work: Path) -> dict[str, Any]:
    staging = work / "staging" / cohort.name
    # through CSV first, so the peers' rows have the dtypes the team's run reads from its file
    cohort.load(staging).to_csv(staging / "full.csv", index=False)
    frame = pd.read_csv(staging / "full.csv")
    dev_idx, test_idx = split(cohort, frame)
    dev, test = frame.iloc[dev_idx].reset_index(drop=True), frame.iloc[test_idx].reset_index(drop=True)
    metric = PRIMARY_METRIC[cohort.task_type]
    y_test = truth(cohort, test)
    out: dict[str, Any] = {"cohort": cohort.name, "source": cohort.source, "task_type": cohort.task_type,
                           "metric": metric, "units": len(frame), "dev_units": len(dev), "test_units": len(test),
                           "features": len(frame.columns) - len(cohort.outcome_columns), "budget": budget}
    # the product moves while a long run goes on (others commit): each cohort records the tree it ran on
    out["commit"], out["src_uncommitted"] = git_commit(), uncommitted_src()
    task = write_task(work / "tasks" / cohort.name, cohort, dev, budget)
    run_dir, elapsed, error = run_champion(task, work / "runs", cohort.name, work / f"{cohort.name}.log")
    out["champion_seconds"] = round(elapsed, 1)
    preds: dict[str, np.ndarray] = {}
    if error is None:
        try:
            preds["champion"], out["champion_info"] = champion_predictions(cohort, run_dir, test)
        except (OSError, ValueError, KeyError) as err:  # a champion that cannot score raw rows is a finding
            error = f"load_model/predict failed: {type(err).__name__}: {err}"
    out["champion_error"] = error
    peers, notes, seconds = fit_peers(cohort, dev, test, quick=quick, workdir=work / "peers" / cohort.name)
    preds.update(peers)
    out["peer_notes"], out["peer_seconds"] = notes, seconds
    out["values"] = {k: compute_metric(metric, y_test, p) for k, p in preds.items()}
    if "champion" in preds:
        out["champion_refit_all_dev"] = compute_metric(metric, y_test, refit_on_all_dev(cohort, run_dir, dev, test))
    peer_values = {k: v for k, v in out["values"].items() if k != "champion"}
    higher = METRICS[metric]
    best_peer = (max if higher else min)(peer_values, key=peer_values.get)
    out["best_peer"] = best_peer
    if "champion" in preds:
        out["ratio"] = ratio(metric, out["values"]["champion"], peer_values[best_peer])
        noise = paired_noise(metric, y_test, preds["champion"], preds["default"])
        out["vs_default"] = {**noise, "beats": noise["diff_low"] > 0, "loses": noise["diff_high"] < 0}
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    scored = [r for r in rows if "ratio" in r]
    ratios = [r["ratio"] for r in scored]
    beats = sum(r["vs_default"]["beats"] for r in scored)
    loses = [r["cohort"] for r in scored if r["vs_default"]["loses"]]
    mean = float(np.mean(ratios)) if ratios else float("nan")
    low = [r["cohort"] for r in scored if r["ratio"] < 0.98]
    failed = [r["cohort"] for r in rows if "ratio" not in r]
    return {"cohorts": len(rows), "scored": len(scored), "failed": failed, "mean_ratio": mean,
            "min_ratio": min(ratios) if ratios else None, "below_0_98": low, "beats_default": beats,
            "loses_to_default": loses,
            "targets": {"mean_ratio_ge_1": bool(mean >= 1.0), "no_cohort_below_0_98": not low and not failed,
                        "beats_default_on_a_third": beats * 3 >= len(rows),
                        "loses_to_default_on_none": not loses}}


def print_row(r: dict[str, Any]) -> None:
    v = r["values"]
    peers = ", ".join(f"{k} {x:.4f}" for k, x in v.items() if k != "champion")
    if "champion" in v:
        vd = r["vs_default"]
        verdict = "beats" if vd["beats"] else "loses to" if vd["loses"] else "ties"
        print(f"{r['cohort']} ({r['task_type']}, n={r['units']}, {r['metric']}): champion "
              f"{v['champion']:.4f} [{r['champion_info']['family']}, {r['champion_seconds']:.0f} s]; {peers}; "
              f"ratio to best peer ({r['best_peer']}) {r['ratio']:.3f}; {verdict} default "
              f"(paired 95% CI of difference {vd['diff_low']:+.4f} to {vd['diff_high']:+.4f})", flush=True)
    else:
        print(f"{r['cohort']}: CHAMPION FAILED: {r['champion_error']}; {peers}", flush=True)
    for note in r["peer_notes"]:
        print(f"    note: {note}", flush=True)


PEERS = ("default", "lightgbm", "rsf", "flaml", "autogluon")


def print_table(rows: list[dict[str, Any]]) -> None:
    """The Markdown table docs/benchmarks.md carries."""
    print("\n| cohort | kind | units | metric | champion (family) | " + " | ".join(PEERS)
          + " | ratio to best peer | vs default (paired 95% CI) | champion recipe refitted on all dev rows |")
    print("|---" * (8 + len(PEERS)) + "|")
    for r in rows:
        v = r["values"]
        peers = " | ".join(f"{v[p]:.4f}" if p in v else "—" for p in PEERS)
        if "champion" in v:
            vd = r["vs_default"]
            verdict = "beats" if vd["beats"] else "loses" if vd["loses"] else "ties"
            champ = f"{v['champion']:.4f} ({r['champion_info']['family']})"
            tail = f"{r['ratio']:.3f} ({r['best_peer']}) | {verdict} ({vd['diff_low']:+.4f}, {vd['diff_high']:+.4f})"
        else:
            champ, tail = "failed", "— | —"
        refit = f"{r['champion_refit_all_dev']:.4f}" if "champion_refit_all_dev" in r else "—"
        print(f"| {r['cohort']} | {r['task_type']} | {r['units']:,} | {r['metric']} | {champ} | {peers} | {tail} "
              f"| {refit} |")


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def git_commit() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip()


def uncommitted_src() -> list[str]:
    out = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], capture_output=True, text=True)
    return [line[3:] for line in out.stdout.splitlines()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohorts", default=None, help="comma-separated cohort names (default: all)")
    ap.add_argument("--budget", type=int, default=None, help="autods exit_condition budget (default 12; --quick 4)")
    ap.add_argument("--quick", action="store_true", help=f"{', '.join(QUICK)}; peers with short time budgets")
    ap.add_argument("--workdir", type=Path, default=None, help="task and run folders (default: a new /tmp dir); "
                    "a finished run found there is reused")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quality.json")
    ap.add_argument("--combine", default=None, metavar="A.json,B.json",
                    help="no runs: merge the rows of earlier result files (in order, a later cohort entry wins), "
                         "write them to --out and print the table and targets")
    ap.add_argument("--add-refit", type=Path, default=None, metavar="RESULTS.json",
                    help="no runs: add the diagnostic 'champion recipe refitted on all development rows' to an "
                         "earlier result file (its --workdir must still exist)")
    args = ap.parse_args()
    if args.add_refit:
        add_refit(args.add_refit)
        return
    if args.combine:
        combine([Path(p) for p in args.combine.split(",")], args.out)
        return
    by_name = {c.name: c for c in COHORTS}
    names = args.cohorts.split(",") if args.cohorts else list(QUICK) if args.quick else list(by_name)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        ap.error(f"unknown cohort(s) {unknown}; known: {', '.join(by_name)}")
    budget = args.budget or (4 if args.quick else 12)
    work = args.workdir or Path(f"/tmp/autods-quality-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}")
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"command": " ".join(["bench/quality.py", *sys.argv[1:]]), "commit": git_commit(),
                              "started": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", "budget": budget,
                              "quick": args.quick, "split_seed": SPLIT_SEED, "test_fraction": TEST_FRACTION,
                              "workdir": str(work), "rows": []}
    print(f"quality vs peers: {len(names)} cohorts, autods budget {budget}, commit {report['commit'][:10]}, "
          f"work in {work}", flush=True)
    for name in names:
        row = one_cohort(by_name[name], budget, args.quick, work)
        report["rows"].append(row)
        print_row(row)
        report["summary"] = summarise(report["rows"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=str))  # after each cohort: a long run keeps its part
    finish(report, args.out)


def combine(files: list[Path], out: Path) -> None:
    """Rows of several result files (e.g. the small and the large cohorts run side by side) as one report."""
    parts = [json.loads(f.read_text()) for f in files]
    rows: dict[str, dict[str, Any]] = {}
    for part in parts:
        rows.update({r["cohort"]: r for r in part["rows"]})
    order = [c.name for c in COHORTS]
    merged = sorted(rows.values(), key=lambda r: order.index(r["cohort"]) if r["cohort"] in order else len(order))
    report = {"combined_from": [{"file": str(f), "command": p["command"], "commit": p["commit"],
                                 "started": p["started"]} for f, p in zip(files, parts)],
              "budget": sorted({p["budget"] for p in parts}), "rows": merged, "summary": summarise(merged)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    for r in merged:
        print_row(r)
    finish(report, out)


def finish(report: dict[str, Any], out: Path) -> None:
    print_table(report["rows"])
    s = report["summary"]
    t = s["targets"]
    print(f"\nmean ratio to the best peer {s['mean_ratio']:.3f} over {s['scored']} cohorts (min {_fmt(s['min_ratio'])}); "
          f"below 0.98: {s['below_0_98'] or 'none'}; champion failed: {s['failed'] or 'none'}")
    print(f"champion beats the default model by more than the noise on {s['beats_default']} of {s['cohorts']}, "
          f"loses by more on {s['loses_to_default'] or 'none'}")
    for key, label in (("mean_ratio_ge_1", "mean ratio >= 1.00"), ("no_cohort_below_0_98", "no cohort below 0.98"),
                       ("beats_default_on_a_third", "beats default beyond noise on >= 1/3"),
                       ("loses_to_default_on_none", "loses to default beyond noise on none")):
        print(f"  target {label}: {'met' if t[key] else 'NOT met'}")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
