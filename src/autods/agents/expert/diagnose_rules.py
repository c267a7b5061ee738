"""Detectors that read the design, the steward's profile and findings (and, for missingness,
indicator twins among the recorded recipes). See
:mod:`autods.agents.expert.diagnose` for the table of keys and firing rules.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

from autods.agents.expert import evidence as ev
from autods.agents.expert.diagnose_evidence import Measured, gap
from autods.agents.expert.diagnose_ideas import CALIBRATED, ENSEMBLE, Context, compact, recalibrated, sketch
from autods.agents.expert.diagnose_records import Diagnosis, from_p
from autods.agents.expert.library import EPV_LIMIT
from autods.agents.snapshot import SUMMARY_KEY
from autods.runners.recipe import DEFAULT_FAMILY

#: smallest / largest class count below which the rare class is under-represented
IMBALANCE_RATIO = 0.2
#: candidate features per unit at which p >> n holds
P_OVER_N = 1.0
_SITE = re.compile(r"across '([^']+)'")


def finding_ref(ctx: Context, f: dict[str, Any]) -> dict[str, Any]:
    """The steward's post of this finding (warnings and blocking ones have their own), else its summary post."""
    summary_post = None
    for post in ctx.obs.posts:
        if post.get("kind") != "finding":
            continue
        d = post.get("data") or {}
        if d.get("check") == f.get("check") and d.get("feature") == f.get("feature") \
                and d.get("message", f.get("message")) == f.get("message"):
            return {"finding": int(post["id"]), "check": f.get("check"), "feature": f.get("feature")}
        if summary_post is None and ev.post_json(post, SUMMARY_KEY) is not None:
            summary_post = int(post["id"])
    return {"finding": summary_post, "check": f.get("check"), "feature": f.get("feature")} if summary_post is not None \
        else {"profile": "findings", "check": f.get("check"), "feature": f.get("feature")}


def findings(ctx: Context, keep: Callable[[dict[str, Any]], bool]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for f in ctx.summary.get("findings", ctx.obs.task.findings):
        if keep(f):
            yield f, finding_ref(ctx, f)


def model_family(ctx: Context) -> str:
    """The family single-change ideas keep: the reference's, else the task's default."""
    if ctx.ref is not None and ctx.ref.family not in (ENSEMBLE, CALIBRATED, "dummy", ""):
        return ctx.ref.family
    return DEFAULT_FAMILY[ctx.obs.task.task_type]


def ref_params(ctx: Context) -> dict[str, Any]:
    return dict(ctx.ref.recipe.get("params") or {}) if ctx.ref is not None and ctx.ref.family == model_family(ctx) else {}


_PENALISED: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "binary": [("elastic_net", {"alpha": 0.1}), ("logistic", {"C": 0.1}), ("lightgbm_small", {})],
    "multiclass": [("elastic_net", {"alpha": 0.1}), ("logistic", {"C": 0.1})],
    "regression": [("ridge", {"alpha": 10.0}), ("lasso", {"alpha": 0.1}), ("lightgbm_small", {})],
    "survival": [("coxnet", {"alpha": 0.1}), ("cox", {"alpha": 10.0}), ("componentwise_gb", {})],
}
_SPARSE: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "binary": [("elastic_net", {"l1_ratio": 0.9}), ("logistic", {"C": 0.05})],
    "multiclass": [("elastic_net", {"l1_ratio": 0.9}), ("logistic", {"C": 0.05})],
    "regression": [("lasso", {}), ("elastic_net", {"l1_ratio": 0.9}), ("ridge", {"alpha": 10.0})],
    "survival": [("coxnet", {"l1_ratio": 0.9}), ("componentwise_gb", {})],
}


def low_epv(ctx: Context) -> Diagnosis | None:
    epv = ctx.design.get("events_per_variable", ctx.summary.get("events_per_variable"))
    if epv is None or not math.isfinite(float(epv)) or float(epv) >= EPV_LIMIT:
        return None
    epv = float(epv)
    n_events = ctx.design.get("n_events", ctx.summary.get("n_events"))
    claim = (f"too few events per variable: {epv:.1f} events per candidate variable ({n_events} events) is below "
             f"{EPV_LIMIT:g}; flexible fits are unstable and even a linear model needs shrinkage")
    works = f"it beats the champion: at {epv:.1f} events per variable variance was the limit; stay shrunk"
    fails = ("it does not beat the champion: the limit is information, not variance; fewer prespecified predictors "
             "or more events help, a cleverer model does not")
    surprise = "a barely penalised model wins clearly: a few strong predictors carry the signal; check them for leakage"
    ideas = [sketch(ctx, f, p, title=f"low EPV: {f} {p or 'defaults'}", if_works=works, if_fails=fails,
                    surprise_if=surprise) for f, p in _PENALISED.get(ctx.kind, [])]
    refs = [ctx.cite("design", "events_per_variable", epv), ctx.cite("design", "n_events", n_events)]
    return Diagnosis("low_epv", claim, refs, round(min(1.0, 0.5 + (EPV_LIMIT - epv) / (2 * EPV_LIMIT)), 4),
                     compact(ctx, ideas))


def site_shift(ctx: Context) -> Diagnosis | None:
    found = list(findings(ctx, lambda f: f.get("check") == "site_shift"))
    if not found:
        return None
    sites = sorted({m.group(1) for f, _ in found if (m := _SITE.search(str(f.get("message") or "")))})
    outcome = any("outcome rate" in str(f.get("message") or "") for f, _ in found)
    shifted = sorted({str(f["feature"]) for f, _ in found if f.get("feature") and "outcome rate" not in str(f.get("message"))})
    where = f"across {', '.join(repr(s) for s in sites)}" if sites else "across sites"
    said = [f"{', '.join(shifted[:6])} differ{'s' if len(shifted) == 1 else ''} strongly {where}"] if shifted else []
    if outcome:
        said.append(f"the outcome rate differs strongly {where}, so a pooled model is miscalibrated at some sites")
    claim = f"site or batch shift: {'; '.join(said)}; a model fitted on pooled sites may not transport"
    fam, names = model_family(ctx), ctx.feature_names()
    works = "it beats the champion: the shift was measurement (batch), removable inside the training fold"
    fails = ("it does not beat the champion: the differences are case mix, or CV mixes sites so the shift costs "
             "nothing here; only site-grouped validation tells")
    surprise = "it loses clearly: the site differences carry outcome signal the model was using"
    ideas = []
    for site in sites if shifted else ():  # harmonising features cannot move an outcome rate
        if site in names:
            for how in ("site_standardize", "combat"):
                feats = ctx.base().get("features")
                ideas.append(sketch(ctx, fam, ref_params(ctx), title=f"site shift: {fam} with {how} on '{site}'",
                                    preprocess={"harmonize": how, "harmonize_site": site},
                                    features=None if feats is None else sorted(set(feats) | {site}),
                                    if_works=works, if_fails=fails, surprise_if=surprise))
    kept = [n for n in names if n not in shifted]
    if kept and len(kept) < len(names):
        ideas.append(sketch(ctx, fam, ref_params(ctx), title=f"site shift: {fam} without the shifted features",
                            features=kept, if_works="it ties or beats the champion: the shifted features were not needed",
                            if_fails="it loses: the shifted features carry signal; harmonise them instead of dropping",
                            surprise_if="it wins clearly: the shifted features were fitting site, not outcome"))
    if outcome:
        ideas.append(recalibrated(ctx, ctx.ref, title="site shift: recalibrated inside the fold",
                                  if_works="calibration improves: the outcome-rate shift was the miscalibration",
                                  if_fails="calibration does not move: the rate shift is absorbed already",
                                  surprise_if="discrimination drops: inner folds are too small for the map"))
    strength = min(0.9, 0.5 + 0.1 * len(found))
    return Diagnosis("site_shift", claim, [r for _, r in found], round(strength, 4), compact(ctx, ideas))


def _twin_key(m: Measured) -> str:
    """Recipes equal but for missingness indicators. The fill value is ignored too: the library's
    contrast is median-with-indicators against mean-without, and a median or a mean fill moves a
    linear model far less than telling it which values were missing."""
    r = m.recipe
    pre = {k: v for k, v in (r.get("preprocess") or {}).items() if k not in ("add_indicator", "impute")}
    return json.dumps([r.get("family"), r.get("params"), r.get("features"), pre], sort_keys=True, default=str)


def _indicator(m: Measured) -> bool:
    return bool((m.recipe.get("preprocess") or {}).get("add_indicator", True))


def missingness(ctx: Context) -> Diagnosis | None:
    parts, refs, strength = [], [], 0.0
    twins: dict[str, dict[bool, Measured]] = {}
    for m in ctx.ms:
        twins.setdefault(_twin_key(m), {})[_indicator(m)] = m
    for pair in twins.values():
        if True in pair and False in pair:
            g = gap(pair[True], pair[False], ctx.hib)
            if g.significant:
                fills = {str((m.recipe.get("preprocess") or {}).get("impute", "median")) for m in pair.values()}
                also = "" if len(fills) == 1 else f" (fills {' vs '.join(sorted(fills))})"
                parts.append(f"{pair[True].family} with missingness indicators beats its twin without them{also}: "
                             f"{g.text()}")
                refs += pair[True].refs() + pair[False].refs()
                strength = max(strength, from_p(g.p_value))
    tied = list(findings(ctx, lambda f: f.get("check") in ("post_outcome", "first_record_gap")
                         and ("(missingness)" in str(f.get("message")) or "its missingness" in str(f.get("message")))))
    if tied:
        cols = sorted({str(f.get("feature")) for f, _ in tied})
        parts.append(f"the steward found whether {', '.join(cols[:6])} is recorded tied to the outcome")
        refs += [r for _, r in tied]
        strength = max(strength, 0.5)
    if not parts:
        return None
    missing = [c for c in ctx.summary.get("features", []) if float(c.get("missing_fraction") or 0.0) >= 0.05]
    refs += [ctx.cite("profile", f"features.{c['name']}.missing_fraction", c["missing_fraction"]) for c in missing[:10]]
    fam = model_family(ctx)
    works = ("it beats the champion: whether a value is recorded carries outcome signal (the process of care); "
             "report it as that, not as biology")
    fails = "it does not beat the champion: the observed values already carry what the missingness said"
    surprise = "it loses clearly: the indicators add noise dimensions at this sample size"
    ideas = [sketch(ctx, fam, ref_params(ctx), title=f"missingness: {fam} with missingness indicators",
                    preprocess={"add_indicator": True}, if_works=works, if_fails=fails, surprise_if=surprise)]
    ideas += [sketch(ctx, f, {}, title=f"missingness: {f} with indicators", preprocess={"add_indicator": True},
                     if_works=works, if_fails=fails, surprise_if=surprise)
              for f in (ctx.first("lightgbm", "gb_survival"),) if f]
    claim = "informative missingness: " + "; ".join(parts)
    if tied:
        claim += " (flagged columns stay out of every recipe: their missingness may be recorded after the outcome)"
    return Diagnosis("missingness", claim, refs, round(strength, 4), compact(ctx, ideas))


def class_imbalance(ctx: Context) -> Diagnosis | None:
    counts = {str(k): int(v) for k, v in (ctx.summary.get("class_counts") or {}).items()}
    if ctx.kind not in ("binary", "multiclass") or len(counts) < 2 or max(counts.values()) <= 0:
        return None
    rare = min(counts, key=lambda k: counts[k])
    ratio = counts[rare] / max(counts.values())
    if ratio >= IMBALANCE_RATIO:
        return None
    share = counts[rare] / sum(counts.values())
    rank_metric = ctx.metric in ("auroc", "c_index")
    claim = (f"class imbalance: the rarest class '{rare}' is {share:.1%} of rows ({counts[rare]} of "
             f"{sum(counts.values())}), {ratio:.2f} of the largest class")
    fails = ("it does not beat the champion: " + (f"{ctx.metric} is prevalence-invariant, so imbalance limits precision "
             "and calibration, not the ranking; report AUPRC and calibration" if rank_metric
             else "the minority is not under-fitted; the limit is its number of events"))
    ideas = []
    for f in dict.fromkeys([model_family(ctx), "logistic", "spline_logistic"]):
        if ctx.registered(f) and "class_weight" in _param_names(f):
            params = {**(ref_params(ctx) if f == model_family(ctx) else {}), "class_weight": "balanced"}
            ideas.append(sketch(ctx, f, params, title=f"imbalance: {f} with balanced class weights",
                                if_works="it beats the champion: the minority class was under-fitted",
                                if_fails=fails, surprise_if="it loses clearly: reweighting inflated minority noise"))
    ideas.append(recalibrated(ctx, ctx.ref, title="imbalance: recalibrated inside the fold",
                              if_works="calibration in the large improves: predicted risks now match the prevalence",
                              if_fails="calibration does not move: the champion's risks already match the prevalence",
                              surprise_if="discrimination drops: the rare class is too small for the inner folds"))
    strength = min(1.0, 0.5 + (IMBALANCE_RATIO - ratio) / (2 * IMBALANCE_RATIO))
    return Diagnosis("class_imbalance", claim, [ctx.cite("profile", "class_counts", counts)], round(strength, 4),
                     compact(ctx, ideas))


def _param_names(family: str) -> list[str]:
    from autods.runners.families import FAMILIES

    return FAMILIES[family].param_names


def p_over_n(ctx: Context) -> Diagnosis | None:
    p = len(ctx.summary.get("features", ctx.obs.task.features))
    n = int(ctx.summary.get("n_units") or ctx.obs.task.n_units or 0)
    if n <= 0 or p / n < P_OVER_N:
        return None
    claim = f"p >> n: {p} candidate features for {n} units; without selection or strong shrinkage the fit is noise"
    works = f"it beats the champion: with {p} features for {n} units variance dominated; keep the selection in the folds"
    fails = "it does not beat the champion: the signal is spread over many weak features, or there is little of it"
    surprise = "a dense flexible model wins clearly: check the winners for leakage first"
    ideas = [sketch(ctx, f, q, title=f"p >> n: {f} {q or 'defaults'}", if_works=works, if_fails=fails,
                    surprise_if=surprise) for f, q in _SPARSE.get(ctx.kind, [])]
    strength = min(1.0, 0.5 + 0.25 * math.log2(p / n))
    return Diagnosis("p_over_n", claim, [ctx.cite("profile", "n_features", p), ctx.cite("profile", "n_units", n)],
                     round(strength, 4), compact(ctx, ideas))


def subgroups(ctx: Context) -> Diagnosis | None:
    found = list(findings(ctx, lambda f: str(f.get("check") or "").startswith("subgroup")))
    if not found:
        return None
    cols = sorted({str(f.get("feature")) for f, _ in found if f.get("feature")})
    claim = (f"heterogeneous subgroups: performance differs by {', '.join(cols) or 'subgroup'} "
             f"({'; '.join(str(f.get('message')) for f, _ in found[:3])})")
    works = "it closes the subgroup gap: the effect differs by subgroup and the model can now learn it"
    fails = ("the gap stays: the subgroup differs in outcome process or unmeasured predictors; report it separately")
    surprise = "the gap widens: the flexible model fits the majority better still"
    spline = ctx.first("spline_logistic", "spline_ridge", "spline_cox")
    ideas = [sketch(ctx, spline, {"interactions": True}, title=f"subgroups: {spline} with pairwise terms",
                    if_works=works, if_fails=fails, surprise_if=surprise) if spline else None,
             sketch(ctx, ctx.first("lightgbm", "rsf") or "", {}, title="subgroups: trees split on the subgroup",
                    if_works=works, if_fails=fails, surprise_if=surprise)]
    return Diagnosis("subgroups", claim, [r for _, r in found], round(min(0.9, 0.5 + 0.1 * len(found)), 4),
                     compact(ctx, ideas))


def drift(ctx: Context) -> Diagnosis | None:
    time = ctx.summary.get("time_column")
    if not time:
        return None
    found = list(findings(ctx, lambda f: str(f.get("check") or "").startswith(("temporal", "drift", "time_shift"))))
    if not found:
        return None
    claim = (f"drift over time (time column '{time}'): "
             f"{'; '.join(str(f.get('message')) for f, _ in found[:3])}; a model fitted on the past may not hold")
    fam = model_family(ctx)
    ideas = [sketch(ctx, fam, ref_params(ctx), title=f"drift: {fam} with calendar time as days",
                    preprocess={"datetime": "days"},
                    if_works="it beats the champion: a secular trend is learnable (check it on the temporal split)",
                    if_fails="it does not beat the champion: the drift is in case mix, not a trend in the outcome",
                    surprise_if="it wins by a lot: calendar time may leak the outcome; check dated-after-index"),
             recalibrated(ctx, ctx.ref, title="drift: recalibrated inside the fold",
                          if_works="calibration improves: the drift moved the baseline risk",
                          if_fails="calibration does not move: the drift is not in the intercept",
                          surprise_if="discrimination drops: the inner folds mix periods")]
    return Diagnosis("drift", claim, [r for _, r in found], round(min(0.9, 0.5 + 0.1 * len(found)), 4),
                     compact(ctx, ideas))


__all__ = ["IMBALANCE_RATIO", "P_OVER_N", "class_imbalance", "drift", "finding_ref", "low_epv", "missingness",
           "model_family", "p_over_n", "ref_params", "site_shift", "subgroups"]
