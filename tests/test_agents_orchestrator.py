"""The orchestrator's bookkeeping on hand-built snapshots: which results earn a confirmation
run, what counts against the budget, and when the search stops."""

from __future__ import annotations

import time
from typing import Any

from agents_helpers import champion, recipe, result
from autods.agents.orchestrator import Limits, Orchestrator, _challengers, budget_used
from autods.agents.snapshot import FLOOR_KEY, Snapshot


def _snap(results: list[dict[str, Any]], champ: dict[str, Any] | None, floor: float | None = 0.01,
          queue: list[dict[str, Any]] | None = None) -> Snapshot:
    posts = [] if floor is None else [{"id": 1, "kind": "finding", "data": {FLOOR_KEY: {"value": floor}},
                                       "author": "9", "author_name": "orchestrator"}]
    records = {} if floor is None else {FLOOR_KEY: {"post_id": 1, "author": "9", "role": "orchestrator",
                                                   "value": {"value": floor}}}
    return Snapshot(names={}, teams=[], posts=posts, proposals=[], queue=queue or [], results=results,
                    champion=champ, dead_ends=[], records=records)


def test_challengers_beat_the_champion_by_more_than_the_floor() -> None:
    base, other = recipe("logistic"), recipe("lightgbm")
    r1 = result(1, base, 0.80)
    rs = [r1, result(2, other, 0.805), result(3, recipe("hist_gb"), 0.82)]
    assert [r["id"] for r in _challengers(_snap(rs, champion(r1)))] == [3]
    assert _challengers(_snap(rs, champion(r1), floor=None)) == []  # no floor yet: the design phase


def test_without_a_champion_the_best_result_is_confirmed_first() -> None:
    rs = [result(1, recipe("dummy"), 0.5), result(2, recipe("lightgbm"), 0.7)]
    assert [r["id"] for r in _challengers(_snap(rs, None))] == [2]


def test_aborted_items_do_not_count_against_the_budget() -> None:
    queue = [{"status": s} for s in ("done", "failed", "pending", "claimed", "aborted")]
    assert budget_used(_snap([], None, queue=queue)) == 4


def test_exit_waits_for_quiet_rounds_and_stops_on_the_target() -> None:
    class Idle:
        busy = False

    orch = Orchestrator.__new__(Orchestrator)
    orch.limits, orch.harness, orch.round = Limits(budget=2, target=0.9), Idle(), 5
    orch.started = time.monotonic()
    done = [{"status": "done"}, {"status": "done"}]
    r = result(1, recipe("logistic"), 0.8)
    assert orch._exit_reason(_snap([r], champion(r), queue=done), idle=0) is None  # the validator has not looked yet
    assert orch._exit_reason(_snap([r], champion(r), queue=done), idle=2) == "budget"
    high = result(2, recipe("logistic"), 0.95)
    assert orch._exit_reason(_snap([high], champion(high), queue=done[:1]), idle=0) == "target"


# -- the noise floor's seeds (requests PE1) ------------------------------------------------------

class _Client:
    def __init__(self) -> None:
        self.enqueued: list[tuple[int, int]] = []

    def enqueue(self, proposal_id: int, seed: int) -> None:
        self.enqueued.append((proposal_id, seed))


def _baseline_orchestrator() -> Orchestrator:
    class Idle:
        busy = False

    orch = Orchestrator.__new__(Orchestrator)
    orch.limits, orch.harness, orch.round, orch.seed = Limits(budget=12, floor_seeds=3), Idle(), 1, 0
    orch.client, orch.record = _Client(), None
    return orch


def _proposal(pid: int, family: str) -> dict[str, Any]:
    return {"id": pid, "family": family, "author": "2", "author_name": "biostatistician",
            "critiques": [{"id": pid, "author": "5", "verdict": "approve"}]}


def _baseline_snap(values: dict[int, float | None], queued: tuple[int, ...] = (0, 1)) -> Snapshot:
    """The default (proposal 1) measured on the seeds of ``values`` (None: the run failed)."""
    queue = [{"proposal_id": 1, "seed": s, "status": "failed" if values.get(s, 0.0) is None else
              "done" if s in values else "pending"} for s in queued]
    queue.append({"proposal_id": 2, "seed": 0, "status": "done"})
    results = [result(s + 1, recipe("logistic"), v, seed=s) for s, v in values.items() if v is not None]
    return Snapshot(names={}, teams=[], posts=[], proposals=[_proposal(1, "logistic"), _proposal(2, "dummy")],
                    queue=queue, results=results, champion=None, dead_ends=[])


def test_a_third_floor_seed_runs_only_when_the_first_two_disagree() -> None:
    orch = _baseline_orchestrator()
    empty = Snapshot(names={}, teams=[], posts=[], queue=[], results=[], champion=None, dead_ends=[],
                     proposals=[_proposal(1, "logistic"), _proposal(2, "dummy")])
    assert orch._enqueue_baseline(empty) is False
    assert sorted(orch.client.enqueued) == [(1, 0), (1, 1), (2, 0)]  # not seed 2 yet
    orch.client.enqueued.clear()
    assert orch._enqueue_baseline(_baseline_snap({0: 0.8})) is False and orch.client.enqueued == []  # seed 1 pending
    # a deterministic fit: equal values, the design phase is done without a third seed
    assert orch._enqueue_baseline(_baseline_snap({0: 0.8, 1: 0.8})) is True and orch.client.enqueued == []
    # a fit that varies with the seed: the third runs, and the phase waits for it
    assert orch._enqueue_baseline(_baseline_snap({0: 0.8, 1: 0.81})) is False
    assert orch.client.enqueued == [(1, 2)]
    orch.client.enqueued.clear()
    assert orch._enqueue_baseline(_baseline_snap({0: 0.8, 1: 0.81, 2: 0.79}, queued=(0, 1, 2))) is True
    # a failed seed tells nothing about the spread: the third runs
    assert orch._enqueue_baseline(_baseline_snap({0: 0.8, 1: None})) is False and orch.client.enqueued == [(1, 2)]
