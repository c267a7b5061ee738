"""The promotions the harness asks for (the first confirmed result; a recalibrated variant) and the
fidelity it records, through the in-process server with a stand-in judge (planted records)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents_helpers import InProcess
from autods.agents.harness import Harness
from autods.execution.base import Job, JobResult
from autods.execution.inline import InlineExecutor
from autods.runfolder import RunFolder
from autods.runners.calibrate import recalibrated

LOGISTIC = {"family": "logistic", "params": {"C": 0.1}}
FOLDS = [0.90, 0.92, 0.88, 0.91, 0.89, 0.90]  # a 2x3 plan


def planted(job: Job) -> JobResult:
    """The record the judge would write, with the slope the recipe's family implies (planted)."""
    slope = {"calibrated": 1.3, "random_forest": 1.0}.get(job.recipe["family"], 2.1)
    record = {"metric": "auroc", "value": 0.9, "higher_is_better": True, "fold_scores": FOLDS, "ci_low": 0.85,
              "ci_high": 0.95, "cv": {"n_splits": 3, "repeats": 2}, "recipe": job.recipe,
              "calibration": {"calibration_slope": slope, "calibration_method": "none"}}
    return JobResult(job_id=job.job_id, ok=True, record=record, duration_s=0.01)


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[dict[str, Any]]:
    server = InProcess(tmp_path / "state.db")
    ann, bob = server.client("ann", "analyst"), server.client("bob", "analyst")
    exp = server.client("exp", "experimenter")
    audit: list[dict[str, Any]] = []
    harness = Harness(server.client("harness", "harness"), InlineExecutor(target=planted), RunFolder(tmp_path),
                      audit=audit.append)
    yield {"server": server, "ann": ann, "bob": bob, "exp": exp, "harness": harness, "audit": audit}
    server.close()


def _run_pending(env: dict[str, Any]) -> None:
    """Claim and run every pending item, one after the other, as the orchestrator would."""
    while (item := env["exp"].claim()) is not None:
        prop = next(p for p, _ in env["ann"].list_proposals() if p.id == item.proposal_id)
        env["harness"].submit(item.model_dump(mode="json"), dict(prop.recipe))
        env["harness"].poll(wait_s=5.0)


def test_the_harness_promotes_the_first_confirmed_result_then_its_recalibrated_variant(env: dict) -> None:
    ann = env["ann"]
    prop = ann.propose(LOGISTIC, "baseline", 0.0)
    env["bob"].critique(prop.id, "approve", "the default")
    ann.enqueue(prop.id, 0)
    ann.enqueue(prop.id, 1)
    _run_pending(env)  # the two logistic seeds, then the two Platt items the server queued
    history = ann.champion_history()
    results = {r.id: r for r in ann.list_results()}
    assert len(history) == 2
    first, second = results[history[0].result_id], results[history[1].result_id]
    assert first.recipe_hash != second.recipe_hash
    variant = [p for p, _ in ann.list_proposals() if p.canonical_hash == second.recipe_hash][0]
    assert variant.author == "system" and variant.recipe == recalibrated(LOGISTIC)
    promoted = [(e["reason"], e["result_id"]) for e in env["audit"] if e.get("event") == "promoted"]
    assert promoted == [("the run's first confirmed result", first.id), ("recalibrated variant", second.id)]
    assert {r.artifacts["fidelity"] for r in results.values()} == {"full"}


def test_a_refused_promotion_is_audited_and_changes_nothing(env: dict) -> None:
    ann = env["ann"]
    forest = ann.propose({"family": "random_forest", "params": {"n_estimators": 50}}, "a forest", 0.0)
    env["bob"].critique(forest.id, "approve", "fine")
    for seed in (0, 1):
        ann.enqueue(forest.id, seed)
    _run_pending(env)  # well calibrated (planted slope 1.0): champion, and nothing else queued
    champion = ann.champion()
    assert champion is not None and len(ann.list_results()) == 2
    # the Platt variant of another recipe, level with the champion on every fold: the paired rule refuses it
    other = ann.propose(recalibrated(LOGISTIC), "recalibrate a logistic", 0.0)
    env["bob"].critique(other.id, "approve", "fine")
    for seed in (0, 1):
        ann.enqueue(other.id, seed)
    _run_pending(env)
    assert ann.champion().id == champion.id
    refusals = [e for e in env["audit"] if e.get("event") == "promotion_refused"]
    assert len(refusals) == 1 and "no_improvement" in refusals[0]["reason"]


def test_a_screen_is_recorded_as_such_and_not_promoted(env: dict) -> None:
    ann = env["ann"]
    prop = ann.propose({**LOGISTIC, "fidelity": "screen"}, "screen it", 0.0)
    env["bob"].critique(prop.id, "approve", "cheap first")
    ann.enqueue(prop.id, 0)
    _run_pending(env)
    (result,) = ann.list_results()
    assert result.artifacts["fidelity"] == "screen" and ann.champion() is None
    assert [p for p, _ in ann.list_proposals() if p.author == "system"] == []  # screens get no variant either



@pytest.mark.parametrize(("budget", "variants"), [(3, 0), (4, 1)])
def test_the_variant_is_queued_only_when_the_run_budget_has_room_for_both_seeds(
        env: dict, budget: int, variants: int) -> None:
    """The breast-cancer example at --budget 5: the design's four items leave one, so the server's
    two-seed variant would overrun the budget; then it is not queued and the first champion stands."""
    from autods.state import schema

    with env["server"].store.engine.begin() as conn:
        conn.execute(schema.runs.update().values(config={"budget": budget}))
    ann = env["ann"]
    prop = ann.propose(LOGISTIC, "baseline", 0.0)
    env["bob"].critique(prop.id, "approve", "the default")
    ann.enqueue(prop.id, 0)
    ann.enqueue(prop.id, 1)
    _run_pending(env)
    assert len([p for p, _ in ann.list_proposals() if p.author == "system"]) == variants
    assert len(ann.list_results()) == 2 + 2 * variants <= budget
