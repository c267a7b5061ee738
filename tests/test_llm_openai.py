"""The OpenAI-compatible brain against a local server speaking the Chat Completions wire format,
through the real ``openai`` SDK: json_schema output, the fallback chain for servers without it
(older vLLM / Ollama), repair, retries, usage and cost, keys and base URLs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fake_providers import (
    PROPOSE, FakeOpenAI, make_observation, openai_content, openai_error, openai_no_usage, openai_tool_call, running,
)

from autods.agents.actions import Post, Propose, Wait
from autods.agents.llm import make_brain
from autods.agents.llm.base import LLMProviderError
from autods.errors import LLMTransientError, UserInputError

pytest.importorskip("openai")
MODEL = "gpt-4o-mini"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with running(FakeOpenAI()) as server:
        yield server  # type: ignore[misc]


def brain(fake: FakeOpenAI, model: str = MODEL, **kw: Any) -> Any:
    kw.setdefault("api_key", "test-key")
    b = make_brain(f"openai:{model}", base_url=fake.base_url, name="analyst-2", seed=7, **kw)
    b.slept = []
    b.sleep = b.slept.append
    return b


def reject(*kinds: str) -> Any:
    """A server that answers 400 to requests using any of these shapes, like a server without them."""

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        shape = body.get("response_format", {}).get("type") or ("tools" if "tools" in body else "plain")
        if shape in kinds:
            return openai_error(400, f"{shape} is not supported by this server", param="response_format")
        if shape == "tools":
            return openai_tool_call({"action": PROPOSE})
        return openai_content("Here you go:\n```json\n" + json.dumps({"action": PROPOSE}) + "\n```")

    return answer


def test_json_schema_round_trip(fake: FakeOpenAI) -> None:
    fake.add(openai_content({"action": PROPOSE}))
    b = brain(fake)
    assert isinstance(b.decide(make_observation()), Propose)
    [req] = fake.requests
    body = req["body"]
    assert req["path"] == "/v1/chat/completions" and req["headers"]["authorization"] == "Bearer test-key"
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "action"
    schema = fmt["json_schema"]["schema"]
    assert schema["type"] == "object" and schema["required"] == ["action"]
    assert set(schema["properties"]["action"]["discriminator"]["mapping"]) == {"propose", "post", "wait"}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["seed"] == 7 and body["model"] == MODEL
    assert b.mode == "json_schema" and b.usage["mode"] == "json_schema"


def test_server_without_json_schema_falls_back_to_tools_and_remembers(fake: FakeOpenAI) -> None:
    fake.add(reject("json_schema"), reject("json_schema"), reject("json_schema"))
    b = brain(fake)
    assert isinstance(b.decide(make_observation()), Propose)
    assert [("response_format" in x, "tools" in x) for x in fake.bodies] == [(True, False), (False, True)]
    assert fake.bodies[1]["tool_choice"] == {"type": "function", "function": {"name": "act"}}
    assert b.mode == "tools" and b.usage["mode_fallbacks"] == [{"from": "json_schema", "status": 400}]
    # the next decision goes straight to the mode that worked
    assert isinstance(b.decide(make_observation(step=4)), Propose)
    assert len(fake.requests) == 3 and "tools" in fake.bodies[2]


def test_server_with_no_structured_output_at_all_ends_in_plain_json_extraction(fake: FakeOpenAI) -> None:
    fake.add(*[reject("json_schema", "tools", "json_object")] * 4)
    b = brain(fake)
    assert isinstance(b.decide(make_observation()), Propose)
    assert b.mode == "plain" and len(fake.requests) == 4
    assert "response_format" not in fake.bodies[3] and "tools" not in fake.bodies[3]
    assert b.usage["calls"] == 1  # fallbacks are not billed calls


def test_a_400_after_the_mode_worked_is_a_real_error_not_a_fallback(fake: FakeOpenAI) -> None:
    fake.add(openai_content({"action": PROPOSE}), openai_error(400, "context length exceeded"))
    b = brain(fake)
    b.decide(make_observation())
    with pytest.raises(LLMProviderError, match="context length exceeded"):
        b.decide(make_observation())
    assert b.mode == "json_schema" and len(fake.requests) == 2


def test_user_chosen_mode_is_never_abandoned(fake: FakeOpenAI) -> None:
    fake.add(openai_error(400, "tools not supported"))
    with pytest.raises(LLMProviderError):
        brain(fake, mode="tools").decide(make_observation())
    assert len(fake.requests) == 1


def test_invalid_json_is_repaired_with_the_error_fed_back(fake: FakeOpenAI) -> None:
    fake.add(openai_content("{not json"), openai_content({"action": PROPOSE | {"expected_effect": "big"}}),
             openai_content({"action": PROPOSE}))
    b = brain(fake)
    assert isinstance(b.decide(make_observation()), Propose)
    third = fake.bodies[2]["messages"]
    assert [m["role"] for m in third] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert third[2]["content"] == "{not json" and "not a JSON object" in third[3]["content"]
    assert "expected_effect" in third[5]["content"] and "big" not in third[5]["content"]  # no input echoed
    assert b.usage["repairs"] == 2


def test_invalid_tool_call_is_repaired_through_a_tool_message(fake: FakeOpenAI) -> None:
    fake.add(openai_tool_call({"action": {"kind": "post"}}), openai_tool_call({"action": {"kind": "post", "title": "EPV ok"}}))
    action = brain(fake, mode="tools").decide(make_observation())
    assert isinstance(action, Post) and action.title == "EPV ok"
    msgs = fake.bodies[1]["messages"]
    assert msgs[2]["role"] == "assistant" and msgs[2]["tool_calls"][0]["id"] == "call_fake1"
    assert msgs[3]["role"] == "tool" and msgs[3]["tool_call_id"] == "call_fake1" and "title" in msgs[3]["content"]


def test_three_invalid_outputs_give_wait(fake: FakeOpenAI) -> None:
    fake.add(*[openai_content("no idea")] * 3)
    action = brain(fake).decide(make_observation())
    assert isinstance(action, Wait) and "invalid output" in action.rationale and len(fake.requests) == 3


def test_429_then_success_backs_off(fake: FakeOpenAI) -> None:
    fake.add(openai_error(429, "slow down"), openai_error(502), openai_content({"action": PROPOSE}))
    b = brain(fake)
    assert isinstance(b.decide(make_observation()), Propose)
    assert len(b.slept) == 2 and 0.5 <= b.slept[0] <= 1.0 and 1.0 <= b.slept[1] <= 2.0
    assert b.mode == "json_schema"  # a 429 or 5xx never triggers the output-mode fallback


def test_5xx_until_the_retries_run_out(fake: FakeOpenAI) -> None:
    fake.add(*[openai_error(500)] * 5)
    b = brain(fake)
    with pytest.raises(LLMTransientError):
        b.decide(make_observation())
    assert len(fake.requests) == 5 and len(b.slept) == 4
    assert all(0.5 * 2 ** k <= s <= 2 ** k for k, s in enumerate(b.slept))


def test_usage_counts_cached_prompt_tokens_apart(fake: FakeOpenAI) -> None:
    b = brain(fake)
    fake.add(openai_content({"action": PROPOSE}, prompt_tokens=2000, completion_tokens=100, cached=1024))
    b.decide(make_observation())
    u = b.usage
    assert (u["input_tokens"], u["cache_read_tokens"], u["output_tokens"]) == (976, 1024, 100)
    # gpt-4o-mini list price 0.15 / 0.60 USD per 1M; cached input at 0.1x
    assert u["cost_usd"] == pytest.approx((976 * 0.15 + 1024 * 0.15 * 0.1 + 100 * 0.60) / 1e6, rel=1e-6)


def test_unknown_local_model_counts_tokens_but_not_cost(fake: FakeOpenAI) -> None:
    fake.add(openai_content({"action": PROPOSE}), openai_no_usage({"action": PROPOSE}))
    b = brain(fake, model="llama3.1:8b")
    b.decide(make_observation())
    b.decide(make_observation())
    u = b.usage
    assert u["calls"] == 2 and u["input_tokens"] == 1500 and u["cost_usd"] is None
    assert u["cost_note"] == "unknown model: cost not computed"


def test_local_server_needs_no_key_and_env_base_url_is_used(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    fake.add(openai_content({"action": PROPOSE}))
    b = make_brain("openai:qwen2.5:7b")
    assert b.base_url == fake.base_url and isinstance(b.decide(make_observation()), Propose)
    assert fake.requests[0]["headers"]["authorization"] == "Bearer not-needed"


def test_openai_without_a_key_is_a_user_error_before_any_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(UserInputError, match="OPENAI_API_KEY"):
        make_brain("openai:gpt-4o")


def test_one_brain_serving_two_agents_splits_usage_and_audit_by_agent(fake: FakeOpenAI) -> None:
    audit: list[dict[str, Any]] = []
    b = brain(fake, audit=audit.append)
    fake.add(openai_content({"action": PROPOSE}, prompt_tokens=1000, completion_tokens=10),
             openai_content({"action": PROPOSE}, prompt_tokens=3000, completion_tokens=30))
    b.decide(make_observation(agent="analyst-1"))
    b.decide(make_observation(agent="analyst-2"))
    by = b.usage["by_agent"]
    assert by["analyst-1"]["input_tokens"] == 1000 and by["analyst-2"]["output_tokens"] == 30
    assert sum(v["cost_usd"] for v in by.values()) == pytest.approx(b.usage["cost_usd"])
    assert [a["agent"] for a in audit if a["event"] == "llm_prompt"] == ["analyst-1", "analyst-2"]


def test_concurrent_decisions_on_one_brain_lose_no_usage(fake: FakeOpenAI) -> None:
    from concurrent.futures import ThreadPoolExecutor

    b = brain(fake)
    fake.add(*[openai_content({"action": PROPOSE}, prompt_tokens=100, completion_tokens=1)] * 16)
    with ThreadPoolExecutor(max_workers=8) as pool:
        actions = list(pool.map(lambda i: b.decide(make_observation(agent=f"a{i % 4}")), range(16)))
    assert all(isinstance(a, Propose) for a in actions)
    u = b.usage
    assert (u["calls"], u["input_tokens"], u["output_tokens"]) == (16, 1600, 16)
    assert sorted(u["by_agent"]) == ["a0", "a1", "a2", "a3"] and all(v["calls"] == 4 for v in u["by_agent"].values())
