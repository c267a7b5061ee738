"""The gauntlet: real public cohorts, shipped offline in packages, each written to a task
folder the way a new user would (their CSV as the package has it, a minimal TASK.md), then
run through plain ``autods run``.

A :class:`Cohort` names its trap, writes its files, and says what a demanding
biostatistician expects of the executed plan, the exclusions and the champion's metric. The
metric band comes from :mod:`gauntlet.reference`: a plain model fitted in the test on the
same development rows and scored on the same held-out rows (or a published figure).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = ["Cohort", "Expect", "Reference", "bug", "pending", "write_task"]


def bug(reason: str) -> Any:
    """A product bug found by the gauntlet and reported in .coordination/requests.md: the cohort
    must fail until it is fixed (strict, so the fix is noticed and the mark removed)."""
    return pytest.mark.xfail(strict=True, reason=reason)


def pending(reason: str) -> Any:
    """Work another engineer has in progress (e.g. the join): expected to fail until it lands."""
    return pytest.mark.xfail(strict=False, reason=reason)


@dataclass(frozen=True)
class Reference:
    """How the band is computed: ``kind`` picks the model, ``features`` its inputs (names in the
    analytic frame), ``tol`` the half-width; ``source`` is cited in the failure message."""

    kind: str  # "logistic" | "ridge" | "multinomial" | "cox"
    #: the inputs, or a function giving them (read from the package only when the test runs)
    features: tuple[str, ...] | Callable[[], tuple[str, ...]]
    tol: float
    source: str
    categorical: tuple[str, ...] = ()
    cox_alpha: float = 1.0
    positive: Any = 1

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.features() if callable(self.features) else self.features)


@dataclass(frozen=True)
class Expect:
    """What the executed plan and governance must show."""

    metric: str
    strategy: str
    unit_column: str | tuple[str, ...] | None = None  # a tuple: any of these units is acceptable
    unit_source: str = "none"
    holdout_kind: str = "random"
    #: columns that must not reach any model (excluded, dropped as PHI, or never a champion input)
    removed: tuple[str, ...] = ()
    #: columns that must stay available to the models (honest clinical predictors)
    kept: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cohort:
    name: str
    trap: str
    source: str  # the package and loader the data comes from
    build: Callable[[Path], dict[str, Any]]  # writes the data files, returns TASK.md keys
    expect: Expect
    reference: Reference
    budget: int = 3
    body: str = ""
    #: pytest marks for known breakage, e.g. pytest.mark.xfail(strict=True, reason=...)
    marks: tuple[Any, ...] = field(default_factory=tuple)
    #: an external validation file is declared; its band is checked too
    external: bool = False


def write_task(folder: Path, cohort: Cohort) -> Path:
    """Write ``folder/TASK.md`` (and the data) for ``cohort``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = {"name": cohort.name, **cohort.build(folder)}
    front = yaml.safe_dump(keys, sort_keys=False, default_flow_style=None).strip()
    text = f"---\n{front}\n---\n{cohort.body or cohort.trap}\n"
    (folder / "TASK.md").write_text(text, encoding="utf-8")
    return folder
