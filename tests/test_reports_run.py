"""The report of a real ``autods run`` (the agent team, inline executor, tiny budget): every number
checked against the fact sheet, the champion loadable on raw rows, and ``autods report``
re-rendering the same numbers from the run folder alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_check import check_report

from autods import load_model
from autods.cli import run as cli
from autods.judge.holdout import HoldoutLedger


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory, examples_dir: Path) -> Path:
    runs = tmp_path_factory.mktemp("real-runs")
    code = cli(["run", str(examples_dir / "task-breast-cancer"), "--run-name", "bc", "--runs-dir", str(runs),
                "--budget", "4", "--executor", "inline", "--quiet"])
    assert code == 0
    return runs / "bc"


@pytest.mark.slow
def test_the_report_of_a_real_run_matches_its_fact_sheet(real_run: Path) -> None:
    sheet = json.loads((real_run / "fact_sheet.json").read_text())
    n, problems = check_report((real_run / "report.html").read_text(), sheet)
    assert problems == [] and n > 200
    assert sheet["experiments"]["total"] == len(sheet["experiment_log"]) >= 4
    assert sheet["experiments"]["promoted"] >= 1
    champ = sheet["champion"]
    assert champ["test"]["value"] is not None and champ["test"]["n"] == sheet["data"]["n_holdout"]
    scored = HoldoutLedger(real_run / "holdout_ledger.json").records()
    assert len(scored) == 1 and next(iter(scored.values()))["result"]["value"] == champ["test"]["value"]
    assert any(e["event"].startswith("agent_step") for e in sheet["audit"]["excerpt"])


@pytest.mark.slow
def test_the_champion_of_a_real_run_scores_raw_rows(real_run: Path, examples_dir: Path) -> None:
    raw = pd.read_csv(examples_dir / "task-breast-cancer" / "data" / "breast_cancer.csv")
    proba = load_model(real_run).predict_proba(raw)
    assert proba.shape == (len(raw), 2) and np.all((proba >= 0) & (proba <= 1))


@pytest.mark.slow
def test_autods_report_rerenders_the_same_numbers(real_run: Path) -> None:
    before = json.loads((real_run / "fact_sheet.json").read_text())
    assert cli(["report", str(real_run)]) == 0
    after = json.loads((real_run / "fact_sheet.json").read_text())
    for key in ("champion", "subgroups", "candidates", "experiments", "experiment_log", "data", "guardrails"):
        assert after[key] == before[key], key
    _, problems = check_report((real_run / "report.html").read_text(), after)
    assert problems == []
