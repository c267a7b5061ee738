"""The analyst on the hypothesis graph: diagnose, propose ideas, relate them, fill NOW, dispatch.

Each step, before the generic proposals of :mod:`.analyst` (which stay the fallback when no
diagnosis fires, so a run where nothing fires behaves as before), the first of:

1. **diagnose**: a diagnosis :func:`~.diagnose.diagnose` finds that the graph lacks (matched
   by the ``[key]`` its claim starts with). Diagnoses are split between analysts by a stable
   hash of the key, so analysts deciding on the same snapshot never post one twice;
2. **relate** my ideas: to the first idea of the same diagnosis (``same_diagnosis``), and to
   the first earlier idea of the same family on another diagnosis (``alternative``: two
   settings of one family choice, of which at most one can be the family's answer);
3. **NOW**: an approved idea of mine enters NOW (execution phase); a full NOW demotes, by
   name, an occupant whose question is answered (it has run, nothing in flight, and it is
   not a challenger awaiting its confirmation);
3b. **leave NOW**: my NOW idea that has run and is not a challenger moves to NEXT;
4. **dispatch** my NOW ideas that were never queued (no open tickets: the server would answer 423);
5. **propose an idea** from a sketch of one of my diagnoses that nobody has proposed, with
   ``if_works`` / ``if_fails`` / ``surprise_if`` and an expected effect from recorded results.
"""

from __future__ import annotations

import re
from typing import Any

from autods.agents.actions import Action, Diagnose, Dispatch, Enqueue, ProposeIdea, Relate, SetTier
from autods.agents.expert import evidence as ev
from autods.agents.observation import Observation
from autods.errors import RecipeError

_KEY = re.compile(r"^\[([A-Za-z0-9_]+)\]")
#: my proposals awaiting critique before I propose another idea
AWAITING_MAX = 2


def diagnosis_key(claim: str) -> str | None:
    """``[low_epv] too few events ...`` -> ``low_epv``."""
    m = _KEY.match(claim.strip())
    return None if m is None else m.group(1)


def _owner(key: str, n_analysts: int) -> int:
    return ev.stable_seed("diagnosis", key) % max(1, n_analysts)


def _hash(recipe: dict[str, Any]) -> str | None:
    from autods.runners.recipe import Recipe

    try:
        return Recipe.parse(recipe).canonical_hash()
    except RecipeError:
        return None


def _related(obs: Observation) -> set[tuple[int, int, str]]:
    return {(min(r["src_id"], r["dst_id"]), max(r["src_id"], r["dst_id"]), r["kind"]) for r in obs.relations}


def _relate(obs: Observation) -> Relate | None:
    done = _related(obs)
    ideas = sorted(obs.ideas, key=lambda i: i["id"])
    for idea in ideas:
        if idea.get("author_name") != obs.agent or idea["tier"] == "CUT":
            continue
        first = next((i for i in ideas if i["diagnosis_id"] == idea["diagnosis_id"] and i["id"] < idea["id"]), None)
        if first is not None and (first["id"], idea["id"], "same_diagnosis") not in done:
            return Relate(src_id=idea["id"], dst_id=first["id"], relation="same_diagnosis",
                          reason=f"both test diagnosis {idea['diagnosis_id']}: a result of one speaks to the other")
        alt = next((i for i in ideas if i["family"] == idea["family"] and i["id"] < idea["id"]
                    and i["diagnosis_id"] != idea["diagnosis_id"]), None)
        if alt is not None and (alt["id"], idea["id"], "alternative") not in done:
            return Relate(src_id=idea["id"], dst_id=alt["id"], relation="alternative",
                          reason=(f"both are {idea['family']} recipes: alternative settings of one family choice, "
                                  "at most one of which can be the family's answer"))
    return None


def _challenger(obs: Observation, idea_id: int) -> bool:
    """A result of the idea beats the champion by more than the floor and awaits its confirmation."""
    rs = [r for r in obs.results if r["proposal_id"] == idea_id]
    champ = ev.champion_value(obs)
    if not rs or len(rs) >= 2:
        return False
    sign = ev.direction(obs)
    if champ is None:  # the first champion: the orchestrator confirms the best result so far
        return max(obs.results, key=lambda r: sign * r["value"])["proposal_id"] == idea_id
    return any(sign * (r["value"] - champ) > ev.floor(obs) for r in rs)


def _to_now(obs: Observation, proposals: dict[int, dict[str, Any]]) -> SetTier | None:
    if obs.phase != "execution" or ev.budget_left(obs) <= 0:
        return None
    mine = [i for i in sorted(obs.ideas, key=lambda i: i["id"]) if i.get("author_name") == obs.agent
            and i["tier"] == "NEXT" and i.get("surprise_if") and i["id"] in proposals
            and ev.version_approved(obs, proposals[i["id"]]) and not _in_dead_end(obs, i)
            and proposals.get(i["id"], {}).get("status") == "open"]
    if not mine:
        return None
    idea = mine[0]
    occupants = sorted((i for i in obs.ideas if i["tier"] == "NOW"), key=lambda i: (i["tier_changed_at"], i["id"]))
    why = f"approved by a critic; tests diagnosis {idea['diagnosis_id']}"
    if len(occupants) < obs.now_capacity:
        return SetTier(idea_id=idea["id"], tier="NOW", reason=why)
    live = {q["proposal_id"] for q in obs.queue if q["status"] in ("pending", "claimed")}
    answered = [i for i in occupants if proposals.get(i["id"], {}).get("status") == "queued"
                and i["id"] not in live and not _challenger(obs, i["id"])]
    if not answered:
        return None  # NOW holds running work or a challenger awaiting its confirmation: wait
    out = answered[0]
    titles = [i["title"].strip().lower() for i in occupants]
    name = out["title"] if titles.count(out["title"].strip().lower()) == 1 else out["id"]  # by name when unique
    return SetTier(idea_id=idea["id"], tier="NOW", demote=name,
                   reason=f"{why}; demoting idea {out['id']} ({out['title'][:80]}), which has run and is not a challenger")


def _step_down(obs: Observation, proposals: dict[int, dict[str, Any]]) -> SetTier | None:
    """My NOW idea that has run, has nothing in flight and is not a challenger awaiting its
    confirmation leaves NOW for NEXT: NOW is for work about to run (dispatch would otherwise
    pick it again and hold back its diagnosis' next idea)."""
    if obs.phase != "execution":
        return None
    live = {q["proposal_id"] for q in obs.queue if q["status"] in ("pending", "claimed")}
    for i in sorted(obs.ideas, key=lambda i: i["id"]):
        if (i["tier"] == "NOW" and i.get("author_name") == obs.agent and i["id"] not in live
                and proposals.get(i["id"], {}).get("status") == "queued" and not _challenger(obs, i["id"])):
            rs = [r for r in obs.results if r["proposal_id"] == i["id"]]
            said = ", ".join(f"result {r['id']} {r['value']:.4f}" for r in rs) or "no result (failed or aborted)"
            return SetTier(idea_id=i["id"], tier="NEXT", reason=f"has run ({said}) and is not a challenger awaiting "
                           "confirmation: NOW is for work about to run")
    return None


def _blocked(obs: Observation, idea: dict[str, Any], running: list[dict[str, Any]]) -> bool:
    """The server's rule for ideas that may run together (``graph_protocol.why_not_together``),
    read from the snapshot, so I dispatch only what it would queue."""
    from autods.server.graph_protocol import BLOCKING_KINDS

    for other in running:
        if other["id"] == idea["id"]:
            continue
        if other["diagnosis_id"] == idea["diagnosis_id"] or any(
                r["kind"] in BLOCKING_KINDS and {r["src_id"], r["dst_id"]} == {idea["id"], other["id"]}
                for r in obs.relations):
            return True
    done = {r["proposal_id"] for r in obs.results}
    return any(r["kind"] == "prerequisite" and r["dst_id"] == idea["id"] and r["src_id"] not in done
               for r in obs.relations)


def _in_dead_end(obs: Observation, idea: dict[str, Any]) -> bool:
    from autods.server.protocol import recipe_in_dead_end
    from autods.state.records import DeadEnd

    if not obs.dead_ends or "recipe" not in idea:
        return False
    return any(recipe_in_dead_end(str(idea.get("family")), idea["recipe"], idea.get("team_id"),
                                  DeadEnd.model_validate(d)) for d in obs.dead_ends)


def _dispatchable(obs: Observation, idea: dict[str, Any], queued: set[int], running: list[dict[str, Any]],
                  proposals: dict[int, dict[str, Any]]) -> bool:
    return (idea["tier"] == "NOW" and idea["id"] not in queued and idea["id"] in proposals
            and proposals[idea["id"]].get("status") == "open" and ev.version_approved(obs, proposals[idea["id"]])
            and not _blocked(obs, idea, running) and not _in_dead_end(obs, idea))


def _dispatch(obs: Observation, proposals: dict[int, dict[str, Any]]) -> Dispatch | Enqueue | None:
    """Dispatch when one of my never-run NOW ideas would be queued by the server's rules.

    Decided from the snapshot alone (no memory of an earlier refusal: a resumed run must
    decide as the uninterrupted one did). A repeat of queued or finished work is left to the
    server, which moves such an idea out of NOW, saying why. Dispatch hands out every NOW idea
    that can run, so when the budget left is smaller than that, I enqueue my one idea instead
    (the server holds an idea's enqueue to the same NOW and run-together rules)."""
    if obs.phase != "execution" or obs.tickets or ev.budget_left(obs) <= 0:
        return None
    queued = {q["proposal_id"] for q in obs.queue}
    live = {q["proposal_id"] for q in obs.queue if q["status"] in ("pending", "claimed")}
    running = [i for i in obs.ideas if i["id"] in live]
    mine = [i for i in sorted(obs.ideas, key=lambda i: i["id"]) if i.get("author_name") == obs.agent
            and _dispatchable(obs, i, queued, running, proposals)]
    if not mine:
        return None
    handed: list[dict[str, Any]] = []  # what the server's dispatch would queue, in its order
    for i in sorted(obs.ideas, key=lambda i: (i.get("tier_changed_at", 0.0), i["id"])):
        if _dispatchable(obs, i, queued, running + handed, proposals):
            handed.append(i)
    ours = [i for i in handed if i.get("author_name") == obs.agent]
    leader = next((i for i in handed if str(i.get("author_name", "")).startswith("analyst")), None)
    if not ours or leader is None or leader.get("author_name") != obs.agent:
        return None  # the first such idea's analyst dispatches them all, mine included: one dispatch a round
    if len(handed) > ev.budget_left(obs):
        return Enqueue(proposal_id=ours[0]["id"], seed=obs.seed, team_id=ours[0].get("team_id"),
                       rationale=(f"idea {ours[0]['id']} is in NOW and was never run; {len(handed)} ideas could "
                                  f"be dispatched but {ev.budget_left(obs)} experiment(s) are left"))
    return Dispatch(seeds=[obs.seed], rationale=f"ideas {[i['id'] for i in handed]} are in NOW and never ran")


def _propose(obs: Observation, found: list[Any], graph: dict[str, dict[str, Any]], n_analysts: int,
             team: int | None) -> ProposeIdea | None:
    mine = ev.proposals_by(obs, obs.agent)
    awaiting = [p for p in mine if p["status"] == "open" and not ev.objected(p) and not ev.approved(p)]
    open_all = [p for p in obs.proposals if p["status"] == "open" and not ev.objected(p)]
    if len(awaiting) >= AWAITING_MAX or ev.budget_left(obs) - len(open_all) <= 0:
        return None
    me = ev.agent_index(obs.agent)
    taken = {p["canonical_hash"] for p in obs.proposals}
    dead = {d["family"] for d in obs.dead_ends if not d.get("region")}
    for d in found:
        node = graph.get(d.key)
        if node is None or node["status"] not in ("open", "supported") or _owner(d.key, n_analysts) != me:
            continue
        for kwargs in d.graph_ideas(int(node["id"])):
            h = _hash(kwargs["recipe"])
            if h is None or h in taken or kwargs["recipe"].get("family") in dead:
                continue
            return ProposeIdea(team_id=team, rationale=f"diagnosis [{d.key}] (strength {d.strength:.2f})", **kwargs)
    return None


def graph_step(obs: Observation, n_analysts: int, team: int | None, *, relations: bool = True) -> Action | None:
    """The analyst's next graph action, or None (the generic policy then decides); ``relations``
    off (the single-agent baseline) it never relates ideas."""
    from autods.agents.expert.diagnose import diagnose

    found = diagnose(obs)
    graph: dict[str, dict[str, Any]] = {}
    for node in obs.diagnoses:
        key = diagnosis_key(node["claim"])
        if key is not None:
            graph.setdefault(key, node)
    me = ev.agent_index(obs.agent)
    for d in found:
        if d.key not in graph and _owner(d.key, n_analysts) == me:
            return Diagnose(rationale=f"strength {d.strength:.2f}", **d.graph_diagnosis())
    proposals = {p["id"]: p for p in obs.proposals}
    related = _relate(obs) if relations else None
    return (related or _step_down(obs, proposals) or _to_now(obs, proposals) or _dispatch(obs, proposals)
            or _propose(obs, found, graph, n_analysts, team))


__all__ = ["AWAITING_MAX", "diagnosis_key", "graph_step"]
