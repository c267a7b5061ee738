"""The expert brain's rules, one property each, on hand-built observations."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score

from agents_helpers import SAFE, champion, critique, observation, proposal, recipe, result, summary
from autods.agents.actions import Critique, MarkDeadEnd, Post, Promote, Propose, Wait
from autods.agents.baseline import noise_floor, trivial_value
from autods.agents.expert import ExpertBrain, critic
from autods.agents.expert.design import design_choices
from autods.agents.expert.library import families_for, representations, search_space
from autods.agents.expert.tuner import distance, suggest
from autods.runners.families import FAMILIES


def _with_champion(value: float = 0.80, **kw):  # type: ignore[no-untyped-def]
    base = recipe("logistic", features=list(SAFE))
    r1, r2 = result(1, base, value, seed=0), result(2, base, value - 0.002, seed=1)
    return base, [r1, r2], champion(r1)


# -- critic rules ---------------------------------------------------------------------------------

def test_duplicate_of_the_champion_is_rejected() -> None:
    base, rs, champ = _with_champion()
    obs = observation(results=rs, champ=champ, proposals=[proposal(5, base)])
    found = critic.review(obs, obs.proposals[0])
    assert found and found[0].rule == "duplicate" and found[0].verdict == "reject"
    assert "champion" in found[0].reason


def test_near_duplicate_within_five_percent_is_rejected_and_a_real_change_is_not() -> None:
    base, rs, champ = _with_champion()
    near = recipe("logistic", C=1.05, features=list(SAFE))
    far = recipe("logistic", C=0.01, features=list(SAFE))
    obs = observation(results=rs, champ=champ, proposals=[proposal(5, near), proposal(6, far)])
    assert critic.near_duplicate(obs, obs.proposals[0]).rule == "near_duplicate"  # type: ignore[union-attr]
    assert critic.near_duplicate(obs, obs.proposals[1]) is None


def test_parameter_distance_is_scaled_to_the_log_search_range() -> None:
    # C range 1e-3..1e2 on a log scale spans 5 decades; one decade is a fifth of it
    assert distance("logistic", {"C": 1.0}, {"C": 10.0}) == pytest.approx(0.2)
    assert distance("logistic", {"C": 1.0}, {"C": 1.0}) == 0.0
    assert distance("logistic", {"class_weight": "balanced"}, {}) == 1.0


def test_a_recipe_inside_a_dead_end_is_rejected_with_its_reason() -> None:
    dead = {"id": 3, "run_id": 1, "team_id": None, "family": "random_forest", "region": {}, "reason": "lost 3 times",
            "evidence": {}, "author": "8", "created_at": 0.0}
    obs = observation(dead_ends=[dead], proposals=[proposal(5, recipe("random_forest", features=list(SAFE))),
                                                   proposal(6, recipe("lightgbm", features=list(SAFE)))])
    found = critic.dead_end(obs, obs.proposals[0])
    assert found is not None and found.dead_end_id == 3 and "lost 3 times" in found.reason
    assert critic.dead_end(obs, obs.proposals[1]) is None


def test_leakage_rule_refuses_excluded_and_warned_features_even_inside_composites() -> None:
    comp = {"composites": [{"name": "ratio", "expr": "crp / leaky"}]}
    obs = observation(proposals=[proposal(5, recipe("logistic")),  # all features: 'leaky' is in
                                 proposal(6, recipe("logistic", features=["age", "crp"], preprocess=comp)),
                                 proposal(7, recipe("logistic", features=list(SAFE)))])
    assert "leaky" in critic.leakage(obs, obs.proposals[0]).reason  # type: ignore[union-attr]
    assert "leaky" in critic.leakage(obs, obs.proposals[1]).reason  # type: ignore[union-attr]
    assert critic.leakage(obs, obs.proposals[2]) is None


def test_epv_below_ten_asks_to_revise_a_weakly_penalised_model() -> None:
    low = summary(epv=5.0)
    weak, strong = recipe("logistic", C=10.0, features=list(SAFE)), recipe("logistic", C=0.1, features=list(SAFE))
    forest = recipe("random_forest", min_samples_leaf=1, features=list(SAFE))
    obs = observation(summ=low, proposals=[proposal(5, weak), proposal(6, strong), proposal(7, forest)])
    assert critic.epv(obs, obs.proposals[0]).verdict == "revise"  # type: ignore[union-attr]
    assert critic.epv(obs, obs.proposals[1]) is None
    assert "min_samples_leaf" in critic.epv(obs, obs.proposals[2]).reason  # type: ignore[union-attr]
    assert critic.epv(observation(proposals=[proposal(5, weak)]), proposal(5, weak)) is None  # EPV 40


def test_expected_gain_below_the_floor_is_rejected_once_a_direction_has_evidence() -> None:
    base, rs, champ = _with_champion(0.80)
    losers = [recipe("lightgbm", num_leaves=n, features=list(SAFE)) for n in (8, 16, 32)]
    rs += [result(10 + i, r, 0.70 + 0.001 * i) for i, r in enumerate(losers)]
    fourth = recipe("lightgbm", num_leaves=64, features=list(SAFE))
    fresh = recipe("hist_gb", features=list(SAFE))
    obs = observation(results=rs, champ=champ, floor=0.01, proposals=[proposal(20, fourth), proposal(21, fresh)])
    found = critic.gain(obs, obs.proposals[0])
    assert found is not None and "below the noise floor" in found.reason
    assert critic.gain(obs, obs.proposals[1]) is None  # untried: worth a look


def test_validator_approves_a_clean_proposal_with_reasons() -> None:
    base, rs, champ = _with_champion()
    obs = observation(results=rs, champ=champ, proposals=[proposal(5, recipe("lightgbm", features=list(SAFE)))])
    action = ExpertBrain("validator").decide(obs)
    assert isinstance(action, Critique) and action.verdict == "approve" and len(action.reasons) >= 4


# -- promotion and dead ends ----------------------------------------------------------------------

def test_validator_promotes_only_with_a_second_seed_beating_the_floor() -> None:
    base, rs, champ = _with_champion(0.80)
    challenger = recipe("lightgbm", features=list(SAFE))
    one = rs + [result(10, challenger, 0.85, seed=0)]
    assert not isinstance(ExpertBrain("validator").decide(observation(results=one, champ=champ)), Promote)
    weak_second = one + [result(11, challenger, 0.805, seed=1)]  # within the floor of the champion
    assert not isinstance(ExpertBrain("validator").decide(observation(results=weak_second, champ=champ)), Promote)
    both = one + [result(12, challenger, 0.84, seed=1)]
    action = ExpertBrain("validator").decide(observation(results=both, champ=champ))
    assert isinstance(action, Promote) and {action.result_id, action.confirming_result_id} == {10, 12}


def test_validator_does_not_ask_for_a_promotion_the_calibration_gate_refuses() -> None:
    """Asking again every round for a refused promotion kept the validator from critiquing anything."""
    base, rs, champ = _with_champion(0.80)
    challenger = recipe("lightgbm", features=list(SAFE))
    both = rs + [result(10, challenger, 0.85, seed=0), result(12, challenger, 0.84, seed=1)]
    for r in both[-2:]:
        r["artifacts"] = {"calibration_slope": "0.55", "calibration_method": "none"}  # overconfident
    action = ExpertBrain("validator").decide(observation(results=both, champ=champ))
    assert not isinstance(action, Promote)
    for r in both[-2:]:
        r["artifacts"] = {"calibration_slope": "0.97", "calibration_method": "none"}
    assert isinstance(ExpertBrain("validator").decide(observation(results=both, champ=champ)), Promote)
    for r in both[-2:]:  # a run's first champion is not gated (the server exempts it too)
        r["artifacts"] = {"calibration_slope": "2.1", "calibration_method": "none"}
    assert isinstance(ExpertBrain("validator").decide(observation(results=both[-2:], champ=None)), Promote)


def test_a_family_with_repeated_losses_becomes_a_dead_end_with_a_reason() -> None:
    base, rs, champ = _with_champion(0.80)
    once = rs + [result(10, recipe("random_forest", min_samples_leaf=1, features=list(SAFE)), 0.70)]
    assert not isinstance(ExpertBrain("validator").decide(observation(results=once, champ=champ)), MarkDeadEnd)
    close = once + [result(11, recipe("random_forest", min_samples_leaf=5, features=list(SAFE)), 0.795)]
    assert not isinstance(ExpertBrain("validator").decide(observation(results=close, champ=champ)), MarkDeadEnd)
    rs = once + [result(11, recipe("random_forest", min_samples_leaf=5, features=list(SAFE)), 0.70)]
    action = ExpertBrain("validator").decide(observation(results=rs, champ=champ))
    assert isinstance(action, MarkDeadEnd) and action.family == "random_forest" and action.region == {}
    assert "2 recipes" in action.reason and "noise floor" in action.reason
    off = ExpertBrain("validator", dead_ends=False).decide(observation(results=rs, champ=champ))
    assert not isinstance(off, MarkDeadEnd)


# -- the analyst ------------------------------------------------------------------------------

def test_every_cycle_has_one_explorer_proposing_an_untried_family() -> None:
    base, rs, champ = _with_champion()
    explored = []
    for name in ("analyst-1", "analyst-2", "analyst-3"):
        action = ExpertBrain("analyst", n_analysts=3).decide(
            observation(agent=name, role="analyst", results=rs, champ=champ,
                        proposals=[proposal(1, base, author="biostatistician", status="queued")]))
        assert isinstance(action, Propose)
        if "untried" in action.rationale or action.title.startswith("explore"):
            explored.append((name, action.family))
    assert len(explored) == 1 and explored[0][1] != "logistic"


def test_an_explorer_with_no_untried_family_states_why() -> None:
    base, rs, champ = _with_champion()
    menu = families_for("binary", False, portfolio=design_choices(summary())["portfolio"])
    tried = [proposal(i + 2, recipe(f, features=list(SAFE)), status="queued")
             for i, f in enumerate(f for f in menu if f != "logistic")]
    action = ExpertBrain("analyst", n_analysts=1).decide(
        observation(agent="analyst-1", role="analyst", results=rs, champ=champ,
                    proposals=[proposal(1, base, author="biostatistician", status="queued"), *tried]))
    assert isinstance(action, Propose) and "no untried family" in action.hypothesis


def test_analysts_never_propose_a_dead_end_family() -> None:
    base, rs, champ = _with_champion()
    dead = [{"id": i, "run_id": 1, "team_id": None, "family": f, "region": {}, "reason": "lost", "evidence": {},
             "author": "8", "created_at": 0.0} for i, f in enumerate(("lightgbm", "elastic_net", "hist_gb"), 1)]
    for name in ("analyst-1", "analyst-2", "analyst-3"):
        action = ExpertBrain("analyst").decide(observation(
            agent=name, role="analyst", results=rs, champ=champ, dead_ends=dead,
            proposals=[proposal(1, base, author="biostatistician", status="queued")]))
        menu = families_for("binary", False, portfolio=design_choices(summary())["portfolio"])
        assert isinstance(action, Propose) and action.family in set(menu) - {d["family"] for d in dead}


def test_analyst_enqueues_its_approved_proposal_only_in_execution_with_budget() -> None:
    base, rs, champ = _with_champion()
    mine = proposal(5, recipe("lightgbm", features=list(SAFE)), critiques=[critique(1, 5, "approve")], team_id=1)
    teams = [{"id": 1, "run_id": 1, "name": "analyst-1: lightgbm", "hypothesis": "", "strategy": "",
              "status": "active", "created_at": 0.0}]
    kw = dict(agent="analyst-1", role="analyst", results=rs, champ=champ, proposals=[mine], teams=teams)
    assert ExpertBrain("analyst").decide(observation(**kw)).kind == "enqueue"  # type: ignore[arg-type]
    assert ExpertBrain("analyst").decide(observation(phase="discussion", **kw)).kind != "enqueue"  # type: ignore[arg-type]
    spent = ExpertBrain("analyst").decide(observation(budget_used=20, **kw))  # type: ignore[arg-type]
    assert isinstance(spent, Wait)


def test_tuner_is_a_function_of_the_log_and_avoids_earlier_proposals() -> None:
    space = search_space("lightgbm", False)
    told = [({"num_leaves": 31}, 0.70), ({"num_leaves": 8, "learning_rate": 0.1}, 0.72)]
    a = suggest("lightgbm", space, told, [p for p, _ in told], seed=7, maximize=True)
    b = suggest("lightgbm", space, told, [p for p, _ in told], seed=7, maximize=True)
    c = suggest("lightgbm", space, told, [p for p, _ in told], seed=8, maximize=True)
    assert a == b and a != c
    assert a is not None and all(space[k].low <= v <= space[k].high for k, v in a.items()
                                 if space[k].type != "choice")
    again = suggest("lightgbm", space, told, [p for p, _ in told] + [a], seed=7, maximize=True)
    assert again != a


def test_low_epv_narrows_the_search_space_to_penalised_settings() -> None:
    assert search_space("logistic", True)["C"].high == 1.0
    assert search_space("lightgbm", True)["num_leaves"].high == 15
    assert search_space("logistic", False)["C"].high == FAMILIES["logistic"].space["C"].high


# -- the biostatistician --------------------------------------------------------------------------

def test_design_from_low_epv_asks_for_penalised_models_and_drops_warned_features() -> None:
    d = design_choices(summary(epv=6.0))
    assert d["penalise"] and d["unsafe_features"] == ["leaky"]
    assert any("below 10" in r for r in d["reasons"])
    assert not design_choices(summary(epv=40.0))["penalise"]
    reps = representations(summary(), d)
    assert reps[0].features == SAFE and any(r.name == "log-skewed" and "crp" in r.preprocess["log_transform"]
                                            for r in reps)


def test_biostatistician_posts_the_design_before_anything_else() -> None:
    obs = observation(agent="biostatistician", role="biostatistician", design={})
    obs = obs.model_copy(update={"posts": obs.posts[:1]})
    action = ExpertBrain("biostatistician").decide(obs)
    assert isinstance(action, Post) and action.post_kind == "design" and "```json" in action.body


# -- noise floor and trivial baseline against references ------------------------------------------

def test_noise_floor_is_the_larger_of_seed_sd_and_fold_se() -> None:
    folds = [[0.70, 0.74, 0.72, 0.69, 0.75], [0.71, 0.72, 0.73, 0.70, 0.74], [0.72, 0.70, 0.71, 0.73, 0.74]]
    rs = [{"value": v, "fold_scores": f, "recipe_hash": "h"} for v, f in zip((0.720, 0.722, 0.721), folds)]
    floor = noise_floor(rs)
    sd = float(np.std([0.720, 0.722, 0.721], ddof=1))
    se = float(np.mean([stats.sem(f) for f in folds]))
    assert floor["sd_seeds"] == pytest.approx(sd) and floor["fold_se"] == pytest.approx(se)
    assert floor["value"] == pytest.approx(max(sd, se)) and se > sd
    assert noise_floor(rs, multiplier=2.0)["value"] == pytest.approx(2 * max(sd, se))
    spread = [{"value": v, "fold_scores": [v, v], "recipe_hash": "h"} for v in (0.6, 0.7, 0.8)]
    assert noise_floor(spread)["value"] == pytest.approx(statistics.stdev([0.6, 0.7, 0.8]))


def test_trivial_macro_f1_matches_sklearn_for_the_majority_predictor() -> None:
    y = np.array(["a"] * 60 + ["b"] * 30 + ["c"] * 10)
    expected = f1_score(y, np.full_like(y, "a"), average="macro", zero_division=0)
    got = trivial_value("macro_f1", {"class_counts": {"a": 60, "b": 30, "c": 10}})
    assert got is not None and math.isclose(got["value"], expected)
    assert trivial_value("auroc", {})["value"] == 0.5  # type: ignore[index]


# -- the monitor -----------------------------------------------------------------------------

def _team(tid: int, name: str) -> dict:  # type: ignore[type-arg]
    return {"id": tid, "run_id": 1, "name": name, "hypothesis": "", "strategy": "", "status": "active",
            "created_at": 0.0}


def test_monitor_answers_each_stagnation_alarm_once_then_carries_out_its_decision() -> None:
    from agents_helpers import post

    teams = [_team(1, "analyst-1: lightgbm"), _team(2, "analyst-2: lightgbm")]
    props = [proposal(1, recipe("lightgbm", features=list(SAFE)), team_id=1),
             proposal(2, recipe("lightgbm", num_leaves=8, features=list(SAFE)), team_id=2)]
    stuck = post(50, "stuck", {"since_result_id": 3}, author="system")
    obs = observation(agent="monitor", role="monitor", teams=teams, proposals=props, extra_posts=[stuck])
    obs = obs.model_copy(update={"allowed_actions": ["post", "set_team_status", "form_team", "wait"]})
    first = ExpertBrain("monitor").decide(obs)
    assert isinstance(first, Post) and first.title == "decision: merge team 2" and first.thread_id == 50
    note = post(51, "note", title=first.title, author="monitor", thread_id=50)
    after = obs.model_copy(update={"posts": [*obs.posts, note]})
    second = ExpertBrain("monitor").decide(after)
    assert second.kind == "set_team_status" and second.team_id == 2 and second.status == "merged"  # type: ignore[union-attr]
    merged = after.model_copy(update={"teams": [teams[0], {**teams[1], "status": "merged"}]})
    assert isinstance(ExpertBrain("monitor").decide(merged), Wait)  # answered and applied: nothing left


def test_monitor_pivots_when_no_team_can_be_merged_or_dissolved() -> None:
    from agents_helpers import post

    obs = observation(agent="monitor", role="monitor", teams=[_team(1, "analyst-1: logistic")],
                      extra_posts=[post(50, "stuck", author="system")])
    action = ExpertBrain("monitor").decide(obs)
    assert isinstance(action, Post) and action.title == "decision: pivot"


def _graph_obs(teams: list[dict], ideas: list[dict], diagnoses: list[dict]):  # type: ignore[no-untyped-def,type-arg]
    from agents_helpers import post

    obs = observation(agent="monitor", role="monitor", teams=teams, extra_posts=[post(50, "stuck", author="system")])
    return obs.model_copy(update={"ideas": ideas, "diagnoses": diagnoses,
                                  "allowed_actions": ["post", "set_team_status", "form_team", "wait"]})


def _idea(iid: int, team: int, diagnosis: int, tier: str = "NEXT", family: str = "logistic") -> dict:  # type: ignore[type-arg]
    return {"id": iid, "team_id": team, "diagnosis_id": diagnosis, "tier": tier, "family": family}


def _diagnosis(did: int, status: str = "open") -> dict:  # type: ignore[type-arg]
    return {"id": did, "claim": f"[k{did}] claim", "status": status}


def test_monitor_on_the_graph_merges_lenses_on_one_diagnosis_even_across_families() -> None:
    teams = [_team(1, "analyst-1: [nonlinearity]"), _team(2, "analyst-2: [nonlinearity]"), _team(3, "analyst-3: [low_epv]")]
    ideas = [_idea(4, 1, 1, family="spline_logistic"), _idea(5, 2, 1, family="ebm"), _idea(6, 3, 2)]
    action = ExpertBrain("monitor").decide(_graph_obs(teams, ideas, [_diagnosis(1), _diagnosis(2)]))
    assert isinstance(action, Post) and action.title == "decision: merge team 2" and "diagnosis 1" in action.body
    # different diagnoses, same family: the family rule would merge them, the graph keeps both lenses
    apart = [_idea(4, 1, 1, family="lightgbm"), _idea(5, 2, 2, family="lightgbm")]
    kept = ExpertBrain("monitor").decide(_graph_obs(teams[:2], apart, [_diagnosis(1), _diagnosis(2)]))
    assert isinstance(kept, Post) and kept.title == "decision: pivot"


def test_monitor_on_the_graph_dissolves_a_refuted_or_cut_lens_and_pivots_to_untested_diagnoses() -> None:
    teams = [_team(1, "analyst-1: [nonlinearity]"), _team(2, "analyst-2: [site_shift]")]
    refuted = ExpertBrain("monitor").decide(_graph_obs(teams, [_idea(4, 1, 1), _idea(5, 2, 2)],
                                                       [_diagnosis(1, "refuted"), _diagnosis(2)]))
    assert isinstance(refuted, Post) and refuted.title == "decision: dissolve team 1" and "refuted" in refuted.body
    cut = ExpertBrain("monitor").decide(_graph_obs(teams, [_idea(4, 1, 1), _idea(5, 2, 2, tier="CUT")],
                                                   [_diagnosis(1), _diagnosis(2)]))
    assert isinstance(cut, Post) and cut.title == "decision: dissolve team 2" and "cut" in cut.body
    # nothing to merge or dissolve: the pivot names the open diagnosis no live idea tests (3), not 1 (in NOW)
    pivot = ExpertBrain("monitor").decide(_graph_obs(teams[:1], [_idea(4, 1, 1, tier="NOW")],
                                                     [_diagnosis(1), _diagnosis(3)]))
    assert isinstance(pivot, Post) and pivot.title == "decision: pivot" and "diagnoses [3] are open" in pivot.body


def test_tuning_another_family_keeps_the_champions_representation_not_its_parameters() -> None:
    # The champion is a logistic model with C=0.1; tuning another family from it must not carry C over
    # ("family 'coxnet' has no parameter 'ties'" was the survival form of this bug, issue 11).
    import importlib

    analyst = importlib.import_module("autods.agents.expert.analyst")

    base = recipe("logistic", features=list(SAFE))
    base["params"] = {"C": 0.1}
    r1, r2 = result(1, base, 0.80, seed=0), result(2, base, 0.798, seed=1)
    obs = observation(agent="analyst-1", role="analyst", results=[r1, r2], champ=champion(r1),
                      proposals=[proposal(1, base, author="biostatistician", status="queued")])
    tuned = analyst._tune(obs, "random_forest", {"penalise": False})
    assert tuned is not None and tuned["family"] == "random_forest"
    assert set(tuned["params"]) <= set(FAMILIES["random_forest"].param_names) and "C" not in tuned["params"]
    assert tuned.get("features") == list(SAFE)  # the representation is kept


@pytest.mark.parametrize(("epv", "alpha"), [(0.64, 10.0), (40.0, 0.01)])
def test_the_default_baseline_is_shrunk_hard_only_when_events_per_variable_are_low(epv: float, alpha: float) -> None:
    # GSE7390 (80 probes, 51 events): the near-unpenalised default Cox scored C 0.51 held out, ridge Cox 0.66
    from autods.agents.expert.design import DEFAULT_TITLE, baseline_recipes

    obs = observation(agent="biostatistician", role="biostatistician", summ=summary(task_type="survival", epv=epv))
    recipes = {title: rec for title, rec, _ in baseline_recipes(obs, ev_design(obs))}
    default = recipes[DEFAULT_TITLE]
    assert default["family"] == "cox" and default["params"].get("alpha", 0.01) == alpha


def ev_design(obs):  # type: ignore[no-untyped-def]
    from autods.agents.expert import evidence

    return evidence.design(obs)


def test_a_kept_strong_measurement_is_flagged_for_review_not_left_out() -> None:
    # dietox: the guard keeps 'Time' (Spearman 0.96 with weight) with a target-proxy warning and 'Feed'
    # (missing only at the first weighing); the brain left both out of every recipe (R2 -0.02 vs 0.94)
    from autods.agents.expert.library import flagged_features, warned_features

    summ = summary(task_type="regression", findings=[
        {"check": "target_proxy", "severity": "warning", "feature": "Time", "message": "kept"},
        {"check": "first_record_gap", "severity": "warning", "feature": "Feed", "message": "kept"},
        {"check": "post_outcome", "severity": "warning", "feature": "leaky", "message": "named post_"}])
    assert warned_features(summ) == ["leaky"]
    assert flagged_features(summ) == ["Feed", "Time"]


def test_epv_judges_a_recalibrated_variant_by_its_base_and_an_ensemble_by_its_members() -> None:
    obs = observation(summ=summary(epv=4.0))
    weak = {"family": "logistic", "params": {"C": 50.0}}
    strong = {"family": "logistic", "params": {"C": 0.1}}

    def review_epv(rec: dict) -> object:
        return critic.epv(obs, {"family": rec["family"], "recipe": rec})

    assert review_epv({"family": "calibrated", "params": {"base": "logistic", "base_params": {"C": 0.1},
                                                          "method": "platt"}}) is None
    assert review_epv({"family": "calibrated", "params": {"base": "logistic", "base_params": {"C": 50.0},
                                                          "method": "platt"}}).verdict == "revise"
    assert review_epv({"family": "ensemble", "params": {"members": [strong, weak]}}).verdict == "revise"


def test_the_translator_names_a_recalibrated_champion_by_its_base_and_map() -> None:
    from agents_helpers import champion, observation, result
    from autods.agents.expert.team import translator

    plain = result(3, {"family": "lightgbm", "params": {}}, 0.81)
    obs = observation(agent="translator", role="translator", results=[plain], champ=champion(plain), phase="report")
    body = translator(obs).body  # type: ignore[union-attr]
    assert "is a lightgbm with cross-validated auroc 0.810" in body and "confirmed on a second seed" in body
    wrapped = result(5, {"family": "calibrated", "params": {"base": "logistic", "method": "platt"}}, 0.8)
    obs = observation(agent="translator", role="translator", results=[wrapped], champ=champion(wrapped), phase="report")
    body = translator(obs).body  # type: ignore[union-attr]
    assert "a logistic recalibrated with a platt map" in body and "a calibrated" not in body
    assert "second seed" not in body and "server's rule" in body
