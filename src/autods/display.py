"""Terminal rendering of check results and evaluation records (rich). Numbers are only formatted here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from autods.checkup import Checkup

SEVERITY_STYLE = {"blocking": "bold red", "warning": "yellow", "info": "cyan"}


def _console() -> Console:
    return Console(width=140, soft_wrap=False)


def print_checkup(result: Checkup) -> None:
    console = _console()
    d = result.design
    console.rule(f"[bold]autods check: {result.task_name}[/bold] ({result.task_type})")
    console.print(
        f"rows {d.n_rows:,} · units {d.n_units:,} · candidate features {d.n_candidate_features}"
        + (f" · events {d.n_events:,} · events per variable {d.events_per_variable}" if d.n_events is not None else "")
    )
    console.print(f"design: [bold]{d.cv_strategy}[/bold] ({d.n_splits} folds"
                  + (f", grouped by '{d.group_column}'" if d.group_column else "")
                  + f"), metric {d.metric}, held-out test {d.test_fraction:.0%} locked")
    for reason in d.reasons:
        console.print(f"  · {reason}")
    table = Table(title="Findings", show_lines=False, expand=True)
    for col, kw in (("check", {"no_wrap": True}), ("severity", {"no_wrap": True}), ("feature", {}), ("message", {"ratio": 3}), ("advice", {"ratio": 2})):
        table.add_column(col, **kw)
    for f in result.findings:
        table.add_row(f.check, f"[{SEVERITY_STYLE[f.severity.value]}]{f.severity.value}[/]", f.feature or "", f.message, f.advice)
    console.print(table)
    if result.excluded:
        console.print("[bold]Excluded features[/bold] (each with its reason):")
        for name, reason in result.excluded:
            console.print(f"  - {name}: {reason}")
    counts = result.counts()
    console.print(f"{counts['blocking']} blocking, {counts['warning']} warning, {counts['info']} info finding(s).")


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def print_evaluation(record: Any) -> None:
    console = _console()
    console.rule("[bold]evaluation[/bold]")
    console.print(f"recipe {record.recipe.family} ({record.recipe_hash[:12]}) · CV {record.cv.strategy} "
                  f"x{record.cv.n_splits} on {record.n_rows:,} development rows")
    console.print(f"[bold]{record.metric} = {_fmt(record.value)}[/bold] "
                  f"(95% CI {_fmt(record.ci_low)}–{_fmt(record.ci_high)}; fold mean {_fmt(record.fold_mean)} ± {_fmt(record.fold_sd)})")
    for name, value in sorted(record.secondary.items()):
        console.print(f"  {name} = {_fmt(value)}")
    console.print("The held-out test split stays locked: it is scored once, at the end of a run.")
