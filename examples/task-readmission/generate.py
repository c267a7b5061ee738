"""Generate the synthetic EHR readmission cohort (seeded, offline, no real person).

Planted traps, each of which ``autods check`` must report:

* repeated units: patients have 1-6 encounters, so CV must be grouped by ``patient_id``;
* site shift: hospital ``C`` reports creatinine about 35% higher (a lab calibration offset)
  and has a higher readmission rate;
* identifiers: ``patient_name``, ``mrn``, ``date_of_birth``, ``phone`` and a free-text
  ``discharge_note`` that mentions the patient by name;
* a post-discharge leak: ``days_to_readmission`` is recorded only for readmitted encounters;
* a weaker subgroup: for ``insurance == "uninsured"`` the outcome is driven mostly by
  factors outside the record, so any model discriminates worse there.

Run: ``python examples/task-readmission/generate.py`` (rewrites ``data/encounters.csv``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20261123
N_PATIENTS = 1500
FIRST = ["Maria", "James", "Aisha", "Wei", "Olga", "Carlos", "Fatima", "John", "Priya", "Lars",
         "Emma", "Kwame", "Sofia", "Hiro", "Nadia", "Peter", "Grace", "Omar", "Ines", "Tomas"]
LAST = ["Garcia", "Smith", "Okafor", "Chen", "Ivanova", "Silva", "Khan", "Miller", "Patel", "Berg",
        "Novak", "Mensah", "Rossi", "Tanaka", "Haddad", "Schmidt", "Kim", "Nasser", "Costa", "Lund"]


def generate(seed: int = SEED, n_patients: int = N_PATIENTS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pid = np.arange(n_patients)
    hospital = rng.choice(["A", "B", "C"], size=n_patients, p=[0.45, 0.35, 0.20])
    sex = rng.choice(["F", "M"], size=n_patients)
    birth = pd.Timestamp("1935-01-01") + pd.to_timedelta(rng.integers(0, 365 * 65, n_patients), unit="D")
    insurance = rng.choice(["private", "medicare", "medicaid", "uninsured"], size=n_patients, p=[0.35, 0.35, 0.18, 0.12])
    frailty = rng.normal(0, 1, n_patients)  # latent, per patient: makes encounters of one patient alike
    n_enc = rng.integers(1, 7, n_patients)

    rows = []
    for p in pid:
        admit = pd.Timestamp("2021-01-01") + pd.Timedelta(days=int(rng.integers(0, 700)))
        for _ in range(n_enc[p]):
            los = int(rng.gamma(2.0, 2.0)) + 1
            rows.append((p, admit, los))
            admit = admit + pd.Timedelta(days=los + int(rng.integers(20, 160)))
    enc = pd.DataFrame(rows, columns=["p", "admit_date", "length_of_stay"])
    p = enc["p"].to_numpy()
    n = len(enc)
    age = ((enc["admit_date"] - birth[p]).dt.days / 365.25).round(0).astype(int)
    prior = enc.groupby("p").cumcount().to_numpy()
    charlson = np.clip(np.round(1.5 + 1.2 * frailty[p] + rng.normal(0, 1, n) + (age - 60) / 15), 0, 12)
    hemoglobin = np.round(13.0 - 0.6 * frailty[p] + rng.normal(0, 1.3, n), 1)
    true_creat = np.exp(0.05 + 0.18 * frailty[p] + rng.normal(0, 0.25, n))
    creatinine = np.round(true_creat * np.where(hospital[p] == "C", 1.35, 1.0), 2)
    sodium = np.round(139 + rng.normal(0, 3, n), 0)
    glucose = np.round(rng.lognormal(np.log(115), 0.25, n), 0)
    bmi = np.round(rng.normal(28, 5, n), 1)
    n_meds = rng.poisson(5 + 1.5 * np.clip(frailty[p], -2, 3))
    disposition = rng.choice(["home", "home_health", "skilled_nursing"], size=n, p=[0.6, 0.25, 0.15])
    hb_missing = rng.random(n) < 0.08

    lin = (-2.3 + 0.55 * frailty[p] + 0.30 * np.log1p(prior) + 0.18 * charlson / 2
           + 0.06 * (enc["length_of_stay"].to_numpy() - 4) - 0.12 * (hemoglobin - 13)
           + 0.5 * (disposition == "skilled_nursing") + 0.35 * (hospital[p] == "C"))
    unins = insurance[p] == "uninsured"
    # outside-the-record drivers dominate for the uninsured: their risk is mostly noise to any model
    lin = np.where(unins, -1.6 + 0.15 * (lin + 1.6) + rng.normal(0, 1.4, n), lin)
    readmitted = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    days_to_readmit = np.where(readmitted == 1, rng.integers(1, 31, n), np.nan)

    first = np.array(FIRST)[rng.integers(0, len(FIRST), n_patients)]
    last = np.array(LAST)[rng.integers(0, len(LAST), n_patients)]
    names = np.char.add(np.char.add(first, " "), last)
    mrn = np.array([f"MRN{1000000 + 7 * i + 3:07d}" for i in pid])
    phone = np.array([f"(555) {rng.integers(200, 999)}-{rng.integers(1000, 9999)}" for _ in pid])
    discharge = enc["admit_date"] + pd.to_timedelta(enc["length_of_stay"], unit="D")
    notes = [
        f"{names[pp]} discharged to {d.replace('_', ' ')} after {los} days. Follow up with PCP."
        for pp, d, los in zip(p, disposition, enc["length_of_stay"])
    ]

    out = pd.DataFrame({
        "encounter_id": np.arange(n) + 1,
        "patient_id": pid[p] + 10001,
        "mrn": mrn[p],
        "patient_name": names[p],
        "date_of_birth": birth[p].strftime("%Y-%m-%d"),
        "phone": phone[p],
        "hospital": hospital[p],
        "admit_date": enc["admit_date"].dt.strftime("%Y-%m-%d"),
        "discharge_date": discharge.dt.strftime("%Y-%m-%d"),
        "age": age,
        "sex": sex[p],
        "insurance": insurance[p],
        "length_of_stay": enc["length_of_stay"],
        "prior_admissions": prior,
        "charlson_index": charlson.astype(int),
        "n_medications": n_meds,
        "hemoglobin": np.where(hb_missing, np.nan, hemoglobin),
        "creatinine": creatinine,
        "sodium": sodium,
        "glucose": glucose,
        "bmi": bmi,
        "discharge_disposition": disposition,
        "discharge_note": notes,
        "days_to_readmission": days_to_readmit,
        "readmitted_30d": readmitted,
    })
    return out


if __name__ == "__main__":
    frame = generate()
    target = Path(__file__).resolve().parent / "data" / "encounters.csv"
    frame.to_csv(target, index=False)
    print(f"wrote {len(frame)} encounters of {frame['patient_id'].nunique()} patients to {target}")
