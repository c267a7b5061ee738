"""autods claude-pack: the runbook, agent definitions and .mcp.json name only MCP tools that exist
on the coordination server, with the arguments the server's tools really take; the minted
tokens authenticate as their roles, over the real MCP transport."""

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
from autods.reports.claude_pack import PACK_ROLES, READ_TOOLS, write_claude_pack
from autods.server.app import create_app
from autods.server.mcp_server import build_mcp
from autods.server.serve import running_server
from autods.server.service import Service
from autods.state import roles
from autods.state.store import Store

SIGNATURE = re.compile(r"`([a-z_]+)\(([^)]*)\)`")  # `tool(arg, opt?)` in agent files
TABLE_ROW = re.compile(r"^\| `([a-z_]+)` \| ([^|]*) \|", re.M)  # | `tool` | `arg`, `opt?` | in the runbook


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


def _mentions(pack: Path) -> dict[str, set[str]]:
    """tool -> argument specs ('name' or 'name?') as the pack's text describes them."""
    found: dict[str, set[str]] = {}
    for md in (pack / ".claude" / "agents").glob("*.md"):
        for tool, args in SIGNATURE.findall(md.read_text()):
            found.setdefault(tool, set()).update(a.strip() for a in args.split(",") if a.strip())
    for tool, args in TABLE_ROW.findall((pack / "CLAUDE_RUNBOOK.md").read_text()):
        if tool != "tool":
            found.setdefault(tool, set()).update(a.strip(" `") for a in args.split(",") if a.strip(" `-"))
    return found


def test_every_tool_the_pack_mentions_exists_with_those_arguments(run_dir: Path, server_tools: dict) -> None:
    write_claude_pack(run_dir, tokens=False)
    mentions = _mentions(run_dir)
    assert len(mentions) >= 15
    for tool, specs in mentions.items():
        assert tool in server_tools, f"{tool} is not an MCP tool of the server"
        schema = server_tools[tool]
        required = set(schema.get("required", []))
        described = {s.rstrip("?") for s in specs}
        assert described == set(schema["properties"]), f"{tool}: pack {sorted(described)} vs server {sorted(schema['properties'])}"
        assert {s for s in specs if not s.endswith("?")} == required, f"{tool}: required arguments differ"


def test_agent_definitions_grant_only_their_roles_mcp_tools(run_dir: Path, server_tools: dict) -> None:
    write_claude_pack(run_dir, tokens=False)
    servers = json.loads((run_dir / ".mcp.json").read_text())["mcpServers"]
    for role in PACK_ROLES:
        meta, body = _front_matter(run_dir / ".claude" / "agents" / f"{role}.md")
        assert set(meta) == {"name", "description", "tools"} and meta["name"] == f"autods-{role}"
        tools = [t.strip() for t in meta["tools"].split(",")]
        prefix = f"mcp__autods-{role}__"
        assert all(t.startswith(prefix) for t in tools), "no file, shell or other tool"
        names = [t.removeprefix(prefix) for t in tools]
        assert set(READ_TOOLS) <= set(names) and set(names) <= set(server_tools)
        assert all(roles.allowed(role, n) for n in names if n not in READ_TOOLS)
        assert servers[f"autods-{role}"] == {"type": "http", "url": "http://127.0.0.1:8765/mcp",
                                             "headers": {"Authorization": f"Bearer ${{AUTODS_TOKEN_{role.upper()}}}"}}
    assert "promote" in _front_matter(run_dir / ".claude" / "agents" / "validator.md")[0]["tools"]
    assert "propose" not in _front_matter(run_dir / ".claude" / "agents" / "validator.md")[0]["tools"]
    assert "harness" not in PACK_ROLES and "experimenter" not in PACK_ROLES
    runbook = (run_dir / "CLAUDE_RUNBOOK.md").read_text()
    serve = re.search(r"Serve the run's shared state: `([^`]+)`", runbook).group(1)  # type: ignore[union-attr]
    assert f"sqlite:///{(run_dir / 'state.db').resolve()}" in serve and "8765" in serve
    assert serve.startswith(("autods serve ", "python -c ")) and "not a medical device" in runbook


async def _whoami(url: str, token: str) -> dict[str, Any]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=20) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            result = await client.call_tool("whoami", {})
            assert not result.is_error
            return result.structured_content or json.loads(result.content[0].text)  # type: ignore[union-attr]


def test_minted_tokens_join_the_run_as_their_roles_over_mcp(run_dir: Path) -> None:
    store = Store.open(f"sqlite:///{run_dir / 'state.db'}")
    try:
        with running_server(create_app(Service(store))) as base_url:
            assert cli(["claude-pack", str(run_dir), "--url", base_url, "--role", "analyst", "--role", "validator"]) == 0
            env = run_dir / ".claude" / "autods.env"
            assert stat.S_IMODE(env.stat().st_mode) == 0o600
            tokens = dict(re.findall(r"^export (\w+)=(\S+)$", env.read_text(), re.M))
            servers = json.loads((run_dir / ".mcp.json").read_text())["mcpServers"]
            assert set(servers) == {"autods-analyst", "autods-validator"}
            for role in ("analyst", "validator"):
                cfg = servers[f"autods-{role}"]
                token = tokens[cfg["headers"]["Authorization"].removeprefix("Bearer ${").rstrip("}")]
                me = asyncio.run(_whoami(cfg["url"], token))
                assert me["role"] == role and me["name"] == f"claude-{role}"
    finally:
        store.close()


def test_bad_role_and_missing_state_are_user_errors(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="unknown role 'harness'"):
        write_claude_pack(run_dir, roles=["harness"], tokens=False)
    (run_dir / "state.db").unlink()
    with pytest.raises(UserInputError, match="no shared state"):
        write_claude_pack(run_dir)
    with pytest.raises(UserInputError, match="not a run folder"):
        write_claude_pack(tmp_path / "nowhere", tokens=False)
