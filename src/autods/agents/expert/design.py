"""The biostatistician's policy: design choices from the steward's findings, the baseline
proposals, and objections to models with too many parameters for the events.

The judge has already locked the metric, the CV strategy and the held-out split (they are
the steward summary's ``metric`` / ``cv_strategy``); the design post states them with their
reasons and adds the modelling consequences other agents act on:

* events per variable < 10 -> ``penalise``: penalised linear models first, flexible models
  in a constrained space, unpenalised fits refused (Riley et al.; Peduzzi et al.);
* features with a leakage warning -> ``unsafe_features``, left out of every feature set;
* at most :data:`~autods.agents.expert.library.PORTFOLIO_MAX_ROWS` rows -> ``portfolio``: the
  analysts' menu holds the whole model portfolio (splines, small-data and explainable boosting,
  extra trees, k-NN, SVM; AFT, componentwise boosting and extra survival trees), not only the
  core families: on a small or medium cohort a structured linear or small-data model may beat the
  default model, and the portfolio's costliest fits (explainable boosting, the SVM) stay affordable;
* confounders and subgroups to report, right-skewed and site-shifted features to consider.
"""

from __future__ import annotations

import json
from typing import Any

from autods.agents.actions import Action, Critique, Post, Propose, Wait
from autods.agents.expert import critic
from autods.agents.expert import evidence as ev
from autods.agents.expert.library import (
    EPV_LIMIT, LOW_EPV_DEFAULTS, PORTFOLIO_MAX_ROWS, families_for, representations, site_shifted, skewed,
    warned_features,
)
from autods.agents.observation import Observation
from autods.agents.snapshot import DESIGN_KEY
from autods.runners.families import FAMILIES
from autods.runners.recipe import DEFAULT_FAMILY, Recipe

BASELINE_PREFIX = "baseline:"
TRIVIAL_TITLE = "baseline: trivial predictor"
DEFAULT_TITLE = "baseline: default recipe"


def design_choices(summary: dict[str, Any]) -> dict[str, Any]:
    epv = summary.get("events_per_variable")
    penalise = epv is not None and epv < EPV_LIMIT
    unsafe = warned_features(summary)
    reasons = list(summary.get("design_reasons", []))
    if epv is not None:
        reasons.append(f"{epv:.1f} events per candidate variable: " + (
            f"below {EPV_LIMIT:g}, so penalised models first and flexible models kept small"
            if penalise else f"at least {EPV_LIMIT:g}, so flexible models are affordable"))
    if unsafe:
        reasons.append(f"leakage warnings on {unsafe}: left out of every feature set")
    portfolio, why = _portfolio(summary, penalise)
    if why:
        reasons.append(why)
    return {
        "metric": summary["metric"], "higher_is_better": summary["higher_is_better"],
        "cv_strategy": summary["cv_strategy"], "n_splits": summary.get("n_splits"),
        "events_per_variable": epv, "n_events": summary.get("n_events"), "penalise": penalise,
        "unsafe_features": unsafe, "confounders": list(summary.get("confounders", [])),
        "subgroups": list(summary.get("subgroups", [])), "skewed": skewed(summary.get("features", [])),
        "site_shifted": site_shifted(summary), "portfolio": portfolio, "reasons": reasons,
    }


def _portfolio(summary: dict[str, Any], penalise: bool) -> tuple[bool, str]:
    """Whether the analysts' menu holds the whole model portfolio, and the design's sentence saying so."""
    n_rows, task_type = summary.get("n_rows"), summary.get("task_type")
    if n_rows is None or task_type is None:
        return False, ""
    core = families_for(task_type, penalise)
    extra = [f for f in families_for(task_type, penalise, portfolio=True) if f not in core]
    if not extra:
        return False, ""
    if n_rows <= PORTFOLIO_MAX_ROWS:
        return True, (f"{n_rows:,} rows (at most {PORTFOLIO_MAX_ROWS:,}): the whole model portfolio is on the menu, "
                      f"adding {', '.join(extra)} to {', '.join(core)}: on a cohort this size they may beat the default "
                      "model, and each stays affordable")
    return False, (f"{n_rows:,} rows (more than {PORTFOLIO_MAX_ROWS:,}): the core menu only ({', '.join(core)}); the "
                   f"portfolio's further families ({', '.join(extra)}) are left out to bound the run's cost at this size")


def design_post(obs: Observation) -> Post:
    d = design_choices(ev.summary(obs))
    lines = [f"Primary metric {d['metric']} ({'higher' if d['higher_is_better'] else 'lower'} is better), "
             f"{d['cv_strategy']} with {d['n_splits']} folds; the held-out test split is locked by the judge."]
    lines += [f"- {r}" for r in d["reasons"]]
    if d["confounders"]:
        lines.append(f"Confounders to adjust for / check: {', '.join(d['confounders'])}.")
    if d["subgroups"]:
        lines.append(f"Subgroups to report: {', '.join(d['subgroups'])}.")
    body = "\n".join(lines) + "\n\n```json\n" + json.dumps({DESIGN_KEY: d}, sort_keys=True) + "\n```"
    return Post(post_kind="design", title=f"Design: {d['metric']}, {d['cv_strategy']}", body=body[:8000],
                rationale="the design is fixed before any model is compared")


def baseline_recipes(obs: Observation, design: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(title, recipe, hypothesis) of the trivial and the default baseline."""
    default_rep = representations(ev.summary(obs), design)[0]
    family = DEFAULT_FAMILY[obs.task.task_type]
    out = []
    if "dummy" in FAMILIES:
        out.append((TRIVIAL_TITLE, Recipe.parse({"family": "dummy"}).canonical_dict(),
                    "a constant predictor (prevalence / mean / constant risk) is the floor any model must clear"))
    # Under low events per variable the default model is shrunk hard from the start: an almost
    # unpenalised Cox on 80 probes and 51 events scored C 0.51 on held-out rows (ridge Cox 0.66).
    params = dict(LOW_EPV_DEFAULTS.get(family, {})) if design.get("penalise") else {}
    shrunk = f", penalty {params} for events per variable below {EPV_LIMIT:g}" if params else ""
    out.append((DEFAULT_TITLE, Recipe.parse(default_rep.recipe(family, params)).canonical_dict(),
                f"the default {family} model on {len(obs.task.features)} features{shrunk}; "
                "its seeds measure the noise floor"))
    return out


def biostatistician(obs: Observation, objections: bool = True) -> Action:
    design = ev.design(obs)
    if design is None:
        return design_post(obs)
    mine = ev.proposals_by(obs, obs.agent)
    titles = {p["title"] for p in mine}
    for title, recipe, hypothesis in baseline_recipes(obs, design):
        if title not in titles:
            return Propose(recipe=recipe, hypothesis=hypothesis, expected_effect=0.0, family=recipe["family"],
                           title=title, rationale="measured before the search starts")
    for p in obs.proposals if objections else ():  # objections within my expertise only: I never approve, so I cannot overrule a critic
        if p["status"] != "open" or p.get("author_name") == obs.agent or ev.critiqued_by(p, obs.agent):
            continue
        objection = critic.epv(obs, p)
        if objection is not None:
            return Critique(proposal_id=p["id"], verdict="revise", reasons=[objection.reason],
                            rationale="events per variable")
    return Wait()


__all__ = ["BASELINE_PREFIX", "DEFAULT_TITLE", "TRIVIAL_TITLE", "baseline_recipes", "biostatistician",
           "design_choices", "design_post"]
