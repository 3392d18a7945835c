"""The change message on `UPDATES_CHANNEL` (DESIGN §3) and its parser.

`parse_message(raw)` never raises: it returns a `ChangeMessage` or a `Rejection` whose `reason` is one of
the stable codes below (they are what the dead-letter list and the metrics show).
"""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, model_validator

MAX_MESSAGE_BYTES = 64 * 1024
MAX_VERSION = 2**31 - 1  # the column is a Postgres integer


class ChangeType(enum.StrEnum):
    CONTEXT_UPDATE = "CONTEXT_UPDATE"
    FULL_SYNC = "FULL_SYNC"
    PROVISION = "PROVISION"
    DEPROVISION = "DEPROVISION"


class RejectReason(enum.StrEnum):
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_AGENT_ID = "invalid_agent_id"
    INVALID_VERSION = "invalid_version"
    UNKNOWN_CHANGE_TYPE = "unknown_change_type"


class ChangeMessage(BaseModel):
    """`{"agent_id": uuid, "version": int >= 1, "change_type": ...}`; extra fields are ignored.

    `config-sync dlq replay` adds `replay: true` (re-run the agent even after a permanent error), the replayed
    entry's `replay_count` and a `replay_id` it registered in Redis first: the daemon forces the run only for a
    registered id, once (one of the many workers receiving it). Backends never set them; a flag without such an id
    forces nothing, and malformed replay fields are dropped rather than rejecting the message.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    agent_id: uuid.UUID
    version: Annotated[StrictInt, Field(ge=1, le=MAX_VERSION)]
    change_type: ChangeType
    replay: StrictBool = False
    replay_count: Annotated[StrictInt, Field(ge=0, le=MAX_VERSION)] = 0
    replay_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _lenient_replay_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        checks = {
            "replay": lambda v: isinstance(v, bool),
            "replay_count": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_VERSION,
            "replay_id": lambda v: v is None or (isinstance(v, str) and 0 < len(v) <= 64),
        }
        return {k: v for k, v in data.items() if k not in checks or checks[k](v)}

    def to_json(self) -> str:
        """The wire form; the replay fields only when set (a plain change stays the three DESIGN §3 fields)."""
        return self.model_dump_json(exclude_defaults=True)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a payload cannot be used, with whatever of it could be read (for the dead-letter entry)."""

    reason: RejectReason
    detail: str
    agent_id: str | None = None
    version: Any = None
    change_type: Any = None


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _rejection_for(error: dict[str, Any], data: dict[str, Any]) -> Rejection:
    field = str(error["loc"][0]) if error["loc"] else "message"
    kind = error["type"]
    seen = {"agent_id": data.get("agent_id"), "version": data.get("version"), "change_type": data.get("change_type")}
    agent_id = seen["agent_id"] if isinstance(seen["agent_id"], str) else None
    common = {"agent_id": agent_id, "version": seen["version"], "change_type": seen["change_type"]}
    if kind == "missing":
        return Rejection(RejectReason.MISSING_FIELD, f"missing field '{field}'", **common)
    value = _describe(data.get(field))
    if field == "change_type" and isinstance(data.get(field), str):
        allowed = ", ".join(t.value for t in ChangeType)
        return Rejection(RejectReason.UNKNOWN_CHANGE_TYPE, f"change_type {value} is not one of {allowed}", **common)
    if field == "version" and isinstance(data.get(field), int) and not isinstance(data.get(field), bool):
        return Rejection(RejectReason.INVALID_VERSION, f"version {value} must be between 1 and {MAX_VERSION}", **common)
    if field == "agent_id" and isinstance(data.get(field), str):
        return Rejection(RejectReason.INVALID_AGENT_ID, f"agent_id {value} is not a UUID", **common)
    expected = {"agent_id": "a UUID string", "version": "an integer", "change_type": "a string"}.get(field, "")
    return Rejection(
        RejectReason.WRONG_TYPE, f"{field} must be {expected}, got {type(data.get(field)).__name__}", **common
    )


def parse_message(raw: bytes | str) -> ChangeMessage | Rejection:
    """Turn a raw payload into a `ChangeMessage` or a precise `Rejection`."""
    data_bytes = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if not data_bytes.strip():
        return Rejection(RejectReason.EMPTY, "empty payload")
    if len(data_bytes) > MAX_MESSAGE_BYTES:
        return Rejection(
            RejectReason.TOO_LARGE, f"payload is {len(data_bytes)} bytes; the limit is {MAX_MESSAGE_BYTES}"
        )
    try:
        text = data_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(RejectReason.NOT_UTF8, f"payload is not UTF-8 (byte {exc.start})")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return Rejection(RejectReason.NOT_JSON, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except (ValueError, RecursionError) as exc:  # integers past 4300 digits, nesting past the stack
        return Rejection(RejectReason.NOT_JSON, f"not JSON: {type(exc).__name__}")
    if not isinstance(data, dict):
        return Rejection(RejectReason.NOT_AN_OBJECT, f"payload is a JSON {type(data).__name__}, not an object")
    try:
        return ChangeMessage.model_validate(data)
    except ValidationError as exc:
        return _rejection_for(exc.errors()[0], data)  # type: ignore[arg-type]
