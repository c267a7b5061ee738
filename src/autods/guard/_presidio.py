"""An offline presidio AnalyzerEngine: blank spaCy English pipeline + pattern recognizers.

presidio's default engine downloads ``en_core_web_lg``; no spaCy model is available offline
here, so we save ``spacy.blank("en")`` (a tokenizer, no NER) to a cache folder and point
presidio's NLP engine at that path. Person names are therefore not found by presidio; the
PHI scan detects them itself (headers, value shape, a bundled first-name list).

The engine is built on first use and cached: importing this module has no side effects.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult

# presidio entity -> our PHI kind. DATE_TIME is used only inside free text: date columns
# are recognised by parsing, which is stricter than presidio's date patterns.
ENTITY_KIND = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "US_SSN": "ssn",
    "SSN_LIKE": "ssn",
    "CREDIT_CARD": "credit_card",
    "IP_ADDRESS": "ip_address",
    "URL": "url",
    "MRN": "mrn",
    "DATE_TIME": "date",
}
MIN_SCORE = 0.3
QUIET_LOGGERS = ("presidio-analyzer", "tldextract", "filelock")
MRN_REGEX = r"\b(?:MRN|MR|PT|HN|ID)?[A-Z]{0,3}[-_:#]?\d{6,10}\b"
# presidio's own SSN recognizer invalidates well-known fake numbers such as 123-45-6789;
# a data steward wants those flagged too: the column holds SSN-shaped values either way.
SSN_REGEX = r"\b\d{3}-\d{2}-\d{4}\b"


def blank_pipeline_dir() -> Path:
    """Where the blank spaCy pipeline lives: ``~/.cache/autods`` or, if unwritable, a temp dir."""
    import spacy

    name = f"spacy-blank-en-{spacy.__version__}"
    candidates = [Path(os.environ.get("AUTODS_CACHE", Path.home() / ".cache" / "autods")), Path(tempfile.gettempdir()) / "autods"]
    for base in candidates:
        target = base / name
        if (target / "meta.json").is_file():
            return target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write to a sibling then rename, so a concurrent reader never sees half a pipeline.
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
            spacy.blank("en").to_disk(staging)
            try:
                staging.rename(target)
            except OSError:
                if not (target / "meta.json").is_file():
                    raise
            return target
        except OSError:
            continue
    raise OSError("no writable cache directory for the blank spaCy pipeline (set AUTODS_CACHE)")


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Silence presidio/tldextract log noise (tracebacks about fetching domain lists offline)."""
    loggers = [logging.getLogger(n) for n in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _offline_email_recognizer() -> object:
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    # No suffix-list URLs: use tldextract's bundled snapshot and never touch the network.
    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):  # type: ignore[misc]
        def validate_result(self, pattern_text: str) -> bool:
            return extractor(pattern_text).fqdn != ""

    return OfflineEmailRecognizer()


@lru_cache(maxsize=1)
def analyzer() -> AnalyzerEngine:
    """The cached offline analyzer (about a second to build the first time)."""
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        DateRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UrlRecognizer,
        UsSsnRecognizer,
    )

    with quiet_logs():
        config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": str(blank_pipeline_dir())}]}
        nlp_engine = NlpEngineProvider(nlp_configuration=config).create_engine()
        registry = RecognizerRegistry(supported_languages=["en"])
        for recognizer in (
            _offline_email_recognizer(), PhoneRecognizer(), UsSsnRecognizer(), CreditCardRecognizer(),
            IpRecognizer(), UrlRecognizer(), DateRecognizer(),
            PatternRecognizer(supported_entity="MRN", name="autods_mrn",
                              patterns=[Pattern("mrn", MRN_REGEX, 0.5)], context=["mrn", "record"]),
            PatternRecognizer(supported_entity="SSN_LIKE", name="autods_ssn_like",
                              patterns=[Pattern("ssn_dashed", SSN_REGEX, 0.6)]),
        ):
            registry.add_recognizer(recognizer)
        return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def _candidates(text: str) -> list[str]:
    """Entities that could possibly occur in ``text``, judged by its characters.

    presidio's phone recognizer (libphonenumber over several regions) costs milliseconds per
    call; skipping recognizers that cannot match (no digits, no '@', no '.') keeps a full
    column scan fast without changing what is found.
    """
    digits = sum(ch.isdigit() for ch in text)
    wanted = ["DATE_TIME"] if digits >= 2 else []
    if digits >= 6:
        wanted += ["PHONE_NUMBER", "US_SSN", "SSN_LIKE", "CREDIT_CARD", "MRN"]
    if "@" in text:
        wanted.append("EMAIL_ADDRESS")
    if "." in text or ":" in text:
        wanted += ["URL", "IP_ADDRESS"]
    return wanted


def entities(text: str) -> list[RecognizerResult]:
    """presidio results above ``MIN_SCORE`` for one string (logs silenced)."""
    wanted = _candidates(text)
    if not wanted:
        return []
    with quiet_logs():
        results = analyzer().analyze(text=text, language="en", entities=wanted)
    return [r for r in results if r.score >= MIN_SCORE and r.entity_type in ENTITY_KIND]
