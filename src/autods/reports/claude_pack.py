"""``autods claude-pack runs/NAME``: let Claude Code agents join a run through MCP, one process per role.

Writes into the run folder:

* ``CLAUDE_RUNBOOK.md``: how to serve the run, start one Claude Code process per role, the rules
  the server enforces, and every tool with its arguments;
* ``claude/<role>/``: everything one Claude Code process for that role needs, and nothing of
  another role:

  - ``.claude/agents/autods-<role>.md``: the agent definition (YAML front matter ``name``,
    ``description``, ``tools``); it may call only its role's MCP tools, no file or shell tool;
  - ``.mcp.json``: one HTTP MCP server, ``autods-<role>``, at the server's ``/mcp``, whose bearer
    token is ``${AUTODS_TOKEN}``;
  - ``.claude/settings.json``: denies file, shell and web tools to the whole process;
  - ``CLAUDE.md``: the role's brief for the process's main agent;
  - ``token.env`` (mode 0600, only with tokens): this role's token, and only it, minted by
    registering one agent for the role in the run's shared state.

Why a folder per role: a Claude Code process can call every MCP server in its configuration with
every token in its environment. With all roles' servers and tokens in one place (what this
command wrote before), one process could propose as the analyst and approve as the validator,
defeating "critique by another agent". Here a process started in ``claude/analyst`` with
``--strict-mcp-config`` knows one server and holds one token: it is one agent, and the server
refuses an agent's critique of its own proposal. Other roles' folders are readable on disk (the
settings deny the Read tool; a user who grants shell access defeats that), which the runbook says.

:data:`TOOLS` is written by hand from the server's verbs; a test checks every tool and argument it
names against the live MCP server, so the pack cannot drift from the server.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from autods.errors import UserInputError
from autods.runfolder import RunFolder, atomic_write_text

__all__ = ["PACK_DIR", "PACK_ROLES", "READ_TOOLS", "TOKEN_ENV", "TOOLS", "pack_files", "role_dir", "role_tools",
           "server_name", "write_claude_pack"]

PACK_DIR = "claude"
TOKEN_ENV = "AUTODS_TOKEN"
TOKEN_FILE = "token.env"

#: tool -> (arguments; a trailing '?' marks an optional one, what it does)
TOOLS: dict[str, tuple[tuple[str, ...], str]] = {
    "whoami": ((), "your agent id, role, run and the verbs your role allows"),
    "list_findings": (("run_id?",), "the data steward's guardrail findings (check, severity, message, advice)"),
    "list_posts": (("run_id?", "kind?", "thread_id?", "since_id?"), "forum posts, oldest first"),
    "list_proposals": (("run_id?", "status?"), "proposals with their critiques (code proposals show their source)"),
    "list_queue": (("run_id?", "status?", "team_id?"), "queued, claimed, done, failed and aborted jobs"),
    "list_results": (("run_id?",), "the experiment log: every result the judge recorded"),
    "champion": (("run_id?",), "the current champion and the promotion history"),
    "list_dead_ends": (("run_id?",), "regions of recipe space registered as not worth re-running, with reasons"),
    "events": (("since?", "limit?", "run_id?"), "audit events after a sequence number (poll with the last one seen)"),
    "post": (("kind", "title", "body?", "data?", "thread_id?", "team_id?", "run_id?"),
             "write to the forum (kind: design, finding, proposal, critique, near-miss, stuck, note)"),
    "propose": (("recipe", "hypothesis", "expected_effect", "family", "title?", "team_id?", "run_id?", "revises?"),
                "propose a recipe with the hypothesis it tests and the expected change of the primary metric"),
    "propose_code": (("source", "hypothesis", "expected_effect", "entry?", "role?", "then?", "then_params?",
                      "title?", "team_id?", "run_id?", "revises?"),
                     "propose a Python module (contract 1: fit + predict_proba / predict) run in the sandbox"),
    "critique": (("proposal_id", "verdict", "reasons", "reopens_dead_end?"),
                 "approve, revise or reject another agent's proposal, with reasons"),
    "enqueue": (("proposal_id", "seed?", "team_id?"), "queue an approved proposal for one seed"),
    "create_team": (("name", "hypothesis", "strategy", "run_id?"), "form a team around a hypothesis and a strategy"),
    "abort": (("item_id", "reason"), "abort a pending or claimed job, with a reason"),
    "add_dead_end": (("family", "region", "reason", "evidence?", "team_id?", "run_id?"),
                     "register a dead end so nobody re-runs it"),
    "promote": (("result_id", "confirming_result_id?"),
                "promote a confirmed result that beats the champion on the paired folds"),
    "release_expired": (("run_id?",), "return expired claims to the queue"),
}
READ_TOOLS = ("whoami", "list_findings", "list_posts", "list_proposals", "list_queue", "list_results", "champion",
              "list_dead_ends", "events")
#: tools whose server verb has another name
TOOL_VERB = {"propose_code": "propose"}
#: Claude Code tools denied to every process of the pack: agents see schemas and aggregates, never rows
DENIED = ("Bash", "Read", "Edit", "Write", "NotebookEdit", "Glob", "Grep", "WebFetch", "WebSearch")

#: Roles a Claude Code agent may take, and what each is for. Experiment agents and the
#: harness are not offered: results are recorded by the judge's harness, never by an agent.
PACK_ROLES: dict[str, str] = {
    "steward": "Data steward. Reads the guardrail findings and explains them to the team: PHI handling, exclusions "
               "and leakage risks. Flags proposals that would reintroduce an excluded feature.",
    "biostatistician": "Biostatistician. Checks the design (metric, CV strategy, events per variable, confounders, "
                       "subgroups) and proposes statistically sound baselines.",
    "analyst": "Analyst. Proposes recipes from the strategy library or code experiments (propose_code), forms teams "
               "around hypotheses, enqueues approved proposals and registers dead ends when a family keeps losing.",
    "feature": "Feature and representation specialist. Proposes composite features and feature subsets in the safe "
               "expression grammar, or a feature transformer as code.",
    "validator": "Validator and critic. Critiques every proposal before compute is spent (duplicates, dead ends, too "
                 "many parameters for the events, leakage risk, code that reads anything but X and y, gain below the "
                 "noise floor) and promotes confirmed winners.",
    "translator": "Translator. Reads results and writes plain-language notes for clinicians; never states a number "
                  "that is not in the experiment log.",
    "monitor": "Monitor. Watches for stagnation (stuck posts), aborts runaway jobs and reopens discussion.",
}


def role_tools(role: str) -> list[str]:
    """The MCP tools ``role`` may call: the readers plus its write verbs (from the server's role table)."""
    from autods.state import roles

    verbs = roles.ROLES[role]
    return [*READ_TOOLS, *[t for t in TOOLS if t not in READ_TOOLS and TOOL_VERB.get(t, t) in verbs]]


def server_name(role: str) -> str:
    return f"autods-{role}"


def role_dir(run_dir: str | Path, role: str) -> Path:
    return Path(run_dir) / PACK_DIR / role


def _signature(tool: str) -> str:
    args, _ = TOOLS[tool]
    return f"{tool}({', '.join(args)})"


def _brief(role: str) -> list[str]:
    lines = [f"You are the **{role}** of an AutoDataScientists (autods) run.", "", PACK_ROLES[role], "",
             "The coordination server enforces the protocol in code: a proposal needs an approving critique by "
             "another agent before it can be queued; duplicates and dead ends are refused; only the judge's harness "
             "records results. A refusal comes back as a tool error with a `rule`: read it and adapt, do not retry "
             "the same call.", "",
             "Never state a metric you did not read from `list_results` or `champion`. You see schemas, aggregates "
             "and findings, never data rows. A failed experiment's reason (`list_queue`, status failed) gives the "
             "exception type and masked traceback lines of the code.", ""]
    if "propose_code" in role_tools(role):
        from autods.agents.llm import grammar

        lines += ["## Code experiments", "", grammar.code_text(None, tool=True), ""]
    return lines


def _agent_md(role: str) -> str:
    tools = role_tools(role)
    names = ", ".join(f"mcp__{server_name(role)}__{t}" for t in tools)
    lines = ["---", f"name: autods-{role}",
             f"description: {PACK_ROLES[role].split('.')[0]} of an autods run. Use for the {role} role of the agent team.",
             f"tools: {names}", "---", "", *_brief(role), "## Your tools", ""]
    lines += [f"- `{_signature(t)}`: {TOOLS[t][1]}" for t in tools]
    lines += ["", "Start with `whoami`, then `list_findings` and `list_posts`."]
    return "\n".join(lines) + "\n"


def _settings() -> str:
    return json.dumps({"permissions": {"deny": list(DENIED)}, "enableAllProjectMcpServers": True}, indent=2) + "\n"


def _serve_command(folder: RunFolder, url: str) -> str:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 8765
    # --tokens: on loopback the server would otherwise answer token-less calls as a read-only viewer
    return f"autods serve {folder.root} --host {host} --port {port} --tokens"


def _launch(folder: RunFolder, role: str) -> str:
    where = role_dir(folder.root, role)
    return (f"cd {where} && set -a && . ./{TOKEN_FILE} && set +a && "
            "claude --strict-mcp-config --mcp-config .mcp.json")


def _runbook(folder: RunFolder, url: str, roles: list[str], tokens: bool) -> str:
    lines = [f"# Runbook: Claude Code agents on run `{folder.config().name}`", "",
             "Research use only; not a medical device.", "", "## Start", "",
             f"1. Serve the run's shared state: `{_serve_command(folder, url)}` (REST `/api`, MCP `/mcp`, board `/`).",
             "2. Start one Claude Code process per role, each in its own terminal, from its own folder"
             + ("" if tokens else " (run `autods claude-pack` with `--tokens` first to mint the tokens)") + ":", ""]
    lines += [f"   - {r}: `{_launch(folder, r)}`" for r in roles]
    lines += ["", "   Each folder holds one role's agent definition, MCP server and token only. Never load two "
              "`token.env` files into one shell, and never give an agent a shell or file tool: one process holding "
              "two roles' tokens could propose and approve its own experiment.",
              "3. Ask each process to act as its agent, e.g. *use the autods-validator agent to critique open "
              "proposals*.", "", "## Roles", ""]
    lines += [f"- **autods-{r}** (`{PACK_DIR}/{r}/`): {PACK_ROLES[r]}" for r in roles]
    lines += ["", "## Rules the server enforces", "",
              "- a proposal is queued only after an approving critique by another agent; an agent's critique of its "
              "own proposal is refused (`self_critique`);",
              "- the server reads every recipe itself: it derives the family, refusing a `family` argument that "
              "disagrees (`family_label`), and fills in the defaults, so a recipe with its defaults spelled out is "
              "the same recipe;",
              "- a critic's `revise` blocks that recipe until a changed one, proposed with `revises=<proposal id>` "
              "by its author or team, is approved (the revised proposal is withdrawn), or that critic approves after "
              "all; a validator's `reject` is final for that recipe;",
              "- a recipe and seed already queued or run is refused as a duplicate (code by the hash of its "
              "normalised source); a registered dead end is refused unless an approving critique re-opens it;",
              "- `design` posts are the biostatistician's, `finding` posts the steward's (and the orchestrator's "
              "noise floor), `result` posts the harness's; any other role is refused;",
              "- only the item's team, its proposer, the monitor or the orchestrator may `abort` a job;",
              "- code runs only in the sandbox (no network, no files but scratch, limits), scored by the frozen judge "
              "on the same folds as any recipe;",
              "- only the harness records results; a champion must beat the current one on the paired folds;",
              "- every call is authenticated by the role's bearer token and checked against the role's verbs.", "",
              "## Tools", "", "| tool | arguments (`?` = optional) | what it does |", "|---|---|---|"]
    lines += [f"| `{t}` | {', '.join(f'`{a}`' for a in args) or '-'} | {doc} |" for t, (args, doc) in TOOLS.items()]
    lines += ["", "See docs/claude-code.md for a walk from `autods serve` to a promoted code experiment.", ""]
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
        run = next((r for r in service.list_runs(SYSTEM_ACTOR) if r.name == folder.config().name), None)
        if run is None:
            raise UserInputError(f"the shared state holds no run named '{folder.config().name}'",
                                 "start the run first (autods run), or pass --no-tokens")
        return {r: service.register_agent(run.id, f"claude-{r}", r)[1] for r in roles}
    finally:
        store.close()


def _remove_shared_layout(root: Path) -> None:
    """Delete what an older pack wrote at the run's root: every role's server and token in one place."""
    for stale in (root / ".mcp.json", root / ".claude" / "autods.env"):
        stale.unlink(missing_ok=True)
    agents = root / ".claude" / "agents"
    if agents.is_dir():
        for md in agents.glob("*.md"):
            if md.stem in PACK_ROLES:
                md.unlink()


def write_claude_pack(run_dir: str | Path, *, url: str = "http://127.0.0.1:8765", roles: list[str] | None = None,
                      tokens: bool = True) -> list[Path]:
    """Write the runbook and one folder per role (agent, MCP server, settings, brief, token); returns the files."""
    folder = RunFolder(Path(run_dir))
    folder.config()  # a clear error when this is not a run folder
    roles = list(dict.fromkeys(roles or PACK_ROLES))
    unknown = [r for r in roles if r not in PACK_ROLES]
    if unknown:
        raise UserInputError(f"unknown role '{unknown[0]}' for a Claude Code agent", f"use one of: {', '.join(PACK_ROLES)}")
    minted = _mint_tokens(folder, roles) if tokens else {}
    _remove_shared_layout(folder.root)
    endpoint = url.rstrip("/") + "/mcp"
    written: list[Path] = []
    for role in roles:
        base = role_dir(folder.root, role)
        if base.is_dir():
            shutil.rmtree(base)  # a re-pack must not leave an earlier token behind
        mcp = {"mcpServers": {server_name(role): {"type": "http", "url": endpoint,
                                                  "headers": {"Authorization": f"Bearer ${{{TOKEN_ENV}}}"}}}}
        files = {base / ".claude" / "agents" / f"autods-{role}.md": _agent_md(role),
                 base / ".mcp.json": json.dumps(mcp, indent=2) + "\n",
                 base / ".claude" / "settings.json": _settings(),
                 base / "CLAUDE.md": "\n".join(_brief(role)) + f"Your agent definition: `.claude/agents/autods-{role}.md`.\n"}
        for path, text in files.items():
            atomic_write_text(path, text)
            written.append(path)
        if role in minted:
            env = base / TOKEN_FILE
            atomic_write_text(env, f"{TOKEN_ENV}={minted[role]}\n")
            os.chmod(env, 0o600)
            written.append(env)
    runbook = folder.root / "CLAUDE_RUNBOOK.md"
    atomic_write_text(runbook, _runbook(folder, url, roles, tokens))
    return [*written, runbook]


def pack_files(run_dir: str | Path) -> list[Path]:
    """Every file of the pack (for tests and ``autods status``): the runbook and the role folders."""
    root = Path(run_dir)
    found = [p for p in (root / PACK_DIR).rglob("*") if p.is_file()] if (root / PACK_DIR).is_dir() else []
    return sorted(found + [p for p in [root / "CLAUDE_RUNBOOK.md"] if p.is_file()])

