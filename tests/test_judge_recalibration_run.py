"""The breast-cancer run that ended with no champion (requests.md Q3), through the CLI and the
default executor: its default logistic has an out-of-fold calibration slope of ~2.1, so the run
now ends with that model recalibrated in place, and what the server wrote about it is true."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest


@pytest.mark.slow
def test_the_breast_cancer_run_ends_with_the_recalibrated_logistic(examples_dir: Path, tmp_path: Path) -> None:
    from autods.cli import run as cli

    # sklearn's breast-cancer data, bundled; the default (local process pool) executor
    code = cli(["run", str(examples_dir / "task-breast-cancer"), "--runs-dir", str(tmp_path), "--run-name", "bc",
                "--budget", "6", "--quiet"])
    assert code == 0
    root = tmp_path / "bc"
    db = sqlite3.connect(root / "state.db")
    db.row_factory = sqlite3.Row
    results = {r["id"]: r for r in db.execute(
        "select r.*, p.family, p.author, p.recipe from results r join proposals p on p.id = r.proposal_id")}
    champions = db.execute("select * from champions order by id").fetchall()
    assert len(champions) == 2
    base, variant = results[champions[0]["result_id"]], results[champions[1]["result_id"]]
    base_slope = float(json.loads(base["artifacts"])["calibration_slope"])
    variant_slope = float(json.loads(variant["artifacts"])["calibration_slope"])
    assert base["family"] == "logistic" and not 0.8 <= base_slope <= 1.25  # the first champion: miscalibrated
    recipe = json.loads(variant["recipe"])
    # queued by the server's rule, or first by an analyst (the expert proposes the same variant;
    # the server then queues no second copy)
    assert variant["family"] == "calibrated"
    assert recipe["params"]["base"] == "logistic" and recipe["params"]["method"] == "platt"
    assert recipe["params"]["base_params"] == json.loads(base["recipe"])["params"]
    assert abs(math.log(variant_slope)) < abs(math.log(base_slope))
    # "keeps its ranking": every fold's AUROC is the logistic's
    assert json.loads(variant["fold_scores"]) == json.loads(base["fold_scores"])
    notes = {p["title"]: p["body"] for p in db.execute("select title, body from posts where author = 'system'")}
    if variant["author"] == "system":
        queued = notes[f"recalibrated variant (platt) of proposal {base['proposal_id']}"]
        assert f"calibration slope {base_slope:.3g} is outside [0.8, 1.25]" in queued
    else:
        assert f"recalibrated variant (platt) of proposal {base['proposal_id']}" not in notes
    in_place = notes[f"champion recalibrated in place (result {variant['id']})"]
    assert f"slope {base_slope:.3g} -> {variant_slope:.3g}" in in_place and "+0 (SE 0)" in in_place
    fact = json.loads((root / "fact_sheet.json").read_text())
    assert fact["champion"]["model"] == "calibrated" and fact["champion"]["experiment_id"] in {
        str(champions[1]["result_id"]), str(champions[1]["confirming_result_id"])}  # either seed of the variant
    summary = json.loads((root / "run_summary.json").read_text())
    assert summary["champion"]["result_id"] == variant["id"]
