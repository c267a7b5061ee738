"""Local HTTP servers that speak the providers' real wire formats, for the LLM brain tests.

A stdlib ``ThreadingHTTPServer`` on 127.0.0.1 with a random port, in a daemon thread. Each
server records every request (path, headers, JSON body) and answers from a script: a list of
steps consumed one per request. A step is a dict ``{"status", "body", "headers", "delay"}``
(build them with the helpers below) or a callable ``step(request_body) -> dict`` for answers
that depend on the request (e.g. refuse ``json_schema`` but accept tools). When the script
runs out the server answers 418, which no brain treats as retryable, so a test that sends more
requests than it scripted fails loudly.

Wire formats (as documented by the providers):
- Anthropic ``POST /v1/messages`` -> ``{"type": "message", "content": [{"type": "tool_use", ...}],
  "stop_reason": "tool_use", "usage": {"input_tokens", "output_tokens", "cache_*"}}``; errors
  ``{"type": "error", "error": {"type", "message"}}``.
- OpenAI ``POST /v1/chat/completions`` -> ``{"object": "chat.completion", "choices": [{"message":
  {"content" | "tool_calls"}}], "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}``;
  errors ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Step = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


def step(status: int = 200, body: Any = None, headers: dict[str, str] | None = None, delay: float = 0.0) -> dict[str, Any]:
    return {"status": status, "body": body, "headers": headers or {}, "delay": delay}


# -- Anthropic ------------------------------------------------------------------------------
def anthropic_tool_use(tool_input: Any, *, input_tokens: int = 1200, output_tokens: int = 80,
                       cache_read: int = 0, cache_write: int = 0, model: str = "claude-sonnet-4-5") -> dict[str, Any]:
    return step(200, {
        "id": "msg_01FakeFakeFake", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "tool_use", "id": "toolu_01FakeFake", "name": "act", "input": tool_input}],
        "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                  "cache_creation_input_tokens": cache_write, "cache_read_input_tokens": cache_read},
    })


def anthropic_text(text: str, *, model: str = "claude-sonnet-4-5") -> dict[str, Any]:
    return step(200, {
        "id": "msg_01FakeText", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 10},
    })


def anthropic_error(status: int, kind: str = "api_error", message: str = "fake error",
                    headers: dict[str, str] | None = None) -> dict[str, Any]:
    return step(status, {"type": "error", "error": {"type": kind, "message": message}}, headers)


# -- OpenAI ---------------------------------------------------------------------------------
def _completion(message: dict[str, Any], finish: str, prompt_tokens: int, completion_tokens: int,
                cached: int = 0) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                             "total_tokens": prompt_tokens + completion_tokens}
    if cached:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return step(200, {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000, "model": "fake-model",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish,
                     "logprobs": None}],
        "usage": usage,
    })


def openai_content(content: Any, *, prompt_tokens: int = 1500, completion_tokens: int = 90, cached: int = 0) -> dict[str, Any]:
    text = content if isinstance(content, str) else json.dumps(content)
    return _completion({"content": text, "tool_calls": None}, "stop", prompt_tokens, completion_tokens, cached)


def openai_tool_call(arguments: Any, *, prompt_tokens: int = 1500, completion_tokens: int = 90) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return _completion({"content": None, "tool_calls": [{
        "id": "call_fake1", "type": "function", "function": {"name": "act", "arguments": args}}]},
        "tool_calls", prompt_tokens, completion_tokens)


def openai_no_usage(content: Any) -> dict[str, Any]:
    """Some local servers omit ``usage`` entirely."""
    s = openai_content(content)
    del s["body"]["usage"]
    return s


def openai_error(status: int, message: str = "fake error", param: str | None = None,
                 headers: dict[str, str] | None = None) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return step(status, {"error": {"message": message, "type": kind, "param": param, "code": None}}, headers)


# -- the server -----------------------------------------------------------------------------
class FakeProvider:
    """A scripted provider on 127.0.0.1. ``requests`` holds every request received."""

    path = ""
    url_suffix = ""

    def __init__(self, script: list[Step] | None = None) -> None:
        self.script: list[Step] = list(script or [])
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.url_suffix}"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests]

    def add(self, *steps: Step) -> None:
        with self._lock:
            self.script.extend(steps)

    def _next(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            s = self.script.pop(0) if self.script else step(418, {"error": {"message": "fake script exhausted"}})
        return s(body) if callable(s) else s

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.loads(raw or b"{}")
                with fake._lock:
                    fake.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                s = step(404, {"error": {"message": f"no route {self.path}"}}) if self.path != fake.path else fake._next(body)
                if s.get("delay"):
                    time.sleep(s["delay"])
                payload = json.dumps(s["body"]).encode()
                try:
                    self.send_response(s["status"])
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for k, v in s.get("headers", {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and hung up: that was the point of the delay

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        return Handler

    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class FakeAnthropic(FakeProvider):
    path = "/v1/messages"
    url_suffix = ""


class FakeOpenAI(FakeProvider):
    path = "/v1/chat/completions"
    url_suffix = "/v1"


@contextmanager
def running(fake: FakeProvider) -> Iterator[FakeProvider]:
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def make_observation(**overrides: Any) -> Any:
    """A small, realistic Observation (no rows) for the brain tests."""
    from autods.agents.observation import ColumnSummary, Observation, TaskSummary

    task = TaskSummary(
        name="readmission", task_type="binary", endpoint="readmitted_30d", metric="auroc", higher_is_better=True,
        cv_strategy="stratified-group-kfold", n_rows=4000, n_units=3100, n_events=520, events_per_variable=21.7,
        features=[ColumnSummary(name="age", kind="numeric", missing_fraction=0.0, n_unique=70),
                  ColumnSummary(name="hba1c", kind="numeric", missing_fraction=0.12, n_unique=90),
                  ColumnSummary(name="discharge_unit", kind="categorical", missing_fraction=0.0, n_unique=6)],
        excluded=[{"column": "patient_name", "reason": "PHI (person_name) removed"},
                  {"column": "mrn", "reason": "PHI (mrn) removed"}],
        findings=[{"code": "missing", "column": "hba1c", "message": "12% missing", "severity": "info"}],
        subgroups=["sex"], confounders=["age"],
    )
    base: dict[str, Any] = dict(
        agent="analyst-1", role="analyst", step=3, phase="discussion",
        allowed_actions=["propose", "post", "wait"], task=task, budget_total=24, budget_used=5,
        noise_floor=0.004, baseline={"family": "logistic", "metric": 0.70},
        champion={"result_id": 4, "family": "lightgbm", "metric": 0.741, "ci": [0.72, 0.76]},
        results=[{"result_id": i, "family": "logistic", "metric": 0.70 + i / 1000} for i in range(1, 5)],
        dead_ends=[{"id": 1, "family": "knn", "reason": "below baseline on 3 seeds"}],
    )
    base.update(overrides)
    return Observation(**base)


PROPOSE = {"kind": "propose", "recipe": {"family": "logistic", "params": {"C": 0.3}}, "hypothesis": "stronger L2 helps",
           "expected_effect": 0.01, "family": "logistic", "rationale": "regularise"}
