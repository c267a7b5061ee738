"""``autods claude-pack runs/NAME``: let Claude Code subagents join a run through MCP.

Writes into the run folder:

* ``CLAUDE_RUNBOOK.md``: how to start the coordination server and the session, the rules
  the server enforces, and every tool with its arguments;
* ``.claude/agents/<role>.md``: one Claude Code subagent per role (YAML front matter
  ``name``, ``description``, ``tools``). Each may call only its role's MCP tools and has
  **no file or shell tool**: the run folder holds the data, and agents see schemas and
  aggregates, never rows;
* ``.mcp.json``: one HTTP MCP server per role, all at the server's ``/mcp``, each with its
  own bearer token read from the environment (``${AUTODS_TOKEN_<ROLE>}``), so the server
  knows which role is calling;
* ``.claude/autods.env`` (mode 0600, only with tokens): the tokens, minted by registering
  one agent per role in the run's shared state.

:data:`TOOLS` is written by hand from the server's verbs; a test checks every tool and
argument it names against the live MCP server, so the pack cannot drift from the server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from autods.errors import UserInputError
from autods.runfolder import RunFolder, atomic_write_text

__all__ = ["PACK_ROLES", "READ_TOOLS", "TOOLS", "role_tools", "write_claude_pack"]

#: tool -> (arguments; a trailing '?' marks an optional one, what it does)
TOOLS: dict[str, tuple[tuple[str, ...], str]] = {
    "whoami": ((), "your agent id, role, run and the verbs your role allows"),
    "list_findings": (("run_id?",), "the data steward's guardrail findings (check, severity, message, advice)"),
    "list_posts": (("run_id?", "kind?", "thread_id?", "since_id?"), "forum posts, oldest first"),
    "list_proposals": (("run_id?", "status?"), "proposals with their critiques"),
    "list_queue": (("run_id?", "status?", "team_id?"), "queued, claimed, done, failed and aborted jobs"),
    "list_results": (("run_id?",), "the experiment log: every result the judge recorded"),
    "champion": (("run_id?",), "the current champion and the promotion history"),
    "list_dead_ends": (("run_id?",), "regions of recipe space registered as not worth re-running, with reasons"),
    "events": (("since?", "limit?", "run_id?"), "audit events after a sequence number (poll with the last one seen)"),
    "post": (("kind", "title", "body?", "data?", "thread_id?", "team_id?", "run_id?"),
             "write to the forum (kind: design, finding, proposal, critique, near-miss, stuck, note)"),
    "propose": (("recipe", "hypothesis", "expected_effect", "family", "title?", "team_id?", "run_id?"),
                "propose a recipe with the hypothesis it tests and the expected change of the primary metric"),
    "critique": (("proposal_id", "verdict", "reasons", "reopens_dead_end?"),
                 "approve, revise or reject another agent's proposal, with reasons"),
    "enqueue": (("proposal_id", "seed?", "team_id?"), "queue an approved proposal for one seed"),
    "create_team": (("name", "hypothesis", "strategy", "run_id?"), "form a team around a hypothesis and a strategy"),
    "abort": (("item_id", "reason"), "abort a pending or claimed job, with a reason"),
    "add_dead_end": (("family", "region", "reason", "evidence?", "team_id?", "run_id?"),
                     "register a dead end so nobody re-runs it"),
    "promote": (("result_id", "confirming_result_id?"),
                "promote a confirmed result that beats the champion by more than the noise floor"),
    "release_expired": (("run_id?",), "return expired claims to the queue"),
}
READ_TOOLS = ("whoami", "list_findings", "list_posts", "list_proposals", "list_queue", "list_results", "champion",
              "list_dead_ends", "events")

#: Roles a Claude Code subagent may take, and what each is for. Experiment agents and the
#: harness are not offered: results are recorded by the judge's harness, never by an agent.
PACK_ROLES: dict[str, str] = {
    "steward": "Data steward. Reads the guardrail findings and explains them to the team: PHI handling, exclusions "
               "and leakage risks. Flags proposals that would reintroduce an excluded feature.",
    "biostatistician": "Biostatistician. Checks the design (metric, CV strategy, events per variable, confounders, "
                       "subgroups) and proposes statistically sound baselines.",
    "analyst": "Analyst. Proposes recipes from the strategy library, forms teams around hypotheses, enqueues approved "
               "proposals and registers dead ends when a family keeps losing.",
    "feature": "Feature and representation specialist. Proposes composite features and feature subsets in the safe "
               "expression grammar.",
    "validator": "Validator and critic. Critiques every proposal before compute is spent (duplicates, dead ends, too "
                 "many parameters for the events, leakage risk, gain below the noise floor) and promotes confirmed "
                 "winners.",
    "translator": "Translator. Reads results and writes plain-language notes for clinicians; never states a number "
                  "that is not in the experiment log.",
    "monitor": "Monitor. Watches for stagnation (stuck posts), aborts runaway jobs and reopens discussion.",
}


def role_tools(role: str) -> list[str]:
    """The MCP tools ``role`` may call: the readers plus its write verbs (from the server's role table)."""
    from autods.state import roles

    verbs = roles.ROLES[role]
    return [*READ_TOOLS, *[t for t in TOOLS if t not in READ_TOOLS and t in verbs]]


def _server(role: str) -> str:
    return f"autods-{role}"


def _env(role: str) -> str:
    return f"AUTODS_TOKEN_{role.upper()}"


def _signature(tool: str) -> str:
    args, _ = TOOLS[tool]
    return f"{tool}({', '.join(args)})"


def _agent_md(role: str) -> str:
    tools = role_tools(role)
    names = ", ".join(f"mcp__{_server(role)}__{t}" for t in tools)
    lines = ["---", f"name: autods-{role}",
             f"description: {PACK_ROLES[role].split('.')[0]} of an autods run. Use for the {role} role of the agent team.",
             f"tools: {names}", "---", "", f"You are the **{role}** of an AutoDataScientists (autods) run.", "",
             PACK_ROLES[role], "",
             "The coordination server enforces the protocol in code: a proposal needs an approving critique by "
             "another agent before it can be queued; duplicates and dead ends are refused; only the judge's harness "
             "records results. A refusal comes back as a tool error with a `rule`: read it and adapt, do not retry "
             "the same call.", "",
             "Never state a metric you did not read from `list_results` or `champion`. You see schemas, aggregates "
             "and findings, never data rows.", "", "## Your tools", ""]
    lines += [f"- `{_signature(t)}`: {TOOLS[t][1]}" for t in tools]
    lines += ["", "Start with `whoami`, then `list_findings` and `list_posts`."]
    return "\n".join(lines) + "\n"


def _serve_command(state: str, url: str) -> str:
    """``autods serve`` when the CLI has it, else the equivalent Python call (same server)."""
    from urllib.parse import urlparse

    from autods.cli import app

    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 8765
    if any((c.name or c.callback.__name__) == "serve" for c in app.registered_commands):
        return f"autods serve --state {state} --host {host} --port {port}"
    return f"python -c \"from autods.server.serve import serve; serve('{state}', host='{host}', port={port})\""


def _runbook(folder: RunFolder, url: str, roles: list[str], tokens: bool) -> str:
    state = folder.state_url
    lines = [f"# Runbook: Claude Code agents on run `{folder.config().name}`", "",
             "Research use only; not a medical device.", "", "## Start", "",
             f"1. Serve the run's shared state: `{_serve_command(state, url)}` (REST `/api`, MCP `/mcp`, board `/`).",
             "2. Load the agent tokens into the shell that starts Claude Code: `source .claude/autods.env`"
             + ("" if tokens else " (run `autods claude-pack` with `--tokens` first to mint them)") + ".",
             f"3. Start `claude` in `{folder.root}`; `.mcp.json` connects one MCP server per role to `{url}`.",
             "4. Ask for a role by name, e.g. *use the autods-validator agent to critique open proposals*.", "",
             "## Roles", ""]
    lines += [f"- **autods-{r}** (`.claude/agents/{r}.md`, token `${_env(r)}`): {PACK_ROLES[r]}" for r in roles]
    lines += ["", "## Rules the server enforces", "",
              "- a proposal is queued only after an approving critique by another agent (two approvals overrule a reject);",
              "- a recipe and seed already queued or run is refused as a duplicate; a registered dead end is refused "
              "unless an approving critique re-opens it with a reason;",
              "- only the harness records results; a champion needs a confirming result on another seed and must beat "
              "the current one by more than the noise floor;",
              "- every call is authenticated by the role's bearer token and checked against the role's verbs.", "",
              "## Tools", "", "| tool | arguments (`?` = optional) | what it does |", "|---|---|---|"]
    lines += [f"| `{t}` | {', '.join(f'`{a}`' for a in args) or '-'} | {doc} |" for t, (args, doc) in TOOLS.items()]
    lines += ["", "Agent definitions grant MCP tools only. Do not add Read, Bash or other file tools: the run folder "
              "holds the data, and agents must see schemas and aggregates, never rows.", ""]
    return "\n".join(lines)


def _mint_tokens(folder: RunFolder, roles: list[str]) -> dict[str, str]:
    from autods.server.service import SYSTEM_ACTOR, Service
    from autods.state.store import Store

    url = folder.state_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise UserInputError(f"run '{folder.root}' has no shared state yet ({url})",
                             "start the run first (autods run), or pass --no-tokens")
    store = Store.open(url)
    try:
        service = Service(store)
        runs = service.list_runs(SYSTEM_ACTOR)
        run = next((r for r in runs if r.name == folder.config().name), None)
        if run is None:
            raise UserInputError(f"the shared state holds no run named '{folder.config().name}'",
                                 "start the run first (autods run), or pass --no-tokens")
        return {r: service.register_agent(run.id, f"claude-{r}", r)[1] for r in roles}
    finally:
        store.close()


def write_claude_pack(run_dir: str | Path, *, url: str = "http://127.0.0.1:8765", roles: list[str] | None = None,
                      tokens: bool = True) -> list[Path]:
    """Write the runbook, agent definitions, ``.mcp.json`` (and tokens); returns the files written."""
    folder = RunFolder(Path(run_dir))
    folder.config()  # a clear error when this is not a run folder
    roles = list(roles or PACK_ROLES)
    unknown = [r for r in roles if r not in PACK_ROLES]
    if unknown:
        raise UserInputError(f"unknown role '{unknown[0]}' for a Claude Code agent", f"use one of: {', '.join(PACK_ROLES)}")
    endpoint = url.rstrip("/") + "/mcp"
    written = []
    for role in roles:
        path = folder.root / ".claude" / "agents" / f"{role}.md"
        atomic_write_text(path, _agent_md(role))
        written.append(path)
    servers: dict[str, Any] = {_server(r): {"type": "http", "url": endpoint,
                                            "headers": {"Authorization": f"Bearer ${{{_env(r)}}}"}} for r in roles}
    mcp = folder.root / ".mcp.json"
    atomic_write_text(mcp, json.dumps({"mcpServers": servers}, indent=2) + "\n")
    runbook = folder.root / "CLAUDE_RUNBOOK.md"
    atomic_write_text(runbook, _runbook(folder, url, roles, tokens))
    written += [mcp, runbook]
    if tokens:
        minted = _mint_tokens(folder, roles)
        env = folder.root / ".claude" / "autods.env"
        atomic_write_text(env, "".join(f"export {_env(r)}={t}\n" for r, t in minted.items()))
        os.chmod(env, 0o600)
        written.append(env)
    return written
