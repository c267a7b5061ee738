"""The Anthropic brain against a local server speaking the Messages API wire format, through the
real ``anthropic`` SDK: tool use round trip, repair, retries with backoff, usage and cost."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fake_providers import (
    PROPOSE, FakeAnthropic, anthropic_error, anthropic_text, anthropic_tool_use, make_observation, running,
)

from autods.agents.actions import Propose, Wait
from autods.agents.llm import make_brain
from autods.agents.llm.base import BACKOFF_CAP
from autods.errors import LLMTransientError, UserInputError

pytest.importorskip("anthropic")
# not a real model id: the SDK warns (an error here) for ids it lists as deprecated, and a real id
# would tie these tests to the SDK's deprecation calendar; the price comes from an override
MODEL = "claude-test-model"
PRICES = {"claude-test": (3.0, 15.0)}


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with running(FakeAnthropic()) as server:
        yield server  # type: ignore[misc]


def brain(fake: FakeAnthropic, audit: list[dict[str, Any]] | None = None, **kw: Any) -> Any:
    b = make_brain(f"anthropic:{MODEL}", audit=None if audit is None else audit.append,
                   api_key="test-key", base_url=fake.base_url, name="analyst-1", prices=PRICES, **kw)
    b.slept = []
    b.sleep = b.slept.append  # no real waiting; the delays are asserted instead
    return b


def test_tool_use_round_trip_sends_one_forced_tool_and_the_observation(fake: FakeAnthropic) -> None:
    audit: list[dict[str, Any]] = []
    fake.add(anthropic_tool_use({"action": PROPOSE}))
    action = brain(fake, audit).decide(make_observation())

    assert isinstance(action, Propose) and action.recipe == PROPOSE["recipe"]
    [req] = fake.requests
    body = req["body"]
    assert req["path"] == "/v1/messages" and body["model"] == MODEL and body["max_tokens"] == 2048
    [tool] = body["tools"]
    assert tool["name"] == "act" and tool["input_schema"]["type"] == "object"
    assert set(tool["input_schema"]["properties"]["action"]["discriminator"]["mapping"]) == {"propose", "post", "wait"}
    assert body["tool_choice"] == {"type": "tool", "name": "act"}
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "You are an analyst" in body["system"][0]["text"]
    user = body["messages"][0]["content"]
    assert '"metric":0.741' in user and "hba1c" in user
    # the audit line holds exactly what was checked and sent
    prompt = next(a for a in audit if a["event"] == "llm_prompt")
    assert prompt["allowed"] and prompt["agent"] == "analyst-1" and prompt["provider"] == "anthropic"
    assert prompt["sha256"] == hashlib.sha256(prompt["text"].encode()).hexdigest()
    assert prompt["chars"] == len(prompt["text"])
    assert prompt["text"] == body["system"][0]["text"] + "\n\n" + json.dumps(body["messages"], ensure_ascii=False, sort_keys=True)


def test_unwrapped_tool_input_is_accepted(fake: FakeAnthropic) -> None:
    fake.add(anthropic_tool_use(PROPOSE))  # the model forgot the {"action": ...} wrapper
    assert isinstance(brain(fake).decide(make_observation()), Propose)


def test_invalid_tool_input_is_repaired_with_an_error_tool_result(fake: FakeAnthropic) -> None:
    broken = {k: v for k, v in PROPOSE.items() if k != "hypothesis"}
    fake.add(anthropic_tool_use({"action": broken}), anthropic_tool_use({"action": PROPOSE}))
    b = brain(fake)
    assert isinstance(b.decide(make_observation()), Propose)

    second = fake.bodies[1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"][0]["type"] == "tool_use" and second[1]["content"][0]["input"] == {"action": broken}
    result = second[2]["content"][0]
    assert result["type"] == "tool_result" and result["is_error"] is True
    assert result["tool_use_id"] == second[1]["content"][0]["id"] and "hypothesis" in result["content"]
    assert b.usage["repairs"] == 1 and b.usage["invalid_outputs"] == 1 and b.usage["calls"] == 2


def test_a_kind_outside_the_role_is_invalid_and_repaired(fake: FakeAnthropic) -> None:
    critique = {"kind": "critique", "proposal_id": 1, "verdict": "approve", "reasons": ["fine"]}
    fake.add(anthropic_tool_use({"action": critique}), anthropic_tool_use({"action": PROPOSE}))
    assert isinstance(brain(fake).decide(make_observation()), Propose)
    assert "not allowed" in fake.bodies[1]["messages"][2]["content"][0]["content"]


def test_text_instead_of_tool_use_is_repaired_in_plain_text(fake: FakeAnthropic) -> None:
    fake.add(anthropic_text("I think we should try logistic."), anthropic_tool_use({"action": PROPOSE}))
    assert isinstance(brain(fake).decide(make_observation()), Propose)
    second = fake.bodies[1]["messages"]
    assert second[1] == {"role": "assistant", "content": "I think we should try logistic."}
    assert "not a JSON object" in second[2]["content"]


def test_after_two_failed_repairs_the_brain_waits(fake: FakeAnthropic) -> None:
    fake.add(*[anthropic_tool_use({"action": {"kind": "propose"}}) for _ in range(3)])
    b = brain(fake)
    action = b.decide(make_observation())
    assert isinstance(action, Wait) and action.rationale.startswith("invalid output:")
    assert len(fake.requests) == 3 and b.usage["invalid_outputs"] == 3 and b.usage["repairs"] == 2


def test_429_and_5xx_are_retried_with_seeded_exponential_backoff(fake: FakeAnthropic) -> None:
    fake.add(anthropic_error(429, "rate_limit_error"), anthropic_error(500), anthropic_error(529, "overloaded_error"),
             anthropic_tool_use({"action": PROPOSE}))
    audit: list[dict[str, Any]] = []
    b = brain(fake, audit)
    assert isinstance(b.decide(make_observation()), Propose)
    slept = b.slept
    assert len(slept) == 3 and b.usage["retries"] == 3 and len(fake.requests) == 4
    for k, s in enumerate(slept):  # equal jitter: half to all of 1, 2, 4 s
        assert 0.5 * 2 ** k <= s <= 2 ** k
    # retries resend the identical prompt: one audit line, the same body four times
    assert sum(a["event"] == "llm_prompt" for a in audit) == 1
    assert all(body == fake.bodies[0] for body in fake.bodies)


def test_backoff_is_deterministic_for_a_seed_and_agent(fake: FakeAnthropic) -> None:
    def run(seed: int) -> list[float]:
        fake.add(anthropic_error(500), anthropic_error(500), anthropic_tool_use({"action": PROPOSE}))
        b = brain(fake, seed=seed)
        b.decide(make_observation())
        return b.slept

    assert run(0) == run(0) != run(1)


def test_retry_after_header_is_honoured(fake: FakeAnthropic) -> None:
    fake.add(anthropic_error(429, "rate_limit_error", headers={"retry-after": "7"}), anthropic_tool_use({"action": PROPOSE}))
    b = brain(fake)
    b.decide(make_observation())
    assert 7 <= b.slept[0] <= BACKOFF_CAP


def test_persistent_5xx_raises_llm_transient_error_after_four_retries(fake: FakeAnthropic) -> None:
    fake.add(*[anthropic_error(503) for _ in range(5)])
    b = brain(fake)
    with pytest.raises(LLMTransientError, match="after 5 attempts"):
        b.decide(make_observation())
    assert len(fake.requests) == 5 and len(b.slept) == 4


def test_a_timeout_is_retried(fake: FakeAnthropic) -> None:
    fake.add(anthropic_tool_use({"action": PROPOSE}) | {"delay": 1.0}, anthropic_tool_use({"action": PROPOSE}))
    b = brain(fake, timeout=0.3)
    assert isinstance(b.decide(make_observation()), Propose)
    assert b.usage["retries"] == 1 and b.usage["calls"] == 1


def test_bad_credentials_are_a_user_error_and_not_retried(fake: FakeAnthropic) -> None:
    fake.add(anthropic_error(401, "authentication_error", "invalid x-api-key"))
    b = brain(fake)
    with pytest.raises(UserInputError, match="ANTHROPIC_API_KEY"):
        b.decide(make_observation())
    assert len(fake.requests) == 1 and b.slept == []


def test_usage_and_cost_accumulate_per_agent_with_cache_pricing(fake: FakeAnthropic) -> None:
    fake.add(anthropic_tool_use({"action": PROPOSE}, input_tokens=1000, output_tokens=100, cache_write=3000),
             anthropic_tool_use({"action": PROPOSE}, input_tokens=1000, output_tokens=50, cache_read=3000))
    b = brain(fake)
    b.decide(make_observation())
    b.decide(make_observation(step=4))
    u = b.usage
    assert (u["calls"], u["input_tokens"], u["output_tokens"]) == (2, 2000, 150)
    assert (u["cache_write_tokens"], u["cache_read_tokens"]) == (3000, 3000)
    # 3 / 15 USD per 1M tokens; cache write 1.25x, cache read 0.1x the input price
    expected = (2000 * 3 + 150 * 15 + 3000 * 3 * 1.25 + 3000 * 3 * 0.1) / 1e6
    assert u["cost_usd"] == pytest.approx(expected, rel=1e-9)
    assert u["agent"] == "analyst-1" and "claude-test" in u["cost_note"]


def test_audit_lines_land_in_the_run_folder(fake: FakeAnthropic, tmp_path: Any) -> None:
    from autods.runfolder import RunFolder

    folder = RunFolder(tmp_path)
    fake.add(anthropic_tool_use({"action": PROPOSE}))
    make_brain(f"anthropic:{MODEL}", audit=folder.append_audit, api_key="k", base_url=fake.base_url).decide(make_observation())
    lines = [json.loads(x) for x in folder.audit_log.read_text().splitlines()]
    prompt = next(x for x in lines if x["event"] == "llm_prompt")
    assert {"event", "agent", "provider", "model", "sha256", "chars", "allowed", "text"} <= set(prompt)
    assert any(x["event"] == "llm_response" and x["input_tokens"] == 1200 for x in lines)


def test_standard_environment_variables_choose_endpoint_and_key(fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    fake.add(anthropic_tool_use({"action": PROPOSE}))
    b = make_brain(f"anthropic:{MODEL}")
    assert b.base_url == fake.base_url and isinstance(b.decide(make_observation()), Propose)
    headers = fake.requests[0]["headers"]
    assert "env-key" in (headers.get("x-api-key", "") + headers.get("authorization", ""))
