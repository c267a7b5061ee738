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
from autods.guard.profile import (
    MIN_SHAPE_ROWS, DataProfile, id_name_strength, integer_id_shape, name_tokens, profile_frame,
)
from autods.tasks.load import Task

# Header words of bookkeeping columns (whole tokens; see profile.name_tokens). A column named
# only `index` or `seq` is a row counter; `batch`, `version`, `export` anywhere mark the data
# pipeline, not the patient. Clinical indices (`body_mass_index`) are not matched.
ADMIN_SOLE = {"index", "idx", "row", "rownum", "seq", "sequence", "serial", "order", "line", "obs", "n", "year", "date",
              "batch", "source", "file", "page", "form", "version"}
ADMIN_ANY = {"unnamed", "rownum", "rowid", "batch", "plate", "version", "created", "updated", "modified", "timestamp",
             "filename", "extraction", "export", "operator", "clerk", "site", "center", "centre", "hospital",
             "institution", "clinic", "facility", "enrolment", "enrollment", "registration", "year"}
NEAR_UNIQUE_FEATURE = 0.95


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


def identifier_reason(column: str, s: pd.Series, profile: DataProfile) -> str | None:
    """Why ``column`` is an identifier rather than a measurement, or ``None``.

    Looser than the profile's kind test: it only decides what happens to a feature that
    already separates the outcome on its own, where near-unique integers are a row label.
    """
    if profile.kind(column) == "identifier":
        return "it is a record identifier"
    if id_name_strength(column) == 2:
        return "its name marks an identifier"
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return None
    x = pd.to_numeric(s, errors="coerce").dropna().astype(float).to_numpy()
    if len(x) < MIN_SHAPE_ROWS or not np.all(np.mod(x, 1) == 0):
        return None
    shape = integer_id_shape(x)
    if shape:
        return f"it is identifier-shaped ({shape})"
    if len(np.unique(x)) >= NEAR_UNIQUE_FEATURE * len(x):
        return "it is identifier-shaped (near-unique integers)"
    return None


def administrative_reason(column: str, profile: DataProfile) -> str | None:
    """Why ``column`` records the data's bookkeeping (dates, sites, row counters), or ``None``."""
    if profile.kind(column) == "datetime":
        return "it is a calendar date (enrolment or follow-up time, not patient state)"
    if column in profile.site_columns:
        return "it is a site or batch column"
    tokens = name_tokens(column)
    if (len(tokens) == 1 and tokens[0] in ADMIN_SOLE) or any(t in ADMIN_ANY for t in tokens):
        return "its name marks an administrative column"
    return None
