"""Why a sandbox call failed, in one line that is safe to record and to show a brain.

Everything the child writes is untrusted: its ``error.json`` could be forged to carry rows.
So the reason is rebuilt here from parts that cannot hold much: an exception type that must
look like a Python identifier, a message and the agent's own source lines with every number
and quoted literal masked, cut short, and then the egress gate (:mod:`autods.guard.egress`).
The child's stdout and stderr never come out of the sandbox; only their byte counts do.
"""

from __future__ import annotations

import json
import re
import signal
from typing import Any

from autods.errors import GuardrailBlocked
from autods.guard.egress import EgressGate

__all__ = ["explain_failure", "mask"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,80}$")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_QUOTED = re.compile(r"(['\"]).*?\1")
_MAX_LINE = 160
_EXIT_REASONS = {70: "the sandbox could not install its seccomp filter", 71: "the sandbox could not set its limits",
                 72: "the call's data do not fit in the sandbox scratch (raise AUTODS_SANDBOX_SCRATCH_MB)"}


def mask(text: str, limit: int = _MAX_LINE) -> str:
    """``text`` with numbers as ``#`` and quoted literals as ``'…'``, on one line, at most ``limit`` chars."""
    text = _QUOTED.sub("'…'", " ".join(str(text).split()))
    text = _NUMBER.sub("#", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _signal_reason(sig: int, limits: dict[str, Any]) -> str:
    if sig == signal.SIGXCPU:
        return f"killed: CPU time limit ({limits['cpu_s']} s)"
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    return f"killed by {name}"


def _traceback(error: bytes | None) -> str:
    if not error or len(error) > 64_000:
        return "no error report"
    try:
        report = json.loads(error)
        kind = str(report.get("type", ""))
        frames = [(int(line), str(name), str(code)) for line, name, code in report.get("frames", [])][-3:]
        message = str(report.get("message", ""))
    except (ValueError, TypeError, AttributeError):
        return "an unreadable error report"
    # the type is the code's to name (type("v_0_123", (Exception,), {})): digits are masked there too
    kind = _NUMBER.sub("#", kind) if _IDENT.match(kind) else "an exception"
    where = "; ".join(f"line {line} in {mask(name, 40)}: {mask(code, 80)}" for line, name, code in frames)
    return f"{kind}: {mask(message)}" + (f" (at {where})" if where else "")


def explain_failure(reply: dict[str, Any], out: dict[str, bytes], limits: dict[str, Any], what: str) -> str:
    """The recorded reason of a failed call ``what`` (``fit``, ``predict`` ...), egress-checked."""
    code = int(reply.get("exit", 1))
    if reply.get("timed_out"):
        reason = f"killed: wall-clock limit ({limits['wall_s']} s)"
    elif code < 0:
        reason = _signal_reason(-code, limits)
    elif code in _EXIT_REASONS:
        reason = _EXIT_REASONS[code]
    else:
        reason = _traceback(out.get("error.json"))
        if reason.startswith("MemoryError"):
            reason = f"memory limit ({limits['memory_mb']} MB): " + reason
        elif reason.startswith("BlockingIOError"):
            reason = "process limit (the sandbox allows threads, no child processes): " + reason
    noise = f"; stdout {int(reply.get('stdout_bytes', 0))} bytes and stderr {int(reply.get('stderr_bytes', 0))} bytes withheld"
    text = f"code experiment {what} failed in the sandbox: {reason}{noise}"
    try:
        return EgressGate(phi_columns=()).check(text)
    except GuardrailBlocked:
        return f"code experiment {what} failed in the sandbox (details withheld by the egress gate)"
