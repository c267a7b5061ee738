"""Render an Observation into a prompt: a system message (role, protocol rules, action schema)
and a user message (the observation as compact JSON).

Observations hold no rows by construction; the rendered text still passes the egress gate in
the brain. When the observation is too long for the budget, the oldest entries of its long
lists are dropped (a count of what was dropped is kept) rather than refusing the step; the
design and summary posts, the agent's own proposals and those awaiting critique are never
dropped, and an idea is sent without the fields its proposal (same id) already carries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from autods.agents.actions import action_json_schema
from autods.agents.llm import failures, grammar
from autods.agents.observation import Observation

TOOL_NAME = "act"
TOOL_DESCRIPTION = "Take exactly one action in the shared experiment. The input is {\"action\": {...}}."
USER_BUDGET = 30000  # characters for the observation: with the system prompt (grammar, graph verbs, code contract) it must stay under the egress gate's 60,000
TRIMMABLE = ("posts", "results", "proposals", "queue", "dead_ends", "teams")

# Keyed by a word the role name contains, so "analyst-2" and "experiment_agent" match.
ROLE_BRIEFS: dict[str, str] = {
    "steward": "You are the data steward. You describe the governed dataset: missingness, PHI that was "
               "removed, leakage risks, units and repeated measures, and post the findings others need.",
    "biostat": "You are the biostatistician. You fix the design: metric, cross-validation strategy, "
               "events-per-variable limits, confounders and subgroups, and you post it as a design note.",
    "feature": "You are the feature and representation specialist. You propose preprocessing, "
               "feature sets and composite features with a biological or clinical rationale.",
    "analyst": "You are an analyst. You propose experiments (recipes) likely to beat the champion, keep "
               "the search diverse across model families, and avoid known dead ends.",
    "experiment": "You are an experiment agent. You claim queued experiments for your team and report "
                  "what you learn; you do not compute or edit metrics, the judge does.",
    "critic": "You are the critic. You review proposals before compute is spent: duplicates of the "
              "champion, dead ends, too many parameters for the events, leakage, gains below the noise floor.",
    "validator": "You are the validator. You check that an improvement is real (confirming seeds, "
                 "noise floor) before a result is promoted.",
    "translator": "You are the translator. You explain results for clinicians in plain language, citing "
                  "only numbers present in the observation.",
    "monitor": "You are the monitor. You watch for stagnation and merge, split, pivot or dissolve teams.",
}

RULES = """Protocol rules:
- Reply with exactly one action through the `act` tool (or as one JSON object {"action": {...}} when no tool is offered).
- The action's "kind" must be one of the allowed actions listed below; anything else is refused.
- You never compute, estimate or report a metric: the frozen judge evaluates every experiment.
- A proposal states a hypothesis and an expected effect on the primary metric versus the champion;
  an expected gain below the noise floor is not worth compute.
- Do not propose inside a dead end unless you give new evidence (a critique may reopen it).
- Columns listed as excluded (PHI, identifiers, leakage) were removed and cannot be used.
- In composite expressions, a column name that is not a plain identifier goes in backticks exactly as
  in the data (`Clump Thickness`, `Weight [kg]`, `6MWT (m)`; a backtick inside is doubled).
  unit_mean/unit_sd/unit_cv(x) are a unit's history over its rows dated strictly before each row by
  time_column, available only when the summary names a time_column.
- If nothing useful can be done now (e.g. waiting for results), choose "wait".
- Ideas are proposals with a tier (same ids): an idea whose proposal is listed under "proposals" shows only
  its graph fields (tier, diagnosis, if_works / if_fails, ...); read its recipe and critiques there.
- Keep rationales short: one or two sentences."""


def role_brief(role: str, overrides: Mapping[str, str] | None = None) -> str:
    briefs = {**ROLE_BRIEFS, **(overrides or {})}
    key = role.lower()
    if key in briefs:
        return briefs[key]
    for word, text in briefs.items():
        if word in key:
            return text
    return f"You are the {role} of a team of data-science agents."


def _referenced(names: set[str], defs: dict[str, Any]) -> set[str]:
    """``names`` and every definition they reference, transitively (an action may nest a model)."""
    out, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in out or name not in defs:
            continue
        out.add(name)
        todo += [ref.rsplit("/", 1)[-1] for ref in _refs(defs[name])]
    return out


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if isinstance(node.get("$ref"), str) else []) + [
            r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def action_schema(allowed: Sequence[str] | None = None) -> dict[str, Any]:
    """The tool input / structured-output schema: ``{"action": <one of the allowed actions>}``.

    Providers want an object at the root (Anthropic refuses a top-level ``oneOf``), so the union
    is wrapped; the union is narrowed to the role's allowed kinds to save tokens and mistakes.
    """
    full = action_json_schema()
    defs: dict[str, Any] = full.get("$defs", {})
    mapping: dict[str, str] = full.get("discriminator", {}).get("mapping", {})
    kinds = [k for k in mapping if not allowed or k in allowed] or list(mapping)
    refs = [mapping[k] for k in kinds]
    used = _referenced({r.rsplit("/", 1)[-1] for r in refs}, defs)
    union: dict[str, Any] = {"oneOf": [{"$ref": r} for r in refs],
                             "discriminator": {"propertyName": "kind", "mapping": {k: mapping[k] for k in kinds}}}
    return {
        "type": "object",
        "properties": {"action": union},
        "required": ["action"],
        "additionalProperties": False,
        "$defs": {name: d for name, d in defs.items() if name in used},
    }


#: roles that write or judge recipes are told the grammar and the code contract
GRAMMAR_ACTIONS = frozenset({"propose", "critique"})


def system_prompt(observation: Observation, role_briefs: Mapping[str, str] | None = None) -> str:
    """Role, rules, (for proposers and critics) the recipe grammar generated from the registries
    and the code contract, then the allowed actions and their schema. Identical for every step of
    a role in a run, so providers can cache it."""
    allowed = observation.allowed_actions
    schema = action_schema(allowed)
    sections = [
        role_brief(observation.role, role_briefs),
        "You work in a team running biomedical data-science experiments under a frozen judge. "
        "You see schemas, aggregates, findings and the shared state, never patient rows.",
        RULES,
    ]
    if not allowed or GRAMMAR_ACTIONS & set(allowed):
        task_type = observation.task.task_type
        sections.append(grammar.recipe_text(task_type))
        if grammar.code_available():
            sections.append(grammar.code_text(task_type))
    sections += ["Allowed actions for you now: " + ", ".join(allowed or ["any"]),
                 "Action JSON schema:\n" + json.dumps(schema, separators=(",", ":"), sort_keys=True)]
    return "\n\n".join(sections)


def _dump(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, default=str)


def observation_payload(observation: Observation, max_chars: int = USER_BUDGET) -> dict[str, Any]:
    """The observation as JSON-ready data, trimmed to ``max_chars`` by dropping the oldest list
    entries (lists are in the order the server gave them: oldest first)."""
    data = observation.model_dump(mode="json", exclude_none=True)
    _mask_failures(data, failures.vocabulary(c.name for c in observation.task.features))
    pinned: dict[str, list[dict[str, Any]]] = {}
    for name in PINNABLE:
        items = data.get(name) or []
        ids = _pinned(name, items, observation.agent)
        pinned[name] = [x for x in items if x.get("id") in ids]
        data[name] = [x for x in items if x.get("id") not in ids]
    omitted: dict[str, int] = {}
    keep = {k: len(data.get(k) or []) for k in TRIMMABLE}

    def assembled() -> dict[str, Any]:
        out = dict(data)
        for name, kept in pinned.items():
            out[name] = sorted(kept + data[name], key=lambda x: x.get("id") or 0)
        out["ideas"] = _dedupe_ideas(out.get("ideas") or [], out["proposals"])
        return out

    while len(_dump(assembled())) > max_chars and any(n > 1 for n in keep.values()):
        longest = max(keep, key=lambda k: len(_dump(data.get(k) or [])))
        if keep[longest] <= 1:
            break
        keep[longest] //= 2
        items = data[longest]
        omitted[longest] = omitted.get(longest, 0) + len(items) - keep[longest]
        data[longest] = items[len(items) - keep[longest]:]
        data["omitted_oldest"] = omitted
    return assembled()


#: what an idea shares with the proposal of the same id (the graph keeps one row for both)
IDEA_SHARED = ("author", "author_name", "canonical_hash", "created_at", "expected_effect", "family", "hypothesis",
               "post_id", "recipe", "run_id", "status", "team_id", "title")


def _dedupe_ideas(ideas: list[dict[str, Any]], proposals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ideas carry their proposal's fields again (recipe, hypothesis, ...): say them once. An idea
    whose proposal is in the payload keeps its graph fields only (``expanded`` restores it)."""
    by_id = {p.get("id"): p for p in proposals}
    out = []
    for idea in ideas:
        twin = by_id.get(idea.get("id"))
        out.append(idea if twin is None else
                   {k: v for k, v in idea.items() if not (k in IDEA_SHARED and twin.get(k) == v)})
    return out


def expanded(payload: dict[str, Any]) -> dict[str, Any]:
    """A payload's ideas with their proposal's fields restored (what a reader of the prompt does
    when it joins the two lists by id); proposals trimmed away leave their ideas as sent."""
    proposals = {p.get("id"): p for p in payload.get("proposals") or []}
    ideas = [{**{k: proposals[i["id"]][k] for k in IDEA_SHARED if k in proposals.get(i.get("id"), {})}, **i}
             for i in payload.get("ideas") or []]
    return {**payload, "ideas": ideas} if "ideas" in payload else payload


#: lists whose entries an agent's policy cannot do without, kept whole by the trimming
PINNABLE = ("posts", "proposals")


def _pinned(name: str, items: list[dict[str, Any]], agent: str) -> set[Any]:
    """Ids of the entries no trimming drops.

    - posts: the newest design post and the steward's newest summary finding. They are among the
      oldest posts of a run and every analyst policy starts from them (dropping them left LLM
      analysts waiting for a design that had long been posted);
    - proposals: the agent's own, and every one still awaiting critique (without its own, an
      agent proposed again what it had proposed, and critics must see what they review).
    """
    from autods.agents.expert.evidence import post_json
    from autods.agents.snapshot import DESIGN_KEY, SUMMARY_KEY

    if name == "posts":
        out: set[Any] = set()
        for kind, key in (("design", DESIGN_KEY), ("finding", SUMMARY_KEY)):
            newest = next((p for p in reversed(items) if p.get("kind") == kind and post_json(p, key) is not None),
                          None)
            if newest is not None:
                out.add(newest.get("id"))
        return out
    return {p.get("id") for p in items if p.get("author_name") == agent or p.get("status") == "open"}


def _mask_failures(data: dict[str, Any], keep: set[str]) -> None:
    """Failure reasons and the harness's failure notes with data values masked (a failed item's
    reason is an exception message, which may quote a value); the summaries themselves are
    rendered in their own section of the user prompt."""
    for item in data.get("queue") or []:
        if item.get("status") == "failed" and item.get("reason"):
            item["reason"] = failures.scrub(str(item["reason"]), keep)
    for post in data.get("posts") or []:
        if isinstance((post.get("data") or {}).get("failure"), dict):
            post["body"] = failures.scrub(str(post.get("body", "")), keep)
            post["data"] = {k: v for k, v in post["data"].items() if k != "failure"}


def user_prompt(observation: Observation, max_chars: int = USER_BUDGET, egress: Any = None) -> str:
    """Refusal feedback, this agent's failed experiments (each through ``egress`` on its own),
    the observation as JSON, and the choice to make."""
    parts = []
    if observation.feedback:
        parts.append(f"Your previous action was refused: {observation.feedback}")
    failed = failures.failures_text(observation, egress)
    if failed:
        parts.append(failed)
    parts.append("Observation (JSON):\n" + _dump(observation_payload(observation, max_chars)))
    parts.append(f"Choose one action among: {', '.join(observation.allowed_actions or ['any'])}.")
    return "\n\n".join(parts)


__all__ = ["GRAMMAR_ACTIONS", "IDEA_SHARED", "ROLE_BRIEFS", "RULES", "TOOL_NAME", "action_schema", "expanded",
           "observation_payload",
           "role_brief", "system_prompt", "user_prompt"]
