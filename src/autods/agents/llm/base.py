"""What every LLM brain shares: the call switch, the egress gate and audit, retries with seeded
backoff, validation with repair, and token/cost accounting. Providers implement three hooks.

One ``decide`` is at most ``1 + max_repairs`` prompts; each prompt is checked by the gate and
written to the audit log once, then sent with up to ``max_retries`` retries on transient errors
(429, 408/409/425, 5xx, timeouts, connection errors). Retries resend the identical payload, so
they add no audit line (the same ``sha256`` would repeat).
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import ValidationError

from autods.agents.actions import Action, Wait, parse_action
from autods.agents.llm import prompt as prompts
from autods.agents.llm.pricing import Price, cost_usd, price_for
from autods.agents.observation import Observation
from autods.errors import AutodsError, GuardrailBlocked, LLMTransientError, UserInputError
from autods.guard.egress import EgressGate

TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0


class LLMCallsDisabled(UserInputError):
    """``ALLOW_LLM_CALLS=0`` and the provider's base URL is not a loopback address."""


class LLMProviderError(AutodsError):
    """A terminal answer from a provider (a 4xx other than rate limits, after any fallback)."""


def calls_allowed() -> bool:
    return os.environ.get("ALLOW_LLM_CALLS", "1").strip().lower() not in {"0", "false", "no", "off"}


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ensure_allowed(provider: str, base_url: str) -> None:
    """Refuse a non-loopback provider when ``ALLOW_LLM_CALLS=0`` (checked before any I/O)."""
    if not calls_allowed() and not is_loopback(base_url):
        host = urlsplit(base_url).hostname or base_url
        raise LLMCallsDisabled(f"ALLOW_LLM_CALLS=0 forbids calling {provider} at {host}",
                               "unset ALLOW_LLM_CALLS or point the base URL at a loopback server (127.0.0.1, localhost, ::1)")


@dataclass
class Reply:
    """One provider answer: the structured payload (or the text to parse) and its token counts."""

    payload: Any
    raw: Any = None  # provider-specific, for the repair turn (tool_use id, tool call id, ...)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass
class Usage:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    retries: int = 0
    repairs: int = 0
    invalid_outputs: int = 0
    blocked_prompts: int = 0
    cost_usd: float | None = 0.0
    by_agent: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def extract_json(text: str) -> Any:
    """A JSON object from model text: plain, fenced in ```json, or surrounded by prose."""
    s = text.strip()
    if s.startswith("```"):
        s = s.split("\n", 1)[-1].rsplit("```", 1)[0].strip()
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        start, end = s.find("{"), s.rfind("}")
        if start < 0 or end <= start:
            raise ValueError("the reply is not a JSON object") from None
        try:
            return json.loads(s[start:end + 1])
        except json.JSONDecodeError as exc:
            raise ValueError(f"the reply is not valid JSON ({exc.msg} at char {exc.pos})") from None


def validate(payload: Any, allowed: list[str]) -> Action:
    """Unwrap ``{"action": {...}}``, validate with ``parse_action``, enforce the allowed kinds."""
    if isinstance(payload, str):
        payload = extract_json(payload)
    if isinstance(payload, dict) and "kind" not in payload and isinstance(payload.get("action"), (dict, str)):
        payload = payload["action"]
        if isinstance(payload, str):  # some models double-encode the inner object
            payload = extract_json(payload)
    action = parse_action(payload)
    if allowed and action.kind not in allowed:
        raise ValueError(f"action kind {action.kind!r} is not allowed now; choose one of {', '.join(allowed)}")
    return action


def describe_error(exc: Exception) -> str:
    """A short error for the repair turn; never echoes the input values."""
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'action'}: {e['msg']}"
                 for e in exc.errors(include_url=False, include_input=False)]
        return "; ".join(parts)[:1000]
    return str(exc)[:1000]


class LLMBrain:
    """Base of the provider brains. Subclasses set the class constants and implement
    ``_make_client``, ``_request``, ``_repair_turn``; ``_api_error`` is the SDK's base error."""

    provider: ClassVar[str] = ""
    env_key: ClassVar[str] = ""
    env_base: ClassVar[str] = ""
    default_base: ClassVar[str] = ""
    install_hint: ClassVar[str] = ""

    def __init__(self, model: str, *, audit: Callable[[dict[str, Any]], None] | None = None,
                 egress: EgressGate | None = None, seed: int = 0, name: str | None = None,
                 api_key: str | None = None, base_url: str | None = None, timeout: float = 60.0,
                 max_retries: int = 4, max_repairs: int = 2, max_tokens: int = 2048,
                 temperature: float | None = None, prices: Mapping[str, Price] | None = None,
                 role_briefs: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.model = model
        self.name = name or f"{self.provider}:{model}"
        self.base_url = (base_url or os.environ.get(self.env_base) or self.default_base).rstrip("/")
        self.audit = audit
        # without a gate from the orchestrator, the pattern and row-dump checks still apply
        self.egress = egress if egress is not None else EgressGate(())
        self.seed = seed
        self.timeout, self.max_retries, self.max_repairs = timeout, max_retries, max_repairs
        self.max_tokens, self.temperature = max_tokens, temperature
        self.role_briefs = role_briefs
        self.sleep = sleep
        # per-brain stream so agents sharing a seed do not retry in lockstep
        self._rng = random.Random(f"{seed}:{self.name}")
        self._price, self._price_note = price_for(self.provider, model, prices)
        self._usage = Usage(cost_usd=0.0 if self._price else None)
        # the step loop may run several agents' decisions in threads; one brain can serve several
        self._lock = threading.Lock()
        self._api_error, self._connection_error = self._sdk_errors()
        self.client = self._make_client(api_key or os.environ.get(self.env_key))

    # -- provider hooks -------------------------------------------------------------------
    def _sdk_errors(self) -> tuple[type[Exception], type[Exception]]:
        raise NotImplementedError

    def _make_client(self, api_key: str | None) -> Any:
        raise NotImplementedError

    def _request(self, system: str, messages: list[dict[str, Any]], allowed: list[str]) -> Reply:
        raise NotImplementedError

    def _repair_turn(self, reply: Reply, error: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    # -- the brain ------------------------------------------------------------------------
    @property
    def usage(self) -> dict[str, Any]:
        with self._lock:
            u = copy.deepcopy(self._usage)
        return {"agent": self.name, "provider": self.provider, "model": self.model, "calls": u.calls,
                "input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
                "cache_read_tokens": u.cache_read_tokens, "cache_write_tokens": u.cache_write_tokens,
                "retries": u.retries, "repairs": u.repairs, "invalid_outputs": u.invalid_outputs,
                "blocked_prompts": u.blocked_prompts,
                "cost_usd": u.cost_usd,
                "cost_note": self._price_note, "by_agent": u.by_agent, **u.extra}

    def decide(self, observation: Observation) -> Action:
        allowed = list(observation.allowed_actions)
        agent = observation.agent
        system = prompts.system_prompt(observation, self.role_briefs)
        user = prompts.user_prompt(observation, egress=self.egress)
        messages: list[dict[str, Any]] = [{"role": "user", "content": user}]
        error = ""
        for attempt in range(self.max_repairs + 1):
            reply = self._send(system, messages, allowed, agent)
            try:
                return validate(reply.payload, allowed)
            except (ValidationError, ValueError) as exc:
                error = describe_error(exc)
                self._count("invalid_outputs")
                self._record({"event": "llm_invalid_output", "error": error, "attempt": attempt}, agent)
            if attempt < self.max_repairs:
                self._count("repairs")
                messages = messages + self._repair_turn(reply, error)
        return Wait(rationale=f"invalid output: {error}"[:2000])

    def _record(self, event: dict[str, Any], agent: str) -> None:
        if self.audit is not None:
            self.audit({**event, "agent": agent, "brain": self.name, "provider": self.provider, "model": self.model})

    def _send(self, system: str, messages: list[dict[str, Any]], allowed: list[str], agent: str) -> Reply:
        ensure_allowed(self.provider, self.base_url)
        text = system + "\n\n" + json.dumps(messages, ensure_ascii=False, sort_keys=True, default=str)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        base = {"event": "llm_prompt", "sha256": digest, "chars": len(text)}
        try:
            self.egress.check(text)
        except GuardrailBlocked as exc:
            self._count("blocked_prompts")
            self._record({**base, "allowed": False, "reason": str(exc)}, agent)
            raise
        self._record({**base, "allowed": True, "text": text}, agent)
        for retry in range(self.max_retries + 1):
            try:
                reply = self._request(system, messages, allowed)
            except self._api_error as exc:
                if not self._transient(exc):
                    raise self._terminal(exc) from exc
                if retry == self.max_retries:
                    raise LLMTransientError(f"{self.provider} {self.model}: still failing after {retry + 1} "
                                            f"attempts ({self._describe(exc)})") from exc
                self._count("retries")
                self.sleep(self._backoff(retry, exc))
            else:
                self._account(reply, digest, agent)
                return reply
        raise AssertionError("unreachable: the retry loop returns or raises")

    def _transient(self, exc: Exception) -> bool:
        if isinstance(exc, self._connection_error):  # includes the SDKs' timeout errors
            return True
        status = getattr(exc, "status_code", None)
        return status is not None and (status in TRANSIENT_STATUS or status >= 500)

    def _describe(self, exc: Exception) -> str:
        status = getattr(exc, "status_code", None)
        return f"HTTP {status}" if status else type(exc).__name__

    def _terminal(self, exc: Exception) -> AutodsError:
        status = getattr(exc, "status_code", None)
        if status in (401, 403):
            return UserInputError(f"{self.provider} refused the credentials (HTTP {status})",
                                  f"check {self.env_key} or the api_key in LAUNCH.md")
        if status == 404:
            return UserInputError(f"{self.provider} has no model {self.model!r} at {self.base_url} (HTTP 404)",
                                  "check the model name in --brain and the base URL")
        message = str(getattr(exc, "message", exc))[:300]
        return LLMProviderError(f"{self.provider} {self.model}: HTTP {status}: {message}")

    def _backoff(self, retry: int, exc: Exception) -> float:
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** retry) * (0.5 + 0.5 * self._rng.random())
        response = getattr(exc, "response", None)
        header = response.headers.get("retry-after") if response is not None else None
        try:
            delay = max(delay, min(float(header), BACKOFF_CAP)) if header else delay
        except ValueError:  # an HTTP date instead of seconds: keep our own delay
            pass
        return delay

    def _count(self, counter: str) -> None:
        with self._lock:
            setattr(self._usage, counter, getattr(self._usage, counter) + 1)

    def _account(self, reply: Reply, digest: str, agent: str) -> None:
        with self._lock:
            cost = self._add(reply, agent)
        self._record({"event": "llm_response", "sha256": digest, "input_tokens": reply.input_tokens,
                      "output_tokens": reply.output_tokens, "cost_usd": cost}, agent)

    def _add(self, reply: Reply, agent: str) -> float | None:
        u = self._usage
        u.calls += 1
        u.input_tokens += reply.input_tokens
        u.output_tokens += reply.output_tokens
        u.cache_read_tokens += reply.cache_read_tokens
        u.cache_write_tokens += reply.cache_write_tokens
        cost = cost_usd(self._price, reply.input_tokens, reply.output_tokens,
                        reply.cache_read_tokens, reply.cache_write_tokens)
        if u.cost_usd is not None and cost is not None:
            u.cost_usd += cost
        # one brain may serve several agents (a mixed team built from one spec): split by agent too
        mine = u.by_agent.setdefault(agent, {"calls": 0, "input_tokens": 0, "output_tokens": 0,
                                             "cost_usd": None if cost is None else 0.0})
        mine["calls"] += 1
        mine["input_tokens"] += reply.input_tokens + reply.cache_read_tokens + reply.cache_write_tokens
        mine["output_tokens"] += reply.output_tokens
        if mine["cost_usd"] is not None and cost is not None:
            mine["cost_usd"] += cost
        return cost


__all__ = ["LLMBrain", "LLMCallsDisabled", "LLMProviderError", "Reply", "calls_allowed", "ensure_allowed",
           "extract_json", "is_loopback", "validate"]
