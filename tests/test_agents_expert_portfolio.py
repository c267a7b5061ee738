"""The design decides when the whole model portfolio is on the analysts' menu, says so in a true
sentence, and the critic's events-per-variable rule lets the expert's own starting recipes pass."""

from __future__ import annotations

from typing import Any

import pytest

from agents_helpers import SAFE, champion, observation, proposal, recipe, result, summary
from autods.agents.actions import Propose
from autods.agents.expert import ExpertBrain, critic
from autods.agents.expert.design import design_choices
from autods.agents.expert.library import (
    CORE_FAMILIES, PORTFOLIO_MAX_ROWS, families_for, search_space, starting_params,
)
from autods.runners.families import FAMILIES
from autods.runners.recipe import Recipe

KINDS = ("binary", "multiclass", "regression", "survival")


def _summary(task_type: str, n_rows: int, epv: float = 40.0) -> dict[str, Any]:
    s = summary(task_type=task_type, epv=epv)
    return {**s, "n_rows": n_rows, "n_units": n_rows}


@pytest.mark.parametrize("task_type", KINDS)
def test_the_portfolio_is_on_up_to_the_row_limit_and_the_reason_names_what_it_adds(task_type: str) -> None:
    on = design_choices(_summary(task_type, PORTFOLIO_MAX_ROWS))
    off = design_choices(_summary(task_type, PORTFOLIO_MAX_ROWS + 1))
    assert on["portfolio"] is True and off["portfolio"] is False
    extra = [f for f in families_for(task_type, False, portfolio=True) if f not in CORE_FAMILIES]
    assert extra  # every kind has portfolio families, so the sentence has something to name
    said_on = [r for r in on["reasons"] if "portfolio" in r]
    said_off = [r for r in off["reasons"] if "portfolio" in r]
    assert len(said_on) == 1 and len(said_off) == 1
    assert f"adding {', '.join(extra)} to" in said_on[0]
    assert f"the core menu only ({', '.join(families_for(task_type, False))})" in said_off[0]


def test_a_summary_without_a_row_count_keeps_the_core_menu_and_says_nothing_about_it() -> None:
    s = {k: v for k, v in summary().items() if k != "n_rows"}
    d = design_choices(s)
    assert d["portfolio"] is False and not any("portfolio" in r for r in d["reasons"])


def _explored(design: dict[str, Any]) -> str:
    """The family a lone analyst explores once logistic (the champion) and lightgbm were tried."""
    base = recipe("logistic", features=list(SAFE))
    rs = [result(1, base, 0.80, seed=0), result(2, base, 0.798, seed=1)]
    champ = champion(rs[0])
    tried = proposal(2, recipe("lightgbm", features=list(SAFE)), status="queued")
    action = ExpertBrain("analyst", n_analysts=1).decide(observation(
        agent="analyst-1", role="analyst", results=rs, champ=champ, design=design,
        proposals=[proposal(1, base, author="biostatistician", status="queued"), tried]))
    assert isinstance(action, Propose) and action.title.startswith("explore")
    return action.family


def test_the_analyst_explores_a_portfolio_family_only_when_the_design_puts_it_on_the_menu() -> None:
    small = design_choices(_summary("binary", 1000))
    large = design_choices(_summary("binary", 50_000))
    assert _explored(small) == "spline_logistic"  # the first untried family of the full binary order
    assert _explored(large) == "elastic_net"  # the first untried core family


@pytest.mark.parametrize("task_type", KINDS)
def test_under_low_epv_the_critic_passes_the_expert_start_of_every_family_on_the_menu(task_type: str) -> None:
    d = design_choices(_summary(task_type, 1000, epv=5.0))
    assert d["penalise"] and d["portfolio"]
    obs = observation(summ=_summary(task_type, 1000, epv=5.0), design=d)
    for family in families_for(task_type, True, portfolio=True):
        start = Recipe.parse({"family": family, "params": starting_params(family, search_space(family, True))})
        p = proposal(10, start.canonical_dict())
        assert critic.epv(obs, p) is None, f"{family}: the critic sends back the expert's own start"


def test_under_low_epv_the_spline_logistic_default_penalty_is_sent_back_and_the_start_shrinks_it() -> None:
    obs = observation(summ=_summary("binary", 1000, epv=5.0))
    objection = critic.epv(obs, proposal(10, recipe("spline_logistic", C=FAMILIES["spline_logistic"].defaults["C"])))
    assert objection is not None and objection.verdict == "revise" and "C <= 0.1" in objection.reason
    assert starting_params("spline_logistic", search_space("spline_logistic", True)) == {"C": 0.1}
    wrapped = recipe("calibrated", base="spline_logistic", base_params={"C": 1.0}, method="platt")
    assert critic.epv(obs, proposal(11, wrapped)) is not None  # a wrapper is judged by its base


# -- a family whose tuning has not moved the metric is not tuned again ---------------------------

def _cox_log(values: tuple[float, float], alphas: tuple[float, float]) -> tuple[Any, list[dict[str, Any]]]:
    recs = [recipe("cox", alpha=a, features=list(SAFE)) for a in alphas]
    rs = [result(i + 1, r, v) for i, (r, v) in enumerate(zip(recs, values))]
    obs = observation(summ=_summary("survival", 1000), results=rs, champ=champion(rs[0]), floor=0.01)
    return obs, recs


def test_the_critic_rejects_a_further_tune_of_a_family_whose_wide_moves_stayed_within_the_noise() -> None:
    obs, _ = _cox_log((0.7512, 0.7513), (0.01, 3.0))  # 0.01 -> 3.0 is most of cox's log range 1e-4..10
    further = proposal(10, recipe("cox", alpha=0.3, features=list(SAFE)))
    objection = critic.gain(obs, further)
    assert objection is not None and objection.verdict == "reject" and "expected gain" in objection.reason
    assert "tuning cox has not moved c_index: 2 recipes" in objection.reason
    # another family, and the same family on another representation, are still worth a look
    assert critic.gain(obs, proposal(11, recipe("coxnet", features=list(SAFE)))) is None
    assert critic.gain(obs, proposal(12, recipe("cox", alpha=0.3, features=["age", "crp"]))) is None


def test_a_narrow_move_or_a_move_that_changed_the_metric_is_no_evidence_of_a_flat_family() -> None:
    narrow, _ = _cox_log((0.7512, 0.7513), (0.01, 0.011))
    moved, _ = _cox_log((0.7512, 0.7700), (0.01, 3.0))
    further = proposal(10, recipe("cox", alpha=0.3, features=list(SAFE)))
    assert critic.flat(narrow, further["recipe"]) is None
    assert critic.flat(moved, further["recipe"]) is None


def _queue_item(qid: int, rec: dict[str, Any], status: str) -> dict[str, Any]:
    from autods.state.hashing import canonical_hash

    return {"id": qid, "run_id": 1, "team_id": None, "proposal_id": qid, "recipe_hash": canonical_hash(rec),
            "seed": 0, "status": status}


def test_a_third_recipe_of_a_family_waits_while_two_approved_ones_await_their_results() -> None:
    base = recipe("cox", features=list(SAFE))
    rs = [result(1, base, 0.66), result(2, base, 0.66, seed=1)]
    tunes = [recipe("cox", alpha=a, features=list(SAFE)) for a in (0.001, 0.05)]
    queued = [proposal(2 + i, r, status="queued") for i, r in enumerate(tunes)]
    third = proposal(10, recipe("cox", alpha=2.0, features=list(SAFE)))
    kw = dict(summ=_summary("survival", 1000), results=rs, champ=champion(rs[0]), floor=0.01)
    obs = observation(proposals=queued + [third], queue=[_queue_item(2, tunes[0], "pending"),
                                                        _queue_item(3, tunes[1], "claimed")], **kw)
    objection = critic.gain(obs, third)
    assert objection is not None and "expected gain" in objection.reason and "proposals 2, 3" in objection.reason
    assert critic.gain(obs, proposal(11, recipe("spline_cox", features=list(SAFE)))) is None  # another family may go
    # once one of them has failed (or reported) only one is in flight: the third may go
    failed = observation(proposals=queued + [third], queue=[_queue_item(2, tunes[0], "failed"),
                                                           _queue_item(3, tunes[1], "claimed")], **kw)
    assert critic.gain(failed, third) is None
