"""``render_report(run_dir)``: the fact sheet -> a self-contained, offline ``report.html``.

The template never prints a number it computed or typed: every value goes through the
``fs(path)`` global, which looks the path up in the fact sheet and wraps the formatted value
in ``<span data-fs="path">``. A test parses the HTML and checks every such span against
the fact sheet, and that no digit appears outside one. Figures are PNGs inlined as data
URIs; the page needs no script, font or stylesheet from anywhere else.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from autods.runfolder import atomic_write_text, read_json

__all__ = ["REPORT_FILE", "format_value", "lookup", "render_report"]

REPORT_FILE = "report.html"
MISSING = "—"
VERDICTS = {True: "pass", False: "fail", None: "n/a"}


def lookup(sheet: Any, path: str) -> Any:
    """The value at a dotted path (list positions are integers): ``champion.cv.value``, ``subgroups.0.n``."""
    node = sheet
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def format_value(value: Any, style: str = "auto") -> str:
    """Text for one fact-sheet value. Styles: auto (3 decimals), p (p-values), int, s (seconds),
    verdict (pass/fail/n/a), pct (x100), sig (3 significant digits), dN (N decimals)."""
    if style == "verdict":
        return VERDICTS[value]
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and style != "s":
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return MISSING
        if style == "p":
            return f"{value:.1e}" if value < 1e-3 else f"{value:.3f}"
        if style == "int":
            return f"{round(value):,}"
        if style == "s":
            return f"{value:.1f}"
        if style == "pct":
            return f"{value * 100:.1f}"
        if style == "sig":
            return f"{value:.3g}"
        if style.startswith("d") and style[1:].isdigit():
            return f"{value:.{int(style[1:])}f}"
        return f"{value:.3f}"
    if isinstance(value, (list, dict)):
        raise TypeError("fs() renders scalars; index into lists and objects")
    return str(value)


class _Helpers:
    """Template globals bound to one fact sheet."""

    def __init__(self, sheet: dict[str, Any]) -> None:
        self.sheet = sheet

    def fs(self, path: str, style: str = "auto") -> Markup:
        value = lookup(self.sheet, path)
        cls = "n" if isinstance(value, (int, float)) and not isinstance(value, bool) else "t"
        scale = ' data-fs-scale="100"' if style == "pct" else ""
        return Markup(f'<span class="{cls}" data-fs="{escape(path)}"{scale}>{escape(format_value(value, style))}</span>')

    def ci(self, path: str) -> Markup:
        """'value (low to high)' for an object with value, ci_low and ci_high."""
        node = lookup(self.sheet, path)
        if node.get("ci_low") is None or node.get("ci_high") is None:
            return self.fs(f"{path}.value")
        return Markup(f'{self.fs(path + ".value")} <span class="ci">({self.fs(path + ".ci_low")} to '
                      f'{self.fs(path + ".ci_high")})</span>')

    def get(self, path: str, default: Any = None) -> Any:
        try:
            return lookup(self.sheet, path)
        except (KeyError, IndexError, TypeError):
            return default


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(loader=PackageLoader("autods.reports", "templates"), undefined=StrictUndefined,
                       autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def render_html(sheet: dict[str, Any]) -> str:
    """The report for one fact sheet (pure: no file is read but the package's template and CSS)."""
    from autods.reports.figures import render_figures

    helpers = _Helpers(sheet)
    css = resources.files("autods.reports").joinpath("templates/report.css").read_text("utf-8")
    template = _environment().get_template("report.html.j2")
    return template.render(fact=sheet, fs=helpers.fs, ci=helpers.ci, get=helpers.get, fig=render_figures(sheet),
                           css=Markup(css))


def _with_failures(root: Path, sheet: dict[str, Any]) -> dict[str, Any]:
    """``run.failures`` in the fact sheet (and its file): the parts of the run that failed, which
    the report's summary leads with. Read from the run's state and audit log; the report track
    runs last, so a part not finished yet (only the report itself) is not a failure here."""
    from autods.reports.factsheet import FACT_SHEET
    from autods.reports.runstate import run_failures, run_parts
    from autods.runfolder import RunFolder, atomic_write_json

    if not (root / "run.json").is_file():
        return sheet  # a bare fact sheet (tests, a copied folder): nothing to assess
    failures = run_failures(run_parts(RunFolder(root), final=False))
    run = dict(sheet.get("run") or {})
    if run.get("failures") == failures:
        return sheet
    sheet = {**sheet, "run": {**run, "failures": failures}}
    atomic_write_json(root / FACT_SHEET, sheet)
    return sheet


def render_report(run_dir: str | Path) -> Path:
    """Write ``report.html``, ``model_card.md`` and ``manifest.json`` from ``fact_sheet.json``.

    The fact sheet is built first when it is missing; an existing one is used as it is, so a
    re-render shows exactly the numbers the sheet holds.
    """
    from autods.reports.factsheet import FACT_SHEET, build_fact_sheet
    from autods.reports.manifest import write_manifest
    from autods.reports.model_card import write_model_card

    root = Path(run_dir)
    sheet = read_json(root / FACT_SHEET) if (root / FACT_SHEET).is_file() else build_fact_sheet(root)
    sheet = _with_failures(root, sheet)
    path = root / REPORT_FILE
    atomic_write_text(path, render_html(sheet))
    write_model_card(root, sheet)
    write_manifest(root, sheet)
    return path
