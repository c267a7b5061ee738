"""Canonical JSON and its hash: equal values hash equal whatever their key order or float spelling.

One definition for the whole package: a recipe's hash (``runners.recipe``), the server's
duplicate rule (``state``) and the audit chain must agree, or two agents proposing the same
recipe would not collide and the duplicate rule would be toothless.

Floats are normalised so that ``1``, ``1.0`` and ``1.00000000000000001`` are one value and
``-0.0`` equals ``0.0``; other floats keep 12 significant digits, which absorbs arithmetic
noise (``0.1 + 0.2``) without merging distinct settings. NaN and infinities are refused
(``ValueError``) because JSON cannot carry them portably; so is any value that is not JSON
(``TypeError``). Keys become strings.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any


def _normalise(obj: Any) -> Any:
    # Exact builtin types first: this runs for every audit event, and most values are plain.
    cls = type(obj)
    if cls is str or cls is int or cls is bool or obj is None:
        return obj
    if cls is dict:
        return {k if type(k) is str else str(k): _normalise(v) for k, v in obj.items()}
    if cls is list or cls is tuple:
        return [_normalise(v) for v in obj]
    return _normalise_any(obj)


def _normalise_any(obj: Any) -> Any:
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"cannot hash the non-finite number {obj!r}: JSON cannot carry it")
        if obj == 0.0:
            return 0
        # An integral float hashes as the int so 3 and 3.0 collide.
        if obj.is_integer() and abs(obj) < 2**53:
            return int(obj)
        return float(f"{obj:.12g}")
    if isinstance(obj, dict):
        return {str(k): _normalise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_normalise(v) for v in obj]
    raise TypeError(f"cannot hash the {type(obj).__name__} value {obj!r}: it is not JSON")


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys, no whitespace and normalised numbers."""
    return json.dumps(_normalise(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_hash(obj: Any) -> str:
    """sha256 hex digest of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()
