"""Check a rendered report against its fact sheet (shared by the report tests).

:func:`check_report` parses ``report.html`` with the standard-library HTML parser and
verifies two properties independently of the renderer's formatting code:

1. every ``<span data-fs="PATH">TEXT</span>`` names a path that exists in the fact sheet,
   and TEXT is that value: numbers within the rounding the text shows (``0.712`` may stand
   for anything in [0.7115, 0.7125]; ``1.2e-38`` within half a unit of its last mantissa
   digit; ``data-fs-scale`` for percentages), strings verbatim (whitespace-normalised),
   ``—`` / ``n/a`` for null, yes/no or pass/fail for booleans;
2. no visible text of ``<body>`` outside such a span contains a digit: a number typed into
   the template, or computed in it, fails the check.
"""

from __future__ import annotations

import html
import math
import re
from html.parser import HTMLParser
from typing import Any

TRUE_WORDS, FALSE_WORDS, NULL_WORDS = {"yes", "pass"}, {"no", "fail"}, {"—", "n/a"}


def lookup(sheet: Any, path: str) -> Any:
    node = sheet
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.spans: list[tuple[str, float, str]] = []
        self.stray: list[str] = []
        self._in_body = False
        self._span: list[Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self._in_body = True
        elif tag == "span" and "data-fs" in a:
            assert self._span is None, "data-fs spans must not nest"
            self._span = [a["data-fs"], float(a.get("data-fs-scale") or 1), ""]

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._span is not None:
            self.spans.append((self._span[0], self._span[1], self._span[2]))
            self._span = None
        elif tag == "body":
            self._in_body = False

    def handle_data(self, data: str) -> None:
        if self._span is not None:
            self._span[2] += data
        elif self._in_body and data.strip():
            self.stray.append(data.strip())


def _tolerance(text: str) -> float:
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 0.5 * 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def check_value(path: str, scale: float, text: str, value: Any) -> str | None:
    """None when ``text`` shows ``value``; else a message naming the path."""
    text = " ".join(html.unescape(text).split())
    if value is None:
        return None if text in NULL_WORDS else f"{path}: null shown as {text!r}"
    if isinstance(value, bool):
        ok = text in (TRUE_WORDS if value else FALSE_WORDS)
        return None if ok else f"{path}: {value} shown as {text!r}"
    if isinstance(value, (int, float)):
        try:
            shown = float(text.replace(",", ""))
        except ValueError:
            return f"{path}: number {value!r} shown as non-number {text!r}"
        expected = float(value) * scale
        if not math.isfinite(expected) or abs(shown - expected) > _tolerance(text.replace(",", "")) * (1 + 1e-9) + 1e-12:
            return f"{path}: fact sheet has {value!r}, page shows {text!r}"
        return None
    if isinstance(value, str):
        return None if text == " ".join(value.split()) else f"{path}: {value!r} shown as {text!r}"
    return f"{path}: a {type(value).__name__} cannot be shown as one value"


def check_report(page: str, sheet: dict[str, Any]) -> tuple[int, list[str]]:
    """(number of checked spans, problems); no problems means the page matches the sheet."""
    parser = _Parser()
    parser.feed(page)
    problems = []
    for path, scale, text in parser.spans:
        try:
            value = lookup(sheet, path)
        except (KeyError, IndexError, ValueError, TypeError):
            problems.append(f"{path}: not in the fact sheet")
            continue
        problem = check_value(path, scale, text, value)
        if problem:
            problems.append(problem)
    problems += [f"digit outside a fact-sheet span: {s[:80]!r}" for s in parser.stray if re.search(r"\d", s)]
    return len(parser.spans), problems


def spans(page: str) -> list[str]:
    parser = _Parser()
    parser.feed(page)
    return [p for p, _, _ in parser.spans]
