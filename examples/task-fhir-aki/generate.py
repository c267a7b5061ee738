"""Generate a synthetic FHIR R4 bundle (seeded, offline, no real person): AKI after a hospital admission.

Patients of two hospitals (Organizations ``org-north`` and ``org-south``) have outpatient
encounters with labs, conditions and medication requests, and most have an inpatient
admission (the index event). The outcome is acute kidney injury (SNOMED 14669001) within
365 days after admission. What a correct loader must get right:

* units differ by site: north reports creatinine as LOINC 14682-9 in umol/L, glucose in
  mmol/L and hemoglobin in g/L; south reports LOINC 2160-0 in mg/dL, mg/dL and g/dL;
* north's creatinine assay also reads about 8% high (a calibration offset: a site effect
  that unit conversion does not remove);
* excluded: patients without an admission, patients under 18 at admission and patients
  with AKI before admission;
* a post-index trap: a creatinine drawn 2-20 days after admission is high in those who go
  on to develop AKI; it must never become a feature;
* true risk: creatinine, chronic kidney disease, diabetes, NSAID (ibuprofen) requests, age.

Run: ``python examples/task-fhir-aki/generate.py`` (rewrites ``data/bundle.json.gz``, gzip
with a fixed timestamp so the bytes are reproducible).
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np

SEED = 7
N_PATIENTS = 500
FIRST = ["Avery", "Jordan", "Riley", "Quinn", "Rowan", "Sage", "Emery", "Finley", "Harper", "Skyler"]
LAST = ["Example", "Testcase", "Sample", "Synthia", "Mockwell", "Fakeley", "Demo", "Placeholder"]
SNOMED, LOINC, RXNORM = "http://snomed.info/sct", "http://loinc.org", "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM, ACT = "http://unitsofmeasure.org", "http://terminology.hl7.org/CodeSystem/v3-ActCode"
COND = {"ckd": ("709044004", "Chronic kidney disease"), "dm2": ("44054006", "Diabetes mellitus type 2"),
        "htn": ("38341003", "Hypertensive disorder"), "hf": ("84114007", "Heart failure")}
AKI = ("14669001", "Acute renal failure syndrome")
MEDS = {"metformin": ("860975", "metformin hydrochloride 500 MG Extended Release Oral Tablet"),
        "lisinopril": ("314076", "lisinopril 10 MG Oral Tablet"),
        "ibuprofen": ("197806", "ibuprofen 600 MG Oral Tablet"),
        "furosemide": ("310429", "furosemide 20 MG Oral Tablet")}


def _coding(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _day(base: np.datetime64, days: int) -> str:
    return str(base + np.timedelta64(int(days), "D"))


def generate(seed: int = SEED, n: int = N_PATIENTS) -> dict:
    rng = np.random.default_rng(seed)
    entries: list[dict] = []
    add = lambda res: entries.append({"fullUrl": f"urn:uuid:{res['resourceType'].lower()}-{res['id']}", "resource": res})  # noqa: E731
    for org, name in (("org-north", "North General (synthetic)"), ("org-south", "South Valley (synthetic)")):
        add({"resourceType": "Organization", "id": org, "name": name})
    counter = iter(range(10**7))
    for i in range(n):
        pid = f"p{i:04d}"
        north = rng.random() < 0.5
        org = "org-north" if north else "org-south"
        age = float(rng.choice([rng.uniform(8, 17.9), rng.uniform(18, 90)], p=[0.05, 0.95]))
        index = np.datetime64("2021-01-01") + np.timedelta64(int(rng.integers(0, 540)), "D")
        birth = index - np.timedelta64(int(age * 365.25), "D")
        add({"resourceType": "Patient", "id": pid, "gender": str(rng.choice(["female", "male"])),
             "birthDate": str(birth), "name": [{"given": [str(rng.choice(FIRST))], "family": str(rng.choice(LAST))}],
             "managingOrganization": {"reference": f"Organization/{org}"}})
        has = {k: rng.random() < p for k, p in (("ckd", 0.15 + 0.004 * max(age - 50, 0)), ("dm2", 0.25), ("htn", 0.4), ("hf", 0.08))}
        for k, present in has.items():
            if present:
                add({"resourceType": "Condition", "id": f"c{next(counter)}", "subject": {"reference": f"Patient/{pid}"},
                     "code": _coding(SNOMED, *COND[k]), "onsetDateTime": _day(index, -int(rng.integers(30, 2000)))})
        nsaid = rng.random() < 0.3
        meds = {"metformin": has["dm2"] and rng.random() < 0.8, "lisinopril": has["htn"] and rng.random() < 0.7,
                "ibuprofen": nsaid, "furosemide": has["hf"] and rng.random() < 0.8}
        creat = np.exp(rng.normal(np.log(0.9), 0.2)) * (1.9 if has["ckd"] else 1.0)  # mg/dL, true value
        glucose = rng.normal(150 if has["dm2"] else 98, 20)
        hgb = rng.normal(12.2 if has["ckd"] else 13.6, 1.3)
        lp = -2.5 + 1.2 * np.log(creat / 0.9) / 0.2 * 0.35 + 0.9 * has["ckd"] + 0.5 * has["dm2"] + 0.8 * nsaid + 0.025 * (age - 60)
        prior_aki = rng.random() < 0.05
        aki = rng.random() < 1 / (1 + np.exp(-lp))
        admitted = rng.random() < 0.9
        visits = sorted(int(d) for d in rng.integers(-360, -5, size=int(rng.integers(1, 4))))
        days = visits + ([0] if admitted else [])
        for d in days:
            eid = f"e{next(counter)}"
            add({"resourceType": "Encounter", "id": eid, "status": "finished",
                 "class": {"system": ACT, "code": "IMP" if d == 0 else "AMB", "display": "inpatient encounter" if d == 0 else "ambulatory"},
                 "subject": {"reference": f"urn:uuid:patient-{pid}"}, "period": {"start": _day(index, d) + "T09:00:00Z"},
                 "serviceProvider": {"reference": f"Organization/{org}"}})
            labs = _labs(rng, north, creat, glucose, hgb)
            for system_code, display, value, unit in labs:
                add({"resourceType": "Observation", "id": f"o{next(counter)}", "status": "final",
                     "code": _coding(LOINC, system_code, display), "subject": {"reference": f"Patient/{pid}"},
                     "encounter": {"reference": f"Encounter/{eid}"}, "effectiveDateTime": _day(index, d) + "T10:30:00Z",
                     "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}})
            for k, on in meds.items():
                if on and d != 0:
                    add({"resourceType": "MedicationRequest", "id": f"m{next(counter)}", "status": "active", "intent": "order",
                         "medicationCodeableConcept": _coding(RXNORM, *MEDS[k]), "subject": {"reference": f"Patient/{pid}"},
                         "authoredOn": _day(index, d)})
        if admitted and aki:
            after = int(rng.integers(2, 20))  # the post-index trap: a high creatinine after admission
            code, display, _, unit = _labs(rng, north, creat * 2.2, glucose, hgb)[0]
            value = round(creat * 2.2 * (88.42 * 1.08 if north else 1.0), 2)
            add({"resourceType": "Observation", "id": f"o{next(counter)}", "status": "final", "code": _coding(LOINC, code, display),
                 "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": _day(index, after) + "T08:00:00Z",
                 "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}})
            add({"resourceType": "Condition", "id": f"c{next(counter)}", "subject": {"reference": f"Patient/{pid}"},
                 "code": _coding(SNOMED, *AKI), "onsetDateTime": _day(index, after + int(rng.integers(0, 300)))})
        if prior_aki:
            add({"resourceType": "Condition", "id": f"c{next(counter)}", "subject": {"reference": f"Patient/{pid}"},
                 "code": _coding(SNOMED, *AKI), "onsetDateTime": _day(index, -int(rng.integers(20, 700)))})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _labs(rng: np.random.Generator, north: bool, creat: float, glucose: float, hgb: float) -> list[tuple]:
    noise = lambda sd: float(rng.normal(0, sd))  # noqa: E731
    c = creat * (1 + noise(0.05))
    if north:
        return [("14682-9", "Creatinine [Moles/volume] in Serum or Plasma", round(c * 88.42 * 1.08, 1), "umol/L"),
                ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", round((glucose + noise(8)) / 18.016, 2), "mmol/L"),
                ("718-7", "Hemoglobin [Mass/volume] in Blood", round((hgb + noise(0.4)) * 10, 0), "g/L")]
    return [("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", round(c, 2), "mg/dL"),
            ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", round(glucose + noise(8), 0), "mg/dL"),
            ("718-7", "Hemoglobin [Mass/volume] in Blood", round(hgb + noise(0.4), 1), "g/dL")]


def write(path: Path, bundle: dict) -> None:
    raw = json.dumps(bundle, separators=(",", ":")).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="bundle.json", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "data" / "bundle.json.gz"
    write(out, generate())
    print(f"wrote {out} ({out.stat().st_size} bytes)")
