"""Answering verdict tickets from the judge's numbers (issue 14, deliverable 3).

Each recorded result of an idea opens a ticket on every idea it touches; new work waits
until they are answered. The rule, per ticket, on the idea's *own* results against the
champion's (the champion's result and its confirmation):

* **PROMOTE** when the server's paired rule (:func:`autods.server.protocol.paired_verdict`:
  better by the corrected repeated k-fold t-test, or simpler and not separated) says the
  idea's results beat the champion's on the shared folds. PROMOTE moves the idea to NOW;
  the server's promotion (which wants a confirming seed) still decides the champion.
* **CUT** when the champion beats the idea on the shared folds by the same one-sided test
  *and* by more than the noise floor on average: it lost by more than noise, paired. The
  ``resurrect_if`` names what would reopen it.
* **HOLD** otherwise: no own result yet (a sibling's result touched it), no champion, the
  idea is the champion, results not on shared folds, or a difference the folds do not
  separate. One seed is not a verdict.

Every reason quotes the numbers it rests on.
"""

from __future__ import annotations

from typing import Any

from autods.agents.actions import AnswerTicket, TicketVerdict
from autods.agents.expert import evidence as ev
from autods.agents.observation import Observation


def _champion_results(obs: Observation) -> list[dict[str, Any]]:
    if obs.champion is None:
        return []
    ids = {obs.champion["result_id"], obs.champion.get("confirming_result_id")}
    return [r for r in obs.results if r["id"] in ids]


def _mean(rs: list[dict[str, Any]]) -> float:
    return sum(float(r["value"]) for r in rs) / len(rs)


def verdict(obs: Observation, ticket: dict[str, Any]) -> TicketVerdict:
    """The answer to one open ticket by the rule above."""
    from autods.judge.paired import compare
    from autods.server import protocol

    tid, idea_id = int(ticket["id"]), int(ticket["idea_id"])
    idea = next((i for i in obs.ideas if i["id"] == idea_id), None)
    title = "" if idea is None else f" ({idea['title'][:80]})"
    own = [r for r in obs.results if r["proposal_id"] == idea_id]

    def hold(why: str) -> TicketVerdict:
        return TicketVerdict(ticket_id=tid, answer="HOLD", reason=f"idea {idea_id}{title}: {why}"[:2000])

    if not own:
        return hold(f"result {ticket['result_id']} of a related idea touched it; it has no result of its own yet")
    champ = _champion_results(obs)
    if not champ:
        return hold("no champion to compare with yet")
    if any(r["recipe_hash"] == obs.champion["recipe_hash"] for r in own):  # type: ignore[index]
        return hold("it is the champion's recipe")
    sign, floor = ev.direction(obs), ev.floor(obs)
    mine, theirs = _mean(own), _mean(champ)
    numbers = (f"{obs.task.metric} {mine:.4f} on {len(own)} seed(s) vs champion {theirs:.4f} on {len(champ)}, "
               f"noise floor {floor:.4g}")
    both = own + champ
    if not protocol.on_shared_folds([r["split"] for r in both], [r["fold_scores"] for r in both]):
        return hold(f"{numbers}; not scored on the champion's folds, so nothing pairs: one seed is not a verdict")
    split = own[0]["split"]
    ok, why = protocol.paired_verdict([r["fold_scores"] for r in own], [r["fold_scores"] for r in champ], split,
                                      sign > 0, str(own[0].get("family") or ""), str(champ[0].get("family") or ""))
    if ok:
        reason = (f"idea {idea_id}{title}: {numbers}; {why}: it beats the champion by the paired rule "
                  "(the server's promotion, after a confirming seed, decides the champion)")
        return TicketVerdict(ticket_id=tid, answer="PROMOTE", reason=reason[:2000])
    repeats, k = protocol.fold_plan(split) or (1, 2)
    ours, champs = protocol.pooled_folds([r["fold_scores"] for r in own]), protocol.pooled_folds(
        [r["fold_scores"] for r in champ])
    keys = [f"f{i}" for i in range(len(ours))]
    lost = compare(dict(zip(keys, champs)), dict(zip(keys, ours)), higher_is_better=sign > 0,
                   test_over_train=1.0 / (k - 1))
    test = (f"champion better by {lost.mean_diff:+.4g} (SE {lost.se:.3g}, one-sided p = {lost.p_value:.3g}) "
            f"on {lost.n_folds} shared folds ({repeats}x{k})")
    if lost.better and lost.mean_diff > floor:
        reason = f"idea {idea_id}{title}: {numbers}; {test}: it lost by more than the noise floor, paired"
        back = (f"the champion changes, or new evidence for its diagnosis shows a gain above {floor:.4g} "
                "on the shared folds")
        return TicketVerdict(ticket_id=tid, answer="CUT", reason=reason[:2000], resurrect_if=back)
    return hold(f"{numbers}; {why}; {test}: not separated either way")


def answer_tickets(obs: Observation) -> AnswerTicket | None:
    """One action answering every open ticket of the run, oldest first; None when none is open.

    A PROMOTE of an idea outside a full NOW would be refused (NOW holds one idea per worker),
    so it is held instead, saying so: the idea's analyst moves it when a slot frees."""
    if not obs.tickets:
        return None
    in_now = sum(1 for i in obs.ideas if i["tier"] == "NOW")
    tiers = {i["id"]: i["tier"] for i in obs.ideas}
    answers = []
    for ticket in sorted(obs.tickets, key=lambda k: k["id"])[:100]:
        v = verdict(obs, ticket)
        if v.answer == "PROMOTE" and tiers.get(ticket["idea_id"]) != "NOW":
            if in_now >= obs.now_capacity:
                v = v.model_copy(update={"answer": "HOLD", "reason": (v.reason + "; NOW is full, so held")[:2000]})
            else:
                in_now += 1
        answers.append(v)
    counts = {a: sum(1 for v in answers if v.answer == a) for a in ("PROMOTE", "HOLD", "CUT")}
    return AnswerTicket(answers=answers, rationale=", ".join(f"{n} {a}" for a, n in counts.items() if n))


__all__ = ["answer_tickets", "verdict"]
