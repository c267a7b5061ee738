"""Diagnoses from measured evidence: what limits the metric, said by the expert brain from the
steward's aggregates, the design and the recorded results (never rows).

``diagnose(observation) -> list[Diagnosis]`` runs every detector of :data:`DETECTORS` and
returns those that fire, strongest first. A detector fires only on evidence it can cite:

=================  ==========================================================================
key                fires when
=================  ==========================================================================
nonlinearity       an additive nonlinear model (splines, EBM main effects, stumps) beats the
                   best linear one on the shared folds; with no additive model recorded, a
                   tree/kernel model beating the best linear one (paired one-sided test)
interactions       an interacting model (trees, kernels, splines/EBM with interaction terms)
                   beats the best *additive nonlinear* model on the shared folds
overfitting        the reference model's OOF calibration slope < 0.8, or its apparent
                   (training) metric exceeds its CV metric by more than 0.05
low_epv            events per candidate variable < 10 (the design's count)
site_shift         the steward's ``site_shift`` finding
missingness        a model with missingness indicators beats its twin without them, or a
                   steward finding ties a column's missingness to the outcome
class_imbalance    the smallest class is under a fifth of the largest (profile class counts)
p_over_n           candidate features >= units
subgroups          a subgroup finding (``subgroup.gap`` or any ``subgroup*`` check)
drift              a time column and a temporal finding (``temporal*`` / ``drift*`` checks)
=================  ==========================================================================

Evidence references: ``{"result": id}``, ``{"finding": post_id, "check", "feature"}`` (the
steward's per-finding post, else its summary post), ``{"profile": field, "value"}`` and
``{"design": field, "value"}``. ``strength`` in [0, 1] ranks diagnoses (1 - p for a test,
distance past the threshold otherwise); it is not a probability. Each diagnosis carries
idea sketches (:mod:`.diagnose_ideas`) whose expected effects come from recorded results
(:func:`~.diagnose_effect.expected_effect`), None where nothing related is recorded.

The class comparisons take the best recipe of each class, so a class with many recorded
recipes carries some selection optimism into its gap; the one-sided test at the promotion
level (:data:`autods.judge.paired.ALPHA`) on the corrected variance keeps a single tuned win
from firing alone, and every idea a diagnosis suggests is itself judged on the shared folds.

Modules: :mod:`.diagnose_evidence` (pooling, classes, paired gaps), :mod:`.diagnose_effect`
(expected effects), :mod:`.diagnose_records` (the records and their graph payloads),
:mod:`.diagnose_ideas` (sketches from the registry), :mod:`.diagnose_rules` (profile, design
and finding detectors); the result-based detectors live here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autods.agents.expert.diagnose_effect import Effect, expected_effect
from autods.agents.expert.diagnose_evidence import Measured, best, gap, of_class
from autods.agents.expert.diagnose_ideas import Context, compact, ensemble_of, recalibrated, shrunk_params, sketch
from autods.agents.expert.diagnose_records import Diagnosis, IdeaSketch, from_p
from autods.agents.expert.diagnose_rules import (
    class_imbalance, drift, low_epv, missingness, model_family, p_over_n, ref_params, site_shift, subgroups,
)

#: calibration slope below which predictions are too extreme (Van Calster et al. 2019, "Calibration:
#: the Achilles heel of predictive analytics"; a slope < 1 is the signature of overfitting)
SLOPE_LIMIT = 0.8
#: apparent (training) minus CV metric, on the bounded metrics (AUROC, C, R2, F1, accuracy)
TRAIN_GAP = 0.05
from autods.agents.observation import Observation


def overfitting(ctx: Context) -> Diagnosis | None:
    sign = 1.0 if ctx.hib else -1.0
    with_slope = [m for m in ctx.ms if m.calibration_slope is not None]
    target = ctx.ref if ctx.ref is not None and ctx.ref.calibration_slope is not None else best(with_slope, ctx.hib)
    with_train = [m for m in ctx.ms if m.train_value is not None]
    trained = ctx.ref if ctx.ref is not None and ctx.ref.train_value is not None else best(with_train, ctx.hib)
    parts, refs, strength = [], [], 0.0
    if target is not None and target.calibration_slope is not None and target.calibration_slope < SLOPE_LIMIT:
        s = target.calibration_slope
        parts.append(f"{target.family}'s out-of-fold calibration slope is {s:.3g} (< {SLOPE_LIMIT}): its predictions "
                     "are too extreme, the signature of overfitting")
        refs += target.refs()
        strength = min(1.0, 0.5 + (SLOPE_LIMIT - s) / SLOPE_LIMIT)
    if trained is not None and trained.train_value is not None:
        g = sign * (trained.train_value - trained.mean)
        if g > TRAIN_GAP:
            parts.append(f"{trained.family} scores {trained.train_value:.4g} on its training rows and {trained.mean:.4g} "
                         f"in CV (gap {g:.3g} > {TRAIN_GAP})")
            refs += [r for r in trained.refs() if r not in refs]
            strength = max(strength, min(1.0, 0.5 + g))
    if not parts:
        return None
    fam = model_family(ctx)
    shrunk = shrunk_params(fam, ref_params(ctx))
    works = "it beats the champion on the shared folds: variance was the limit; keep the more conservative fit"
    fails = "it does not beat the champion: the miscalibration costs calibration, not discrimination; report the slope"
    surprise = "it scores clearly below the champion: the champion's flexibility was signal, not noise"
    ideas = [
        recalibrated(ctx, target or ctx.ref, title=f"overfitting: {(target or ctx.ref).family if (target or ctx.ref) else ''}"
                                                   " recalibrated (Platt, inside the fold)",
                     if_works="the slope moves to about 1 without losing discrimination: recalibration is the fix",
                     if_fails="the slope stays below 0.8: the map learned on inner folds does not transport; shrink the model",
                     surprise_if="discrimination drops: the inner folds are too small for the map"),
        sketch(ctx, fam, shrunk, title=f"overfitting: {fam} shrunk harder", if_works=works, if_fails=fails,
               surprise_if=surprise) if shrunk is not None else None,
        sketch(ctx, "lightgbm_small", {}, title="overfitting: small, slow boosted trees", if_works=works,
               if_fails=fails, surprise_if=surprise),
        ensemble_of(ctx, _top_distinct(ctx, 2), title="overfitting: ensemble of the two best recipes",
                    if_works="averaging beats both: their errors were partly independent variance",
                    if_fails="averaging equals the better: the two make the same errors",
                    surprise_if="averaging loses to both: in-fold weights are unstable"),
    ]
    return Diagnosis("overfitting", "overfitting: " + "; ".join(parts), refs, round(strength, 4), compact(ctx, ideas))


def _top_distinct(ctx: Context, n: int) -> list[Measured]:
    """The best recipe of each of the ``n`` best families (an ensemble of one family's variants adds little)."""
    sign = 1.0 if ctx.hib else -1.0
    out, families = [], set()
    for m in sorted(ctx.ms, key=lambda m: -sign * m.mean):
        if m.family not in families and m.cls not in ("baseline", "ensemble"):
            out.append(m)
            families.add(m.family)
    return out[:n]


def _spline(ctx: Context) -> str | None:
    return ctx.first("spline_logistic", "spline_ridge", "spline_cox")


def nonlinearity(ctx: Context) -> Diagnosis | None:
    lin = best(of_class(ctx.ms, "linear"), ctx.hib)
    if lin is None:
        return None
    add = best(of_class(ctx.ms, "additive"), ctx.hib)
    flex = add if add is not None else best(of_class(ctx.ms, "interacting"), ctx.hib)
    if flex is None:
        return None
    g = gap(flex, lin, ctx.hib)
    if not g.significant:
        return None
    if add is not None:
        claim = (f"main effects are nonlinear: the best additive nonlinear model ({add.family}) beats the best linear "
                 f"model ({lin.family}) on {ctx.metric}: {g.text()}")
    else:
        claim = (f"effects are nonlinear or interacting: the best flexible model ({flex.family}) beats the best linear "
                 f"model ({lin.family}) on {ctx.metric}: {g.text()}; an additive spline model tells the two apart")
    works = f"it beats {lin.family} on the shared folds: the linear form was the limit; keep the nonlinear terms"
    fails = (f"it does not beat {lin.family}: {flex.family}'s gain came from interactions or from the selection "
             "among many recipes, not from curved main effects")
    surprise = f"it scores below {lin.family} by more than one SE: the basis overfits; shrink it harder"
    spline = _spline(ctx)
    ideas = [
        sketch(ctx, spline, {}, title=f"nonlinearity: {spline} (additive splines)", if_works=works, if_fails=fails,
               surprise_if=surprise) if spline else None,
        sketch(ctx, "ebm", {"interactions": 0}, title="nonlinearity: ebm main effects only", if_works=works,
               if_fails=fails, surprise_if=surprise),
        # stumps: boosted depth-one trees are an additive model, so they probe curvature without interactions
        sketch(ctx, ctx.first("lightgbm_small", "gb_survival") or "", {"max_depth": 1},
               title="nonlinearity: boosted stumps (additive)", if_works=works, if_fails=fails, surprise_if=surprise),
        ensemble_of(ctx, [lin, flex], title=f"nonlinearity: ensemble of {lin.family} and {flex.family}",
                    if_works="the blend beats both members: each captures part of the signal the other misses",
                    if_fails="the blend equals the better member: the nonlinear model already holds the linear signal",
                    surprise_if="the blend scores below the better member: the selection inside folds is unstable"),
    ]
    return Diagnosis("nonlinearity", claim, lin.refs() + flex.refs(), from_p(g.p_value), compact(ctx, ideas))


def interactions(ctx: Context) -> Diagnosis | None:
    inter = best(of_class(ctx.ms, "interacting"), ctx.hib)
    if inter is None or not of_class(ctx.ms, "additive"):
        return None  # without an additive nonlinear model a tree's gain cannot be told from curvature
    # a linear model is additive too: the interacting model must beat the best of both
    add = best(of_class(ctx.ms, "additive", "linear"), ctx.hib)
    assert add is not None
    g = gap(inter, add, ctx.hib)
    if not g.significant:
        return None
    claim = (f"effects interact: the best interacting model ({inter.family}) beats the best additive model "
             f"({add.family}) on {ctx.metric}: {g.text()}")
    works = f"it beats {add.family}: pairwise terms carry signal the additive model misses; name the pairs"
    fails = f"it does not beat {add.family}: {inter.family}'s gain is not pairwise structure (higher order, or noise)"
    surprise = f"it scores below {add.family} by more than one SE: the interaction terms overfit at this sample size"
    spline = _spline(ctx)
    ideas = [
        sketch(ctx, spline, {"interactions": True}, title=f"interactions: {spline} with pairwise terms",
               if_works=works, if_fails=fails, surprise_if=surprise) if spline else None,
        sketch(ctx, "ebm", {"interactions": 15}, title="interactions: ebm with 15 pairwise terms", if_works=works,
               if_fails=fails, surprise_if=surprise),
        sketch(ctx, ctx.first("lightgbm", "gb_survival") or "", {}, title="interactions: boosted trees",
               if_works="deeper trees beat the additive model: interactions of higher order matter",
               if_fails="boosted trees tie the additive model: the interacting model's gain was its own quirk",
               surprise_if="boosted trees lose clearly to the additive model: too few events for deep trees"),
        ensemble_of(ctx, [add, inter], title=f"interactions: ensemble of {add.family} and {inter.family}",
                    if_works="the blend beats both: the additive model is steadier where interactions are weak",
                    if_fails="the blend equals the interacting model: it already contains the additive signal",
                    surprise_if="the blend loses to both members: the in-fold weights are unstable"),
    ]
    return Diagnosis("interactions", claim, add.refs() + inter.refs(), from_p(g.p_value), compact(ctx, ideas))


#: every detector, in the order they are run; each returns a Diagnosis or None
DETECTORS: tuple[tuple[str, Callable[[Context], Diagnosis | None]], ...] = (
    ("nonlinearity", nonlinearity), ("interactions", interactions), ("overfitting", overfitting),
    ("low_epv", low_epv), ("site_shift", site_shift), ("missingness", missingness),
    ("class_imbalance", class_imbalance), ("p_over_n", p_over_n), ("subgroups", subgroups), ("drift", drift),
)


def effect_of(obs: Observation, target: str | dict[str, Any]) -> Effect:
    """:func:`expected_effect` of a family, recipe or idea over this observation's champion."""
    return expected_effect(obs.results, target, higher_is_better=obs.task.higher_is_better, champion=obs.champion)


def diagnose(obs: Observation) -> list[Diagnosis]:
    """Every diagnosis the observation's evidence supports, strongest first (ties: detector order)."""
    ctx = Context.of(obs)
    found = [d for _, detect in DETECTORS if (d := detect(ctx)) is not None]
    return sorted(found, key=lambda d: -d.strength)


__all__ = ["DETECTORS", "Diagnosis", "Effect", "IdeaSketch", "SLOPE_LIMIT", "TRAIN_GAP", "diagnose", "effect_of", "expected_effect",
           "interactions", "nonlinearity", "overfitting"]
