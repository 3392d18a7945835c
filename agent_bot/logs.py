"""The bot's logs as JSON lines, and the call events a log search counts.

Every line is one JSON object: `time`, `level`, `message`, `logger`, and whatever was bound to it. Call events
(`call_event`) add a stable `event` name and the call's fields, so a search can count calls, durations, outcomes,
uploads and webhook deliveries without parsing messages. Nothing here may carry a secret: callers bind only
identifiers, counts, names and error classes.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Message, Record

# the call events, one per thing that happened; their names are part of the bot's interface (log searches)
CALL_STARTED = "call.started"
CALL_TOOL = "call.tool"  # one per tool call: name, ok
CALL_ENDED = "call.ended"  # duration_s, end_reason, tools_used
RECORD_STORED = "call.record_stored"  # one per object: name, key, bytes
RECORD_FAILED = "call.record_failed"  # one per object: name, key, error
WEBHOOK_DELIVERED = "webhook.delivered"  # one per event and endpoint: webhook_event, endpoint, attempts, status
WEBHOOK_FAILED = "webhook.failed"  # the same, with error, once the retries are spent
CALL_REPORTED = "call.reported"  # the last line of a call: records and webhooks done (or given up)

_configured = False


def json_line(record: Record) -> str:
    """One log record as one line of JSON (no newline)."""
    line: dict[str, Any] = {
        "time": record["time"].astimezone(UTC).isoformat(timespec="milliseconds"),
        "level": record["level"].name,
        "message": record["message"],
        "logger": record["name"],
        **record["extra"],
    }
    if record["exception"] is not None:
        kind, value, trace = record["exception"]
        line["exception"] = "".join(traceback.format_exception(kind, value, trace))
    return json.dumps(line, default=str, ensure_ascii=False)


def add_json_sink(stream: TextIO, level: str = "INFO") -> int:
    """Write every log record at `level` and above to `stream` as JSON lines; returns loguru's handler id."""

    def write(message: Message) -> None:
        stream.write(json_line(message.record) + "\n")
        stream.flush()

    return logger.add(write, level=level, format="{message}")


def configure(environ: Mapping[str, str]) -> None:
    """Once per process: `LOG_FORMAT` `json` (default) or `console`, at `LOG_LEVEL` (default INFO) to stderr."""
    global _configured
    if _configured:
        return
    _configured = True
    level = environ.get("LOG_LEVEL", "INFO").upper()
    logger.remove()
    if environ.get("LOG_FORMAT", "json").lower() == "console":
        logger.add(sys.stderr, level=level)
    else:
        add_json_sink(sys.stderr, level)


def call_event(
    event: str, message: str, fields: Mapping[str, object], /, *, level: str = "INFO", **more: object
) -> None:
    """Log one call event: `event` and the call's `fields` (its ids), plus `more` about this event."""
    logger.bind(event=event, **fields, **more).log(level, message)
