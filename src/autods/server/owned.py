"""The owned records: which post holds the run's task summary, design and noise floor.

The critics and the protocol act on three records, each with one owning role
(``state/roles.py`` ``RECORD_OWNERS``): the steward's task summary, the biostatistician's
design and the orchestrator's noise floor. The Service refuses such posts from anyone else;
this module reads them back from the forum by the same rule, so even a forged post that a
database from before the rule holds never counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from autods.state import roles
from autods.state.records import Post

_FENCED = re.compile(r"```json\s*(\{.*?\})\s*```", re.DOTALL)


def record_value(post: Post, key: str) -> dict[str, Any] | None:
    """The record a post carries under ``key``: ``data[key]``, or a fenced ```json block of
    its body holding ``{key: {...}}`` (how a brain, which writes prose, states its design)."""
    if isinstance(post.data.get(key), dict):
        return dict(post.data[key])
    match = _FENCED.search(post.body or "")
    if match:
        try:
            parsed = json.loads(match.group(1))
        except ValueError:
            return None
        if isinstance(parsed, dict) and isinstance(parsed.get(key), dict):
            return dict(parsed[key])
    return None


def owned_record(posts: Sequence[Post], key: str, role_of: Mapping[str, str]) -> tuple[Post, dict[str, Any]] | None:
    """The latest post carrying the ``key`` record whose author holds the owning role
    (``roles.RECORD_OWNERS``); posts by anyone else are ignored, whatever they say."""
    kind, owners = roles.RECORD_OWNERS[key]
    for post in sorted(posts, key=lambda p: p.id, reverse=True):
        if post.kind != kind or role_of.get(post.author) not in owners:
            continue
        value = record_value(post, key)
        if value is not None:
            return post, value
    return None
