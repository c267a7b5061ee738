"""Candidate marker genes per cell type: one-vs-rest Wilcoxon rank-sum tests with Benjamini-Hochberg FDR.

The statistics match scanpy's ``rank_genes_groups(method="wilcoxon", tie_correct=True)``
(normal approximation, tie-corrected variance, no continuity correction, BH within each
group) and are computed with scipy and statsmodels, so scanpy is not needed to run them.

This is a descriptive analysis of the rows it is given. Used to *choose* features for a
classifier, it must run on training rows only, inside each fold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu
from statsmodels.stats.multitest import multipletests

__all__ = ["MARKER_COLUMNS", "marker_genes"]

MARKER_COLUMNS = ("group", "gene", "log2_fold_change", "auc", "statistic", "p_value", "p_adjusted", "pct_in", "pct_out")


def marker_genes(frame: pd.DataFrame, label: str, genes: list[str], *, top: int | None = 10,
                 alpha: float = 0.05) -> pd.DataFrame:
    """One row per (group, gene): effect, Wilcoxon p-value and BH-adjusted p within the group.

    ``log2_fold_change`` is on ``expm1`` of log1p-normalised expression (scanpy's
    convention); ``auc`` is P(expression in group > rest) (Mann-Whitney U / n1 n2), a scale-free
    effect. ``top`` keeps the genes with the largest AUC among those with ``p_adjusted < alpha``
    per group (None keeps every gene).
    """
    x = frame[genes].to_numpy(dtype=float)
    labels = frame[label].astype(str).to_numpy()
    rows = []
    for group in sorted(np.unique(labels)):
        inside = labels == group
        a, b = x[inside], x[~inside]
        if len(a) < 2 or len(b) < 2:
            continue
        u, p = mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=False, axis=0)
        p = np.where(np.isnan(p), 1.0, p)  # a gene constant across all cells carries no evidence
        p_adj = multipletests(p, method="fdr_bh")[1]
        mean_in, mean_out = np.expm1(a).mean(axis=0), np.expm1(b).mean(axis=0)
        lfc = np.log2((mean_in + 1e-9) / (mean_out + 1e-9))
        auc = u / (len(a) * len(b))
        table = pd.DataFrame({"group": group, "gene": genes, "log2_fold_change": lfc, "auc": auc,
                              "statistic": u, "p_value": p, "p_adjusted": p_adj,
                              "pct_in": (a > 0).mean(axis=0), "pct_out": (b > 0).mean(axis=0)})
        if top is not None:
            table = table[table["p_adjusted"] < alpha].sort_values("auc", ascending=False, kind="mergesort").head(top)
        rows.append(table)
    if not rows:
        return pd.DataFrame(columns=list(MARKER_COLUMNS))
    return pd.concat(rows, ignore_index=True)[list(MARKER_COLUMNS)]
