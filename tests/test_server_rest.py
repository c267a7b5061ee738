"""REST API in-process (httpx.ASGITransport): every verb, 401/403/404/409/422 in one shape."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from autods.errors import PermissionDenied, ProtocolViolation, UserInputError
from autods.server.app import create_app
from autods.server.client import Coordinator
from autods.server.serve import check_binding, is_loopback, running_server
from autods.server.service import Service
from autods.state.store import Store

ROLES = ("analyst", "biostatistician", "experimenter", "harness", "validator", "viewer", "steward")


class World:
    def __init__(self, tmp: Path, require_auth: bool = True) -> None:
        self.store = Store.open(f"sqlite:///{tmp / 'state.db'}")
        self.service = Service(self.store, noise_floor=0.005, slot_limit=4)
        self.run = self.service.create_run("test-run")
        _, self.orch = self.service.register_agent(self.run.id, "orch", "orchestrator")
        self.tokens = {r: self.service.register_agent(self.run.id, r, r)[1] for r in ROLES}
        self.tokens["orchestrator"] = self.orch
        self.app = create_app(self.service, require_auth=require_auth)
        self.clients: dict[str, Coordinator] = {}

    def c(self, role: str) -> Coordinator:
        if role not in self.clients:
            self.clients[role] = Coordinator(token=self.tokens[role], app=self.app)
        return self.clients[role]

    def raw(self, method: str, path: str, role: str | None = None, token: str | None = None,
            **kw: Any) -> httpx.Response:
        token = token if token is not None else (self.tokens[role] if role else None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kw.pop("headers", {}))

        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                         base_url="http://t") as client:
                return await client.request(method, path, headers=headers, **kw)
        return asyncio.run(go())

    def close(self) -> None:
        for c in self.clients.values():
            c.close()
        self.store.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


def approved(w: World, recipe: dict[str, Any] | None = None, family: str = "lightgbm") -> int:
    p = w.c("analyst").propose(recipe or {"family": family, "params": {"num_leaves": 7}}, "trees capture interactions",
                               0.02, family)
    w.c("biostatistician").critique(p.id, "approve", "sound; grouped CV")
    return p.id


def assert_error(resp: httpx.Response, status: int, code: str, rule: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "rule"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["error"]["rule"] == rule
    return body["error"]


def test_every_verb_through_the_client(world: World) -> None:
    w = world
    team = w.c("analyst").create_team("trees", "interactions matter", "gbm family sweep")
    pid = approved(w)
    first = w.c("analyst").enqueue(pid, seed=0, team_id=team.id)
    w.c("analyst").enqueue(pid, seed=1, team_id=team.id)
    assert [i.id for i in w.c("viewer").list_queue(team_id=team.id)] == [first.id, first.id + 1]
    item = w.c("experimenter").claim(team_id=team.id)
    assert item is not None and item.status == "claimed"
    assert w.c("experimenter").heartbeat(item.id, lease_s=60).lease_expires_at is not None
    r1 = w.c("harness").record_result(item.id, "auroc", 0.80, True, [0.79, 0.81, 0.80], 0.75, 0.85, 1.5)
    second = w.c("harness").claim()
    assert second is not None
    r2 = w.c("harness").record_result(second.id, "auroc", 0.81, True, [0.8, 0.82])
    champ = w.c("validator").promote(r1.id, r2.id)
    assert champ.value == pytest.approx(0.805)  # the mean over the two seeds
    assert w.c("viewer").champion() == champ and w.c("viewer").champion_history() == [champ]
    assert [r.id for r in w.c("viewer").list_results()] == [r1.id, r2.id]
    assert w.c("experimenter").claim() is None

    [(prop, crits)] = w.c("viewer").list_proposals()
    assert prop.id == pid and prop.status == "queued" and crits[0].verdict == "approve"
    root = w.c("steward").post("finding", "leakage: readmit_flag", data={
        "check": "target_proxy", "severity": "blocking", "message": "|rho| 0.97 with the endpoint"})
    w.c("analyst").post("note", "agreed", "drop it", thread_id=root.id)
    kinds = [p.kind for p in w.c("viewer").list_posts()]
    assert {"proposal", "critique", "result", "finding", "note"} <= set(kinds)
    assert w.c("viewer").list_findings()[0]["check"] == "target_proxy"
    dead = w.c("analyst").add_dead_end("svm_rbf", {"gamma": "scale"}, "3 losses", {"result_ids": [1, 2]})
    assert w.c("viewer").list_dead_ends() == [dead]

    pid2 = approved(w, {"family": "logistic", "params": {"C": 1.0}}, "logistic")
    doomed = w.c("analyst").enqueue(pid2)
    assert w.c("orchestrator").abort(doomed.id, "superseded").status == "aborted"
    w.c("analyst").enqueue(pid2, seed=5)
    crash = w.c("harness").claim()
    assert crash is not None and w.c("harness").record_failure(crash.id, "OOM").status == "failed"
    assert w.c("orchestrator").release_expired() == []
    assert w.c("orchestrator").set_team_status(team.id, "dissolved").status == "dissolved"
    events = w.c("viewer").events(since=0)
    assert [e.seq for e in events] == sorted(e.seq for e in events) and len(events) > 10
    assert w.c("viewer").events(since=events[-1].seq) == []
    assert w.raw("GET", "/api/audit/verify", "viewer").json() == {"ok": True}
    assert [r.name for r in w.c("viewer").list_runs()] == ["test-run"]


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/runs"), ("GET", "/api/runs/1/posts"), ("POST", "/api/runs/1/claims"),
    ("GET", "/api/events"), ("GET", "/api/events/stream"), ("GET", "/api/runs/1/board"),
])
def test_401_without_or_with_unknown_token(world: World, method: str, path: str) -> None:
    resp = world.raw(method, path, json={} if method == "POST" else None)
    assert_error(resp, 401, "unauthorized")
    assert resp.headers["www-authenticate"] == "Bearer"
    assert_error(world.raw(method, path, token="not-a-token", json={} if method == "POST" else None),
                 401, "unauthorized")


@pytest.mark.parametrize("role,method,path,body", [
    ("experimenter", "POST", "/api/results/1/promote", {}),
    ("analyst", "POST", "/api/queue/1/result", {"metric": "auroc", "value": 0.7, "higher_is_better": True}),
    ("viewer", "POST", "/api/runs/1/posts", {"kind": "note", "title": "hi"}),
    ("viewer", "POST", "/api/runs/1/proposals", {"recipe": {}, "hypothesis": "h", "expected_effect": 0,
                                                  "family": "f"}),
    ("analyst", "POST", "/api/runs/1/agents", {"name": "x", "role": "harness"}),
    ("experimenter", "POST", "/api/runs/1/dead-ends", {"family": "f", "reason": "r"}),
])
def test_403_wrong_role(world: World, role: str, method: str, path: str, body: dict[str, Any]) -> None:
    err = assert_error(world.raw(method, path, role, json=body), 403, "permission_denied", "permission")
    assert repr(role) in err["message"]


def test_403_other_run(world: World) -> None:
    other = world.service.create_run("other")
    assert_error(world.raw("GET", f"/api/runs/{other.id}/posts", "viewer"), 403, "permission_denied", "permission")


def test_409_carries_the_rule_and_its_reason(world: World) -> None:
    w = world
    p = w.c("analyst").propose({"family": "lightgbm"}, "h", 0.01, "lightgbm")
    err = assert_error(w.raw("POST", f"/api/proposals/{p.id}/enqueue", "analyst", json={}), 409,
                       "protocol_violation", "needs_approval")
    assert "critique" in err["message"]
    assert_error(w.raw("POST", f"/api/proposals/{p.id}/critiques", "analyst",
                       json={"verdict": "approve", "reasons": "mine"}), 409, "protocol_violation", "self_critique")
    w.c("biostatistician").critique(p.id, "approve", "ok")
    w.c("analyst").enqueue(p.id)
    assert_error(w.raw("POST", f"/api/proposals/{p.id}/enqueue", "analyst", json={}), 409,
                 "protocol_violation", "duplicate")
    w.c("analyst").add_dead_end("svm_rbf", {}, "never converges")
    svm = approved(w, {"family": "svm_rbf"}, "svm_rbf")
    with pytest.raises(ProtocolViolation) as info:
        w.c("analyst").enqueue(svm)
    assert info.value.rule == "dead_end" and "never converges" in info.value.reason
    with pytest.raises(PermissionDenied):
        w.c("experimenter").promote(1)


def test_404_and_422_use_the_same_shape(world: World) -> None:
    w = world
    assert_error(w.raw("GET", "/api/proposals/999", "viewer"), 404, "not_found", "not_found")
    assert_error(w.raw("GET", "/api/nope", "viewer"), 404, "not_found")
    err = assert_error(w.raw("POST", "/api/runs/1/posts", "analyst", json={"kind": "gossip", "title": "x"}),
                       422, "invalid_request")
    assert "kind" in err["message"]
    assert_error(w.raw("POST", "/api/runs/1/posts", "analyst", json={"kind": "note", "title": "x", "bogus": 1}),
                 422, "invalid_request")
    assert_error(w.raw("POST", "/api/runs/1/posts", "analyst", content=b"{not json",
                       headers={"content-type": "application/json"}), 422, "invalid_request")
    assert_error(w.raw("GET", f"/api/runs/{2**70}/posts", "viewer"), 422, "invalid_request")
    assert_error(w.raw("GET", "/api/queue/abc", "viewer"), 422, "invalid_request")


def test_agents_listing_never_shows_token_hashes(world: World) -> None:
    resp = world.raw("GET", "/api/runs/1/agents", "viewer")
    assert resp.status_code == 200 and len(resp.json()) == len(ROLES) + 1
    assert "token_hash" not in resp.text
    registered = world.raw("POST", "/api/runs/1/agents", "orchestrator", json={"name": "n", "role": "analyst"})
    assert registered.status_code == 201 and "token_hash" not in registered.json()["agent"]
    assert Coordinator(token=registered.json()["token"], app=world.app).me()["role"] == "analyst"


def test_openapi_documents_every_verb_and_the_error_shape(world: World) -> None:
    doc = world.raw("GET", "/openapi.json").json()
    ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    for needed in [("POST", "/api/runs/{run_id}/proposals"), ("POST", "/api/proposals/{proposal_id}/critiques"),
                   ("POST", "/api/proposals/{proposal_id}/enqueue"), ("POST", "/api/runs/{run_id}/claims"),
                   ("POST", "/api/queue/{item_id}/heartbeat"), ("POST", "/api/queue/{item_id}/result"),
                   ("POST", "/api/results/{result_id}/promote"), ("POST", "/api/runs/{run_id}/dead-ends"),
                   ("POST", "/api/queue/{item_id}/abort"), ("POST", "/api/runs/{run_id}/agents"),
                   ("GET", "/api/events/stream"), ("GET", "/api/runs/{run_id}/champions")]:
        assert needed in ops
    assert "ErrorResponse" in doc["components"]["schemas"]
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_without_auth_anonymous_callers_only_read(tmp_path: Path) -> None:
    w = World(tmp_path, require_auth=False)
    try:
        assert w.raw("GET", "/api/runs/1/posts").status_code == 200
        assert w.raw("GET", "/").status_code == 200
        assert_error(w.raw("POST", "/api/runs/1/posts", json={"kind": "note", "title": "x"}), 403,
                     "permission_denied", "permission")
        assert_error(w.raw("GET", "/api/runs", token="bogus"), 401, "unauthorized")
        assert w.raw("POST", "/api/runs/1/posts", "analyst", json={"kind": "note", "title": "x"}).status_code == 201
    finally:
        w.close()


def test_board_page_is_self_contained_and_needs_a_token(world: World) -> None:
    page = world.raw("GET", f"/?token={world.tokens['viewer']}")
    assert page.status_code == 200 and "<script>" in page.text
    for external in ("src=\"http", "href=\"http", "//cdn", "@import"):
        assert external not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert world.raw("GET", "/").status_code == 401
    world.c("analyst").post("note", "</script><script>alert(1)</script>")
    snap = world.raw("GET", f"/api/runs/1/board?token={world.tokens['viewer']}").json()
    assert snap["run"]["name"] == "test-run" and snap["last_seq"] > 0
    assert snap["posts"][-1]["title"].startswith("</script>")  # data, rendered via textContent


def test_event_stream_delivers_new_events(world: World) -> None:
    app = create_app(world.service, sse_poll_s=0.05)
    seen: list[dict[str, Any]] = []
    with running_server(app) as url:
        since = world.c("viewer").events()[-1].seq

        def listen() -> None:
            headers = {"Authorization": f"Bearer {world.tokens['viewer']}"}
            with httpx.stream("GET", f"{url}/api/events/stream?since={since}", headers=headers, timeout=10) as r:
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        seen.append(json.loads(line[5:]))
                        return

        t = threading.Thread(target=listen)
        t.start()
        world.c("analyst").post("note", "live")
        t.join(timeout=10)
    assert seen and seen[0]["seq"] == since + 1 and seen[0]["verb"]


def test_binding_beyond_loopback_needs_tokens() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    assert check_binding("127.0.0.1", None) is False and check_binding("0.0.0.0", None) is True
    with pytest.raises(UserInputError, match="without tokens"):
        check_binding("0.0.0.0", False)


def test_client_lists_agents_and_teams_without_token_hashes(tmp_path) -> None:
    from autods.server.app import create_app
    from autods.server.client import Coordinator
    from autods.server.service import Service
    from autods.state.store import Store

    svc = Service(Store.open(f"sqlite:///{tmp_path}/s.db"))
    run = svc.create_run("r")
    _, token = svc.register_agent(run.id, "ana", "analyst")
    client = Coordinator(app=create_app(svc), token=token)
    client.create_team("t1", "lightgbm beats linear", "boosting")
    agents = client.list_agents()
    assert [a["name"] for a in agents] == ["ana"] and all("token" not in k for a in agents for k in a)
    assert [t.name for t in client.list_teams()] == ["t1"]
