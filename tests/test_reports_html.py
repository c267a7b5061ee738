"""Every number in report.html comes from the fact sheet, on every bundled example.

The runs are real (tests/report_fixtures.py: the data steward's step, the coordination
protocol, judge evaluations, validation). The check (tests/report_check.py) parses the page
and compares each ``data-fs`` span with the fact-sheet value at its path, and fails on any
digit outside such a span. Two negative controls show the check can fail.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from report_check import check_report, spans
from report_fixtures import example_params, shared_run

from autods.reports.factsheet import validate_fact_sheet
from autods.reports.html import render_html

# Two fast examples by default; the others (10 s to minutes each here: PHI scan of 5k encounters,
# 56k wearable rows, 765 genes, FHIR/OMOP/CDISC loaders) are slow-marked and run in CI.
EXAMPLES = example_params()
KEY_PATHS = {"champion.cv.value", "champion.cv.ci_low", "champion.cv.ci_high", "champion.test.value",
             "champion.test.n", "data.n_rows", "data.n_units", "experiments.total", "experiments.failed",
             "conventions.ci_level_percent"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("report-runs")


def _load(root: Path) -> tuple[str, dict]:
    return (root / "report.html").read_text(encoding="utf-8"), json.loads((root / "fact_sheet.json").read_text())


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_number_in_the_report_comes_from_the_fact_sheet(example: str, base: Path) -> None:
    page, sheet = _load(shared_run(example, base))
    validate_fact_sheet(sheet)
    n, problems = check_report(page, sheet)
    assert problems == []
    assert n > 150
    assert KEY_PATHS <= set(spans(page))


@pytest.mark.parametrize("example", EXAMPLES)
def test_report_is_self_contained_and_offline(example: str, base: Path) -> None:
    page, _ = _load(shared_run(example, base))
    assert "<script" not in page.lower()
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert refs and all(r.startswith(("data:image/png;base64,", "#")) for r in refs), refs
    assert "@import" not in page and "url(" not in page
    assert page.count('<img src="data:image/png;base64,') >= 3  # trajectory, a discrimination figure, importance
    assert "Research use only" in page


def test_the_check_catches_a_wrong_number(base: Path) -> None:
    page, sheet = _load(shared_run("task-breast-cancer", base))
    wrong = copy.deepcopy(sheet)
    wrong["champion"]["cv"]["value"] -= 0.002  # beyond the page's rounding (3 decimals)
    wrong["data"]["n_rows"] += 1
    _, problems = check_report(page, wrong)
    assert any(p.startswith("champion.cv.value") for p in problems)
    assert any(p.startswith("data.n_rows") for p in problems)


def test_the_check_catches_a_number_typed_into_the_page(base: Path) -> None:
    page, sheet = _load(shared_run("task-breast-cancer", base))
    typed = page.replace("<h2>Summary</h2>", "<h2>Summary</h2><p>AUROC was 0.91 in the pilot.</p>")
    _, problems = check_report(typed, sheet)
    assert problems == ["digit outside a fact-sheet span: 'AUROC was 0.91 in the pilot.'"]


def test_a_missing_path_is_caught(base: Path) -> None:
    page, sheet = _load(shared_run("task-breast-cancer", base))
    del sheet["champion"]["calibration"]["slope"]
    _, problems = check_report(page, sheet)
    assert "champion.calibration.slope: not in the fact sheet" in problems


def test_render_is_a_pure_function_of_the_fact_sheet(base: Path) -> None:
    """Editing a value in the sheet and re-rendering shows the edited value (nothing is recomputed)."""
    _, sheet = _load(shared_run("task-gbsg2-survival", base))
    edited = copy.deepcopy(sheet)
    edited["champion"]["test"]["value"] = 0.4321
    n, problems = check_report(render_html(edited), edited)
    assert problems == [] and n > 100
    assert '<span class="n" data-fs="champion.test.value">0.432</span>' in render_html(edited)


def test_model_card_numbers_come_from_the_fact_sheet(base: Path) -> None:
    root = shared_run("task-breast-cancer", base)
    card = (root / "model_card.md").read_text()
    sheet = json.loads((root / "fact_sheet.json").read_text())
    champ = sheet["champion"]
    assert f"{champ['cv']['value']:.3f} ({champ['cv']['ci_low']:.3f} to {champ['cv']['ci_high']:.3f})" in card
    assert f"{champ['test']['value']:.3f}" in card
    assert "Research use only" in card and "not a medical device" in card
    for lim in sheet["limitations"]:
        assert lim["text"] in card
