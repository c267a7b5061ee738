"""Service verbs of the hypothesis graph: diagnoses, ideas, relations, tiers, verdict tickets.

Rules (each enforced here, in the verb's one transaction; pure parts in ``graph_protocol``):
  g1  an idea names one open or supported diagnosis, states ``if_works`` and ``if_fails``
      (400 without them) and where its expected effect comes from; the server derives its
      canonical recipe, family and hash (``Recipe.parse``), never the proposer's labels
  g2  a relation joins two ideas of a run with a kind and a reason (400 without one)
  g3  every tier move has a reason; NOW needs ``surprise_if`` and the critique rule (an
      approval by another agent, no ``revise`` outstanding, no validator's reject)
  g4  NOW holds at most the run's worker count (``runs.config['workers']``, which a run's
      session records; 2 when absent); a full NOW answers 409 listing its occupants, and the
      same call may demote one of them (to NEXT) by id or title; work the demoted idea already
      has in flight finishes
  g5  CUT needs ``resurrect_if``; it writes the idea's dead-end row (the registry is the CUT
      tier's materialised view) and aborts the idea's queue items in flight; leaving CUT
      lifts that row
  g6  each recorded result of an idea opens a ticket on every idea it touches (running
      ones included: ``Tx.add_result``, in the result's transaction); while any is open,
      claims, enqueues and dispatch answer 423
  g7  dispatch hands out only NOW ideas that can run together (``graph_protocol``)

Dispatch and the overrides of enqueue / claim / record_result live in ``service_graph_dispatch``.
"""

from __future__ import annotations

import math
from typing import Any

from autods.errors import PermissionDenied, ProtocolViolation, UserInputError
from autods.server import graph_protocol as gp
from autods.server.service_base import Actor, ServiceBase
from autods.state import graph_roles, roles
from autods.state.graph_records import (
    DIAGNOSIS_STATUSES, RELATION_KINDS, TICKET_ANSWERS, TIERS, Diagnosis, GraphView, Idea, Relation, Ticket,
    TicketAnswered, TierChange,
)
from autods.state.graph_tx import IN_FLIGHT
from autods.state.store import Tx


class GraphCore(ServiceBase):
    def _gallow(self, actor: Actor, verb: str) -> None:
        if not graph_roles.allowed(actor.role, verb):
            raise PermissionDenied(f"role {actor.role!r} may not {verb}")

    def _diagnosis(self, tx: Tx, diagnosis_id: int, run_id: int | None = None) -> Diagnosis:
        found = tx.get_diagnosis(diagnosis_id)
        if found is None or (run_id is not None and found.run_id != run_id):
            raise self._missing("diagnosis", diagnosis_id)
        return found

    def _idea(self, tx: Tx, idea_id: int, actor: Actor) -> Idea:
        found = tx.get_idea(idea_id)
        if found is None:
            raise self._missing("idea", idea_id)
        self._in_run(actor, found.run_id)
        return found

    def _check_evidence(self, tx: Tx, run_id: int, finding_ids: list[int], result_ids: list[int]) -> None:
        for pid in finding_ids:
            post = tx.get_post(pid)
            if post is None or post.run_id != run_id or post.kind != "finding":
                raise self._missing("finding post", pid)
        for rid in result_ids:
            result = tx.get_result(rid)
            if result is None or result.run_id != run_id:
                raise self._missing("result", rid)

    # -- diagnoses ------------------------------------------------------------------------------

    def add_diagnosis(self, actor: Actor, run_id: int, claim: str, finding_ids: list[int] | None = None,
                      result_ids: list[int] | None = None) -> Diagnosis:
        """State what limits the metric, citing the findings and results it rests on."""
        self._gallow(actor, "diagnose")
        self._in_run(actor, run_id)
        text = gp.required(claim, "claim", "a diagnosis says what limits the metric")
        findings, results = sorted(set(finding_ids or [])), sorted(set(result_ids or []))
        with self.store.write(actor.key, run_id) as tx:
            self._run(tx, run_id)
            self._check_evidence(tx, run_id, findings, results)
            return tx.add_diagnosis(run_id, text, findings, results)

    def set_diagnosis_status(self, actor: Actor, diagnosis_id: int, status: str, reason: str,
                             merged_into: int | None = None) -> Diagnosis:
        """open, supported, refuted, or merged (into another diagnosis of the run), with a reason."""
        self._gallow(actor, "diagnose")
        if status not in DIAGNOSIS_STATUSES:
            raise UserInputError(f"diagnosis status {status!r} is unknown", f"use one of {', '.join(DIAGNOSIS_STATUSES)}")
        why = gp.required(reason, "reason", "a diagnosis changes status for a stated reason")
        if (status == "merged") != (merged_into is not None):
            raise UserInputError("merged_into goes with status 'merged' and only with it",
                                 "give merged_into=<diagnosis id> exactly when merging")
        with self.store.write(actor.key) as tx:
            diagnosis = self._diagnosis(tx, diagnosis_id)
            self._in_run(actor, diagnosis.run_id)
            if merged_into is not None:
                if merged_into == diagnosis_id:
                    raise ProtocolViolation("merge_self", f"diagnosis {diagnosis_id} cannot merge into itself")
                self._diagnosis(tx, merged_into, diagnosis.run_id)
            return tx.set_diagnosis_status(diagnosis, status, why, merged_into)

    # -- ideas and relations --------------------------------------------------------------------

    def propose_idea(
        self, actor: Actor, run_id: int, diagnosis_id: int, recipe: dict[str, Any], hypothesis: str,
        if_works: str | None, if_fails: str | None, expected_effect: float, effect_basis: str,
        effect_result_ids: list[int] | None = None, surprise_if: str = "", tier: str = "NEXT", title: str = "",
        team_id: int | None = None,
    ) -> Idea:
        """A proposal hanging off one diagnosis, saying before it runs what each outcome would mean (g1)."""
        self._gallow(actor, "propose_idea")
        self._in_run(actor, run_id)
        works = gp.required(if_works, "if_works", "an idea states what success would mean before it runs")
        fails = gp.required(if_fails, "if_fails", "an idea states what failure would mean before it runs")
        claim = gp.required(hypothesis, "hypothesis", "an idea tests a hypothesis")
        basis = gp.required(effect_basis, "effect_basis", "an expected effect says which evidence it comes from")
        if tier not in gp.ENTRY_TIERS:
            raise UserInputError(f"a new idea starts in NEXT, LATER or PARKED, not {tier!r}",
                                 "propose it, get an approving critique from another agent, then move it to NOW")
        if not math.isfinite(float(expected_effect)):
            raise UserInputError("expected_effect must be a finite number", "give the effect as a number")
        canonical, family, recipe_hash = gp.canonical_recipe(recipe)
        evidence = {"basis": basis, "result_ids": sorted(set(effect_result_ids or []))}
        with self.store.write(actor.key, run_id) as tx:
            self._run(tx, run_id)
            if team_id is not None:
                self._team(tx, team_id, run_id)
            diagnosis = self._diagnosis(tx, diagnosis_id, run_id)
            if diagnosis.status in ("refuted", "merged"):
                raise ProtocolViolation("diagnosis_closed", f"diagnosis {diagnosis_id} is {diagnosis.status}"
                                        f" ({diagnosis.status_reason}); hang the idea on an open diagnosis")
            self._check_evidence(tx, run_id, [], evidence["result_ids"])
            name = title.strip() or f"{family}: {claim[:60]}"
            post = tx.add_post(run_id, "proposal", name, claim, {"recipe": canonical, "family": family,
                                                                 "diagnosis_id": diagnosis_id}, None, team_id)
            proposal = tx.add_proposal(run_id, name, canonical, claim, float(expected_effect), family, recipe_hash,
                                       team_id, post.id)
            return tx.add_idea(proposal, diagnosis_id, works, fails, (surprise_if or "").strip(), evidence, tier,
                               "proposed")

    def relate(self, actor: Actor, src_id: int, dst_id: int, kind: str, reason: str) -> Relation:
        """``src`` <kind> ``dst`` (g2); duplicates of the same kind are refused."""
        self._gallow(actor, "relate")
        if kind not in RELATION_KINDS:
            raise UserInputError(f"relation kind {kind!r} is unknown", f"use one of {', '.join(RELATION_KINDS)}")
        why = gp.required(reason, "reason", "a relation between ideas says why it holds")
        if src_id == dst_id:
            raise ProtocolViolation("relation_self", f"idea {src_id} cannot relate to itself")
        with self.store.write(actor.key) as tx:
            src = self._idea(tx, src_id, actor)
            dst = self._idea(tx, dst_id, actor)
            if dst.run_id != src.run_id:
                raise self._missing("idea", dst_id)
            for r in tx.list_relations(src.run_id, src_id):
                if r.kind == kind and (r.src_id, r.dst_id) == (src_id, dst_id):
                    raise ProtocolViolation("duplicate_relation", f"relation {r.id} already says {src_id} {kind} {dst_id}")
            return tx.add_relation(src.run_id, src_id, dst_id, kind, why)

    # -- tiers ----------------------------------------------------------------------------------

    def set_tier(self, actor: Actor, idea_id: int, tier: str, reason: str, demote: str | int | None = None,
                 resurrect_if: str | None = None, surprise_if: str | None = None) -> TierChange:
        """Move an idea to ``tier`` (g3-g5): promote X to NOW demoting Y because R is one call."""
        self._gallow(actor, "set_tier")
        with self.store.write(actor.key) as tx:
            run_id = self._idea(tx, idea_id, actor).run_id
            tx.lock_run(run_id)  # the run first, then its ideas: every graph move takes them in that order
            idea = self._idea(tx, idea_id, actor)
            return self._move(tx, idea, tier, reason, demote=demote, resurrect_if=resurrect_if,
                              surprise_if=surprise_if)

    def _move(self, tx: Tx, idea: Idea, tier: str, reason: str, *, demote: str | int | None = None,
              resurrect_if: str | None = None, surprise_if: str | None = None) -> TierChange:
        """The tier move itself; the caller holds the run's lock (PostgreSQL: one mover per run,
        so NOW's count and its fill cannot interleave)."""
        if tier not in TIERS:
            raise UserInputError(f"tier {tier!r} is unknown", f"use one of {', '.join(TIERS)}")
        why = gp.required(reason, "reason", "every tier move says why")
        if tier == idea.tier:
            raise ProtocolViolation("same_tier", f"idea {idea.id} is already {tier}")
        if idea.tier == "CUT" and idea.dead_end_id is not None:
            tx.remove_dead_end(idea.dead_end_id, idea.run_id, f"idea {idea.id} resurrected: {why}")
        if tier == "CUT":
            return self._cut(tx, idea, why, resurrect_if)
        if tier != "NOW":
            return TierChange(idea=tx.set_idea_tier(idea, tier, why))
        surprise = (surprise_if or idea.surprise_if or "").strip()
        if not surprise:
            raise UserInputError(f"idea {idea.id} has no surprise_if, which NOW requires",
                                 "say which outcome would surprise you (surprise_if=...)")
        self._check_now_entry(tx, idea)
        occupants = tx.list_ideas(idea.run_id, tier="NOW")
        capacity = gp.now_capacity(self._run(tx, idea.run_id).config)
        demoted = None
        if demote is not None:
            target = gp.find_occupant(occupants, demote)
            if target is None:
                raise ProtocolViolation("demote_not_in_now", f"no idea named {demote!r} is in NOW; its occupants: "
                                        + "; ".join(f"idea {i.id} {i.title!r}" for i in occupants))
            demoted = tx.set_idea_tier(target, "NEXT", f"demoted for idea {idea.id}: {why}")
            occupants = [i for i in occupants if i.id != target.id]
        if len(occupants) >= capacity:
            raise gp.now_full(capacity, occupants)
        return TierChange(idea=tx.set_idea_tier(idea, "NOW", why, surprise_if=surprise), demoted=demoted)

    def _check_now_entry(self, tx: Tx, idea: Idea) -> None:
        diagnosis = self._diagnosis(tx, idea.diagnosis_id)
        if diagnosis.status in ("refuted", "merged"):
            raise ProtocolViolation("diagnosis_closed", f"idea {idea.id}'s diagnosis {diagnosis.id} is "
                                    f"{diagnosis.status}: {diagnosis.status_reason}")
        critiques = tx.list_critiques(idea.id)
        critic_roles = {}
        for c in critiques:
            agent = tx.get_agent(int(c.author)) if c.author.isdigit() else None
            critic_roles[c.author] = agent.role if agent is not None else ""
        gp.check_now_entry(idea, self._proposal(tx, idea.id), critiques, critic_roles)

    def _cut(self, tx: Tx, idea: Idea, why: str, resurrect_if: str | None) -> TierChange:
        back = gp.required(resurrect_if, "resurrect_if", "a CUT says which evidence would bring the idea back")
        dead_end = tx.add_dead_end(idea.run_id, idea.family, gp.dead_end_region(idea.recipe), why,
                                   {"idea_id": idea.id, "diagnosis_id": idea.diagnosis_id, "resurrect_if": back},
                                   idea.team_id)
        aborted = []
        for item in tx.ideas_in_flight(idea.run_id).get(idea.id, []):
            # The abort verb's own transition: the harness drops an aborted item's result.
            moved = tx.move_item(item.id, IN_FLIGHT, "aborted", f"idea {idea.id} CUT: {why}")
            if moved is not None:
                aborted.append(moved)
        new = tx.set_idea_tier(idea, "CUT", why, resurrect_if=back, dead_end_id=dead_end.id)
        return TierChange(idea=new, aborted=aborted)

    # -- verdict tickets ------------------------------------------------------------------------

    def answer_ticket(self, actor: Actor, ticket_id: int, answer: str, reason: str,
                      resurrect_if: str | None = None, demote: str | int | None = None,
                      surprise_if: str | None = None) -> TicketAnswered:
        """PROMOTE (to NOW), HOLD, REVISE (to PARKED: a revised idea is due), DEMOTE (one tier
        down) or CUT (needs resurrect_if; aborts the idea's running work), with a reason."""
        self._gallow(actor, "answer_ticket")
        if answer not in TICKET_ANSWERS:
            raise UserInputError(f"ticket answer {answer!r} is unknown", f"use one of {', '.join(TICKET_ANSWERS)}")
        why = gp.required(reason, "reason", "a verdict says why")
        with self.store.write(actor.key) as tx:
            ticket = tx.get_ticket(ticket_id)
            if ticket is None:
                raise self._missing("ticket", ticket_id)
            self._in_run(actor, ticket.run_id)
            tx.lock_run(ticket.run_id)  # as set_tier: NOW's capacity is counted, then filled
            answered = tx.answer_ticket(ticket, answer, why)
            if answered is None:
                raise ProtocolViolation("ticket_answered", f"ticket {ticket_id} is already answered")
            idea = self._idea(tx, ticket.idea_id, actor)
            target = {"PROMOTE": "NOW", "HOLD": idea.tier, "REVISE": "PARKED", "CUT": "CUT",
                      "DEMOTE": gp.ONE_DOWN.get(idea.tier, idea.tier)}[answer]
            if target == idea.tier or idea.tier == "CUT" and answer in ("REVISE", "DEMOTE"):
                return TicketAnswered(ticket=answered, idea=idea)
            change = self._move(tx, idea, target, f"ticket {ticket_id} ({answer}): {why}", demote=demote,
                                resurrect_if=resurrect_if, surprise_if=surprise_if)
            return TicketAnswered(ticket=answered, idea=change.idea, demoted=change.demoted, aborted=change.aborted)

    # -- readers --------------------------------------------------------------------------------

    def _graph_reader(self, actor: Actor, run_id: int | None = None) -> Any:
        self._allow(actor, roles.READ)
        if run_id is not None:
            self._in_run(actor, run_id)
        return self.store.read()

    def list_diagnoses(self, actor: Actor, run_id: int) -> list[Diagnosis]:
        with self._graph_reader(actor, run_id) as tx:
            return tx.list_diagnoses(run_id)

    def list_ideas(self, actor: Actor, run_id: int, tier: str | None = None, team_id: int | None = None,
                   diagnosis_id: int | None = None) -> list[Idea]:
        """Ideas of a run; a team's queue is ``tier='NOW', team_id=...``."""
        with self._graph_reader(actor, run_id) as tx:
            return tx.list_ideas(run_id, tier, team_id, diagnosis_id)

    def get_idea(self, actor: Actor, idea_id: int) -> Idea:
        with self._graph_reader(actor) as tx:
            return self._idea(tx, idea_id, actor)

    def list_relations(self, actor: Actor, run_id: int, idea_id: int | None = None) -> list[Relation]:
        with self._graph_reader(actor, run_id) as tx:
            return tx.list_relations(run_id, idea_id)

    def list_tickets(self, actor: Actor, run_id: int, status: str | None = None,
                     idea_id: int | None = None) -> list[Ticket]:
        with self._graph_reader(actor, run_id) as tx:
            return tx.list_tickets(run_id, status, idea_id)

    def graph(self, actor: Actor, run_id: int) -> GraphView:
        with self._graph_reader(actor, run_id) as tx:
            run = self._run(tx, run_id)
            return GraphView(run_id=run_id, now_capacity=gp.now_capacity(run.config),
                             diagnoses=tx.list_diagnoses(run_id), ideas=tx.list_ideas(run_id),
                             relations=tx.list_relations(run_id), tickets=tx.list_tickets(run_id))
