"""The locked held-out split: unit-aware, stratified, temporal, and scored exactly once."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
from sksurv.util import Surv

from autods.errors import JudgeError, TestSetAlreadyScored
from autods.judge.holdout import HoldoutLedger, HoldoutSplit, lock_holdout, split_hash, verify


def test_stratified_holdout_keeps_prevalence_and_is_seeded() -> None:
    y = (np.random.default_rng(0).random(1000) < 0.1).astype(int)
    split = lock_holdout(1000, y, fraction=0.2, seed=3, data_hash="d1")
    assert split.test_idx.size == 200 and split.train_idx.size == 800
    assert np.intersect1d(split.train_idx, split.test_idx).size == 0
    assert abs(y[split.test_idx].mean() - y.mean()) < 0.006  # stratified: within one row
    again = lock_holdout(1000, y, fraction=0.2, seed=3, data_hash="d1")
    assert np.array_equal(again.test_idx, split.test_idx) and again.content_hash == split.content_hash
    other = lock_holdout(1000, y, fraction=0.2, seed=4, data_hash="d1")
    assert other.content_hash != split.content_hash


def test_survival_holdout_stratifies_on_event() -> None:
    rng = np.random.default_rng(1)
    event = rng.random(500) < 0.15
    y = Surv.from_arrays(event=event, time=rng.exponential(size=500))
    split = lock_holdout(500, y, fraction=0.2)
    assert abs(event[split.test_idx].mean() - event.mean()) < 0.01


def test_grouped_holdout_moves_whole_units() -> None:
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(100), rng.integers(1, 6, size=100))
    y = (rng.random(groups.size) < 0.3).astype(int)
    split = lock_holdout(groups.size, y, groups=groups, fraction=0.25)
    assert np.intersect1d(groups[split.train_idx], groups[split.test_idx]).size == 0
    assert np.unique(groups[split.test_idx]).size == 25


def test_temporal_holdout_takes_the_latest_rows() -> None:
    times = np.random.default_rng(3).integers(0, 50, size=400)
    split = lock_holdout(400, None, times=times, fraction=0.2)
    assert times[split.train_idx].max() < times[split.test_idx].min()
    assert 70 <= split.test_idx.size <= 110  # ties at the cut go to test


def test_content_hash_and_verify(tmp_path: Path) -> None:
    split = lock_holdout(50, np.arange(50) % 2, data_hash="abc")
    assert split.content_hash == split_hash(split.test_idx, "abc")
    verify(split, "abc")
    with pytest.raises(JudgeError, match="data changed"):
        verify(split, "abd")
    path = tmp_path / "split.json"
    split.save(path)
    loaded = HoldoutSplit.load(path)
    assert np.array_equal(loaded.test_idx, split.test_idx) and loaded.content_hash == split.content_hash
    doc = json.loads(path.read_text())
    doc["test_idx"] = doc["test_idx"][1:]
    path.write_text(json.dumps(doc))
    with pytest.raises(JudgeError, match="edited"):
        HoldoutSplit.load(path)


def test_second_scoring_is_refused_across_ledger_instances(tmp_path: Path) -> None:
    y = np.arange(40) % 2
    split = lock_holdout(40, y, data_hash="h")
    path = tmp_path / "ledger.json"
    seen: list[np.ndarray] = []
    result = HoldoutLedger(path).score_once(split, lambda idx: seen.append(idx) or 0.81)
    assert result == 0.81 and np.array_equal(seen[0], split.test_idx)
    fresh = HoldoutLedger(path)  # a new instance, as a new process would make
    assert fresh.is_scored(split)
    with pytest.raises(TestSetAlreadyScored, match="already scored"):
        fresh.score_once(split, lambda idx: seen.append(idx) or 0.99)
    assert len(seen) == 1
    record = fresh.records()[split.content_hash]
    assert record["status"] == "scored" and record["result"] == 0.81 and record["n_test"] == 8
    # a different split (or the same rows of different data) is a different ledger entry
    assert fresh.score_once(lock_holdout(40, y, data_hash="h2"), lambda idx: 0.5) == 0.5


def test_failed_scorer_still_burns_the_split(tmp_path: Path) -> None:
    split = lock_holdout(40, np.arange(40) % 2)
    ledger = HoldoutLedger(tmp_path / "ledger.json")

    def broken(idx: np.ndarray) -> float:
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError):
        ledger.score_once(split, broken)
    assert ledger.records()[split.content_hash]["status"] == "failed"
    with pytest.raises(TestSetAlreadyScored):
        ledger.score_once(split, lambda idx: 1.0)


def _race(path: str, split_path: str, queue: mp.Queue) -> None:
    split = HoldoutSplit.load(split_path)
    try:
        HoldoutLedger(path).score_once(split, lambda idx: 1.0)
        queue.put("scored")
    except TestSetAlreadyScored:
        queue.put("refused")


@pytest.mark.slow  # spawning two interpreters that import scikit-learn takes ~15 s here
def test_two_processes_cannot_both_score(tmp_path: Path) -> None:
    split = lock_holdout(40, np.arange(40) % 2)
    split.save(tmp_path / "split.json")
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path / "l.json"), str(tmp_path / "split.json"), queue))
             for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert sorted(queue.get(timeout=5) for _ in procs) == ["refused", "scored"]


def test_bad_fraction_and_altered_split_raise(tmp_path: Path) -> None:
    with pytest.raises(JudgeError, match="fraction"):
        lock_holdout(10, None, fraction=1.0)
    split = lock_holdout(40, np.arange(40) % 2)
    forged = HoldoutSplit(split.train_idx[1:], np.append(split.test_idx, split.train_idx[0]),
                          split.data_hash, split.content_hash)
    with pytest.raises(JudgeError, match="altered"):
        HoldoutLedger(tmp_path / "l.json").score_once(forged, lambda idx: 1.0)


def test_grouped_holdout_and_folds_ignore_the_id_values() -> None:
    """Salted-hash ids differ between runs; the held-out units and the folds must not."""
    from autods.judge.holdout import lock_holdout
    from autods.judge.splits import make_splitter

    rng = np.random.default_rng(4)
    units = np.repeat(np.arange(60), 3)
    y = (rng.random(units.size) < 0.3).astype(int)
    salted_a = np.array([f"a{(u * 7919) % 1009:04d}" for u in units])
    salted_b = np.array([f"b{(u * 104729) % 3001:04d}" for u in units])  # another salt: other values, other order
    ha = lock_holdout(units.size, y, groups=salted_a, fraction=0.2, seed=3)
    hb = lock_holdout(units.size, y, groups=salted_b, fraction=0.2, seed=3)
    assert ha.test_idx.tolist() == hb.test_idx.tolist()
    split = make_splitter("patient-grouped-cv", 4, seed=1)
    fa = [t.tolist() for _, t in split.split(units.size, y, salted_a)]
    fb = [t.tolist() for _, t in split.split(units.size, y, salted_b)]
    assert fa == fb
