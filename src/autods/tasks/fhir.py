"""FHIR R4 bundles -> one cohort table (per patient or per encounter) with an index date.

Reads ``.json``, ``.json.gz`` or ``.ndjson`` (one resource per line, the Bulk Data export
shape) and validates every resource with the ``fhir.resources.R4B`` models (``fhir.resources``
8.x defaults to R5; R4 content validates as R4B). Patient, Encounter, Condition,
Observation and MedicationRequest are used; other resource types are counted and ignored.

TASK.md ``cohort:`` (all windows in days relative to the index date)::

    cohort:
      unit: patient                 # or encounter: every qualifying event is a row
      index: {resource: Encounter, encounter_class: [IMP]}   # or Condition/Observation with codes
      outcome: {name: aki_365d, resource: Condition, codes: ["14669001"], window_days: [1, 365]}
      lookback_days: 365            # observations and medications in [index - lookback, index]
      min_age: 18

Features: ``cond_snomed_<code>_<label>`` (condition with onset on or before the index),
``obs_loinc_<code>_<label>_<stat>`` (quantity observations in the lookback, converted to the
analyte's canonical unit by :mod:`autods.tasks.units`; LOINC codes of one analyte merge into
its first code), ``med_rxnorm_<code>_<label>`` (medication requested in the lookback),
``n_encounters_lookback``. Codes stay in the column names; the code -> display codebook is
in the provenance. Anything dated after the index is never a feature.

PHI decision: ``patient_name`` and ``birth_date`` are kept as columns so the guard's PHI
scan finds them and ``deident_policy`` removes or transforms them before any brain sees the
data; ``age_at_index`` is derived here first. Dropping them at load would hide from the
audit that the source held identifiers.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autods.errors import DataError
from autods.tasks import _fhir_features as feat
from autods.tasks.provenance import Provenance
from autods.tasks.registry import cohort_settings, resolve_source
from autods.tasks.spec import TaskSpec

__all__ = ["FhirCohort", "flatten_resources", "load", "read_resources"]

USED = ("Patient", "Encounter", "Condition", "Observation", "MedicationRequest")


class IndexRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    resource: Literal["Encounter", "Condition", "Observation", "MedicationRequest"] = "Encounter"
    encounter_class: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()


class OutcomeRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    resource: Literal["Encounter", "Condition", "Observation", "MedicationRequest"] = "Condition"
    codes: tuple[str, ...] = ()
    encounter_class: tuple[str, ...] = ()
    window_days: tuple[int, int] = (1, 365)
    exclude_prior: bool = True


class FhirCohort(BaseModel):
    """The cohort rules of a FHIR task (TASK.md ``cohort:``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unit: Literal["patient", "encounter"] = "patient"
    index: IndexRule = IndexRule(encounter_class=("IMP",))
    outcome: OutcomeRule
    lookback_days: int = Field(default=365, ge=0)
    min_age: float | None = None
    min_prevalence: float = Field(default=0.01, ge=0, lt=1)
    observation_stats: tuple[Literal["last", "mean", "min", "max"], ...] = ("last",)


def read_resources(path: Path) -> list[dict[str, Any]]:
    """Resources of a bundle (``.json``/``.json.gz``) or an ``.ndjson`` file, validated as FHIR R4."""
    try:
        from fhir.resources.R4B import get_fhir_model_class
    except ModuleNotFoundError:
        raise DataError("reading FHIR needs the package 'fhir.resources'", "pip install 'autods[fhir]'") from None
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            if ".ndjson" in path.suffixes:
                raw = [json.loads(line) for line in fh if line.strip()]
                urls = [None] * len(raw)
            else:
                doc = json.load(fh)
                entries = doc.get("entry", []) if doc.get("resourceType") == "Bundle" else [{"resource": doc}]
                raw = [e.get("resource", {}) for e in entries]
                urls = [e.get("fullUrl") for e in entries]
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"FHIR file '{path.name}' cannot be read ({str(exc).splitlines()[0]})",
                        "give a FHIR R4 Bundle as JSON, or NDJSON with one resource per line") from None
    for k, res in enumerate(raw):
        kind = res.get("resourceType") if isinstance(res, dict) else None
        if kind not in USED:
            continue
        try:
            get_fhir_model_class(kind).model_validate(res)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise DataError(f"FHIR {kind} #{k} ('{res.get('id')}') in '{path.name}' is not valid R4: {where}: {err['msg']}",
                            "fix the resource or export the bundle again as FHIR R4") from None
    # fullUrl (urn:uuid:...) is how bundle entries often reference each other.
    return [{**r, "_fullUrl": u} if u else r for r, u in zip(raw, urls) if isinstance(r, dict)]


def load(spec: TaskSpec, prov: Provenance) -> pd.DataFrame:
    """The FHIR loader registered as ``format: fhir``."""
    rules = cohort_settings(FhirCohort, spec)
    resources: list[dict[str, Any]] = []
    for rel in spec.data:
        path, package = resolve_source(spec, rel)
        prov.source(rel, path, package)
        got = read_resources(path)
        prov.step(f"read {rel}", len(got), detail="resources, validated as FHIR R4 (fhir.resources R4B)")
        resources.extend(got)
    return flatten_resources(resources, rules, prov)


def flatten_resources(resources: list[dict[str, Any]], rules: FhirCohort, prov: Provenance | None = None) -> pd.DataFrame:
    """One row per unit: demographics, index date, coded features and the outcome."""
    prov = prov if prov is not None else Provenance()
    tables = feat.tabulate(resources)
    counts = {k: len(v) for k, v in tables.items()}
    other = len(resources) - sum(counts.values())
    prov.step("resources by type", len(resources), detail=", ".join(f"{k} {v}" for k, v in counts.items())
              + (f", {other} of other types ignored" if other else ""))
    patients = tables["Patient"]
    if patients.empty:
        raise DataError("the FHIR data has no Patient resources", "include the Patient resources the other resources refer to")
    prov.step("patients", len(patients), units=len(patients), detail="Patient resources")
    obs, unit_records = feat.harmonize_observations(tables["Observation"])
    prov.units(unit_records)
    index = feat.index_events(tables, rules.index, rules.unit)
    prov.step("index events", len(index), units=index["patient_id"].nunique(),
              detail=f"{rules.index.resource} {'first per patient' if rules.unit == 'patient' else 'every event'}"
                     + (f", class {list(rules.index.encounter_class)}" if rules.index.encounter_class else "")
                     + (f", codes {list(rules.index.codes)}" if rules.index.codes else ""))
    cohort = index.merge(patients.drop(columns=["org"]), on="patient_id", how="inner")
    cohort["age_at_index"] = ((cohort["index_date"] - cohort["birth_date"]).dt.days / 365.25).round(1)
    if rules.min_age is not None:
        before = len(cohort)
        cohort = cohort[cohort["age_at_index"] >= rules.min_age]
        prov.step(f"age >= {rules.min_age:g} at index", len(cohort), units=cohort["patient_id"].nunique(),
                  removed=before - len(cohort))
    events = feat.events_of(tables, rules.outcome.resource, rules.outcome.codes, rules.outcome.encounter_class)
    lo, hi = rules.outcome.window_days
    rel = feat.relative_days(cohort, events)
    if rules.outcome.exclude_prior:
        prior = set(rel.loc[rel["days"] < lo, "row"])
        before = len(cohort)
        cohort = cohort[~cohort["row"].isin(prior)]
        prov.step(f"no {rules.outcome.name} event before day {lo}", len(cohort), units=cohort["patient_id"].nunique(),
                  removed=before - len(cohort), detail="units with the outcome already present are excluded")
    hit = set(rel.loc[rel["days"].between(lo, hi), "row"])
    cohort = cohort.assign(**{rules.outcome.name: cohort["row"].isin(hit).astype(int)})
    prov.step(f"outcome {rules.outcome.name} in days [{lo}, {hi}]", len(cohort), units=cohort["patient_id"].nunique(),
              detail=f"{int(cohort[rules.outcome.name].sum())} units with the outcome")
    features, codebook = feat.features(cohort, tables, obs, rules)
    prov.codebook("coded features", codebook)
    frame = _join(cohort, features)
    prov.step("cohort table", len(frame), units=frame["patient_id"].nunique(),
              detail=f"{len(features.columns)} coded features (prevalence >= {rules.min_prevalence:g})")
    return frame


def _join(cohort: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    out = cohort.set_index("row").join(features, how="left").reset_index(drop=True)
    front = ["patient_id", *(["encounter_id"] if "encounter_id" in out.columns else []), "patient_name", "birth_date",
             "sex", "age_at_index", "site", "index_date"]
    out["birth_date"] = out["birth_date"].dt.strftime("%Y-%m-%d")
    out["index_date"] = out["index_date"].dt.strftime("%Y-%m-%d")
    return out[[c for c in front if c in out.columns] + [c for c in out.columns if c not in front]]
