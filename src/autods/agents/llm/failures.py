"""What a brain learns from a failed experiment: the exception type and the last lines of the
traceback, with data values masked, so an LLM can repair the code it proposed.

An exception message can quote data (``could not convert string to float: 'Jane Doe'``,
``KeyError: 104233``, an array printed by numpy). :func:`scrub` masks every quoted literal that
is not a known name (a column, a family, a parameter, a preprocessing key), every number with
a decimal point or an exponent, and every integer except line numbers, shapes (``(120, 8)``)
and counts of features, samples, classes, columns or rows. A multi-line message (a printed
frame) keeps its first line only. Source lines of traceback frames are code, not data: they
are kept, truncated; file paths keep their last two parts (no home or run folder).

The harness stores the scrubbed summary, checked by the egress gate's patterns, with its forum
note (MCP agents read the forum, so the state itself holds no value); the prompt renders the failures of the agent's own
proposals first, each passed through the egress gate on its own: a blocked one is withheld,
it does not block the whole prompt.

Not covered: a value that looks like a name (an unquoted word in a message), a short integer
in free text that is a data value (an age in "... 67 is not in list" is masked; "67 features"
is not).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any

from autods.errors import GuardrailBlocked

MAX_FRAMES = 4
MAX_LINE = 200
MAX_FAILURES = 3
VALUE, NUMBER = "<value>", "<num>"

_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (.+?)\s*$')
_EXC = re.compile(r"^((?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt|Iteration|Timeout|Expired))"
                  r"(?::\s?(.*))?$")
# the sandbox's one-line report: "... failed in the sandbox: Type: message (at line 7 in fit: code; ...)"
_EXC_INLINE = re.compile(r"\b((?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt|Iteration|Timeout))"
                         r": (.*?)(?: \(at (line \d+ in .*)\))?(?:; stdout .*)?$")
_QUOTED = re.compile(r"'([^'\n]{0,200})'|\"([^\"\n]{0,200})\"")
# a number not inside a word; the shape/line/count cases are protected before masking
_NUM = re.compile(r"(?<![\w.<])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.>])")
_SHAPE = re.compile(r"\(\s*\d+\s*,(?:\s*\d+\s*,?)*\s*\)")
_COUNT = re.compile(r"\b\d+(?= (?:features?|samples?|classes|class|columns?|rows?|dimensions?|elements?|"
                    r"folds?|splits?|arguments?|positional|s|seconds|MB|GB|bytes)\b)")
_LINE_NO = re.compile(r"\bline \d+\b")


def scrub(text: str, keep: Collection[str] = ()) -> str:
    """``text`` with quoted literals (unless in ``keep``) and numbers masked; see the module docstring."""
    def quoted(m: re.Match[str]) -> str:
        inner = m.group(1) if m.group(1) is not None else m.group(2)
        quote = m.group(0)[0]
        return m.group(0) if inner in keep else f"{quote}{VALUE}{quote}"

    out = _QUOTED.sub(quoted, text)
    protected: dict[str, str] = {}

    def protect(m: re.Match[str]) -> str:
        # letters, not digits, in the placeholder: the number pattern must not see it
        key = "\x00" + "".join("abcdefghij"[int(d)] for d in str(len(protected))) + "\x00"
        protected[key] = m.group(0)
        return key

    for pattern in (_SHAPE, _COUNT, _LINE_NO):
        out = pattern.sub(protect, out)
    out = _NUM.sub(NUMBER, out)
    for key, original in protected.items():
        out = out.replace(key, original)
    return out


def _short_path(path: str) -> str:
    parts = [p for p in re.split(r"[\\/]", path) if p]
    return "/".join(parts[-2:]) if parts else path


def summarize(error: str, keep: Collection[str] = ()) -> dict[str, Any]:
    """``{"type", "message", "traceback": [...]}`` from an error text (a traceback, or
    ``"Type: message"`` followed by traceback lines, as the executors report it)."""
    lines = (error or "").splitlines()
    exc_type, message = "Error", ""
    exc_at = None
    for i, line in enumerate(lines):
        m = _EXC.match(line)
        if m and not line.startswith(" "):
            exc_type, message, exc_at = m.group(1), (m.group(2) or ""), i
    frames: list[str] = []
    inline = _EXC_INLINE.search(lines[0]) if exc_at is None and lines else None
    if inline:
        exc_type, message = inline.group(1), inline.group(2)
        frames = [f.strip()[:MAX_LINE] for f in (inline.group(3) or "").split("; ") if f.strip()]
    elif exc_at is None and lines:
        message = lines[0]
    for i, line in enumerate(lines):
        m = _FRAME.match(line)
        if not m:
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        code = nxt.strip() if nxt.startswith("  ") and not _FRAME.match(nxt) else ""
        frame = f"{_short_path(m.group(1))}:{m.group(2)} in {m.group(3)}" + (f": {code}" if code else "")
        frames.append(frame[:MAX_LINE])
    return {"type": exc_type.rsplit(".", 1)[-1], "message": scrub(message, keep)[:MAX_LINE],
            "traceback": frames[-MAX_FRAMES:]}


def gated_summary(error: str, keep: Collection[str] = (), egress: Any = None) -> dict[str, Any]:
    """:func:`summarize`, then the egress gate (identifier patterns and row dumps when no gate is
    given): the state holds what any MCP agent may read, so a summary the gate refuses keeps only
    its exception type."""
    from autods.guard.egress import EgressGate

    summary = summarize(error, keep)
    gate = egress if egress is not None else EgressGate(())
    try:
        gate.check(render(summary))
    except GuardrailBlocked:
        return {"type": summary["type"], "message": "(withheld by the egress gate)", "traceback": []}
    return summary


def render(failure: dict[str, Any]) -> str:
    head = f"{failure.get('type', 'Error')}: {failure.get('message', '')}".rstrip(": ")
    return "\n".join([head, *(f"  at {f}" for f in failure.get("traceback", []))])


def vocabulary(columns: Iterable[str] = ()) -> set[str]:
    """Names a failure message may quote: columns, families, their parameters, recipe keys."""
    from autods.runners.families import FAMILIES
    from autods.runners.recipe import Preprocess, Recipe

    names = {str(c) for c in columns} | set(FAMILIES) | set(Recipe.model_fields) | set(Preprocess.model_fields)
    names |= {p for spec in FAMILIES.values() for p in spec.param_names}
    return names


def own_failures(observation: Any, limit: int = MAX_FAILURES) -> list[dict[str, Any]]:
    """The latest failed experiments of this agent's own proposals, with their summaries (from the
    harness's forum note; the item's one-line reason when the note was trimmed away)."""
    mine = {p.get("id"): p for p in observation.proposals if p.get("author_name") == observation.agent}
    notes = {(p.get("data") or {}).get("item_id"): (p.get("data") or {}).get("failure") for p in observation.posts
             if isinstance((p.get("data") or {}).get("failure"), dict)}
    out = []
    for item in observation.queue:
        if item.get("status") != "failed" or item.get("proposal_id") not in mine:
            continue
        failure = notes.get(item.get("id")) or summarize(str(item.get("reason", "")).split(": ", 1)[-1])
        out.append({"item_id": item.get("id"), "proposal_id": item.get("proposal_id"),
                    "family": mine[item["proposal_id"]].get("family"), "failure": failure})
    return out[-limit:]


def failures_text(observation: Any, egress: Any = None) -> str:
    """The prompt section on this agent's failed experiments ('' when there are none)."""
    failures = own_failures(observation)
    if not failures:
        return ""
    keep = vocabulary(c.name for c in observation.task.features)
    parts = ["Your experiments that failed (exception type and the last traceback lines, data values masked); "
             "fix the cause before proposing again:"]
    for f in failures:
        failure = f["failure"]
        # scrubbed again here: a note written by an older harness may hold raw text
        text = render({**failure, "message": scrub(str(failure.get("message", "")), keep)})
        try:
            if egress is not None:
                egress.check(text)
        except GuardrailBlocked:
            text = "(the traceback was withheld by the egress gate)"
        parts.append(f"- proposal {f['proposal_id']} (item {f['item_id']}, family {f['family']}):\n{text}")
    return "\n".join(parts)


__all__ = ["failures_text", "gated_summary", "own_failures", "render", "scrub", "summarize", "vocabulary"]
