"""Anthropic brain: the Messages API with one forced tool, ``act``, whose input schema is the
action schema. ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL`` (or explicit arguments) choose
the endpoint. The system prompt carries a cache breakpoint: it is identical for every step of a
role, so prompt caching bills it at a tenth of the input price after the first call.

An invalid tool input is answered with a ``tool_result`` marked ``is_error`` that carries the
validation error, and the tool is forced again (at most ``max_repairs`` times).
"""

from __future__ import annotations

from typing import Any

from autods.agents.llm import prompt as prompts
from autods.agents.llm.base import LLMBrain, Reply
from autods.errors import UserInputError


def _sdk() -> Any:
    try:
        import anthropic
    except ImportError as exc:
        raise UserInputError("the anthropic SDK is not installed", "pip install 'autods[anthropic]'") from exc
    return anthropic


class AnthropicBrain(LLMBrain):
    provider = "anthropic"
    env_key = "ANTHROPIC_API_KEY"
    env_base = "ANTHROPIC_BASE_URL"
    default_base = "https://api.anthropic.com"

    def _sdk_errors(self) -> tuple[type[Exception], type[Exception]]:
        sdk = _sdk()
        return sdk.APIError, sdk.APIConnectionError

    def _make_client(self, api_key: str | None) -> Any:
        # max_retries=0: our loop retries, with seeded jitter and an audit trail
        return _sdk().Anthropic(api_key=api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0)

    def _request(self, system: str, messages: list[dict[str, Any]], allowed: list[str]) -> Reply:
        kwargs: dict[str, Any] = {}
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        response = self.client.messages.create(
            model=self.model,
            max_tokens=self.max_tokens,
            system=[{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            messages=messages,
            tools=[{"name": prompts.TOOL_NAME, "description": prompts.TOOL_DESCRIPTION,
                    "input_schema": prompts.action_schema(allowed)}],
            tool_choice={"type": "tool", "name": prompts.TOOL_NAME},
            **kwargs,
        )
        tool = next((b for b in response.content if getattr(b, "type", None) == "tool_use"), None)
        text = "".join(getattr(b, "text", "") for b in response.content if getattr(b, "type", None) == "text")
        usage = response.usage
        return Reply(
            payload=tool.input if tool is not None else text,
            raw={"tool_use_id": tool.id if tool is not None else None,
                 "input": tool.input if tool is not None else None, "text": text},
            input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
            cache_read_tokens=int(getattr(usage, "cache_read_input_tokens", 0) or 0),
            cache_write_tokens=int(getattr(usage, "cache_creation_input_tokens", 0) or 0),
        )

    def _repair_turn(self, reply: Reply, error: str) -> list[dict[str, Any]]:
        raw = reply.raw or {}
        note = f"Invalid action: {error}. Call `{prompts.TOOL_NAME}` again with a corrected action."
        if raw.get("tool_use_id"):
            return [
                {"role": "assistant", "content": [{"type": "tool_use", "id": raw["tool_use_id"],
                                                   "name": prompts.TOOL_NAME, "input": raw["input"]}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": raw["tool_use_id"],
                                              "is_error": True, "content": note}]},
            ]
        return [{"role": "assistant", "content": raw.get("text") or "(no tool call)"},
                {"role": "user", "content": note}]


__all__ = ["AnthropicBrain"]
