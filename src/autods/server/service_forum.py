"""Service verbs of the discussion: teams, forum posts, proposals, critiques, dead ends."""

from __future__ import annotations

from typing import Any

from autods.errors import ProtocolViolation
from autods.server.service_base import Actor, ServiceBase
from autods.state.hashing import canonical_hash
from autods.state.records import POST_KINDS, Critique, DeadEnd, Post, Proposal, Team


class ForumVerbs(ServiceBase):
    def create_team(self, actor: Actor, run_id: int, name: str, hypothesis: str, strategy: str) -> Team:
        """Form a team around a hypothesis and strategy (status ``active``)."""
        self._allow(actor, "create_team")
        self._in_run(actor, run_id)
        with self.store.write(actor.key, run_id) as tx:
            self._run(tx, run_id)
            return tx.add_team(run_id, name, hypothesis, strategy)

    def set_team_status(self, actor: Actor, team_id: int, status: str) -> Team:
        """Merge or dissolve an active team; a merged or dissolved team stays so (rule: team_status)."""
        self._allow(actor, "set_team_status")
        if status not in ("merged", "dissolved"):
            raise ProtocolViolation("team_status", f"a team can become 'merged' or 'dissolved', not {status!r}")
        with self.store.write(actor.key) as tx:
            team = tx.get_team(team_id, lock=True)  # two concurrent changes: the second sees the first
            if team is None:
                raise self._missing("team", team_id)
            self._in_run(actor, team.run_id)
            if team.status != "active":
                raise ProtocolViolation("team_status", f"team {team_id} is already {team.status}")
            return tx.set_team_status(team_id, status)

    def post(
        self,
        actor: Actor,
        run_id: int,
        kind: str,
        title: str,
        body: str = "",
        data: dict[str, Any] | None = None,
        thread_id: int | None = None,
        team_id: int | None = None,
    ) -> Post:
        """Write to the forum. Kind ``result`` is the harness's alone: results never live only in prose."""
        self._allow(actor, "post")
        self._in_run(actor, run_id)
        if kind not in POST_KINDS:
            raise ProtocolViolation("post_kind", f"kind {kind!r} is not one of {list(POST_KINDS)}")
        if kind == "result" and actor.role != "harness":
            raise ProtocolViolation("result_post", "only the harness posts results; post a 'finding' or 'note'")
        with self.store.write(actor.key, run_id) as tx:
            self._run(tx, run_id)
            if thread_id is not None:
                parent = tx.get_post(thread_id)
                if parent is None or parent.run_id != run_id:
                    raise self._missing("thread", thread_id)
            if team_id is not None:
                self._team(tx, team_id, run_id)
            return tx.add_post(run_id, kind, title, body, data or {}, thread_id, team_id)

    def propose(
        self,
        actor: Actor,
        run_id: int,
        recipe: dict[str, Any],
        hypothesis: str,
        expected_effect: float,
        family: str,
        title: str = "",
        team_id: int | None = None,
    ) -> Proposal:
        """Propose a recipe; also opens a forum thread (a ``proposal`` post) for its critiques."""
        self._allow(actor, "propose")
        self._in_run(actor, run_id)
        recipe_hash = canonical_hash(recipe)
        title = title or f"{family}: {hypothesis[:60]}"
        with self.store.write(actor.key, run_id) as tx:
            self._run(tx, run_id)
            if team_id is not None:
                self._team(tx, team_id, run_id)
            post = tx.add_post(
                run_id, "proposal", title, hypothesis, {"recipe": recipe, "family": family}, None, team_id
            )
            return tx.add_proposal(
                run_id, title, recipe, hypothesis, float(expected_effect), family, recipe_hash, team_id, post.id
            )

    def critique(
        self,
        actor: Actor,
        proposal_id: int,
        verdict: str,
        reasons: str,
        reopens_dead_end: int | None = None,
    ) -> Critique:
        """Critique someone else's proposal (self-critique is refused: rule ``self_critique``).

        ``reopens_dead_end`` names a dead end this approval deliberately re-opens; it needs a reason.
        """
        self._allow(actor, "critique")
        if verdict not in ("approve", "revise", "reject"):
            raise ProtocolViolation("verdict", f"verdict must be approve, revise or reject, not {verdict!r}")
        with self.store.write(actor.key) as tx:
            proposal = self._proposal(tx, proposal_id)
            self._in_run(actor, proposal.run_id)
            if proposal.author == actor.key:
                raise ProtocolViolation("self_critique", "an agent may not critique its own proposal")
            if reopens_dead_end is not None:
                dead_end = tx.get_dead_end(reopens_dead_end)
                if dead_end is None or dead_end.run_id != proposal.run_id:
                    raise self._missing("dead end", reopens_dead_end)
                if verdict != "approve" or not reasons.strip():
                    raise ProtocolViolation(
                        "reopen_dead_end", "re-opening a dead end needs an approving critique with a reason"
                    )
            tx.add_post(
                proposal.run_id, "critique", f"{verdict}: proposal {proposal_id}", reasons,
                {"proposal_id": proposal_id, "verdict": verdict, "reopens_dead_end": reopens_dead_end},
                proposal.post_id, proposal.team_id,
            )
            return tx.add_critique(proposal_id, verdict, reasons, reopens_dead_end, run_id=proposal.run_id)

    def add_dead_end(
        self,
        actor: Actor,
        run_id: int,
        family: str,
        region: dict[str, Any],
        reason: str,
        evidence: dict[str, Any] | None = None,
        team_id: int | None = None,
    ) -> DeadEnd:
        """Register a dead end: recipes of ``family`` containing every ``region`` item are refused."""
        self._allow(actor, "add_dead_end")
        self._in_run(actor, run_id)
        if not reason.strip():
            raise ProtocolViolation("dead_end_reason", "a dead end needs a reason so others can judge it")
        with self.store.write(actor.key, run_id) as tx:
            self._run(tx, run_id)
            if team_id is not None:
                self._team(tx, team_id, run_id)
            return tx.add_dead_end(run_id, family, region, reason, evidence or {}, team_id)
