"""bench/team.py's figures on synthetic records (wasted share, experiments to target, accepted
improvements), and ``RunOptions.start_recipe`` through ``start_run``: the baseline runs the
start recipe, which becomes the first champion."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import _team_measures as m  # noqa: E402


def _r(i: int, family: str, value: float, t: float, *, seed: int = 0, h: str | None = None, idea: int | None = None,
       queued: float | None = None, baseline: bool = False) -> dict[str, Any]:
    return {"id": i, "proposal_id": idea or 100 + i, "recipe": {"family": family, "params": {}}, "family": family,
            "recipe_hash": h or f"h{i}", "seed": seed, "value": value, "created_at": t,
            "item_created_at": t - 0.5 if queued is None else queued, "baseline": baseline}


def _records() -> dict[str, Any]:
    results = [
        _r(1, "logistic", 0.80, 1.0, h="default", baseline=True),
        _r(2, "logistic", 0.80, 1.1, h="default", seed=1, baseline=True),
        _r(3, "lightgbm", 0.70, 2.0),                     # clean: first lightgbm
        _r(4, "lightgbm", 0.72, 3.0),                     # clean: only one lightgbm recipe before it
        _r(5, "lightgbm", 0.71, 4.0),                     # lost_family: two lightgbm recipes both lost by > floor
        _r(6, "random_forest", 0.79, 6.0, queued=5.5),    # cut_region: random_forest dead end from t=5
        _r(7, "elastic_net", 0.81, 7.0, idea=50),         # answered: idea 50 CUT at t=6.5
        _r(8, "ridge", 0.81, 8.0, idea=60),               # refuted: diagnosis 9 refuted at t=7
        _r(9, "elastic_net", 0.815, 9.0, h="h3x", idea=70),  # clean
        _r(10, "elastic_net", 0.815, 10.0, h="h3x", idea=70),  # repeat of 9 (same hash and seed)
    ]
    return {"results": results, "higher_is_better": True, "floor": 0.01,
            "champions": [{"id": 1, "recipe_hash": "default", "created_at": 1.5, "value": 0.80, "family": "logistic"}],
            "dead_ends": [{"family": "random_forest", "region": {}, "created_at": 5.0}],
            "tickets": [{"idea_id": 50, "answer": "CUT", "answered_at": 6.5},
                        {"idea_id": 70, "answer": "HOLD", "answered_at": 9.5}],
            "refuted": {9: 7.0}, "idea_diagnosis": {60: 9, 70: 3}}


def test_wasted_share_counts_each_rule_and_leaves_the_baseline_out() -> None:
    out = m.wasted(_records())
    assert out["search"] == 8  # the two baseline results are not search experiments
    assert out["by_rule"] == {"answered": 1, "refuted": 1, "cut_region": 1, "lost_family": 1, "repeat": 1}
    assert out["wasted"] == 5 and out["share"] == pytest.approx(5 / 8)


def test_wasted_share_timing_a_verdict_after_the_result_is_not_waste() -> None:
    rec = _records()
    rec["dead_ends"][0]["created_at"] = 6.0  # registered after result 6 was queued (5.5)
    rec["tickets"][0]["answered_at"] = 7.5  # answered after result 7 was recorded
    rec["refuted"] = {9: 8.0}  # refuted after result 8 was queued (7.5)
    assert m.wasted(rec)["by_rule"] == {"answered": 0, "refuted": 0, "cut_region": 0, "lost_family": 1, "repeat": 1}


def test_target_is_half_the_best_gain_and_absent_without_one() -> None:
    assert m.target_value(0.70, [0.74, 0.72]) == pytest.approx(0.72)
    assert m.target_value(0.70, [0.69, 0.70]) is None
    assert m.target_value(10.0, [9.0, 8.0], higher_is_better=False) == pytest.approx(9.0)


def test_experiments_to_target_counts_search_results_and_censors() -> None:
    rec = _records()
    assert m.experiments_to_target(rec, 0.805) == (5, True)  # result 7 is the 5th search experiment
    assert m.experiments_to_target(rec, 0.90) == (9, False)  # 8 search experiments, never reached
    low = {"higher_is_better": False, "results": [_r(1, "cox", 3.0, 1.0), _r(2, "cox", 1.9, 2.0)]}
    assert m.experiments_to_target(low, 2.0) == (2, True)


def test_accepted_improvements_are_champion_changes_after_the_start() -> None:
    rec = _records()
    rec["start_hash"] = "default"
    rec["champions"] += [{"id": 2, "recipe_hash": "h7", "created_at": 8.0, "value": 0.81, "family": "elastic_net"},
                         {"id": 3, "recipe_hash": "h3x", "created_at": 11.0, "value": 0.815, "family": "elastic_net"}]
    out = m.accepted(rec)
    assert out["accepted"] == 2 and out["changes"] == 2 and out["first_is_start"] is True
    assert out["gain"] == pytest.approx(0.015) and out["final_family"] == "elastic_net"
    rec["start_hash"] = "other"
    assert m.accepted(rec)["first_is_start"] is False
    # a recalibrated variant promoted for calibration scores lower: a change, not an improvement
    rec["champions"].append({"id": 4, "recipe_hash": "cal", "created_at": 12.0, "value": 0.812, "family": "calibrated"})
    assert m.accepted(rec)["accepted"] == 2 and m.accepted(rec)["changes"] == 3


def test_start_recipe_is_the_baseline_and_the_first_champion(examples_dir: Path, tmp_path: Path) -> None:
    from autods.agents.expert.design import DEFAULT_TITLE
    from autods.agents.roles import TeamSpec
    from autods.agents.run import RunOptions, start_run
    from autods.runners.recipe import Recipe
    from autods.server.service import Actor, Service
    from autods.state.store import Store

    start = {"family": "logistic", "params": {"C": 0.37}}
    options = RunOptions(team=TeamSpec.single_agent().as_dict(), n_resamples=0, floor_seeds=2, finish=(),
                         start_recipe=start)
    with threadpool_limits(1):
        out = start_run(examples_dir / "task-breast-cancer", run_name="s", runs_dir=tmp_path, budget=4,
                        executor="inline", display=False, options=options)
    store = Store.open(f"sqlite:///{out.folder.root / 'state.db'}")
    try:
        service, viewer = Service(store), Actor(agent_id=None, role="viewer")
        run = service.list_runs(viewer)[0]
        baseline = next(p for p in service.list_proposals(viewer, run.id) if p.title == DEFAULT_TITLE)
        first = service.champion_history(viewer, run.id)[0]
    finally:
        store.close()
    assert baseline.recipe == Recipe.parse(start).canonical_dict()
    assert first.recipe_hash == baseline.canonical_hash
    assert out.summary["noise_floor"]["baseline"]["default"]["recipe_hash"] == baseline.canonical_hash


def test_a_bad_start_recipe_is_refused_before_a_run_folder_exists(examples_dir: Path, tmp_path: Path) -> None:
    from autods.agents.run import RunOptions, start_run
    from autods.errors import UserInputError

    with pytest.raises(UserInputError):
        start_run(examples_dir / "task-breast-cancer", run_name="bad", runs_dir=tmp_path, budget=4, executor="inline",
                  display=False, options=RunOptions(start_recipe={"family": "logistic", "params": {"nope": 1}}))
    assert not (tmp_path / "bad").exists()


def test_wall_time_ratio_pairs_the_same_cohort_start_and_seed() -> None:
    import team

    def row(cohort: str, system: str, seed: int, elapsed: float, **extra: Any) -> dict[str, Any]:
        return {"cohort": cohort, "system": system, "start": "default", "seed": seed, "elapsed": elapsed, **extra}

    rows = [row("a", "team", 0, 10.0), row("a", "single", 0, 30.0), row("b", "team", 0, 20.0),
            row("b", "single", 0, 20.0), row("c", "team", 0, 5.0),  # no single run: not a pair
            row("d", "team", 0, 1.0), row("d", "single", 0, 99.0, error="crashed")]  # a failed run is no pair
    wall = team.wall_rows(rows)
    assert wall["pairs"] == 2 and wall["median_ratio"] == pytest.approx(2.0)  # median of 3.0 and 1.0
    assert wall["team_median_s"] == 15.0 and wall["single_median_s"] == 25.0  # over the pairs only
