"""The cohorts of bench/quality.py: public data shipped offline inside installed packages.

Where the gauntlet (``tests/gauntlet``) already loads a cohort, its builder is imported and
the file it writes is read back. Columns recorded after the outcome (cause of death, a
2-month disability score, the birth weight a low-birth-weight label is cut from) and row
identifiers are dropped before the split, so neither the team nor a peer sees them.

The largest cohorts here: randhie (20,190 person-years, regression) and SurvSet
prostateSurvival (14,294, survival). No clinical cohort near 50,000 units ships offline on
this machine (SurvSet's largest, hdfail with 52,422 units, is hard-drive failures).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["COHORTS", "QUICK", "Cohort"]


@dataclass(frozen=True)
class Cohort:
    name: str
    task_type: str  # binary | multiclass | regression | survival
    source: str
    loader: Callable[[Path], pd.DataFrame]
    endpoint: str | None = None  # the label column (not survival)
    time: str | None = None
    event: str | None = None
    positive: Any = None  # binary: the positive label
    description: str = ""

    @property
    def outcome_columns(self) -> tuple[str, ...]:
        return (self.time, self.event) if self.task_type == "survival" else (self.endpoint,)

    def load(self, staging: Path) -> pd.DataFrame:
        staging.mkdir(parents=True, exist_ok=True)
        return self.loader(staging).reset_index(drop=True)


def _gauntlet(builder: str, module: str = "tabular") -> Callable[[Path], pd.DataFrame]:
    """Run a gauntlet builder into ``staging`` and read the CSV it wrote."""
    def load(staging: Path) -> pd.DataFrame:
        import importlib

        keys = getattr(importlib.import_module(f"gauntlet.{module}"), builder)(staging)
        return pd.read_csv(staging / keys["data"])
    return load


def _iris(_: Path) -> pd.DataFrame:
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True).frame.rename(columns={"target": "species"})


def _sksurv(loader: str, drop: tuple[str, ...] = ()) -> Callable[[Path], pd.DataFrame]:
    def load(_: Path) -> pd.DataFrame:
        from gauntlet.sources import sksurv_frame

        return sksurv_frame(loader).drop(columns=list(drop))
    return load


def _survset(name: str, drop: tuple[str, ...] = ()) -> Callable[[Path], pd.DataFrame]:
    def load(_: Path) -> pd.DataFrame:
        from gauntlet.sources import survset

        return survset(name).drop(columns=["pid", *drop])
    return load


def _support2_180d(_: Path) -> pd.DataFrame:
    """SUPPORT: death within 180 days. Every censored patient is followed >= 344 days, so the
    label is known for all; ``sfdm2`` (functional status at 2 months, with a 'died' level) is
    recorded after entry and is dropped."""
    from gauntlet.sources import survset

    frame = survset("support2")
    frame["died_180d"] = ((frame["event"] == 1) & (frame["time"] <= 180)).astype(int)
    return frame.drop(columns=["pid", "time", "event", "fac_sfdm2"])


def _cattaneo_lbw(_: Path) -> pd.DataFrame:
    """Cattaneo (2010) births: low birth weight (< 2,500 g); the weight itself and the string
    duplicates of coded columns are dropped."""
    from gauntlet.sources import package_file

    frame = pd.read_csv(package_file("statsmodels", "treatment", "tests", "results", "cataneo2.csv"))
    dup = [c for c in frame.columns if c.endswith("_")]
    return frame.drop(columns=["bweight", "mage2", *dup])


def _randhie(_: Path) -> pd.DataFrame:
    import statsmodels.api as sm

    return sm.datasets.randhie.load_pandas().data.astype(float)


def _flchain(_: Path) -> pd.DataFrame:
    from gauntlet.sources import sksurv_frame

    # chapter = ICD chapter of the cause of death: known only after the event
    frame = sksurv_frame("load_flchain").drop(columns=["chapter"])
    return frame


COHORTS: list[Cohort] = [
    Cohort("iris", "multiclass", "sklearn load_iris", _iris, endpoint="species",
           description="Fisher's iris: three species from four flower measurements."),
    Cohort("wine", "multiclass", "sklearn load_wine (gauntlet sklearn-wine)", _gauntlet("_wine"), endpoint="cultivar",
           description="Three wine cultivars from 13 chemical measurements."),
    Cohort("veterans", "survival", "sksurv load_veterans_lung_cancer", _sksurv("load_veterans_lung_cancer"),
           time="Survival_in_days", event="Status",
           description="Veterans' Administration lung cancer trial: survival from treatment, cell type, "
                       "Karnofsky score."),
    Cohort("diabetes", "regression", "sklearn load_diabetes (gauntlet sklearn-diabetes)", _gauntlet("_diabetes"),
           endpoint="target", description="Disease progression one year after baseline (Efron et al. 2004)."),
    Cohort("whas500", "survival", "sksurv load_whas500", _sksurv("load_whas500"), time="lenfol", event="fstat",
           description="Worcester Heart Attack Study: survival after acute myocardial infarction."),
    Cohort("wdbc", "binary", "sklearn load_breast_cancer (gauntlet wdbc-original-headers)",
           _gauntlet("_wdbc_headers"), endpoint="diagnosis", positive="malignant",
           description="Wisconsin diagnostic breast cancer: malignancy from nuclear features."),
    Cohort("gbsg2", "survival", "sksurv load_gbsg2", _sksurv("load_gbsg2"), time="time", event="cens",
           description="German Breast Cancer Study Group 2: recurrence-free survival."),
    Cohort("aids", "survival", "sksurv load_aids (ACTG 320)", _sksurv("load_aids", drop=("txgrp",)),
           time="time", event="censor", description="ACTG 320: time to AIDS or death."),
    Cohort("cattaneo-lbw", "binary", "statsmodels treatment/tests/results/cataneo2.csv", _cattaneo_lbw,
           endpoint="lbweight", positive=1,
           description="Pennsylvania births (Cattaneo 2010): low birth weight from maternal characteristics."),
    Cohort("flchain", "survival", "sksurv load_flchain", _flchain, time="futime", event="death",
           description="Serum free light chains (Olmsted County): overall survival."),
    Cohort("support2-180d", "binary", "SurvSet support2", _support2_180d, endpoint="died_180d", positive=1,
           description="SUPPORT seriously ill inpatients: death within 180 days."),
    Cohort("prostate", "survival", "SurvSet prostateSurvival", _survset("prostateSurvival"),
           time="time", event="event", description="Prostate cancer (SEER-like): time to prostate-cancer death."),
    Cohort("randhie", "regression", "statsmodels datasets.randhie", _randhie, endpoint="mdvis",
           description="RAND Health Insurance Experiment: outpatient visits per person-year."),
]

#: --quick: three small cohorts of three kinds
QUICK = ("wine", "wdbc", "veterans")

assert all(np.unique([c.name for c in COHORTS], return_counts=True)[1] == 1), "cohort names must be unique"
