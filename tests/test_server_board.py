"""The web board in headless Chromium: a seeded run shows forum, queue and champion, and a
post made through the API appears without a reload (SSE)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from autods.server.app import create_app
from autods.server.client import Coordinator
from autods.server.serve import running_server
from autods.server.service import Service
from autods.state.store import Store

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
ROLES = ("analyst", "biostatistician", "steward", "experimenter", "harness", "validator", "viewer")


def seed(service: Service, app: object) -> dict[str, str]:
    run = service.create_run("readmission-30d")
    tokens = {r: service.register_agent(run.id, r, r)[1] for r in ROLES}
    c = {r: Coordinator(token=t, app=app) for r, t in tokens.items()}
    team = c["analyst"].create_team("trees", "non-linear interactions", "gradient boosting sweep")
    c["steward"].post("finding", "target proxy excluded: discharge_code", data={
        "check": "target_proxy", "severity": "blocking", "message": "discharge_code |rho| = 0.93 with readmit"})
    c["biostatistician"].post("design", "Plan: patient-grouped 5-fold CV", "AUROC primary; calibration secondary")
    values = {0: [0.71, 0.712], 1: [0.74, 0.745], 2: [0.735, 0.73]}
    for depth, pair in values.items():
        p = c["analyst"].propose({"family": "random_forest", "params": {"max_depth": depth + 2}},
                                 f"depth {depth + 2} captures interactions", 0.01, "random_forest", team_id=team.id)
        c["biostatistician"].critique(p.id, "approve", "grouped CV keeps patients apart")
        results = []
        for seed_ in (0, 1):
            c["analyst"].enqueue(p.id, seed=seed_)
            item = c["harness"].claim()
            assert item is not None
            results.append(c["harness"].record_result(item.id, "auroc", pair[seed_], True, [pair[seed_]] * 3))
        if depth < 2:
            c["validator"].promote(results[0].id, results[1].id)
    p = c["analyst"].propose({"family": "svm_rbf"}, "kernel trick", 0.0, "svm_rbf")
    c["biostatistician"].critique(p.id, "reject", "does not scale to 20k rows")
    c["analyst"].add_dead_end("knn", {"n_neighbors": 1}, "overfits: 3 losses", {"result_ids": [1, 2]})
    c["analyst"].enqueue(1, seed=7)  # one pending item in the trees queue
    for client in c.values():
        client.close()
    return tokens


@pytest.fixture
def board(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    service = Service(store, noise_floor=0.005)
    app = create_app(service, sse_poll_s=0.1)
    tokens = seed(service, app)
    with running_server(app) as url:
        yield url, tokens
    store.close()


def test_board_shows_the_run_and_updates_live(board: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    url, tokens = board
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{url}/?token={tokens['viewer']}")
            page.wait_for_selector("#forum .card")
            assert page.locator("#run-name").inner_text() == "readmission-30d"
            forum = page.locator("#forum").inner_text()
            assert "Plan: patient-grouped 5-fold CV" in forum and "target proxy excluded" in forum
            assert "pending" in page.locator("#queues").inner_text()
            assert "trees" in page.locator("#queues").inner_text()
            # the champion's value is the mean of its result (0.740) and its confirmation (0.745)
            assert "champion auroc 0.742" in page.locator("#champion-badge").inner_text()
            assert page.locator("#chart svg path.champ").count() == 1
            assert "does not scale" in page.locator("#proposals").inner_text()
            assert "overfits" in page.locator("#dead-ends").inner_text()
            assert "target_proxy" in page.locator("#findings").inner_text()
            page.wait_for_selector("#live.on")

            with Coordinator(url, tokens["analyst"]) as analyst:
                analyst.post("near-miss", "depth 4 lost by 0.004: within noise", "<b>not bold</b>")
            card = page.locator("#forum .card", has_text="depth 4 lost by 0.004")
            card.wait_for(timeout=10_000)
            assert card.locator(".body").inner_text() == "<b>not bold</b>"  # text, never markup
            shot = tmp_path / "board.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            assert not errors, errors
        finally:
            browser.close()
