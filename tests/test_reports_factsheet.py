"""fact_sheet.json: the ARCHITECTURE.md section 6 contract, its shipped schema, and agreement
with the files and the state store it is assembled from."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
from report_check import check_report
from report_fixtures import shared_synthetic

from autods.errors import JudgeError
from autods.reports import build_fact_sheet, fact_sheet_schema, validate_fact_sheet
from autods.reports.html import render_html
from autods.server.service import Actor, Service
from autods.state.store import Store

SECTION_6 = {
    "task": {"name", "task_type", "endpoint", "validation"},
    "data": {"n_rows", "n_units", "n_features"},
    "guardrails": {"phi_columns", "excluded_features", "findings", "cv"},
    "champion": {"experiment_id", "model", "metric", "cv", "test", "external", "calibration"},
    "experiments": {"total", "promoted", "failed", "dead_ends"},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_synthetic("binary", tmp_path_factory.mktemp("factsheet-runs"))


@pytest.fixture()
def sheet(run: Path) -> dict:
    return json.loads((run / "fact_sheet.json").read_text())


def test_schema_ships_with_the_package_and_is_draft_2020_12() -> None:
    schema = fact_sheet_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_section_6_fields_are_present_with_their_names(sheet: dict) -> None:
    for section, fields in SECTION_6.items():
        assert fields <= set(sheet[section]), section
    g = sheet["guardrails"]
    assert set(g["cv"]) >= {"strategy", "group_column", "n_splits"}
    assert all(set(e) == {"name", "reason"} for e in g["excluded_features"])
    assert all({"check", "severity", "message"} <= set(f) for f in g["findings"])
    for split in ("cv", "test", "external"):
        assert {"value", "ci_low", "ci_high"} <= set(sheet["champion"][split])
    assert set(sheet["champion"]["calibration"]) == {"slope", "intercept", "brier"}
    assert all({"column", "group", "n", "metric", "value"} <= set(s) for s in sheet["subgroups"])
    assert sheet["task"]["endpoint"] == "y" and sheet["champion"]["metric"] == "auroc"
    assert sheet["guardrails"]["phi_columns"] == ["mrn"]
    assert "mrn" in [e["name"] for e in g["excluded_features"]]


def test_numbers_agree_with_the_records_ledger_and_store(run: Path, sheet: dict) -> None:
    champ = sheet["champion"]
    record = json.loads((run / "artifacts" / champ["experiment_id"] / "record.json").read_text())
    assert {k: champ["cv"][k] for k in ("value", "ci_low", "ci_high")} == {k: record[k] for k in ("value", "ci_low", "ci_high")}
    scored = next(iter(json.loads((run / "holdout_ledger.json").read_text())["scored"].values()))["result"]
    assert {k: champ["test"][k] for k in ("value", "ci_low", "ci_high")} == {k: scored[k] for k in ("value", "ci_low", "ci_high")}
    store = Store.open(f"sqlite:///{run / 'state.db'}")
    try:
        svc, viewer = Service(store), Actor(agent_id=None, role="viewer")
        run_id = svc.list_runs(viewer)[0].id
        results = svc.list_results(viewer, run_id)
        failed = svc.list_queue(viewer, run_id, status="failed")
        assert sheet["experiments"]["total"] == len(results) + len(failed) == len(sheet["experiment_log"])
        assert sheet["experiments"]["failed"] == len(failed) == 1
        assert sheet["experiments"]["promoted"] == len(svc.champion_history(viewer, run_id))
        assert sheet["experiments"]["dead_ends"] == len(svc.list_dead_ends(viewer, run_id)) == 1
        by_id = {r.id: r.value for r in results}
        assert all(row["value"] == by_id[row["result_id"]] for row in sheet["experiment_log"] if row["result_id"])
    finally:
        store.close()
    failed_row = next(r for r in sheet["experiment_log"] if r["status"] == "failed")
    assert "no_such_column" in failed_row["reason"]


def test_cohort_flow_adds_up(sheet: dict) -> None:
    d = sheet["data"]
    assert d["n_rows_received"] - d["n_rows_missing_endpoint"] == d["n_rows"]
    assert d["n_development"] + d["n_holdout"] == d["n_rows"]
    steps = {s["step"].split(" (")[0]: s for s in sheet["cohort_flow"]}
    assert steps["held-out test split"]["n_rows"] == d["n_holdout"] == sheet["champion"]["test"]["n"]
    assert steps["development rows"]["n_rows"] == d["n_development"] == sheet["champion"]["cv"]["n_rows"]


def test_every_warning_becomes_a_limitation(sheet: dict) -> None:
    texts = {lim["text"] for lim in sheet["limitations"]}
    warnings = [f["message"] for f in sheet["guardrails"]["findings"] if f["severity"] != "info"]
    warnings += [f["message"] for f in sheet["validation"]["findings"]]
    assert warnings and set(warnings) <= texts


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda s: s.update(extra_section={}), "(top level)"),
    (lambda s: s["champion"]["cv"].pop("ci_low"), "champion.cv"),
    (lambda s: s["guardrails"]["findings"].append({"check": "x", "severity": "fatal", "message": "m"}), "guardrails.findings"),
    (lambda s: s["candidates"].append({"feature": "f"}), "candidates"),
    (lambda s: s["data"].update(n_rows="many"), "data.n_rows"),
    (lambda s: s["champion"]["cv"].update(value=float("nan")), "champion.cv.value"),
])
def test_schema_rejects_drift(sheet: dict, mutate, where: str) -> None:
    bad = copy.deepcopy(sheet)
    mutate(bad)
    with pytest.raises(JudgeError, match=where.replace("(", r"\(").replace(")", r"\)")):
        validate_fact_sheet(bad)


def test_an_invalid_sheet_is_never_written(run: Path, tmp_path: Path) -> None:
    root = shutil.copytree(run, tmp_path / "run")
    before = (root / "fact_sheet.json").read_text()
    validation = json.loads((root / "validation.json").read_text())
    validation["metric"] = "accuracy_at_my_favourite_threshold"
    (root / "validation.json").write_text(json.dumps(validation))
    with pytest.raises(JudgeError, match="champion.metric"):
        build_fact_sheet(root)
    assert (root / "fact_sheet.json").read_text() == before


def test_a_run_without_champion_or_state_still_reports(run: Path, tmp_path: Path) -> None:
    root = shutil.copytree(run, tmp_path / "run")
    (root / "validation.json").unlink()
    (root / "state.db").unlink()
    sheet = build_fact_sheet(root)
    assert sheet["champion"] is None and sheet["subgroups"] == [] and sheet["experiment_log"] == []
    assert sheet["experiments"] == {"total": 0, "promoted": 0, "failed": 0, "dead_ends": 0, "aborted": 0}
    assert any(lim["text"] == "no champion was validated in this run" for lim in sheet["limitations"])
    assert not (root / "state.db").exists()  # reading never creates an empty database
    n, problems = check_report(render_html(sheet), sheet)
    assert problems == [] and n > 30


def test_every_fact_sheet_section_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "reports.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", doc, re.M))
    assert set(fact_sheet_schema()["properties"]) == documented
