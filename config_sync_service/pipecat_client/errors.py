"""One exception hierarchy for every Pipecat Cloud failure; each class declares its kind once (core.errors), and
`error_for` is the one map from an HTTP answer to its class."""

from __future__ import annotations

from typing import Any

from config_sync_service.core.errors import ClassifiedError, ErrorKind

RATE_LIMIT_FLOOR_S = 1.0  # a 429 that names no Retry-After: wait this long anyway


class PipecatApiError(ClassifiedError):
    """A Pipecat Cloud call failed."""

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after

    def __str__(self) -> str:
        if self.status is None:
            return self.message
        code = f" {self.code}" if self.code and self.code != str(self.status) else ""
        return f"{self.status}{code}: {self.message}"


class PipecatAuthError(PipecatApiError):
    """401/403: the key is wrong, of the wrong type, or lacks access."""


class PipecatNotFoundError(PipecatApiError):
    """404: no such agent, secret set or session."""


class PipecatConflictError(PipecatApiError):
    """409: a secret set is not ready yet, or a concurrent change; retry later."""

    kind = ErrorKind.TRANSIENT


class PipecatValidationError(PipecatApiError):
    """400, 413, 422 and other 4xx: the request itself is refused."""


class PipecatAlreadyExistsError(PipecatValidationError):
    """400 "… already exists" on create: the agent is there already (provision updates it instead)."""


class PipecatRateLimitError(PipecatApiError):
    """429: throttled or at capacity; never retry sooner than `retry_after` seconds."""

    kind = ErrorKind.TRANSIENT


class PipecatServerError(PipecatApiError):
    """5xx: Pipecat Cloud failed."""

    kind = ErrorKind.TRANSIENT


class PipecatTransportError(PipecatApiError):
    """No HTTP answer: connect or read timeout, connection refused or reset. `may_have_landed`: a request that
    changes something was sent (no answer is not no effect)."""

    kind = ErrorKind.TRANSIENT
    may_have_landed: bool = False


def _class_for(status: int, message: str) -> type[PipecatApiError]:
    if status in (401, 403):
        return PipecatAuthError
    if status == 404:
        return PipecatNotFoundError
    if status == 409:
        return PipecatConflictError
    if status == 429:
        return PipecatRateLimitError
    if status >= 500:
        return PipecatServerError
    if "exist" in message.lower():  # the API says so only in words: `400 Service <name> already exists`
        return PipecatAlreadyExistsError
    return PipecatValidationError


def error_for(status: int, body: Any, retry_after: float | None = None) -> PipecatApiError:
    """The typed error for an HTTP answer; bodies are `{error, code}` or, for 429s, `{status, code, message}`."""
    message, code = f"HTTP {status}", None
    if isinstance(body, dict):
        message = str(body.get("error") or body.get("message") or message)
        code = str(body["code"]) if body.get("code") is not None else None
    if status == 429 and retry_after is None:
        retry_after = RATE_LIMIT_FLOOR_S
    return _class_for(status, message)(message, status=status, code=code, retry_after=retry_after)
