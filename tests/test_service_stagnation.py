"""Rule i kept incrementally: the per-run running state gives the verdicts the full-history
rule gave, and a run upgraded from schema 1 picks up where its history left off."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from autods.server import protocol
from autods.server.service import SYSTEM_ACTOR, Actor, Service
from autods.state.records import Result, RunStats
from autods.state.store import Store


def _result(i: int, value: float, hib: bool) -> Result:
    return Result(id=i, run_id=1, queue_item_id=i, proposal_id=1, recipe_hash="h", seed=i, metric="m", value=value,
                  higher_is_better=hib, recorded_by="h", created_at=0.0)


def _full_history_announcements(results: list[Result], k: int, floor: float) -> list[int | None]:
    """What the previous implementation did after each result: rescan everything."""
    out: list[int | None] = []
    announced: set[int] = set()
    for n in range(1, len(results) + 1):
        episode = protocol.stagnation_start(results[:n], k, floor)
        if episode is not None and episode not in announced:
            announced.add(episode)
            out.append(episode)
        else:
            out.append(None)
    return out


def _case(seed: int) -> tuple[list[Result], int, float]:
    rng = random.Random(seed)
    hib = rng.random() < 0.5
    k = rng.randint(1, 6)
    floor = rng.choice([0.0, 0.005, 0.02])
    drift = rng.choice([0.0, 0.002, -0.002])
    values = [round(0.7 + drift * i + rng.gauss(0, 0.02), 4) for i in range(rng.randint(1, 60))]
    return [_result(i + 1, v, hib) for i, v in enumerate(values)], k, floor


@pytest.mark.parametrize("seed", range(40))
def test_step_matches_the_full_history_rule(seed: int) -> None:
    results, k, floor = _case(seed)
    expected = _full_history_announcements(results, k, floor)
    stats, got = RunStats(run_id=1), []
    for r in results:
        stats, episode = protocol.stagnation_step(stats, r, floor, k)
        got.append(episode)
    assert got == expected


def test_the_cases_above_do_stagnate() -> None:
    """The equivalence is only worth something if the rule fires, repeatedly, in those cases."""
    fired = [sum(e is not None for e in _full_history_announcements(*_case(seed))) for seed in range(40)]
    assert sum(f > 0 for f in fired) >= 25 and sum(f > 1 for f in fired) >= 10


@pytest.mark.parametrize("cut", [0, 1, 5, 12, 30])
def test_replay_then_step_equals_stepping_all_along(cut: int) -> None:
    rng = random.Random(cut)
    results = [_result(i + 1, round(0.8 + rng.gauss(0, 0.01), 4), True) for i in range(40)]
    k, floor = 3, 0.005
    all_along, announced = RunStats(run_id=1), set()
    for r in results[:cut]:
        all_along, episode = protocol.stagnation_step(all_along, r, floor, k)
        if episode is not None:
            announced.add(episode)
    replayed = protocol.stagnation_replay(1, results[:cut], floor, announced)
    assert replayed == all_along
    for r in results[cut:]:
        all_along, e1 = protocol.stagnation_step(all_along, r, floor, k)
        replayed, e2 = protocol.stagnation_step(replayed, r, floor, k)
        assert e1 == e2


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


def _team(svc: Service, run_id: int) -> tuple[Actor, Actor, Actor]:
    actors = []
    for name, role in (("ann", "analyst"), ("bob", "analyst"), ("harness", "harness")):
        actor = svc.authenticate(svc.register_agent(run_id, name, role)[1])
        assert actor is not None
        actors.append(actor)
    return actors[0], actors[1], actors[2]


def _run(svc: Service, run_id: int, values: list[float]) -> tuple[Actor, Actor, int]:
    """Record ``values`` as results of one approved proposal; returns (analyst, harness, proposal id)."""
    ann, bob, harness = _team(svc, run_id)
    p = svc.propose(ann, run_id, {"family": "logistic"}, "h", 0.0)
    svc.critique(bob, p.id, "approve", "ok")
    _more(svc, ann, harness, run_id, p.id, list(enumerate(values)))
    return ann, harness, p.id


def _more(svc: Service, ann: Actor, harness: Actor, run_id: int, proposal_id: int,
          seeds_values: list[tuple[int, float]]) -> None:
    for seed, value in seeds_values:
        svc.enqueue(ann, proposal_id, seed=seed)
        item = svc.claim(harness, run_id)
        assert item is not None
        svc.record_result(harness, item.id, "auroc", value, True, [value, value])


def _stuck(svc: Service, run_id: int) -> list[int]:
    return [p.data["since_result_id"] for p in svc.list_posts(SYSTEM_ACTOR, run_id, kind="stuck")]


def test_a_run_from_schema_1_is_rebuilt_once_and_continues(store: Store, tmp_path: Path) -> None:
    svc = Service(store, noise_floor=0.01, stagnation_k=3)
    run = svc.create_run("old")
    ann, harness, proposal_id = _run(svc, run.id, [0.80, 0.80, 0.80, 0.805, 0.79])  # stuck from the 4th on
    assert _stuck(svc, run.id) == [1]
    # What a schema-1 database looks like after the upgrade: a stats row still to be rebuilt.
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE run_stats SET best = NULL, last_good_id = NULL, since_improved = 0, "
                             "announced_id = NULL, replayed = 0"))
    _more(svc, ann, harness, run.id, proposal_id, [(5, 0.80), (6, 0.95), (7, 0.90), (8, 0.90), (9, 0.90)])
    # Episode 1 was announced before the upgrade and is not repeated; 0.95 (result 7) starts a new one.
    assert _stuck(svc, run.id) == [1, 7]
    with store.read() as tx:
        stats, _ = tx.run_stats(run.id)
    assert stats == RunStats(run_id=run.id, best=0.95, last_good_id=7, since_improved=3, announced_id=7)


def test_measured_floor_comes_from_the_champion(store: Store) -> None:
    svc = Service(store, stagnation_k=2)  # noise_floor None: the champion's fold-score SE
    run = svc.create_run("measured")
    ann, bob, harness = _team(svc, run.id)
    p = svc.propose(ann, run.id, {"family": "logistic"}, "h", 0.0)
    svc.critique(bob, p.id, "approve", "ok")
    validator = svc.authenticate(svc.register_agent(run.id, "val", "validator")[1])
    assert validator is not None
    wide = [0.70, 0.90]  # SE = 0.1: a champion this noisy makes +0.05 no improvement

    def record(seed: int, value: float, folds: list[float]) -> Result:
        svc.enqueue(ann, p.id, seed=seed)
        item = svc.claim(harness, run.id)
        assert item is not None
        return svc.record_result(harness, item.id, "auroc", value, True, folds)

    first = record(0, 0.80, wide)
    record(1, 0.80, wide)
    svc.promote(validator, first.id)
    with store.read() as tx:
        _, folds = tx.run_stats(run.id)
    assert folds == wide
    record(2, 0.85, [0.85, 0.85])  # beats 0.80 by 0.05 < 0.1: no improvement
    assert _stuck(svc, run.id) == [first.id]


def test_last_event_seq_is_scoped_like_events(store: Store) -> None:
    svc = Service(store)
    assert svc.last_event_seq(SYSTEM_ACTOR) == 0
    one, two = svc.create_run("one"), svc.create_run("two")
    viewer = svc.authenticate(svc.register_agent(one.id, "v", "viewer")[1])
    assert viewer is not None
    svc.register_agent(two.id, "w", "viewer")
    everything = svc.events(SYSTEM_ACTOR)
    assert svc.last_event_seq(SYSTEM_ACTOR) == everything[-1].seq
    assert svc.last_event_seq(SYSTEM_ACTOR, run_id=one.id) == svc.events(SYSTEM_ACTOR, run_id=one.id)[-1].seq
    mine = svc.events(viewer)
    assert mine and {e.run_id for e in mine} == {one.id}
    assert svc.last_event_seq(viewer) == mine[-1].seq < everything[-1].seq
    assert svc.last_event_seq(viewer, run_id=two.id) == mine[-1].seq  # a bound agent cannot look elsewhere
