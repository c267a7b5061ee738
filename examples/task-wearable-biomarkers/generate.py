"""Seeded synthetic wearable cohort with planted biomarkers, nulls, a tautology and a confounder.

Run ``python generate.py`` to (re)write ``data/wearable_long.parquet``: one row per
participant per day (2,000 participants x 28 days), with the participant-level columns
(age, sex, lab panel, endpoint) repeated on every row of that participant, because the
task loader reads one table.

Ground truth (latent traits are independent standard normals unless stated):

- endpoint ``phq_score`` (depression severity, 0-27) = 10 + 4 * (
  -0.35 activity + 0.30 sleep_irregularity + 0.30 chronotype + 0.30 phone_trait
  + 0.25 z(log crp) + 0.35 z(age) + 0.45 z(log il6) + 0.8 noise), clipped to [0, 27].
- Planted true associations (:data:`PLANTED`): ``steps__mean`` (-, activity),
  ``sleep_duration__sd`` (+, the SD of nightly sleep grows with sleep_irregularity),
  ``sleep_onset__mean`` (+, later chronotype), ``night_phone__mean`` (+), ``lab_crp`` (+).
- Tautology (:data:`TAUTOLOGY`): ``lab_il6_sq`` = lab_il6 squared. The endpoint is partly
  derived from lab_il6, which TASK.md excludes; its square is a monotone copy (rho = 1).
- Confounded (:data:`CONFOUNDED`): resting heart rate rises with age and has no effect of
  its own; ``resting_hr__mean`` is associated with the endpoint only through age.
- Nulls (:data:`NULLS`): every aggregate of ``skin_temp`` and ``ambient_noise`` and the labs
  ``lab_tsh`` and ``lab_glucose`` are independent of the endpoint and of age.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

PLANTED = ("steps__mean", "sleep_duration__sd", "sleep_onset__mean", "night_phone__mean", "lab_crp")
TAUTOLOGY = "lab_il6_sq"
CONFOUNDED = "resting_hr__mean"
_NULL_STATS = ("mean", "sd", "cv", "iqr", "mad_successive", "slope", "weekend_ratio")
NULLS = tuple(f"{s}__{k}" for s in ("skin_temp", "ambient_noise") for k in _NULL_STATS) + ("lab_tsh", "lab_glucose")
START = pd.Timestamp("2024-03-04")  # a Monday, so every participant has 4 full weeks


def _z(v: np.ndarray) -> np.ndarray:
    return (v - v.mean()) / v.std()


def generate(n_participants: int = 2000, n_days: int = 28, seed: int = 0) -> pd.DataFrame:
    """The long table: one row per participant-day, participant columns repeated."""
    rng = np.random.default_rng(seed)
    n = n_participants
    age = rng.integers(18, 76, n).astype(float)
    sex = rng.choice(np.array(["F", "M"]), n)
    activity, irregular, chrono, phone = rng.normal(size=(4, n))
    crp = np.exp(0.5 + 0.6 * rng.normal(size=n))
    il6 = np.exp(1.0 + 0.5 * rng.normal(size=n))
    tsh = np.exp(0.4 + 0.4 * rng.normal(size=n))
    glucose = 90 + 10 * rng.normal(size=n)
    latent = (-0.35 * activity + 0.30 * irregular + 0.30 * chrono + 0.30 * phone + 0.25 * _z(np.log(crp))
              + 0.35 * _z(age) + 0.45 * _z(np.log(il6)) + 0.8 * rng.normal(size=n))
    phq = np.clip(10 + 4 * latent, 0, 27).round(1)

    shape = (n, n_days)
    dates = START + pd.to_timedelta(np.arange(n_days), unit="D")
    weekend = np.asarray(dates.dayofweek >= 5)
    steps = (7000 + 2000 * activity)[:, None] * np.where(weekend, 0.85, 1.0) + 1500 * rng.normal(size=shape)
    sleep_sd = np.exp(np.log(0.8) + 0.35 * irregular)
    sleep_dur = (7.2 + 0.5 * rng.normal(size=n))[:, None] + sleep_sd[:, None] * rng.normal(size=shape)
    onset = (23.0 + 0.8 * chrono)[:, None] + 0.6 * rng.normal(size=shape)
    night_phone = np.exp((3.0 + 0.5 * phone)[:, None] + 0.4 * rng.normal(size=shape))
    rhr = (60 + 0.25 * (age - 45) + 4 * rng.normal(size=n))[:, None] + 3 * rng.normal(size=shape)
    skin = (33.5 + 0.4 * rng.normal(size=n))[:, None] + 0.3 * rng.normal(size=shape)
    noise = (45 + 5 * rng.normal(size=n))[:, None] + 4 * rng.normal(size=shape)

    def per_day(v: np.ndarray) -> np.ndarray:
        return np.repeat(v, n_days)

    return pd.DataFrame({
        "participant_id": per_day(np.array([f"P{i:05d}" for i in range(n)])),
        "date": np.tile(dates.to_numpy(), n),
        "steps": np.clip(steps, 0, None).round().astype(np.int32).ravel(),
        "sleep_onset": onset.round(2).astype(np.float32).ravel(),
        "sleep_duration": np.clip(sleep_dur, 0.5, 14).round(2).astype(np.float32).ravel(),
        "resting_hr": rhr.round(1).astype(np.float32).ravel(),
        "night_phone": night_phone.round(1).astype(np.float32).ravel(),
        "skin_temp": skin.round(2).astype(np.float32).ravel(),
        "ambient_noise": noise.round(1).astype(np.float32).ravel(),
        "age": per_day(age),
        "sex": per_day(sex),
        "lab_crp": per_day(crp.round(3)),
        "lab_tsh": per_day(tsh.round(3)),
        "lab_glucose": per_day(glucose.round(1)),
        "lab_il6": per_day(il6.round(3)),
        "lab_il6_sq": per_day((il6.round(3) ** 2).round(4)),
        "phq_score": per_day(phq),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=2000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "wearable_long.parquet")
    args = parser.parse_args()
    frame = generate(args.participants, args.days, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(args.out, index=False, compression="zstd")
    print(f"wrote {args.out} ({len(frame):,} rows, {args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
