"""AnnData ``.h5ad`` -> one row per cell: gene expression columns (HGNC symbols) plus per-cell QC.

TASK.md (``task_type: singlecell``; ``format: anndata`` is implied by ``.h5ad``)::

    endpoint: bulk_labels            # the obs column holding the cell type
    cohort:
      matrix: auto                   # auto (.raw when present, else X) | raw | X | a layer name
      normalize: auto                # auto | log1p_cp10k | none
      donor: donor_id                # obs column: becomes a column; set id_column to it for donor-grouped CV
      min_genes: 200                 # QC: cells with fewer detected genes are dropped
      max_percent_mito: 10           # QC: cells above this mitochondrial share are dropped
      min_cells: 3                   # genes detected in fewer cells are dropped (label-blind)

What is fold-safe and why: library-size normalisation (counts per 10,000, then ``log1p``)
uses one cell's own counts, so computing it at load equals computing it inside each fold;
every statistic across cells (gene means and variances for scaling) is left to the recipe's
preprocessing, which is fitted inside folds. Matrices already scaled across all cells
(scanpy's ``.X`` after ``sc.pp.scale``) are therefore not used when ``.raw`` exists, and obs
columns computed from the whole dataset (clusterings such as ``louvain``/``leiden``, cell
cycle scores, embeddings) are dropped with that reason in the provenance. Only per-cell
measurements (``n_genes``, ``n_counts``, ``percent_mito`` and their scanpy QC aliases) stay.

Gene identifiers: var names that look like HGNC symbols are checked against a small
bundled table of previous -> approved symbols (``data/hgnc_previous_symbols.txt``) and
renamed; Ensembl IDs or other identifiers are kept and counted (no offline mapping).
"""

from __future__ import annotations

import re
import warnings
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from autods.errors import DataError
from autods.tasks.provenance import Provenance
from autods.tasks.registry import cohort_settings, resolve_source
from autods.tasks.spec import TaskSpec

__all__ = ["AnnDataSettings", "PER_CELL_QC", "hgnc_symbols", "load", "read_h5ad"]

#: obs columns that are measurements of one cell (scanpy's names and calculate_qc_metrics' names).
PER_CELL_QC = ("n_genes", "n_counts", "percent_mito", "n_genes_by_counts", "total_counts", "pct_counts_mt")
_SYMBOL = re.compile(r"^[A-Z][A-Z0-9-]*(orf[0-9]+)?(\.[0-9]+)?$")
#: Ensembl gene/transcript/protein IDs are symbol-shaped but are not symbols.
_ENSEMBL = re.compile(r"^ENS[A-Z]*[GTP][0-9]{6,}(\.[0-9]+)?$")


class AnnDataSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    matrix: str = "auto"
    normalize: Literal["auto", "log1p_cp10k", "none"] = "auto"
    donor: str | None = None
    batch: str | None = None
    obs_features: tuple[str, ...] | None = None
    min_genes: int = Field(default=0, ge=0)
    max_percent_mito: float | None = None
    min_cells: int = Field(default=0, ge=0)
    hgnc: Literal["rename", "check", "off"] = "rename"


@cache
def _previous_symbols() -> dict[str, str]:
    text = resources.files("autods.tasks").joinpath("data/hgnc_previous_symbols.txt").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return {prev: approved for prev, approved in rows[1:]}


def hgnc_symbols(names: list[str]) -> tuple[list[str], dict[str, Any]]:
    """(names with previous HGNC symbols replaced by approved ones, a summary for the provenance)."""
    table = _previous_symbols()
    out, renamed, non_symbol = [], {}, []
    for name in names:
        if not _SYMBOL.match(name) or _ENSEMBL.match(name):
            non_symbol.append(name)
            out.append(name)
        elif name in table:
            renamed[name] = table[name]
            out.append(table[name])
        else:
            out.append(name)
    summary = {"n_genes": len(names), "n_symbol_shaped": len(names) - len(non_symbol), "renamed": renamed,
               "n_not_symbols": len(non_symbol), "examples_not_symbols": non_symbol[:5]}
    return out, summary


def read_h5ad(path: Path) -> Any:
    try:
        import anndata
    except ModuleNotFoundError:
        raise DataError("reading .h5ad needs the package 'anndata'", "pip install 'autods[omics]'") from None
    with warnings.catch_warnings():
        # Old h5ad layouts (scanpy's bundled pbmc68k_reduced) trigger anndata's migration notices
        # (OldFormatWarning, FutureWarning): about the file's layout, not about the data.
        warnings.filterwarnings("ignore", module=r"anndata\..*")
        try:
            return anndata.read_h5ad(path)
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"'{path.name}' is not a readable .h5ad file ({str(exc).splitlines()[0]})",
                            "write it with anndata's write_h5ad") from None


def _matrix(adata: Any, which: str) -> tuple[Any, list[str], str]:
    if which == "auto":
        which = "raw" if adata.raw is not None else "X"
    if which == "raw":
        if adata.raw is None:
            raise DataError("cohort.matrix is 'raw' but the file has no .raw", "use matrix: X or a layer name")
        return adata.raw.X, list(map(str, adata.raw.var_names)), ".raw.X"
    if which == "X":
        return adata.X, list(map(str, adata.var_names)), ".X"
    if which not in adata.layers:
        raise DataError(f"cohort.matrix '{which}' is not a layer of the file", f"use auto, raw, X or one of {list(adata.layers)}")
    return adata.layers[which], list(map(str, adata.var_names)), f".layers['{which}']"


def _dense(m: Any) -> np.ndarray:
    return np.asarray(m.toarray() if hasattr(m, "toarray") else m, dtype=float)


def load(spec: TaskSpec, prov: Provenance) -> pd.DataFrame:
    """The AnnData loader registered as ``format: anndata``."""
    s = cohort_settings(AnnDataSettings, spec)
    if len(spec.data) != 1:
        raise DataError("a single-cell task reads exactly one .h5ad file", "set data: to one .h5ad file")
    path, package = resolve_source(spec, spec.data[0])
    prov.source(spec.data[0], path, package)
    adata = read_h5ad(path)
    prov.step("cells read", adata.n_obs, detail=f"{adata.n_vars} genes in .X")
    m, genes, where = _matrix(adata, s.matrix)
    x = _dense(m)
    counts = bool(np.all(np.equal(np.mod(x[: min(len(x), 200)], 1), 0)))
    normalize = s.normalize if s.normalize != "auto" else ("log1p_cp10k" if counts else "none")
    obs = adata.obs
    keep = _obs_columns(spec, s, obs)
    dropped = [c for c in obs.columns if c not in keep]
    prov.drop("obs columns", dropped, "not a per-cell measurement: computed across cells (clusters, scores) "
                                      "or not requested; only per-cell QC, the label, donor and batch are kept")
    detected = (x > 0).sum(axis=1)
    cell_ok = detected >= s.min_genes
    if s.max_percent_mito is not None and "percent_mito" in obs.columns:
        mito = obs["percent_mito"].to_numpy(dtype=float)
        mito = mito * 100 if np.nanmax(mito) <= 1 else mito  # scanpy stores a fraction, QC metrics a percent
        cell_ok &= mito <= s.max_percent_mito
    prov.step("cell QC", int(cell_ok.sum()), removed=int((~cell_ok).sum()),
              detail=f"min_genes={s.min_genes}, max_percent_mito={s.max_percent_mito}")
    x = x[cell_ok]
    gene_ok = (x > 0).sum(axis=0) >= s.min_cells
    genes = [g for g, ok in zip(genes, gene_ok) if ok]
    x = x[:, gene_ok]
    prov.step("gene QC", len(x), detail=f"{len(genes)} genes kept, {int((~gene_ok).sum())} dropped: "
                                      f"detected in fewer than {s.min_cells} cells (label-blind)")
    if normalize == "log1p_cp10k":
        lib = x.sum(axis=1, keepdims=True)
        x = np.log1p(x / np.where(lib > 0, lib, 1) * 1e4)
    prov.step("expression matrix", len(x), detail=f"{where}; normalisation: {normalize} (per cell, so fold-safe); "
                                                    "gene scaling is left to the recipe, inside folds")
    if s.hgnc != "off":
        renamed, summary = hgnc_symbols(genes)
        prov.records.append({"kind": "mapping", "name": "HGNC symbols", **summary,
                             "applied": s.hgnc == "rename"})
        if s.hgnc == "rename":
            genes = renamed
    dupes = sorted({g for g in genes if genes.count(g) > 1}) if len(set(genes)) < len(genes) else []
    if dupes:
        raise DataError(f"gene names repeat after symbol mapping ({dupes[:3]})", "set cohort.hgnc: check, or make var names unique")
    clash = sorted(set(genes) & set(keep))
    if clash:
        raise DataError(f"obs column(s) {clash} share a name with a gene", "rename the obs column")
    frame = pd.concat([obs.loc[cell_ok, keep].reset_index(drop=True), pd.DataFrame(x, columns=genes)], axis=1)
    for col in keep:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(str)
    prov.step("cell table", len(frame), units=frame[s.donor].nunique() if s.donor else None,
              detail=f"{len(genes)} genes + {len(keep)} obs columns")
    return frame


def _obs_columns(spec: TaskSpec, s: AnnDataSettings, obs: pd.DataFrame) -> list[str]:
    wanted = list(spec.endpoint.columns)
    for col in (s.donor, s.batch, spec.id_column, spec.site_column):
        if col and col not in wanted:
            wanted.append(col)
    extra = s.obs_features if s.obs_features is not None else tuple(c for c in PER_CELL_QC if c in obs.columns)
    missing = [c for c in [*wanted, *extra] if c not in obs.columns]
    if missing:
        raise DataError(f"obs column '{missing[0]}' is not in the .h5ad file", f"use one of: {', '.join(map(str, obs.columns[:15]))}")
    return wanted + [c for c in extra if c not in wanted]
