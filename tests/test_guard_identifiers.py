"""Identifiers and single-feature leaks (issue 11): an id is never a feature.

Threat model. Covered: record and unit ids recognised by header (any case; space, dot,
underscore, hyphen or camelCase between words; whole tokens only) and by shape (a counter
monotone in row order, near-unique integers over a contiguous range); the detected unit id
that TASK.md did not declare is kept out of the features; a feature that alone separates
the outcome is excluded when it is identifier-shaped, administrative or separates by its
missingness, while strong clinical measurements (Wisconsin breast cancer) are kept for review.

NOT covered (known limits): a shuffled id of random integers whose header says nothing
(only blocked once it separates the outcome); ids stored as floats with decimals; headers
in languages other than English; administrative columns whose header says nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata
from sklearn.datasets import load_breast_cancer

from autods.guard.findings import Finding, Severity
from autods.guard.govern import UNIT_ID, govern
from autods.guard.leakage import audit_leakage
from autods.guard.profile import id_name_strength, profile_findings, profile_frame
from guard_data import clean_cohort, make_task

N = 686  # the size of the GBSG cohort the bug was seen in
SURVIVAL = {"time": "rfstime", "event": "status"}


def _sf(findings: list[Finding], feature: str) -> list[Finding]:
    return [f for f in findings if f.check == "single_feature_discrimination" and f.feature == feature]


def _survival_frame(seed: int = 3) -> pd.DataFrame:
    """A GBSG-like cohort whose file is sorted so that `pid` tracks the event (AUROC ~0.98)."""
    rng = np.random.default_rng(seed)
    status = (rng.random(N) < 0.44).astype(int)
    order = rankdata(status + rng.normal(0, 0.33, N), method="ordinal").astype(int) - 1
    pid = np.sort(rng.choice(np.arange(1, 2000), size=N, replace=False))[order]
    return pd.DataFrame({
        "pid": pid, "age": rng.integers(21, 80, N), "meno": rng.integers(0, 2, N),
        "size": np.round(rng.gamma(4, 7, N), 1), "grade": rng.integers(1, 4, N), "nodes": rng.integers(1, 30, N),
        "pgr": np.round(rng.lognormal(4, 1.5, N)).astype(int), "er": np.round(rng.lognormal(4, 1.4, N)).astype(int),
        "rfstime": np.round(rng.exponential(1500, N)) + 1, "status": status,
    })


def _survival_task(frame: pd.DataFrame):
    return make_task(frame, endpoint=SURVIVAL, task_type="survival")


def _repeated_unit_frame(name: str, seed: int = 0) -> pd.DataFrame:
    """40 units with 15 rows each: too few distinct values for the old 10 % cardinality rule."""
    rng = np.random.default_rng(seed)
    units = rng.permutation(np.repeat(rng.choice(np.arange(100, 999), size=40, replace=False), 15))
    return pd.DataFrame({name: units, "age": rng.integers(20, 86, len(units)),
                         "sodium": np.round(rng.normal(139, 3, len(units)), 1),
                         "readmitted": rng.integers(0, 2, len(units))})


VARIANTS = ["id", "ID", "pid", "PID", "mrn", "subject", "patient", "case", "record", "study_no", "patient_id",
            "PatientID", "patientId", "Subject ID", "subject.no", "case_number", "record-id", "study no", "caseNo",
            "SUBJECT_ID", "Record No", "USUBJID", "IDNumber"]


@pytest.mark.parametrize("name", VARIANTS)
def test_identifier_names_are_recognised_for_a_repeating_unit(name: str) -> None:
    prof = profile_frame(_repeated_unit_frame(name))
    assert id_name_strength(name) == 2
    assert prof.columns[name].kind == "identifier" and prof.unit_id == name


ONE_ROW_NAMES = ["pid", "PID", "PatientID", "patientId", "subject", "patient", "case", "record", "caseNo"]


@pytest.mark.parametrize("name", ONE_ROW_NAMES)
def test_one_row_per_unit_id_is_a_blocked_record_identifier(name: str) -> None:
    frame = _survival_frame().rename(columns={"pid": name})
    (found,) = [f for f in profile_findings(profile_frame(frame), _survival_task(frame).spec) if f.feature == name]
    assert found.check == "identifier" and found.severity is Severity.blocking


NOT_ID_NAMES = ["age", "patient_age", "pidx_score", "covid", "case_control", "record_date_days", "study",
                "nodes_number", "PID1", "body_mass_index"]


@pytest.mark.parametrize("name", NOT_ID_NAMES)
def test_whole_tokens_only(name: str) -> None:
    assert id_name_strength(name) < 2


def test_non_identifiers_are_not_flagged() -> None:
    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame({
        "age": rng.integers(20, 86, n), "patient_age": rng.integers(20, 86, n),
        "tumour_size": np.round(rng.gamma(4, 7, n), 3),  # near-unique floats
        "stage_code": rng.integers(1, 5, n), "pidx_score": rng.integers(0, 60, n),
        "pgr": np.round(rng.lognormal(4, 1.5, n)).astype(int), "readmitted": rng.integers(0, 2, n),
    }).sort_values("tumour_size", ignore_index=True)  # a float sorted in row order is still a measurement
    frame["age"] = np.sort(frame["age"].to_numpy())  # so is an integer with ties
    prof = profile_frame(frame)
    assert {c: p.kind for c, p in prof.columns.items() if c != "readmitted"} == dict.fromkeys(
        ["age", "patient_age", "tumour_size", "stage_code", "pidx_score", "pgr"], "numeric")
    assert prof.id_columns == [] and prof.unit_id is None
    assert govern(make_task(frame)).excluded == []


@pytest.mark.parametrize("name", ["seq", "Unnamed: 0", "x"])
def test_monotone_integer_counter_is_recognised_by_shape(name: str) -> None:
    frame = clean_cohort(n_patients=200).drop_duplicates("patient_id", ignore_index=True).drop(columns="patient_id")
    frame.insert(0, name, np.arange(1, len(frame) + 1))
    assert profile_frame(frame).columns[name].kind == "identifier"
    gov = govern(make_task(frame))
    assert name in gov.excluded_features and "identifier" in dict(gov.excluded)[name]


def test_shuffled_contiguous_serial_is_recognised_by_shape() -> None:
    frame = clean_cohort(n_patients=200).drop_duplicates("patient_id", ignore_index=True).drop(columns="patient_id")
    frame["row"] = np.random.default_rng(1).permutation(len(frame)) + 5000
    assert profile_frame(frame).columns["row"].kind == "identifier"


def test_declared_time_counter_keeps_its_kind() -> None:
    frame = clean_cohort(n_patients=200).drop_duplicates("patient_id", ignore_index=True).drop(columns="patient_id")
    frame["study_day"] = np.arange(len(frame))
    assert profile_frame(frame).columns["study_day"].kind == "identifier"
    assert profile_frame(frame, make_task(frame, time_column="study_day").spec).columns["study_day"].kind == "numeric"


def test_pid_that_separates_the_event_is_excluded_by_govern() -> None:
    frame = _survival_frame()
    task = _survival_task(frame)
    gov = govern(task)
    why = dict(gov.excluded)["pid"]
    assert "identifier" in why and "pid" not in gov.feature_columns(task)
    (sf,) = _sf(gov.findings, "pid")  # the order leak is still reported, now as a reason to exclude
    assert sf.blocking and 0.95 < sf.evidence["auroc"] <= 0.99
    assert set(gov.feature_columns(task)) == {"age", "meno", "size", "grade", "nodes", "pgr", "er"}


def test_unnamed_near_unique_integer_that_separates_is_blocked() -> None:
    frame = _survival_frame().rename(columns={"pid": "x7"})
    task = _survival_task(frame)
    assert profile_frame(frame).columns["x7"].kind == "numeric"  # not contiguous, not monotone: shape alone misses it
    (sf,) = _sf(audit_leakage(task, checks=["single_feature_discrimination"]), "x7")
    assert sf.blocking and 0.95 < sf.evidence["auroc"] <= 0.99
    assert "identifier-shaped" in sf.evidence["excluded_because"]
    assert "x7" in govern(task).excluded_features


def test_administrative_column_that_separates_is_blocked() -> None:
    rng = np.random.default_rng(11)
    frame = _survival_frame().drop(columns="pid")
    latent = np.where(frame["status"] == 1, 0.0, 3.5) + rng.normal(0, 1.2, N)
    frame["enrolment_year"] = 2001 + np.clip(np.round(latent), 0, 11).astype(int)
    (sf,) = _sf(audit_leakage(_survival_task(frame), checks=["single_feature_discrimination"]), "enrolment_year")
    assert sf.blocking and 0.95 < max(sf.evidence["auroc"], 1 - sf.evidence["auroc"]) <= 0.99
    assert "administrative" in sf.evidence["excluded_because"]


def test_feature_separating_by_its_missingness_is_blocked() -> None:
    rng = np.random.default_rng(12)
    frame = _survival_frame().drop(columns="pid")
    recorded = (frame["status"] == 1) | (rng.random(N) < 0.05)
    frame["troponin_repeat"] = np.where(recorded, np.round(rng.lognormal(0, 0.5, N), 3), np.nan)
    (sf,) = _sf(audit_leakage(_survival_task(frame), checks=["single_feature_discrimination"]), "troponin_repeat")
    assert sf.blocking and sf.evidence["by"] == "with missingness" and sf.evidence["values_strength"] < 0.95
    assert "missingness" in sf.evidence["excluded_because"]


def test_strong_clinical_measurement_stays_a_warning() -> None:
    rng = np.random.default_rng(13)
    frame = _survival_frame().drop(columns="pid")
    frame["ki67"] = np.round(frame["status"] * 2.0 + rng.normal(0, 0.7, N), 3)
    (sf,) = _sf(audit_leakage(_survival_task(frame), checks=["single_feature_discrimination"]), "ki67")
    assert sf.severity is Severity.warning and 0.95 < sf.evidence["auroc"] <= 0.99
    assert "ki67" not in govern(_survival_task(frame)).excluded_features


def test_undeclared_repeating_unit_is_excluded_for_grouping() -> None:
    cohort = clean_cohort(n_patients=120)
    gov = govern(make_task(cohort))
    assert gov.profile.unit_id == "patient_id" and dict(gov.excluded)["patient_id"] == UNIT_ID
    declared = govern(make_task(cohort, id_column="patient_id"))
    assert "patient_id" not in declared.excluded_features  # Task.feature_columns drops a declared id already


@pytest.fixture(scope="module")
def wisconsin() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.drop(columns="target").assign(malignant=(data.target == 0).astype(int))
    # The WDBC file carries each sample's ID number: large, unique, shuffled integers.
    frame.insert(0, "id", np.random.default_rng(0).choice(np.arange(8_000, 9_000_000), len(frame), replace=False))
    return frame


def test_wisconsin_measurements_are_kept(wisconsin: pd.DataFrame) -> None:
    gov = govern(make_task(wisconsin, endpoint="malignant"))
    assert gov.excluded_features == ["id"]
    strong = [f for f in gov.findings if f.check == "single_feature_discrimination"]
    assert len(strong) >= 4 and all(f.severity is Severity.warning for f in strong)
    assert max(max(f.evidence["auroc"], 1 - f.evidence["auroc"]) for f in strong) > 0.97
