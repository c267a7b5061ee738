"""The one exception tree of autods.

::

    AutodsError
    ├── UserInputError          bad input from a user; the CLI prints one line and exits 2
    │   ├── TaskSpecError       TASK.md / LAUNCH.md malformed (YAML, unknown key, bad value)
    │   ├── DataError           data file missing, unreadable, empty, endpoint unusable
    │   └── RecipeError         a recipe or composite expression that cannot be honoured
    ├── GuardrailBlocked        a governance rule (e.g. deident_policy: block) stops the run
    ├── JudgeError              the frozen judge refused an operation
    │   └── TestSetAlreadyScored  the locked held-out split was already scored once
    ├── ProtocolViolation       the coordination protocol forbids this (HTTP 409)
    │   ├── Locked              new work waits for open verdict tickets (HTTP 423)
    │   └── PermissionDenied    the caller's role may not use this verb (HTTP 403)
    ├── StateError              the shared-state database cannot be used
    │   └── SchemaVersionError  newer or foreign database schema
    └── RetryableError          transient: the caller may retry with backoff
        ├── LLMTransientError   rate limit, timeout or 5xx from a model provider
        └── LeaseExpired        a claimed job's lease ran out before its result arrived

Terminal errors are everything not under ``RetryableError``.
"""

from __future__ import annotations


class AutodsError(Exception):
    """Base of every error autods raises on purpose."""


class UserInputError(AutodsError):
    """Input a user can fix. ``str(err)`` is one line: the problem, then the fix."""

    exit_code = 2

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem.rstrip(". ")
        self.fix = fix.rstrip(". ")
        super().__init__(f"{self.problem}. Fix: {self.fix}.")


class TaskSpecError(UserInputError):
    """TASK.md or LAUNCH.md is malformed."""


class DataError(UserInputError):
    """A data file is missing, unreadable, empty, or its endpoint is unusable."""


class RecipeError(UserInputError):
    """A recipe (or a composite-feature expression) cannot be honoured."""


class GuardrailBlocked(AutodsError):
    """A governance rule blocks the run (for example ``deident_policy: block`` with PHI present)."""

    exit_code = 2


class JudgeError(AutodsError):
    """The frozen judge refused an operation."""


class TestSetAlreadyScored(JudgeError):
    """The locked held-out test split may be scored exactly once."""

    __test__ = False  # not a pytest test class


class ProtocolViolation(AutodsError):
    """The coordination protocol forbids this action; the server answers HTTP 409."""

    def __init__(self, rule: str, reason: str) -> None:
        self.rule = rule
        self.reason = reason
        super().__init__(f"{rule}: {reason}")


class Locked(ProtocolViolation):
    """The protocol refuses this for now: new work waits until open verdict tickets are answered
    (HTTP 423). The client raises it for a 423 answer; the rule says what to answer."""

    http_status = 423


class PermissionDenied(ProtocolViolation):
    """The authenticated agent's role does not allow this verb; the server answers HTTP 403."""

    def __init__(self, reason: str) -> None:
        super().__init__("permission", reason)


class StateError(AutodsError):
    """The shared-state database cannot be used."""


class SchemaVersionError(StateError):
    """The database was written by a newer autods or is not an autods database."""


class RetryableError(AutodsError):
    """A transient failure; retrying with backoff may succeed."""


class LLMTransientError(RetryableError):
    """Rate limit, timeout or server error from a model provider."""


class LeaseExpired(RetryableError):
    """A claimed job's lease expired before its result was recorded."""
