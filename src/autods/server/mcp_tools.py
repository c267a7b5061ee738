"""The MCP tools: one per Service verb, with the verb's own arguments.

Each tool authenticates the caller from the HTTP bearer header (``Gate.actor``) and
delegates to the Service, which checks the role and the protocol. Tools are plain ``def``:
the SDK runs them in a worker thread, so database waits do not block the event loop.
``propose_code`` is ``propose`` with the recipe built from a module's source (family ``code``) and
validated by ``Recipe.parse`` before the Service sees it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from mcp.server.mcpserver import Context, MCPServer

from autods.errors import RecipeError
from autods.server.routes_read import findings_of
from autods.state import roles

if TYPE_CHECKING:
    from autods.runners.recipe import Recipe
    from autods.server.mcp_server import Gate

Json = dict[str, Any]


def register_tools(server: MCPServer, gate: Gate) -> None:  # noqa: C901 - a flat list of tools
    s = gate.service
    tool = server.tool

    @tool(description="Who this token is: agent id, role, run, and the verbs the role allows.")
    def whoami(ctx: Context) -> Json:
        a = gate.actor(ctx)
        return {"agent_id": a.agent_id, "role": a.role, "run_id": a.run_id, "name": a.name,
                "verbs": sorted(roles.ROLES.get(a.role, frozenset()))}

    @tool(description="Register a new agent in a run (orchestrator only). Returns its token once.")
    def register_agent(name: str, role: str, ctx: Context, run_id: int | None = None,
                       team_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        agent, token = gate.call(lambda: s.register_agent(gate.run_id(a, run_id), name, role, team_id, actor=a))
        agent.pop("token_hash", None)
        return {"agent": agent, "token": token}

    @tool(description="Form a team around a hypothesis and a strategy.")
    def create_team(name: str, hypothesis: str, strategy: str, ctx: Context, run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.create_team(a, gate.run_id(a, run_id), name, hypothesis, strategy))

    @tool(description="Merge or dissolve an active team.")
    def set_team_status(team_id: int, status: Literal["merged", "dissolved"], ctx: Context) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.set_team_status(a, team_id, status))

    @tool(description="Post to the forum. kind: design, finding, proposal, critique, near-miss, stuck, note "
                      "(result posts are the harness's). thread_id replies to a post.")
    def post(kind: str, title: str, ctx: Context, body: str = "", data: Json | None = None,
             thread_id: int | None = None, team_id: int | None = None, run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.post(a, gate.run_id(a, run_id), kind, title, body, data, thread_id, team_id))

    @tool(description="Propose a recipe to run, with the hypothesis it tests, the expected effect on the "
                      "primary metric and its family (e.g. 'gbm', 'logistic'). Opens a forum thread. revises: "
                      "the id of your proposal a critic asked to revise (the recipe must change; that proposal "
                      "is withdrawn).")
    def propose(recipe: Json, hypothesis: str, expected_effect: float, family: str, ctx: Context,
                title: str = "", team_id: int | None = None, run_id: int | None = None,
                revises: int | None = None) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.propose(a, gate.run_id(a, run_id), recipe, hypothesis, expected_effect,
                                           family, title, team_id, revises))

    @tool(description="Propose a code experiment (contract 1): a Python module whose class `entry` has fit(X, y) "
                      "and predict_proba(X) (classification), predict(X) (regression) or a risk score from predict(X) "
                      "(survival). role 'transformer' (fit + transform) with `then`, a built-in family, and optional "
                      "then_params, instead transforms the columns for that family. X is the preprocessed numeric "
                      "development fold. It runs only in the sandbox and the judge scores it like any recipe. Same "
                      "protocol as propose: an approving critique by another agent before it can be queued; revises "
                      "as in propose.")
    def propose_code(source: str, hypothesis: str, expected_effect: float, ctx: Context, entry: str = "Model",
                     role: Literal["estimator", "transformer"] = "estimator", then: str | None = None,
                     then_params: Json | None = None, title: str = "", team_id: int | None = None,
                     run_id: int | None = None, revises: int | None = None) -> Json:
        a = gate.actor(ctx)

        def go() -> Any:
            recipe = code_recipe_of(source, entry, role, then, then_params)
            return s.propose(a, gate.run_id(a, run_id), recipe.canonical_dict(), hypothesis, expected_effect,
                             recipe.family, title, team_id, revises)
        return gate.call(go)

    @tool(description="Critique another agent's proposal: verdict approve, revise or reject, with reasons. "
                      "reopens_dead_end: id of a dead end this approval deliberately re-opens.")
    def critique(proposal_id: int, verdict: Literal["approve", "revise", "reject"], reasons: str,
                 ctx: Context, reopens_dead_end: int | None = None) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.critique(a, proposal_id, verdict, reasons, reopens_dead_end))

    @tool(description="Queue an approved proposal for one seed. Refused without an approving critique by "
                      "another agent, for a duplicate recipe+seed, or inside a dead end.")
    def enqueue(proposal_id: int, ctx: Context, seed: int = 0, team_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.enqueue(a, proposal_id, seed, team_id))

    @tool(description="Claim the oldest pending queue item under a lease (exactly once). "
                      "Returns {item: null} when nothing is pending.")
    def claim(ctx: Context, run_id: int | None = None, team_id: int | None = None, lease_s: float = 300.0) -> Json:
        a = gate.actor(ctx)
        return {"item": gate.call(lambda: s.claim(a, gate.run_id(a, run_id), team_id, lease_s))}

    @tool(description="Extend the lease on an item you hold.")
    def heartbeat(item_id: int, ctx: Context, lease_s: float = 300.0) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.heartbeat(a, item_id, lease_s))

    @tool(description="Return expired claims of a run to pending.")
    def release_expired(ctx: Context, run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return {"released": gate.call(lambda: s.release_expired(a, gate.run_id(a, run_id)))}

    @tool(description="Abort a pending or claimed queue item, with a reason.")
    def abort(item_id: int, reason: str, ctx: Context) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.abort(a, item_id, reason))

    @tool(description="Record the judge's measurement for a claimed item (harness role only).")
    def record_result(item_id: int, metric: str, value: float, higher_is_better: bool, ctx: Context,
                      fold_scores: list[float] | None = None, ci_low: float | None = None,
                      ci_high: float | None = None, duration_s: float = 0.0,
                      artifacts: dict[str, str] | None = None, split: str = "default") -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.record_result(a, item_id, metric, value, higher_is_better, fold_scores,
                                                 ci_low, ci_high, duration_s, artifacts, split))

    @tool(description="Mark a claimed item failed, keeping the reason (harness role only).")
    def record_failure(item_id: int, reason: str, ctx: Context) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.record_failure(a, item_id, reason))

    @tool(description="Promote a result to champion: it must be confirmed on another seed or split and beat "
                      "the champion by more than the noise floor.")
    def promote(result_id: int, ctx: Context, confirming_result_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.promote(a, result_id, confirming_result_id))

    @tool(description="Register a dead end: recipes of `family` containing every `region` key/value are "
                      "refused from now on. Give the reason and evidence (e.g. result ids).")
    def add_dead_end(family: str, region: Json, reason: str, ctx: Context, evidence: Json | None = None,
                     team_id: int | None = None, run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return gate.call(lambda: s.add_dead_end(a, gate.run_id(a, run_id), family, region, reason,
                                                evidence, team_id))

    _register_readers(server, gate)


def code_recipe_of(source: str, entry: str, role: str, then: str | None, then_params: Json | None) -> Recipe:
    """The code recipe for ``propose_code``, validated by :meth:`Recipe.parse` (the code family checks
    the contract, the role and that ``entry`` is a class of the module)."""
    from autods.agents.llm.grammar import code_recipe
    from autods.runners.recipe import Recipe

    try:
        import autods.runners.code_family  # noqa: F401 - registers the 'code' family
    except ImportError:
        raise RecipeError("code experiments are not available in this installation (no code family)",
                          "propose a recipe with `propose`") from None
    return Recipe.parse(code_recipe(source, entry=entry, role=role, then=then, then_params=then_params))


def _register_readers(server: MCPServer, gate: Gate) -> None:
    s = gate.service
    tool = server.tool

    @tool(description="Forum posts, oldest first; filter by kind or thread; since_id for newer ones only.")
    def list_posts(ctx: Context, run_id: int | None = None, kind: str | None = None,
                   thread_id: int | None = None, since_id: int = 0) -> Json:
        a = gate.actor(ctx)
        return {"posts": gate.call(lambda: s.list_posts(a, gate.run_id(a, run_id), kind, thread_id, since_id))}

    @tool(description="Proposals with their critiques; status: open, queued or withdrawn.")
    def list_proposals(ctx: Context, run_id: int | None = None, status: str | None = None) -> Json:
        a = gate.actor(ctx)
        props = gate.call(lambda: s.list_proposals(a, gate.run_id(a, run_id), status))
        return {"proposals": [{"proposal": p, "critiques": gate.call(lambda p=p: s.list_critiques(a, p["id"]))}
                              for p in props]}

    @tool(description="Queue items; status: pending, claimed, done, failed, aborted; team_id for one team.")
    def list_queue(ctx: Context, run_id: int | None = None, status: str | None = None,
                   team_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return {"items": gate.call(lambda: s.list_queue(a, gate.run_id(a, run_id), status, team_id))}

    @tool(description="The experiment log: every recorded result, oldest first.")
    def list_results(ctx: Context, run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return {"results": gate.call(lambda: s.list_results(a, gate.run_id(a, run_id)))}

    @tool(description="The current champion (null before the first promotion) and the promotion history.")
    def champion(ctx: Context, run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        rid = gate.run_id(a, run_id)
        return {"champion": gate.call(lambda: s.champion(a, rid)),
                "history": gate.call(lambda: s.champion_history(a, rid))}

    @tool(description="The dead-end registry: families/regions not worth re-running, with reasons.")
    def list_dead_ends(ctx: Context, run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return {"dead_ends": gate.call(lambda: s.list_dead_ends(a, gate.run_id(a, run_id)))}

    @tool(description="Guardrail findings the data steward posted (check, severity, message, advice).")
    def list_findings(ctx: Context, run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        rid = gate.run_id(a, run_id)
        return {"findings": gate.call(lambda: findings_of(s.list_posts(a, rid, "finding")))}

    @tool(description="Audit events after `since` (a seq), oldest first: poll with the last seq you saw.")
    def events(ctx: Context, since: int = 0, limit: int = 200, run_id: int | None = None) -> Json:
        a = gate.actor(ctx)
        return {"events": gate.call(lambda: s.events(a, since, min(max(limit, 1), 1000), run_id))}
