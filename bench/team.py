"""The agent team against a single agent on the cohorts of bench/quality.py (issue 14, deliverable 5).

Cohorts: bench/_quality_cohorts.py, each with bench/quality.py's fixed development / held-out
split; only the development rows are written to the task folder both systems run on (the
held-out rows are never read here). Default: the 8 smallest cohorts (all four task kinds).

Systems, same task, seed, budget (an experiment budget counting every recorded result,
baseline included), expert brain and executor:
  team    TeamSpec(): 3 analysts, a feature agent, 6 experiment agents, critique, the
          hypothesis graph's verdicts and dead ends, a monitor;
  single  TeamSpec.single_agent(): one proposer, one experiment agent (sequential), a
          rubber-stamp critique, no relations, no validator dead-end rule (a CUT verdict it
          gives its own idea still registers as a dead end: the graph's memory of its own cut).

Two starts per cohort and seed:
  default the baseline runs the default recipe (experiments to target, wasted share);
  strong  the baseline runs the strongest single recipe of the portfolio on that cohort,
          picked on the development rows by a quick CV (bench/_team_start.py), through
          ``RunOptions.start_recipe``: it measures the noise floor and is the first champion
          (accepted improvements, wasted share).

Figures (definitions in bench/_team_measures.py, printed with each figure): experiments to
target (single / team, target >= 2.0), wasted share (target <= 10%), accepted improvements
from the strong start (target: the team finds >= 1 on half of the cohorts). Medians over seeds.

    .venv/bin/python bench/team.py                                     # 8 cohorts x 5 seeds, budget 20
    nice -n 10 .venv/bin/python bench/team.py --seeds 2 --budget 12 --workdir /tmp/bt   # reduced
    .venv/bin/python bench/team.py --summarise /tmp/bt/rows.jsonl      # figures of finished runs
"""

from __future__ import annotations

import importlib.util
import sys

#: cohorts whose loader needs SurvSet (the dev extra)
SURVSET_COHORTS = ("support2-180d", "prostate")


def missing_extras(cohorts: list[str]) -> list[str]:
    """Packages the chosen cohorts need that are not installed."""
    if any(c in SURVSET_COHORTS for c in cohorts) and importlib.util.find_spec("SurvSet") is None:
        return ["SurvSet"]
    return []


import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))  # the gauntlet's cohort loaders

DEFAULT_COHORTS = ("iris", "wine", "veterans", "diabetes", "whas500", "wdbc", "gbsg2", "aids")
SYSTEMS = ("team", "single")
STARTS = ("default", "strong")


def _key(row: dict[str, Any]) -> str:
    return f"{row['cohort']}-{row['start']}-{row['system']}-{row['seed']}"


def prepare(cohort_name: str, work: Path, budget: int, strong: bool) -> tuple[Path, dict[str, Any] | None]:
    """The cohort's task folder (development rows only) and, for the strong start, its pick."""
    import pandas as pd
    from _quality_cohorts import COHORTS
    from _team_start import pick_start
    from quality import split, write_task

    cohort = next(c for c in COHORTS if c.name == cohort_name)
    task = work / "tasks" / cohort.name
    if not (task / "TASK.md").is_file():
        staging = work / "staging" / cohort.name
        cohort.load(staging).to_csv(staging / "full.csv", index=False)
        frame = pd.read_csv(staging / "full.csv")
        dev, _ = split(cohort, frame)
        write_task(task, cohort, frame.iloc[dev].reset_index(drop=True), budget)
    start = pick_start(task, cohort.task_type, work / "start" / f"{cohort.name}.json") if strong else None
    return task, start


def one_run(task: Path, cohort: str, system: str, start: str, seed: int, budget: int, executor: str,
            workers: int, runs: Path, start_recipe: dict[str, Any] | None) -> dict[str, Any]:
    from _team_measures import accepted, best_value, records_from_state, search_results, wasted

    from autods.agents.roles import TeamSpec
    from autods.agents.run import RunOptions, start_run
    from autods.errors import AutodsError

    team = TeamSpec() if system == "team" else TeamSpec.single_agent()
    options = RunOptions(team=team.as_dict(), n_resamples=0, finish=(), start_recipe=start_recipe)
    row: dict[str, Any] = {"cohort": cohort, "system": system, "start": start, "seed": seed, "budget": budget,
                           "start_recipe": start_recipe}
    started = time.monotonic()
    try:
        out = start_run(task, run_name=_key(row), runs_dir=runs, budget=budget, seed=seed, executor=executor,
                        workers=workers, display=False, options=options)
    except AutodsError as err:  # InternalError is not an AutodsError: a crash of the product stops the bench
        return {**row, "error": f"{type(err).__name__}: {err}"[:500], "elapsed": time.monotonic() - started}
    row["elapsed"] = round(time.monotonic() - started, 1)
    records = records_from_state(out.folder.root)
    default = (out.summary["noise_floor"].get("baseline") or {}).get("default") or {}
    records["start_hash"] = default.get("recipe_hash")
    records["floor"] = out.summary["noise_floor"].get("value")
    row.update({"dir": str(out.folder.root), "exit": out.summary.get("exit_reason"), "floor": records["floor"],
                "default": default.get("value"), "higher_is_better": records["higher_is_better"],
                "values": [r["value"] for r in search_results(records)], "best": best_value(records),
                "wasted": wasted(records), "accepted": accepted(records), "counts": records["counts"]})
    return row


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "n/a" if x is None else format(x, spec)


def to_target_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Experiments to target per cohort and overall, from the default-start rows."""
    from _team_measures import experiments_to_target, target_value

    by = {(r["cohort"], r["seed"], r["system"]): r for r in rows if r["start"] == "default" and "error" not in r}
    per: dict[str, dict[str, Any]] = {}
    for cohort in sorted({c for c, _, _ in by}):
        pairs = []
        for seed in sorted({s for c, s, _ in by if c == cohort}):
            team, single = by.get((cohort, seed, "team")), by.get((cohort, seed, "single"))
            if team is None or single is None or team["default"] is None:
                continue
            hib = team["higher_is_better"]
            bests = [b for b in (team["best"], single["best"]) if b is not None]
            target = target_value(team["default"], bests, hib)
            if target is None:
                pairs.append({"seed": seed, "target": None})
                continue
            recs = {s: {"results": [{"id": k, "created_at": k, "value": v} for k, v in enumerate(r["values"])],
                        "higher_is_better": hib} for s, r in (("team", team), ("single", single))}
            (nt, rt), (ns, rs) = experiments_to_target(recs["team"], target), experiments_to_target(recs["single"], target)
            pairs.append({"seed": seed, "target": target, "team": nt, "single": ns, "reached": (rt, rs)})
        scored = [p for p in pairs if p["target"] is not None]
        mt, ms = _median([p["team"] for p in scored]), _median([p["single"] for p in scored])
        per[cohort] = {"pairs": pairs, "team": mt, "single": ms,
                       "ratio": ms / mt if mt and ms is not None else None}
    ratios = [v["ratio"] for v in per.values() if v["ratio"] is not None]
    return {"cohorts": per, "median_ratio": _median(ratios), "n_cohorts": len(ratios)}


def waste_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for system in SYSTEMS:
        mine = [r for r in rows if r["system"] == system and "error" not in r]
        search = sum(r["wasted"]["search"] for r in mine)
        wasted_n = sum(r["wasted"]["wasted"] for r in mine)
        by_rule: dict[str, int] = {}
        for r in mine:
            for k, v in r["wasted"]["by_rule"].items():
                by_rule[k] = by_rule.get(k, 0) + v
        shares = [r["wasted"]["share"] for r in mine if r["wasted"]["share"] is not None]
        counts: dict[str, int] = {}
        for r in mine:
            for k, v in (r.get("counts") or {}).items():
                counts[k] = counts.get(k, 0) + v
        out[system] = {"runs": len(mine), "search": search, "wasted": wasted_n, "state": counts,
                       "pooled_share": wasted_n / search if search else None, "median_share": _median(shares),
                       "by_rule": by_rule}
    return out


def accepted_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accepted improvements from the strong start: per cohort and system, the seeds with >= 1."""
    strong = [r for r in rows if r["start"] == "strong" and "error" not in r]
    per: dict[str, dict[str, Any]] = {}
    for cohort in sorted({r["cohort"] for r in strong}):
        per[cohort] = {}
        for system in SYSTEMS:
            mine = [r for r in strong if r["cohort"] == cohort and r["system"] == system]
            counts = [r["accepted"]["accepted"] for r in mine]
            per[cohort][system] = {"seeds": len(mine), "with_one": sum(c >= 1 for c in counts),
                                   "changes": sum(r["accepted"].get("changes", 0) for r in mine),
                                   "median": _median(counts), "first_is_start": sum(r["accepted"]["first_is_start"]
                                                                                    for r in mine),
                                   "families": sorted({r["accepted"]["final_family"] or "none" for r in mine})}
    found = {s: [c for c, v in per.items() if v[s]["seeds"] and 2 * v[s]["with_one"] >= v[s]["seeds"]]
             for s in SYSTEMS}
    return {"cohorts": per, "found": found, "n_cohorts": len(per)}


def wall_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Wall time per run: for each cohort, start and seed run by both systems, single / team
    (both alternate in this process, so load affects them alike); medians over those pairs."""
    by = {(r["cohort"], r["start"], r["seed"], r["system"]): r["elapsed"] for r in rows
          if "error" not in r and r.get("elapsed")}
    pairs = [(by[(c, st, s, "team")], by[(c, st, s, "single")]) for c, st, s, sys_ in by
             if sys_ == "team" and (c, st, s, "single") in by]
    return {"pairs": len(pairs), "median_ratio": _median([b / a for a, b in pairs]),
            "team_median_s": _median([a for a, _ in pairs]), "single_median_s": _median([b for _, b in pairs])}


def refresh(row: dict[str, Any]) -> dict[str, Any]:
    """Recompute a row's wasted share and accepted improvements from its run's state DB when the
    run folder is still there (the definitions may have changed since the run)."""
    from _team_measures import accepted, records_from_state, wasted

    folder = Path(row.get("dir") or "")
    if "error" in row or not (folder / "state.db").is_file():
        return row
    records = records_from_state(folder)
    floor = json.loads((folder / "run_summary.json").read_text()).get("noise_floor") or {}
    records["start_hash"] = ((floor.get("baseline") or {}).get("default") or {}).get("recipe_hash")
    records["floor"] = floor.get("value")
    return {**row, "wasted": wasted(records), "accepted": accepted(records)}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    from _team_measures import ACCEPTED_DEFINITION, TARGET_DEFINITION, WASTED_DEFINITION

    rows = [refresh(r) for r in rows]
    errors = [f"{_key(r)}: {r['error']}" for r in rows if "error" in r]
    tt, ws, ac = to_target_rows(rows), waste_rows(rows), accepted_rows(rows)
    print(f"\n== Experiments to target (default start). {TARGET_DEFINITION}. Ratio = median over seeds of the "
          "single agent's count / the team's; overall = median of the cohorts' ratios (target >= 2.0).")
    for cohort, v in tt["cohorts"].items():
        seeds = "; ".join(f"seed {p['seed']}: " + ("no gain, no target" if p["target"] is None else
                          f"target {p['target']:.4f}, team {p['team']}{'' if p['reached'][0] else ' (not reached)'}"
                          f" single {p['single']}{'' if p['reached'][1] else ' (not reached)'}") for p in v["pairs"])
        print(f"  {cohort}: team {_fmt(v['team'], '.1f')}, single {_fmt(v['single'], '.1f')}, "
              f"ratio {_fmt(v['ratio'])} ({seeds})")
    print(f"  overall: median ratio {_fmt(tt['median_ratio'])} over {tt['n_cohorts']} cohorts with a target")
    print(f"\n== Wasted share (both starts, every run). {WASTED_DEFINITION}. Pooled = wasted / search "
          "experiments over all runs of the system; median = median of the runs' shares (target <= 10%).")
    for system, v in ws.items():
        print(f"  {system}: pooled {_fmt(v['pooled_share'], '.1%')} ({v['wasted']}/{v['search']} search "
              f"experiments, {v['runs']} runs), median {_fmt(v['median_share'], '.1%')}; by rule {v['by_rule']}; "
              f"what the rules could see, summed over the runs: {v['state']}")
    print(f"\n== Accepted improvements from the strong start. {ACCEPTED_DEFINITION}. A cohort counts for a "
          "system when at least half of its seeds had >= 1 (target: the team on half of the cohorts).")
    for cohort, v in ac["cohorts"].items():
        print("  " + cohort + ": " + "; ".join(
            f"{s} >=1 on {v[s]['with_one']}/{v[s]['seeds']} seeds (median {_fmt(v[s]['median'], '.1f')}, "
            f"champion changes {v[s]['changes']}, first "
            f"champion = start recipe on {v[s]['first_is_start']}, final {','.join(v[s]['families'])})"
            for s in SYSTEMS))
    for s in SYSTEMS:
        print(f"  {s}: {len(ac['found'][s])}/{ac['n_cohorts']} cohorts {ac['found'][s]}")
    wall = wall_rows(rows)
    print(f"\n== Wall time per run (same budget, same local executor; no target). Ratio = median over the "
          f"{wall['pairs']} (cohort, start, seed) pairs of single / team: {_fmt(wall['median_ratio'])}; median run "
          f"{_fmt(wall['team_median_s'], '.1f')} s team, {_fmt(wall['single_median_s'], '.1f')} s single")
    if errors:
        print("\nruns that failed: " + "; ".join(errors))
    return {"to_target": tt, "wasted": ws, "accepted": ac, "wall": wall, "errors": errors}


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohorts", default=",".join(DEFAULT_COHORTS), help="comma-separated, or 'all'")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=20)
    ap.add_argument("--starts", default=",".join(STARTS), help="default, strong or both")
    ap.add_argument("--executor", default="local")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=None, help="task, run and rows files; a re-run resumes")
    ap.add_argument("--summarise", type=Path, default=None, help="only print the figures of this rows.jsonl")
    args = ap.parse_args()
    if args.summarise:
        summarise(read_rows(args.summarise))
        return
    from _quality_cohorts import COHORTS

    cohorts = [c.name for c in COHORTS] if args.cohorts == "all" else [c.strip() for c in args.cohorts.split(",")]
    unknown = sorted(set(cohorts) - {c.name for c in COHORTS})
    if unknown:
        print(f"unknown cohorts {unknown}: choose from {[c.name for c in COHORTS]}")
        sys.exit(2)
    if missing_extras(cohorts):
        print(f"bench/team.py needs the dev extra for cohorts {', '.join(SURVSET_COHORTS)} (missing: "
              f"{', '.join(missing_extras(cohorts))}): run  .venv/bin/pip install -e '.[dev]'  from the repository root")
        sys.exit(2)
    starts = [s.strip() for s in args.starts.split(",") if s.strip()]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="autods-bench-team-"))
    work.mkdir(parents=True, exist_ok=True)
    rows_path = work / "rows.jsonl"
    commit = subprocess.run(["git", "-C", str(ROOT), "log", "--oneline", "-1"], capture_output=True,
                            text=True).stdout.strip()
    # others commit while a long run goes on: say which tree the runs started from
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], capture_output=True,
                           text=True).stdout.split("\n")
    dirty = [line[3:] for line in dirty if line.strip()]
    print(f"team vs single agent on {cohorts}: {args.seeds} seeds, budget {args.budget}, starts {starts}, "
          f"{args.executor} executor with {args.workers} workers; commit {commit}"
          f"{f' plus uncommitted changes to {len(dirty)} src files' if dirty else ''}; rows in {rows_path}", flush=True)
    done = {_key(r) for r in read_rows(rows_path)}
    for seed in range(args.seeds):
        for cohort in cohorts:
            task, pick = prepare(cohort, work, args.budget, "strong" in starts)
            if seed == 0 and pick is not None:
                print(f"  {cohort}: strong start {json.dumps(pick['recipe'])} (quick CV {pick['metric']} "
                      f"{pick['value']:.4f}, {len(pick['candidates'])} candidates, {pick['seconds']} s)", flush=True)
            for start in starts:
                for system in SYSTEMS:
                    key = f"{cohort}-{start}-{system}-{seed}"
                    if key in done:
                        continue
                    row = one_run(task, cohort, system, start, seed, args.budget, args.executor, args.workers,
                                  work / "runs", pick["recipe"] if start == "strong" and pick else None)
                    row["commit"] = commit
                    with rows_path.open("a") as fh:
                        fh.write(json.dumps(row, default=str) + "\n")
                    w = row.get("wasted") or {}
                    print(f"  {key}: {row.get('error') or ''}best {_fmt(row.get('best'), '.4f')} (default "
                          f"{_fmt(row.get('default'), '.4f')}), {w.get('search')} search experiments, "
                          f"{w.get('wasted')} wasted, {(row.get('accepted') or {}).get('accepted')} accepted, "
                          f"{row.get('exit')}, {row['elapsed']} s", flush=True)
    report = summarise(read_rows(rows_path))
    (work / "figures.json").write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
