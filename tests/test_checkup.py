"""`autods check` on the bundled readmission cohort reports every planted trap, and
the clean breast-cancer data raises no blocking finding."""

from __future__ import annotations

from pathlib import Path

import pytest

from autods.checkup import run_checkup


@pytest.fixture(scope="module")
def readmission(examples_dir: Path):
    return run_checkup(examples_dir / "task-readmission", baseline=True)


def _checks_for(result, feature: str) -> set[str]:
    return {f.check for f in result.findings if f.feature == feature}


@pytest.mark.parametrize("column", ["patient_name", "mrn", "date_of_birth", "phone", "discharge_note"])
def test_phi_columns_found_and_excluded(readmission, column: str) -> None:
    assert column in readmission.phi_columns
    assert any(f.check.startswith("phi") and f.feature == column and f.blocking for f in readmission.findings)
    assert column in {name for name, _ in readmission.excluded}


def test_post_discharge_leak_found_and_excluded(readmission) -> None:
    reasons = dict(readmission.excluded)
    assert "days_to_readmission" in reasons and reasons["days_to_readmission"]
    assert any("post_outcome" in c for c in _checks_for(readmission, "days_to_readmission"))


def test_repeated_units_force_grouped_cv(readmission) -> None:
    assert readmission.design.cv_strategy == "patient-grouped-cv"
    assert readmission.design.group_column == "patient_id"
    assert any("repeated_units" in f.check for f in readmission.findings)


def test_site_shift_found(readmission) -> None:
    shift = [f for f in readmission.findings if "site" in f.check]
    assert shift, [f.check for f in readmission.findings]
    assert any("creatinine" in (f.message + str(f.evidence)) for f in shift)


def test_weaker_subgroup_found(readmission) -> None:
    gaps = [f for f in readmission.findings if f.check == "subgroup.gap"]
    assert any(f.evidence["column"] == "insurance" and f.evidence["group"] == "uninsured" for f in gaps)
    assert readmission.baseline is not None and 0.6 < readmission.baseline["value"] < 0.9


def test_no_phi_value_in_output(readmission, examples_dir: Path) -> None:
    import pandas as pd

    text = str(readmission.as_dict())
    raw = pd.read_csv(examples_dir / "task-readmission" / "data" / "encounters.csv", nrows=50)
    for col in ("patient_name", "mrn", "phone"):
        for value in raw[col].unique():
            assert str(value) not in text


def test_clean_data_has_no_blocking_finding(examples_dir: Path) -> None:
    result = run_checkup(examples_dir / "task-breast-cancer", baseline=False)
    assert not [f for f in result.findings if f.blocking]
    assert result.design.cv_strategy == "stratified-cv"
