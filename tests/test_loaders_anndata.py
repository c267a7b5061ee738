"""AnnData loader: pbmc68k_reduced (macro-F1), per-cell normalisation, QC counts, HGNC mapping,
donor-grouped CV on a synthetic donor column, marker statistics against scanpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from autods.tasks import load_task
from autods.tasks.anndata_loader import hgnc_symbols
from autods.tasks.markers import marker_genes

anndata = pytest.importorskip("anndata")


def synthetic(path: Path, n_donors: int = 6, per_donor: int = 30, seed: int = 0) -> Path:
    """Integer counts for 3 cell types x 6 donors; gene G_k is high in type k; ATPIF1 is a previous symbol."""
    rng = np.random.default_rng(seed)
    n = n_donors * per_donor
    types = np.tile(np.array(["B", "NK", "T"]), n // 3 + 1)[:n]
    genes = ["GA", "GB", "GC", "ATPIF1", "ENSG00000141510", *[f"NOISE{i}" for i in range(10)]]
    lam = np.full((n, len(genes)), 2.0)
    for k, t in enumerate(["B", "NK", "T"]):
        lam[types == t, k] = 12.0
    x = rng.poisson(lam).astype(np.float32)
    x[0, :] = 0  # an empty cell: dropped by min_genes
    x[0, 0] = 1
    obs = pd.DataFrame({"cell_type": types, "donor": np.repeat([f"d{i}" for i in range(n_donors)], per_donor),
                        "louvain": rng.integers(0, 3, n).astype(str), "n_genes": (x > 0).sum(axis=1)},
                       index=[f"cell{i}" for i in range(n)])
    anndata.AnnData(X=x, obs=obs, var=pd.DataFrame(index=genes)).write_h5ad(path)
    return path


def write_task(root: Path, data: str, cohort: dict, **keys: object) -> Path:
    meta = {"name": "sc", "task_type": "singlecell", "endpoint": "cell_type", "data": data, "cohort": cohort, **keys}
    (root / "TASK.md").write_text("---\n" + yaml.safe_dump(meta) + "---\n")
    return root


def test_counts_are_normalised_per_cell_and_qc_counted(tmp_path: Path) -> None:
    synthetic(tmp_path / "sc.h5ad")
    task = load_task(write_task(tmp_path, "sc.h5ad", {"donor": "donor", "min_genes": 2}))
    raw = anndata.read_h5ad(tmp_path / "sc.h5ad")
    x1 = np.asarray(raw.X[1], dtype=float)
    expected = np.log1p(x1 / x1.sum() * 1e4)  # log1p of counts per 10,000: the cell's own total only
    assert len(task.frame) == raw.n_obs - 1  # the one empty cell
    assert np.allclose(task.frame.loc[0, ["GA", "GB", "GC"]].to_numpy(dtype=float), expected[:3])
    assert "ATP5IF1" in task.frame.columns and "ATPIF1" not in task.frame.columns
    assert "louvain" not in task.frame.columns and {"donor", "n_genes"} <= set(task.frame.columns)
    qc = next(r for r in task.provenance if r["name"] == "cell QC")
    assert qc["removed"] == 1
    mapping = next(r for r in task.provenance if r["kind"] == "mapping")
    assert mapping["renamed"] == {"ATPIF1": "ATP5IF1"} and mapping["n_not_symbols"] == 1


def test_hgnc_table_renames_only_previous_symbols() -> None:
    names, summary = hgnc_symbols(["IGJ", "CD3E", "SEPT7", "ENSG00000141510", "C1orf56"])
    assert names == ["JCHAIN", "CD3E", "SEPTIN7", "ENSG00000141510", "C1orf56"]
    assert summary["n_symbol_shaped"] == 4 and set(summary["renamed"]) == {"IGJ", "SEPT7"}


def test_donor_grouped_cv_keeps_each_donor_in_one_fold(tmp_path: Path) -> None:
    from autods.runners import evaluate

    synthetic(tmp_path / "sc.h5ad")
    task = load_task(write_task(tmp_path, "sc.h5ad", {"donor": "donor"}, id_column="donor",
                                validation="patient-grouped-cv"))
    rec = evaluate(task, n_splits=3, n_resamples=50)
    assert rec.cv.strategy == "patient-grouped-cv" and rec.cv.group_column == "donor"
    donors = task.frame["donor"].to_numpy()[rec.oof.row]
    per_donor = pd.Series(rec.oof.fold).groupby(donors).nunique()
    assert (per_donor == 1).all()
    assert rec.metric == "macro_f1" and rec.value > 0.9


def test_marker_statistics_by_hand() -> None:
    frame = pd.DataFrame({"t": ["a"] * 3 + ["b"] * 3, "g1": [3.0, 4, 5, 0, 1, 2], "g2": [1.0, 0, 1, 0, 1, 0]})
    table = marker_genes(frame, "t", ["g1", "g2"], top=None)
    a1 = table[(table.group == "a") & (table.gene == "g1")].iloc[0]
    assert a1["statistic"] == 9 and a1["auc"] == 1.0  # every 'a' cell above every 'b' cell
    assert a1["pct_in"] == 1.0 and a1["pct_out"] == pytest.approx(2 / 3)


@pytest.fixture(scope="module")
def pbmc(examples_dir: Path):
    return load_task(examples_dir / "task-singlecell-pbmc")


def test_pbmc_example_loads(pbmc) -> None:
    assert pbmc.frame.shape == (700, 769) and pbmc.frame["bulk_labels"].nunique() == 10
    drop = next(r for r in pbmc.provenance if r["kind"] == "drop")
    assert "louvain" in drop["columns"] and pbmc.spec.id_column is None  # no donor column in pbmc68k_reduced


def test_pbmc_macro_f1_on_markers(pbmc) -> None:
    from autods.runners import evaluate

    genes = ["CD3D", "CD79A", "MS4A1", "NKG7", "GNLY", "LYZ", "CST3", "FCER1A", "CD8A", "CD14", "FCGR3A", "IL7R",
             "CCR7", "S100A8", "CD34", "PPBP", "HLA-DRA", "CD4", "FOXP3", "CD2"]
    genes = [g for g in genes if g in pbmc.frame.columns]
    rec = evaluate(pbmc, {"family": "logistic", "features": genes}, n_splits=3, n_resamples=100)
    assert rec.metric == "macro_f1" and 0.3 < rec.value < 1.0 and "accuracy" in rec.secondary


@pytest.mark.slow
def test_pbmc_end_to_end(examples_dir: Path) -> None:
    from autods.runners import evaluate

    rec = evaluate(examples_dir / "task-singlecell-pbmc", n_resamples=200)
    assert rec.metric == "macro_f1" and rec.value > 0.55


@pytest.mark.slow
def test_markers_match_scanpy(pbmc) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scanpy/numba import-time deprecations
        import scanpy as sc

    genes = [c for c in pbmc.frame.columns if c not in ("bulk_labels", "n_genes", "n_counts", "percent_mito")]
    obs = pbmc.frame[["bulk_labels"]].astype("category").set_axis([f"c{i}" for i in range(len(pbmc.frame))])
    ad = anndata.AnnData(X=pbmc.frame[genes].to_numpy(dtype=float), obs=obs)
    ad.var_names = genes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.tl.rank_genes_groups(ad, "bulk_labels", method="wilcoxon", tie_correct=True, n_genes=len(genes))
    ours = marker_genes(pbmc.frame, "bulk_labels", genes, top=None).set_index(["group", "gene"])
    res = ad.uns["rank_genes_groups"]
    for group in ["CD14+ Monocyte", "CD19+ B", "CD56+ NK"]:
        ref = pd.DataFrame({"gene": res["names"][group], "p": res["pvals"][group], "q": res["pvals_adj"][group]})
        mine = ours.loc[group].loc[ref["gene"]]
        assert np.allclose(mine["p_value"], ref["p"], rtol=1e-6, atol=1e-300)
        assert np.allclose(mine["p_adjusted"], ref["q"], rtol=1e-6)
