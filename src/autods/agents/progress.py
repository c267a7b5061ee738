"""Progress of a run on the terminal: phase, experiments done of the budget, the champion's
metric with its CI, the active teams. Live (rich) on a TTY; silent otherwise, apart from a
one-line summary at the end, so logs and CI output stay clean."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from autods.agents.orchestrator import Progress


def _champion_text(champ: dict[str, Any] | None) -> str:
    if not champ:
        return "none yet"
    ci = "" if champ.get("ci_low") is None else f" (95% CI {champ['ci_low']:.3f}-{champ['ci_high']:.3f})"
    return f"{champ['metric']} {champ['value']:.4f}{ci} · {champ.get('family') or '?'}"


def _final_line(summary: dict[str, Any]) -> str:
    return (f"autods: run {summary['name']} finished ({summary.get('exit_reason')}): "
            f"{summary['experiments'].get('results', 0)} results, champion {_champion_text(summary.get('champion'))}")


class _Quiet:
    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, progress: Progress) -> None:
        return None

    def final(self, summary: dict[str, Any]) -> None:
        print(_final_line(summary))


class _Live(_Quiet):
    def __init__(self) -> None:
        self.console = Console()
        self.live: Live | None = None

    def __enter__(self) -> _Live:
        self.live = Live(self._table(Progress()), console=self.console, refresh_per_second=4, transient=False)
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None

    def update(self, progress: Progress) -> None:
        if self.live is not None:
            self.live.update(self._table(progress))

    def final(self, summary: dict[str, Any]) -> None:
        self.console.print(_final_line(summary), markup=False, highlight=False)

    @staticmethod
    def _table(p: Progress) -> Table:
        table = Table(title="autods run", show_header=False, box=None)
        table.add_row("phase", f"[bold]{p.phase}[/bold] (round {p.round}, {p.elapsed_s:.0f} s)")
        table.add_row("experiments", f"{p.budget_used} of {p.budget_total} committed · {p.results} results"
                      + (f" · {p.failed} failed" if p.failed else ""))
        table.add_row("champion", _champion_text(p.champion))
        table.add_row("teams", ", ".join(p.teams) or "-")
        if p.exit_reason:
            table.add_row("stopped", p.exit_reason)
        return table


def make_display(enabled: bool | None) -> _Quiet:
    """Live progress when ``enabled`` (default: when stdout is a terminal), else quiet."""
    if enabled is None:
        enabled = sys.stdout.isatty()
    return _Live() if enabled else _Quiet()


__all__ = ["make_display"]
