"""The expert analyst proposes ensembles of the best families and the Platt variant of a recipe the
calibration gate would refuse (issue 12, deliverables 5-6)."""

from __future__ import annotations

from agents_helpers import SAFE, champion, observation, proposal, recipe, result
from autods.agents.actions import Propose
from autods.agents.expert import ExpertBrain
from autods.runners import Recipe


def _three_families(n_families: int = 3):  # type: ignore[no-untyped-def]
    families = ("logistic", "random_forest", "lightgbm", "hist_gb")[:n_families]
    values = (0.80, 0.82, 0.79, 0.78)
    recipes = [recipe(f, features=list(SAFE)) for f in families]
    results, proposals = [], []
    for i, (rec, value) in enumerate(zip(recipes, values), 1):
        results += [result(2 * i - 1, rec, value, seed=0, proposal_id=i), result(2 * i, rec, value - 0.002, seed=1,
                                                                                proposal_id=i)]
        proposals.append(proposal(i, rec, author="biostatistician", status="queued"))
    return recipes, results, proposals


def _decide(results, proposals, champ, agent: str = "analyst-2"):  # type: ignore[no-untyped-def]
    return ExpertBrain("analyst", n_analysts=3).decide(
        observation(agent=agent, role="analyst", results=results, champ=champ, proposals=proposals))


def test_an_ensemble_of_the_best_recipe_per_family_once_three_families_have_results() -> None:
    recipes, results, proposals = _three_families(2)
    action = _decide(results, proposals, champion(results[2]))
    assert not (isinstance(action, Propose) and action.family == "ensemble")  # two families: not yet
    recipes, results, proposals = _three_families(3)
    action = _decide(results, proposals, champion(results[2]))
    assert isinstance(action, Propose) and action.family == "ensemble"
    parsed = Recipe.parse(action.recipe)
    members = parsed.params["members"]
    assert [m["family"] for m in members] == ["random_forest", "logistic", "lightgbm"]  # ranked by their best mean
    assert parsed.params.get("method", "caruana") == "caruana" and "Caruana" in action.hypothesis
    # once it is proposed (and awaiting critique) nobody proposes another; once it is done the stack follows
    waiting = proposals + [proposal(9, action.recipe, author="analyst-2")]
    again = _decide(results, waiting, champion(results[2]), agent="analyst-3")
    assert not (isinstance(again, Propose) and again.family == "ensemble")
    done = proposals + [proposal(9, action.recipe, author="analyst-2", status="queued")]
    stack = _decide(results + [result(20, action.recipe, 0.83, proposal_id=9)], done, champion(results[2]))
    assert isinstance(stack, Propose) and stack.family == "ensemble"
    assert Recipe.parse(stack.recipe).params["method"] == "stack"


def test_a_miscalibrated_recipe_better_than_the_champion_gets_its_platt_variant() -> None:
    recipes, results, proposals = _three_families(2)
    for r in results[2:4]:  # the random forest: better than the champion, overconfident
        r["artifacts"] = {"calibration_slope": "0.55", "calibration_method": "none"}
    for r in results[:2]:
        r["artifacts"] = {"calibration_slope": "0.97", "calibration_method": "none"}
    action = _decide(results, proposals, champion(results[0]))
    assert isinstance(action, Propose) and action.family == "calibrated"
    variant = Recipe.parse(action.recipe)
    assert variant.params["base"] == "random_forest" and variant.params["method"] == "platt"
    assert variant.features == tuple(SAFE) and "0.550" in action.hypothesis
    # proposed once: the next analyst does something else
    taken = proposals + [proposal(9, action.recipe, author="analyst-2")]
    nxt = _decide(results, taken, champion(results[0]), agent="analyst-3")
    assert not (isinstance(nxt, Propose) and nxt.family == "calibrated")


def test_a_well_calibrated_log_gets_no_recalibration() -> None:
    recipes, results, proposals = _three_families(2)
    for r in results:
        r["artifacts"] = {"calibration_slope": "1.1", "calibration_method": "none"}
    action = _decide(results, proposals, champion(results[0]))
    assert not (isinstance(action, Propose) and action.family == "calibrated")
