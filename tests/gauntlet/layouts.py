"""Gauntlet cohorts with more than one file: external-validation pairs (train on one cohort,
validate on another of the same disease) and a unit table plus a visit table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gauntlet import Cohort, Expect, Reference, bug
from gauntlet.sources import package_file, survset

ROW_CV = dict(strategy="stratified-cv", unit_column=None, unit_source="none", holdout_kind="random")
GROUPED = dict(strategy="patient-grouped-cv", unit_source="detected", holdout_kind="unit-grouped")
DAYS_PER_MONTH = 30.4375


def _rotterdam(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "patient": frame["pid"], "age": frame["num_age"], "menopause": frame["fac_meno"].str.lower(),
        "size": frame["fac_tsize"].map({"<=20mm": "<=20", ">20-50mmm": "20-50", ">50mm": ">50"}),
        "grade": frame["fac_grade"].astype(int), "nodes": frame["num_nodes"],
        "pgr": frame["num_progesterone"], "er": frame["num_estrogen"], "hormon": frame["fac_hormon"],
        "months": frame["time"], "died": frame["event"]})


def _gbsg(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "patient": frame["pid"], "age": frame["num_age"], "menopause": frame["fac_menostat"].str.lower(),
        "size": pd.cut(frame["num_tsize"], [0, 20, 50, np.inf], labels=["<=20", "20-50", ">50"]).astype(str),
        # Royston & Altman (2013) merge grade I into II, as the Rotterdam data records only 2 and 3
        "grade": frame["fac_tgrade"].map({"I": 2, "II": 2, "III": 3}), "nodes": frame["num_pnodes"],
        "pgr": frame["num_progrec"], "er": frame["num_estrec"], "hormon": frame["fac_horTh"],
        "months": frame["time"] / DAYS_PER_MONTH, "died": frame["event"]})


def _rotterdam_gbsg(d: Path) -> dict[str, Any]:
    _rotterdam(survset("rott2")).to_csv(d / "rotterdam.csv", index=False)
    _gbsg(survset("GBSG2")).to_csv(d / "gbsg.csv", index=False)
    return {"task_type": "survival", "endpoint": {"time": "months", "event": "died"}, "data": "rotterdam.csv",
            "external": "gbsg.csv"}


def _actg175(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "age": frame["age"], "sex": np.where(frame["gender"] == 1, "M", "F"), "nonwhite": frame["race"],
        "ivdrug": frame["drugs"], "hemophilia": frame["hemo"], "karnofsky": frame["karnof"],
        "cd4": frame["cd40"], "days": frame["days"], "event": frame["cens"]})


def _actg320(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "age": frame["num_age"], "sex": np.where(frame["fac_sex"] == 0, "M", "F"),
        "nonwhite": (frame["fac_raceth"] != 1).astype(int), "ivdrug": (frame["fac_ivdrug"] != 1).astype(int),
        "hemophilia": frame["fac_hemophil"], "karnofsky": frame["num_karnof"], "cd4": frame["num_cd4"],
        "days": frame["time"], "event": frame["event"]})


def _actg_pair(d: Path) -> dict[str, Any]:
    _actg175(pd.read_csv(package_file("lifelines", "datasets", "ACTG175.csv"))).to_csv(d / "actg175.csv", index=False)
    _actg320(survset("actg")).to_csv(d / "actg320.csv", index=False)
    return {"task_type": "survival", "endpoint": {"time": "days", "event": "event"}, "data": "actg175.csv",
            "external": "actg320.csv"}


def _dietox_two_files(d: Path) -> dict[str, Any]:
    raw = pd.read_csv(package_file("statsmodels", "regression", "tests", "results", "dietox.csv"))
    raw[["Pig", "Evit", "Cu", "Litter"]].drop_duplicates("Pig").to_csv(d / "pigs.csv", index=False)
    raw[["Pig", "Time", "Weight", "Feed"]].to_csv(d / "weighings.csv", index=False)
    return {"task_type": "regression", "endpoint": "Weight", "data": ["pigs.csv", "weighings.csv"]}


def _csl_two_files(d: Path) -> dict[str, Any]:
    long = survset("csl")
    last = long.sort_values(["pid", "time2"]).groupby("pid").tail(1).set_index("pid")
    first = long.sort_values(["pid", "time"]).groupby("pid").head(1).set_index("pid")
    patients = pd.DataFrame({"pid": first.index, "age": first["num_age"].to_numpy(), "sex": first["fac_sex"].to_numpy(),
                             "treatment": first["fac_treat"].to_numpy(), "prot_base": first["num_prot_base"].to_numpy(),
                             "years": last.loc[first.index, "time2"].to_numpy(),
                             "died": last.loc[first.index, "event"].to_numpy()})
    patients.to_csv(d / "patients.csv", index=False)
    long[["pid", "time", "num_prot"]].rename(columns={"time": "visit_years", "num_prot": "prothrombin"}).to_csv(
        d / "visits.csv", index=False)
    return {"task_type": "survival", "endpoint": {"time": "years", "event": "died"},
            "data": ["patients.csv", "visits.csv"]}


BREAST = ("age", "menopause", "size", "grade", "nodes", "pgr", "er", "hormon")
ACTG = ("age", "sex", "nonwhite", "ivdrug", "hemophilia", "karnofsky", "cd4")

COHORTS = [
    Cohort("external-rotterdam-to-gbsg", "external validation: develop on Rotterdam (2,982), validate on GBSG (686); "
           "an identifier named 'patient'", "SurvSet rott2 + GBSG2, harmonised as in Royston & Altman 2013",
           _rotterdam_gbsg, Expect("c_index", **ROW_CV, removed=("patient",)),
           Reference("cox", BREAST, 0.06, "Cox on the 8 shared prognostic factors, same split and external file "
                     "(Royston & Altman 2013: C ~0.68 in Rotterdam, ~0.67 in GBSG)",
                     categorical=("menopause", "size", "hormon")), budget=2, external=True),
    Cohort("external-actg175-to-actg320", "external validation across HIV trials: ACTG 175 (2,139) -> ACTG 320 "
           "(1,151), 8% events in the external trial", "lifelines ACTG175.csv + SurvSet actg (ACTG 320)",
           _actg_pair, Expect("c_index", **ROW_CV),
           Reference("cox", ACTG, 0.07, "Cox on the 7 shared baseline covariates, same split and external file",
                     categorical=("sex",)), budget=2, external=True),
    Cohort("two-files-dietox", "a unit table (pigs.csv) and a visit table (weighings.csv) sharing 'Pig'",
           "statsmodels dietox.csv split into two files", _dietox_two_files,
           Expect("r2", unit_column=("Pig", "Litter"), **GROUPED, removed=("Pig",)),
           Reference("ridge", ("Time", "Feed", "Evit", "Cu"), 0.10,
                     "ridge on week, cumulative feed and diet, same pig-grouped split")),
    Cohort("two-files-csl", "a patient table (survival endpoint) and a visit table of prothrombin values sharing 'pid'",
           "SurvSet csl (CSL-1 liver cirrhosis trial) split into two files", _csl_two_files,
           Expect("c_index", unit_column="pid", **GROUPED, removed=("pid",)),
           Reference("cox", ("age", "sex", "treatment", "prot_base", "prothrombin"), 0.10,
                     "Cox on the baseline covariates and the visit's prothrombin, same patient-grouped split",
                     categorical=("sex", "treatment"))),
]
