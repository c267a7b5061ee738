"""The brain seam around the providers: make_brain specs, the ALLOW_LLM_CALLS switch (no network
I/O when it refuses), missing SDKs, the shipped test doubles, prompt rendering and prices."""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

import jsonschema
import pytest
from fake_providers import PROPOSE, make_observation

from autods.agents.actions import Claim, Post, Propose, Wait
from autods.agents.brain import Brain
from autods.agents.doubles import FunctionBrain, ScriptedBrain
from autods.agents.llm import make_brain
from autods.agents.llm.base import LLMCallsDisabled, is_loopback
from autods.agents.llm.pricing import UNKNOWN, price_for
from autods.agents.llm.prompt import USER_BUDGET, action_schema, expanded, observation_payload, system_prompt, user_prompt
from autods.agents.snapshot import DESIGN_KEY, SUMMARY_KEY
from autods.errors import LLMTransientError, UserInputError


# -- make_brain -----------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["expert", "gemini:pro", "anthropic:", "openai", ""])
def test_unknown_specs_are_user_errors_listing_the_choices(spec: str) -> None:
    with pytest.raises(UserInputError, match=r"expert \| anthropic:MODEL \| openai:MODEL"):
        make_brain(spec)


@pytest.mark.parametrize(("module", "spec"), [("anthropic", "anthropic:claude-x"), ("openai", "openai:gpt-x")])
def test_a_missing_sdk_is_a_user_error_with_the_install_hint(monkeypatch: pytest.MonkeyPatch, module: str, spec: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(UserInputError, match=rf"pip install 'autods\[{module}\]'"):
        make_brain(spec, api_key="k", base_url="http://127.0.0.1:9")


# -- ALLOW_LLM_CALLS ------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "loop"), [
    ("http://127.0.0.1:8000/v1", True), ("http://127.8.9.1", True), ("http://localhost:11434/v1", True),
    ("http://[::1]:1234/v1", True), ("https://api.openai.com/v1", False), ("https://api.anthropic.com", False),
    ("http://10.0.0.5:8000/v1", False), ("http://localhost.evil.example/v1", False), ("http://0.0.0.0:8000", False),
])
def test_loopback_detection(url: str, loop: bool) -> None:
    assert is_loopback(url) is loop


@pytest.mark.parametrize(("spec", "url"), [("anthropic:claude-x", "https://api.anthropic.com"),
                                           ("openai:gpt-4o", "https://api.openai.com/v1"),
                                           ("openai:llama3", "http://10.1.2.3:8000/v1")])
def test_switch_off_blocks_a_remote_provider_without_network_io(monkeypatch: pytest.MonkeyPatch, spec: str, url: str) -> None:
    pytest.importorskip(spec.split(":")[0])
    assert __import__("os").environ["ALLOW_LLM_CALLS"] == "0"  # set by conftest for every test
    touched: list[Any] = []

    def no_network(*args: Any, **kwargs: Any) -> None:
        touched.append(args)
        raise AssertionError("network I/O attempted")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    audit: list[dict[str, Any]] = []
    b = make_brain(spec, api_key="sk-test", base_url=url, audit=audit.append)
    with pytest.raises(LLMCallsDisabled, match="ALLOW_LLM_CALLS=0"):
        b.decide(make_observation())
    assert touched == [] and audit == []  # nothing was sent, so nothing is logged as sent


def test_switch_on_lets_the_brain_reach_for_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openai")
    monkeypatch.setenv("ALLOW_LLM_CALLS", "1")
    attempted: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        attempted.append(args)
        raise OSError("no network in tests")

    for target, attr in [(socket, "getaddrinfo"), (socket, "create_connection"), (socket.socket, "connect")]:
        monkeypatch.setattr(target, attr, refuse)
    b = make_brain("openai:gpt-4o", api_key="sk-test", base_url="https://api.openai.com/v1", max_retries=0)
    with pytest.raises(LLMTransientError):  # the connection error is transient; no retries were allowed
        b.decide(make_observation())
    assert attempted


# -- test doubles ---------------------------------------------------------------------------
def test_scripted_brain_replays_then_waits() -> None:
    brain = ScriptedBrain([{"kind": "claim"}, Post(title="hello")], name="s1")
    obs = make_observation()
    assert isinstance(brain, Brain) and brain.name == "s1"
    assert isinstance(brain.decide(obs), Claim) and isinstance(brain.decide(obs), Post)
    assert isinstance(brain.decide(obs), Wait) and isinstance(brain.decide(obs), Wait)
    assert len(brain.observations) == 4 and brain.remaining == 0


def test_scripted_brain_rejects_an_invalid_script_at_construction() -> None:
    with pytest.raises(ValueError, match="hypothesis"):
        ScriptedBrain([{"kind": "propose", "recipe": {}, "expected_effect": 0.1, "family": "x"}])


def test_function_brain_sees_the_observation_and_its_dicts_are_validated() -> None:
    brain = FunctionBrain(lambda o: PROPOSE if o.budget_used < 10 else {"kind": "wait"})
    assert isinstance(brain, Brain) and brain.name == "function"
    assert isinstance(brain.decide(make_observation()), Propose)
    assert isinstance(brain.decide(make_observation(budget_used=12)), Wait)
    with pytest.raises(ValueError):
        FunctionBrain(lambda o: {"kind": "explode"}).decide(make_observation())


# -- prompt -----------------------------------------------------------------------------------
def test_action_schema_is_an_object_narrowed_to_the_allowed_kinds_and_accepts_real_actions() -> None:
    schema = action_schema(["propose", "wait"])
    assert schema["type"] == "object" and set(schema["$defs"]) == {"Propose", "Wait"}
    jsonschema.validate({"action": PROPOSE}, schema)
    jsonschema.validate({"action": {"kind": "wait"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"action": {"kind": "claim"}}, schema)
    assert set(action_schema([])["properties"]["action"]["discriminator"]["mapping"]) >= {"claim", "promote"}


def test_system_prompt_carries_role_rules_and_allowed_actions() -> None:
    text = system_prompt(make_observation(role="critic", allowed_actions=["critique", "wait"]))
    assert "You are the critic" in text and "never compute" in text and "Allowed actions for you now: critique, wait" in text
    assert '"Critique"' in text and '"Propose"' not in text


def test_user_prompt_shows_feedback_and_trims_old_entries_to_the_budget() -> None:
    posts = [{"id": i, "title": f"post {i}", "body": "x" * 200} for i in range(1000)]
    text = user_prompt(make_observation(posts=posts, feedback="proposal duplicates the champion"))
    assert text.startswith("Your previous action was refused: proposal duplicates the champion")
    assert len(text) <= USER_BUDGET + 500 and '"title":"post 999"' in text and '"title":"post 0"' not in text
    assert '"omitted_oldest":{"posts":' in text


def test_trimming_keeps_the_design_the_summary_and_my_proposals_and_ideas_come_back_whole() -> None:
    """The design and summary posts are among a run's oldest, and an agent that cannot see its own
    proposals proposes them again: over the wire, both stalled the expert analysts (issue 14)."""
    posts = [{"id": 1, "kind": "finding", "title": "summary", "body": "", "data": {SUMMARY_KEY: {"n": 1}}},
             {"id": 2, "kind": "design", "title": "design", "body": "", "data": {DESIGN_KEY: {"cv": "grouped"}}}]
    posts += [{"id": i, "kind": "note", "title": f"post {i}", "body": "x" * 200, "data": {}} for i in range(3, 600)]
    recipe = {"family": "logistic", "params": {"C": 1.0}}

    def proposal(i: int, author: str, status: str) -> dict[str, Any]:
        return {"id": i, "author_name": author, "status": status, "family": "logistic", "recipe": recipe,
                "hypothesis": "h" * 300, "canonical_hash": f"{i:064d}", "critiques": [{"reasons": "r" * 300}]}

    proposals = [proposal(i, "analyst-1" if i in (1, 7) else "analyst-2", "open" if i == 150 else "queued")
                 for i in range(1, 200)]
    ideas = [{**{k: v for k, v in proposals[i - 1].items() if k != "critiques"}, "tier": "NEXT", "diagnosis_id": 1,
              "if_works": "w"} for i in (1, 7, 9)]
    obs = make_observation(agent="analyst-1", posts=posts, proposals=proposals, ideas=ideas)
    data = observation_payload(obs)
    assert len(json.dumps(data, separators=(",", ":"))) <= USER_BUDGET + 2000
    assert data["omitted_oldest"]["posts"] > 0 and data["omitted_oldest"]["proposals"] > 0
    assert [p["id"] for p in data["posts"]][:2] == [1, 2] and data["posts"][-1]["id"] == 599
    kept = {p["id"] for p in data["proposals"]}
    assert {1, 7, 150} <= kept and 9 not in kept and 199 in kept  # mine, the one awaiting critique, the newest
    sent = {i["id"]: i for i in data["ideas"]}
    assert "recipe" not in sent[1] and "recipe" in sent[9]  # said once where its proposal is in the payload
    assert expanded(data)["ideas"] == ideas


# -- prices -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("provider", "model", "price"), [
    ("anthropic", "claude-sonnet-4-5-20250929", (3.0, 15.0)), ("anthropic", "claude-3-5-haiku-latest", (0.8, 4.0)),
    ("openai", "gpt-4o-mini-2024-07-18", (0.15, 0.60)), ("openai", "gpt-4o", (2.50, 10.0)),
    ("anthropic", "claude-opus-4-6", None), ("openai", "gpt-5.1", None), ("openai", "llama3.1:8b", None),
])
def test_prices_match_a_known_model_or_say_unknown(provider: str, model: str, price: tuple[float, float] | None) -> None:
    found, note = price_for(provider, model)
    assert found == price and (note == UNKNOWN) is (price is None)
