"""Loader registry, package data, format keys, units and the documentation of every cohort setting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from autods.errors import DataError, TaskSpecError
from autods.tasks import load_task
from autods.tasks.provenance import Provenance, cohort_flow
from autods.tasks.registry import LOADERS, register_loader, resolve_format
from autods.tasks.spec import TASK_KEYS, parse_task_md
from autods.tasks.units import convert, harmonize_units, normalize_unit

ROOT = Path(__file__).resolve().parents[1]


def _task(root: Path, **meta: object) -> Path:
    base = {"name": "t", "task_type": "binary", "endpoint": "y", "data": "d.csv"}
    (root / "TASK.md").write_text("---\n" + yaml.safe_dump({**base, **meta}) + "---\n")
    return root


def test_tables_get_provenance(tmp_path: Path) -> None:
    pd.DataFrame({"x": [1, 2, 3, 4], "y": [0, 1, None, 1]}).to_csv(tmp_path / "d.csv", index=False)
    task = load_task(_task(tmp_path))
    kinds = [r["kind"] for r in task.provenance]
    assert kinds == ["source", "step", "step"] and task.provenance[0]["sha256"] == task.data_hashes["d.csv"]
    assert cohort_flow(task.provenance)[-1] == {"step": "endpoint recorded", "n_rows": 3, "n_units": None,
                                                 "note": "1 removed; rows whose endpoint (y) is missing are dropped"}


def test_format_inference_and_unknown_format(tmp_path: Path) -> None:
    spec = parse_task_md("---\nname: t\ntask_type: singlecell\nendpoint: c\ndata: x.h5ad\n---\n", tmp_path)
    assert resolve_format(spec) == "anndata"
    pd.DataFrame({"x": [1, 2], "y": [0, 1]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(TaskSpecError, match="no loader for format 'hl7v2'.*fhir"):
        load_task(_task(tmp_path, format="hl7v2"))


def test_missing_package_names_the_extra(tmp_path: Path) -> None:
    _task(tmp_path, format="omop", data="package:not_a_real_package_xyz", cohort={
        "index": {"domain": "drug", "concepts": [1]}, "outcome": {"name": "y", "concept_set": {"domain": "condition", "concepts": [2]}}})
    with pytest.raises(DataError, match="not_a_real_package_xyz.*not installed"):
        load_task(tmp_path)


def test_a_user_loader_registers_like_the_builtins(tmp_path: Path) -> None:
    def mine(spec, prov: Provenance) -> pd.DataFrame:
        prov.step("made up", 4)
        return pd.DataFrame({"x": [1.0, 2, 3, 4], "y": [0, 1, 0, 1]})

    register_loader("mine", mine)
    try:
        task = load_task(_task(tmp_path, format="mine"))
        assert len(task.frame) == 4 and cohort_flow(task.provenance)[0]["step"] == "made up"
    finally:
        LOADERS.pop("mine")


def test_unit_conversions_by_hand() -> None:
    assert convert([88.42], "creatinine", "µmol/L")[0] == pytest.approx(1.0)
    assert convert([5.0], "glucose", "mmol/L")[0] == pytest.approx(90.08)
    assert convert([135.0], "hemoglobin", "g/L")[0] == pytest.approx(13.5)
    assert convert([48.0], "hba1c", "mmol/mol")[0] == pytest.approx(0.09148 * 48 + 2.152)  # about 6.5 %
    assert convert([98.6], "body_temperature", "°F")[0] == pytest.approx(37.0)
    assert convert([7.0], "urea_nitrogen", "mmol/L")[0] == pytest.approx(19.61, abs=0.01)
    assert normalize_unit("μmol/l") == "umol/L" and normalize_unit(" mg / dL ") == "mg/dL"


def test_harmonize_units_records_and_refuses_unknown_units() -> None:
    frame = pd.DataFrame({"a": ["creatinine"] * 3 + ["glucose", "other"], "v": [1.0, 88.42, 2.0, 5.5, 3.0],
                          "u": ["mg/dL", "umol/L", "mmol/L", "mg/dL", "furlongs"]})
    out, recs = harmonize_units(frame, value="v", unit="u", analyte="a")
    assert np.allclose(out["v"].to_numpy()[[0, 1, 3, 4]], [1.0, 1.0, 5.5, 3.0]) and np.isnan(out["v"][2])
    assert {r["name"] for r in recs} == {"creatinine umol/L -> mg/dL", "creatinine unconvertible"}
    assert out["u"].tolist()[:2] == ["mg/dL", "mg/dL"] and out["u"][4] == "furlongs"  # unknown analytes untouched


def test_every_cohort_setting_is_documented() -> None:
    from autods.tasks import anndata_loader, cdisc, fhir, omop, wearable

    doc = (ROOT / "docs" / "data-standards.md").read_text()
    models = [fhir.FhirCohort, fhir.IndexRule, fhir.OutcomeRule, omop.OmopCohort, omop.ConceptSet, omop.Criterion,
              omop.Outcome, omop.Covariates, anndata_loader.AnnDataSettings, cdisc.CdiscSettings, cdisc.AeEndpoint,
              wearable.WearableSettings]
    missing = [f"{m.__name__}.{f}" for m in models for f in m.model_fields if f"`{f}`" not in doc]
    assert not missing, f"undocumented cohort settings: {missing}"
    assert "format" in TASK_KEYS and "cohort" in TASK_KEYS
