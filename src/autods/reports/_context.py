"""What the report modules read from a run folder, loaded once, and the locked held-out split.

Nothing here computes a metric. It rebuilds exactly what :func:`autods.runners.evaluate`
used (the governed frame, the feature list, the held-out split), so the champion refit and
every validation number are on the same rows as the experiments that chose the champion.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from autods.errors import JudgeError, UserInputError
from autods.execution.analytic import AnalyticTask, load_analytic
from autods.runfolder import RunConfig, RunFolder, read_json
from autods.tasks.load import Task

__all__ = ["RunContext", "load_context"]

DECLARED_PROXY = "declared proxy (TASK.md exclude)"


@dataclass(frozen=True)
class RunContext:
    """A run folder with its config, governed task, governance record and design."""

    folder: RunFolder
    config: RunConfig
    analytic: AnalyticTask
    governance: dict[str, Any]

    @property
    def task(self) -> Task:
        return self.analytic.task

    @property
    def design(self) -> dict[str, Any]:
        return self.analytic.design

    @property
    def root(self) -> Path:
        return self.folder.root

    @cached_property
    def excluded(self) -> list[tuple[str, str]]:
        """(feature, reason) for every column kept out of modelling, as evaluate() builds it."""
        out = [(str(n), str(r)) for n, r in self.analytic.exclude]
        seen = {n for n, _ in out}
        out += [(c, DECLARED_PROXY) for c in self.task.spec.exclude if c not in seen]
        return out

    @cached_property
    def features(self) -> tuple[str, ...]:
        """Columns a recipe may use: the governed frame minus endpoint, unit id and exclusions."""
        frame = self.task.frame
        return tuple(c for c in self.task.feature_columns([n for n, _ in self.excluded]) if c in frame.columns)

    @cached_property
    def y(self) -> Any:
        return self.task.target(self.task.frame)

    @cached_property
    def units(self) -> np.ndarray | None:
        col = self.task.spec.id_column
        return None if col is None else self.task.frame[col].astype(str).to_numpy()

    @property
    def units_repeat(self) -> bool:
        return self.units is not None and len(np.unique(self.units)) < len(self.units)

    def locked_split(self) -> Any:
        """The held-out split (``None`` when ``test_fraction`` is 0), locked exactly as evaluate() locks it.

        Written to ``holdout.json`` the first time; afterwards the file must agree with a fresh
        lock, or the data changed under the run.
        """
        from autods.judge.holdout import HoldoutSplit, lock_holdout
        # evaluate()'s own helpers: the split must be bit-identical to the one CV excluded.
        from autods.runners.evaluate import _data_hash, _times, choose_strategy

        task = self.task
        if task.launch.test_fraction <= 0:
            return None
        strategy = choose_strategy(task)
        times = _times(task.frame, task.spec.time_column) if strategy == "temporal-split" else None
        split = lock_holdout(len(task.frame), self.y, groups=self.units, fraction=task.launch.test_fraction,
                             seed=task.launch.seed, times=times, data_hash=_data_hash(task))
        path = self.folder.holdout
        if path.is_file():
            saved = HoldoutSplit.load(path)
            if saved.content_hash != split.content_hash:
                raise JudgeError(f"{path} does not match the split locked on this run's data; the data changed")
            return saved
        split.save(path)
        return split


def load_context(run_dir: str | Path) -> RunContext:
    """Read ``run.json``, the task spec copy and ``analytic/`` of a run folder."""
    folder = RunFolder(Path(run_dir))
    config = folder.config()
    if not (folder.analytic / "frame.parquet").is_file():
        raise UserInputError(f"run folder '{folder.root}' has no governed dataset (analytic/frame.parquet)",
                             "resume the run (autods resume) so the data steward's step completes")
    analytic = load_analytic(folder)
    governance = read_json(folder.analytic / "governance.json")
    return RunContext(folder, config, analytic, governance)
