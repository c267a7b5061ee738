"""The official MCP client over streamable HTTP against the server on a loopback port:
it lists the tools and drives propose -> critique -> enqueue -> claim -> result."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from autods.server.app import create_app
from autods.server.serve import running_server
from autods.server.service import Service
from autods.state.store import Store

ROLES = ("analyst", "biostatistician", "experimenter", "harness", "viewer")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp("mcp")
    store = Store.open(f"sqlite:///{tmp / 'state.db'}")
    service = Service(store)
    run = service.create_run("mcp-run")
    tokens = {r: service.register_agent(run.id, r, r)[1] for r in ROLES}
    with running_server(create_app(service)) as url:
        yield url, tokens
    store.close()


@contextlib.asynccontextmanager
async def connect(url: str, token: str | None) -> AsyncIterator[Client]:
    """An MCP client whose requests carry the agent's bearer token (the SDK leaves a
    caller-provided httpx2 client open, so we close it)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=20) as http:
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
            yield client


async def call(client: Client, tool: str, **args: Any) -> Any:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)  # type: ignore[union-attr]


async def refusal(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert result.is_error
    text: str = result.content[0].text  # type: ignore[union-attr]
    # The SDK prefixes "Error executing tool <name>: "; the rest is the REST error body.
    assert text.startswith(f"Error executing tool {tool}: ")
    err: dict[str, Any] = json.loads(text[text.index("{"):])["error"]
    return err


def test_tools_are_listed_with_their_arguments(server: tuple[str, dict[str, str]]) -> None:
    url, tokens = server

    async def go() -> dict[str, Any]:
        async with connect(url, tokens["analyst"]) as c:
            return {t.name: t.input_schema for t in (await c.list_tools()).tools}

    tools = asyncio.run(go())
    for verb in ("post", "propose", "critique", "enqueue", "claim", "heartbeat", "record_result",
                 "record_failure", "promote", "add_dead_end", "abort", "register_agent", "list_posts",
                 "list_proposals", "list_queue", "list_results", "champion", "list_dead_ends", "list_findings", "events",
                 "whoami"):
        assert verb in tools, verb
    assert set(tools["propose"]["required"]) == {"recipe", "hypothesis", "expected_effect", "family"}
    assert "ctx" not in tools["propose"]["properties"] and "token" not in tools["propose"]["properties"]


def test_full_cycle_and_refusals(server: tuple[str, dict[str, str]]) -> None:
    url, tokens = server

    async def go() -> None:
        async with connect(url, tokens["analyst"]) as analyst, connect(url, tokens["biostatistician"]) as bio, \
                connect(url, tokens["experimenter"]) as exp, connect(url, tokens["harness"]) as harness:
            assert (await call(analyst, "whoami"))["role"] == "analyst"
            prop = await call(analyst, "propose", recipe={"family": "lightgbm", "params": {"num_leaves": 15}},
                              hypothesis="interactions matter", expected_effect=0.02, family="lightgbm")
            err = await refusal(analyst, "enqueue", proposal_id=prop["id"])
            assert err["code"] == "protocol_violation" and err["rule"] == "needs_approval"
            await call(bio, "critique", proposal_id=prop["id"], verdict="approve", reasons="grouped CV ok")
            item = await call(analyst, "enqueue", proposal_id=prop["id"], seed=0)
            claimed = (await call(exp, "claim"))["item"]
            assert claimed["id"] == item["id"] and claimed["status"] == "claimed"
            await call(exp, "heartbeat", item_id=claimed["id"], lease_s=120)
            err = await refusal(exp, "record_result", item_id=claimed["id"], metric="auroc", value=0.8,
                                higher_is_better=True)
            assert err["code"] == "permission_denied"
            result = await call(harness, "record_result", item_id=claimed["id"], metric="auroc", value=0.8,
                                higher_is_better=True, fold_scores=[0.79, 0.81])
            assert result["value"] == 0.8
            log = (await call(exp, "list_results"))["results"]
            assert [r["id"] for r in log] == [result["id"]]
            [entry] = (await call(exp, "list_proposals"))["proposals"]
            assert entry["critiques"][0]["verdict"] == "approve"
            champ = await analyst.read_resource("autods://runs/1/champion")
            assert json.loads(champ.contents[0].text)["champion"] is None  # type: ignore[union-attr]
            forum = await analyst.read_resource("autods://runs/1/forum")
            kinds = {p["kind"] for p in json.loads(forum.contents[0].text)}  # type: ignore[union-attr]
            assert {"proposal", "critique", "result"} <= kinds
            templates = {t.uri_template for t in (await analyst.list_resource_templates()).resource_templates}
            assert {"autods://runs/{run_id}/champion", "autods://runs/{run_id}/forum",
                    "autods://runs/{run_id}/experiments"} <= templates

    asyncio.run(go())


def test_mcp_without_a_token_is_401(server: tuple[str, dict[str, str]]) -> None:
    url, _ = server
    resp = httpx2.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                       headers={"Accept": "application/json, text/event-stream"})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"
