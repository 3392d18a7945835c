"""What a failure should lead to, decided in one place (kopf's vocabulary, DESIGN §5).

- transient: it may pass (no answer, a timeout, 5xx, 409, 429, the database or Redis away): retry with
  backoff, never sooner than the floor the server asked for (`Retry-After`);
- permanent: it will not pass until something changes (a refused request, an invalid configuration, a failed
  deployment): record it, dead-letter it, stop;
- bug: nobody expected it: log it in full; the engine backs off and tries the agent again (nothing is lost).

Errors that know their kind derive from `ClassifiedError` and declare it once, on their class. `classify()` is
what every reader calls: the Pipecat client's short retries, the processor's failure decision, the engine's
crash handling.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

import redis.exceptions
import sqlalchemy.exc


class ErrorKind(enum.StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    BUG = "bug"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The kind of a failure, and how long nobody should try again (None: the backoff alone decides)."""

    kind: ErrorKind
    floor_s: float | None = None

    @property
    def transient(self) -> bool:
        return self.kind is ErrorKind.TRANSIENT


class ClassifiedError(Exception):
    """An error that knows what should happen next. `reason` is its dead-letter reason when it is permanent."""

    kind: ClassVar[ErrorKind] = ErrorKind.PERMANENT
    reason: str = "permanent_error"
    retry_after: float | None = None


# no answer from a server we depend on: it may be back in a moment
_INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionError and TimeoutError
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection free in time
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def classify(exc: BaseException) -> Verdict:
    """The one answer to "what now?" for any exception."""
    if isinstance(exc, ClassifiedError):
        return Verdict(exc.kind, exc.retry_after)
    if isinstance(exc, _INFRASTRUCTURE):
        return Verdict(ErrorKind.TRANSIENT)
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return Verdict(ErrorKind.TRANSIENT)
    return Verdict(ErrorKind.BUG)
