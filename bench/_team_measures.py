"""The figures of bench/team.py, each a pure function of one run's records (read from its
state DB by :func:`records_from_state`), so every definition is tested on synthetic records
(tests/test_bench_team.py).

A run's *search experiments* are its recorded results except the baseline (the biostatistician's
trivial predictor and the default / start recipe on its noise-floor seeds), in the order they
were recorded. Confirmation seeds the orchestrator queues count as search experiments: they
spend the budget like any other run.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

#: tickets answered this way say "do not run (more of) this idea"
STOP_ANSWERS = ("CUT", "DEMOTE", "REVISE")
#: the validator's dead-end rule (agents/expert/team.py DEAD_END_MIN): this many recipes of a
#: family, all losing to the champion by more than the noise floor, make the family a dead end
LOST_MIN = 2

WASTE_RULES = {
    "answered": "its idea already had a verdict answered CUT, DEMOTE or REVISE when the result was recorded "
                "(the run should not have started, or should have been aborted)",
    "refuted": "its idea's diagnosis had been refuted before the run was enqueued",
    "cut_region": "its recipe lay inside a dead end (a CUT idea's region) registered before the run was enqueued",
    "lost_family": f"before the run was enqueued, at least {LOST_MIN} recipes of its family had been measured and "
                   "every one lost to the champion of that time by more than the noise floor (the validator's "
                   "dead-end rule, applied after the fact to both systems, whether or not they registered it)",
    "repeat": "an earlier result had the same canonical recipe and seed",
}

WASTED_DEFINITION = ("wasted share = wasted search experiments / search experiments; a search experiment is "
                     "wasted when any of these holds: " + "; ".join(f"[{k}] {v}" for k, v in WASTE_RULES.items()))

TARGET_DEFINITION = ("target = default recipe's baseline score + half the largest gain over it that either system "
                     "recorded on that cohort and seed (any single result); experiments to target = search "
                     "experiments up to and including the first at or beyond it, a run that never gets there "
                     "counts as its search experiments + 1 (censored); no target when neither system gained")

ACCEPTED_DEFINITION = ("accepted improvement = a champion change after the first champion (the start recipe) whose "
                       "new champion scores better than the one it replaced (mean of its two promoting seeds): the "
                       "server promotes only a challenger confirmed on a second seed that passes its paired rule on "
                       "the shared folds; changes that do not raise the metric (a simpler family within one SE, a "
                       "recalibrated variant promoted for calibration) are counted as changes, not improvements")


def _sign(records: dict[str, Any]) -> float:
    return 1.0 if records.get("higher_is_better", True) else -1.0


def search_results(records: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted((r for r in records["results"] if not r.get("baseline")), key=lambda r: (r["created_at"], r["id"]))


def _in_region(recipe: dict[str, Any], family: str, dead: dict[str, Any]) -> bool:
    if dead["family"] != family:
        return False
    from autods.server.canon import in_region

    return in_region(recipe, dead.get("region") or {})


def _champion_at(records: dict[str, Any], t: float) -> dict[str, Any] | None:
    past = [c for c in records.get("champions", []) if c["created_at"] <= t]
    return max(past, key=lambda c: c["created_at"]) if past else None


def _lost_family(records: dict[str, Any], r: dict[str, Any], before: list[dict[str, Any]]) -> bool:
    champ = _champion_at(records, r["item_created_at"])
    if champ is None or champ.get("family") == r["family"] or r["family"] == "dummy":
        return False
    sign, floor = _sign(records), float(records.get("floor") or 0.0)
    by_recipe: dict[str, list[float]] = {}
    for b in before:
        if b["family"] == r["family"] and b["created_at"] <= r["item_created_at"]:
            by_recipe.setdefault(b["recipe_hash"], []).append(b["value"])
    if len(by_recipe) < LOST_MIN:
        return False
    return all(sign * (statistics.fmean(v) - champ["value"]) < -floor for v in by_recipe.values())


def waste_reasons(records: dict[str, Any], r: dict[str, Any], before: list[dict[str, Any]]) -> list[str]:
    """The rules of :data:`WASTE_RULES` that ``r`` breaks, given the search results before it."""
    out = []
    idea = r["proposal_id"]
    if any(t["idea_id"] == idea and t["answer"] in STOP_ANSWERS and t["answered_at"] is not None
           and t["answered_at"] < r["created_at"] for t in records.get("tickets", [])):
        out.append("answered")
    diagnosis = records.get("idea_diagnosis", {}).get(idea)
    refuted_at = records.get("refuted", {}).get(diagnosis) if diagnosis is not None else None
    if refuted_at is not None and refuted_at < r["item_created_at"]:
        out.append("refuted")
    if any(d["created_at"] < r["item_created_at"] and _in_region(r["recipe"], r["family"], d)
           for d in records.get("dead_ends", [])):
        out.append("cut_region")
    if _lost_family(records, r, before):
        out.append("lost_family")
    if any(b["recipe_hash"] == r["recipe_hash"] and b["seed"] == r["seed"] for b in before):
        out.append("repeat")
    return out


def wasted(records: dict[str, Any]) -> dict[str, Any]:
    """Wasted share of one run (:data:`WASTED_DEFINITION`)."""
    search = search_results(records)
    by_rule = {k: 0 for k in WASTE_RULES}
    n_wasted = 0
    for k, r in enumerate(search):
        reasons = waste_reasons(records, r, search[:k])
        n_wasted += bool(reasons)
        for why in reasons:
            by_rule[why] += 1
    n = len(search)
    return {"search": n, "wasted": n_wasted, "share": n_wasted / n if n else None, "by_rule": by_rule}


def target_value(default: float, bests: list[float], higher_is_better: bool = True) -> float | None:
    """The half-gain target (:data:`TARGET_DEFINITION`) from the default's score and each run's best."""
    sign = 1.0 if higher_is_better else -1.0
    gain = max(sign * (b - default) for b in bests) if bests else 0.0
    if gain <= 0:
        return None
    return default + sign * 0.5 * gain


def best_value(records: dict[str, Any]) -> float | None:
    values = [r["value"] for r in search_results(records)]
    if not values:
        return None
    return max(values) if _sign(records) > 0 else min(values)


def experiments_to_target(records: dict[str, Any], target: float) -> tuple[int, bool]:
    """(search experiments up to the first at or beyond ``target``, reached); censored at n + 1."""
    search = search_results(records)
    sign = _sign(records)
    for k, r in enumerate(search, start=1):
        if sign * (r["value"] - target) >= 0:
            return k, True
    return len(search) + 1, False


def accepted(records: dict[str, Any]) -> dict[str, Any]:
    """Accepted improvements (:data:`ACCEPTED_DEFINITION`) and what the first champion was."""
    champs = sorted(records.get("champions", []), key=lambda c: (c["created_at"], c["id"]))
    start_hash = records.get("start_hash")
    first = champs[0] if champs else None
    gain = None
    if len(champs) >= 2:
        gain = _sign(records) * (champs[-1]["value"] - champs[0]["value"])
    better = sum(_sign(records) * (b["value"] - a["value"]) > 0 for a, b in zip(champs, champs[1:]))
    return {"accepted": better, "changes": max(0, len(champs) - 1),
            "first_is_start": bool(first and first["recipe_hash"] == start_hash),
            "first_value": first["value"] if first else None, "final_value": champs[-1]["value"] if champs else None,
            "gain": gain, "final_family": champs[-1].get("family") if champs else None}


def records_from_state(run_dir: Path) -> dict[str, Any]:
    """One run's records from its state DB: results (with their recipe, family, queue time and
    whether they are baseline runs), champion history, dead ends, graph tickets and refutations."""
    from autods.server.service import Actor, Service
    from autods.state.store import Store

    store = Store.open(f"sqlite:///{run_dir / 'state.db'}")
    try:
        service, viewer = Service(store), Actor(agent_id=None, role="viewer")
        run = service.list_runs(viewer)[0]
        props = {p.id: p for p in service.list_proposals(viewer, run.id)}
        items = {q.id: q for q in service.list_queue(viewer, run.id)}
        names = {str(a.id): a.name for a in service.list_agents(viewer, run.id)}
        raw = service.list_results(viewer, run.id)
        results = []
        for r in raw:
            p = props[r.proposal_id]
            results.append({"id": r.id, "proposal_id": r.proposal_id, "recipe": dict(p.recipe), "family": p.family,
                            "recipe_hash": r.recipe_hash, "seed": r.seed, "value": r.value,
                            "created_at": r.created_at, "item_created_at": items[r.queue_item_id].created_at,
                            "baseline": names.get(p.author, p.author) == "biostatistician"})
        by_id = {r["id"]: r for r in results}
        champions = []
        for c in service.champion_history(viewer, run.id):
            pair = [by_id[i]["value"] for i in (c.result_id, c.confirming_result_id) if i in by_id]
            champions.append({"id": c.id, "recipe_hash": c.recipe_hash, "created_at": c.created_at,
                              "value": statistics.fmean(pair) if pair else float("nan"),
                              "family": by_id[c.result_id]["family"] if c.result_id in by_id else None})
        dead = [{"family": d.family, "region": dict(d.region), "created_at": d.created_at}
                for d in service.list_dead_ends(viewer, run.id)]
        graph = service.graph(viewer, run.id)
        tickets = [{"idea_id": t.idea_id, "answer": t.answer, "answered_at": t.answered_at} for t in graph.tickets]
        refuted: dict[int, float] = {}
        for ev in store.events(0, 100_000, run.id):
            if ev.verb == "set_diagnosis_status" and ev.payload.get("status") == "refuted":
                refuted.setdefault(int(ev.payload["id"]), ev.created_at)
        return {"results": results, "champions": champions, "dead_ends": dead, "tickets": tickets,
                "refuted": refuted, "idea_diagnosis": {i.id: i.diagnosis_id for i in graph.ideas},
                "higher_is_better": bool(raw[0].higher_is_better) if raw else True,
                "t0": run.created_at, "counts": {"diagnoses": len(graph.diagnoses), "ideas": len(graph.ideas),
                                                  "relations": len(graph.relations), "tickets": len(graph.tickets),
                                                  "dead_ends": len(dead), "proposals": len(props)}}
    finally:
        store.close()


__all__ = ["ACCEPTED_DEFINITION", "TARGET_DEFINITION", "WASTED_DEFINITION", "WASTE_RULES", "accepted", "best_value",
           "experiments_to_target", "records_from_state", "search_results", "target_value", "waste_reasons", "wasted"]
