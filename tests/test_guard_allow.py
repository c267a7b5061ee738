"""TASK.md ``allow: {column: reason}`` keeps a column governance excluded, with the reason on record.

Real cohort: scikit-learn's Wisconsin breast cancer (569 rows), with one planted column,
``biopsy_result``, that copies the diagnosis for all but 3 rows: the leakage audit blocks it as
a single-feature proxy. The override must bring it back into the features, into the fact sheet
and the report, and must refuse what it can never keep (endpoint, unit, PHI, a column that is
also under ``exclude:``, a column that does not exist).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autods.cli import run
from autods.errors import DataError


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.iloc[:, [0, 1, 2, 3, 20, 21, 30]].copy()
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    proxy = frame["target"].to_numpy().copy()
    proxy[[5, 50, 500]] = 1 - proxy[[5, 50, 500]]
    frame["biopsy_result"] = proxy
    return frame


def _task(root: Path, frame: pd.DataFrame, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / "data.csv", index=False)
    (root / "TASK.md").write_text(f"---\nname: bc\ntask_type: binary\nendpoint: target\ndata: data.csv\n{extra}---\nA test task.\n")
    return root


def _govern(task_dir: Path):
    from autods.guard.govern import govern
    from autods.tasks import load_task

    task = load_task(task_dir)
    return task, govern(task)


def test_the_proxy_is_excluded_without_an_override(tmp_path: Path, cancer: pd.DataFrame) -> None:
    task, gov = _govern(_task(tmp_path / "t", cancer))
    assert "biopsy_result" in gov.excluded_features
    assert "biopsy_result" not in gov.feature_columns(task) and gov.allowed == []


def test_allow_keeps_the_column_and_records_why(tmp_path: Path, cancer: pd.DataFrame) -> None:
    task, gov = _govern(_task(tmp_path / "t", cancer, "allow: {biopsy_result: pathology is read before the index date}\n"))
    assert "biopsy_result" not in gov.excluded_features
    assert "biopsy_result" in gov.feature_columns(task)
    assert gov.allowed == [("biopsy_result", "pathology is read before the index date")]
    kept = [f for f in gov.findings if f.check == "allow"]
    assert len(kept) == 1 and kept[0].severity.value == "warning" and "would have been excluded" in kept[0].message
    # the finding that blocked it is still on the record, beside the override
    assert any(f.blocking and f.feature == "biopsy_result" for f in gov.findings)


def test_an_entry_that_changed_nothing_says_so(tmp_path: Path, cancer: pd.DataFrame) -> None:
    _, gov = _govern(_task(tmp_path / "t", cancer, "allow: {mean_radius: measured at diagnosis}\n"))
    assert gov.allowed == []
    note = [f for f in gov.findings if f.check == "allow"]
    assert len(note) == 1 and "changed nothing" in note[0].message


@pytest.mark.parametrize(("extra", "words"), [
    ("allow: {target: because}\n", "endpoint"),
    ("allow: {no_such_column: because}\n", "not a column"),
    ("exclude: [biopsy_result]\nallow: {biopsy_result: because}\n", "both allow: and exclude:"),
    ("allow: {biopsy_result: ''}\n", "needs a reason"),
])
def test_contradictory_or_empty_entries_exit_2(tmp_path: Path, cancer: pd.DataFrame, capsys, extra: str, words: str) -> None:
    task_dir = _task(tmp_path / "t", cancer, extra)
    code = run(["run", str(task_dir), "--budget", "1", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and len(err.splitlines()) == 1


def test_the_unit_and_phi_cannot_be_allowed(tmp_path: Path, cancer: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    frame = cancer.copy()
    frame["patient"] = np.repeat(np.arange(len(frame) // 3 + 1), 3)[: len(frame)]
    with pytest.raises(DataError, match="unit of analysis"):
        _govern(_task(tmp_path / "a", frame, "id_column: patient\nallow: {patient: because}\n"))
    frame = cancer.copy()
    frame["email"] = [f"person{i}@example.org" for i in rng.permutation(len(frame))]
    with pytest.raises(DataError, match="PHI"):
        _govern(_task(tmp_path / "b", frame, "allow: {email: because}\n"))


@pytest.mark.slow
def test_the_override_reaches_the_fact_sheet_and_the_report(tmp_path: Path, cancer: pd.DataFrame) -> None:
    task_dir = _task(tmp_path / "t", cancer, "allow: {biopsy_result: pathology is read before the index date}\n")
    code = run(["run", str(task_dir), "--budget", "2", "--runs-dir", str(tmp_path / "runs")])
    assert code == 0
    (root,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    fact = json.loads((root / "fact_sheet.json").read_text())
    assert fact["guardrails"]["allowed_features"] == [{"name": "biopsy_result", "reason": "pathology is read before the index date"}]
    assert "biopsy_result" not in {e["name"] for e in fact["guardrails"]["excluded_features"]}
    html = next(root.rglob("report.html")).read_text()
    assert "kept by the user" in html and "pathology is read before the index date" in html
    prose = html[html.index("The validation plan that ran"):].split("</p>")[0]
    assert "stratified-cv" in prose and "no column was found to repeat" in prose and "classes" in prose
