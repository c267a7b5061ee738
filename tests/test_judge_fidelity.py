"""Screening fidelity (issue 12, deliverable 7): one repeat of the plan before all of them, counted
as 1/R of the budget, never promoted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agents_helpers import service_world
from autods.errors import ProtocolViolation
from autods.judge.fidelity import cost, fidelity_of, full_equivalents, promotion_refusal, screen_folds
from autods.runners import Recipe, evaluate

LOGISTIC = {"family": "logistic", "params": {"C": 0.5}}
SCREEN = {**LOGISTIC, "fidelity": "screen"}


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(3)
    n = 120
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=[f"x{i}" for i in range(4)])
    frame["y"] = (frame.x0 - 0.5 * frame.x1 + rng.normal(size=n) > 0).astype(int)
    root = tmp_path_factory.mktemp("fid")
    (root / "data.csv").write_text(frame.to_csv(index=False))
    (root / "TASK.md").write_text("---\nname: fid\ntask_type: binary\nendpoint: y\ndata: data.csv\n---\nA test.\n")
    return root


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def test_budget_counts_full_equivalent_evaluations() -> None:
    assert cost("screen", 3) == pytest.approx(1 / 3) and cost("full", 3) == 1.0 and cost("screen", 1) == 1.0
    committed = [SCREEN, LOGISTIC, {"family": "lightgbm"}, SCREEN, None]
    assert full_equivalents(committed, repeats=3) == pytest.approx(3 + 2 / 3)
    assert full_equivalents(committed, repeats=5) == pytest.approx(3.4)
    assert fidelity_of({"fidelity": "bogus"}) == "full" and fidelity_of(None) == "full"
    assert promotion_refusal("full") is None and "full fidelity" in str(promotion_refusal("screen"))


def test_the_canonical_recipe_keeps_the_fidelity_only_when_it_screens() -> None:
    full, explicit, screen = (Recipe.parse(r) for r in (LOGISTIC, {**LOGISTIC, "fidelity": "full"}, SCREEN))
    assert "fidelity" not in full.canonical_dict()  # every recipe hashed before screens existed keeps its hash
    assert full.canonical_hash() == explicit.canonical_hash() != screen.canonical_hash()
    assert screen.canonical_dict()["fidelity"] == "screen"
    assert Recipe.parse(screen.canonical_dict()).canonical_hash() == screen.canonical_hash()  # a round trip


def test_a_screen_is_scored_on_exactly_the_first_repeat_of_the_full_plan(task_dir: Path) -> None:
    full = evaluate(task_dir, LOGISTIC, n_resamples=20, repeats=3)
    screen = evaluate(task_dir, SCREEN, n_resamples=20, repeats=3)
    k = full.cv.n_splits
    assert full.cv.repeats == 3 and screen.cv.repeats == 1 and screen.cv.n_splits == k
    assert screen.fold_keys == full.fold_keys[:k] == [f"r0k{i}" for i in range(k)]
    assert screen.fold_scores == full.fold_scores[:k]  # the same split and model: the same numbers
    assert screen.oof.row == full.oof.row and screen.oof.pred == full.oof.pred  # the first repeat's OOF
    assert screen.recipe.fidelity == "screen" and screen.recipe_hash != full.recipe_hash
    assert screen_folds([("r0k0", 1, 2), ("r1k0", 3, 4), ("r0k1", 5, 6)]) == [("r0k0", 1, 2), ("r0k1", 5, 6)]


@pytest.fixture()
def world(state_url: str) -> Iterator[dict]:
    yield from service_world(state_url, "fidelity")


def _recorded(w: dict, item_id: int, folds: list[float], fidelity: str) -> object:
    return w["svc"].record_result(w["harness"], item_id, "auroc", float(np.mean(folds)), True, folds,
                                  artifacts={"fidelity": fidelity},
                                  split=f"folds:{1 if fidelity == 'screen' else 3}x5")


def test_screens_are_not_promoted_once_per_recipe_and_the_full_run_is_new(world: dict) -> None:
    svc, run = world["svc"], world["run"]
    p = svc.propose(world["ann"], run, SCREEN, "screen a logistic", 0.01)
    svc.critique(world["bob"], p.id, "approve", "cheap first")
    item = svc.enqueue(world["ann"], p.id, seed=0)
    with pytest.raises(ProtocolViolation, match="screened once") as dup:
        svc.enqueue(world["ann"], p.id, seed=1)  # a second screen, even on another seed
    assert dup.value.rule == "duplicate"
    claimed = svc.claim(world["exp"], run)
    assert claimed.id == item.id
    screened = _recorded(world, claimed.id, [0.8, 0.82, 0.79, 0.81, 0.8], "screen")
    with pytest.raises(ProtocolViolation, match="screening fidelity") as refused:
        svc.promote(world["validator"], screened.id)
    assert refused.value.rule == "screening_fidelity"
    # the full run is another recipe (not a duplicate) and inherits the screen's critiques (same model)
    full = svc.propose(world["ann"], run, LOGISTIC, "the screen looked good: full plan", 0.01)
    items = [svc.enqueue(world["ann"], full.id, seed=s) for s in (0, 1)]
    assert items[0].recipe_hash != item.recipe_hash
    results = []
    for queued in items:
        got = svc.claim(world["exp"], run)
        assert got.id == queued.id
        results.append(_recorded(world, got.id, [0.8] * 15, "full"))
    champion = svc.promote(world["validator"], results[0].id)
    assert champion.result_id == results[0].id


def test_the_server_reads_the_fidelity_from_the_recipe_not_only_the_artifacts(world: dict) -> None:
    svc, run = world["svc"], world["run"]
    p = svc.propose(world["ann"], run, SCREEN, "screen", 0.01)
    svc.critique(world["bob"], p.id, "approve", "ok")
    svc.enqueue(world["ann"], p.id, seed=0)
    item = svc.claim(world["exp"], run)
    unlabelled = _recorded(world, item.id, [0.8] * 5, "full")  # artifacts say full; the recipe says screen
    with pytest.raises(ProtocolViolation) as refused:
        svc.promote(world["validator"], unlabelled.id)
    assert refused.value.rule == "screening_fidelity"
