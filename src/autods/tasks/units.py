"""Lab unit harmonisation with a recorded conversion table.

Each analyte has one canonical unit (UCUM spelling) and the LOINC codes that measure it.
A value in another unit is converted with ``canonical = value * factor + offset``; every
conversion applied is returned as a record for the task's provenance. A value whose unit
is neither canonical nor in the table is set missing and counted: guessing a unit is how
a creatinine in umol/L becomes an 88-fold outlier.

Basis of the factors (facts, reproducible by hand):

* creatinine: molar mass 113.12 g/mol, so 1 mg/dL = 10 mg/L / 113.12 g/mol = 88.4 umol/L
  (the factor 88.42 is the one printed in SI conversion tables);
* glucose: molar mass 180.16 g/mol, so 1 mmol/L = 18.016 mg/dL;
* urea nitrogen (BUN): two nitrogen atoms per urea, 28.014 g/mol, so 1 mmol/L urea = 2.8014 mg/dL BUN;
* total cholesterol: molar mass 386.65 g/mol, so 1 mmol/L = 38.67 mg/dL;
* triglycerides (as triolein): 885.7 g/mol, so 1 mmol/L = 88.57 mg/dL;
* total bilirubin: molar mass 584.66 g/mol, so 1 mg/dL = 17.1 umol/L;
* hemoglobin and albumin: mass concentrations, 1 g/dL = 10 g/L; hemoglobin in SI substance units
  counts the monomer (16,114.5 g/mol), so 1 mmol/L = 1.6114 g/dL;
* sodium and potassium: monovalent ions, 1 mEq/L = 1 mmol/L;
* HbA1c: the IFCC-NGSP master equation, NGSP % = 0.09148 * IFCC mmol/mol + 2.152;
* temperature: degrees F = degrees C * 9/5 + 32; weight: 1 lb = 0.45359237 kg (exact);
  height: 1 in = 2.54 cm (exact).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ANALYTES", "CONVERSIONS", "Analyte", "Conversion", "analyte_for_code", "convert", "harmonize_units",
           "normalize_unit"]


@dataclass(frozen=True)
class Analyte:
    name: str
    canonical: str
    loinc: tuple[str, ...]
    label: str


@dataclass(frozen=True)
class Conversion:
    """``to_canonical = value * factor + offset`` for ``analyte`` measured in ``unit``."""

    analyte: str
    unit: str
    factor: float
    offset: float = 0.0
    source: str = ""


ANALYTES: dict[str, Analyte] = {a.name: a for a in (
    Analyte("creatinine", "mg/dL", ("2160-0", "14682-9", "38483-4"), "creatinine"),
    Analyte("glucose", "mg/dL", ("2345-7", "2339-0", "14749-6", "15074-8"), "glucose"),
    Analyte("urea_nitrogen", "mg/dL", ("3094-0", "14937-7"), "urea nitrogen"),
    Analyte("cholesterol", "mg/dL", ("2093-3", "14647-2"), "cholesterol"),
    Analyte("triglycerides", "mg/dL", ("2571-8", "14927-8"), "triglycerides"),
    Analyte("bilirubin", "mg/dL", ("1975-2", "14631-6"), "bilirubin"),
    Analyte("hemoglobin", "g/dL", ("718-7", "59260-0"), "hemoglobin"),
    Analyte("albumin", "g/dL", ("1751-7", "61151-7"), "albumin"),
    Analyte("sodium", "mmol/L", ("2951-2", "2947-0"), "sodium"),
    Analyte("potassium", "mmol/L", ("2823-3", "6298-4"), "potassium"),
    Analyte("hba1c", "%", ("4548-4", "17856-6", "59261-8"), "hemoglobin A1c"),
    Analyte("body_temperature", "Cel", ("8310-5", "8331-1"), "body temperature"),
    Analyte("body_weight", "kg", ("29463-7", "3141-9"), "body weight"),
    Analyte("body_height", "cm", ("8302-2", "3137-7"), "body height"),
)}

CONVERSIONS: tuple[Conversion, ...] = (
    Conversion("creatinine", "umol/L", 1 / 88.42, source="113.12 g/mol; 1 mg/dL = 88.42 umol/L"),
    Conversion("creatinine", "mg/L", 0.1, source="1 dL = 0.1 L"),
    Conversion("glucose", "mmol/L", 18.016, source="180.16 g/mol; 1 mmol/L = 18.016 mg/dL"),
    Conversion("urea_nitrogen", "mmol/L", 2.8014, source="BUN 28.014 g/mol N2 per urea; 1 mmol/L = 2.8014 mg/dL"),
    Conversion("cholesterol", "mmol/L", 38.67, source="386.65 g/mol; 1 mmol/L = 38.67 mg/dL"),
    Conversion("triglycerides", "mmol/L", 88.57, source="885.7 g/mol (triolein); 1 mmol/L = 88.57 mg/dL"),
    Conversion("bilirubin", "umol/L", 1 / 17.1, source="584.66 g/mol; 1 mg/dL = 17.1 umol/L"),
    Conversion("hemoglobin", "g/L", 0.1, source="1 g/dL = 10 g/L"),
    Conversion("hemoglobin", "mmol/L", 1.6114, source="monomer 16,114.5 g/mol; 1 mmol/L = 1.6114 g/dL"),
    Conversion("albumin", "g/L", 0.1, source="1 g/dL = 10 g/L"),
    Conversion("sodium", "meq/L", 1.0, source="monovalent: 1 mEq/L = 1 mmol/L"),
    Conversion("potassium", "meq/L", 1.0, source="monovalent: 1 mEq/L = 1 mmol/L"),
    Conversion("hba1c", "mmol/mol", 0.09148, 2.152, source="IFCC-NGSP master equation: NGSP = 0.09148 IFCC + 2.152"),
    Conversion("body_temperature", "[degF]", 5 / 9, -32 * 5 / 9, source="C = (F - 32) * 5/9"),
    Conversion("body_weight", "[lb_av]", 0.45359237, source="1 lb = 0.45359237 kg (exact)"),
    Conversion("body_weight", "g", 0.001, source="1 g = 0.001 kg"),
    Conversion("body_height", "[in_i]", 2.54, source="1 in = 2.54 cm (exact)"),
    Conversion("body_height", "m", 100.0, source="1 m = 100 cm"),
)
_TABLE = {(c.analyte, c.unit): c for c in CONVERSIONS}
_BY_CODE = {code: a.name for a in ANALYTES.values() for code in a.loinc}

# Spellings seen in EHR extracts -> the UCUM code used above (lower-cased keys).
_ALIASES = {
    "µmol/l": "umol/L", "μmol/l": "umol/L", "umol/l": "umol/L", "micromol/l": "umol/L",
    "mg/dl": "mg/dL", "mg/l": "mg/L", "mmol/l": "mmol/L", "g/dl": "g/dL", "g/l": "g/L",
    "meq/l": "meq/L", "%": "%", "percent": "%", "mmol/mol": "mmol/mol",
    "cel": "Cel", "°c": "Cel", "degc": "Cel", "c": "Cel", "[degf]": "[degF]", "°f": "[degF]", "degf": "[degF]", "f": "[degF]",
    "kg": "kg", "g": "g", "[lb_av]": "[lb_av]", "lb": "[lb_av]", "lbs": "[lb_av]",
    "cm": "cm", "m": "m", "[in_i]": "[in_i]", "in": "[in_i]",
}


def normalize_unit(unit: object) -> str | None:
    """UCUM spelling of a unit string (``µmol/L`` -> ``umol/L``); None for a missing unit."""
    if unit is None or (isinstance(unit, float) and np.isnan(unit)):
        return None
    text = re.sub(r"\s+", "", str(unit))
    return _ALIASES.get(text.lower(), text)


def analyte_for_code(code: str) -> str | None:
    """The analyte a LOINC code measures, or None when the table does not know it."""
    return _BY_CODE.get(str(code))


def convert(values: Any, analyte: str, unit: str) -> np.ndarray:
    """``values`` in ``unit`` expressed in the analyte's canonical unit (KeyError if unknown)."""
    a = ANALYTES[analyte]
    u = normalize_unit(unit)
    x = np.asarray(values, dtype=float)
    if u == a.canonical:
        return x.copy()
    c = _TABLE[(analyte, u)]
    return x * c.factor + c.offset


def harmonize_units(frame: pd.DataFrame, *, value: str, unit: str, analyte: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Convert ``frame[value]`` to canonical units per row's ``frame[analyte]``; returns the frame and records.

    Rows whose analyte is not in :data:`ANALYTES` are left as they are. Rows of a known
    analyte in an unknown unit become missing and are counted in an ``unconvertible`` record.
    The unit column is rewritten to the canonical unit for every converted row.
    """
    out = frame.copy()
    records: list[dict[str, Any]] = []
    units = out[unit].map(normalize_unit)
    vals = pd.to_numeric(out[value], errors="coerce").astype(float)
    for (name, u), idx in out.groupby([out[analyte], units], dropna=False, sort=True).groups.items():
        if name not in ANALYTES:
            continue
        a = ANALYTES[name]
        if u == a.canonical:
            out.loc[idx, unit] = a.canonical
            continue
        conv = _TABLE.get((name, u))
        if conv is None:
            vals.loc[idx] = np.nan
            records.append({"name": f"{name} unconvertible", "analyte": name, "from": None if pd.isna(u) else u,
                            "to": a.canonical, "factor": None, "offset": None, "rows": len(idx),
                            "source": "unit not in the conversion table: value set missing"})
            continue
        vals.loc[idx] = vals.loc[idx] * conv.factor + conv.offset
        out.loc[idx, unit] = a.canonical
        records.append({"name": f"{name} {u} -> {a.canonical}", "analyte": name, "from": u, "to": a.canonical,
                        "factor": conv.factor, "offset": conv.offset, "rows": len(idx), "source": conv.source})
    out[value] = vals
    return out, records
