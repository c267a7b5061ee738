"""Report figures drawn from the fact sheet alone, as base64 PNG data URIs (no external files).

Every function takes the fact sheet and returns ``None`` when its data is absent, so the
template shows a figure only when there is something to show. The Agg backend is forced
per figure (``matplotlib.figure.Figure``), never through pyplot's global state.
"""

from __future__ import annotations

import base64
import io
from typing import Any

__all__ = ["FIGURES", "render_figures"]

PALETTE = {"cv": "#2a6f97", "test": "#c0504d", "external": "#6a994e", "grid": "#d9d9d9", "champion": "#1b4332",
           "promoted": "#2d6a4f", "confirmation": "#74c69d", "discarded": "#adb5bd",
           "screened": "#2d6a4f", "conditional": "#e9c46a", "exploratory": "#8d99ae", "rejected": "#c0504d",
           "unstable": "#f4a261", "low": "#2a9d8f", "intermediate": "#e9c46a", "high": "#e76f51"}
LABELS = {"cv": "cross-validation (out-of-fold)", "test": "held-out test", "external": "external"}


def _figure(width: float = 6.4, height: float = 3.6) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    fig.set_layout_engine("constrained")
    return fig


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _style(ax: Any) -> None:
    ax.grid(True, color=PALETTE["grid"], linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def trajectory(fs: dict[str, Any]) -> str | None:
    points = [p for p in fs["trajectory"] if p["value"] is not None]
    if not points:
        return None
    status = {r["result_id"]: r["status"] for r in fs["experiment_log"] if r["result_id"] is not None}
    fig = _figure(7.6, 3.4)
    ax = fig.add_subplot()
    for kind in ("discarded", "confirmation", "promoted"):
        sel = [p for p in points if status.get(p["result_id"]) == kind]
        ax.scatter([p["order"] for p in sel], [p["value"] for p in sel], s=28, color=PALETTE[kind], label=kind, zorder=3)
    champ = [(p["order"], p["champion_value"]) for p in points if p["champion_value"] is not None]
    if champ:
        ax.step([c[0] for c in champ], [c[1] for c in champ], where="post", color=PALETTE["champion"],
                linewidth=1.6, label="champion")
    metric = (fs["champion"] or {}).get("metric") or fs["design"]["metric"]
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("experiment (order recorded)")
    ax.set_ylabel(metric)
    ax.legend(frameon=False, fontsize=8)
    _style(ax)
    return _png(fig)


def _curve_sets(fs: dict[str, Any], key: str) -> list[tuple[str, dict[str, Any]]]:
    return [(s, fs["figures"][s][key]) for s in ("cv", "test", "external") if key in (fs["figures"].get(s) or {})]


def discrimination(fs: dict[str, Any]) -> str | None:
    rocs, prs = _curve_sets(fs, "roc"), _curve_sets(fs, "pr")
    if not rocs:
        return None
    fig = _figure(7.6, 3.6)
    ax1, ax2 = fig.subplots(1, 2)
    for split, c in rocs:
        ax1.plot(c["fpr"], c["tpr"], color=PALETTE[split], label=LABELS[split])
    ax1.plot([0, 1], [0, 1], color="#999999", linestyle=":", linewidth=1)
    ax1.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC", xlim=(0, 1), ylim=(0, 1.01))
    for split, c in prs:
        ax2.plot(c["recall"], c["precision"], color=PALETTE[split], label=LABELS[split])
    prevalence = (fs["figures"].get("cv") or {}).get("prevalence")
    if prevalence is not None:
        ax2.axhline(prevalence, color="#999999", linestyle=":", linewidth=1, label="prevalence")
    ax2.set(xlabel="recall (sensitivity)", ylabel="precision (PPV)", title="Precision-recall", xlim=(0, 1), ylim=(0, 1.01))
    ax1.legend(frameon=False, fontsize=8, loc="lower right")
    ax2.legend(frameon=False, fontsize=8, loc="upper right")
    _style(ax1)
    _style(ax2)
    return _png(fig)


def calibration(fs: dict[str, Any]) -> str | None:
    for key, xlabel, ylabel in (("calibration_bins", "mean predicted risk", "observed event rate"),
                                ("fit_bins", "mean predicted value", "mean observed value")):
        sets = _curve_sets(fs, key)
        if sets:
            break
    else:
        return None
    fig = _figure(4.6, 3.8)
    ax = fig.add_subplot()
    lo = min(min(b["predicted"], b["observed"]) for _, bins in sets for b in bins)
    hi = max(max(b["predicted"], b["observed"]) for _, bins in sets for b in bins)
    ax.plot([lo, hi], [lo, hi], color="#999999", linestyle=":", linewidth=1, label="ideal")
    for split, bins in sets:
        ax.plot([b["predicted"] for b in bins], [b["observed"] for b in bins], marker="o", markersize=4,
                color=PALETTE[split], label=LABELS[split])
    ax.set(xlabel=xlabel, ylabel=ylabel, title="Calibration by decile of prediction")
    ax.legend(frameon=False, fontsize=8)
    _style(ax)
    return _png(fig)


def survival(fs: dict[str, Any]) -> str | None:
    sets = [(s, k) for s, k in _curve_sets(fs, "km") if k["groups"]]
    if not sets:
        return None
    fig = _figure(3.8 * len(sets) + 0.4, 3.6)
    axes = fig.subplots(1, len(sets), squeeze=False)[0]
    for ax, (split, km) in zip(axes, sets):
        for g in km["groups"]:
            ax.step(g["time"], g["survival"], where="post", color=PALETTE[g["label"]], label=f"{g['label']} risk")
        ax.set(xlabel="time", ylabel="survival probability", title=f"Kaplan-Meier by risk tertile ({LABELS[split]})",
               ylim=(0, 1.02))
        ax.title.set_fontsize(9)
        ax.legend(frameon=False, fontsize=8)
        _style(ax)
    return _png(fig)


def confusion(fs: dict[str, Any]) -> str | None:
    sets = _curve_sets(fs, "confusion")
    if not sets:
        return None
    import numpy as np

    fig = _figure(3.9 * len(sets) + 0.6, 3.9)
    axes = fig.subplots(1, len(sets), squeeze=False)[0]
    for ax, (split, cm) in zip(axes, sets):
        m = np.asarray(cm["matrix"], dtype=float)
        share = m / np.maximum(m.sum(axis=1, keepdims=True), 1.0)
        image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
        ticks = range(len(cm["labels"]))
        ax.set_xticks(ticks, cm["labels"], rotation=60, ha="right", fontsize=7)
        ax.set_yticks(ticks, cm["labels"], fontsize=7)
        ax.set(xlabel="predicted class", ylabel="true class", title=LABELS[split])
        ax.title.set_fontsize(9)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="share of the true class")
    return _png(fig)


def _forest(rows: list[tuple[str, float, float | None, float | None, str]], ref: float | None, xlabel: str,
            title: str) -> str:
    fig = _figure(6.4, 0.8 + 0.28 * len(rows))
    ax = fig.add_subplot()
    y = list(range(len(rows)))[::-1]
    for yi, (label, value, lo, hi, color) in zip(y, rows):
        if lo is not None and hi is not None:
            ax.plot([lo, hi], [yi, yi], color=color, linewidth=1.6)
        ax.plot([value], [yi], marker="s", color=color, markersize=5)
    if ref is not None:
        ax.axvline(ref, color="#666666", linestyle=":", linewidth=1)
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    ax.set(xlabel=xlabel, title=title)
    ax.title.set_fontsize(10)
    _style(ax)
    return _png(fig)


def subgroups(fs: dict[str, Any]) -> str | None:
    rows = [(f"{s['column']} = {s['group']}", s["value"], s.get("ci_low"), s.get("ci_high"), PALETTE["cv"])
            for s in fs["subgroups"] if s["value"] is not None]
    if not rows:
        return None
    champ = fs["champion"] or {}
    ref = (champ.get("cv") or {}).get("value")
    return _forest(rows, ref, fs["subgroups"][0]["metric"], "Subgroups (out-of-fold); dotted line: overall")


def candidates(fs: dict[str, Any], limit: int = 25) -> str | None:
    rows = [(c["feature"], c["effect"], c["ci_low"], c["ci_high"], PALETTE.get(c["label"], "#555555"))
            for c in fs["candidates"][:limit] if c["effect"] is not None]
    if not rows:
        return None
    return _forest(rows, 0.0, "effect (Spearman rho with the endpoint)", "Candidate biomarkers; colour: label")


def importance(fs: dict[str, Any], limit: int = 15) -> str | None:
    imp = fs.get("importance") or {}
    rows = (imp.get("features") or [])[:limit]
    if not rows:
        return None
    fig = _figure(6.4, 0.8 + 0.26 * len(rows))
    ax = fig.add_subplot()
    y = list(range(len(rows)))[::-1]
    ax.barh(y, [r["mean"] for r in rows], xerr=[r["sd"] for r in rows], color=PALETTE["cv"], alpha=0.85,
            error_kw={"elinewidth": 0.8})
    ax.set_yticks(y, [r["feature"] for r in rows], fontsize=8)
    ax.set(xlabel=f"drop in {imp.get('metric')} when shuffled (held-out rows)", title="Permutation importance")
    ax.title.set_fontsize(10)
    _style(ax)
    return _png(fig)


FIGURES = {"trajectory": trajectory, "discrimination": discrimination, "calibration": calibration,
           "survival": survival, "confusion": confusion, "subgroups": subgroups, "candidates": candidates, "importance": importance}


def render_figures(fs: dict[str, Any]) -> dict[str, str | None]:
    """name -> data URI (or None) for every figure of the report."""
    return {name: fn(fs) for name, fn in FIGURES.items()}
