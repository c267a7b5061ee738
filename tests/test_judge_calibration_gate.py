"""Recalibration inside folds and the calibration gate of promotion (issue 12, deliverable 6)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agents_helpers import service_world
from autods.errors import ProtocolViolation, RecipeError
from autods.judge.calibration_gate import SLOPE_BAND, calibration_verdict, slope_from_artifacts
from autods.runners import EvaluationRecord, Recipe, evaluate
from autods.runners.calibrate import recalibrated

#: an overfitted logistic model: weak penalty, 18 noise columns beside two real ones, 150 rows
OVERFIT = {"family": "logistic", "params": {"C": 30.0}}


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    n = 150
    frame = pd.DataFrame(rng.normal(size=(n, 20)), columns=[f"x{i}" for i in range(20)])
    frame["y"] = (frame.x0 + 0.7 * frame.x1 + rng.normal(size=n) > 0).astype(int)
    root = tmp_path_factory.mktemp("cal")
    (root / "data.csv").write_text(frame.to_csv(index=False))
    (root / "TASK.md").write_text("---\nname: cal\ntask_type: binary\nendpoint: y\ndata: data.csv\n---\nA test.\n")
    return root


@pytest.fixture(scope="module")
def records(task_dir: Path) -> tuple[EvaluationRecord, EvaluationRecord]:
    plain = evaluate(task_dir, OVERFIT, n_resamples=20, repeats=2)
    platt = evaluate(task_dir, recalibrated(OVERFIT), n_resamples=20, repeats=2)
    return plain, platt


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    # BLAS threads oversubscribe this 2-core machine: L-BFGS on 100 x 20 rows ran ~10x slower with them.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def test_the_rule_itself() -> None:
    low, high = SLOPE_BAND
    assert calibration_verdict(1.0, "lightgbm").ok and calibration_verdict(None, "lightgbm").ok
    assert calibration_verdict(low, "lightgbm").ok and calibration_verdict(high, "lightgbm").ok
    refused = calibration_verdict(low - 0.01, "lightgbm")
    assert not refused.ok and "recalibrate: propose the platt variant" in refused.reason and "overconfident" in refused.reason
    assert not calibration_verdict(high + 0.01, "ebm").ok
    assert calibration_verdict(0.5, "calibrated").ok and calibration_verdict(0.5, "lightgbm", "isotonic").ok
    first = calibration_verdict(0.5, "lightgbm", first=True)  # no champion yet: accepted, with the advice
    assert first.ok and "recalibrate: propose the platt variant" in first.reason
    assert slope_from_artifacts({"calibration_slope": "0.61", "calibration_method": "none"}) == (0.61, "none")
    assert slope_from_artifacts({}) == (None, None)


def test_the_recalibrated_variant_keeps_the_representation() -> None:
    base = {"family": "random_forest", "params": {"n_estimators": 30}, "features": ["a", "b"], "seed": 3}
    variant = Recipe.parse(recalibrated(base))
    assert variant.family == "calibrated" and variant.features == ("a", "b") and variant.seed == 3
    assert variant.params["base"] == "random_forest" and variant.params["base_params"]["n_estimators"] == 30
    assert Recipe.parse(recalibrated(base, "isotonic")).params["method"] == "isotonic"
    with pytest.raises(RecipeError, match="not a binary model family"):
        Recipe.parse({"family": "calibrated", "params": {"base": "ridge"}})


def test_oof_slope_and_intercept_match_statsmodels_and_scipy(records: tuple, task_dir: Path) -> None:
    import statsmodels.api as sm
    from scipy.optimize import brentq
    from scipy.special import expit

    plain, _ = records
    y = pd.read_csv(task_dir / "data.csv")["y"].to_numpy()  # rows of the OOF index the task's frame
    oof = plain.oof_all
    assert oof is not None and sorted(set(oof.repeat)) == [0, 1]
    slopes, citl = [], []
    for r in (0, 1):
        at = np.asarray(oof.repeat) == r
        p = np.clip(np.asarray(oof.pred)[at], 1e-12, 1 - 1e-12)
        yy = y[np.asarray(oof.row)[at]]
        lp = np.log(p) - np.log1p(-p)
        slopes.append(sm.Logit(yy, sm.add_constant(lp)).fit(disp=0).params[1])  # discrete Logit, not the judge's GLM
        citl.append(brentq(lambda a: np.sum(yy - expit(a + lp)), -10, 10))  # score equation of a with offset lp
    assert plain.calibration["calibration_slope"] == pytest.approx(np.mean(slopes), rel=1e-6)
    assert plain.calibration["calibration_intercept"] == pytest.approx(np.mean(citl), abs=1e-6)
    assert plain.calibration["calibration_method"] == "none"


def test_platt_inside_the_fold_is_a_monotone_map_of_the_same_model(records: tuple) -> None:
    import math

    plain, platt = records
    low, _ = SLOPE_BAND
    assert plain.calibration["calibration_slope"] < low  # the planted miscalibration (0.27)
    # the same model's scores through an increasing map: every fold ranks (AUROC) exactly as the base
    assert platt.fold_keys == plain.fold_keys and platt.fold_scores == plain.fold_scores
    # and the map moves the slope most of the way back toward 1 (0.27 -> 1.73 with 3 inner folds of 120 rows:
    # the map is learnt on inner models fitted on 2/3 of the fold, more overfitted than the one it maps)
    assert abs(math.log(platt.calibration["calibration_slope"])) < 0.5 * abs(math.log(plain.calibration["calibration_slope"]))
    assert platt.calibration["calibration_method"] == "platt"


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[dict]:
    yield from service_world(f"sqlite:///{tmp_path / 'state.db'}", "gate")


def _record(w: dict, item_id: int, record: EvaluationRecord) -> object:
    """``record_result`` with the artifacts the harness writes (calibration as strings)."""
    artifacts = {k: str(v) for k, v in record.calibration.items()}
    folds = [float(f) for f in record.fold_scores]
    return w["svc"].record_result(w["harness"], item_id, record.metric, float(record.value), True, folds,
                                  artifacts=artifacts, split=f"folds:{record.cv.repeats}x{record.cv.n_splits}")


def _recorded(w: dict, record: EvaluationRecord) -> list:
    """Two seeds of the record's recipe through propose -> critique -> enqueue -> claim -> record_result
    (both seeds queued first, so items the server queues meanwhile are claimed after them)."""
    svc, recipe = w["svc"], record.recipe.canonical_dict()
    p = svc.propose(w["ann"], w["run"], recipe, f"try {recipe['family']}", 0.01, recipe["family"])
    svc.critique(w["bob"], p.id, "approve", "sound")
    items = [svc.enqueue(w["ann"], p.id, seed=seed) for seed in (0, 1)]
    out = []
    for queued in items:
        item = svc.claim(w["exp"], w["run"])
        assert item.id == queued.id
        out.append(_record(w, item.id, record))
    return out


def test_promotion_refuses_the_miscalibrated_model_and_promotes_the_variant_the_server_queued(
        world: dict, records: tuple, task_dir: Path) -> None:
    svc = world["svc"]
    plain, platt = records
    # a first champion (the run's baseline) on the same folds: only challengers are gated
    baseline = evaluate(task_dir, {"family": "dummy"}, n_resamples=20, repeats=2)
    first = _recorded(world, baseline)
    svc.promote(world["validator"], first[0].id)
    assert svc.list_queue(world["validator"], world["run"], status="pending") == []  # the dummy has no ranking to recalibrate
    bad = _recorded(world, plain)
    with pytest.raises(ProtocolViolation, match="recalibrate: propose the platt variant") as err:
        svc.promote(world["validator"], bad[0].id)
    assert err.value.rule == "miscalibrated"
    # the best result is miscalibrated and beats the champion: the server queued its Platt variant, twice
    pending = svc.list_queue(world["validator"], world["run"], status="pending")
    assert [q.seed for q in pending] == [0, 1] and {q.recipe_hash for q in pending} == {platt.recipe_hash}
    derived = [p for p in svc.list_proposals(world["validator"], world["run"]) if p.canonical_hash == platt.recipe_hash]
    assert len(derived) == 1 and derived[0].author == "system" and derived[0].status == "queued"
    good = [_record(world, svc.claim(world["exp"], world["run"]).id, platt) for _ in pending]
    assert svc.list_queue(world["validator"], world["run"], status="pending") == []  # queued once, never again
    champion = svc.promote(world["validator"], good[0].id)
    assert champion.result_id == good[0].id


def test_the_first_champion_is_not_refused_for_calibration(world: dict, records: tuple) -> None:
    plain, _ = records
    first = _recorded(world, plain)  # a run must have a model to validate; its findings flag the slope
    assert world["svc"].promote(world["validator"], first[0].id).result_id == first[0].id


def test_a_miscalibrated_first_champion_is_replaced_in_place_by_its_variant(world: dict, records: tuple) -> None:
    svc = world["svc"]
    plain, platt = records
    bad = _recorded(world, plain)  # the run's first results: miscalibrated, and the best so far
    first = svc.promote(world["validator"], bad[0].id)  # the first champion is not gated
    pending = svc.list_queue(world["validator"], world["run"], status="pending")
    assert [q.recipe_hash for q in pending] == [platt.recipe_hash] * 2
    good = [_record(world, svc.claim(world["exp"], world["run"]).id, platt) for _ in pending]
    # the variant's folds equal the champion's (a monotone map): the paired test alone could never promote it
    champion = svc.promote(world["validator"], good[1].id)
    assert champion.result_id == good[1].id and champion.previous_value == first.value
    note = [p for p in svc.list_posts(world["validator"], world["run"]) if p.data.get("promotion_rule")]
    assert len(note) == 1 and note[0].data["replaced_result_id"] == bad[0].id
    slope_before, slope_after = plain.calibration["calibration_slope"], platt.calibration["calibration_slope"]
    assert f"slope {slope_before:.3g} -> {slope_after:.3g}" in note[0].body and "+0 " in note[0].body


def test_in_place_needs_a_slope_nearer_one(world: dict, records: tuple) -> None:
    svc = world["svc"]
    plain, platt = records
    bad = _recorded(world, plain)
    svc.promote(world["validator"], bad[0].id)
    worse = platt.model_copy(update={"calibration": {**platt.calibration, "calibration_slope": 0.2}})  # planted
    got = [_record(world, svc.claim(world["exp"], world["run"]).id, worse) for _ in range(2)]
    with pytest.raises(ProtocolViolation, match="did not move the slope toward 1") as err:
        svc.promote(world["validator"], got[0].id)
    assert err.value.rule == "no_improvement"
