"""The record every guardrail returns: what was found, how bad, what to do, and the evidence."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Severity(str, Enum):
    """``blocking`` excludes a feature (or stops the run); the others inform."""

    info = "info"
    warning = "warning"
    blocking = "blocking"


class Finding(BaseModel):
    """One guardrail result. ``feature`` names the column it concerns, when it concerns one."""

    model_config = ConfigDict(frozen=True)

    check: str
    severity: Severity
    message: str
    advice: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    feature: str | None = None

    @property
    def blocking(self) -> bool:
        return self.severity is Severity.blocking

    def as_row(self) -> dict[str, str]:
        return {"check": self.check, "severity": self.severity.value, "message": self.message}
