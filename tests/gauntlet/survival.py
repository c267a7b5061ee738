"""Gauntlet cohorts with a time-to-event endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gauntlet import Cohort, Expect, Reference, bug
from gauntlet.sources import copy_package_file, sksurv_frame, survset

ROW_CV = dict(strategy="stratified-cv", unit_column=None, unit_source="none", holdout_kind="random")
GROUPED = dict(strategy="patient-grouped-cv", unit_source="detected", holdout_kind="unit-grouped")
SURVSET_EP = {"time": "time", "event": "event"}


def _survset_task(name: str, file: str):  # noqa: ANN202 - a builder
    def build(d: Path) -> dict[str, Any]:
        survset(name).to_csv(d / file, index=False)
        return {"task_type": "survival", "endpoint": dict(SURVSET_EP), "data": file}
    return build


def _lifelines_task(file: str, time: str, event: str):  # noqa: ANN202 - a builder
    """A survival task on a CSV lifelines ships, copied as it is (lung keeps R's dotted headers)."""
    def build(d: Path) -> dict[str, Any]:
        name = copy_package_file(d, "lifelines", "datasets", file)
        return {"task_type": "survival", "endpoint": {"time": time, "event": event}, "data": name}
    return build


_lung = _lifelines_task("lung.csv", "time", "status")  # NCCTG lung, status already 0/1
_lymph = _lifelines_task("lymph_node.csv", "rectime", "censrec")
_actg175 = _lifelines_task("ACTG175.csv", "days", "cens")
_recur = _lifelines_task("recur.csv", "TIME1", "CENSOR")


def _gse7390(d: Path) -> dict[str, Any]:
    sksurv_frame("load_breast_cancer").to_csv(d / "gse7390.csv", index=False)
    return {"task_type": "survival", "endpoint": {"time": "t.tdm", "event": "e.tdm"}, "data": "gse7390.csv"}


def _survset_features(name: str):  # noqa: ANN202 - read when the test runs, not at import
    return lambda: tuple(c for c in survset(name).columns if c.startswith(("num_", "fac_")))


SV = "time", "event"
ACTG175_BASE = ("age", "wtkg", "hemo", "homo", "drugs", "karnof", "oprior", "z30", "preanti", "race", "gender",
                "str2", "strat", "symptom", "treat", "cd40", "cd80")

COHORTS = [
    Cohort("survset-gbsg2-pid", "identifier named 'pid' (unique per row), German breast cancer study",
           "SurvSet GBSG2", _survset_task("GBSG2", "gbsg2.csv"),
           Expect("c_index", **ROW_CV, removed=("pid",), kept=("num_pnodes", "num_progrec")),
           Reference("cox", _survset_features("GBSG2"), 0.07,
                     "Cox on the 8 GBSG2 covariates, same split (published Cox C ~0.67-0.69)")),
    Cohort("lifelines-lung-dotted", "dotted R headers ('ph.ecog', 'meal.cal'), missing values, an 'inst' site",
           "lifelines.datasets lung.csv", _lung,
           Expect("c_index", **ROW_CV),
           Reference("cox", ("age", "sex", "ph.ecog", "ph.karno", "pat.karno", "wt.loss"), 0.10,
                     "Cox on age, sex, ECOG and Karnofsky scores, weight loss, same split")),
    Cohort("lifelines-gbsg-dates", "post-outcome columns for recurrence: death date, overall survival time and "
           "death status; an 'id' column", "lifelines.datasets lymph_node.csv", _lymph,
           Expect("c_index", **ROW_CV, removed=("id", "survtime", "censdead", "deathdate", "recdate")),
           Reference("cox", ("age", "menopause", "hormone", "size", "grade", "nodes", "prog_recp", "estrg_recp"),
                     0.07, "Cox on the 8 baseline GBSG covariates, same split (published C ~0.67-0.69); "
                     "with survtime the C-index is ~0.9")),
    Cohort("lifelines-actg175", "identifier 'pidnum', R's row-number column, and post-baseline CD4 counts "
           "(week 20/96, 'r' = week-96 value missing, 'offtrt')", "lifelines.datasets ACTG175.csv", _actg175,
           Expect("c_index", **ROW_CV, removed=("pidnum", "Unnamed: 0", "cd496", "r")),
           Reference("cox", ACTG175_BASE, 0.07, "Cox on the 17 baseline ACTG 175 covariates, same split")),
    Cohort("lifelines-recur", "recurrent events: several rows per 'ID' (gap times), no id declared",
           "lifelines.datasets recur.csv", _recur,
           Expect("c_index", unit_column="ID", **GROUPED, removed=("ID",)),
           Reference("cox", ("AGE", "TREAT", "TIME0", "EVENT"), 0.10,
                     "Cox on the user's own non-id columns, same ID-grouped split")),
    Cohort("survset-diabetic-eyes", "two eyes per patient (DRS): 'pid' repeats, no id declared",
           "SurvSet diabetes", _survset_task("diabetes", "drs.csv"),
           Expect("c_index", unit_column="pid", **GROUPED, removed=("pid",)),
           Reference("cox", _survset_features("diabetes"), 0.12,
                     "Cox on age at diagnosis, treated eye, treatment and type, same patient-grouped split")),
    # sksurv's flchain (7,874 people, 3 zero times: the issue's own example) is left out: one experiment
    # there takes 400+ s (the judge's dense n x n Harrell kernel), more than the gauntlet's whole share.
    Cohort("survset-prostate-zero-times", "16 zero follow-up times (Byar & Green prostate trial); string categories "
           "('0.2 mg estrogen'), 'pid' in row order", "SurvSet prostate", _survset_task("prostate", "prostate.csv"),
           Expect("c_index", **ROW_CV, removed=("pid",)),
           Reference("cox", _survset_features("prostate"), 0.08, "Cox on the 15 trial covariates, same split")),
    Cohort("survset-acath-zero-times", "123 zero times in a cardiac catheterisation cohort",
           "SurvSet acath", _survset_task("acath", "acath.csv"),
           Expect("c_index", **ROW_CV, removed=("pid",)),
           Reference("cox", _survset_features("acath"), 0.06, "Cox on age, cholesterol and sex, same split")),
    Cohort("survset-nki70-wide", "70 gene-expression probes plus 5 clinical variables on 144 patients",
           "SurvSet nki70", _survset_task("nki70", "nki70.csv"),
           Expect("c_index", **ROW_CV, removed=("pid",)),
           Reference("cox", _survset_features("nki70"), 0.12, "ridge Cox (alpha 10) on all 75 features, same split", cox_alpha=10.0)),
    Cohort("sksurv-gse7390-wide", "76 probes plus age, ER, grade and size on 198 patients (the coxnet proposal "
           "of issue 11 was invalid here)", "sksurv.datasets.load_breast_cancer", _gse7390,
           Expect("c_index", **ROW_CV),
           Reference("cox", lambda: tuple(sksurv_frame("load_breast_cancer").columns[:-2]), 0.12,
                     "ridge Cox (alpha 10) on all 80 features, same split", categorical=("er", "grade"),
                     cox_alpha=10.0)),
    Cohort("survset-nsbcd-p-gg-n", "549 expression features on 115 patients (p >> n)",
           "SurvSet NSBCD", _survset_task("NSBCD", "nsbcd.csv"),
           Expect("c_index", **ROW_CV, removed=("pid",)),
           Reference("cox", _survset_features("NSBCD"), 0.15, "ridge Cox (alpha 50) on all 549 features, same split",
                     cox_alpha=50.0), budget=2),
    Cohort("survset-pbc3-sites", "PBC-3 trial: six hospitals ('fac_unit'), 'pid' in row order, skewed labs",
           "SurvSet Pbc3", _survset_task("Pbc3", "pbc3.csv"),
           Expect("c_index", **ROW_CV, removed=("pid",), kept=("num_bili",)),
           Reference("cox", _survset_features("Pbc3"), 0.10, "Cox on the 12 PBC-3 covariates, same split")),
    Cohort("survset-whas500-pid0", "Worcester heart attack study; 'pid' counts 0..n-1 in row order",
           "SurvSet whas500", _survset_task("whas500", "whas500.csv"),
           Expect("c_index", **ROW_CV, removed=("pid",), kept=("num_age",)),
           Reference("cox", _survset_features("whas500"), 0.08, "Cox on the 16 WHAS500 covariates, same split")),
]
