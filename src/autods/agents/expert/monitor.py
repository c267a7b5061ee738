"""The monitor's policy: act on each stagnation alarm (the server's ``stuck`` post) once.

For every unanswered alarm it posts one *decision* in the alarm's thread, then carries it
out on later steps if its role may (the decision note is the record; applying it is
idempotent, so a restart between the two loses nothing):

* **merge** two active teams that test the same diagnosis of the hypothesis graph (their ideas
  hang off it), or, without graph work, whose latest proposals are in the same family (the
  newer team merges into the older);
* **dissolve** a team whose diagnoses the graph has refuted, or whose every idea was CUT, or
  (without graph work) whose latest family has become a dead end;
* **split** when one team holds every analyst's work: a second team is formed for
  representation work, so two strategies run in parallel;
* **pivot** otherwise: the note asks analysts to explore; analysts see the alarm and make
  their next proposal from an untried family or representation. On the graph the note names
  the open diagnoses no live idea (NOW or NEXT) tests, where the next ideas should hang.
"""

from __future__ import annotations

import re
from typing import Any

from autods.agents.actions import Action, FormTeam, Post, SetTeamStatus, Wait
from autods.agents.observation import Observation

_DECISION = re.compile(r"^decision: (merge|dissolve|split|pivot)(?: team (\d+))?")


def _latest_family(obs: Observation, team_id: int) -> str | None:
    props = [p for p in obs.proposals if p.get("team_id") == team_id]
    return props[-1]["family"] if props else None


def _team_diagnoses(obs: Observation, team_id: int) -> set[int]:
    return {int(i["diagnosis_id"]) for i in obs.ideas if i.get("team_id") == team_id and i.get("diagnosis_id")}


def _graph_decide(obs: Observation, active: list[dict[str, Any]]) -> tuple[str, int | None, str] | None:
    """Merge or dissolve from the graph: teams are lenses on diagnoses (None: no team has graph work)."""
    lenses = {t["id"]: _team_diagnoses(obs, t["id"]) for t in active}
    if not any(lenses.values()):
        return None
    status = {int(d["id"]): d.get("status") for d in obs.diagnoses}
    seen: dict[int, int] = {}
    for t in sorted(active, key=lambda t: t["id"]):
        shared = sorted(d for d in lenses[t["id"]] if d in seen)
        if shared:
            return ("merge", t["id"], f"team {t['id']} tests diagnosis {shared[0]} like team {seen[shared[0]]}: "
                                      "one lens per diagnosis")
        seen.update({d: t["id"] for d in lenses[t["id"]]})
    for t in active:
        mine = lenses[t["id"]]
        ideas = [i for i in obs.ideas if i.get("team_id") == t["id"]]
        if mine and all(status.get(d) in ("refuted", "merged") for d in mine):
            return "dissolve", t["id"], f"team {t['id']}'s diagnoses {sorted(mine)} were refuted"
        if ideas and all(i.get("tier") == "CUT" for i in ideas):
            return "dissolve", t["id"], f"every idea of team {t['id']} was cut"
    return None


def _untested(obs: Observation) -> list[int]:
    """Open diagnoses that no idea in NOW or NEXT tests."""
    live = {i.get("diagnosis_id") for i in obs.ideas if i.get("tier") in ("NOW", "NEXT")}
    return sorted(int(d["id"]) for d in obs.diagnoses if d.get("status") == "open" and d["id"] not in live)


def _decide(obs: Observation) -> tuple[str, int | None, str]:
    active = [t for t in obs.teams if t["status"] == "active" and t["name"] != "validation"]
    on_graph = _graph_decide(obs, active)
    if on_graph is not None:
        return on_graph
    families = {t["id"]: _latest_family(obs, t["id"]) for t in active}
    seen: dict[str, int] = {}
    for t in sorted(active, key=lambda t: t["id"]):
        fam = families[t["id"]]
        if fam is not None and fam in seen:
            return "merge", t["id"], f"team {t['id']} works on {fam} like team {seen[fam]}: one queue is enough"
        if fam is not None:
            seen[fam] = t["id"]
    dead = {d["family"] for d in obs.dead_ends if not d.get("region")}
    for t in active:
        if families[t["id"]] in dead:
            return "dissolve", t["id"], f"team {t['id']}'s family {families[t['id']]} is a dead end"
    analysts = {p.get("author_name") for p in obs.proposals if str(p.get("author_name", "")).startswith("analyst")}
    if len(active) == 1 and len(analysts) > 1:
        return "split", active[0]["id"], "one team holds every strategy: split off representation work"
    untested = _untested(obs)
    if untested:
        return "pivot", None, (f"no team to merge or dissolve: diagnoses {untested} are open and no live idea tests "
                               "them; analysts hang their next ideas there, or explore untried families and "
                               "representations")
    return "pivot", None, "no team to merge or dissolve: analysts explore untried families and representations"


def _decisions(obs: Observation) -> list[tuple[str, int | None, dict[str, Any]]]:
    out = []
    for p in obs.posts:
        if p.get("author_name") == obs.agent and p["kind"] == "note":
            m = _DECISION.match(p["title"])
            if m:
                out.append((m.group(1), int(m.group(2)) if m.group(2) else None, p))
    return out


def monitor(obs: Observation) -> Action:
    decisions = _decisions(obs)
    answered = {p["thread_id"] for _, _, p in decisions}
    for stuck in [p for p in obs.posts if p["kind"] == "stuck" and p["id"] not in answered][-1:]:
        kind, team, reason = _decide(obs)
        title = f"decision: {kind}" + (f" team {team}" if team is not None else "")
        return Post(post_kind="note", title=title, body=reason, thread_id=stuck["id"],
                    rationale="stagnation: re-open discussion")
    teams = {t["id"]: t for t in obs.teams}
    for kind, team, _ in decisions:
        if team is None or kind not in ("merge", "dissolve", "split"):
            continue
        if kind == "split":
            split_name = f"split of team {team}: representation"
            if "form_team" in obs.allowed_actions and not any(t["name"] == split_name for t in obs.teams):
                return FormTeam(name=split_name, hypothesis="representation work runs beside model tuning",
                                strategy="preprocessing, feature sets and composites on the champion")
            continue
        status = "merged" if kind == "merge" else "dissolved"
        if "set_team_status" in obs.allowed_actions and teams.get(team, {}).get("status") == "active":
            return SetTeamStatus(team_id=team, status=status, rationale=f"monitor decision: {kind}")
    return Wait()


__all__ = ["monitor"]
