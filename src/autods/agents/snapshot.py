"""One round's view of the shared state, read through the coordination client, and the
per-agent :class:`~autods.agents.observation.Observation` built from it.

Agents step in synchronous rounds: the state is read once per round (eight requests,
whatever the team size), each agent decides on that view, then the actions are applied
in a fixed order. That keeps a run deterministic for a seed and keeps the server load
independent of the number of agents.

Everything here comes from the server's answers: no file of the run folder and no data
row is read. The task summary, the design and the noise floor are the server's owned
records (``GET /runs/{id}/records``: the steward's, the biostatistician's and the
orchestrator's posts, never another author's), so a forged post cannot change what the
critics check or what a resumed run takes as its noise floor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autods.agents.client import AgentClient
from autods.agents.observation import ColumnSummary, Observation, TaskSummary

#: data keys that mark the structured posts the observation is built from
SUMMARY_KEY, DESIGN_KEY, FLOOR_KEY = "steward_summary", "design", "noise_floor"
RECENT_POSTS = 40


def _dump(record: Any) -> dict[str, Any]:
    return record.model_dump(mode="json") if hasattr(record, "model_dump") else dict(record)


@dataclass
class Snapshot:
    """The shared state at the start of a round, as JSON dicts with agent names resolved."""

    names: dict[str, str]
    teams: list[dict[str, Any]]
    posts: list[dict[str, Any]]
    proposals: list[dict[str, Any]]
    queue: list[dict[str, Any]]
    results: list[dict[str, Any]]
    champion: dict[str, Any] | None
    dead_ends: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)
    #: the server's owned records by key (``steward_summary``, ``design``, ``noise_floor``)
    records: dict[str, Any] = field(default_factory=dict)
    #: the hypothesis graph: ``{now_capacity, diagnoses, ideas, relations, tickets}`` (all tickets)
    graph: dict[str, Any] = field(default_factory=dict)

    @property
    def open_tickets(self) -> list[dict[str, Any]]:
        return [k for k in self.graph.get("tickets", []) if k["status"] == "open"]

    # -- the owned records (server state) ---------------------------------------------------
    def _record(self, key: str) -> dict[str, Any] | None:
        rec = self.records.get(key)
        return None if rec is None else dict(rec["value"])

    @property
    def summary(self) -> dict[str, Any] | None:
        return self._record(SUMMARY_KEY)

    @property
    def design(self) -> dict[str, Any] | None:
        return self._record(DESIGN_KEY)

    @property
    def floor(self) -> dict[str, Any] | None:
        return self._record(FLOOR_KEY)

    def _trusted(self, post: dict[str, Any]) -> bool:
        """False for a post that claims to be an owned record but is not the server's one
        (only possible in a database written before the server enforced ownership)."""
        owned = {rec["post_id"] for rec in self.records.values() if rec is not None}
        data = post.get("data") or {}
        claims = post["kind"] == "design" or SUMMARY_KEY in data or FLOOR_KEY in data
        return not claims or post["id"] in owned

    def name_of(self, agent_id: str | None) -> str | None:
        if agent_id is None:
            return None
        return self.names.get(str(agent_id), str(agent_id))

    def task_summary(self) -> TaskSummary | None:
        s = self.summary
        if s is None:
            return None
        d = self.design or {}
        return TaskSummary(
            name=s["name"], task_type=s["task_type"], endpoint=s["endpoint"], metric=s["metric"],
            higher_is_better=s["higher_is_better"], cv_strategy=s["cv_strategy"], n_rows=s["n_rows"],
            n_units=s["n_units"], n_events=s.get("n_events"), events_per_variable=s.get("events_per_variable"),
            features=[ColumnSummary(**c) for c in s.get("features", [])], excluded=s.get("excluded", []),
            findings=s.get("findings", []), subgroups=list(d.get("subgroups", s.get("subgroups", []))),
            confounders=list(d.get("confounders", s.get("confounders", []))), description=s.get("description", ""),
        )

    def stuck_posts(self) -> list[dict[str, Any]]:
        return [p for p in self.posts if p["kind"] == "stuck"]

    def observation(self, *, agent: str, role: str, team_id: int | None, step: int, phase: str,
                    allowed: list[str], budget_total: int, budget_used: int, feedback: str | None,
                    seed: int, stagnating: bool) -> Observation:
        task = self.task_summary()
        if task is None:
            raise RuntimeError("no observation before the data steward has posted its summary")
        floor = self.floor
        # Pinned posts go last: a size-limited prompt trims lists from the front (oldest), and
        # the task summary and the design must survive that.
        trusted = [p for p in self.posts if self._trusted(p)]
        pinned = [p for p in trusted if _pinned(p)]
        posts = [p for p in trusted[-RECENT_POSTS:] if not _pinned(p)] + pinned
        return Observation(
            agent=agent, role=role, team_id=team_id, step=step, phase=phase, allowed_actions=allowed, task=task,
            budget_total=budget_total, budget_used=budget_used,
            noise_floor=None if floor is None else float(floor["value"]),
            baseline=None if floor is None else floor.get("baseline"), champion=self.champion,
            results=self.results, proposals=self.proposals, queue=self.queue, dead_ends=self.dead_ends,
            teams=self.teams, posts=posts, stagnating=stagnating, feedback=feedback, seed=seed,
            diagnoses=self.graph.get("diagnoses", []), ideas=self.graph.get("ideas", []),
            relations=self.graph.get("relations", []), tickets=self.open_tickets,
            now_capacity=int(self.graph.get("now_capacity", 2)),
        )


def _pinned(post: dict[str, Any]) -> bool:
    """Posts every observation carries however long the forum grows: the task summary, the
    design, the noise floor, stagnation alarms and the monitor's decisions."""
    data = post.get("data") or {}
    return (post["kind"] in ("design", "stuck") or SUMMARY_KEY in data or FLOOR_KEY in data
            or post.get("author_name") == "monitor")


class SnapshotReader:
    """Reads snapshots through one client; posts are fetched incrementally."""

    def __init__(self, client: AgentClient) -> None:
        self.client = client
        self._names: dict[str, str] = {}
        self._posts: list[dict[str, Any]] = []

    def _refresh_names(self) -> None:
        self._names = {str(a["id"]): a["name"] for a in self.client.list_agents()}

    def read(self) -> Snapshot:
        since = self._posts[-1]["id"] if self._posts else 0
        self._posts += [_dump(p) for p in self.client.list_posts(since_id=since)]
        proposals_raw = self.client.list_proposals()
        authors = {p.author for p, _ in proposals_raw} | {c.author for _, cs in proposals_raw for c in cs}
        if any(a not in self._names and a != "system" for a in authors):
            self._refresh_names()
        name = self._names.get
        proposals: list[dict[str, Any]] = []
        by_id: dict[int, dict[str, Any]] = {}
        for p, crits in proposals_raw:
            d = _dump(p)
            d["author_name"] = name(p.author, p.author)
            d["critiques"] = [{**_dump(c), "author_name": name(c.author, c.author)} for c in crits]
            proposals.append(d)
            by_id[p.id] = d
        queue = []
        for item in self.client.list_queue():
            d = _dump(item)
            d["claimed_by_name"] = None if item.claimed_by is None else name(item.claimed_by, item.claimed_by)
            d["family"] = by_id.get(item.proposal_id, {}).get("family")
            queue.append(d)
        results = []
        for r in self.client.list_results():
            d = _dump(r)
            prop = by_id.get(r.proposal_id, {})
            d["family"], d["recipe"] = prop.get("family"), prop.get("recipe")
            d["proposed_by"] = prop.get("author_name")
            results.append(d)
        champ = self.client.champion()
        graph = self.client.graph().model_dump(mode="json")
        tiers = {i["id"]: i for i in graph["ideas"]}
        for d in proposals:  # an idea is a proposal: its tier and diagnosis show on the proposal too
            if d["id"] in tiers:
                d["idea"] = {"tier": tiers[d["id"]]["tier"], "diagnosis_id": tiers[d["id"]]["diagnosis_id"]}
        for i in graph["ideas"]:
            i["author_name"] = name(i["author"], i["author"])
        return Snapshot(
            names=dict(self._names), teams=[_dump(t) for t in self.client.list_teams()],
            posts=[{**p, "author_name": name(p["author"], p["author"])} for p in self._posts],
            proposals=proposals, queue=queue, results=results,
            champion=None if champ is None else _dump(champ),
            dead_ends=[_dump(d) for d in self.client.list_dead_ends()],
            records=self.client.run_records(), graph=graph,
        )


__all__ = ["DESIGN_KEY", "FLOOR_KEY", "SUMMARY_KEY", "Snapshot", "SnapshotReader"]
