"""Headless Chromium opens each bundled example's report from disk (file://): no console error,
every figure decoded (naturalWidth > 0), no request leaves the page, a screenshot is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from report_fixtures import example_params, shared_run

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian chromium at /usr/bin/chromium")]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-runs")


@pytest.mark.parametrize("example", example_params())
def test_report_renders_in_chromium(example: str, base: Path, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    report = shared_run(example, base) / "report.html"
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri(), wait_until="load")
            widths = page.evaluate("Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
            sections = page.evaluate("Array.from(document.querySelectorAll('main section h2')).map(h => h.textContent)")
            shot = tmp_path / f"{example}.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert len(widths) >= 3 and all(w > 0 for w in widths), widths
    assert [r for r in requests if not r.startswith(("file://", "data:"))] == []
    assert sections == ["Summary", "Data and cohort", "Governance", "Design", "What the team tried",
                        "What the team believed", "Champion validation", "Candidate biomarkers", "Interpretation", "Limitations"]
    assert shot.stat().st_size > 50_000
