"""autods claude-pack: one folder per role, each holding only its own token, so one Claude Code
process is one agent and cannot both propose and approve; the runbook and agent definitions name
only MCP tools that exist on the coordination server, with the arguments the server really takes;
the minted tokens authenticate as their roles, over the real MCP transport."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from report_fixtures import shared_synthetic

from autods.cli import run as cli
from autods.errors import UserInputError
from autods.reports.claude_pack import (
    DENIED, PACK_ROLES, READ_TOOLS, TOKEN_ENV, pack_files, role_dir, server_name, write_claude_pack,
)
from autods.server.app import create_app
from autods.server.mcp_server import build_mcp
from autods.server.serve import running_server
from autods.server.service import Service
from autods.state import roles
from autods.state.store import Store

SIGNATURE = re.compile(r"`([a-z_]+)\(([^)]*)\)`")  # `tool(arg, opt?)` in agent files
TABLE_ROW = re.compile(r"^\| `([a-z_]+)` \| ([^|]*) \|", re.M)  # | `tool` | `arg`, `opt?` | in the runbook
ENV_LINE = re.compile(rf"^{TOKEN_ENV}=(\S+)$", re.M)


@pytest.fixture()
def run_dir(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shutil.copytree(shared_synthetic("binary", tmp_path_factory.mktemp("pack-runs")), tmp_path / "run")


@pytest.fixture(scope="module")
def server_tools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('mcp') / 'state.db'}")
    try:
        return {t.name: t.input_schema for t in asyncio.run(build_mcp(Service(store)).list_tools())}
    finally:
        store.close()


def _front_matter(path: Path) -> tuple[dict[str, Any], str]:
    _, meta, body = path.read_text().split("---\n", 2)
    return yaml.safe_load(meta), body


def _agent_file(run: Path, role: str) -> Path:
    return role_dir(run, role) / ".claude" / "agents" / f"autods-{role}.md"


def _mentions(run: Path) -> dict[str, set[str]]:
    """tool -> argument specs ('name' or 'name?') as the pack's text describes them."""
    found: dict[str, set[str]] = {}
    for role in PACK_ROLES:
        for tool, args in SIGNATURE.findall(_agent_file(run, role).read_text()):
            found.setdefault(tool, set()).update(a.strip() for a in args.split(",") if a.strip())
    for tool, args in TABLE_ROW.findall((run / "CLAUDE_RUNBOOK.md").read_text()):
        if tool != "tool":
            found.setdefault(tool, set()).update(a.strip(" `") for a in args.split(",") if a.strip(" `-"))
    return found


def test_every_tool_the_pack_mentions_exists_with_those_arguments(run_dir: Path, server_tools: dict) -> None:
    write_claude_pack(run_dir, tokens=False)
    mentions = _mentions(run_dir)
    assert len(mentions) >= 16 and "propose_code" in mentions
    for tool, specs in mentions.items():
        assert tool in server_tools, f"{tool} is not an MCP tool of the server"
        schema = server_tools[tool]
        required = set(schema.get("required", []))
        described = {s.rstrip("?") for s in specs}
        assert described == set(schema["properties"]), f"{tool}: pack {sorted(described)} vs server {sorted(schema['properties'])}"
        assert {s for s in specs if not s.endswith("?")} == required, f"{tool}: required arguments differ"


def test_each_role_folder_configures_one_server_and_only_its_roles_tools(run_dir: Path, server_tools: dict) -> None:
    write_claude_pack(run_dir, tokens=False)
    for role in PACK_ROLES:
        base = role_dir(run_dir, role)
        meta, body = _front_matter(_agent_file(run_dir, role))
        assert set(meta) == {"name", "description", "tools"} and meta["name"] == f"autods-{role}"
        tools = [t.strip() for t in meta["tools"].split(",")]
        prefix = f"mcp__{server_name(role)}__"
        assert all(t.startswith(prefix) for t in tools), "no file, shell or other tool"
        names = [t.removeprefix(prefix) for t in tools]
        assert set(READ_TOOLS) <= set(names) and set(names) <= set(server_tools)
        verb = {"propose_code": "propose"}
        assert all(roles.allowed(role, verb.get(n, n)) for n in names if n not in READ_TOOLS)
        servers = json.loads((base / ".mcp.json").read_text())["mcpServers"]
        assert servers == {server_name(role): {"type": "http", "url": "http://127.0.0.1:8765/mcp",
                                               "headers": {"Authorization": f"Bearer ${{{TOKEN_ENV}}}"}}}
        settings = json.loads((base / ".claude" / "settings.json").read_text())
        assert set(DENIED) <= set(settings["permissions"]["deny"]) and {"Bash", "Read", "WebFetch"} <= set(DENIED)
        assert ("propose_code" in names) == roles.allowed(role, "propose")
        assert ("contract 1" in body) == ("propose_code" in names)  # proposers are told the code contract
    validator = _front_matter(_agent_file(run_dir, "validator"))[0]["tools"]
    assert "promote" in validator and "propose" not in validator
    assert not (run_dir / ".mcp.json").exists() and not (run_dir / ".claude").exists()
    runbook = (run_dir / "CLAUDE_RUNBOOK.md").read_text()
    serve = re.search(r"Serve the run's shared state: `([^`]+)`", runbook).group(1)  # type: ignore[union-attr]
    assert serve == f"autods serve {run_dir} --host 127.0.0.1 --port 8765 --tokens" and "not a medical device" in runbook
    for role in PACK_ROLES:
        assert f"cd {role_dir(run_dir, role)} && set -a && . ./token.env" in runbook
    assert runbook.count("--strict-mcp-config") == len(PACK_ROLES)


async def _session(url: str, token: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """One MCP client, as one Claude Code process would hold it, making ``calls`` in order."""
    out = []
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=20) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            for tool, args in calls:
                result = await client.call_tool(tool, args)
                text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
                out.append(("error", text) if result.is_error else
                           result.structured_content or json.loads(text))
    return out


def _process_token(base: Path) -> str:
    """The token a process started in ``base`` holds: what its own token.env exports, nothing else."""
    [token] = ENV_LINE.findall((base / "token.env").read_text())
    return token


def test_one_process_is_one_agent_and_cannot_approve_its_own_proposal(run_dir: Path) -> None:
    (run_dir / ".claude").mkdir()
    (run_dir / ".claude" / "autods.env").write_text("export AUTODS_TOKEN_ANALYST=stale\n")  # an older pack's layout
    (run_dir / ".mcp.json").write_text("{}")
    store = Store.open(f"sqlite:///{run_dir / 'state.db'}")
    try:
        with running_server(create_app(Service(store))) as base_url:
            args = ["claude-pack", str(run_dir), "--url", base_url, "--role", "analyst", "--role", "validator"]
            assert cli(args) == 0
            assert not (run_dir / ".claude" / "autods.env").exists() and not (run_dir / ".mcp.json").exists()
            tokens = {}
            for role in ("analyst", "validator"):
                env = role_dir(run_dir, role) / "token.env"
                assert stat.S_IMODE(env.stat().st_mode) == 0o600
                tokens[role] = _process_token(role_dir(run_dir, role))
            assert tokens["analyst"] != tokens["validator"]
            # every token is written in exactly one file of the run folder: its own role's token.env
            everything = [p for p in run_dir.rglob("*") if p.is_file() and p.suffix not in (".db", ".parquet")]
            for role, token in tokens.items():
                holders = [p for p in everything if token in p.read_text(errors="ignore")]
                assert holders == [role_dir(run_dir, role) / "token.env"], role
            endpoint = json.loads((role_dir(run_dir, "analyst") / ".mcp.json").read_text())
            [(_, cfg)] = endpoint["mcpServers"].items()
            recipe = {"family": "logistic", "params": {"C": 0.5}}
            me, prop = asyncio.run(_session(cfg["url"], tokens["analyst"], [
                ("whoami", {}), ("propose", {"recipe": recipe, "hypothesis": "h", "expected_effect": 0.01,
                                              "family": "logistic"})]))
            assert me["role"] == "analyst" and me["name"] == "claude-analyst"
            [own] = asyncio.run(_session(cfg["url"], tokens["analyst"], [
                ("critique", {"proposal_id": prop["id"], "verdict": "approve", "reasons": "looks fine to me"})]))
            assert own[0] == "error" and "self_critique" in own[1]  # the analyst process cannot approve its own
            vme, approval = asyncio.run(_session(cfg["url"], tokens["validator"], [
                ("whoami", {}), ("critique", {"proposal_id": prop["id"], "verdict": "approve", "reasons": "ok"})]))
            assert vme["role"] == "validator" and approval["verdict"] == "approve"
            # a re-pack mints new tokens and leaves no old one behind
            assert cli(args) == 0
            assert _process_token(role_dir(run_dir, "analyst")) != tokens["analyst"]
            assert all(tokens["analyst"] not in p.read_text(errors="ignore") for p in pack_files(run_dir))
    finally:
        store.close()


def test_bad_role_and_missing_state_are_user_errors(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="unknown role 'harness'"):
        write_claude_pack(run_dir, roles=["harness"], tokens=False)
    (run_dir / "state.db").unlink()
    with pytest.raises(UserInputError, match="no shared state"):
        write_claude_pack(run_dir)
    assert not (run_dir / "claude").exists()  # nothing half-written before the refusal
    with pytest.raises(UserInputError, match="not a run folder"):
        write_claude_pack(tmp_path / "nowhere", tokens=False)


def test_every_refusal_code_the_runbook_names_is_one_the_server_raises(run_dir: Path) -> None:
    """The rules section names refusal codes in backticks (`self_critique`, `family_label`); each is
    a ProtocolViolation rule the server really raises, and the revise rule names the argument."""
    write_claude_pack(run_dir, tokens=False)
    text = (run_dir / "CLAUDE_RUNBOOK.md").read_text()
    rules = text.split("## Rules the server enforces", 1)[1].split("## Tools", 1)[0]
    server_src = "\n".join(p.read_text() for p in (Path(roles.__file__).parents[1] / "server").glob("*.py"))
    raised = set(re.findall(r'ProtocolViolation\(\s*"([a-z_]+)"', server_src))
    named = set(re.findall(r"\(`([a-z_]+)`\)", rules))
    assert named == {"self_critique", "family_label"} and named <= raised, (named, raised)
    assert "`revises=<proposal id>`" in rules and "`reject` is final" in rules and "`abort`" in rules
