"""The board's hypothesis graph in headless Chromium: a run seeded through the real server shows
its diagnoses (claim, status, evidence count), ideas by tier, an open verdict ticket and a
relation, and the page follows the graph live (a ticket answered, an idea added) without a
reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_server_board import ARGS, CHROMIUM

from autods.server.app import create_app
from autods.server.client import Coordinator
from autods.server.serve import running_server
from autods.server.service import Service
from autods.state.store import Store

pytestmark = pytest.mark.browser

ROLES = ("analyst", "analyst", "steward", "experimenter", "harness", "viewer")
HOSTILE = "<b>overfitting</b>: calibration slope 0.71"


def _idea(c: list[Coordinator], diagnosis_id: int, recipe: dict[str, Any], title: str, tier: str = "NEXT") -> int:
    idea = c[0].propose_idea(diagnosis_id, recipe, f"{title} helps", f"keep {title}", f"drop {title}", 0.02,
                             "tree-versus-linear gap of two baseline results", surprise_if="it loses to the dummy",
                             title=title, tier=tier)
    c[1].critique(idea.id, "approve", "cheap and sound")
    return idea.id


def seed(service: Service, app: object) -> dict[str, Any]:
    run = service.create_run("graph-board", {"workers": 2})
    tokens = [service.register_agent(run.id, f"{r}-{n}", r)[1] for n, r in enumerate(ROLES)]
    c = [Coordinator(token=t, app=app) for t in tokens]
    a1, a2, steward, exp, harness = c[:5]
    finding = steward.post("finding", "tree-versus-linear gap", data={
        "check": "nonlinearity", "severity": "warning", "message": "lightgbm beats logistic by 0.03 AUROC"})
    bend = a1.add_diagnosis("nonlinearity: the risk bends with age", finding_ids=[finding.id]).id
    over = a1.add_diagnosis(HOSTILE).id
    spline = _idea(c, bend, {"family": "logistic", "params": {"C": 0.5}}, "spline age")
    trees = _idea(c, bend, {"family": "random_forest", "params": {"max_depth": 4}}, "shallow forest")
    penalty = _idea(c, over, {"family": "ridge"}, "stronger penalty", tier="LATER")
    a1.relate(spline, trees, "alternative", "both model the same bend")
    a1.set_tier(spline, "NOW", "cheapest test of the bend")
    a1.dispatch(seeds=[0])
    item = exp.claim()
    assert item is not None
    result = harness.record_result(item.id, "auroc", 0.731, True, [0.72, 0.74])
    a2.add_diagnosis("interactions: age by sex", result_ids=[result.id])
    for client in c:
        client.close()
    return {"viewer": tokens[-1], "analysts": tokens[:2], "ideas": (spline, trees, penalty), "bend": bend}


@pytest.fixture
def board(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    service = Service(store, noise_floor=0.005)
    app = create_app(service, sse_poll_s=0.1)
    seeded = seed(service, app)
    with running_server(app) as url:
        yield url, seeded
    store.close()


def test_board_shows_the_graph_and_follows_it_live(board: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    url, seeded = board
    spline, trees, penalty = seeded["ideas"]
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{url}/?token={seeded['viewer']}")
            page.wait_for_selector("#graph-diagnoses .card.diagnosis")
            diagnoses = page.locator("#graph-diagnoses")
            assert diagnoses.locator(".card").count() == 3
            bend = diagnoses.locator(f"[data-diagnosis-id='{seeded['bend']}']")
            assert "nonlinearity: the risk bends with age" in bend.inner_text()
            assert bend.locator(".kind").text_content() == "open" and "evidence 1 (1 finding, 0 results)" in bend.inner_text()
            assert "2 ideas" in bend.inner_text()
            assert "1 finding, 1 result" not in bend.inner_text()
            assert "evidence 1 (0 findings, 1 result)" in diagnoses.inner_text()
            # agent text is text: the claim's <b> is shown, not obeyed
            assert HOSTILE in diagnoses.inner_text() and diagnoses.locator("b").count() == 0

            tier = lambda name: page.locator(f"#graph-ideas [data-tier='{name}']")  # noqa: E731
            assert "spline age" in tier("NOW").inner_text() and "NOW (1 of 2)" in tier("NOW").inner_text()
            assert "shallow forest" in tier("NEXT").inner_text()
            assert "stronger penalty" in tier("LATER").inner_text()
            assert "spline age" not in tier("NEXT").inner_text()
            assert "if it fails: drop spline age" in tier("NOW").inner_text()

            # the result of 'spline age' touched it and its alternative: two open tickets, highlighted
            open_ = page.locator("#graph-tickets .card.ticket.open")
            assert open_.count() == 2
            assert "auroc 0.731" in open_.first.inner_text()
            assert page.locator("#graph-ideas .card.owed").count() == 2
            assert "2 open tickets" in page.locator("#graph-summary").inner_text()
            rel = page.locator("#graph-relations").inner_text()
            assert page.locator("#graph-relations .kind.rel").text_content() == "alternative"
            assert "both model the same bend" in rel and "#%d spline age" % spline in rel
            page.wait_for_selector("#live.on")
            page.locator("#graph").screenshot(path=str(tmp_path / "board-graph-open.png"))

            with Coordinator(url, seeded["analysts"][1]) as a2, Coordinator(url, seeded["analysts"][0]) as a1:
                tickets = {k.idea_id: k.id for k in a2.list_tickets(status="open")}
                a2.answer_ticket(tickets[spline], "HOLD", "one seed is not a verdict")
                a2.answer_ticket(tickets[trees], "DEMOTE", "the spline answers the bend more cheaply")
                over = next(d.id for d in a1.list_diagnoses() if d.claim == HOSTILE)
                a1.propose_idea(over, {"family": "elastic_net"}, "shrinkage fixes the slope", "keep it", "drop it",
                                0.01, "calibration slope 0.71", title="elastic net", tier="NEXT")
            page.locator("#graph-ideas [data-tier='NEXT']", has_text="elastic net").wait_for(timeout=10_000)
            page.locator("#graph-tickets .card.ticket.open").first.wait_for(state="detached", timeout=10_000)
            answered = page.locator("#graph-tickets .card.ticket.answered")
            assert answered.count() == 2
            assert "HOLD" in answered.last.inner_text() and "one seed is not a verdict" in answered.last.inner_text()
            assert "shallow forest" in tier("LATER").inner_text()  # DEMOTE moved it down one tier
            assert page.locator("#graph-ideas .card.owed").count() == 0
            assert "no open ticket" in page.locator("#graph-summary").inner_text()
            shot = tmp_path / "board-graph.png"
            page.locator("#graph").screenshot(path=str(shot))
            assert shot.stat().st_size > 20_000
            page.screenshot(path=str(tmp_path / "board-full.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
