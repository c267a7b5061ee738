"""Token prices for cost accounting, USD per million tokens, matched by the longest model-name key.

List prices as published by the providers when this table was written; they change, so a run
reports them as an estimate and a user can pass ``prices={prefix: (input, output)}`` to
``make_brain``. A model matching no prefix (a local vLLM/Ollama model, a new release) gets
``cost_usd = None`` and the note ``"unknown model: cost not computed"``; tokens are still counted.

Anthropic prompt caching bills cache reads at 0.1x and cache writes at 1.25x the input price.
"""

from __future__ import annotations

from collections.abc import Mapping

Price = tuple[float, float]  # (input, output) USD per 1M tokens

# A key matches the model name exactly or followed by "-" (a dated snapshot or "-latest"), so a
# newer release ("claude-opus-4-6", "gpt-5.1") is unknown rather than silently mispriced.
PRICES: dict[str, dict[str, Price]] = {
    "anthropic": {
        "claude-opus-4-5": (5.0, 25.0),
        "claude-opus-4-1": (15.0, 75.0),
        "claude-opus-4-0": (15.0, 75.0),
        "claude-opus-4-20250514": (15.0, 75.0),
        "claude-sonnet-4-5": (3.0, 15.0),
        "claude-sonnet-4-0": (3.0, 15.0),
        "claude-sonnet-4-20250514": (3.0, 15.0),
        "claude-haiku-4-5": (1.0, 5.0),
        "claude-3-7-sonnet": (3.0, 15.0),
        "claude-3-5-sonnet": (3.0, 15.0),
        "claude-3-5-haiku": (0.8, 4.0),
        "claude-3-opus": (15.0, 75.0),
        "claude-3-haiku": (0.25, 1.25),
    },
    "openai": {
        "gpt-5": (1.25, 10.0),
        "gpt-5-mini": (0.25, 2.0),
        "gpt-5-nano": (0.05, 0.40),
        "gpt-5-pro": (15.0, 120.0),
        "gpt-4.1": (2.0, 8.0),
        "gpt-4.1-mini": (0.40, 1.60),
        "gpt-4.1-nano": (0.10, 0.40),
        "gpt-4o": (2.50, 10.0),
        "gpt-4o-mini": (0.15, 0.60),
        "o3": (2.0, 8.0),
        "o3-mini": (1.10, 4.40),
        "o3-pro": (20.0, 80.0),
        "o4-mini": (1.10, 4.40),
    },
}
CACHE_READ = 0.1
CACHE_WRITE = 1.25
UNKNOWN = "unknown model: cost not computed"


def price_for(provider: str, model: str, overrides: Mapping[str, Price] | None = None) -> tuple[Price | None, str]:
    """The price of ``model`` and the prefix it matched (or the unknown-model note)."""
    table = {**PRICES.get(provider, {}), **(overrides or {})}
    name = model.lower().split("/")[-1]  # "openrouter-style/vendor/model" -> "model"
    matches = [p for p in table if name == p.lower() or name.startswith(p.lower() + "-")]
    if not matches:
        return None, UNKNOWN
    best = max(matches, key=len)
    return table[best], f"list price of {best!r} (USD per 1M tokens: {table[best][0]} in, {table[best][1]} out)"


def cost_usd(price: Price | None, input_tokens: int, output_tokens: int,
             cache_read_tokens: int = 0, cache_write_tokens: int = 0) -> float | None:
    if price is None:
        return None
    p_in, p_out = price
    return (input_tokens * p_in + output_tokens * p_out
            + cache_read_tokens * p_in * CACHE_READ + cache_write_tokens * p_in * CACHE_WRITE) / 1e6
