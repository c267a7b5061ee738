"""Load a task folder into a :class:`Task`: specs plus validated data frames.

Every problem a user can fix (missing file, unreadable file, empty data, endpoint absent,
constant or all-missing endpoint, negative or non-numeric survival time, an event without a
time, wrong positive class, an ambiguous several-file layout) is a
:class:`~autods.errors.DataError` with one line naming the problem and the fix. Zero follow-up
times are dropped with a cohort-flow step and a warning record (:attr:`Task.loader_warnings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from autods.errors import DataError
from autods.tasks.provenance import Provenance, file_sha256
from autods.tasks.spec import LaunchSpec, TaskSpec, read_specs

READERS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}


def read_table(path: Path, role: str = "data") -> pd.DataFrame:
    """Read one CSV/TSV/Parquet file; a missing, unknown or unreadable file is a DataError."""
    if not path.exists():
        raise DataError(f"{role} file '{path}' does not exist", f"check the '{role}' path in TASK.md (it is relative to the task folder)")
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{role} file '{path.name}' has an unsupported format '{path.suffix}'",
            "use CSV, TSV or Parquet (AnnData .h5ad needs the singlecell loader)",
        )
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", low_memory=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{role} file '{path.name}' cannot be read ({first})", "check that it is a well-formed, UTF-8 table") from None
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{role} file '{path.name}' has no rows", "point TASK.md at a file with data")
    return frame


def _check_endpoint(frame: pd.DataFrame, spec: TaskSpec, role: str) -> None:
    ep = spec.endpoint
    for col in ep.columns:
        if col not in frame.columns:
            close = [c for c in frame.columns if c.lower() == str(col).lower()]
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise DataError(
                f"endpoint column '{col}' is not in the {role}{hint}",
                f"set endpoint in TASK.md to one of the columns: {', '.join(map(str, frame.columns[:12]))}",
            )
    if ep.is_survival:
        _check_survival(frame, spec, role)
        return
    y = frame[ep.column]
    if y.isna().all():
        raise DataError(f"endpoint '{ep.column}' is missing in every row", "choose an endpoint column that is recorded")
    if y.dropna().nunique() < 2:
        raise DataError(
            f"endpoint '{ep.column}' is constant ({y.dropna().iloc[0]!r})",
            "there is nothing to predict: choose another endpoint or data with both outcomes",
        )
    if spec.task_type == "binary":
        levels = list(pd.unique(y.dropna()))
        if len(levels) != 2:
            raise DataError(
                f"binary endpoint '{ep.column}' has {len(levels)} levels",
                "use task_type: multiclass, or recode the endpoint to two levels",
            )
        if ep.positive_class is not None and not any(_same(ep.positive_class, v) for v in levels):
            raise DataError(
                f"positive_class {ep.positive_class!r} does not occur in '{ep.column}' (levels: {levels})",
                "set positive_class to one of the endpoint's levels",
            )
    if spec.task_type in ("regression", "biomarker") and not pd.api.types.is_numeric_dtype(y):
        raise DataError(f"{spec.task_type} endpoint '{ep.column}' is not numeric", "use a numeric endpoint or task_type: binary/multiclass")


def _check_survival(frame: pd.DataFrame, spec: TaskSpec, role: str) -> None:
    """Refuse what no estimator can use: negative times, events without a time, text times.

    Zero times are not refused here (``_drop_zero_times`` drops them with a step and a warning);
    a censored row without a time is dropped with the rows whose endpoint is missing.
    """
    ep = spec.endpoint
    raw = frame[ep.time]
    time = pd.to_numeric(raw, errors="coerce")
    where = "" if role == "data" else f" of the {role}"
    if time.isna().all():
        raise DataError(f"survival time column '{ep.time}'{where} has no numeric values", "point endpoint.time at a numeric follow-up time")
    n_text = int((raw.notna() & time.isna()).sum())
    if n_text:
        raise DataError(f"survival time '{ep.time}'{where} has {n_text} non-numeric value(s)",
                        "record follow-up times as numbers (days, months or years), or leave them empty")
    n_neg = int((time < 0).sum())
    if n_neg:
        raise DataError(f"survival time '{ep.time}'{where} is negative in {n_neg} row(s)",
                        "a follow-up time runs forward from the index date: correct or drop those rows")
    event = frame[ep.event]
    events = event.dropna()
    if events.empty or events.nunique() < 2 and not bool(events.astype(bool).any()):
        raise DataError(f"event column '{ep.event}'{where} has no events", "a survival task needs at least some observed events (1 = event)")
    if not set(pd.unique(events)).issubset({0, 1, True, False, 0.0, 1.0}):
        raise DataError(f"event column '{ep.event}'{where} is not 0/1", "code the event indicator as 1 = event, 0 = censored")
    n_untimed = int((event.astype(object).isin([1, True]) & time.isna()).sum())
    if n_untimed:
        raise DataError(f"{n_untimed} event(s) in '{ep.event}'{where} have no time in '{ep.time}'",
                        "record when each event happened, or drop those rows: an event without a time has no place in the risk set")


def _drop_zero_times(frame: pd.DataFrame, spec: TaskSpec, prov: Provenance, role: str = "data") -> pd.DataFrame:
    """Drop rows with follow-up time 0 (Cox partial likelihood, AFT and log-time models need time > 0),
    recording a cohort-flow step and a warning with the count, instead of refusing the cohort."""
    ep = spec.endpoint
    zero = (pd.to_numeric(frame[ep.time], errors="coerce") == 0).to_numpy()
    n_zero = int(zero.sum())
    if not n_zero:
        return frame
    n_events = int(frame.loc[zero, ep.event].astype(float).sum())
    kept = frame.loc[~zero].reset_index(drop=True)
    if kept.empty or not bool(kept[ep.event].astype(float).sum()):
        raise DataError(f"survival time '{ep.time}' of the {role} is 0 in {n_zero} row(s), leaving no events",
                        "follow-up times must be positive: check the time column")
    message = (f"{n_zero} row(s) of the {role} with follow-up time {ep.time} == 0 ({n_events} of them events) were "
               f"dropped: survival estimators need a positive time; {len(kept)} rows remain")
    prov.step(f"follow-up time {ep.time} > 0", len(kept), removed=n_zero,
              detail=f"rows with zero follow-up dropped ({n_events} events, {n_zero - n_events} censored)")
    prov.warning("survival_time", message, "if a zero time is a same-day event, record it as a small positive time "
                 "(e.g. 0.5 day) to keep it", evidence={"n_rows": n_zero, "n_events": n_events, "column": ep.time})
    return kept


def _same(a: object, b: object) -> bool:
    """Class labels match by text, or numerically when both are numbers (pandas reads an
    integer column with missing values as float: ``1`` must still match ``1.0``)."""
    if str(a) == str(b):
        return True
    try:
        return float(a) == float(b)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Task:
    """A loaded task. ``frame`` holds every row as read (after dropping rows whose endpoint is missing)."""

    spec: TaskSpec
    launch: LaunchSpec
    frame: pd.DataFrame
    external: pd.DataFrame | None = None
    data_hashes: dict[str, str] = field(default_factory=dict)
    dropped_missing_endpoint: int = 0
    #: Loader provenance: source files with sha256, queries, row counts per step (see autods.tasks.provenance).
    provenance: list[dict] = field(default_factory=list)

    @property
    def loader_warnings(self) -> list[dict]:
        """Provenance ``warning`` records (e.g. zero follow-up times dropped): ``check``, ``message``, ``advice``, ``evidence``."""
        return [r for r in self.provenance if r.get("kind") == "warning"]

    @property
    def task_type(self) -> str:
        return self.spec.task_type

    @property
    def endpoint_columns(self) -> tuple[str, ...]:
        return self.spec.endpoint.columns

    @cached_property
    def positive_class(self) -> object | None:
        if self.task_type != "binary":
            return None
        if self.spec.endpoint.positive_class is not None:
            return self.spec.endpoint.positive_class
        levels = sorted(pd.unique(self.frame[self.spec.endpoint.column].dropna()), key=str)
        numeric = {str(v) for v in levels}
        for candidate in ("1", "True", "true", "yes", "Yes"):
            if candidate in numeric:
                return next(v for v in levels if str(v) == candidate)
        return levels[-1]

    @property
    def cv_strategy(self) -> str | None:
        return self.launch.cv_strategy or self.spec.validation

    @property
    def fairness_subgroups(self) -> tuple[str, ...]:
        return self.launch.fairness_subgroups if self.launch.fairness_subgroups is not None else self.spec.fairness_subgroups

    def target(self, frame: pd.DataFrame | None = None) -> np.ndarray:
        """Endpoint as the judge expects it: 0/1 (binary), labels, floats, or a survival structured array."""
        frame = self.frame if frame is None else frame
        ep = self.spec.endpoint
        if ep.is_survival:
            from sksurv.util import Surv

            return Surv.from_arrays(
                event=frame[ep.event].astype(float).astype(bool).to_numpy(),
                time=pd.to_numeric(frame[ep.time]).astype(float).to_numpy(),
                name_event="event",
                name_time="time",
            )
        y = frame[ep.column]
        if self.task_type == "binary":
            return np.asarray([1 if _same(v, self.positive_class) else 0 for v in y], dtype=int)
        if self.task_type in ("regression", "biomarker"):
            return y.astype(float).to_numpy()
        return y.to_numpy()

    def groups(self, frame: pd.DataFrame | None = None) -> np.ndarray | None:
        frame = self.frame if frame is None else frame
        col = self.spec.id_column
        return None if col is None else frame[col].astype(str).to_numpy()

    def feature_columns(self, exclude: tuple[str, ...] | list[str] = ()) -> list[str]:
        """Columns a model may use: everything but the endpoint, the unit id, declared proxies and ``exclude``."""
        drop = set(self.endpoint_columns) | set(self.spec.exclude) | set(exclude)
        if self.spec.id_column:
            drop.add(self.spec.id_column)
        return [c for c in self.frame.columns if c not in drop]


def load_task(task_dir: str | Path) -> Task:
    """Read the specs and data of a task folder and validate the endpoint.

    ``format`` in TASK.md picks the loader (:mod:`autods.tasks.registry`); plain tables are
    read here. Every source file, query and row count lands in ``Task.provenance``.
    """
    root = Path(task_dir)
    spec, launch = read_specs(root)
    prov = Provenance()
    frame = _load_frame(spec, prov)
    _check_columns(frame, spec)
    _check_endpoint(frame, spec, "data")
    keep = frame[list(spec.endpoint.columns)].notna().all(axis=1)
    dropped = int((~keep).sum())
    frame = frame.loc[keep].reset_index(drop=True)
    prov.step("endpoint recorded", len(frame), removed=dropped,
              detail=f"rows whose endpoint ({', '.join(spec.endpoint.columns)}) is missing are dropped"
              + (" (a censored row without a follow-up time adds nothing to any risk set)" if spec.endpoint.is_survival else ""))
    if spec.endpoint.is_survival:
        frame = _drop_zero_times(frame, spec, prov)
    external = None
    if spec.external_path is not None:
        ext_prov = Provenance()
        if spec.format in (None, "table"):
            external = read_table(spec.external_path, role="external")
            ext_prov.source(spec.external or "external", spec.external_path)
        else:
            external = _load_frame(spec.model_copy(update={"data": (spec.external,)}), ext_prov)
        _check_endpoint(external, spec, "external data")
        external = external.dropna(subset=list(spec.endpoint.columns)).reset_index(drop=True)
        if spec.endpoint.is_survival:
            external = _drop_zero_times(external, spec, ext_prov, role="external data")
        prov.records.extend({**r, "name": f"external: {r['name']}"} for r in ext_prov.records)
        prov.step("external validation data", len(external), detail="rows with a recorded endpoint")
        prov.hashes[spec.external or "external"] = next(iter(ext_prov.hashes.values()))
    return Task(spec=spec, launch=launch, frame=frame, external=external, data_hashes=dict(prov.hashes),
                dropped_missing_endpoint=dropped, provenance=prov.records)


def _load_frame(spec: TaskSpec, prov: Provenance) -> pd.DataFrame:
    from autods.tasks.registry import get_loader, resolve_format

    fmt = resolve_format(spec)
    if fmt != "table" and spec.join is not None:
        raise DataError(f"join: combines table files, but this task's data is read by the {fmt} loader",
                        "remove join: from TASK.md (the loader assembles its own tables)")
    if fmt != "table":
        frame = get_loader(fmt)(spec, prov)
        if frame.shape[0] == 0:
            raise DataError(f"the {fmt} loader produced no rows", "check the cohort definition in TASK.md (see the provenance row counts)")
        return frame
    from autods.tasks.join import Table, combine

    tables = []
    for rel, path in zip(spec.data, spec.data_paths):
        tables.append(Table(rel, read_table(path)))
        prov.source(rel, path)
        prov.step(f"read {rel}", len(tables[-1].frame), detail=f"{tables[-1].frame.shape[1]} columns")
    return tables[0].frame if len(tables) == 1 else combine(tables, spec, prov)


def _check_columns(frame: pd.DataFrame, spec: TaskSpec) -> None:
    named = {
        "id_column": [spec.id_column],
        "site_column": [spec.site_column],
        "time_column": [spec.time_column],
        "fairness_subgroups": list(spec.fairness_subgroups),
        "exclude": list(spec.exclude),
        "covariates": list(spec.covariates),
    }
    for key, cols in named.items():
        for col in cols:
            if col is not None and col not in frame.columns:
                raise DataError(f"{key} names column '{col}', which is not in the data", f"correct {key} in TASK.md or remove it")
