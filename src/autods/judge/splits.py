"""Cross-validation splitters owned by the judge.

``make_splitter(strategy)`` returns an object with ``split(n_rows_or_X, y, groups, times)``
yielding ``(train_idx, test_idx)`` integer arrays. Strategies:

* ``stratified-cv``: StratifiedKFold on class labels, on ``event`` for survival, plain
  shuffled KFold for a continuous (or absent) target.
* ``patient-grouped-cv``: StratifiedGroupKFold: a unit (patient) is never on both sides.
* ``site-grouped-cv``: leave-one-site-out when there are at most ``n_splits`` sites (so
  the number of folds is the number of sites), otherwise GroupKFold.
* ``temporal-split``: rows sorted by ``times`` are cut into ``n_splits + 1`` blocks; fold
  k tests on block k+1 and trains on every earlier block (expanding window). Tied times
  never straddle a cut, so every train row is strictly earlier than every test row. When
  ``groups`` are given, train rows of units that reappear in the test block are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    LeaveOneGroupOut,
    StratifiedGroupKFold,
    StratifiedKFold,
)
from sklearn.utils.multiclass import type_of_target

from autods.errors import JudgeError, UserInputError

__all__ = ["STRATEGIES", "Splitter", "assert_no_group_overlap", "make_splitter", "strata"]

STRATEGIES = ("stratified-cv", "patient-grouped-cv", "site-grouped-cv", "temporal-split")
_NEEDS_GROUPS = {"patient-grouped-cv", "site-grouped-cv"}

Split = tuple[np.ndarray, np.ndarray]


def unit_codes(groups: Any) -> tuple[np.ndarray, int]:
    """Integer unit codes in order of first appearance, and the number of units.

    Splits are drawn on these codes, so they depend on the row order and the seed only,
    never on the id values: a de-identified (salted-hash) id column gives the same folds
    and the same held-out units in every run of the same data.
    """
    g = np.asarray(groups)
    _, first, inverse = np.unique(g, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.ravel()], int(order.size)


#: a numeric target with more distinct values than this is continuous, whatever its values look like
MAX_CLASSES = 20
#: quantile bins a continuous target is stratified on
N_QUANTILE_BINS = 5


def quantile_bins(values: np.ndarray, n_bins: int = N_QUANTILE_BINS) -> np.ndarray:
    """Bin codes 0..n_bins-1 by rank, so ties and skew never leave a bin empty."""
    ranks = np.argsort(np.argsort(values, kind="stable"), kind="stable")
    return (ranks * n_bins // max(len(values), 1)).astype(int)


def strata(y: Any) -> np.ndarray | None:
    """Labels to stratify on: classes, the survival event flag, or quantile bins of a continuous y.

    An integer-valued numeric target with many levels (a score, a count, days) is continuous:
    treating its values as classes would leave most "classes" with one row.
    """
    kind = strata_kind(y)
    if kind == "none":
        return None
    arr = np.asarray(y)
    if kind == "event":
        return arr["event"].astype(int)
    return quantile_bins(arr.astype(float)) if kind == "target quantile bins" else arr


def strata_kind(y: Any) -> str:
    """What :func:`strata` stratifies ``y`` on: "event", "target quantile bins", "classes" or "none"."""
    if y is None:
        return "none"
    arr = np.asarray(y)
    if arr.dtype.names is not None and "event" in arr.dtype.names:
        return "event"
    if arr.ndim != 1:
        return "none"
    kind = type_of_target(arr)
    if arr.dtype.kind in "iuf" and (kind == "continuous" or len(np.unique(arr)) > MAX_CLASSES):
        return "target quantile bins" if len(arr) >= 2 * N_QUANTILE_BINS else "none"
    return "classes" if kind in ("binary", "multiclass") else "none"


def _n_rows(n_rows_or_X: Any) -> int:
    if isinstance(n_rows_or_X, (int, np.integer)):
        return int(n_rows_or_X)
    return len(n_rows_or_X)


def _check_min_class(labels: np.ndarray, n_splits: int, what: str) -> None:
    _, counts = np.unique(labels, return_counts=True)
    if counts.min() < n_splits:
        raise UserInputError(
            f"the rarest {what} has only {counts.min()} rows, fewer than the {n_splits} folds "
            "(some test folds would lack it)",
            f"use n_splits <= {counts.min()} or merge rare classes",
        )


@dataclass(frozen=True)
class Splitter:
    """A frozen CV scheme. Call :meth:`split`; attributes describe it for the fact sheet."""

    strategy: str
    n_splits: int = 5
    seed: int = 0
    repeats: int = 1

    @property
    def group_column_required(self) -> bool:
        return self.strategy in _NEEDS_GROUPS

    def keyed_split(self, n_rows_or_X: Any, y: Any = None, groups: Any = None, times: Any = None
                    ) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Every fold of every repeat as ``(key, train, test)`` with keys ``r{repeat}k{fold}``.

        Repeat ``r`` reshuffles with seed ``seed + r``; a scheme with a single arrangement
        (temporal, leave-one-site-out) is not repeated. The keys are what pairs two
        experiments' fold scores, so they depend only on the plan, never on the recipe.
        """
        first = list(self.split(n_rows_or_X, y, groups, times))
        out = [(f"r0k{k}", tr, te) for k, (tr, te) in enumerate(first)]
        if self.repeats <= 1 or not self._shuffles(groups):
            return out
        for r in range(1, self.repeats):
            again = replace(self, seed=self.seed + r, repeats=1).split(n_rows_or_X, y, groups, times)
            out += [(f"r{r}k{k}", tr, te) for k, (tr, te) in enumerate(again)]
        return out

    def _shuffles(self, groups: Any) -> bool:
        if self.strategy == "temporal-split":
            return False
        if self.strategy == "site-grouped-cv":
            return np.unique(unit_codes(groups)[0]).size > self.n_splits  # else leave-one-site-out
        return True

    def split(
        self, n_rows_or_X: Any, y: Any = None, groups: Any = None, times: Any = None
    ) -> Iterator[Split]:
        n = _n_rows(n_rows_or_X)
        if n < self.n_splits:
            raise UserInputError(
                f"{n} rows cannot fill {self.n_splits} folds", "use fewer folds or more data"
            )
        for name, value in (("y", y), ("groups", groups), ("times", times)):
            if value is not None and len(value) != n:
                raise UserInputError(f"{name} has {len(value)} entries for {n} rows",
                                     f"pass one {name} value per row")
        if self.group_column_required and groups is None:
            raise UserInputError(
                f"{self.strategy} needs a group column (one unit/site id per row)",
                "set id_column (patients) or site_column (sites) in TASK.md, "
                "or choose validation: stratified-cv",
            )
        rows = np.arange(n)
        if self.strategy == "stratified-cv":
            return self._stratified(rows, y)
        if self.strategy == "patient-grouped-cv":
            return self._patient(rows, y, unit_codes(groups)[0])
        if self.strategy == "site-grouped-cv":
            return self._site(rows, unit_codes(groups)[0])
        return self._temporal(n, times, None if groups is None else unit_codes(groups)[0])

    def _stratified(self, rows: np.ndarray, y: Any) -> Iterator[Split]:
        labels = strata(y)
        if labels is None:
            yield from KFold(self.n_splits, shuffle=True, random_state=self.seed).split(rows)
            return
        _check_min_class(labels, self.n_splits, "class")
        cv = StratifiedKFold(self.n_splits, shuffle=True, random_state=self.seed)
        yield from cv.split(rows, labels)

    def _patient(self, rows: np.ndarray, y: Any, groups: np.ndarray) -> Iterator[Split]:
        n_units = np.unique(groups).size
        if n_units < self.n_splits:
            raise UserInputError(f"only {n_units} units for {self.n_splits} folds",
                                 f"use n_splits <= {n_units}")
        labels = strata(y)
        if labels is None:
            # shuffled so another seed gives another split (noise floor, promotion confirmation)
            yield from GroupKFold(self.n_splits, shuffle=True, random_state=self.seed).split(rows, groups=groups)
            return
        _check_min_class(labels, self.n_splits, "class")
        cv = StratifiedGroupKFold(self.n_splits, shuffle=True, random_state=self.seed)
        yield from cv.split(rows, labels, groups)

    def _site(self, rows: np.ndarray, groups: np.ndarray) -> Iterator[Split]:
        n_sites = np.unique(groups).size
        if n_sites < 2:
            raise UserInputError("site-grouped-cv needs at least 2 sites, found "
                                 f"{n_sites}", "choose validation: stratified-cv")
        cv = (LeaveOneGroupOut() if n_sites <= self.n_splits
              else GroupKFold(self.n_splits, shuffle=True, random_state=self.seed))
        yield from cv.split(rows, groups=groups)

    def _temporal(self, n: int, times: Any, groups: np.ndarray | None) -> Iterator[Split]:
        if times is None:
            raise UserInputError("temporal-split needs a time per row",
                                 "set time_column in TASK.md or choose another validation")
        t = np.asarray(times)
        order = np.argsort(t, kind="stable")
        t_sorted = t[order]
        # Nominal cuts, then moved left onto the first row of their tie run so equal times
        # always land in the same block (train strictly earlier than test).
        nominal = (np.arange(1, self.n_splits + 1) * n) // (self.n_splits + 1)
        cuts = np.searchsorted(t_sorted, t_sorted[nominal], side="left")
        bounds = np.concatenate([cuts, [n]])
        if np.any(np.diff(np.concatenate([[0], bounds])) <= 0):
            raise UserInputError(
                f"too few distinct times for {self.n_splits} forward-chaining folds",
                "use fewer folds or a finer time column",
            )
        for k in range(self.n_splits):
            train = order[: bounds[k]]
            test = order[bounds[k] : bounds[k + 1]]
            if groups is not None:
                train = train[~np.isin(groups[train], groups[test])]
            yield np.sort(train), np.sort(test)


def make_splitter(strategy: str, n_splits: int = 5, seed: int = 0, repeats: int = 1) -> Splitter:
    """The judge's splitter for ``strategy`` (one of :data:`STRATEGIES`)."""
    if strategy not in STRATEGIES:
        raise UserInputError(f"unknown validation strategy {strategy!r}",
                             f"use one of {', '.join(STRATEGIES)}")
    if not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise UserInputError(f"n_splits must be an integer >= 2, got {n_splits!r}",
                             "use n_splits: 5")
    if not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise UserInputError(f"cv_repeats must be an integer >= 1, got {repeats!r}", "use cv_repeats: 1")
    return Splitter(strategy=strategy, n_splits=int(n_splits), seed=int(seed), repeats=int(repeats))


def assert_no_group_overlap(splits: Iterable[Split], groups: Any) -> None:
    """Raise :class:`JudgeError` if any unit appears in both train and test of a fold."""
    g = np.asarray(groups)
    for k, (train, test) in enumerate(splits):
        shared = np.intersect1d(g[train], g[test])
        if shared.size:
            raise JudgeError(
                f"fold {k}: {shared.size} unit(s) in both train and test, e.g. {shared[:3].tolist()}"
            )
