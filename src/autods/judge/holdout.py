"""The locked held-out test split, and the ledger that lets it be scored exactly once.

``lock_holdout`` picks the test rows before any model is fitted: whole units when
``groups`` are given (the fraction is then a fraction of units), stratified on the class or
survival event when every stratum can be split, or the latest rows when ``times`` are
given (ties at the cut all go to test, so no train row is as late as a test row).

The split is identified by ``content_hash`` = sha256 of the sorted test indices and the
caller's data hash, so the same rows of different data are a different split. The
:class:`HoldoutLedger` is a JSON file; the check-and-record step holds an exclusive file
lock and the file is replaced atomically, so two processes cannot both score one split. A
scorer that raises still burns the split: it has seen the test rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sklearn.model_selection import train_test_split

from autods.errors import JudgeError, TestSetAlreadyScored
from autods.judge.splits import strata, unit_codes

try:  # POSIX; on Windows the ledger still refuses re-scoring but without a cross-process lock
    import fcntl
except ImportError:  # pragma: no cover - not exercised on Linux CI
    fcntl = None  # type: ignore[assignment]

__all__ = ["HoldoutLedger", "HoldoutSplit", "lock_holdout", "split_hash", "verify"]

T = TypeVar("T")


def split_hash(test_idx: np.ndarray, data_hash: str) -> str:
    """sha256 over the sorted test indices and the caller's data hash."""
    body = ",".join(map(str, np.sort(np.asarray(test_idx, dtype=np.int64)).tolist()))
    return hashlib.sha256(f"{body}|{data_hash}".encode()).hexdigest()


@dataclass(frozen=True, eq=False)  # arrays: compare splits by content_hash
class HoldoutSplit:
    """Train/test row indices of the locked split (sorted int arrays)."""

    train_idx: np.ndarray
    test_idx: np.ndarray
    data_hash: str
    content_hash: str

    def save(self, path: str | os.PathLike[str]) -> None:
        doc = {"train_idx": self.train_idx.tolist(), "test_idx": self.test_idx.tolist(),
               "data_hash": self.data_hash, "content_hash": self.content_hash}
        _atomic_write(Path(path), doc)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> HoldoutSplit:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        split = cls(np.asarray(doc["train_idx"], dtype=np.int64),
                    np.asarray(doc["test_idx"], dtype=np.int64), doc["data_hash"], doc["content_hash"])
        if split_hash(split.test_idx, split.data_hash) != split.content_hash:
            raise JudgeError(f"held-out split file {path} was edited: its hash does not match")
        return split


def _make(n_rows: int, test: np.ndarray, data_hash: str) -> HoldoutSplit:
    test = np.sort(np.asarray(test, dtype=np.int64))
    train = np.setdiff1d(np.arange(n_rows, dtype=np.int64), test)
    if test.size == 0 or train.size == 0:
        raise JudgeError(f"held-out split left {train.size} train and {test.size} test rows")
    return HoldoutSplit(train, test, data_hash, split_hash(test, data_hash))


def _stratify_ok(labels: np.ndarray | None, fraction: float) -> bool:
    if labels is None:
        return False
    _, counts = np.unique(labels, return_counts=True)
    # every stratum must put at least one member on each side
    return counts.size > 1 and counts.min() * min(fraction, 1 - fraction) >= 1


def lock_holdout(
    n_rows: int, y: Any, groups: Any = None, fraction: float = 0.2, seed: int = 0,
    times: Any = None, *, data_hash: str = "",
) -> HoldoutSplit:
    """Choose the held-out rows once; see the module docstring for the rules."""
    if not 0 < fraction < 1:
        raise JudgeError(f"holdout fraction must be in (0, 1), got {fraction}")
    labels = strata(y)
    if groups is not None:
        codes, n_units = unit_codes(groups)  # first-appearance order: independent of (salted) id values
        units = np.arange(n_units)
        if times is not None:  # latest units by their first (index) time
            first = np.full(units.size, np.inf)
            np.minimum.at(first, codes, np.asarray(times, dtype=float))
            n_test = max(1, int(round(fraction * units.size)))
            test_units = np.argsort(first, kind="stable")[units.size - n_test:]
        else:
            # a unit's stratum: whether any of its rows is positive / had the event
            unit_labels = None if labels is None else np.bincount(codes, weights=labels != labels.min()) > 0
            strat = unit_labels if _stratify_ok(unit_labels, fraction) else None
            _, test_units = train_test_split(np.arange(units.size), test_size=fraction,
                                             random_state=seed, stratify=strat)
        return _make(n_rows, np.flatnonzero(np.isin(codes, test_units)), data_hash)
    if times is not None:
        t = np.asarray(times)
        cut = np.sort(t)[n_rows - max(1, int(round(fraction * n_rows)))]
        return _make(n_rows, np.flatnonzero(t >= cut), data_hash)
    strat = labels if _stratify_ok(labels, fraction) else None
    _, test = train_test_split(np.arange(n_rows), test_size=fraction, random_state=seed, stratify=strat)
    return _make(n_rows, test, data_hash)


def verify(split: HoldoutSplit, data_hash: str) -> None:
    """Raise :class:`JudgeError` unless ``data_hash`` is the data the split was locked on."""
    if split_hash(split.test_idx, data_hash) != split.content_hash:
        raise JudgeError("the data changed since the held-out split was locked "
                         f"(locked on {split.data_hash[:12]!r}, now {data_hash[:12]!r})")


def _atomic_write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


class HoldoutLedger:
    """A JSON file recording which held-out splits were scored, and with what result."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            yield  # the lock is released when the file closes

    def records(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text(encoding="utf-8"))["scored"]

    def is_scored(self, split: HoldoutSplit) -> bool:
        return split.content_hash in self.records()

    def verify(self, split: HoldoutSplit, data_hash: str) -> None:
        verify(split, data_hash)

    def _record(self, split: HoldoutSplit, entry: dict[str, Any], *, new: bool) -> None:
        with self._locked():
            records = self.records()
            if new and split.content_hash in records:
                raise TestSetAlreadyScored(
                    f"held-out split {split.content_hash[:12]} was already scored at "
                    f"{records[split.content_hash]['scored_at']}; it may be scored once"
                )
            records[split.content_hash] = {**records.get(split.content_hash, {}), **entry}
            _atomic_write(self.path, {"scored": records})

    def score_once(self, split: HoldoutSplit, scorer: Callable[[np.ndarray], T]) -> T:
        """Call ``scorer(test_idx)`` the one permitted time and record its result."""
        if split_hash(split.test_idx, split.data_hash) != split.content_hash:
            raise JudgeError("held-out split was altered after locking: its hash does not match")
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        # reserve before scoring, so a concurrent or crashed scorer cannot get a second look
        self._record(split, {"scored_at": now, "n_test": int(split.test_idx.size),
                             "status": "scoring"}, new=True)
        try:
            result = scorer(split.test_idx.copy())
        except BaseException as err:  # recorded and re-raised: the rows were seen anyway
            self._record(split, {"status": "failed", "error": repr(err)}, new=False)
            raise
        self._record(split, {"status": "scored", "result": _jsonable(result)}, new=False)
        return result
