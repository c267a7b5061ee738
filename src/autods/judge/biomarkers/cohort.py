"""From a loaded Task to the unit-level arrays the screening and battery need.

Long data (an ``id_column`` whose values repeat) is split into participant-level columns
(constant within every unit: demographics, labs, the endpoint) and repeated measures,
which go through :func:`autods.tasks.longitudinal.construct_features`. Construction gets
only the id, the time and the repeated-measure columns: the endpoint and the excluded
variables are removed before it runs (label isolation).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from autods.errors import DataError, JudgeError
from autods.judge.biomarkers.screening import Response
from autods.tasks.load import Task
from autods.tasks.longitudinal import construct_features

__all__ = ["MAX_MISSING", "Cohort", "build_cohort"]

#: Candidates missing in more than this share of units are dropped rather than imputed.
MAX_MISSING = 0.2


@dataclass
class Cohort:
    """One row per unit: candidates, response, excluded variables and demographics."""

    units: pd.Index
    X: np.ndarray
    names: list[str]
    lineage: dict[str, tuple[str, ...]]
    response: Response
    excluded: pd.DataFrame
    covariates: np.ndarray
    covariate_names: list[str]
    sex: np.ndarray | None = None
    age: np.ndarray | None = None
    removed: list[dict[str, object]] = field(default_factory=list)
    long_format: bool = False


def _response(task: Task, units: pd.DataFrame) -> Response:
    ep = task.spec.endpoint
    if task.task_type == "survival":
        return Response("survival", units[ep.time].astype(float).to_numpy(), units[ep.event].astype(float).to_numpy())
    if task.task_type == "multiclass":
        raise JudgeError("the biomarker battery needs a continuous, binary or survival endpoint, not multiclass")
    y = task.target(units)
    binary = task.task_type == "binary" or np.unique(y).size == 2
    return Response("binary" if binary else "continuous", np.asarray(y, dtype=float))


def _design(units: pd.DataFrame, names: Iterable[str]) -> tuple[np.ndarray, list[str], np.ndarray | None, np.ndarray | None]:
    """Numeric covariate design (categoricals one-hot, first level dropped), plus sex and age if present."""
    cols, labels, sex, age = [], [], None, None
    for name in names:
        v = units[name]
        if name.lower() in ("sex", "gender"):
            sex = v.astype(str).to_numpy()
        if name.lower() in ("age", "age_years"):
            age = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)
        if pd.api.types.is_numeric_dtype(v):
            num = v.astype(float)
            cols.append(num.fillna(num.median()).to_numpy())
            labels.append(name)
        else:
            dummies = pd.get_dummies(v.astype(str).fillna("missing"), prefix=name, drop_first=True, dtype=float)
            cols.extend(dummies.to_numpy().T)
            labels.extend(dummies.columns)
    design = np.column_stack(cols) if cols else np.empty((len(units), 0))
    return design, labels, sex, age


def build_cohort(task: Task, composites: Iterable[tuple[str, str]] = ()) -> Cohort:
    """Unit-level candidates (constructed when the data is long) for a task."""
    spec, frame = task.spec, task.frame
    endpoint = list(spec.endpoint.columns)
    structural = {c for c in (spec.id_column, spec.time_column, spec.site_column) if c}
    reserved = set(endpoint) | set(spec.exclude) | set(spec.covariates) | structural
    idc = spec.id_column
    long_format = bool(idc) and bool(frame[idc].duplicated().any())
    lineage: dict[str, tuple[str, ...]] = {}
    if long_format:
        assert idc is not None
        varying = frame.groupby(idc, sort=True).nunique(dropna=True).max() > 1
        for col in endpoint:
            if varying.get(col, False):
                raise DataError(f"endpoint '{col}' varies within a unit of '{idc}'",
                                "a biomarker endpoint must have one value per unit: aggregate it first")
        units = frame.groupby(idc, sort=True).first()
        excl_long = [c for c in spec.exclude if varying.get(c, False)]
        if excl_long:  # a repeated excluded measure is compared with candidates through its unit mean
            units[excl_long] = frame.groupby(idc, sort=True)[excl_long].mean()
        repeated = [c for c in frame.columns if c not in reserved and varying.get(c, False)
                    and pd.api.types.is_numeric_dtype(frame[c])]
        if repeated and spec.time_column:
            built = construct_features(frame[[idc, spec.time_column, *repeated]], idc, spec.time_column,
                                       repeated, composites, forbidden=set(endpoint) | set(spec.exclude))
            lineage.update(built.attrs["lineage"])
            units = units.join(built)
        static = [c for c in units.columns if c not in reserved and c not in lineage and not varying.get(c, False)]
    else:
        units = frame.set_index(idc) if idc else frame
        static = [c for c in units.columns if c not in reserved]
    static = [c for c in static if pd.api.types.is_numeric_dtype(units[c])]
    lineage.update({c: (c,) for c in static})
    names = [c for c in units.columns if c in lineage]
    cand = units[names].astype(float)
    removed: list[dict[str, object]] = []
    missing = cand.isna().mean()
    constant = cand.nunique(dropna=True) <= 1
    for name in names:
        if missing[name] > MAX_MISSING:
            removed.append({"name": name, "reason": f"missing in {missing[name]:.0%} of units (> {MAX_MISSING:.0%})"})
        elif constant[name]:
            removed.append({"name": name, "reason": "constant across units"})
    gone = {r["name"] for r in removed}
    names = [n for n in names if n not in gone]
    cand = cand[names]
    # Median imputation of the few remaining gaps keeps one complete units x candidates matrix.
    X = cand.fillna(cand.median()).to_numpy(dtype=float)
    excluded = units[list(spec.exclude)].apply(pd.to_numeric, errors="coerce")
    design, labels, sex, age = _design(units, spec.covariates)
    return Cohort(units=units.index, X=X, names=names, lineage=lineage, response=_response(task, units),
                  excluded=excluded, covariates=design, covariate_names=labels, sex=sex, age=age,
                  removed=removed, long_format=long_format)
