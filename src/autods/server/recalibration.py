"""The recalibrated variant of a miscalibrated best result: queued by the server, measured by the judge.

The calibration gate (:mod:`autods.judge.calibration_gate`) refuses a challenger whose
out-of-fold calibration slope is outside the band, and accepts a run's first champion
whatever its slope. Either way the remedy is the same model with a monotone map fitted inside
the training folds (``family: calibrated``, Platt; :mod:`autods.runners.calibrate`). Left to
the brains it may never run within a budget (the breast-cancer run of requests.md Q3 ended with
no champion because of it), so it is a rule here:

* **Queueing** (:func:`queue_variant`, called when a result is recorded): a binary result whose
  slope is positive but outside the band, whose recipe is neither recalibrated nor the trivial
  ``dummy`` baseline and is run at full fidelity, and
  which is the best result of the run so far (ties included) and would be up for promotion (the
  run has no champion, it is the champion's recipe, or it beats the champion by more than the
  noise floor) gets its Platt variant queued on two
  seeds (the result's and the next), so the variant can be confirmed without another decision.
  Both seeds must fit in the run's stated budget (``runs.config['budget']``); when they do
  not, nothing is queued and the run keeps its first champion, whose slope the report shows.
  The proposal is the server's (author ``system``), derived from a recipe the protocol already
  approved and queued (rule a); the map adds two parameters fitted on training rows, never a
  choice of the proposer's. It is queued once per base recipe; the harness runs and records it
  like any item, so its numbers are the judge's.
* **Promotion in place** (:func:`in_place_verdict`, used by ``promote``): the variant of the
  *champion's own* recipe cannot pass the paired test (its ranking is the champion's, so the
  gain is ~0). It replaces the champion when the champion's slope is outside the band, its own
  slope is nearer 1 (on the log scale), and it is not worse on the shared folds by more than one
  corrected standard error (the one-SE rule of :mod:`autods.judge.paired`).
"""

from __future__ import annotations

import math
from typing import Any

from autods.judge.calibration_gate import RECALIBRATED_FAMILY, SLOPE_BAND, slope_from_artifacts
from autods.judge.fidelity import SCREEN, fidelity_of
from autods.server import canon, protocol
from autods.state.records import LIVE_OR_RUN, SYSTEM, Proposal, Result
from autods.state.store import Tx

__all__ = ["base_hash", "in_place_verdict", "queue_variant"]

#: the trivial baseline: a constant has no ranking to recalibrate
TRIVIAL_FAMILY = "dummy"
#: seeds queued for a variant: the base result's and the next (a promotion needs a confirmation)
VARIANT_SEEDS = 2


def _out_of_band(slope: float | None) -> bool:
    return slope is not None and not (SLOPE_BAND[0] <= slope <= SLOPE_BAND[1])


def base_hash(recipe: dict[str, Any]) -> str | None:
    """The canonical hash of the recipe a ``calibrated`` recipe wraps; None for any other recipe."""
    read = canon.canonicalise(recipe)
    if read.family != RECALIBRATED_FAMILY:
        return None
    params = read.recipe["params"]
    base = {**read.recipe, "family": params["base"], "params": params["base_params"]}
    return canon.canonicalise(base).hash


def _promotable(tx: Tx, result: Result, floor: float) -> bool:
    """Whether promotion would turn on this result's calibration: the run has no champion, the
    result is the champion's own recipe, or it beats the champion by more than the noise floor
    (the orchestrator queues its confirmation)."""
    champ = tx.champion(result.run_id)
    return (champ is None or champ.recipe_hash == result.recipe_hash
            or protocol.beats(result.value, champ.value, result.higher_is_better, floor))


def _room(tx: Tx, run_id: int) -> bool:
    """Whether the run's stated budget (``runs.config['budget']``, written by ``autods run``) has
    room for the variant's seeds; items count as the orchestrator counts them (all but aborted).
    A run created without a budget (a bare server) is not limited here."""
    run = tx.get_run(run_id)
    budget = (run.config or {}).get("budget") if run is not None else None
    if not isinstance(budget, int):
        return True
    used = sum(1 for q in tx.list_items(run_id) if q.status != "aborted")
    return used + VARIANT_SEEDS <= budget


def may_queue_variant(result: Result) -> bool:
    """Whether :func:`queue_variant` could apply, read from the result alone: a slope outside the
    band on a result that is not already recalibrated. Keeps the server's second transaction off
    the hot path of every in-band result (tests/test_state_audit.py counts its statements)."""
    slope, method = slope_from_artifacts(result.artifacts)
    return _out_of_band(slope) and method in (None, "", "none") and slope is not None and slope > 0


def queue_variant(tx: Tx, result: Result, proposal: Proposal | None, floor: float) -> Proposal | None:
    """Queue the Platt variant of ``result`` when the rule in the module docstring applies; None otherwise."""
    from autods.runners.calibrate import recalibrated

    slope, method = slope_from_artifacts(result.artifacts)
    if proposal is None or not _out_of_band(slope) or method not in (None, "", "none"):
        return None
    read = canon.canonicalise(proposal.recipe)
    if read.family in (RECALIBRATED_FAMILY, TRIVIAL_FAMILY) or fidelity_of(read.recipe) == SCREEN:
        return None
    if slope is None or slope <= 0:
        return None  # scores ranked against the outcome: an increasing map cannot repair that
    sign = 1.0 if result.higher_is_better else -1.0
    others = [r for r in tx.list_results(result.run_id) if r.metric == result.metric and r.id != result.id]
    if any(sign * (r.value - result.value) > 0 for r in others):
        return None  # not the best so far: the gate would not be asked about it
    if not _promotable(tx, result, floor):
        return None
    if not _room(tx, result.run_id):
        return None  # the run's stated budget has no room for both seeds: the first champion stands
    variant = canon.canonicalise(recalibrated(read.recipe, "platt"))
    if any(tx.find_items(result.run_id, variant.hash, result.seed + k, LIVE_OR_RUN) for k in range(VARIANT_SEEDS)):
        return None  # already queued (by this rule or by an analyst)
    if any(p.canonical_hash == variant.hash and p.author == SYSTEM for p in tx.list_proposals(result.run_id)):
        return None  # queued once already (its items may have failed): no second attempt
    title = f"recalibrated variant (platt) of proposal {proposal.id}"
    why = (f"server rule: result {result.id} is the run's best so far and its out-of-fold calibration slope "
           f"{slope:.3g} is outside [{SLOPE_BAND[0]}, {SLOPE_BAND[1]}]; the same model with a Platt map fitted "
           f"inside each training fold keeps its ranking and can be promoted")
    # ``tx`` is the server's own (actor ``system``): the proposal's author names who decided
    derived = tx.add_proposal(result.run_id, title, variant.recipe, why, 0.0, variant.family, variant.hash,
                              proposal.team_id, None)
    item = tx.get_item(result.queue_item_id)
    team = None if item is None else item.team_id
    for k in range(VARIANT_SEEDS):
        tx.add_item(result.run_id, derived.id, team, variant.hash, result.seed + k)
    tx.set_proposal_status(derived.id, "queued")
    tx.add_post(result.run_id, "note", title, why, {"derived_from_result": result.id, "proposal_id": derived.id},
                None, team, author=SYSTEM)
    return derived


def in_place_verdict(result: Result, siblings: list[Result], champion: list[Result]) -> tuple[bool, str]:
    """Whether the recalibrated variant (``result`` and its confirmations ``siblings``) of the
    champion's own recipe (``champion``: its results) replaces it; see the module docstring."""
    from autods.judge.paired import compare

    champ_slope = slope_from_artifacts(champion[0].artifacts)[0]
    mine = slope_from_artifacts(result.artifacts)[0]
    if not _out_of_band(champ_slope):
        return False, (f"the champion's calibration slope {champ_slope} is within {list(SLOPE_BAND)}: its "
                       f"recalibrated variant must beat it on the paired rule like any challenger")
    if mine is None or mine <= 0 or abs(math.log(mine)) >= abs(math.log(champ_slope)):
        return False, f"recalibration did not move the slope toward 1 ({champ_slope:.3g} -> {mine})"
    splits = [r.split for r in (result, *siblings, *champion)]
    folds = [r.fold_scores for r in (result, *siblings, *champion)]
    if not protocol.on_shared_folds(splits, folds):
        return False, "the variant and the champion were not scored on the same plan folds"
    repeats, k = protocol.fold_plan(result.split) or (1, 2)
    a = protocol.pooled_folds([r.fold_scores for r in (result, *siblings)])
    b = protocol.pooled_folds([r.fold_scores for r in champion])
    keys = [f"f{i}" for i in range(len(a))]
    test = compare(dict(zip(keys, a)), dict(zip(keys, b)), higher_is_better=result.higher_is_better,
                   test_over_train=1.0 / (k - 1))
    what = (f"recalibrated in place: slope {champ_slope:.3g} -> {mine:.3g}; paired difference on {test.n_folds} "
            f"shared folds ({repeats}x{k}) {test.mean_diff:+.4g} (SE {test.se:.3g})")
    if -test.mean_diff > test.se:
        return False, f"{what}: worse than the champion by more than one standard error"
    return True, what
