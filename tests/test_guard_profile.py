"""Profile: column kinds and the structural columns are found without the spec's help.

Threat model. Covered: the unit-of-analysis id, site and date columns are detected when
TASK.md does not name them; a lab with repeats is not mistaken for an id; a planted site
shift (in a feature and in the outcome rate) is reported with per-site means; clean data
has no site shift; duplicates and missingness are counted; redaction removes statistics.

NOT covered (known limits): an id column whose name and values both look like an ordinary
number (e.g. unnamed integers 1..n); site columns whose name does not say so; dates stored
as numbers (YYYYMMDD integers, Excel serials) or in formats outside the explicit list;
shifts in variance or in correlation structure (only means and outcome rates are compared).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autods.guard.findings import Severity
from autods.guard.profile import DataProfile, profile_findings, profile_frame
from guard_data import clean_cohort, make_task


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return clean_cohort(n_patients=150)


@pytest.fixture(scope="module")
def profile(cohort: pd.DataFrame) -> DataProfile:
    return profile_frame(cohort)


def test_column_kinds(cohort: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    frame = cohort.assign(
        discharge_summary=[f"patient recovered well after procedure number {i} and went home" for i in range(len(cohort))],
        stamp=pd.to_datetime(cohort["admit_date"]),
        on_statin=rng.integers(0, 2, len(cohort)).astype(bool),
    )
    kinds = {c: p.kind for c, p in profile_frame(frame).columns.items()}
    assert kinds == {
        "patient_id": "identifier", "hospital": "categorical", "admit_date": "datetime", "age": "numeric",
        "sex": "categorical", "creatinine": "numeric", "sodium": "numeric", "smoker": "boolean",
        "readmitted": "boolean", "discharge_summary": "text", "stamp": "datetime", "on_statin": "boolean",
    }


def test_unit_id_is_detected_without_a_spec(profile: DataProfile, cohort: pd.DataFrame) -> None:
    assert profile.unit_id == "patient_id" and profile.n_units == cohort["patient_id"].nunique()


def test_undeclared_unit_id_yields_a_warning_with_advice(profile: DataProfile, cohort: pd.DataFrame) -> None:
    spec = make_task(cohort).spec
    (found,) = [f for f in profile_findings(profile, spec) if f.feature == "patient_id"]
    assert found.severity is Severity.warning and "id_column: patient_id" in found.advice


def test_declared_unit_id_is_not_nagged(cohort: pd.DataFrame) -> None:
    spec = make_task(cohort, id_column="patient_id").spec
    assert not [f for f in profile_findings(profile_frame(cohort, spec), spec) if f.feature == "patient_id"]


def test_repeating_numeric_lab_is_not_an_id(profile: DataProfile) -> None:
    assert "creatinine" not in profile.id_columns and profile.columns["creatinine"].kind == "numeric"


def test_unnamed_alphanumeric_id_is_detected_by_shape(cohort: pd.DataFrame) -> None:
    frame = cohort.rename(columns={"patient_id": "subj"})
    assert profile_frame(frame).unit_id == "subj"


def test_site_and_date_columns_are_detected(profile: DataProfile) -> None:
    assert profile.site_columns == ["hospital"] and profile.datetime_columns == ["admit_date"]


def test_us_format_date_strings_are_datetime(cohort: pd.DataFrame) -> None:
    frame = cohort.assign(admit_date=pd.to_datetime(cohort["admit_date"]).dt.strftime("%m/%d/%Y"))
    assert profile_frame(frame).columns["admit_date"].kind == "datetime"


def test_feature_site_shift_is_reported_with_per_site_means(cohort: pd.DataFrame) -> None:
    frame = cohort.copy()
    frame.loc[frame["hospital"] == "East", "sodium"] += 6.0  # a different analyser at one site
    spec = make_task(frame, site_column="hospital").spec
    (found,) = [f for f in profile_findings(profile_frame(frame, spec), spec) if f.check == "site_shift"]
    assert found.feature == "sodium" and "site shift" in found.message
    means = found.evidence["per_site_mean"]
    assert means["East"] - max(means["North"], means["South"]) > 4


def test_outcome_rate_site_shift_is_reported(cohort: pd.DataFrame) -> None:
    frame = cohort.copy()
    east = (frame["hospital"] == "East").to_numpy()
    frame.loc[east, "readmitted"] = (np.random.default_rng(2).random(east.sum()) < 0.9).astype(int)
    spec = make_task(frame, site_column="hospital").spec
    found = [f for f in profile_findings(profile_frame(frame, spec), spec) if f.check == "site_shift"]
    assert [f.feature for f in found] == ["readmitted"] and found[0].evidence["per_site_rate"]["East"] > 0.8


def test_clean_cohort_has_no_site_shift(cohort: pd.DataFrame) -> None:
    spec = make_task(cohort, site_column="hospital").spec
    assert not [f for f in profile_findings(profile_frame(cohort, spec), spec) if f.check == "site_shift"]


def test_duplicates_and_missingness_are_counted(cohort: pd.DataFrame) -> None:
    frame = pd.concat([cohort, cohort.iloc[:4]], ignore_index=True)
    frame.loc[:9, "sodium"] = np.nan  # rows 0-3 lose sodium, their copies (312-315) keep it
    prof = profile_frame(frame)
    assert prof.n_duplicate_rows == 0
    prof = profile_frame(pd.concat([cohort, cohort.iloc[:4]], ignore_index=True))
    assert prof.n_duplicate_rows == 4
    assert profile_frame(frame).columns["sodium"].missing_fraction == pytest.approx(10 / len(frame))


def test_redaction_removes_statistics(profile: DataProfile) -> None:
    red = profile.redacted({"sex", "admit_date"})
    assert red.columns["sex"].stats == {"redacted": True} and red.columns["admit_date"].stats == {"redacted": True}
    assert red.columns["age"].stats == profile.columns["age"].stats


def test_record_identifier_is_excluded_but_the_unit_id_is_not(cohort: pd.DataFrame) -> None:
    frame = cohort.assign(encounter_id=np.arange(10**5, 10**5 + len(cohort)))
    spec = make_task(frame, id_column="patient_id").spec
    blocked = [f.feature for f in profile_findings(profile_frame(frame, spec), spec) if f.blocking]
    assert blocked == ["encounter_id"]
