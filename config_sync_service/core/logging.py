"""structlog set-up: JSON lines (or console), the standard library routed through it, secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from config_sync_service.core import redaction
from config_sync_service.core.redaction import REDACTED, is_secret_name, scrub

# callers scrub through `core.logging` or `core.redaction` alike: the redactor is the one in core/redaction.py
__all__ = ["REDACTED", "configure_logging", "get_logger", "is_secret_name", "scrub"]

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


def _redact(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: every field through the one redactor (`core.redaction`); secret-named ones hidden."""
    event_dict.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
    for key in list(event_dict):
        if key != "event" and is_secret_name(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = scrub(event_dict[key])
    return event_dict


def configure_logging(
    *,
    level: str = "INFO",
    fmt: str = "json",
    secret_values: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and the standard library's root logger; safe to call more than once."""
    redaction.configure(secret_values)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redact,
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


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
