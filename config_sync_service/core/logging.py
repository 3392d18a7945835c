"""structlog set-up: JSON lines (or console), the standard library routed through it, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[REDACTED]"
_SECRET_NAME = re.compile(
    r"(^|_|-)(key|token|secret|password|passwd|authorization|auth)($|_|-)|apikey|api_key", re.IGNORECASE
)
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")
# stdlib loggers whose records should leave as our JSON lines, at a sensible level
_ROUTED_LOGGERS = {
    "uvicorn": None,
    "uvicorn.error": None,
    "uvicorn.access": None,
    "gunicorn": None,
    "gunicorn.error": None,
    "gunicorn.access": None,
    "sqlalchemy": logging.WARNING,
    "alembic": None,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "asyncio": logging.WARNING,
}


def is_secret_name(name: str) -> bool:
    """Field names whose values are never logged (`*key*`, `*token*`, `*secret*`, `authorization`, …)."""
    return bool(_SECRET_NAME.search(name))


class SecretRedactor:
    """structlog processor: hides secret-named fields and any known secret value wherever it appears."""

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        self.secret_values = sorted({v for v in secret_values if len(v) >= 4}, key=len, reverse=True)

    def scrub_text(self, text: str) -> str:
        for value in self.secret_values:
            if value in text:
                text = text.replace(value, REDACTED)
        return _BEARER.sub(r"\1" + REDACTED, text)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, MutableMapping):
            return {
                k: REDACTED if isinstance(k, str) and is_secret_name(k) else self.scrub(v) for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        return value

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        event_dict.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
        for key in list(event_dict):
            if key != "event" and is_secret_name(key):
                event_dict[key] = REDACTED
            else:
                event_dict[key] = self.scrub(event_dict[key])
        return event_dict


_redactor = SecretRedactor()


def configure_logging(
    *,
    level: str = "INFO",
    fmt: str = "json",
    secret_values: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and the standard library's root logger; safe to call more than once."""
    global _redactor
    _redactor = SecretRedactor(secret_values)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redactor,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, floor in _ROUTED_LOGGERS.items():
        routed = logging.getLogger(name)
        routed.handlers[:] = []
        routed.propagate = True
        routed.setLevel(max(floor or 0, logging.getLevelName(level)))


def scrub(value: Any) -> Any:
    """Redact known secrets from a value (used for error messages that leave the process)."""
    return _redactor.scrub(value)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
