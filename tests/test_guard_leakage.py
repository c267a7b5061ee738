"""Leakage audit: one planted trap per check is found; clean data raises no blocking finding.

Threat model. Covered: single columns that leak through their presence (missing unless the
event happened, non-zero only for events), through their value (monotone proxies of the
endpoint, of survival time among events, or of a declared excluded variable; near-perfect
single-feature discrimination, also from a categorical column), repeated units (declared
or only detected), exact duplicate rows, and dates later than the index date.

NOT covered (known limits): leaks that need two or more columns together (a ratio of two
innocent-looking columns), non-monotone proxies (|Spearman| misses a U-shape), leaks
inside identifier or free-text columns (only their missingness is tested), time-dependent
leakage without a declared time_column, label leakage through row order or file names,
and a proxy of a binary endpoint weaker than the single-feature thresholds (|Spearman| >
0.85 is unreachable for a binary endpoint at most prevalences; AUROC carries that case).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autods.errors import TaskSpecError
from autods.guard.findings import Finding, Severity
from autods.guard.leakage import LEAKAGE_CHECKS, audit_leakage
from autods.tasks.load import Task
from guard_data import clean_cohort, make_task

RNG_SEED = 7


def _of(findings: list[Finding], check: str, feature: str | None = None) -> list[Finding]:
    return [f for f in findings if f.check == check and (feature is None or f.feature == feature)]


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return clean_cohort(n_patients=150)


def _binary(frame: pd.DataFrame, **spec: object) -> Task:
    return make_task(frame, id_column="patient_id", time_column="admit_date", **spec)


def _survival(frame: pd.DataFrame) -> tuple[pd.DataFrame, Task]:
    rng = np.random.default_rng(RNG_SEED)
    out = frame.assign(months=np.round(rng.exponential(24, len(frame)) + 0.5, 1), died=rng.integers(0, 2, len(frame)))
    out = out.drop(columns="readmitted")
    return out, make_task(out, endpoint={"time": "months", "event": "died"}, task_type="survival", id_column="patient_id")


def _regression(frame: pd.DataFrame) -> tuple[pd.DataFrame, Task]:
    rng = np.random.default_rng(RNG_SEED)
    out = frame.drop(columns="readmitted").assign(los_days=np.round(rng.gamma(2, 3, len(frame)), 1))
    return out, make_task(out, endpoint="los_days", task_type="regression", id_column="patient_id")


def test_clean_binary_cohort_has_no_blocking_finding(cohort: pd.DataFrame) -> None:
    assert not [f for f in audit_leakage(_binary(cohort)) if f.blocking]


@pytest.mark.parametrize("build", [_survival, _regression], ids=["survival", "regression"])
def test_clean_survival_and_regression_have_no_blocking_finding(cohort: pd.DataFrame, build) -> None:
    _, task = build(cohort)
    assert not [f for f in audit_leakage(task) if f.blocking]


def test_post_outcome_missingness_tied_to_event_is_blocking(cohort: pd.DataFrame) -> None:
    y = cohort["readmitted"].to_numpy()
    frame = cohort.assign(readmission_los=np.where(y == 1, 4.0, np.nan))
    (found,) = _of(audit_leakage(_binary(frame)), "post_outcome", "readmission_los")
    assert found.blocking and found.evidence["present_when_no_event"] == 0.0


def test_post_outcome_for_survival_uses_the_event_indicator(cohort: pd.DataFrame) -> None:
    frame, task = _survival(cohort)
    frame["autopsy_score"] = np.where(frame["died"] == 1, np.arange(len(frame)) % 7 + 1.0, np.nan)
    task = make_task(frame, endpoint={"time": "months", "event": "died"}, task_type="survival", id_column="patient_id")
    (found,) = _of(audit_leakage(task, checks=["post_outcome"]), "post_outcome", "autopsy_score")
    assert found.blocking


def test_post_outcome_nonzero_pattern_is_found(cohort: pd.DataFrame) -> None:
    rng = np.random.default_rng(RNG_SEED)
    y = cohort["readmitted"].to_numpy()
    frame = cohort.assign(ed_visits_30d=np.where(y == 1, rng.integers(1, 6, len(y)), 0))
    (found,) = _of(audit_leakage(_binary(frame), checks=["post_outcome"]), "post_outcome", "ed_visits_30d")
    assert found.blocking and found.evidence["indicator"] == "non-zero value"


def test_target_proxy_of_continuous_endpoint_is_blocking(cohort: pd.DataFrame) -> None:
    frame, _ = _regression(cohort)
    frame["los_hours_billed"] = frame["los_days"] * 24 + np.random.default_rng(1).normal(0, 5, len(frame))
    task = make_task(frame, endpoint="los_days", task_type="regression", id_column="patient_id")
    (found,) = _of(audit_leakage(task, checks=["target_proxy"]), "target_proxy", "los_hours_billed")
    assert found.blocking and found.feature == "los_hours_billed"


def test_target_proxy_of_survival_time_among_events(cohort: pd.DataFrame) -> None:
    frame, _ = _survival(cohort)
    frame["days_to_last_contact"] = np.where(frame["died"] == 1, frame["months"] * 30.4, np.nan)
    frame["days_to_last_contact"] = frame["days_to_last_contact"].fillna(float(frame["months"].median() * 30.4))
    task = make_task(frame, endpoint={"time": "months", "event": "died"}, task_type="survival", id_column="patient_id")
    (found,) = _of(audit_leakage(task, checks=["target_proxy"]), "target_proxy", "days_to_last_contact")
    # a copy of the follow-up time among events (Spearman 1.0): past the continuous block threshold
    assert "spearman time among events" in found.evidence and found.blocking


def test_target_proxy_of_an_excluded_variable(cohort: pd.DataFrame) -> None:
    rng = np.random.default_rng(RNG_SEED)
    los = rng.gamma(2, 3, len(cohort))
    frame = cohort.assign(los_days=los, discharge_bill=los * 1200 + rng.normal(0, 300, len(cohort)),
                          los_band=pd.cut(los, [-1, 3, 6, 10, 100], labels=["a", "b", "c", "d"]).astype(str))
    findings = audit_leakage(_binary(frame, exclude=("los_days",)), checks=["target_proxy"])
    assert {f.feature for f in findings if f.blocking} == {"discharge_bill", "los_band"}


def test_near_perfect_single_feature_is_blocking_and_strong_one_is_review(cohort: pd.DataFrame) -> None:
    rng = np.random.default_rng(RNG_SEED)
    y = cohort["readmitted"].to_numpy()
    frame = cohort.assign(perfect=y * 5 + rng.random(len(y)),
                          strong=y * 2.0 + rng.normal(0, 0.75, len(y)))
    findings = audit_leakage(_binary(frame), checks=["single_feature_discrimination"])
    assert _of(findings, "single_feature_discrimination", "perfect")[0].severity is Severity.blocking
    strong = _of(findings, "single_feature_discrimination", "strong")
    assert strong and strong[0].severity is Severity.warning and 0.95 < strong[0].evidence["auroc"] <= 0.99


def test_categorical_single_feature_leak_is_found(cohort: pd.DataFrame) -> None:
    y = cohort["readmitted"].to_numpy()
    frame = cohort.assign(disposition=np.where(y == 1, "readmit_ward", "home"))
    (found,) = _of(audit_leakage(_binary(frame), checks=["single_feature_discrimination"]),
                   "single_feature_discrimination", "disposition")
    assert found.blocking


def test_high_cardinality_noise_is_not_mistaken_for_a_leak(cohort: pd.DataFrame) -> None:
    frame = cohort.assign(visit_code=[f"V{i:05d}-x" for i in range(len(cohort))])
    assert not _of(audit_leakage(_binary(frame)), "single_feature_discrimination", "visit_code")


def test_repeated_units_force_grouped_cv(cohort: pd.DataFrame) -> None:
    (found,) = _of(audit_leakage(_binary(cohort)), "repeated_units")
    assert found.severity is Severity.warning and "grouped" in found.message and found.evidence["declared"]


def test_repeated_units_are_flagged_even_when_undeclared(cohort: pd.DataFrame) -> None:
    (found,) = _of(audit_leakage(make_task(cohort)), "repeated_units")
    assert found.feature == "patient_id" and "id_column" in found.advice and not found.evidence["declared"]


def test_exact_duplicate_rows_are_counted(cohort: pd.DataFrame) -> None:
    frame = pd.concat([cohort, cohort.iloc[:5]], ignore_index=True)
    (found,) = _of(audit_leakage(_binary(frame)), "duplicate_rows")
    assert found.evidence["n_duplicate_rows"] == 5 and not found.blocking


def test_feature_dated_after_index_is_blocking(cohort: pd.DataFrame) -> None:
    admit = pd.to_datetime(cohort["admit_date"])
    frame = cohort.assign(discharge_date=(admit + pd.to_timedelta(3, unit="D")).dt.strftime("%m/%d/%Y"),
                          last_visit_before=(admit - pd.to_timedelta(30, unit="D")))
    findings = audit_leakage(_binary(frame), checks=["dated_after_index"])
    assert [(f.feature, f.evidence["fraction_after_index"]) for f in findings] == [("discharge_date", 1.0)]


def test_messy_columns_do_not_crash(cohort: pd.DataFrame) -> None:
    frame = cohort.assign(
        constant=1, all_missing=np.nan, note=["pt stable, discharged home with follow up"] * len(cohort),
        stamp=pd.to_datetime(cohort["admit_date"]), mixed=["1", 2, None, "x"] * (len(cohort) // 4) + [None] * (len(cohort) % 4),
        flag=pd.array([True, False, None] * (len(cohort) // 3) + [None] * (len(cohort) % 3), dtype="boolean"),
    )
    findings = audit_leakage(_binary(frame))
    assert not [f for f in findings if f.blocking]


def test_blocking_findings_name_their_feature(cohort: pd.DataFrame) -> None:
    y = cohort["readmitted"].to_numpy()
    frame = cohort.assign(leak=np.where(y == 1, 1.0, np.nan), copy=y)
    assert all(f.feature for f in audit_leakage(_binary(frame)) if f.blocking)


def test_unknown_check_name_is_a_user_error(cohort: pd.DataFrame) -> None:
    with pytest.raises(TaskSpecError, match="post_outcome"):
        audit_leakage(_binary(cohort), checks=["post-outcome"])


def test_only_requested_checks_run(cohort: pd.DataFrame) -> None:
    frame = pd.concat([cohort, cohort.iloc[:3]], ignore_index=True)
    assert {f.check for f in audit_leakage(_binary(frame), checks=["duplicate_rows"])} == {"duplicate_rows"}
    assert set(LEAKAGE_CHECKS) == {"post_outcome", "outcome_shadow", "target_proxy", "single_feature_discrimination",
                                   "repeated_units", "duplicate_rows", "dated_after_index", "interval_start"}


def test_multiclass_leak_is_found_one_vs_rest(cohort: pd.DataFrame) -> None:
    stage = np.array(["I", "II", "III"])[np.arange(len(cohort)) % 3]
    frame = cohort.drop(columns="readmitted").assign(stage=stage, stage_code=pd.Series(stage).map({"I": 1, "II": 2, "III": 3}))
    task = make_task(frame, endpoint="stage", task_type="multiclass", id_column="patient_id")
    findings = audit_leakage(task)
    assert [f.feature for f in findings if f.blocking] == ["stage_code"]


def test_multiclass_one_class_told_apart_by_a_measurement_is_kept_for_review() -> None:
    """Iris: petal length separates setosa perfectly and the other two classes only partly. That is
    the biology of the flowers, not a leak: a warning, not an exclusion (the bench lost 0.15 macro-F1)."""
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame = iris.data.assign(species=iris.target_names[iris.target])
    task = make_task(frame, endpoint="species", task_type="multiclass")
    findings = [f for f in audit_leakage(task) if f.check == "single_feature_discrimination"]
    assert {f.feature for f in findings} >= {"petal length (cm)", "petal width (cm)"}
    assert not [f.feature for f in findings if f.blocking]
    # a copy of the label in numbers tells every class apart and is still excluded
    coded = frame.assign(code=pd.Series(iris.target).map({0: 10, 1: 20, 2: 30}))
    blocked = [f.feature for f in audit_leakage(make_task(coded, endpoint="species", task_type="multiclass")) if f.blocking]
    assert blocked == ["code"]
