"""Service verbs of results and the champion: record (rule e), failure, stagnation (i), promotion (f)."""

from __future__ import annotations

import statistics

from autods.errors import ProtocolViolation
from autods.server import canon, protocol, recalibration
from autods.server.service_base import Actor, ServiceBase
from autods.state.records import SYSTEM, ChampionEntry, QueueItem, Result
from autods.state.store import Tx


class ResultVerbs(ServiceBase):
    def record_result(
        self,
        actor: Actor,
        item_id: int,
        metric: str,
        value: float,
        higher_is_better: bool,
        fold_scores: list[float] | None = None,
        ci_low: float | None = None,
        ci_high: float | None = None,
        duration_s: float = 0.0,
        artifacts: dict[str, str] | None = None,
        split: str = "default",
    ) -> Result:
        """Record the judge's measurement for a claimed item (rule e); the item becomes ``done``.

        Also posts a ``result`` to the forum and may emit the stagnation post (rule i). A
        miscalibrated best result gets its recalibrated variant queued
        (:func:`autods.server.recalibration.queue_variant`).
        """
        self._allow(actor, "record_result")
        with self.store.write(actor.key) as tx:
            # Check and transition in one statement; a refusal below rolls it back.
            item = tx.move_item(item_id, ("claimed",), "done")
            if item is None:
                item = self._item(tx, item_id)
                self._in_run(actor, item.run_id)
                raise ProtocolViolation(
                    "result_requires_claim", f"item {item_id} is {item.status}; results are recorded for claimed items"
                )
            self._in_run(actor, item.run_id)
            result = tx.add_result(
                item, split, metric, float(value), bool(higher_is_better), [float(s) for s in fold_scores or []],
                ci_low, ci_high, float(duration_s), artifacts or {},
            )
            tx.add_post(
                item.run_id, "result", f"{metric} = {value:.4g} (item {item_id}, seed {item.seed})", "",
                {"result_id": result.id, "item_id": item_id, "metric": metric, "value": value}, None, item.team_id,
            )
            self._stagnation(tx, item.run_id, result)
        # the server's own write (author ``system``), after the result is safely committed
        if recalibration.may_queue_variant(result):
            with self.store.write(SYSTEM) as tx:
                recalibration.queue_variant(tx, result, tx.get_proposal(result.proposal_id),
                                            self._floor(tx, result.run_id))
        return result

    def record_failure(self, actor: Actor, item_id: int, reason: str) -> QueueItem:
        """Mark a claimed item failed (a crash is data: the reason is kept)."""
        self._allow(actor, "record_failure")
        with self.store.write(actor.key) as tx:
            item = tx.move_item(item_id, ("claimed",), "failed", reason)
            if item is None:
                item = self._item(tx, item_id)
                self._in_run(actor, item.run_id)
                raise ProtocolViolation("result_requires_claim", f"item {item_id} is {item.status}, not claimed")
            self._in_run(actor, item.run_id)
            return item

    def _stagnation(self, tx: Tx, run_id: int, result: Result) -> None:
        """Rule i on the run's running state (one row, locked until commit so concurrent
        results of a run are counted one after the other), not on its whole history."""
        stats, champion_folds = tx.run_stats(run_id, lock=True)
        floor = self.noise_floor if self.noise_floor is not None else protocol.fold_se(champion_folds)
        if stats is None or not stats.replayed:  # upgraded from schema 1: rebuild once
            earlier = [r for r in tx.list_results(run_id) if r.id != result.id]
            announced = {p.data.get("since_result_id") for p in tx.list_posts(run_id, kind="stuck")
                         if p.author == SYSTEM}
            stats = protocol.stagnation_replay(run_id, earlier, floor, {a for a in announced if isinstance(a, int)})
        stats, episode = protocol.stagnation_step(stats, result, floor, self.stagnation_k)
        if episode is not None:
            tx.add_post(
                run_id, "stuck", f"stagnation: {self.stagnation_k} results without improvement",
                "Re-open discussion: merge, split, pivot or dissolve teams.",
                {"since_result_id": episode, "k": self.stagnation_k}, None, None, author=SYSTEM,
            )
        tx.save_run_stats(stats)

    def promote(self, actor: Actor, result_id: int, confirming_result_id: int | None = None) -> ChampionEntry:
        """Make a result's recipe the champion (rule f).

        Needs a confirming result (same recipe hash, other seed or split; found automatically
        when not given) and, if a champion exists, both results must beat it by more than the
        noise floor in the metric's direction. Once a champion exists, a binary result whose
        out-of-fold calibration slope is outside :data:`~autods.judge.calibration_gate.SLOPE_BAND`
        is refused (``miscalibrated``) unless its recipe is the recalibrated variant; the
        recalibrated variant of the champion's own recipe replaces a miscalibrated champion
        in place (:func:`autods.server.recalibration.in_place_verdict`). A result evaluated at
        screening fidelity is refused (``screening_fidelity``, :mod:`autods.judge.fidelity`).
        """
        self._allow(actor, "promote")
        with self.store.write(actor.key) as tx:
            result = tx.get_result(result_id)
            if result is None:
                raise self._missing("result", result_id)
            self._in_run(actor, result.run_id)
            tx.lock_run(result.run_id)
            champ = tx.champion(result.run_id)
            floor = self._floor(tx, result.run_id)
            self._full_fidelity(tx, result)
            self._calibrated_enough(tx, result, first=champ is None)
            if champ is not None and (champ.metric != result.metric or champ.higher_is_better != result.higher_is_better):
                raise ProtocolViolation(
                    "metric_mismatch", f"champion is judged on {champ.metric}, result {result_id} on {result.metric}"
                )
            candidates = [r for r in tx.list_results(result.run_id, recipe_hash=result.recipe_hash)
                          if protocol.is_confirmation(result, r)]
            if confirming_result_id is not None:
                candidates = [r for r in candidates if r.id == confirming_result_id]
            if champ is not None:
                champ_results = [r for r in (tx.get_result(champ.result_id), tx.get_result(champ.confirming_result_id))
                                 if r is not None]
                if champ_results and self._recalibrates(tx, result, champ.recipe_hash):
                    ok, why = recalibration.in_place_verdict(result, candidates, champ_results)
                    if not ok:
                        raise ProtocolViolation("no_improvement", f"result {result_id} cannot replace the champion: {why}")
                    if not candidates:
                        raise ProtocolViolation("needs_confirmation", f"no second result of recipe "
                                                f"{result.recipe_hash[:12]} on another seed; enqueue it first")
                    entry = tx.add_champion(result, candidates[0].id, protocol.champion_value(champ), floor,
                                            value=statistics.fmean((result.value, candidates[0].value)))
                    # the reason a reader needs: this champion did not beat the one it replaced
                    tx.add_post(result.run_id, "note", f"champion recalibrated in place (result {result.id})", why,
                                {"champion_id": entry.id, "replaced_result_id": champ.result_id,
                                 "promotion_rule": "recalibrated_in_place"}, None, None, author=SYSTEM)
                    return entry
                paired = [c for c in candidates if protocol.on_shared_folds(
                    [r.split for r in (result, c, *champ_results)], [r.fold_scores for r in (result, c, *champ_results)])]
                if paired:
                    ok, why = protocol.paired_verdict(
                        [result.fold_scores, paired[0].fold_scores], [r.fold_scores for r in champ_results],
                        result.split, result.higher_is_better, self._family(tx, result),
                        self._family(tx, champ_results[0]))
                    if not ok:
                        raise ProtocolViolation("no_improvement", f"result {result_id} does not beat the champion: {why}")
                    candidates = paired
                else:  # results not on the plan's shared folds (older runs, external tools): the floor rule
                    if not protocol.beats(result.value, champ.value, result.higher_is_better, floor):
                        raise ProtocolViolation(
                            "no_improvement",
                            f"result {result_id} ({result.value:.6g}) does not beat the champion ({champ.value:.6g}) "
                            f"by more than the noise floor {floor:.3g}",
                        )
                    candidates = [r for r in candidates
                                  if protocol.beats(r.value, champ.value, r.higher_is_better, floor)]
            if not candidates:
                raise ProtocolViolation(
                    "needs_confirmation",
                    f"no second result of recipe {result.recipe_hash[:12]} on another seed or split"
                    + (" that also beats the champion" if champ is not None else "")
                    + "; enqueue it with another seed first",
                )
            return tx.add_champion(result, candidates[0].id, protocol.champion_value(champ), floor,
                                   value=statistics.fmean((result.value, candidates[0].value)))

    def _full_fidelity(self, tx: Tx, result: Result) -> None:
        """Only full-fidelity results become champion; the fidelity is the server's reading of the recipe."""
        from autods.judge.fidelity import fidelity_of, promotion_refusal

        proposal = tx.get_proposal(result.proposal_id)
        recipe = None if proposal is None else canon.canonicalise(proposal.recipe).recipe
        why = promotion_refusal(fidelity_of(recipe) if result.artifacts.get("fidelity") != "screen" else "screen")
        if why is not None:
            raise ProtocolViolation("screening_fidelity", f"result {result.id} cannot become champion: {why}")

    @staticmethod
    def _recalibrates(tx: Tx, result: Result, champion_hash: str) -> bool:
        """Whether the result's recipe is the recalibrated variant of the champion's recipe."""
        proposal = tx.get_proposal(result.proposal_id)
        return proposal is not None and recalibration.base_hash(proposal.recipe) == champion_hash

    def _calibrated_enough(self, tx: Tx, result: Result, *, first: bool) -> None:
        """The calibration gate (:mod:`autods.judge.calibration_gate`) on the slope the harness recorded;
        ``first`` (no champion yet) is accepted whatever its slope (see ``calibration_verdict``)."""
        from autods.judge.calibration_gate import calibration_verdict, slope_from_artifacts

        slope, method = slope_from_artifacts(result.artifacts)
        verdict = calibration_verdict(slope, self._family(tx, result), method, first=first)
        if not verdict.ok:
            raise ProtocolViolation("miscalibrated", f"result {result.id} cannot become champion: {verdict.reason}")

    @staticmethod
    def _family(tx: Tx, result: Result) -> str:
        proposal = tx.get_proposal(result.proposal_id)
        return "" if proposal is None else proposal.family
