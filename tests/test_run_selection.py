"""Through ``autods run``: every experiment is scored on the plan's repeated folds, and the report
states the search-optimism-corrected CV beside the raw one (issue 12), on Wisconsin breast cancer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autods.cli import run

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_repeated_shared_folds_and_the_corrected_estimate(tmp_path: Path) -> None:
    assert run(["run", str(EXAMPLES / "task-breast-cancer"), "--budget", "5", "--runs-dir", str(tmp_path)]) == 0
    (root,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    fact = json.loads((root / "fact_sheet.json").read_text())
    assert fact["guardrails"]["cv"]["repeats"] == 2  # 569 rows, 212 events
    records = [json.loads(p.read_text()) for p in (root / "artifacts").glob("*/record.json")]
    keys = {tuple(r["fold_keys"]) for r in records}
    assert len(records) >= 3 and len(keys) == 1 and len(next(iter(keys))) == 10  # the same 2 x 5 folds for all
    sel = fact["champion"]["cv"]["selection"]
    assert sel["method"] == "BBC-CV" and sel["n_experiments"] == len(records)
    assert sel["corrected"] <= sel["raw"] + 1e-9 and sel["ci_low"] <= sel["corrected"] <= sel["ci_high"]
    html = (root / "report.html").read_text()
    assert "search optimism removed" in html and "that is the honest figure" in html
