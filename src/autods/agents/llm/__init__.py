"""LLM brains (extras): Anthropic Messages API with tool use, OpenAI-compatible Chat Completions
with JSON-schema output. Construct them through :func:`make_brain`; the SDKs are imported only
when a brain is built, so ``import autods.agents.llm`` works without either installed.

Every outgoing prompt passes the :class:`~autods.guard.egress.EgressGate` and is written to the
``audit`` callback (the orchestrator passes ``RunFolder.append_audit``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autods.errors import UserInputError

if TYPE_CHECKING:
    from autods.agents.brain import Brain
    from autods.guard.egress import EgressGate

SPEC_HELP = "expert | anthropic:MODEL | openai:MODEL"
PROVIDERS = ("anthropic", "openai")


def parse_spec(spec: str) -> tuple[str, str]:
    """``"anthropic:claude-sonnet-4-5"`` -> ``("anthropic", "claude-sonnet-4-5")``."""
    provider, sep, model = spec.strip().partition(":")
    provider = provider.strip().lower()
    if not sep or provider not in PROVIDERS or not model.strip():
        raise UserInputError(f"unknown brain {spec!r}", f"use one of: {SPEC_HELP}")
    return provider, model.strip()


def make_brain(
    spec: str,
    *,
    audit: Callable[[dict[str, Any]], None] | None = None,
    egress: EgressGate | None = None,
    seed: int = 0,
    name: str | None = None,
    **client_kwargs: Any,
) -> Brain:
    """Build an LLM brain from ``anthropic:MODEL`` or ``openai:MODEL``.

    ``client_kwargs`` (``api_key``, ``base_url``, ``timeout``...) override the providers'
    standard environment variables. ``name`` is the agent name recorded in audit lines and
    usage; it defaults to the spec.
    """
    provider, model = parse_spec(spec)
    from autods.agents.llm.grammar import code_available

    code_available()  # registers the code family, so this process's recipe parser knows it
    if provider == "anthropic":
        from autods.agents.llm.anthropic_brain import AnthropicBrain

        return AnthropicBrain(model, audit=audit, egress=egress, seed=seed, name=name, **client_kwargs)
    from autods.agents.llm.openai_brain import OpenAIBrain

    return OpenAIBrain(model, audit=audit, egress=egress, seed=seed, name=name, **client_kwargs)


__all__ = ["PROVIDERS", "SPEC_HELP", "make_brain", "parse_spec"]
