"""Promotion on the plan's shared folds: the paired corrected t-test and the one-SE rule (issue 12).

Results carry the ``folds:RxK`` split label the harness writes, so the server pairs a challenger's
fold scores with the champion's. The values are synthetic 5 x 5 fold scores; the statistic itself is
checked against baycomp in tests/test_judge_paired.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agents_helpers import service_world
from autods.errors import ProtocolViolation

SPLIT = "folds:5x5"
BASE = np.random.default_rng(0).normal(0.80, 0.03, 25)  # one dataset's 25 fold difficulties


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[dict]:
    yield from service_world(f"sqlite:///{tmp_path / 'state.db'}", "paired")


def _results(w: dict, family: str, folds_by_seed: list[np.ndarray], split: str = SPLIT) -> list:
    svc = w["svc"]
    p = svc.propose(w["ann"], w["run"], {"family": family, "features": [f"tag{len(folds_by_seed[0]) * folds_by_seed[0][0]:.9g}"]},
                    f"try {family}", 0.01, family)
    svc.critique(w["bob"], p.id, "approve", "sound")
    out = []
    for seed, folds in enumerate(folds_by_seed):
        svc.enqueue(w["ann"], p.id, seed=seed)
        item = svc.claim(w["exp"], w["run"])
        out.append(svc.record_result(w["harness"], item.id, "auroc", float(np.mean(folds)), True,
                                     [float(f) for f in folds], split=split))
    return out


def _champion(w: dict, family: str = "logistic") -> list:
    first = _results(w, family, [BASE, BASE + 0.002])
    w["svc"].promote(w["validator"], first[0].id)
    return first


def test_a_consistent_gain_on_shared_folds_is_promoted(world: dict) -> None:
    _champion(world)
    rng = np.random.default_rng(1)
    better = _results(world, "lightgbm", [BASE + 0.03 + rng.normal(0, 0.01, 25), BASE + 0.03 + rng.normal(0, 0.01, 25)])
    champ = world["svc"].promote(world["validator"], better[0].id)
    assert champ.result_id == better[0].id
    assert champ.value == pytest.approx((better[0].value + better[1].value) / 2)  # mean over seeds


def test_noise_that_beats_the_naive_floor_is_refused(world: dict) -> None:
    _champion(world)
    rng = np.random.default_rng(2)
    # +0.006 on average with fold-to-fold noise 0.03: the naive fold SE (~0.006/sqrt(25)) would let it through
    noisy = [BASE + 0.006 + rng.normal(0, 0.03, 25) for _ in range(2)]
    results = _results(world, "lightgbm", noisy)
    with pytest.raises(ProtocolViolation, match="paired corrected t-test on 25 shared folds") as exc:
        world["svc"].promote(world["validator"], results[0].id)
    assert exc.value.rule == "no_improvement"


def test_a_simpler_model_not_separated_replaces_a_complex_champion(world: dict) -> None:
    _champion(world, family="lightgbm")
    rng = np.random.default_rng(3)
    simple = _results(world, "logistic", [BASE - 0.002 + rng.normal(0, 0.01, 25) for _ in range(2)])
    champ = world["svc"].promote(world["validator"], simple[0].id)
    assert champ.result_id == simple[0].id


def test_a_complex_model_not_separated_does_not_replace_a_simple_champion(world: dict) -> None:
    _champion(world, family="logistic")
    rng = np.random.default_rng(3)
    complex_ = _results(world, "lightgbm", [BASE + 0.002 + rng.normal(0, 0.01, 25) for _ in range(2)])
    with pytest.raises(ProtocolViolation, match="one-sided p ="):
        world["svc"].promote(world["validator"], complex_[0].id)


def test_results_off_the_plan_folds_fall_back_to_the_noise_floor(world: dict) -> None:
    _champion(world)
    rng = np.random.default_rng(2)
    noisy = [BASE + 0.006 + rng.normal(0, 0.03, 25) for _ in range(2)]
    results = _results(world, "lightgbm", noisy, split="default")
    with pytest.raises(ProtocolViolation, match="noise floor"):
        world["svc"].promote(world["validator"], results[0].id)
