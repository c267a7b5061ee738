"""Pure protocol rules: no database, no clock, so each one is testable on plain records.

The Service calls these inside a write transaction, with records it just read, so a check
and the write it guards commit together (a concurrent writer cannot slip between them).

No side doors (issue 14): what a proposer *says* never decides a rule.

* Recipes are read by the server (:mod:`autods.server.canon`): duplicates compare the
  canonical hash (defaults filled in), dead ends match the derived family and the canonical
  recipe (:func:`recipe_in_dead_end`), on REST, MCP and in-process alike.
* Approval is judged per recipe *version* (every proposal of the run with that canonical
  hash, :func:`check_approved`): a critic's latest ``revise`` blocks until a changed recipe
  is approved; a validator's ``reject`` is final; otherwise one approval, two against a reject.
* The task summary, the design and the noise floor the critics act on are the owning role's
  record (:mod:`autods.server.owned`; owners in ``state/roles.py``), never the latest post
  of any author, and the noise floor a restarted server promotes against is that record.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from autods.errors import ProtocolViolation
from autods.server import canon
from autods.state.records import ChampionEntry, Critique, DeadEnd, Proposal, Result, RunStats

# Approvals needed to overrule an outstanding reject (rule a). One approval from someone
# other than the proposer suffices when nobody rejects; a reject is a stated objection and
# one colleague's approval should not silence it, two should.
APPROVALS_TO_OVERRULE_REJECT = 2
MAX_ATTEMPTS = 3  # expired leases before an item is marked failed (rule d)


def latest_verdicts(critiques: Iterable[Critique], proposer: str) -> dict[str, Critique]:
    """Each other agent's latest critique: a critic may change their mind, and self-review never counts."""
    latest: dict[str, Critique] = {}
    for c in sorted(critiques, key=lambda c: c.id):
        if c.author != proposer:
            latest[c.author] = c
    return latest


def _said(c: Critique) -> str:
    """A critique's reasons on one line, short enough for a refusal message."""
    text = " ".join(c.reasons.split())
    return (text[:157] + "...") if len(text) > 160 else (text or "no reason given")


def check_approved(proposal: Proposal, critiques: Sequence[Critique], validators: Collection[str] = ()) -> None:
    """Rule a, on every critique of this *version* (all proposals of the run with the same
    canonical recipe hash, so re-proposing a recipe does not shed its critiques):

    * a ``reject`` by a validator (agent ids in ``validators``) is final for the version;
    * a critic whose latest verdict is ``revise`` blocks it until a changed recipe (a new
      proposal, ``revises`` naming this one) is approved, or that critic approves after all;
    * otherwise >= 1 approval by another agent, and >= 2 to overrule another critic's reject.
    """
    final = [c for c in critiques if c.verdict == "reject" and c.author in validators and c.author != proposal.author]
    if final:
        c = final[0]
        raise ProtocolViolation(
            "rejected_final",
            f"proposal {proposal.id}: validator {c.author} rejected this recipe (critique {c.id}: {_said(c)}); "
            "a validator's reject is final for a version: propose a changed recipe",
        )
    verdicts = latest_verdicts(critiques, proposal.author)
    revising = [c for c in verdicts.values() if c.verdict == "revise"]
    if revising:
        c = revising[0]
        raise ProtocolViolation(
            "revise",
            f"proposal {proposal.id}: agent {c.author} asked for a revision ({_said(c)}); propose the revised "
            f"recipe with revises={c.proposal_id} and have it approved",
        )
    approvals = sum(1 for c in verdicts.values() if c.verdict == "approve")
    rejects = sum(1 for c in verdicts.values() if c.verdict == "reject")
    if approvals == 0:
        raise ProtocolViolation(
            "needs_approval",
            f"proposal {proposal.id} has no approving critique from an agent other than its author; "
            "ask a colleague to critique it first",
        )
    if rejects and approvals < APPROVALS_TO_OVERRULE_REJECT:
        raise ProtocolViolation(
            "rejected",
            f"proposal {proposal.id} has {rejects} reject(s) and {approvals} approval(s); "
            f"{APPROVALS_TO_OVERRULE_REJECT} approvals are needed to overrule a reject",
        )


def recipe_in_dead_end(family: str, recipe: dict[str, Any], team_id: int | None, dead_end: DeadEnd) -> bool:
    """A canonical recipe (see :mod:`autods.server.canon`) lies inside a dead end when its
    family matches and it has every region item, defaults included.

    A team-scoped dead end binds only that team's proposals; a run-wide one (team_id None) binds all.
    """
    if dead_end.team_id is not None and dead_end.team_id != team_id:
        return False
    return family == dead_end.family and canon.in_region(recipe, dead_end.region)


def in_dead_end(proposal: Proposal, dead_end: DeadEnd) -> bool:
    """:func:`recipe_in_dead_end` on the server's reading of ``proposal.recipe``: its label
    counts only when the recipe does not parse (a record from before canonicalisation)."""
    try:
        read = canon.canonicalise(proposal.recipe)
    except ProtocolViolation:
        return recipe_in_dead_end(proposal.family, proposal.recipe, proposal.team_id, dead_end)
    return recipe_in_dead_end(read.family, read.recipe, proposal.team_id, dead_end)


def check_dead_ends(proposal: Proposal, read: canon.Canonical, dead_ends: Sequence[DeadEnd],
                    critiques: Sequence[Critique]) -> None:
    """Rule c: refuse a recipe inside a dead end unless an approving critique re-opens it with a reason.

    ``read`` is the server's canonical reading of the proposal's recipe, never its label.
    """
    verdicts = latest_verdicts(critiques, proposal.author)
    for dead_end in dead_ends:
        if not recipe_in_dead_end(read.family, read.recipe, proposal.team_id, dead_end):
            continue
        reopened = any(
            c.verdict == "approve" and c.reopens_dead_end == dead_end.id and c.reasons.strip()
            for c in verdicts.values()
        )
        if not reopened:
            raise ProtocolViolation(
                "dead_end",
                f"proposal {proposal.id} lies in dead end {dead_end.id} (family {dead_end.family!r}, "
                f"region {dead_end.region}): {dead_end.reason}; to retry, another agent must approve it "
                f"with a critique that sets reopens_dead_end={dead_end.id} and gives a reason",
            )


def beats(value: float, reference: float, higher_is_better: bool, floor: float) -> bool:
    """Direction-aware: True when ``value`` improves on ``reference`` by strictly more than ``floor``."""
    gain = value - reference if higher_is_better else reference - value
    return gain > floor


def measured_noise_floor(champion_result: Result | None) -> float:
    """Standard error of the champion's per-fold scores: the smallest gain worth believing.

    Used when the Service has no configured floor. Fewer than two folds give 0.0 (nothing measured).
    """
    return 0.0 if champion_result is None else fold_se(champion_result.fold_scores)


def fold_se(scores: Sequence[float] | None) -> float:
    """Standard error of the mean of per-fold scores; 0.0 for fewer than two."""
    if not scores or len(scores) < 2:
        return 0.0
    return statistics.stdev(scores) / math.sqrt(len(scores))


def is_confirmation(candidate: Result, other: Result) -> bool:
    """Same recipe, same metric and direction, measured on a different seed or split."""
    return (
        other.id != candidate.id
        and other.recipe_hash == candidate.recipe_hash
        and other.metric == candidate.metric
        and other.higher_is_better == candidate.higher_is_better
        and (other.seed != candidate.seed or other.split != candidate.split)
    )


def improvement_flags(results: Sequence[Result], floor: float) -> list[bool]:
    """For results in recording order: did each beat the running best before it by more than ``floor``?

    The running best stands in for "the champion at that time": a result that beats it is a
    promotion candidate, so an episode with no such result is one with no progress.
    """
    flags: list[bool] = []
    best: float | None = None
    for r in results:
        improved = best is None or beats(r.value, best, r.higher_is_better, floor)
        flags.append(improved)
        if improved:
            best = r.value
    return flags


def stagnation_start(results: Sequence[Result], k: int, floor: float) -> int | None:
    """If the last ``k`` results brought no improvement, the id of the last improving result (0 if none).

    That id names the stagnation episode, so the Service can emit its stuck post once per episode.
    """
    if k <= 0 or len(results) < k:
        return None
    flags = improvement_flags(results, floor)
    if any(flags[-k:]):
        return None
    last_good = [r.id for r, f in zip(results, flags) if f]
    return last_good[-1] if last_good else 0


def stagnation_replay(run_id: int, results: Sequence[Result], floor: float, announced: Collection[int]) -> RunStats:
    """The running stagnation state after ``results`` (recording order), as
    :func:`stagnation_step` would have built it; ``announced``: episodes already posted."""
    flags = improvement_flags(results, floor)
    at = max((i for i, improved in enumerate(flags) if improved), default=None)
    if at is None:
        return RunStats(run_id=run_id, since_improved=len(results))
    last = results[at]
    return RunStats(run_id=run_id, best=last.value, last_good_id=last.id, since_improved=len(results) - 1 - at,
                    announced_id=last.id if last.id in announced else None)


def stagnation_step(stats: RunStats, result: Result, floor: float, k: int) -> tuple[RunStats, int | None]:
    """Rule i, one result at a time: the state after ``result``, and the episode to announce
    (the id of the last improving result) when it completes ``k`` results without
    improvement and that episode was not announced yet.

    Same verdicts as :func:`stagnation_start` over the whole history when the floor is
    fixed; with a measured floor each result is judged by the floor of its own time.
    """
    improved = stats.best is None or beats(result.value, stats.best, result.higher_is_better, floor)
    if improved:
        stats = stats.model_copy(update={"best": result.value, "last_good_id": result.id, "since_improved": 0})
    else:
        stats = stats.model_copy(update={"since_improved": stats.since_improved + 1})
    episode = stats.last_good_id
    if k <= 0 or stats.since_improved < k or episode is None or episode == stats.announced_id:
        return stats, None
    return stats.model_copy(update={"announced_id": episode}), episode


def champion_value(champion: ChampionEntry | None) -> float | None:
    return None if champion is None else champion.value


#: the split label of a result scored on the plan's folds: ``folds:{repeats}x{k}``
FOLDS_PREFIX = "folds:"


def fold_plan(split: str) -> tuple[int, int] | None:
    """(repeats, K) from a ``folds:RxK`` split label; None for any other label."""
    if not split.startswith(FOLDS_PREFIX):
        return None
    try:
        repeats, k = (int(x) for x in split[len(FOLDS_PREFIX):].split("x"))
    except ValueError:
        return None
    return (repeats, k) if repeats >= 1 and k >= 2 else None


def pooled_folds(fold_scores: Sequence[Sequence[float]]) -> list[float]:
    """Fold-wise mean over one recipe's results (its seeds): a champion's value is a mean, never its best seed."""
    return [statistics.fmean(scores) for scores in zip(*fold_scores)]


def on_shared_folds(splits: Collection[str], fold_scores: Sequence[Sequence[float]]) -> bool:
    """Whether results were all scored on the same plan folds, so they pair fold by fold."""
    lengths = {len(f) for f in fold_scores}
    if len(set(splits)) != 1 or len(lengths) != 1:
        return False
    plan = fold_plan(next(iter(splits)))
    return plan is not None and plan[0] * plan[1] == next(iter(lengths))


def paired_verdict(challenger: Sequence[Sequence[float]], champion: Sequence[Sequence[float]], split: str,
                   higher_is_better: bool, challenger_family: str, champion_family: str) -> tuple[bool, str]:
    """The promotion rule on shared folds (see :mod:`autods.judge.paired`).

    ``challenger`` and ``champion`` are the fold scores of each recipe's results (one list per
    seed), all on the folds ``split`` names. A challenger is promoted when the one-sided
    corrected repeated k-fold t-test says it is better than the champion, or when it is a
    simpler family that the champion does not beat by more than one corrected standard error
    (the one-SE rule: not separated, simpler wins). Both sides are fold-wise means over seeds.
    """
    from autods.judge.paired import compare, complexity_rank

    repeats, k = fold_plan(split) or (1, 2)
    mine, theirs = pooled_folds(challenger), pooled_folds(champion)
    keys = [f"f{i}" for i in range(len(mine))]
    test = compare(dict(zip(keys, mine)), dict(zip(keys, theirs)), higher_is_better=higher_is_better,
                   test_over_train=1.0 / (k - 1))
    what = (f"paired corrected t-test on {test.n_folds} shared folds ({repeats}x{k}): gain {test.mean_diff:+.4g}, "
            f"SE {test.se:.3g}, one-sided p = {test.p_value:.3g} (level {test.alpha})")
    if test.better:
        return True, what
    simpler = complexity_rank(challenger_family) < complexity_rank(champion_family)
    if simpler and -test.mean_diff <= test.se:
        return True, f"{what}; not separated and '{challenger_family}' is simpler than '{champion_family}' (one-SE rule)"
    return False, what
