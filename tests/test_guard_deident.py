"""De-identification policies do what they say, and govern() excludes nothing silently.

Threat model. Covered: ``block`` stops the run and names the columns; ``drop`` removes
every blocking PHI column and keeps the unit id only as a salted hash that preserves the
grouping; ``hash`` is deterministic per salt, differs across salts, and drops what hashing
cannot protect (free text, names, addresses); ``shift_dates`` moves every unit's dates by
one non-zero offset so within-unit intervals survive exactly; actions carry no values;
``govern`` gives every exclusion a reason and returns a frame with no raw PHI.

NOT covered (known limits): a leaked or weak salt (hashes of low-entropy ids such as
9-digit SSNs can be brute-forced by anyone who has the salt); date shifting leaves the
day-of-week and season distorted only partially and does not protect against linkage on
intervals; quasi-identifier combinations and small cells are not suppressed; columns the
PHI scan missed are passed through unchanged.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from autods.errors import GuardrailBlocked
from autods.guard.deident import MAX_SHIFT_DAYS, deidentify
from autods.guard.findings import Finding
from autods.guard.govern import DECLARED_PROXY, govern
from autods.guard.phi import phi_columns, scan_phi
from autods.tasks.spec import LaunchSpec
from guard_data import PHI_COLUMNS, clean_cohort, make_task, with_phi

SALT = "test-salt"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return with_phi(clean_cohort(n_patients=60))


@pytest.fixture(scope="module")
def findings(frame: pd.DataFrame) -> list[Finding]:
    return scan_phi(frame, make_task(frame, time_column="admit_date").spec)


def _run(frame: pd.DataFrame, findings: list[Finding], policy: str, salt: str = SALT):
    return deidentify(frame, findings, policy, salt=salt, id_column="patient_id", time_columns=["admit_date"])


def test_block_raises_and_names_every_phi_column(frame: pd.DataFrame, findings: list[Finding]) -> None:
    with pytest.raises(GuardrailBlocked) as err:
        _run(frame, findings, "block")
    text = str(err.value)
    assert all(col in text for col in PHI_COLUMNS) and "LAUNCH.md" in text and "deident_policy" in text


def test_block_without_phi_passes_the_frame_through() -> None:
    clean = clean_cohort(n_patients=30)
    out, actions = deidentify(clean, scan_phi(clean), "block", salt=SALT, id_column="patient_id")
    pd.testing.assert_frame_equal(out, clean)
    assert actions == []


def test_drop_removes_phi_and_hashes_the_unit_id(frame: pd.DataFrame, findings: list[Finding]) -> None:
    out, actions = _run(frame, findings, "drop")
    assert not set(PHI_COLUMNS) & set(out.columns)
    assert not set(out["patient_id"]) & set(frame["patient_id"])
    # Same partition of rows into units: grouped CV is unchanged.
    assert (out.groupby("patient_id").ngroup().factorize()[0] == frame.groupby("patient_id").ngroup().factorize()[0]).all()
    assert {a.column for a in actions if a.action == "dropped"} == set(phi_columns(findings))


def test_hash_is_deterministic_per_salt_and_differs_across_salts(frame: pd.DataFrame, findings: list[Finding]) -> None:
    a, _ = _run(frame, findings, "hash")
    b, _ = _run(frame, findings, "hash")
    c, _ = _run(frame, findings, "hash", salt="another-salt")
    for col in ("mrn", "ssn", "phone", "email", "patient_id"):
        assert a[col].equals(b[col]) and not (a[col] == c[col]).any()
        assert not set(a[col]) & set(frame[col].astype(str))


def test_hash_drops_what_hashing_cannot_protect(frame: pd.DataFrame, findings: list[Finding]) -> None:
    out, actions = _run(frame, findings, "hash")
    assert not {"patient_name", "clinical_note", "home_address", "dob"} & set(out.columns)
    assert {a.column: a.action for a in actions}["mrn"] == "hashed"


def test_shift_dates_preserves_within_unit_intervals(frame: pd.DataFrame, findings: list[Finding]) -> None:
    out, actions = _run(frame, findings, "shift_dates")
    before = pd.to_datetime(frame["admit_date"])
    after = pd.to_datetime(out["admit_date"])
    delta = (after - before).dt.days
    per_unit = delta.groupby(frame["patient_id"]).nunique()
    assert (per_unit == 1).all(), "one offset per unit"
    assert delta.abs().between(1, MAX_SHIFT_DAYS).all(), "every date moved"
    age_at_admit_before = (before - pd.to_datetime(frame["dob"])).dt.days
    assert ((after - out["dob"]).dt.days == age_at_admit_before).all()
    assert {"admit_date", "dob"} <= {a.column for a in actions if a.action == "date_shifted"}
    assert not {"patient_name", "mrn", "ssn", "clinical_note"} & set(out.columns)


def test_shift_dates_is_reproducible_from_the_salt(frame: pd.DataFrame, findings: list[Finding]) -> None:
    a, _ = _run(frame, findings, "shift_dates")
    b, _ = _run(frame, findings, "shift_dates")
    c, _ = _run(frame, findings, "shift_dates", salt="another-salt")
    assert a["admit_date"].equals(b["admit_date"]) and not a["admit_date"].equals(c["admit_date"])


@pytest.mark.parametrize("policy", ["drop", "hash", "shift_dates"])
def test_actions_carry_no_values(frame: pd.DataFrame, findings: list[Finding], policy: str) -> None:
    _, actions = _run(frame, findings, policy)
    blob = json.dumps([a.model_dump() for a in actions])
    for col in PHI_COLUMNS:
        assert not any(str(v) in blob for v in frame[col].unique())


def test_govern_excludes_nothing_silently(frame: pd.DataFrame) -> None:
    y = frame["readmitted"]
    leaky = frame.assign(readmit_los=y.where(y == 1) * 40.0, los_days=(frame["age"] % 9) + 1.0)
    task = make_task(leaky, id_column="patient_id", time_column="admit_date", exclude=("los_days",),
                     launch=LaunchSpec(deident_policy="drop"))
    gov = govern(task)
    reasons = dict(gov.excluded)
    blocking = {f.feature for f in gov.findings if f.blocking}
    assert blocking <= set(reasons) and all(reasons.values())
    assert reasons["los_days"].startswith(DECLARED_PROXY) and "readmit_los" in reasons
    assert set(gov.phi_columns) == set(PHI_COLUMNS) and not set(PHI_COLUMNS) & set(gov.frame.columns)
    assert gov.profile.columns["patient_name"].stats == {"redacted": True}
    assert "readmit_los" not in gov.feature_columns(task) and "age" in gov.feature_columns(task)


def test_govern_with_block_policy_raises(frame: pd.DataFrame) -> None:
    with pytest.raises(GuardrailBlocked):
        govern(make_task(frame, launch=LaunchSpec(deident_policy="block")))


def test_governance_output_holds_no_phi_value(frame: pd.DataFrame) -> None:
    gov = govern(make_task(frame, id_column="patient_id", launch=LaunchSpec(deident_policy="hash")))
    blob = json.dumps({
        "findings": [f.model_dump(mode="json") for f in gov.findings],
        "profile": gov.profile.model_dump(mode="json"),
        "actions": [a.model_dump() for a in gov.actions],
    })
    # Cells are compared whole: a 16-hex-digit hash may contain five digits of a zip by chance.
    cells = set(gov.frame.astype(str).to_numpy().ravel())
    for col in PHI_COLUMNS:
        leaked = [v for v in frame[col].astype(str).unique() if v in blob or v in cells]
        assert not leaked, f"{col}: {len(leaked)} value(s) survived governance"
