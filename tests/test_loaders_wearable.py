"""Wearable loader: repeated timestamps, short series, per-participant features vs construct_features, the bundled long example."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from autods.errors import DataError
from autods.tasks import load_task
from autods.tasks.longitudinal import construct_features


def long_frame() -> pd.DataFrame:
    """P1: 3 days (day 2 recorded twice: 100 and 300); P2: 3 days; P3: 1 day only."""
    return pd.DataFrame({
        "pid": ["P1", "P1", "P1", "P1", "P2", "P2", "P2", "P3"],
        "day": ["2021-01-01", "2021-01-02", "2021-01-02", "2021-01-03", "2021-01-01", "2021-01-02", "2021-01-03", "2021-01-01"],
        "steps": [1000.0, 100.0, 300.0, 3000.0, 500.0, 600.0, 700.0, 50.0],
        "age": [40, 40, 40, 40, 60, 60, 60, 30],
        "outcome": [1.5, 1.5, 1.5, 1.5, 2.5, 2.5, 2.5, 0.5],
    })


def write_task(root: Path, cohort: dict, task_type: str = "regression", data: str = "long.csv", **keys: object) -> Path:
    meta = {"name": "w", "task_type": task_type, "format": "wearable", "endpoint": "outcome", "data": data,
            "id_column": "pid", "time_column": "day", "cohort": cohort, **keys}
    (root / "TASK.md").write_text("---\n" + yaml.safe_dump(meta) + "---\n")
    return root


def test_unit_rows_match_construct_features(tmp_path: Path) -> None:
    long_frame().to_csv(tmp_path / "long.csv", index=False)
    task = load_task(write_task(tmp_path, {"min_timepoints": 2}))
    f = task.frame.set_index("pid")
    assert list(f.index) == ["P1", "P2"]  # P3 has one timestamp
    assert f.loc["P1", "steps__mean"] == pytest.approx((1000 + 200 + 3000) / 3)  # the repeated day averaged first
    tidy = pd.DataFrame({"pid": ["P1"] * 3 + ["P2"] * 3, "day": pd.to_datetime(["2021-01-01", "2021-01-02", "2021-01-03"] * 2),
                         "steps": [1000.0, 200.0, 3000.0, 500.0, 600.0, 700.0]})
    expected = construct_features(tidy, "pid", "day", ["steps"])
    pd.testing.assert_frame_equal(f[expected.columns].astype(float), expected.astype(float), check_names=False)
    assert f.loc["P1", "age"] == 40 and f.loc["P1", "day"] == "2021-01-01" and f.loc["P2", "outcome"] == 2.5
    flow = {r["name"]: r for r in task.provenance if r["kind"] == "step"}
    assert flow["repeated timestamps resolved"]["removed"] == 1 and flow[">= 2 timestamps per participant"]["removed"] == 1


def test_biomarker_tasks_keep_the_long_format(tmp_path: Path) -> None:
    long_frame().to_csv(tmp_path / "long.csv", index=False)
    task = load_task(write_task(tmp_path, {"duplicates": "first"}, task_type="biomarker"))
    assert len(task.frame) == 7 and pd.api.types.is_datetime64_any_dtype(task.frame["day"])


def test_duplicates_error_and_varying_endpoint(tmp_path: Path) -> None:
    long_frame().to_csv(tmp_path / "long.csv", index=False)
    with pytest.raises(DataError, match="repeat a"):
        load_task(write_task(tmp_path, {"duplicates": "error"}))
    bad = long_frame().assign(outcome=range(8))
    bad.to_csv(tmp_path / "long.csv", index=False)
    with pytest.raises(DataError, match="varies within a participant"):
        load_task(write_task(tmp_path, {}))


def test_bundled_wearable_example_through_the_loader(tmp_path: Path, examples_dir: Path) -> None:
    from autods.judge.biomarkers.cohort import build_cohort

    src = examples_dir / "task-wearable-biomarkers"
    text = (src / "TASK.md").read_text().replace("task_type: biomarker", "task_type: biomarker\nformat: wearable")
    text = text.replace("data: data/wearable_long.parquet", f"data: {src / 'data' / 'wearable_long.parquet'}")
    (tmp_path / "TASK.md").write_text(text)
    task = load_task(tmp_path)
    assert task.frame["participant_id"].nunique() == 2000 and task.frame.duplicated(["participant_id", "date"]).sum() == 0
    cohort = build_cohort(task)
    assert cohort.long_format and "steps__mean" in cohort.names and "lab_il6" not in cohort.names
    assert next(r for r in task.provenance if r["kind"] == "source")["sha256"] == task.data_hashes[str(src / "data" / "wearable_long.parquet")]
