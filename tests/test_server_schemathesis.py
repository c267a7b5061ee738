"""schemathesis against ``/openapi.json``, in-process: generated requests (valid and not)
never produce a 5xx, answers match the documented schemas, and without a token every
operation is a 401. The SSE stream is excluded (an endless response) and tested elsewhere."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from autods.server.app import create_app
from autods.server.service import Service
from autods.state.store import Store

# A few examples per operation keep the default run near 30 s; the slow variant explores more.
FEW, MANY = 4, 40
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
STREAM = "/api/events/stream"


class Env:
    def __init__(self, tmp: Path) -> None:
        self.store = Store.open(f"sqlite:///{tmp / 'state.db'}")
        self.service = Service(self.store)
        run = self.service.create_run("fuzz")
        self.tokens = {r: self.service.register_agent(run.id, r, r)[1]
                       for r in ("orchestrator", "analyst", "harness", "viewer")}
        self.app = create_app(self.service)
        # Something for readers to find and writers to act on.
        svc, actor = self.service, self.service.authenticate(self.tokens["analyst"])
        assert actor is not None
        svc.post(actor, run.id, "note", "hello")
        svc.propose(actor, run.id, {"family": "logistic"}, "baseline", 0.0, "logistic")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = Env(tmp_path_factory.mktemp("fuzz"))
    yield e
    e.store.close()


@pytest.fixture(scope="module")
def operations(env: Env) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", env.app).exclude(path=STREAM)
    ops = [result.ok() for result in schema.get_all_operations()]
    assert len(ops) > 30
    return ops


def fuzz(op: Any, mode: GenerationMode, examples: int, test: Callable[[Any], None]) -> None:
    """Run ``test`` on generated cases of one operation (we drive Hypothesis ourselves:
    schemathesis' fixture-based pytest integration does not run under pytest 9.2)."""
    @given(case=op.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        test(case)
    run()


def as_every_role(env: Env) -> Callable[[Any], None]:
    def check(case: Any) -> None:
        # Each case as several roles: the same request is served, or refused 403/409 by role.
        for role in ("orchestrator", "analyst", "harness", "viewer"):
            case.call_and_validate(headers={"Authorization": f"Bearer {env.tokens[role]}"}, checks=CHECKS)
    return check


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_server_errors_and_documented_answers(operations: list[Any], env: Env, mode: GenerationMode) -> None:
    for op in operations:
        fuzz(op, mode, FEW, as_every_role(env))


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_server_errors_thorough(operations: list[Any], env: Env, mode: GenerationMode) -> None:
    for op in operations:
        fuzz(op, mode, MANY, as_every_role(env))


def test_unauthenticated_calls_are_401(operations: list[Any]) -> None:
    def check(case: Any) -> None:
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        response = case.call(headers=headers)
        # Even a malformed request is a 401 when it has no token (see http_errors.on_validation).
        assert response.status_code == 401, (case.method, case.path, response.status_code, response.text)
        assert response.json()["error"]["code"] == "unauthorized"

    for op in operations:
        fuzz(op, GenerationMode.NEGATIVE, 2, check)
        fuzz(op, GenerationMode.POSITIVE, 2, check)
