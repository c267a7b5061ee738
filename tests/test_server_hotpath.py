"""The hot-route lane (server/hotpath.py) answers exactly as FastAPI would.

Two identical worlds (same seeding, a frozen clock) get the same request sequence: one app
with the lane, one with it removed. Every answer (status, content type, body bytes) and the
final state must match, and the lane must have served the ordinary requests itself.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from autods.server import hotpath, routes_write
from autods.server.app import create_app
from autods.server.serve import running_server
from autods.server.service import Service
from autods.state.store import Store

NOW = 1_700_000_000.0
RESULT = {"metric": "auroc", "value": 0.7, "higher_is_better": True, "fold_scores": [0.7, 0.71]}


class World:
    def __init__(self, path: Path, lane: bool) -> None:
        self.store = Store.open(f"sqlite:///{path}", clock=lambda: NOW)
        self.service = svc = Service(self.store, slot_limit=3, stagnation_k=2)
        run = svc.create_run("hot")
        names = ("analyst", "biostatistician", "harness", "experimenter")
        self.tokens = {role: svc.register_agent(run.id, role, role)[1] for role in names}
        self.tokens["harness2"] = svc.register_agent(run.id, "harness2", "harness")[1]
        analyst = svc.authenticate(self.tokens["analyst"])
        critic = svc.authenticate(self.tokens["biostatistician"])
        assert analyst is not None and critic is not None
        proposal = svc.propose(analyst, run.id, {"family": "lightgbm"}, "trees", 0.01, "lightgbm")
        svc.critique(critic, proposal.id, "approve", "ok")
        for seed in range(6):
            svc.enqueue(analyst, proposal.id, seed=seed)
        self.app = create_app(svc)
        if not lane:
            self.app.user_middleware.clear()  # the lane is the app's only added middleware

    def send(self, method: str, path: str, role: str | None, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, str | None, bytes]:
        sent = dict(headers or {})
        if role is not None:
            sent.setdefault("Authorization", f"Bearer {self.tokens[role]}")

        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://t") as c:
                return await c.request(method, path, content=body, headers=sent)

        resp = asyncio.run(go())
        return resp.status_code, resp.headers.get("content-type"), resp.content


def j(value: Any) -> bytes:
    return json.dumps(value).encode()


JSON_CT = {"Content-Type": "application/json"}

# (method, path, role, body, extra headers): ordinary requests and every way to leave the lane.
REQUESTS: list[tuple[str, str, str | None, bytes | None, dict[str, str]]] = [
    ("GET", "/api/me", "harness", None, {}),            # tokens become known via the full path
    ("GET", "/api/me", "harness2", None, {}),
    ("GET", "/api/me", "analyst", None, {}),
    ("POST", "/api/runs/1/claims", "harness", j({}), JSON_CT),                           # ordinary
    ("POST", "/api/runs/1/claims", "experimenter", j({"lease_s": 60}), JSON_CT),        # unknown token yet
    ("POST", "/api/runs/1/claims", "analyst", j({}), JSON_CT),                          # 403 role
    ("POST", "/api/runs/1/claims", None, j({}), JSON_CT),                               # 401 no token
    ("POST", "/api/runs/1/claims", "harness", j({}), {**JSON_CT, "Authorization": "Bearer nope"}),
    ("POST", "/api/runs/1/claims", "harness", j({}), {**JSON_CT, "Authorization": "Basic eDp5"}),
    ("POST", "/api/runs/1/claims", "harness", j({"lease_s": -1}), JSON_CT),             # 422 body
    ("POST", "/api/runs/1/claims", "harness", j({"bogus": 1}), JSON_CT),
    ("POST", "/api/runs/1/claims", "harness", j([]), JSON_CT),
    ("POST", "/api/runs/1/claims", "harness", b"{not json", JSON_CT),
    ("POST", "/api/runs/1/claims", "harness", b"", JSON_CT),
    ("POST", "/api/runs/1/claims", "harness", j({}), {"Content-Type": "text/plain"}),
    ("POST", "/api/runs/1/claims", "harness", j({}), {}),
    ("POST", "/api/runs/0/claims", "harness", j({}), JSON_CT),                           # 422 id
    ("POST", "/api/runs/abc/claims", "harness", j({}), JSON_CT),
    ("POST", f"/api/runs/{2**62 + 1}/claims", "harness", j({}), JSON_CT),
    ("POST", "/api/runs/99/claims", "harness", j({}), JSON_CT),                          # other run
    ("POST", "/api/runs/01/claims", "harness", j({"team_id": None}), JSON_CT),           # non-canonical id
    ("POST", "/api/runs/1/claims", "harness2", j({}),
     {"Content-Type": "Application/JSON; charset=utf-8"}),
    ("POST", "/api/runs/1/claims", "harness", j({}), JSON_CT),                           # 409 slot limit
    ("POST", "/api/queue/1/heartbeat", "harness", j({"lease_s": 120}), JSON_CT),
    ("POST", "/api/queue/4/heartbeat", "harness", j({}), JSON_CT),                       # 409 not claimed
    ("POST", "/api/queue/1/heartbeat", "harness", j({"lease_s": 0}), JSON_CT),
    ("POST", "/api/queue/1/result", "harness", j(RESULT), JSON_CT),                      # 201
    ("POST", "/api/queue/1/result", "harness", j(RESULT), JSON_CT),                      # 409 twice
    ("POST", "/api/queue/999/result", "harness", j(RESULT), JSON_CT),                    # 404
    ("POST", "/api/queue/2/result", "harness", b'{"metric": "auroc", "value": NaN, "higher_is_better": true}',
     JSON_CT),
    ("POST", "/api/queue/2/result", "harness", j({**RESULT, "extra": 1}), JSON_CT),
    ("POST", "/api/queue/2/result", "analyst", j(RESULT), JSON_CT),                      # 403
    ("POST", "/api/queue/2/result", "harness", j({**RESULT, "value": 0.6, "artifacts": {"dir": "x"}}),
     {"Content-Type": "application/json", "Authorization": "bearer  {harness}"}),
    ("GET", "/api/runs/1/claims", "harness", None, {}),                                  # 405
    ("POST", "/api/queue/3/result", "harness", j({**RESULT, "value": 0.5}), JSON_CT),
    ("POST", "/api/runs/1/claims", "harness", j({}), JSON_CT),
    ("POST", "/api/runs/1/claims", "harness", j({}), JSON_CT),
    ("GET", "/api/runs/1/queue", "harness", None, {}),
    ("GET", "/api/runs/1/results", "harness", None, {}),
    ("GET", "/api/runs/1/posts", "harness", None, {}),
]


@pytest.fixture
def worlds(tmp_path: Path) -> Iterator[tuple[World, World]]:
    fast, slow = World(tmp_path / "fast.db", lane=True), World(tmp_path / "slow.db", lane=False)
    yield fast, slow
    fast.store.close()
    slow.store.close()


def test_lane_answers_byte_for_byte_as_fastapi(worlds: tuple[World, World], monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[str] = []
    real_run = hotpath._run

    def spy(lane: hotpath.Lane, *args: Any) -> bytes:
        served.append(lane.verb.__name__)
        return real_run(lane, *args)

    monkeypatch.setattr(hotpath, "_run", spy)
    for method, path, role, body, headers in REQUESTS:
        answers = []
        for w in worlds:
            sent = {k: v.format(**w.tokens) for k, v in headers.items()}
            answers.append(w.send(method, path, role, body, sent))
        fast, slow = answers
        assert fast == slow, (method, path, body, headers)
    statuses = {w.send("GET", "/api/runs/1/queue", "harness")[0] for w in worlds}
    assert statuses == {200}
    # The ordinary requests went through the lane (and only in the world that has it).
    assert served.count("_claim") >= 5 and "_heartbeat" in served and served.count("_record_result") >= 5


def test_lanes_follow_the_route_declarations() -> None:
    lanes = hotpath.lanes_for(routes_write.router.routes, routes_write.HOT_VERBS)
    assert {k: (v.status, v.body.__name__, v.id_name) for k, v in lanes.items()} == {
        "claims": (200, "Claim", "run_id"),
        "heartbeat": (200, "Heartbeat", "item_id"),
        "result": (201, "RecordResult", "item_id"),
    }


def test_lane_steps_aside_for_traced_requests() -> None:
    lane = hotpath.HotPath(app=None, lanes={"claims": None})  # type: ignore[arg-type, dict-item]
    scope = {"type": "http", "method": "POST", "path": "/api/runs/1/claims", "root_path": ""}
    assert lane._lane(scope) is None  # type: ignore[arg-type]
    assert lane._lane({**scope, "fastapi.telemetry": object()}) is None  # type: ignore[arg-type]
    lane.lanes = hotpath.lanes_for(routes_write.router.routes, routes_write.HOT_VERBS)
    assert lane._lane(scope) is lane.lanes["claims"]  # type: ignore[arg-type]
    assert lane._lane({**scope, "fastapi.telemetry": object()}) is None  # type: ignore[arg-type]
    assert lane._lane({**scope, "root_path": "/proxy"}) is None  # type: ignore[arg-type]


def test_concurrent_claims_over_a_socket_are_exactly_once(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    svc = Service(store, slot_limit=64)
    run = svc.create_run("load")
    _, a_tok = svc.register_agent(run.id, "a", "analyst")
    _, b_tok = svc.register_agent(run.id, "b", "biostatistician")
    a, b = svc.authenticate(a_tok), svc.authenticate(b_tok)
    assert a is not None and b is not None
    pid = svc.propose(a, run.id, {"family": "lightgbm"}, "x", 0.0, "lightgbm").id
    svc.critique(b, pid, "approve", "ok")
    items = 120
    for seed in range(items):
        svc.enqueue(a, pid, seed=seed)
    tokens = [svc.register_agent(run.id, f"h{i}", "harness")[1] for i in range(8)]
    got: list[int] = []
    lock = threading.Lock()
    try:
        with running_server(create_app(svc)) as url:
            def work(token: str) -> None:
                with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
                    while (item := c.post(f"/api/runs/{run.id}/claims", json={}).json()["item"]) is not None:
                        assert c.post(f"/api/queue/{item['id']}/result", json=RESULT).status_code == 201
                        with lock:
                            got.append(item["id"])

            threads = [threading.Thread(target=work, args=(t,)) for t in tokens]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
        assert sorted(got) == sorted(set(got)) and len(got) == items
        assert store.verify_audit_chain()
    finally:
        store.close()
