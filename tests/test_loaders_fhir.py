"""FHIR loader: cohort logic on a hand-built bundle with known answers, validation, PHI, the bundled example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from autods.errors import DataError, TaskSpecError
from autods.tasks import load_task

SNOMED, LOINC, RXNORM = "http://snomed.info/sct", "http://loinc.org", "http://www.nlm.nih.gov/research/umls/rxnorm"
AKI = "14669001"
COHORT = {"unit": "patient", "index": {"resource": "Encounter", "encounter_class": ["IMP"]},
          "outcome": {"name": "aki", "resource": "Condition", "codes": [AKI], "window_days": [1, 365]},
          "lookback_days": 365, "min_age": 18, "min_prevalence": 0.0}


def _patient(pid: str, birth: str) -> dict:
    return {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": birth,
            "name": [{"given": ["Test"], "family": f"Person{pid}"}]}


def _enc(eid: str, pid: str, cls: str, start: str, org: str = "org-a") -> dict:
    return {"resourceType": "Encounter", "id": eid, "status": "finished", "class": {"code": cls},
            "subject": {"reference": f"Patient/{pid}"}, "period": {"start": start},
            "serviceProvider": {"reference": f"Organization/{org}"}}


def _cond(cid: str, pid: str, code: str, display: str, onset: str) -> dict:
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": f"Patient/{pid}"},
            "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]}, "onsetDateTime": onset}


def _obs(oid: str, pid: str, code: str, value: float, unit: str, when: str) -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final", "subject": {"reference": f"Patient/{pid}"},
            "code": {"coding": [{"system": LOINC, "code": code, "display": "lab"}]}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "code": unit}}


def _med(mid: str, pid: str, code: str, display: str, when: str) -> dict:
    return {"resourceType": "MedicationRequest", "id": mid, "status": "active", "intent": "order",
            "subject": {"reference": f"Patient/{pid}"}, "authoredOn": when,
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}]}}


def hand_built() -> list[dict]:
    """P1 case (outcome on day 22), P2 prior AKI, P3 a child, P4 never admitted, P5 control (AKI on day 516)."""
    return [
        _patient("P1", "1950-05-01"), _enc("e1", "P1", "IMP", "2021-01-10T08:00:00Z"), _enc("e1b", "P1", "IMP", "2021-06-01"),
        _enc("e0", "P1", "AMB", "2020-12-01"),
        _obs("o1", "P1", "14682-9", 100.0, "umol/L", "2020-12-01T09:00:00Z"),   # 1.131 mg/dL, earlier
        _obs("o2", "P1", "2160-0", 1.3, "mg/dL", "2021-01-10T11:00:00Z"),       # index day: the last value
        _obs("o3", "P1", "2160-0", 5.0, "mg/dL", "2021-01-20T11:00:00Z"),       # after the index: never a feature
        _cond("c1", "P1", AKI, "Acute renal failure syndrome", "2021-02-01"),
        _patient("P2", "1960-01-01"), _enc("e2", "P2", "IMP", "2021-05-05"),
        _cond("c2", "P2", AKI, "Acute renal failure syndrome", "2021-04-01"),
        _patient("P3", "2012-01-01"), _enc("e3", "P3", "IMP", "2021-03-03"),
        _patient("P4", "1970-01-01"), _enc("e4", "P4", "AMB", "2021-03-03"),
        _patient("P5", "1940-07-07"), _enc("e5", "P5", "IMP", "2021-01-01", org="org-b"),
        _cond("c5", "P5", "44054006", "Diabetes mellitus type 2", "2019-03-01"),
        _cond("c5b", "P5", AKI, "Acute renal failure syndrome", "2022-06-01"),
        _obs("o5", "P5", "2345-7", 7.0, "mmol/L", "2020-12-15"),
        _med("m5", "P5", "860975", "metformin 500 MG", "2020-06-01"),
        _med("m5b", "P5", "197806", "ibuprofen 600 MG", "2019-06-01"),         # outside the 365-day lookback
    ]


def write_task(root: Path, resources: list[dict], cohort: dict, name: str = "bundle.json", **keys: object) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                         "entry": [{"resource": r} for r in resources]}))
    meta = {"name": "t", "task_type": "binary", "format": "fhir", "endpoint": "aki", "data": name,
            "id_column": "patient_id", "cohort": cohort, **keys}
    (root / "TASK.md").write_text("---\n" + yaml.safe_dump(meta) + "---\n")
    return root


def test_patient_cohort_known_answers(tmp_path: Path) -> None:
    task = load_task(write_task(tmp_path, hand_built(), COHORT))
    f = task.frame.set_index("patient_id")
    assert list(f.index) == ["P1", "P5"]
    assert f.loc["P1", "index_date"] == "2021-01-10" and f.loc["P5", "index_date"] == "2021-01-01"
    assert f.loc["P1", "aki"] == 1 and f.loc["P5", "aki"] == 0  # P5's AKI is on day 516, outside [1, 365]
    assert f.loc["P1", "obs_loinc_2160_0_creatinine_last"] == pytest.approx(1.3)  # not 5.0 (post-index)
    assert f.loc["P5", "obs_loinc_2345_7_glucose_last"] == pytest.approx(7.0 * 18.016)
    assert f.loc["P5", "cond_snomed_44054006_diabetes_mellitus_type_2"] == 1
    assert f.loc["P5", "med_rxnorm_860975_metformin_500_mg"] == 1
    assert "med_rxnorm_197806_ibuprofen_600_mg" not in f.columns  # only 580 days before the index: no unit has it
    assert f.loc["P1", "age_at_index"] == pytest.approx(70.7, abs=0.05)
    assert f.loc["P1", "n_encounters_lookback"] == 1 and f.loc["P5", "site"] == "org-b"
    flow = [(r["name"], r["rows"]) for r in task.provenance if r["kind"] == "step"]
    assert ("index events", 4) in flow and ("age >= 18 at index", 3) in flow and ("no aki event before day 1", 2) in flow


def test_mean_of_creatinine_converts_each_unit(tmp_path: Path) -> None:
    task = load_task(write_task(tmp_path, hand_built(), {**COHORT, "observation_stats": ["mean", "last"]}))
    p1 = task.frame.set_index("patient_id").loc["P1"]
    assert p1["obs_loinc_2160_0_creatinine_mean"] == pytest.approx((100 / 88.42 + 1.3) / 2)
    units = [r for r in task.provenance if r["kind"] == "units" and r["from"] == "umol/L"]
    assert units and units[0]["rows"] == 1 and units[0]["factor"] == pytest.approx(1 / 88.42)


def test_unknown_code_in_two_units_is_not_mixed(tmp_path: Path) -> None:
    extra = [_obs("x1", "P1", "9999-9", 5.0, "mg/L", "2020-12-01"), _obs("x2", "P5", "9999-9", 7.0, "mg/L", "2020-12-01"),
             _obs("x3", "P5", "9999-9", 700.0, "ng/mL", "2020-12-20")]
    task = load_task(write_task(tmp_path, hand_built() + extra, COHORT))
    col = task.frame.set_index("patient_id")["obs_loinc_9999_9_lab_last"]
    assert col.to_dict() == {"P1": 5.0, "P5": 7.0}  # the ng/mL value is set missing, not taken as the last value
    rec = next(r for r in task.provenance if r["kind"] == "units" and r["name"] == "LOINC 9999-9 unconvertible")
    assert rec["rows"] == 1 and rec["to"] == "mg/L"


def test_encounter_unit_excludes_index_after_prior_outcome(tmp_path: Path) -> None:
    task = load_task(write_task(tmp_path, hand_built(), {**COHORT, "unit": "encounter"}))
    rows = list(zip(task.frame["patient_id"], task.frame["encounter_id"]))
    # P1's second admission (2021-06-01) comes after P1's AKI (2021-02-01): excluded.
    assert rows == [("P1", "e1"), ("P5", "e5")]


def test_references_by_full_url(tmp_path: Path) -> None:
    res = hand_built()
    for r in res:
        if r["resourceType"] == "Encounter":
            r["subject"] = {"reference": f"urn:uuid:{r['subject']['reference'].split('/')[1]}"}
    (tmp_path / "b.json").write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": f"urn:uuid:{r['id']}" if r["resourceType"] == "Patient" else None, "resource": r} for r in res]}))
    write_task(tmp_path, [], COHORT, name="unused.json", data="b.json")
    assert list(load_task(tmp_path).frame["patient_id"]) == ["P1", "P5"]


def test_ndjson_reads_like_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "x.ndjson").write_text("\n".join(json.dumps(r) for r in hand_built()))
    write_task(tmp_path, [], COHORT, name="unused.json", data="x.ndjson")
    assert list(load_task(tmp_path).frame["patient_id"]) == ["P1", "P5"]


def test_invalid_resource_is_a_data_error(tmp_path: Path) -> None:
    bad = hand_built() + [{"resourceType": "Observation", "id": "bad", "status": "final"}]  # no code
    with pytest.raises(DataError, match="not valid R4"):
        load_task(write_task(tmp_path, bad, COHORT))


def test_unknown_cohort_key_names_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(TaskSpecError, match="cohort.lookbak_days.*lookback_days"):
        load_task(write_task(tmp_path, hand_built(), {**COHORT, "lookbak_days": 30}))


def test_phi_columns_are_found_by_governance(tmp_path: Path) -> None:
    from autods.guard.govern import govern

    gov = govern(load_task(write_task(tmp_path, hand_built() * 1, COHORT)))
    assert {"patient_name", "birth_date"} <= set(gov.phi_columns)
    assert "patient_name" not in gov.frame.columns


@pytest.fixture(scope="module")
def example(examples_dir: Path):
    return load_task(examples_dir / "task-fhir-aki")


def test_example_flow_and_size(example, examples_dir: Path) -> None:
    assert (examples_dir / "task-fhir-aki" / "data" / "bundle.json.gz").stat().st_size < 2_000_000
    flow = [r for r in example.provenance if r["kind"] == "step"]
    assert flow[-1]["rows"] == len(example.frame) and all(a["rows"] >= b["rows"] for a, b in zip(flow[3:], flow[4:]))
    assert example.data_hashes["data/bundle.json.gz"] == next(r["sha256"] for r in example.provenance if r["kind"] == "source")
    by_site = example.frame.groupby("site")["obs_loinc_2160_0_creatinine_last"].median()
    assert by_site.max() / by_site.min() < 1.3  # umol/L converted: no 88-fold site gap


@pytest.mark.slow
def test_example_end_to_end(examples_dir: Path) -> None:
    from autods.runners import evaluate

    rec = evaluate(examples_dir / "task-fhir-aki", n_resamples=200)
    assert rec.metric == "auroc" and rec.value > 0.65
    assert {"patient_name", "birth_date"} <= {n for n, _ in rec.excluded}
