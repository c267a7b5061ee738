"""Service verbs of the discussion: teams, forum posts, proposals, critiques, dead ends.

No side doors (issue 14):

* **post** — ``result`` posts are the harness's (409 ``result_post``); ``design`` posts the
  biostatistician's, ``finding`` posts the steward's (and the orchestrator's: the noise
  floor), and the reserved data keys ``steward_summary`` / ``design`` / ``noise_floor``
  only from their owning role (403; ``state/roles.py`` ``POST_KIND_OWNERS``, ``RECORD_OWNERS``).
* **propose** — the recipe is canonicalised (``server/canon.py``): unparsable is refused
  (409 ``recipe``), the stored recipe has the defaults filled in, family and hash are the
  server's, and a ``family`` label that disagrees is refused (409 ``family_label``).
  ``revises`` names the proposal this one revises (same author or team, and the recipe
  must change: 409 ``revises``); the revised proposal, if still open, is withdrawn.
* **add_dead_end** — the family must exist and every region key must be one its recipes
  can have (409 ``dead_end_family`` / ``dead_end_region``): a dead end that matches nothing
  would be a silent no-op.
"""

from __future__ import annotations

from typing import Any

from autods.errors import PermissionDenied, ProtocolViolation
from autods.server import canon
from autods.server.service_base import Actor, ServiceBase
from autods.state import roles
from autods.state.records import POST_KINDS, Critique, DeadEnd, Post, Proposal, Team
from autods.state.store import Tx


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
        refusal = roles.may_post(actor.role, kind, set(data or {}))
        if refusal is not None:
            raise PermissionDenied(f"role {actor.role!r} may not write this post: {refusal}")
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
        family: str | None = None,
        title: str = "",
        team_id: int | None = None,
        revises: int | None = None,
    ) -> Proposal:
        """Propose a recipe; also opens a forum thread (a ``proposal`` post) for its critiques.

        The recipe is stored canonical and its family derived (``family`` is only checked);
        ``revises`` names the proposal this one answers a ``revise`` critique of.
        """
        self._allow(actor, "propose")
        self._in_run(actor, run_id)
        read = canon.canonicalise(recipe, family)
        title = title or f"{read.family}: {hypothesis[:60]}"
        with self.store.write(actor.key, run_id) as tx:
            self._run(tx, run_id)
            if team_id is not None:
                self._team(tx, team_id, run_id)
            if revises is not None:
                self._check_revision(tx, actor, run_id, revises, read, team_id)
            post = tx.add_post(
                run_id, "proposal", title, hypothesis,
                {"recipe": read.recipe, "family": read.family, **({} if revises is None else {"revises": revises})},
                None, team_id,
            )
            return tx.add_proposal(
                run_id, title, read.recipe, hypothesis, float(expected_effect), read.family, read.hash, team_id, post.id
            )

    def _check_revision(self, tx: Tx, actor: Actor, run_id: int, revises: int, read: canon.Canonical,
                        team_id: int | None) -> None:
        """A revision changes the recipe, comes from the revised proposal's author or team,
        and withdraws that proposal while it is still open (its critiques stay with it)."""
        old = self._proposal(tx, revises)
        if old.run_id != run_id:
            raise self._missing("proposal", revises)
        if old.author != actor.key and (old.team_id is None or old.team_id != team_id):
            raise ProtocolViolation(
                "revises", f"proposal {revises} is agent {old.author}'s; only its author or team may revise it, "
                "propose your own recipe without revises")
        if old.canonical_hash == read.hash:
            raise ProtocolViolation(
                "revises", f"the revision has the same canonical recipe as proposal {revises}; change the recipe")
        if old.status == "open":
            tx.set_proposal_status(revises, "withdrawn")

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
        family = canon.family_name(family)
        canon.check_region(family, region)
        with self.store.write(actor.key, run_id) as tx:
            self._run(tx, run_id)
            if team_id is not None:
                self._team(tx, team_id, run_id)
            return tx.add_dead_end(run_id, family, region, reason, evidence or {}, team_id)
