"""The egress gate: the last check on every prompt before it leaves the process.

Observations carry schemas, aggregates and findings by construction, never rows; the gate is
the second line, for bugs upstream (a category level of a PHI column inside a finding, a
value quoted in a forum post, a debugging dump). ``check(text)`` returns the text unchanged or
raises :class:`~autods.errors.GuardrailBlocked`. It refuses:

- **known PHI values**: the orchestrator gives it values sampled from the raw PHI columns. They
  are normalised (NFKC, casefold, alphanumeric tokens), and only *salted hashes* of them are
  kept, under a random per-gate salt; a prompt is tokenised the same way and every n-gram of
  1-3 tokens is hashed and looked up. The gate never holds a plain PHI value after ``__init__``.
  A value of up to 3 tokens is indexed whole; a longer one (an address) by its 3-token windows;
  values with little information (fewer than 4 characters, a number of fewer than 5 digits)
  are skipped because they would match ordinary numbers in a prompt;
- **identifier patterns**: e-mail addresses, phone numbers, SSN-shaped and MRN-shaped strings;
- **row dumps**: more than ``MAX_NUMERIC_LINES`` lines of comma/tab/semicolon-separated numbers,
  or a run of more than ``MAX_NUMBER_RUN`` comma-separated numbers (a column as a JSON list);
- prompts longer than ``max_chars``.

Column names of PHI columns may appear (the brain is told which columns were removed).

Not covered (documented threat model): a PHI value the orchestrator did not sample; a partial
value (a surname alone, initials, a reformatted date ``12/03/1954`` vs ``1954-03-12``); names in
free text that are not among the sampled values; quasi-identifier combinations (age + zip +
rare diagnosis); numbers that re-identify only together; encoded or paraphrased values.
Block reasons name the kind of hit, never the value.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from autods.errors import GuardrailBlocked

NGRAM_MAX = 3
LONG_VALUE_TOKENS = 8  # longer values are free text: too many ordinary 3-grams to index safely
MIN_VALUE_CHARS = 4
MIN_NUMBER_DIGITS = 5
MAX_NUMERIC_LINES = 20
MAX_NUMBER_RUN = 200

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    # digits or a decimal point on either side means a longer number, not a phone
    "phone": re.compile(r"(?<![\d.])(?:\+?1[-. ])?(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\d])"),
    "ssn": re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"),
    # the guard's MRN shape (letters, optional separator, 6-10 digits) as a whole word
    "mrn": re.compile(r"(?<![\w-])(?:MRN|mrn|[A-Z]{1,4})[-_:#]?\d{6,10}(?![\w-])"),
}
# atomic group: a number matches one way only, so long lists cannot backtrack exponentially
_NUMBER = r"(?>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
_NUMERIC_LINE = re.compile(rf"^\s*{_NUMBER}(?:\s*[,\t;]\s*{_NUMBER})+\s*[,;]?\s*$")
_NUMBER_RUN = re.compile(rf"(?:{_NUMBER}\s*,\s*)+{_NUMBER}")


def tokens(text: str) -> list[str]:
    """Normalised alphanumeric tokens: NFKC, casefold; punctuation and spacing do not matter."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def _informative(toks: list[str]) -> bool:
    joined = "".join(toks)
    if len(joined) < MIN_VALUE_CHARS:
        return False
    return not (len(toks) == 1 and joined.isdigit() and len(joined) < MIN_NUMBER_DIGITS)


class EgressGate:
    """Refuses outgoing text with known PHI values, identifier patterns or row dumps.

    ``phi_values`` are hashed in ``__init__`` and not kept; the object stores the salt, the set
    of digests and the PHI column names only.
    """

    def __init__(self, phi_columns: Iterable[str], phi_values: Iterable[Any] = (), max_chars: int = 60000) -> None:
        self.phi_columns: tuple[str, ...] = tuple(str(c) for c in phi_columns)
        self.max_chars = int(max_chars)
        self._salt = os.urandom(16)
        digests: set[bytes] = set()
        for value in phi_values:
            if value is None:
                continue
            toks = tokens(str(value))
            if len(toks) <= NGRAM_MAX:
                grams = [toks] if _informative(toks) else []
            elif len(toks) <= LONG_VALUE_TOKENS:
                grams = [toks[i:i + NGRAM_MAX] for i in range(len(toks) - NGRAM_MAX + 1)]
            else:
                grams = [[t] for t in toks if sum(ch.isdigit() for ch in t) >= MIN_NUMBER_DIGITS]
            digests.update(self._digest(g) for g in grams)
        self._digests: frozenset[bytes] = frozenset(digests)

    @classmethod
    def from_frame(cls, frame: Any, phi_columns: Iterable[str], *, sample: int = 5000, seed: int = 0,
                   max_chars: int = 60000) -> EgressGate:
        """Build a gate from the raw (pre-de-identification) frame: distinct values of each PHI
        column, at most ``sample`` per column, chosen with a fixed seed."""
        cols = [c for c in phi_columns if c in frame.columns]

        def values() -> Iterable[Any]:
            for c in cols:
                distinct = frame[c].dropna().astype(str).drop_duplicates()
                if len(distinct) > sample:
                    distinct = distinct.sample(sample, random_state=seed)
                yield from distinct

        return cls(phi_columns, values(), max_chars=max_chars)

    @property
    def n_values(self) -> int:
        """How many distinct hashed n-grams the gate looks for (a count, not the values)."""
        return len(self._digests)

    def _digest(self, toks: list[str]) -> bytes:
        return hashlib.blake2b(" ".join(toks).encode("utf-8"), key=self._salt, digest_size=16).digest()

    def findings(self, text: str) -> dict[str, int]:
        """Counts of each kind of hit in ``text`` (empty when the text may leave)."""
        found: dict[str, int] = {}
        if len(text) > self.max_chars:
            found["too_long"] = 1
        if self._digests:
            toks = tokens(text)
            hits = sum(
                1
                for n in range(1, NGRAM_MAX + 1)
                for i in range(len(toks) - n + 1)
                if self._digest(toks[i:i + n]) in self._digests
            )
            if hits:
                found["phi_value"] = hits
        for kind, pattern in PATTERNS.items():
            n = len(pattern.findall(text))
            if n:
                found[kind] = n
        numeric_lines = sum(1 for line in text.splitlines() if _NUMERIC_LINE.match(line))
        if numeric_lines > MAX_NUMERIC_LINES:
            found["row_dump"] = numeric_lines
        runs = sum(1 for m in _NUMBER_RUN.finditer(text) if m.group().count(",") >= MAX_NUMBER_RUN)
        if runs:
            found["number_run"] = runs
        return found

    def check(self, text: str) -> str:
        """Return ``text`` if it may leave the process; otherwise raise ``GuardrailBlocked``."""
        found = self.findings(text)
        if found:
            kinds = ", ".join(f"{k} x{n}" for k, n in sorted(found.items()))
            raise GuardrailBlocked(f"egress gate refused an outgoing prompt ({kinds}); no value is shown")
        return text

    def __repr__(self) -> str:
        return f"EgressGate(phi_columns={list(self.phi_columns)!r}, n_values={self.n_values}, max_chars={self.max_chars})"


__all__ = ["EgressGate", "PATTERNS", "tokens"]
