"""What every leakage check needs, computed once: the outcome views and each feature's
numeric view.

Categorical features are encoded by the **out-of-fold** mean of the outcome per level
(5 seeded folds). The ranks of those codes then go into AUROC / Spearman exactly like a
numeric feature. Out-of-fold matters: in-sample target means would let any
high-cardinality column (a visit number, a free-text code) look perfectly predictive by
memorisation; out-of-fold, a level must carry the same outcome in other rows to score.
Identifier and free-text columns are not encoded (they enter only the missingness check).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from autods.guard._stats import as_numeric, oof_target_encode
from autods.guard.profile import DataProfile, profile_frame
from autods.tasks.load import Task


@dataclass
class LeakageContext:
    task: Task
    frame: pd.DataFrame
    profile: DataProfile
    outcome_kind: str  # binary | multiclass | continuous | survival
    y: np.ndarray  # 0/1 (binary; survival: event), floats (continuous), labels (multiclass)
    time: np.ndarray | None  # survival follow-up time
    features: list[str]
    unit_id: str | None
    _views: dict[tuple[str, str], np.ndarray | None] = field(default_factory=dict)

    @property
    def endpoint_label(self) -> str:
        ep = self.task.spec.endpoint
        return f"event '{ep.event}'" if ep.is_survival else f"endpoint '{ep.column}'"

    def binary_targets(self) -> dict[str, np.ndarray]:
        """0/1 targets to discriminate: the outcome, the event, or one-vs-rest per class."""
        if self.outcome_kind in ("binary", "survival"):
            return {"outcome": self.y.astype(float)}
        if self.outcome_kind == "multiclass":
            labels = pd.Series(self.y).astype(str)
            return {f"class {lv}": (labels == lv).to_numpy(dtype=float) for lv in sorted(labels.unique())}
        return {}

    def view(self, column: str, target_name: str, target: np.ndarray) -> np.ndarray | None:
        """Numeric view of ``column`` for rank statistics against ``target`` (cached)."""
        key = (column, target_name)
        if key not in self._views:
            self._views[key] = self._compute_view(column, target)
        return self._views[key]

    def _compute_view(self, column: str, target: np.ndarray) -> np.ndarray | None:
        kind = self.profile.kind(column)
        s = self.frame[column]
        if kind in ("text", "identifier") or s.nunique(dropna=True) <= 1:
            return None
        numeric = as_numeric(s)
        if numeric is not None and kind in ("numeric", "boolean", "datetime"):
            return numeric
        return oof_target_encode(s, target)


def _outcome(task: Task, frame: pd.DataFrame) -> tuple[str, np.ndarray, np.ndarray | None]:
    ep = task.spec.endpoint
    if ep.is_survival:
        event = pd.to_numeric(frame[ep.event], errors="coerce").astype(float).to_numpy()
        time = pd.to_numeric(frame[ep.time], errors="coerce").astype(float).to_numpy()
        return "survival", event, time
    if task.task_type == "binary":
        return "binary", task.target(frame).astype(float), None
    if task.task_type == "multiclass":
        return "multiclass", frame[ep.column].to_numpy(), None
    return "continuous", pd.to_numeric(frame[ep.column], errors="coerce").astype(float).to_numpy(), None


def build_context(task: Task, frame: pd.DataFrame) -> LeakageContext:
    spec = task.spec
    profile = profile_frame(frame, spec, site_shift=False)
    kind, y, time = _outcome(task, frame)
    unit_id = spec.id_column or profile.unit_id
    skip = set(spec.endpoint.columns) | set(spec.exclude) | {unit_id}
    features = [c for c in frame.columns if c not in skip]
    return LeakageContext(task=task, frame=frame, profile=profile, outcome_kind=kind, y=y, time=time,
                          features=features, unit_id=unit_id)
