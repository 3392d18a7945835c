"""One exception hierarchy for every Pipecat Cloud failure; each error says whether it is worth retrying."""

from __future__ import annotations

from typing import Any


class PipecatApiError(Exception):
    """A Pipecat Cloud call failed. `transient` errors may succeed later; permanent ones will not."""

    transient: bool = False

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

    transient = True


class PipecatValidationError(PipecatApiError):
    """400, 413, 422 and other 4xx: the request itself is refused."""


class PipecatRateLimitError(PipecatApiError):
    """429: throttled or at capacity; never retry sooner than `retry_after` seconds."""

    transient = True


class PipecatServerError(PipecatApiError):
    """5xx: Pipecat Cloud failed."""

    transient = True


class PipecatTransportError(PipecatApiError):
    """No HTTP answer: connect or read timeout, connection refused or reset."""

    transient = True


def error_for(status: int, body: Any, retry_after: float | None = None) -> PipecatApiError:
    """The typed error for an HTTP answer; bodies are `{error, code}` or, for 429s, `{status, code, message}`."""
    message, code = f"HTTP {status}", None
    if isinstance(body, dict):
        message = str(body.get("error") or body.get("message") or message)
        code = str(body["code"]) if body.get("code") is not None else None
    cls: type[PipecatApiError]
    if status in (401, 403):
        cls = PipecatAuthError
    elif status == 404:
        cls = PipecatNotFoundError
    elif status == 409:
        cls = PipecatConflictError
    elif status == 429:
        cls = PipecatRateLimitError
    elif status >= 500:
        cls = PipecatServerError
    else:
        cls = PipecatValidationError
    return cls(message, status=status, code=code, retry_after=retry_after)
