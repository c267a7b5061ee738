"""The one ``ValidationPlan`` a run executes.

The biostatistician's design chooses the plan once, from the task, the steward's profile
and LAUNCH.md; every path that splits rows (experiments, the held-out lock, champion
validation, the biomarker track, ``autods check``) executes this object. The unit of
analysis is the declared ``id_column`` or, when none is declared, the repeating identifier
the steward detected: :func:`planned_task` writes it into the task's spec, so code that
reads ``spec.id_column`` groups folds and the held-out split by the same unit the design
names, and never uses the unit as a feature.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from autods.errors import UserInputError
from autods.judge.splits import strata_kind

if TYPE_CHECKING:
    from autods.tasks.load import Task

__all__ = ["ROW_LEVEL_CV", "ValidationPlan", "check_declared_cv", "choose_repeats", "make_plan", "planned_task",
           "units_repeat", "unit_of_analysis"]

#: the ``allow:`` entry that permits row-level (stratified) CV over repeated units
ROW_LEVEL_CV = "row_level_cv"


@dataclass(frozen=True)
class ValidationPlan:
    """What the judge executes: the fact sheet records it under ``guardrails.cv``."""

    strategy: str
    unit_column: str | None
    unit_source: str  # "declared" | "detected" | "none"
    group_column: str | None
    time_column: str | None
    n_splits: int
    repeats: int
    seed: int
    test_fraction: float
    holdout_kind: str  # "unit-grouped" | "temporal" | "random" | "none"
    stratify: str  # "classes" | "event" | "target quantile bins" | "none"
    reasons: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        return out


def units_repeat(task: Task, column: str | None) -> bool:
    """Whether ``column`` exists and a value of it appears on more than one row."""
    return column is not None and column in task.frame.columns and bool(task.frame[column].duplicated().any())


def unit_of_analysis(task: Task, detected_unit: str | None) -> tuple[str | None, str]:
    """The unit column and where it came from: declared wins; a detected one counts only when it repeats."""
    if task.spec.id_column:
        return task.spec.id_column, "declared"
    if detected_unit and units_repeat(task, detected_unit):
        return detected_unit, "detected"
    return None, "none"


def planned_task(task: Task, detected_unit: str | None) -> Task:
    """``task`` with its unit of analysis written into ``spec.id_column``.

    Every judge path reads the unit from the spec; filling it here is what makes a detected
    but undeclared patient id group the folds and the held-out split, and leave the features.
    """
    unit, source = unit_of_analysis(task, detected_unit)
    if source != "detected":
        return task
    return replace(task, spec=task.spec.model_copy(update={"id_column": unit}))


def check_declared_cv(task: Task, unit: str | None) -> None:
    """Refuse a declared row-level CV over repeated units, unless ``allow: row_level_cv`` says why."""
    if task.cv_strategy != "stratified-cv" or not units_repeat(task, unit):
        return
    if ROW_LEVEL_CV in task.spec.allow:
        return
    n_units = int(task.frame[unit].nunique())
    raise UserInputError(
        f"validation: stratified-cv was declared but units in '{unit}' repeat ({n_units} units over "
        f"{len(task.frame)} rows): rows of one patient would sit on both sides of every fold",
        "use validation: patient-grouped-cv, or add allow: {row_level_cv: <reason>} to TASK.md",
    )


def holdout_kind(strategy: str, unit: str | None, test_fraction: float) -> str:
    """The branch :func:`autods.judge.holdout.lock_holdout` takes: whole units whenever a unit column is set."""
    if test_fraction <= 0:
        return "none"
    if strategy == "temporal-split":
        return "temporal"
    return "unit-grouped" if unit else "random"


#: (fewer units than, repeats): R x K repeated CV below each size. Small cohorts need repeats because one
#: K-fold split of 200 units moves AUROC by several points; above 20,000 units one split is stable enough.
#: Three repeats (15 paired folds) is the compromise between the paired test's power and a run's cost,
#: which grows linearly with R.
REPEATS_BY_UNITS = ((500, 3), (20000, 2))
#: fewer events than this (binary minority class, or survival events) also get the small-cohort repeats
FEW_EVENTS = 100


def _n_events(task: Task) -> int | None:
    y = task.target()
    if task.task_type == "survival":
        return int(y["event"].sum())
    if task.task_type == "binary":
        return int(min(y.sum(), len(y) - y.sum()))
    return None


def choose_repeats(task: Task, strategy: str) -> tuple[int, str]:
    """How many times the K-fold split is repeated (each repeat a new shuffle of the plan's seed), and why.

    A pure function of the task, so the design and every evaluation agree without passing it around.
    LAUNCH.md ``cv_repeats`` wins; a temporal split and leave-one-site-out have a single arrangement.
    """
    if task.launch.cv_repeats is not None:
        return task.launch.cv_repeats, f"{task.launch.cv_repeats} repeat(s) of the K-fold split, set in LAUNCH.md"
    if strategy == "temporal-split":
        return 1, "one forward-chaining split: a temporal order has only one arrangement"
    if strategy == "site-grouped-cv":
        return 1, "sites are the folds: one arrangement"
    unit = task.spec.id_column
    n_units = int(task.frame[unit].nunique()) if unit and unit in task.frame.columns else len(task.frame)
    events = _n_events(task)
    if events is not None and events < FEW_EVENTS:
        return REPEATS_BY_UNITS[0][1], (f"{REPEATS_BY_UNITS[0][1]} repeats of the K-fold split: {events} events "
                                        f"(< {FEW_EVENTS}) make one split's estimate noisy")
    for below, repeats in REPEATS_BY_UNITS:
        if n_units < below:
            return repeats, f"{repeats} repeats of the K-fold split for {n_units} units (< {below})"
    return 1, f"one K-fold split: {n_units} units give a stable estimate"


def make_plan(task: Task, strategy: str, group_column: str | None, unit: str | None, source: str,
              reasons: tuple[str, ...] = ()) -> ValidationPlan:
    repeats, why = choose_repeats(task, strategy)
    return ValidationPlan(
        strategy=strategy, unit_column=unit, unit_source=source, group_column=group_column,
        time_column=task.spec.time_column, n_splits=task.launch.n_splits, repeats=repeats, seed=task.launch.seed,
        test_fraction=task.launch.test_fraction,
        holdout_kind=holdout_kind(strategy, unit, task.launch.test_fraction),
        stratify=strata_kind(task.target()), reasons=(*reasons, why),
    )

