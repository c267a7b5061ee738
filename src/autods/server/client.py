"""``Coordinator``: the Service verbs as methods, over HTTP or in-process ASGI.

Agents reach the shared state only through this client. Answers are the records of
``autods.state.records`` (validated again on arrival, so schema drift is loud); a 409 raises
``ProtocolViolation(rule, reason)``, a 403 ``PermissionDenied``, exactly as the Service
would in-process. ``run_id`` defaults to the run the token is bound to.

    with Coordinator("http://127.0.0.1:8765", token) as c:          # over the network
    with Coordinator(token=token, app=create_app(service)) as c:     # in-process (tests)
"""

from __future__ import annotations

from typing import Any

from autods.server.transport import Transport
from autods.state.graph_records import (
    Diagnosis, Dispatched, GraphView, Idea, Relation, Ticket, TicketAnswered, TierChange,
)
from autods.state.records import (
    AuditEvent,
    ChampionEntry,
    Critique,
    DeadEnd,
    Post,
    Proposal,
    QueueItem,
    Result,
    Run,
    Team,
)


class Coordinator:
    """A blocking client of the coordination server; safe to share between threads."""

    def __init__(self, base_url: str | None = None, token: str | None = None, *, app: Any = None,
                 timeout: float = 30.0) -> None:
        self._t = Transport(base_url, token, app, timeout)
        self._me: dict[str, Any] | None = None

    def __enter__(self) -> Coordinator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._t.close()

    def _get(self, path: str, **params: Any) -> Any:
        return self._t.request("GET", path, params=params)

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._t.request("POST", path, json={k: v for k, v in (body or {}).items() if v is not None})

    def _run(self, run_id: int | None) -> int:
        if run_id is not None:
            return run_id
        bound = self.me()["run_id"]
        if bound is None:
            raise ValueError("run_id is required: this token is not bound to a run")
        return int(bound)

    # -- identity ---------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """``{agent_id, role, run_id, name, verbs}`` of this token (cached: tokens never change)."""
        if self._me is None:
            self._me = self._get("/api/me")
        return self._me

    def create_run(self, name: str, config: dict[str, Any] | None = None) -> Run:
        return Run.model_validate(self._post("/api/runs", {"name": name, "config": config or {}}))

    def register_agent(self, name: str, role: str, team_id: int | None = None,
                       run_id: int | None = None) -> tuple[dict[str, Any], str]:
        """Returns ``(agent, token)``; the token is shown only this once."""
        out = self._post(f"/api/runs/{self._run(run_id)}/agents", {"name": name, "role": role, "team_id": team_id})
        return out["agent"], out["token"]

    def create_team(self, name: str, hypothesis: str, strategy: str, run_id: int | None = None) -> Team:
        body = {"name": name, "hypothesis": hypothesis, "strategy": strategy}
        return Team.model_validate(self._post(f"/api/runs/{self._run(run_id)}/teams", body))

    def set_team_status(self, team_id: int, status: str) -> Team:
        return Team.model_validate(self._post(f"/api/teams/{team_id}/status", {"status": status}))

    # -- forum, proposals, critiques --------------------------------------------------------

    def post(self, kind: str, title: str, body: str = "", data: dict[str, Any] | None = None,
             thread_id: int | None = None, team_id: int | None = None, run_id: int | None = None) -> Post:
        payload = {"kind": kind, "title": title, "body": body, "data": data or {}, "thread_id": thread_id,
                   "team_id": team_id}
        return Post.model_validate(self._post(f"/api/runs/{self._run(run_id)}/posts", payload))

    def propose(self, recipe: dict[str, Any], hypothesis: str, expected_effect: float, family: str | None = None,
                title: str = "", team_id: int | None = None, run_id: int | None = None,
                revises: int | None = None) -> Proposal:
        """``family`` is only checked by the server, which derives it; ``revises``: the proposal this revises."""
        payload = {"recipe": recipe, "hypothesis": hypothesis, "expected_effect": expected_effect,
                   "family": family, "title": title, "team_id": team_id, "revises": revises}
        return Proposal.model_validate(self._post(f"/api/runs/{self._run(run_id)}/proposals", payload))

    def critique(self, proposal_id: int, verdict: str, reasons: str,
                 reopens_dead_end: int | None = None) -> Critique:
        payload = {"verdict": verdict, "reasons": reasons, "reopens_dead_end": reopens_dead_end}
        return Critique.model_validate(self._post(f"/api/proposals/{proposal_id}/critiques", payload))

    # -- queue ------------------------------------------------------------------------------

    def enqueue(self, proposal_id: int, seed: int = 0, team_id: int | None = None) -> QueueItem:
        out = self._post(f"/api/proposals/{proposal_id}/enqueue", {"seed": seed, "team_id": team_id})
        return QueueItem.model_validate(out)

    def claim(self, team_id: int | None = None, lease_s: float = 300.0, run_id: int | None = None) -> QueueItem | None:
        """The claimed item, or None when nothing is pending."""
        out = self._post(f"/api/runs/{self._run(run_id)}/claims", {"team_id": team_id, "lease_s": lease_s})
        return None if out["item"] is None else QueueItem.model_validate(out["item"])

    def heartbeat(self, item_id: int, lease_s: float = 300.0) -> QueueItem:
        return QueueItem.model_validate(self._post(f"/api/queue/{item_id}/heartbeat", {"lease_s": lease_s}))

    def release_expired(self, run_id: int | None = None) -> list[QueueItem]:
        out = self._post(f"/api/runs/{self._run(run_id)}/release-expired")
        return [QueueItem.model_validate(i) for i in out]

    def abort(self, item_id: int, reason: str) -> QueueItem:
        return QueueItem.model_validate(self._post(f"/api/queue/{item_id}/abort", {"reason": reason}))

    # -- results, champion, dead ends -------------------------------------------------------

    def record_result(self, item_id: int, metric: str, value: float, higher_is_better: bool,
                      fold_scores: list[float] | None = None, ci_low: float | None = None,
                      ci_high: float | None = None, duration_s: float = 0.0,
                      artifacts: dict[str, str] | None = None, split: str = "default") -> Result:
        payload = {"metric": metric, "value": value, "higher_is_better": higher_is_better,
                   "fold_scores": fold_scores or [], "ci_low": ci_low, "ci_high": ci_high,
                   "duration_s": duration_s, "artifacts": artifacts or {}, "split": split}
        return Result.model_validate(self._post(f"/api/queue/{item_id}/result", payload))

    def record_failure(self, item_id: int, reason: str) -> QueueItem:
        return QueueItem.model_validate(self._post(f"/api/queue/{item_id}/failure", {"reason": reason}))

    def promote(self, result_id: int, confirming_result_id: int | None = None) -> ChampionEntry:
        out = self._post(f"/api/results/{result_id}/promote", {"confirming_result_id": confirming_result_id})
        return ChampionEntry.model_validate(out)

    def add_dead_end(self, family: str, region: dict[str, Any], reason: str,
                     evidence: dict[str, Any] | None = None, team_id: int | None = None,
                     run_id: int | None = None) -> DeadEnd:
        payload = {"family": family, "region": region, "reason": reason, "evidence": evidence or {},
                   "team_id": team_id}
        return DeadEnd.model_validate(self._post(f"/api/runs/{self._run(run_id)}/dead-ends", payload))

    # -- readers ----------------------------------------------------------------------------

    def list_runs(self) -> list[Run]:
        return [Run.model_validate(r) for r in self._get("/api/runs")]

    def list_agents(self, run_id: int | None = None) -> list[dict[str, Any]]:
        """Agents of the run as the API shows them (name, role, team; never a token hash)."""
        out: list[dict[str, Any]] = self._get(f"/api/runs/{self._run(run_id)}/agents")
        return out

    def list_teams(self, run_id: int | None = None) -> list[Team]:
        return [Team.model_validate(t) for t in self._get(f"/api/runs/{self._run(run_id)}/teams")]

    def list_posts(self, kind: str | None = None, thread_id: int | None = None, since_id: int = 0,
                   run_id: int | None = None) -> list[Post]:
        out = self._get(f"/api/runs/{self._run(run_id)}/posts", kind=kind, thread_id=thread_id, since_id=since_id)
        return [Post.model_validate(p) for p in out]

    def list_proposals(self, status: str | None = None,
                       run_id: int | None = None) -> list[tuple[Proposal, list[Critique]]]:
        """Each proposal with its critiques."""
        out = self._get(f"/api/runs/{self._run(run_id)}/proposals", status=status)
        return [(Proposal.model_validate(o["proposal"]), [Critique.model_validate(c) for c in o["critiques"]])
                for o in out]

    def list_queue(self, status: str | None = None, team_id: int | None = None,
                   run_id: int | None = None) -> list[QueueItem]:
        out = self._get(f"/api/runs/{self._run(run_id)}/queue", status=status, team_id=team_id)
        return [QueueItem.model_validate(i) for i in out]

    def list_results(self, run_id: int | None = None) -> list[Result]:
        return [Result.model_validate(r) for r in self._get(f"/api/runs/{self._run(run_id)}/results")]

    def champion(self, run_id: int | None = None) -> ChampionEntry | None:
        out = self._get(f"/api/runs/{self._run(run_id)}/champion")["champion"]
        return None if out is None else ChampionEntry.model_validate(out)

    def champion_history(self, run_id: int | None = None) -> list[ChampionEntry]:
        return [ChampionEntry.model_validate(c) for c in self._get(f"/api/runs/{self._run(run_id)}/champions")]

    def list_dead_ends(self, run_id: int | None = None) -> list[DeadEnd]:
        return [DeadEnd.model_validate(d) for d in self._get(f"/api/runs/{self._run(run_id)}/dead-ends")]

    def run_records(self, run_id: int | None = None) -> dict[str, Any]:
        """``{steward_summary, design, noise_floor}``: each ``{post_id, author, role, value}`` or
        None, from the owning role's post (server state; forged posts never count)."""
        out: dict[str, Any] = self._get(f"/api/runs/{self._run(run_id)}/records")
        return out

    def list_findings(self, run_id: int | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self._get(f"/api/runs/{self._run(run_id)}/findings")
        return out

    def events(self, since: int = 0, limit: int = 1000, run_id: int | None = None) -> list[AuditEvent]:
        return [AuditEvent.model_validate(e) for e in self._get("/api/events", since=since, limit=limit,
                                                                run_id=run_id)]

    # -- the hypothesis graph (issue 14) ----------------------------------------------------

    def add_diagnosis(self, claim: str, finding_ids: list[int] | None = None, result_ids: list[int] | None = None,
                      run_id: int | None = None) -> Diagnosis:
        body = {"claim": claim, "finding_ids": finding_ids or [], "result_ids": result_ids or []}
        return Diagnosis.model_validate(self._post(f"/api/runs/{self._run(run_id)}/diagnoses", body))

    def set_diagnosis_status(self, diagnosis_id: int, status: str, reason: str,
                             merged_into: int | None = None) -> Diagnosis:
        body = {"status": status, "reason": reason, "merged_into": merged_into}
        return Diagnosis.model_validate(self._post(f"/api/diagnoses/{diagnosis_id}/status", body))

    def list_diagnoses(self, run_id: int | None = None) -> list[Diagnosis]:
        return [Diagnosis.model_validate(d) for d in self._get(f"/api/runs/{self._run(run_id)}/diagnoses")]

    def propose_idea(self, diagnosis_id: int, recipe: dict[str, Any], hypothesis: str, if_works: str, if_fails: str,
                     expected_effect: float, effect_basis: str, effect_result_ids: list[int] | None = None,
                     surprise_if: str = "", tier: str = "NEXT", title: str = "", team_id: int | None = None,
                     run_id: int | None = None) -> Idea:
        body = {"diagnosis_id": diagnosis_id, "recipe": recipe, "hypothesis": hypothesis, "if_works": if_works,
                "if_fails": if_fails, "expected_effect": expected_effect, "effect_basis": effect_basis,
                "effect_result_ids": effect_result_ids or [], "surprise_if": surprise_if, "tier": tier,
                "title": title, "team_id": team_id}
        return Idea.model_validate(self._post(f"/api/runs/{self._run(run_id)}/ideas", body))

    def list_ideas(self, tier: str | None = None, team_id: int | None = None, diagnosis_id: int | None = None,
                   run_id: int | None = None) -> list[Idea]:
        out = self._get(f"/api/runs/{self._run(run_id)}/ideas", tier=tier, team_id=team_id, diagnosis_id=diagnosis_id)
        return [Idea.model_validate(i) for i in out]

    def get_idea(self, idea_id: int) -> Idea:
        return Idea.model_validate(self._get(f"/api/ideas/{idea_id}"))

    def set_tier(self, idea_id: int, tier: str, reason: str, demote: int | str | None = None,
                 resurrect_if: str | None = None, surprise_if: str | None = None) -> TierChange:
        """Promote X to NOW demoting Y because R: ``set_tier(x, "NOW", r, demote=y)``."""
        body = {"tier": tier, "reason": reason, "demote": demote, "resurrect_if": resurrect_if,
                "surprise_if": surprise_if}
        return TierChange.model_validate(self._post(f"/api/ideas/{idea_id}/tier", body))

    def relate(self, src_id: int, dst_id: int, kind: str, reason: str) -> Relation:
        body = {"dst_id": dst_id, "kind": kind, "reason": reason}
        return Relation.model_validate(self._post(f"/api/ideas/{src_id}/relations", body))

    def list_relations(self, idea_id: int | None = None, run_id: int | None = None) -> list[Relation]:
        out = self._get(f"/api/runs/{self._run(run_id)}/relations", idea_id=idea_id)
        return [Relation.model_validate(r) for r in out]

    def dispatch(self, seeds: list[int] | None = None, team_id: int | None = None,
                 run_id: int | None = None) -> Dispatched:
        body = {"seeds": seeds or [0], "team_id": team_id}
        return Dispatched.model_validate(self._post(f"/api/runs/{self._run(run_id)}/dispatch", body))

    def list_tickets(self, status: str | None = None, idea_id: int | None = None,
                     run_id: int | None = None) -> list[Ticket]:
        out = self._get(f"/api/runs/{self._run(run_id)}/tickets", status=status, idea_id=idea_id)
        return [Ticket.model_validate(k) for k in out]

    def answer_ticket(self, ticket_id: int, answer: str, reason: str, resurrect_if: str | None = None,
                      demote: int | str | None = None, surprise_if: str | None = None) -> TicketAnswered:
        body = {"answer": answer, "reason": reason, "resurrect_if": resurrect_if, "demote": demote,
                "surprise_if": surprise_if}
        return TicketAnswered.model_validate(self._post(f"/api/tickets/{ticket_id}/answer", body))

    def graph(self, run_id: int | None = None) -> GraphView:
        return GraphView.model_validate(self._get(f"/api/runs/{self._run(run_id)}/graph"))
