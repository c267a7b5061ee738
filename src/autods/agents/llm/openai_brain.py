"""OpenAI-compatible brain: Chat Completions with structured output. ``OPENAI_BASE_URL`` /
``OPENAI_API_KEY`` (or explicit arguments) choose the endpoint, so the same brain talks to
OpenAI, vLLM, Ollama (``http://localhost:11434/v1``) or LM Studio (``http://localhost:1234/v1``).

Output modes, tried in this order until one is accepted by the server:

1. ``json_schema``: ``response_format={"type": "json_schema", ...}`` with the action schema;
2. ``tools``: one forced function ``act`` whose parameters are the action schema;
3. ``json_object``: ``response_format={"type": "json_object"}``, schema in the system prompt;
4. ``plain``: no response format at all; the JSON is extracted from the text.

The fallback is decided from the server's answer: an HTTP 400 or 422 to a mode that has not yet
succeeded with this brain means "this server does not support that request shape" (older vLLM
and Ollama answer ``response_format`` this way) and the next mode is tried at once; the mode
that works is kept for the rest of the run. A 400 to a mode that already worked is a real error.
A server that silently ignores ``response_format`` and answers prose is handled by JSON
extraction and the repair turn. A local server needs no key; a placeholder is sent.
"""

from __future__ import annotations

import json
from typing import Any

from autods.agents.llm import prompt as prompts
from autods.agents.llm.base import LLMBrain, Reply
from autods.errors import UserInputError

MODES = ("json_schema", "tools", "json_object", "plain")
UNSUPPORTED_STATUS = frozenset({400, 422})


def _sdk() -> Any:
    try:
        import openai
    except ImportError as exc:
        raise UserInputError("the openai SDK is not installed", "pip install 'autods[openai]'") from exc
    return openai


class OpenAIBrain(LLMBrain):
    provider = "openai"
    env_key = "OPENAI_API_KEY"
    env_base = "OPENAI_BASE_URL"
    default_base = "https://api.openai.com/v1"

    def __init__(self, model: str, *, mode: str | None = None, **kwargs: Any) -> None:
        if mode is not None and mode not in MODES:
            raise UserInputError(f"unknown OpenAI output mode {mode!r}", f"use one of {', '.join(MODES)}")
        self._mode = MODES.index(mode) if mode else 0
        self._mode_ok = mode is not None  # a mode chosen by the user is never abandoned
        super().__init__(model, **kwargs)

    @property
    def mode(self) -> str:
        return MODES[self._mode]

    def _sdk_errors(self) -> tuple[type[Exception], type[Exception]]:
        sdk = _sdk()
        return sdk.APIError, sdk.APIConnectionError

    def _make_client(self, api_key: str | None) -> Any:
        if not api_key:
            if "api.openai.com" in self.base_url:
                raise UserInputError("OPENAI_API_KEY is not set", "export OPENAI_API_KEY=... or set a base URL for a local server")
            api_key = "not-needed"  # vLLM, Ollama and LM Studio accept any key
        return _sdk().OpenAI(api_key=api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0)

    def _mode_kwargs(self, allowed: list[str]) -> dict[str, Any]:
        schema = prompts.action_schema(allowed)
        mode = self.mode
        if mode == "json_schema":
            return {"response_format": {"type": "json_schema", "json_schema": {
                "name": "action", "description": prompts.TOOL_DESCRIPTION, "schema": schema, "strict": False}}}
        if mode == "tools":
            return {"tools": [{"type": "function", "function": {
                        "name": prompts.TOOL_NAME, "description": prompts.TOOL_DESCRIPTION, "parameters": schema}}],
                    "tool_choice": {"type": "function", "function": {"name": prompts.TOOL_NAME}}}
        if mode == "json_object":
            return {"response_format": {"type": "json_object"}}
        return {}

    def _request(self, system: str, messages: list[dict[str, Any]], allowed: list[str]) -> Reply:
        bad_request = _sdk().APIStatusError
        while True:
            kwargs = self._mode_kwargs(allowed)
            if self.temperature is not None:
                kwargs["temperature"] = self.temperature
            try:
                response = self.client.chat.completions.create(
                    model=self.model, messages=[{"role": "system", "content": system}, *messages],
                    seed=self.seed, max_completion_tokens=self.max_tokens, **kwargs)
            except bad_request as exc:
                if exc.status_code in UNSUPPORTED_STATUS and not self._mode_ok and self._mode + 1 < len(MODES):
                    self._usage.extra.setdefault("mode_fallbacks", []).append(
                        {"from": self.mode, "status": exc.status_code})
                    self._mode += 1
                    continue
                raise
            self._mode_ok = True
            self._usage.extra["mode"] = self.mode
            return self._reply(response)

    def _reply(self, response: Any) -> Reply:
        message = response.choices[0].message
        calls = getattr(message, "tool_calls", None) or []
        usage = getattr(response, "usage", None)
        details = getattr(usage, "prompt_tokens_details", None)
        cached = int(getattr(details, "cached_tokens", 0) or 0)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        common = {"input_tokens": prompt_tokens - cached, "cache_read_tokens": cached,
                  "output_tokens": int(getattr(usage, "completion_tokens", 0) or 0)}
        if calls:
            call = calls[0]
            return Reply(payload=call.function.arguments or "",
                         raw={"tool_call_id": call.id, "arguments": call.function.arguments}, **common)
        content = message.content or ""
        return Reply(payload=content, raw={"content": content}, **common)

    def _repair_turn(self, reply: Reply, error: str) -> list[dict[str, Any]]:
        raw = reply.raw or {}
        note = f"Invalid action: {error}. Reply again with one corrected action."
        if raw.get("tool_call_id"):
            return [
                {"role": "assistant", "content": None, "tool_calls": [{
                    "id": raw["tool_call_id"], "type": "function",
                    "function": {"name": prompts.TOOL_NAME, "arguments": raw.get("arguments") or "{}"}}]},
                {"role": "tool", "tool_call_id": raw["tool_call_id"], "content": note},
            ]
        content = raw.get("content")
        return [{"role": "assistant", "content": content if content else json.dumps(reply.payload, default=str)},
                {"role": "user", "content": note}]


__all__ = ["MODES", "OpenAIBrain"]
