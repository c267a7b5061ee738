"""FHIR resources -> tidy tables -> index events, windows and coded features (see :mod:`autods.tasks.fhir`)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from autods.tasks.units import ANALYTES, analyte_for_code, harmonize_units

SYSTEMS = {"http://snomed.info/sct": "snomed", "http://loinc.org": "loinc",
           "http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm", "http://hl7.org/fhir/sid/icd-10-cm": "icd10cm",
           "http://hl7.org/fhir/sid/icd-10": "icd10"}
_COLUMNS = {
    "Patient": ["patient_id", "patient_name", "birth_date", "sex", "org"],
    "Encounter": ["encounter_id", "patient_id", "class", "date", "site"],
    "Condition": ["patient_id", "encounter_id", "system", "code", "display", "date"],
    "Observation": ["patient_id", "encounter_id", "system", "code", "display", "date", "value", "unit"],
    "MedicationRequest": ["patient_id", "encounter_id", "system", "code", "display", "date"],
}


def _ref(obj: Any, aliases: dict[str, str]) -> str | None:
    ref = (obj or {}).get("reference") if isinstance(obj, dict) else None
    if not ref:
        return None
    ref = aliases.get(ref, ref)
    return ref.rsplit("/", 1)[-1]


def _coding(concept: Any) -> dict[str, Any]:
    codings = (concept or {}).get("coding") or [{}]
    known = [c for c in codings if c.get("system") in SYSTEMS]
    c = (known or codings)[0]
    system = c.get("system") or ""
    short = SYSTEMS.get(system) or re.sub(r"[^a-z0-9]+", "", system.rsplit("/", 1)[-1].lower()) or "code"
    return {"system": short, "code": str(c.get("code", "")), "display": c.get("display") or (concept or {}).get("text") or ""}


def _name(p: dict[str, Any]) -> str | None:
    names = p.get("name") or []
    if not names:
        return None
    n = names[0]
    return n.get("text") or " ".join([*n.get("given", []), n.get("family", "")]).strip() or None


def _date(values: pd.Series) -> pd.Series:
    # FHIR dateTimes carry offsets; compare everything as naive UTC.
    return pd.to_datetime(values, utc=True, format="ISO8601").dt.tz_convert(None)


def tabulate(resources: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """One tidy frame per used resource type (columns in ``_COLUMNS``)."""
    aliases = {r["_fullUrl"]: f"{r['resourceType']}/{r.get('id')}" for r in resources if r.get("_fullUrl")}
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in _COLUMNS}
    for r in resources:
        kind, subject = r.get("resourceType"), _ref(r.get("subject") or r.get("patient"), aliases)
        enc = _ref(r.get("encounter"), aliases)
        if kind == "Patient":
            rows[kind].append({"patient_id": r.get("id"), "patient_name": _name(r), "birth_date": r.get("birthDate"),
                               "sex": r.get("gender"), "org": _ref(r.get("managingOrganization"), aliases)})
        elif kind == "Encounter":
            sp = r.get("serviceProvider") or {}
            rows[kind].append({"encounter_id": r.get("id"), "patient_id": subject, "class": (r.get("class") or {}).get("code"),
                               "date": (r.get("period") or {}).get("start"), "site": _ref(sp, aliases) or sp.get("display")})
        elif kind == "Condition":
            date = r.get("onsetDateTime") or (r.get("onsetPeriod") or {}).get("start") or r.get("recordedDate")
            rows[kind].append({"patient_id": subject, "encounter_id": enc, **_coding(r.get("code")), "date": date})
        elif kind == "Observation":
            q = r.get("valueQuantity") or {}
            date = r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start") or r.get("issued")
            rows[kind].append({"patient_id": subject, "encounter_id": enc, **_coding(r.get("code")), "date": date,
                               "value": q.get("value"), "unit": q.get("code") or q.get("unit")})
        elif kind == "MedicationRequest":
            rows[kind].append({"patient_id": subject, "encounter_id": enc, **_coding(r.get("medicationCodeableConcept")),
                               "date": r.get("authoredOn")})
    out = {}
    for kind, cols in _COLUMNS.items():
        frame = pd.DataFrame(rows[kind], columns=cols)
        for c in ("date", "birth_date"):
            if c in frame.columns:
                frame[c] = _date(frame[c]) if len(frame) else pd.Series(dtype="datetime64[ns]")
        if "date" in frame.columns:
            frame = frame.dropna(subset=["date", "patient_id"])
        out[kind] = frame
    return out


def harmonize_observations(obs: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Quantities to canonical units; LOINC codes of one analyte merged into its first code."""
    obs = obs.dropna(subset=["value"]).copy()
    obs["analyte"] = obs["code"].map(analyte_for_code)
    obs, records = harmonize_units(obs, value="value", unit="unit", analyte="analyte")
    known = obs["analyte"].notna()
    # A code the unit table does not know may still arrive in several units: keep its most
    # common unit and set the others missing, counted, rather than mixing scales silently.
    for code, units in obs.loc[~known].groupby("code")["unit"]:
        counts = units.fillna("(none)").value_counts()
        if len(counts) > 1:
            odd = units.index[units.fillna("(none)") != counts.index[0]]
            obs.loc[odd, "value"] = np.nan
            records.append({"name": f"LOINC {code} unconvertible", "analyte": None, "from": sorted(map(str, counts.index[1:])),
                            "to": str(counts.index[0]), "factor": None, "offset": None, "rows": len(odd),
                            "source": "no conversion known for this code: values in minority units set missing"})
    for (name, code), n in obs[known].groupby(["analyte", "code"]).size().items():
        canonical = ANALYTES[name].loinc[0]
        if code != canonical:
            records.append({"name": f"{name}: LOINC {code} -> {canonical}", "analyte": name, "from": f"LOINC {code}",
                            "to": f"LOINC {canonical}", "factor": None, "offset": None, "rows": int(n),
                            "source": "same analyte; merged after unit conversion"})
    canon = obs.loc[known, "analyte"].map(lambda a: ANALYTES[a].loinc[0])
    obs.loc[known, "code"] = canon
    obs.loc[known, "display"] = obs.loc[known, "analyte"].map(lambda a: ANALYTES[a].label)
    return obs.dropna(subset=["value"]), records


def events_of(tables: dict[str, pd.DataFrame], resource: str, codes: tuple[str, ...], classes: tuple[str, ...]) -> pd.DataFrame:
    t = tables[resource]
    if resource == "Encounter":
        keep = t["class"].isin(classes) if classes else pd.Series(True, index=t.index)
    else:
        keep = t["code"].isin([str(c) for c in codes]) if codes else pd.Series(True, index=t.index)
    return t.loc[keep]


def index_events(tables: dict[str, pd.DataFrame], rule: Any, unit: str) -> pd.DataFrame:
    """Index rows: ``row``, ``patient_id``, ``encounter_id``, ``index_date``, ``site``."""
    ev = events_of(tables, rule.resource, rule.codes, rule.encounter_class).sort_values(["patient_id", "date"], kind="mergesort")
    if unit == "patient":
        ev = ev.drop_duplicates("patient_id", keep="first")
    enc = tables["Encounter"].set_index("encounter_id")["site"] if len(tables["Encounter"]) else pd.Series(dtype=object)
    org = tables["Patient"].set_index("patient_id")["org"]
    site = ev["site"] if "site" in ev.columns else ev["encounter_id"].map(enc)
    site = site.fillna(ev["patient_id"].map(org))
    out = pd.DataFrame({"patient_id": ev["patient_id"].to_numpy(), "index_date": ev["date"].dt.normalize().to_numpy(),
                        "site": site.to_numpy()})
    if unit == "encounter":
        out.insert(1, "encounter_id", ev["encounter_id"].to_numpy())
    return out.assign(row=np.arange(len(out)))


def relative_days(cohort: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """``row`` x event pairs of the same patient with ``days`` = event date - index date (whole days)."""
    pairs = cohort[["row", "patient_id", "index_date"]].merge(events[["patient_id", "date"]], on="patient_id")
    days = (pairs["date"].dt.normalize() - pairs["index_date"]).dt.days
    return pairs.assign(days=days)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")[:40] or "unlabelled"


def _column(prefix: str, system: str, code: str, display: str) -> str:
    return f"{prefix}_{system}_{re.sub(r'[^A-Za-z0-9]+', '_', code)}_{_slug(display)}"


def features(cohort: pd.DataFrame, tables: dict[str, pd.DataFrame], obs: pd.DataFrame, rules: Any) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    """Coded features per cohort ``row`` (index of the result) and the codebook."""
    lb = rules.lookback_days
    n = len(cohort)
    parts, codebook = [], {}

    def labels(t: pd.DataFrame) -> pd.DataFrame:
        return t.groupby(["system", "code"], sort=True)["display"].agg(lambda s: next((v for v in s if v), "")).reset_index()

    for prefix, table, window in (("cond", tables["Condition"], (None, 0)), ("med", tables["MedicationRequest"], (-lb, 0))):
        rel = _window(cohort, table, window)
        for _, (system, code, display) in labels(table).iterrows():
            rows = rel.loc[rel["code"] == code, "row"].unique()
            if len(rows) < max(1, rules.min_prevalence * n):
                continue
            col = _column(prefix, system, code, display)
            parts.append(pd.Series(1, index=rows, name=col, dtype=int).reindex(cohort["row"], fill_value=0))
            codebook[col] = {"system": system, "code": code, "display": display}
    rel = _window(cohort, obs, (-lb, 0))
    for _, (system, code, display) in labels(obs).iterrows():
        sub = rel[rel["code"] == code].sort_values("date", kind="mergesort")
        if sub["row"].nunique() < max(1, rules.min_prevalence * n):
            continue
        g = sub.groupby("row")["value"]
        for stat in rules.observation_stats:
            col = f"{_column('obs', system, code, display)}_{stat}"
            parts.append(getattr(g, stat)().astype(float).rename(col).reindex(cohort["row"]))
            codebook[col] = {"system": system, "code": code, "display": display,
                             "unit": str(ANALYTES[sub["analyte"].iloc[0]].canonical) if sub["analyte"].notna().any() else ""}
    enc = _window(cohort, tables["Encounter"].assign(code=""), (-lb, -1))
    parts.append(enc.groupby("row").size().rename("n_encounters_lookback").reindex(cohort["row"], fill_value=0))
    out = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=cohort["row"])
    out.index.name = "row"
    return out, codebook


def _window(cohort: pd.DataFrame, table: pd.DataFrame, window: tuple[int | None, int]) -> pd.DataFrame:
    pairs = cohort[["row", "patient_id", "index_date"]].merge(table, on="patient_id")
    days = (pairs["date"].dt.normalize() - pairs["index_date"]).dt.days
    lo, hi = window
    keep = (days <= hi) & (days >= lo if lo is not None else True)
    return pairs.loc[keep]
