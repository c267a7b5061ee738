"""MCP tools of the hypothesis graph: the graph verbs of the Service, with their own arguments.

Registered by ``mcp_server.build_mcp`` beside the protocol's tools (``mcp_tools``), with the
same gate: the bearer header authenticates each call, refusals come back as tool errors
carrying the REST error body (``rule`` names the graph rule; ``tickets_open`` is the 423
of REST, ``now_full`` lists NOW's occupants). Critiques of an idea are the ordinary
``critique`` tool on the idea's id (an idea is a proposal).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from mcp.server.mcpserver import Context, MCPServer

if TYPE_CHECKING:
    from autods.server.mcp_server import Gate

Json = dict[str, Any]
TierName = Literal["NOW", "NEXT", "LATER", "PARKED", "CUT"]
Kind = Literal["same_diagnosis", "alternative", "restates", "conflicts", "confounds", "prerequisite",
               "cheap_probe_for", "independent"]
Answer = Literal["PROMOTE", "HOLD", "REVISE", "DEMOTE", "CUT"]


def register_graph_tools(server: MCPServer, gate: Gate) -> None:  # noqa: C901 - a flat list of tools
    s = gate.service
    tool = server.tool

    @tool(description="State a diagnosis: what limits the metric, citing finding post ids and result ids.")
    def add_diagnosis(claim: str, ctx: Context, finding_ids: list[int] | None = None,
                      result_ids: list[int] | None = None, run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.add_diagnosis(a, gate.run_id(a, run_id), claim, finding_ids, result_ids))

    @tool(description="Set a diagnosis's status (open, supported, refuted, merged with merged_into), with a reason.")
    def set_diagnosis_status(diagnosis_id: int, status: Literal["open", "supported", "refuted", "merged"],
                             reason: str, ctx: Context, merged_into: int | None = None) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.set_diagnosis_status(a, diagnosis_id, status, reason, merged_into))

    @tool(description="Propose an idea on one diagnosis. if_works / if_fails (what each outcome would mean) are "
                      "required; effect_basis says where expected_effect comes from (cite effect_result_ids); "
                      "surprise_if is required before NOW. The server derives family and hash from the recipe.")
    def propose_idea(diagnosis_id: int, recipe: Json, hypothesis: str, expected_effect: float, ctx: Context,
                     if_works: str = "", if_fails: str = "", effect_basis: str = "",
                     effect_result_ids: list[int] | None = None, surprise_if: str = "",
                     tier: Literal["NEXT", "LATER", "PARKED"] = "NEXT", title: str = "", team_id: int | None = None,
                     run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.propose_idea(a, gate.run_id(a, run_id), diagnosis_id, recipe, hypothesis, if_works,
                                                if_fails, expected_effect, effect_basis, effect_result_ids,
                                                surprise_if, tier, title, team_id))

    @tool(description="Relate two ideas (src_id <kind> dst_id) with a reason.")
    def relate(src_id: int, dst_id: int, kind: Kind, reason: str, ctx: Context) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.relate(a, src_id, dst_id, kind, reason))

    @tool(description="Move an idea to a tier with a reason. NOW needs an approving critique by another agent and "
                      "surprise_if, and holds one idea per worker: when full, name an occupant in demote (id or "
                      "title). CUT needs resurrect_if and aborts the idea's running work.")
    def set_tier(idea_id: int, tier: TierName, reason: str, ctx: Context, demote: int | str | None = None,
                 resurrect_if: str | None = None, surprise_if: str | None = None) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.set_tier(a, idea_id, tier, reason, demote, resurrect_if, surprise_if))

    @tool(description="Queue the NOW ideas that can honestly run together (none sharing a diagnosis, alternatives "
                      "or confounders of running ones); the others come back in skipped with the reason.")
    def dispatch(ctx: Context, seeds: list[int] | None = None, team_id: int | None = None,
                 run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.dispatch(a, gate.run_id(a, run_id), seeds or [0], team_id))

    @tool(description="Answer a verdict ticket: PROMOTE, HOLD, REVISE, DEMOTE or CUT, with a reason "
                      "(CUT: resurrect_if). New work waits until every open ticket is answered.")
    def answer_ticket(ticket_id: int, answer: Answer, reason: str, ctx: Context, resurrect_if: str | None = None,
                      demote: int | str | None = None, surprise_if: str | None = None) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.answer_ticket(a, ticket_id, answer, reason, resurrect_if, demote, surprise_if))

    @tool(description="Verdict tickets of the run (status: open or answered).")
    def list_tickets(ctx: Context, status: Literal["open", "answered"] | None = None,
                     run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return {"tickets": gate.call(lambda: s.list_tickets(a, gate.run_id(a, run_id), status))}

    @tool(description="Ideas of the run, filtered by tier, team or diagnosis (a team's queue: tier NOW + team_id).")
    def list_ideas(ctx: Context, tier: TierName | None = None, team_id: int | None = None,
                   diagnosis_id: int | None = None, run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return {"ideas": gate.call(lambda: s.list_ideas(a, gate.run_id(a, run_id), tier, team_id, diagnosis_id))}

    @tool(description="The whole hypothesis graph: diagnoses, ideas, relations, tickets and NOW's capacity.")
    def graph(ctx: Context, run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.graph(a, gate.run_id(a, run_id)))
