"""'What the team believed': the hypothesis graph of a run folder's state store in the fact sheet
(each diagnosis with its evidence, ideas, verdicts and fate), the report and the model card;
and the one sentence a run without a graph gets."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from report_check import check_report, spans
from report_fixtures import shared_synthetic

from autods.reports import build_fact_sheet, render_report
from autods.runfolder import RunFolder
from autods.server.service import Actor, Service
from autods.state.store import Store

NO_GRAPH = "The team recorded no diagnosis in this run, so there is no hypothesis graph to report."


def _actor(service: Service, run_id: int, name: str, role: str) -> Actor:
    agent, _ = service.register_agent(run_id, name, role)
    return Actor(agent_id=agent.id, role=role, run_id=run_id, name=name)


def _seed_graph(root: Path) -> dict[str, Any]:
    """Diagnoses, ideas, a relation, results and verdicts, through the real service verbs."""
    store = Store.open(RunFolder(root).state_url)
    try:
        svc = Service(store)
        viewer = Actor(agent_id=None, role="viewer")
        run_id = svc.list_runs(viewer)[0].id
        first = svc.list_results(viewer, run_id)[0]
        a1, a2 = _actor(svc, run_id, "analyst-a", "analyst"), _actor(svc, run_id, "analyst-b", "analyst")
        steward, harness = _actor(svc, run_id, "steward-b", "steward"), _actor(svc, run_id, "harness-b", "harness")
        finding = svc.post(steward, run_id, "finding", "tree-versus-linear gap",
                           data={"check": "nonlinearity", "severity": "warning", "message": "forest ahead by 0.03"})
        bend = svc.add_diagnosis(a1, run_id, "nonlinearity: risk bends with x_strong", [finding.id], [first.id])
        over = svc.add_diagnosis(a1, run_id, "overfitting: slope 0.71 below 0.8")
        dup = svc.add_diagnosis(a2, run_id, "the bend again, in other words")
        svc.add_diagnosis(a2, run_id, "class imbalance")

        def idea(diagnosis: int, recipe: dict[str, Any], title: str) -> int:
            made = svc.propose_idea(a1, run_id, diagnosis, recipe, f"{title} helps", f"keep {title}",
                                    f"drop {title}", 0.02, "the gap finding", surprise_if="it loses to logistic",
                                    title=title)
            svc.critique(a2, made.id, "approve", "cheap and sound")
            return made.id

        forest = idea(bend.id, {"family": "random_forest", "params": {"max_depth": 3}}, "shallow forest")
        ridge = idea(over.id, {"family": "ridge"}, "stronger ridge")
        svc.relate(a1, forest, ridge, "conflicts", "a forest and a heavier penalty pull opposite ways")
        svc.set_tier(a1, forest, "NOW", "cheapest test of the bend")
        svc.dispatch(a1, run_id, [0, 1])
        items = [svc.claim(harness, run_id), svc.claim(harness, run_id)]  # both before a result locks claims
        assert [i.proposal_id for i in items if i is not None] == [forest, forest]
        result, again = (svc.record_result(harness, i.id, first.metric, v, True, [v - 0.01, v + 0.01])
                         for i, v in zip(items, (0.9876, 0.9812)))
        tickets: dict[int, list[Any]] = {}
        for k in svc.list_tickets(a1, run_id, "open"):
            tickets.setdefault(k.idea_id, []).append(k)
        # each result spoke to the forest and, through the relation, to the ridge
        assert {i: len(ks) for i, ks in tickets.items()} == {forest: 2, ridge: 2}
        svc.answer_ticket(a2, tickets[forest][0].id, "HOLD", "one seed is not a verdict")
        svc.answer_ticket(a2, tickets[forest][1].id, "HOLD", "confirmed on a second seed")
        svc.answer_ticket(a2, tickets[ridge][0].id, "CUT", "the forest did not overfit", resurrect_if="slope drops")
        svc.promote(harness, result.id, again.id)  # the ridge's second ticket stays open
        svc.set_diagnosis_status(a1, bend.id, "supported", "the forest beat every linear model")
        svc.set_diagnosis_status(a1, over.id, "refuted", "the winning model is calibrated")
        svc.set_diagnosis_status(a2, dup.id, "merged", "same claim as the bend", merged_into=bend.id)
        return {"finding": finding.id, "first": (first.id, first.value), "result": result.id,
                "ideas": (forest, ridge), "bend": bend.id}
    finally:
        store.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # The session's shared run folder (the other report tests build it too); the graph goes into a copy.
    plain = shared_synthetic("binary", tmp_path_factory.mktemp("beliefs-runs"))
    graph = Path(shutil.copytree(plain, tmp_path_factory.mktemp("beliefs") / "run"))
    seeded = _seed_graph(graph)
    build_fact_sheet(graph)
    render_report(graph)
    return {"plain": plain, "graph": graph, "seeded": seeded}


def _sheet(root: Path) -> dict[str, Any]:
    return json.loads((root / "fact_sheet.json").read_text())


def test_fact_sheet_lists_each_diagnosis_with_evidence_ideas_and_fate(runs: dict[str, Any]) -> None:
    sheet, seeded = _sheet(runs["graph"]), runs["seeded"]
    b = sheet["beliefs"]
    forest, ridge = seeded["ideas"]
    assert b["available"] is True
    assert b["counts"] == {"diagnoses": 4, "open": 1, "supported": 1, "refuted": 1, "merged": 1, "ideas": 2,
                           "tickets_open": 1, "tickets_answered": 3}
    bend, over, dup, imbalance = b["diagnoses"]
    assert (bend["status"], over["status"], dup["status"], imbalance["status"]) == ("supported", "refuted", "merged",
                                                                                   "open")
    assert dup["merged_into"] == seeded["bend"] and bend["status_reason"] == "the forest beat every linear model"
    # evidence: the finding post with its message, the cited result with the value the store holds
    assert bend["findings"] == [{"post_id": seeded["finding"], "title": "tree-versus-linear gap",
                                 "message": "forest ahead by 0.03"}]
    first_id, first_value = seeded["first"]
    assert [(r["result_id"], r["value"]) for r in bend["results"]] == [(first_id, first_value)]
    log_title = next(r["title"] for r in sheet["experiment_log"] if r["result_id"] == first_id)
    assert bend["results"][0]["idea_title"] == log_title != ""
    assert over["findings"] == over["results"] == [] and imbalance["ideas"] == []
    (f,), (r,) = bend["ideas"], over["ideas"]
    assert (f["id"], f["tier"], f["outcome"]) == (forest, "NOW", "became champion")
    assert [(x["result_id"], x["value"]) for x in f["results"]] == [(seeded["result"], 0.9876),
                                                                      (seeded["result"] + 1, 0.9812)]
    assert [(v["answer"], v["reason"]) for v in f["verdicts"]] == [("HOLD", "one seed is not a verdict"),
                                                                  ("HOLD", "confirmed on a second seed")]
    assert (r["id"], r["tier"], r["outcome"], r["resurrect_if"]) == (ridge, "CUT", "cut", "slope drops")
    assert r["results"] == [] and [(v["status"], v["answer"]) for v in r["verdicts"]] == [("answered", "CUT"),
                                                                                          ("open", None)]
    assert b["relations"] == [{"src_id": forest, "src_title": "shallow forest", "kind": "conflicts", "dst_id": ridge,
                               "dst_title": "stronger ridge",
                               "reason": "a forest and a heavier penalty pull opposite ways"}]


def _section(page: str) -> str:
    found = re.search(r'<section id="believed">(.*?)</section>', page, re.S)
    assert found is not None
    return found.group(1)


def test_report_renders_the_beliefs_and_every_digit_is_a_fact(runs: dict[str, Any]) -> None:
    root = runs["graph"]
    page, sheet = (root / "report.html").read_text(), _sheet(root)
    n, problems = check_report(page, sheet)
    assert not problems, problems[:5]
    section = _section(page)
    shown = [p for p in spans(section) if p.startswith("beliefs.")]
    assert len(shown) > 40 and not [p for p in spans(section) if not p.startswith("beliefs.")]
    text = re.sub(r"<[^>]+>", " ", section)
    for phrase in ("nonlinearity: risk bends with x_strong", "supported", "refuted", "merged", "0.988",
                   "one seed is not a verdict", "became champion", "forest ahead by 0.03", "conflicts",
                   "back if:", "left open", "never settled during the run", "No idea was proposed on this diagnosis."):
        assert phrase in text, phrase
    assert 'href="#believed"' in page and NO_GRAPH not in page
    card = (root / "model_card.md").read_text()
    assert "## What the team believed" in card
    assert "- overfitting: slope 0.71 below 0.8 — **refuted**: the winning model is calibrated." in card


def test_a_run_without_a_graph_says_so_in_one_sentence(runs: dict[str, Any]) -> None:
    root = runs["plain"]
    sheet = _sheet(root)
    assert sheet["beliefs"]["available"] is False and sheet["beliefs"]["diagnoses"] == []
    page = (root / "report.html").read_text()
    assert not check_report(page, sheet)[1]
    section = re.sub(r"<[^>]+>", " ", _section(page))
    assert " ".join(section.split()) == "What the team believed " + NO_GRAPH
    assert "What the team believed" not in (root / "model_card.md").read_text()
