"""Typed, frozen task specifications parsed from ``TASK.md`` and ``LAUNCH.md``.

Both files are YAML front matter between ``---`` lines followed by free text. Unknown keys
are an error naming the key and listing the valid ones: a typo must never be silently
ignored in a clinical analysis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autods.errors import TaskSpecError

TaskType = Literal["binary", "multiclass", "regression", "survival", "biomarker", "singlecell"]
Validation = Literal["stratified-cv", "patient-grouped-cv", "site-grouped-cv", "temporal-split"]
DeidentPolicy = Literal["drop", "hash", "shift_dates", "block"]
#: Built-in data formats; loaders registered with autods.tasks.registry.register_loader add more.
DATA_FORMATS = ("table", "fhir", "omop", "anndata", "cdisc", "wearable")

TASK_KEYS: dict[str, str] = {
    "name": "short identifier of the task",
    "task_type": "binary | multiclass | regression | survival | biomarker | singlecell",
    "endpoint": "a column, {column, positive_class}, or for survival {time: col, event: col}",
    "positive_class": "the endpoint value counted as the positive class (binary tasks)",
    "data": "path or list of paths relative to the task folder (CSV, Parquet, .h5ad)",
    "validation": "stratified-cv | patient-grouped-cv | site-grouped-cv | temporal-split",
    "id_column": "unit-of-analysis identifier (patient); repeated values force grouped CV",
    "site_column": "hospital / site / batch column",
    "time_column": "index date-time of each row (temporal splits, dated-after-index checks)",
    "fairness_subgroups": "columns whose groups get subgroup metrics",
    "exclude": "known proxies of the endpoint, removed before modelling",
    "covariates": "demographic covariates (e.g. age, sex) for confounding checks",
    "external": "path of an external validation dataset with the same columns",
    "join": "how several data files combine, only needed when the layout is ambiguous: the key column(s) "
            "([participant_id] or [participant_id, day]) or {on: [...], how: one_to_many | one_to_one}",
    "allow": "{row_level_cv: reason} permits stratified-cv over repeated units; {column: reason} keeps a column "
             "the leakage audit excluded; every entry needs a reason, recorded in the fact sheet and the report",
    "description": "free-text summary (the body of TASK.md is used when absent)",
    "format": "table | fhir | omop | anndata | cdisc | wearable: how data is read (default: table; .h5ad -> anndata)",
    "cohort": "loader settings as a mapping: OMOP cohort definition, FHIR index/outcome rules, CDISC endpoint, "
              "AnnData label/donor columns, wearable value columns (see docs/data-standards.md)",
}

LAUNCH_KEYS: dict[str, str] = {
    "deident_policy": "drop | hash | shift_dates | block: what to do with PHI columns",
    "cv_strategy": "overrides TASK.md validation (same values)",
    "n_splits": "number of CV folds (default 5)",
    "cv_repeats": "repeats of the K-fold split (default: 3 below 500 units or 100 events, 2 below 20,000, else 1)",
    "test_fraction": "share of units locked away as the held-out test (default 0.2)",
    "fairness_subgroups": "overrides TASK.md fairness_subgroups",
    "leakage_checks": "list of leakage checks to run (default: all)",
    "promotion_criteria": "{noise_floor_sd, confirm_seeds}: how a challenger becomes champion",
    "exit_condition": "{budget, minutes, target}: when the run stops",
    "brain": "expert | anthropic:MODEL | openai:MODEL",
    "workers": "number of experiment workers",
    "seed": "master random seed",
}


def _valid_keys_hint(keys: dict[str, str]) -> str:
    return ", ".join(keys)


class Endpoint(BaseModel):
    """The outcome: one column, or a survival pair (``time``, ``event``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str | None = None
    time: str | None = None
    event: str | None = None
    positive_class: str | int | float | bool | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Endpoint:
        if self.column is None and (self.time is None or self.event is None):
            raise ValueError("endpoint needs a column name, or both time and event for survival")
        if self.column is not None and (self.time is not None or self.event is not None):
            raise ValueError("endpoint is either a column or a {time, event} pair, not both")
        return self

    @property
    def is_survival(self) -> bool:
        return self.time is not None

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.time, self.event) if self.is_survival else (self.column,)  # type: ignore[return-value]


JoinHow = Literal["one_to_many", "one_to_one"]


class JoinSpec(BaseModel):
    """``join:`` in TASK.md: the key several data files are joined on (autods.tasks.join).

    Each pair of tables is joined on the ``on`` columns both have (a unit table without the
    time column joins on the unit alone). ``how`` is an assertion checked on the data:
    ``one_to_many`` needs one side unique on the key, ``one_to_one`` both.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    on: tuple[str, ...]
    how: JoinHow | None = None

    @field_validator("on", mode="before")
    @classmethod
    def _key_list(cls, v: Any) -> Any:
        cols = (v,) if isinstance(v, str) else tuple(v or ())
        if not cols or not all(isinstance(c, str) and c.strip() for c in cols):
            raise ValueError("join: on must name one or more columns, e.g. join: [participant_id, day]")
        if len(set(cols)) != len(cols):
            raise ValueError("join: on names a column twice")
        return cols


class TaskSpec(BaseModel):
    """What ``TASK.md`` declares. ``root`` is the task folder the paths are relative to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    task_type: TaskType
    endpoint: Endpoint
    data: tuple[str, ...]
    validation: Validation | None = None
    id_column: str | None = None
    site_column: str | None = None
    time_column: str | None = None
    fairness_subgroups: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()
    external: str | None = None
    description: str = ""
    format: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    cohort: dict[str, Any] | None = None
    allow: dict[str, str] = Field(default_factory=dict)
    join: JoinSpec | None = None
    root: Path = Field(default=Path("."), exclude=True)

    @field_validator("data", "fairness_subgroups", "exclude", "covariates", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        if v is None:
            return ()
        return (v,) if isinstance(v, str) else v

    @field_validator("join", mode="before")
    @classmethod
    def _join_shorthand(cls, v: Any) -> Any:
        # join: participant_id  /  join: [participant_id, day]  are short for {on: ...}
        if isinstance(v, (str, list, tuple)):
            return {"on": v}
        if isinstance(v, dict) and True in v and "on" not in v:  # YAML 1.1 reads a bare `on` key as True
            return {("on" if k is True else k): x for k, x in v.items()}
        return v

    @field_validator("allow", mode="before")
    @classmethod
    def _reasons(cls, v: Any) -> Any:
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise ValueError("allow must be a mapping {row_level_cv: reason} or {column: reason}")
        for name, reason in v.items():
            # A column entry is checked against the data by governance (autods.guard.govern).
            if not isinstance(reason, str) or not reason.strip():
                raise ValueError(f"allow: {name} needs a reason (allow: {{{name}: why it is safe to keep}})")
        return {str(k): str(r).strip() for k, r in v.items()}

    @model_validator(mode="after")
    def _survival_consistency(self) -> TaskSpec:
        if self.task_type == "survival" and not self.endpoint.is_survival:
            raise ValueError("a survival task needs endpoint: {time: <column>, event: <column>}")
        if self.task_type != "survival" and self.endpoint.is_survival:
            raise ValueError(f"a {self.task_type} task needs endpoint: <column>, not a time/event pair")
        if not self.data:
            raise ValueError("data must name at least one file")
        if self.join is not None and len(self.data) < 2:
            raise ValueError("join: combines several data files, but data names one")
        return self

    @property
    def data_paths(self) -> list[Path]:
        return [self.root / p for p in self.data]

    @property
    def external_path(self) -> Path | None:
        return self.root / self.external if self.external else None


class ExitCondition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    budget: int | None = Field(default=None, ge=1)
    minutes: float | None = Field(default=None, gt=0)
    target: float | None = None


class PromotionCriteria(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    noise_floor_sd: float = Field(default=1.0, ge=0)
    confirm_seeds: int = Field(default=1, ge=0)


class LaunchSpec(BaseModel):
    """Workflow hooks from ``LAUNCH.md``; every field has a safe default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    deident_policy: DeidentPolicy = "drop"
    cv_strategy: Validation | None = None
    n_splits: int = Field(default=5, ge=2, le=20)
    cv_repeats: int | None = Field(default=None, ge=1, le=20)
    test_fraction: float = Field(default=0.2, ge=0.0, lt=0.9)
    fairness_subgroups: tuple[str, ...] | None = None
    leakage_checks: tuple[str, ...] | None = None
    promotion_criteria: PromotionCriteria = PromotionCriteria()
    exit_condition: ExitCondition = ExitCondition(budget=24)
    brain: str = "expert"
    workers: int = Field(default=2, ge=1, le=64)
    seed: int = 0


def split_front_matter(text: str, source: str) -> tuple[dict[str, Any], str]:
    """Return (YAML mapping, body). A file without front matter is an error."""
    stripped = text.lstrip("\ufeff")
    if not stripped.startswith("---"):
        raise TaskSpecError(
            f"{source} has no YAML front matter",
            f"start {source} with a line '---', the keys, and a closing '---' (copy an example's)",
        )
    parts = stripped.split("\n")
    try:
        end = next(i for i, line in enumerate(parts[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise TaskSpecError(
            f"{source} front matter is not closed", f"add a line '---' after the last key of {source}"
        ) from None
    raw = "\n".join(parts[1:end])
    try:
        meta = yaml.safe_load(raw) if raw.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        raise TaskSpecError(
            f"{source} front matter is not valid YAML{where}",
            "check indentation and quote values containing ':' or '#'",
        ) from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise TaskSpecError(f"{source} front matter must be a mapping of keys", "write one 'key: value' per line")
    return meta, "\n".join(parts[end + 1 :]).strip()


def _check_keys(meta: dict[str, Any], valid: dict[str, str], source: str) -> None:
    for key in meta:
        if key not in valid:
            raise TaskSpecError(
                f"unknown key '{key}' in {source}",
                f"use one of: {_valid_keys_hint(valid)}",
            )


def _first_error(exc: ValidationError, source: str) -> TaskSpecError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "front matter"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        return TaskSpecError(f"{source} is missing the required key '{loc}'", f"add '{loc}:' to {source}")
    if err["type"] == "extra_forbidden":
        return TaskSpecError(f"unknown key '{loc}' in {source}", "remove it or check the spelling")
    return TaskSpecError(f"{source}: '{loc}' is invalid ({msg})", f"correct '{loc}' in {source}")


def parse_task_md(text: str, root: Path, source: str = "TASK.md") -> TaskSpec:
    meta, body = split_front_matter(text, source)
    _check_keys(meta, TASK_KEYS, source)
    meta = dict(meta)
    endpoint = meta.get("endpoint")
    if isinstance(endpoint, str):
        endpoint = {"column": endpoint}
    if isinstance(endpoint, dict) and "positive_class" in meta:
        endpoint = {**endpoint, "positive_class": meta.pop("positive_class")}
    elif "positive_class" in meta:
        meta.pop("positive_class")
    if endpoint is not None:
        meta["endpoint"] = endpoint
    meta.setdefault("description", body)
    try:
        return TaskSpec(**meta, root=root)
    except ValidationError as exc:
        raise _first_error(exc, source) from None


def parse_launch_md(text: str, source: str = "LAUNCH.md") -> LaunchSpec:
    meta, _ = split_front_matter(text, source)
    _check_keys(meta, LAUNCH_KEYS, source)
    try:
        return LaunchSpec(**meta)
    except ValidationError as exc:
        raise _first_error(exc, source) from None


def read_specs(task_dir: Path) -> tuple[TaskSpec, LaunchSpec]:
    """Read ``TASK.md`` (required) and ``LAUNCH.md`` (optional) from a task folder."""
    task_dir = Path(task_dir)
    if not task_dir.exists():
        raise TaskSpecError(f"task folder '{task_dir}' does not exist", "pass the path of a folder containing TASK.md")
    if not task_dir.is_dir():
        raise TaskSpecError(f"'{task_dir}' is not a folder", "pass the task folder, not a file inside it")
    task_md = task_dir / "TASK.md"
    if not task_md.is_file():
        raise TaskSpecError(
            f"no TASK.md in '{task_dir}'", "create one (autods init NAME --from EXAMPLE scaffolds a task folder)"
        )
    try:
        task = parse_task_md(task_md.read_text(encoding="utf-8"), root=task_dir.resolve())
    except UnicodeDecodeError:
        raise TaskSpecError("TASK.md is not UTF-8 text", "save TASK.md as UTF-8") from None
    launch_md = task_dir / "LAUNCH.md"
    launch = parse_launch_md(launch_md.read_text(encoding="utf-8")) if launch_md.is_file() else LaunchSpec()
    return task, launch
