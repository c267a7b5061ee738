"""CV splitters: groups never straddle, temporal order holds, stratification keeps prevalence."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.util import Surv

from autods.errors import JudgeError, UserInputError
from autods.judge.splits import assert_no_group_overlap, make_splitter


def _check_partition(splits: list[tuple[np.ndarray, np.ndarray]], n: int) -> None:
    tests = np.concatenate([test for _, test in splits])
    assert np.array_equal(np.sort(tests), np.arange(n)), "test folds must partition the rows"
    for train, test in splits:
        assert np.intersect1d(train, test).size == 0


def test_stratified_cv_keeps_prevalence() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(503) < 0.13).astype(int)
    splitter = make_splitter("stratified-cv", n_splits=5, seed=1)
    splits = list(splitter.split(y.size, y))
    _check_partition(splits, y.size)
    positives = [int(y[test].sum()) for _, test in splits]
    assert max(positives) - min(positives) <= 1  # StratifiedKFold's guarantee
    assert not splitter.group_column_required and splitter.n_splits == 5


def test_stratified_cv_on_survival_stratifies_on_event() -> None:
    rng = np.random.default_rng(1)
    event = rng.random(200) < 0.2
    y = Surv.from_arrays(event=event, time=rng.exponential(size=200))
    splits = list(make_splitter("stratified-cv").split(np.zeros((200, 3)), y))
    events = [int(event[test].sum()) for _, test in splits]
    assert max(events) - min(events) <= 1


def test_stratified_cv_continuous_target_uses_kfold_and_is_seeded() -> None:
    y = np.random.default_rng(2).normal(size=100)
    a = list(make_splitter("stratified-cv", seed=3).split(100, y))
    b = list(make_splitter("stratified-cv", seed=3).split(100, y))
    c = list(make_splitter("stratified-cv", seed=4).split(100, y))
    _check_partition(a, 100)
    assert all(np.array_equal(x[1], z[1]) for x, z in zip(a, b))
    assert not all(np.array_equal(x[1], z[1]) for x, z in zip(a, c))


def test_rare_class_is_a_user_error() -> None:
    y = np.array([0] * 30 + [1] * 3)
    with pytest.raises(UserInputError, match="n_splits <= 3"):
        list(make_splitter("stratified-cv").split(33, y))


def test_patient_grouped_cv_never_straddles_and_stratifies() -> None:
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(120), rng.integers(1, 5, size=120))
    y = (rng.random(groups.size) < 0.3).astype(int)
    splitter = make_splitter("patient-grouped-cv", n_splits=4, seed=0)
    assert splitter.group_column_required
    splits = list(splitter.split(groups.size, y, groups=groups))
    _check_partition(splits, groups.size)
    assert_no_group_overlap(splits, groups)
    for train, test in splits:
        assert np.intersect1d(groups[train], groups[test]).size == 0
        assert abs(y[test].mean() - y.mean()) < 0.08


def test_site_grouped_cv_leaves_one_site_out_or_groups() -> None:
    sites = np.repeat(["a", "b", "c"], [40, 30, 30])
    splits = list(make_splitter("site-grouped-cv", n_splits=5).split(100, groups=sites))
    assert len(splits) == 3
    assert sorted(np.unique(sites[test])[0] for _, test in splits) == ["a", "b", "c"]
    assert_no_group_overlap(splits, sites)
    many = np.repeat(np.arange(12), 10)
    splits = list(make_splitter("site-grouped-cv", n_splits=4).split(120, groups=many))
    assert len(splits) == 4
    assert_no_group_overlap(splits, many)
    _check_partition(splits, 120)


def test_temporal_split_trains_strictly_on_the_past() -> None:
    rng = np.random.default_rng(4)
    times = rng.integers(0, 40, size=300)  # many ties on purpose
    splits = list(make_splitter("temporal-split", n_splits=4).split(300, times=times))
    assert len(splits) == 4
    tests = np.concatenate([test for _, test in splits])
    assert np.unique(tests).size == tests.size
    previous = 0
    for train, test in splits:
        assert times[train].max() < times[test].min()
        assert train.size > previous  # expanding window
        previous = train.size


def test_temporal_split_with_groups_drops_returning_units_from_train() -> None:
    times = np.arange(100)
    groups = np.arange(100) % 30
    for train, test in make_splitter("temporal-split", n_splits=3).split(100, times=times,
                                                                         groups=groups):
        assert np.intersect1d(groups[train], groups[test]).size == 0
        assert times[train].max() < times[test].min()


def test_user_errors_name_problem_and_fix() -> None:
    with pytest.raises(UserInputError, match="Fix: use one of stratified-cv"):
        make_splitter("random-cv")
    with pytest.raises(UserInputError, match="needs a group column"):
        list(make_splitter("patient-grouped-cv").split(50, np.zeros(50)))
    with pytest.raises(UserInputError, match="needs a group column"):
        list(make_splitter("site-grouped-cv").split(50))
    with pytest.raises(UserInputError, match="needs a time"):
        list(make_splitter("temporal-split").split(50))
    with pytest.raises(UserInputError, match="distinct times"):
        list(make_splitter("temporal-split", n_splits=4).split(50, times=np.repeat([1, 2], 25)))
    with pytest.raises(UserInputError, match="n_splits"):
        make_splitter("stratified-cv", n_splits=1)


def test_assert_no_group_overlap_detects_leak() -> None:
    groups = np.array([1, 1, 2, 2, 3, 3])
    with pytest.raises(JudgeError, match="fold 0"):
        assert_no_group_overlap([(np.array([0, 2, 4]), np.array([1, 3, 5]))], groups)


def test_grouped_splits_move_with_the_seed_for_continuous_targets() -> None:
    from autods.judge.splits import make_splitter

    groups = np.repeat(np.arange(40), 3)
    y = np.random.default_rng(0).normal(size=groups.size)  # continuous: no stratification

    def folds(seed: int) -> list[list[int]]:
        return [sorted(t.tolist()) for _, t in make_splitter("patient-grouped-cv", 5, seed).split(groups.size, y, groups)]

    assert folds(0) != folds(1)  # another seed is another split: a real confirmation
    assert folds(0) == folds(0)
