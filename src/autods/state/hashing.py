"""The state's hashes: recipes (canonical JSON, see ``autods.canonical``), audit links, tokens."""

from __future__ import annotations

import hashlib
from typing import Any

from autods.canonical import canonical_hash, canonical_json

__all__ = ["GENESIS", "canonical_hash", "canonical_json", "chain_hash", "token_hash"]

GENESIS = "0" * 64  # prev_hash of the first audit event


def chain_hash(prev_hash: str, event: dict[str, Any]) -> str:
    """Hash of one audit link: sha256(prev_hash + canonical JSON of the event)."""
    return hashlib.sha256((prev_hash + canonical_json(event)).encode("utf-8")).hexdigest()


def token_hash(token: str) -> str:
    """Tokens are stored only as this digest; a leaked database leaks no credentials."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
