"""PHI scan: adversarial, one property per test.

Threat model. Covered: a column that holds one kind of direct identifier (name, MRN, SSN,
date of birth, phone, e-mail, street address, zip by header, free-text notes), found by its
header *or* by its values alone; clean clinical columns (labs, age, sex, yes/no) are not
flagged; no value ever reaches a finding; the presidio engine works with the network cut.

NOT covered (known limits): names absent from the bundled list in headerless single-token
columns; zip codes or bare numeric ids without a telling header; identifiers that occur in
only a few rows of an otherwise clean column (values are sampled, at most 200 per column);
non-English free text; identifiers split across columns; re-identification by combining
quasi-identifiers (k-anonymity is not assessed); images, PDFs, DICOM headers.
"""

from __future__ import annotations

import json
import logging
import socket

import numpy as np
import pandas as pd
import pytest

from autods.guard import _presidio
from autods.guard.findings import Finding, Severity
from autods.guard.phi import SAMPLE, scan_phi
from guard_data import PHI_COLUMNS, clean_cohort, make_task, with_phi

HEADERLESS = {"patient_name": "col_a", "mrn": "col_b", "ssn": "col_c", "dob": "col_d", "phone": "col_e",
              "email": "col_f", "home_address": "col_g", "clinical_note": "col_h"}


def _by_feature(findings: list[Finding]) -> dict[str, Finding]:
    return {f.feature: f for f in findings if f.feature}


@pytest.fixture(scope="module")
def phi_frame() -> pd.DataFrame:
    return with_phi(clean_cohort())


@pytest.fixture(scope="module")
def findings(phi_frame: pd.DataFrame) -> list[Finding]:
    return scan_phi(phi_frame, make_task(phi_frame, time_column="admit_date").spec)


@pytest.fixture(scope="module")
def headerless_findings(phi_frame: pd.DataFrame) -> list[Finding]:
    frame = phi_frame.drop(columns=["zip"]).rename(columns=HEADERLESS)
    return scan_phi(frame, make_task(frame, time_column="admit_date").spec)


@pytest.mark.parametrize("column,kind", sorted(PHI_COLUMNS.items()))
def test_planted_phi_column_is_blocking_with_its_kind(findings: list[Finding], column: str, kind: str) -> None:
    found = _by_feature(findings)[column]
    assert found.severity is Severity.blocking and found.check == "phi"
    assert kind in found.evidence["kinds"]


@pytest.mark.parametrize("original,renamed", sorted(HEADERLESS.items()))
def test_phi_is_found_from_values_alone(headerless_findings: list[Finding], original: str, renamed: str) -> None:
    found = _by_feature(headerless_findings)[renamed]
    assert found.blocking, found.message
    assert "header" not in found.evidence["found_by"]


def test_clean_clinical_columns_raise_no_phi(findings: list[Finding]) -> None:
    flagged = _by_feature(findings)
    for column in ("age", "sex", "creatinine", "sodium", "smoker", "hospital", "patient_id"):
        assert column not in flagged, flagged.get(column)


def test_phi_sounding_headers_over_harmless_values_are_not_flagged() -> None:
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame({
        "night_phone": np.round(rng.lognormal(3, 0.5, n), 1),  # minutes of phone use, a wearable signal
        "phone_type": rng.choice(["mobile", "landline"], n),
        "emailed_reminder": rng.integers(0, 2, n),
        "n_notes": rng.integers(0, 9, n),
        "birth_weight_g": rng.normal(3300, 400, n).round(),
    })
    assert scan_phi(frame) == []


def test_clean_frame_has_no_blocking_phi() -> None:
    frame = clean_cohort(seed=3)
    assert not [f for f in scan_phi(frame, make_task(frame, time_column="admit_date").spec) if f.blocking]


def test_index_date_is_a_quasi_identifier_not_a_blocker(findings: list[Finding]) -> None:
    admit = _by_feature(findings)["admit_date"]
    assert admit.severity is Severity.warning and admit.evidence["kinds"] == ["date"]


def test_no_phi_value_appears_in_any_finding(phi_frame: pd.DataFrame, findings: list[Finding],
                                             headerless_findings: list[Finding]) -> None:
    blob = json.dumps([f.model_dump(mode="json") for f in findings + headerless_findings])
    for column in PHI_COLUMNS:
        for value in phi_frame[column].dropna().astype(str).unique():
            assert value not in blob, f"a value of {column} leaked into the findings"
    for token in {t for name in phi_frame["patient_name"] for t in name.split()}:
        assert token not in blob, "a name token leaked into the findings"


def test_sampling_is_stated_in_evidence(findings: list[Finding], phi_frame: pd.DataFrame) -> None:
    assert len(phi_frame) > SAMPLE
    for f in findings:
        assert f.evidence["sample_limit"] == SAMPLE and f.evidence["sampled_values"] <= SAMPLE


def test_numeric_ids_in_an_id_named_column_are_mrn_like() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"hospital_number": rng.integers(10**6, 10**8, size=80), "y": rng.integers(0, 2, size=80)})
    found = _by_feature(scan_phi(frame))["hospital_number"]
    assert found.blocking and "mrn" in found.evidence["kinds"]


def test_ages_over_89_warn_but_do_not_block() -> None:
    frame = pd.DataFrame({"age": np.arange(40, 100), "y": np.arange(60) % 2})
    (found,) = scan_phi(frame)
    assert found.severity is Severity.warning and found.evidence == {"kinds": ["age_over_89"], "found_by": ["values"],
                                                                   "n_rows_over_89": 10}


def test_free_text_without_identifiers_is_only_a_warning() -> None:
    rng = np.random.default_rng(0)
    words = ["stable", "improving", "afebrile", "tolerating diet", "ambulating", "pain controlled", "no distress"]
    texts = [" ".join(rng.choice(words, size=6)) + f" day {i}" for i in range(60)]
    (found,) = scan_phi(pd.DataFrame({"course": texts}))
    assert found.severity is Severity.warning and found.evidence["kinds"] == ["free_text"]


def test_presidio_engine_builds_and_detects_with_network_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    _presidio.analyzer.cache_clear()
    kinds = {r.entity_type for r in _presidio.entities("write to jane.roe@example.org or call 617-555-0143")}
    assert {"EMAIL_ADDRESS", "PHONE_NUMBER"} <= kinds
    assert (_presidio.blank_pipeline_dir() / "meta.json").is_file()


def test_presidio_logs_stay_quiet(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        _presidio.entities("contact: john.smith@example.com, https://example.com/x")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_birth_like_dates_without_an_index_only_warn(phi_frame: pd.DataFrame) -> None:
    frame = phi_frame[["age", "sex"]].assign(d1=phi_frame["dob"])
    (found,) = scan_phi(frame)
    assert found.severity is Severity.warning and found.evidence["possible_date_of_birth"]
