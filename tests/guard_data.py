"""Seeded synthetic frames for the guardrail tests: a clean cohort, planted PHI, planted leaks.

Every frame is small (a few hundred rows) so the whole guard suite stays well under a minute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from autods.tasks.load import Task
from autods.tasks.spec import LaunchSpec, TaskSpec

FIRST = ["James", "Mary", "Robert", "Linda", "Michael", "Sarah", "David", "Karen", "Maria", "Joseph"]
LAST = ["Smith", "Johnson", "Garcia", "Brown", "Nguyen", "Patel", "Miller", "Lopez", "Wilson", "Clark"]


def clean_cohort(n_patients: int = 120, seed: int = 0) -> pd.DataFrame:
    """Patients with 1–3 encounters, three hospitals, labs, age, sex and a binary outcome.

    Nothing here is PHI and nothing leaks: the outcome depends weakly on age and a lab.
    """
    rng = np.random.default_rng(seed)
    visits = rng.integers(1, 4, size=n_patients)
    pid = np.repeat([f"P{i:04d}" for i in range(n_patients)], visits)
    n = len(pid)
    age = np.repeat(rng.integers(20, 86, size=n_patients), visits)
    sex = np.repeat(rng.choice(["F", "M"], size=n_patients), visits)
    creatinine = np.round(rng.lognormal(0.0, 0.3, size=n), 2)
    sodium = np.round(rng.normal(139, 3, size=n), 1)
    admit = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, size=n), unit="D")
    logit = -1.0 + 0.02 * (age - 50) + 0.8 * (creatinine - 1.0)
    outcome = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({
        "patient_id": pid,
        "hospital": rng.choice(["North", "South", "East"], size=n),
        "admit_date": admit.strftime("%Y-%m-%d"),
        "age": age,
        "sex": sex,
        "creatinine": creatinine,
        "sodium": sodium,
        "smoker": rng.choice(["yes", "no"], size=n),
        "readmitted": outcome,
    })


def with_phi(frame: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """``frame`` plus one planted column per PHI kind, consistent within a patient."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    units = out["patient_id"].unique()
    k = len(units)
    first = rng.choice(FIRST, size=k)
    last = rng.choice(LAST, size=k)
    per_unit = pd.DataFrame({
        "patient_id": units,
        "patient_name": [f"{a} {b}" for a, b in zip(first, last)],
        "mrn": [f"MRN{n:07d}" for n in rng.choice(10**7, size=k, replace=False)],
        "ssn": [f"{rng.integers(100, 900)}-{rng.integers(10, 99)}-{rng.integers(1000, 9999)}" for _ in range(k)],
        "dob": (pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 20000, size=k), unit="D")).strftime("%Y-%m-%d"),
        "phone": [f"617-555-{n:04d}" for n in rng.integers(0, 9999, size=k)],
        "email": [f"{a.lower()}.{b.lower()}{i}@example.com" for i, (a, b) in enumerate(zip(first, last))],
        "home_address": [f"{rng.integers(1, 999)} Main Street, Springfield" for _ in range(k)],
        "zip": [f"{n:05d}" for n in rng.integers(1000, 99999, size=k)],
    })
    out = out.merge(per_unit, on="patient_id", how="left")
    out["clinical_note"] = [
        f"Patient {name} seen today, follow-up call to {phone}; labs stable, continue current plan."
        for name, phone in zip(out["patient_name"], out["phone"])
    ]
    return out


PHI_COLUMNS = {
    "patient_name": "person_name", "mrn": "mrn", "ssn": "ssn", "dob": "date_of_birth", "phone": "phone",
    "email": "email", "home_address": "address", "zip": "zip", "clinical_note": "free_text",
}


def make_task(frame: pd.DataFrame, endpoint: str | dict[str, str] = "readmitted", task_type: str = "binary",
              launch: LaunchSpec | None = None, **spec: object) -> Task:
    """A Task around an in-memory frame (no files): the guard never reads from disk."""
    ep = {"column": endpoint} if isinstance(endpoint, str) else endpoint
    task_spec = TaskSpec(name="t", task_type=task_type, endpoint=ep, data=("data.csv",), **spec)
    return Task(spec=task_spec, launch=launch or LaunchSpec(), frame=frame)
