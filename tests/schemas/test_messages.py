"""The change message: every rejection reason, and valid messages with extra fields."""

from __future__ import annotations

import json
import uuid

import pytest

from config_sync_service.schemas.messages import (
    MAX_MESSAGE_BYTES,
    ChangeMessage,
    ChangeType,
    Rejection,
    RejectReason,
    parse_message,
)

AGENT = "c8743e1d-0567-49d7-8432-10f334dc6aad"  # fixed: xdist workers must collect the same test ids


def good(**extra: object) -> dict[str, object]:
    return {"agent_id": AGENT, "version": 3, "change_type": "FULL_SYNC", **extra}


def test_valid_message_with_extra_fields() -> None:
    parsed = parse_message(json.dumps(good(source="dashboard", nested={"a": [1]})).encode())
    assert isinstance(parsed, ChangeMessage)
    assert parsed.agent_id == uuid.UUID(AGENT)
    assert parsed.version == 3
    assert parsed.change_type is ChangeType.FULL_SYNC


@pytest.mark.parametrize("change_type", list(ChangeType))
def test_every_change_type(change_type: ChangeType) -> None:
    parsed = parse_message(json.dumps(good(change_type=change_type.value)))
    assert isinstance(parsed, ChangeMessage)
    assert parsed.change_type is change_type


@pytest.mark.parametrize(
    ("raw", "reason", "detail"),
    [
        (b"", RejectReason.EMPTY, "empty payload"),
        (b"   \n", RejectReason.EMPTY, "empty payload"),
        (b"{not json", RejectReason.NOT_JSON, "not JSON"),
        (b'{"agent_id": "' + b"x" * 10 + b'"', RejectReason.NOT_JSON, "not JSON"),
        (b"\xff\xfe{}", RejectReason.NOT_UTF8, "not UTF-8"),
        (b"[1, 2]", RejectReason.NOT_AN_OBJECT, "JSON list"),
        (b"42", RejectReason.NOT_AN_OBJECT, "JSON int"),
        (
            json.dumps({"version": 1, "change_type": "PROVISION"}).encode(),
            RejectReason.MISSING_FIELD,
            "missing field 'agent_id'",
        ),
        (
            json.dumps({"agent_id": AGENT, "change_type": "PROVISION"}).encode(),
            RejectReason.MISSING_FIELD,
            "missing field 'version'",
        ),
        (
            json.dumps({"agent_id": AGENT, "version": 1}).encode(),
            RejectReason.MISSING_FIELD,
            "missing field 'change_type'",
        ),
        (json.dumps(good(version="5")).encode(), RejectReason.WRONG_TYPE, "version must be an integer, got str"),
        (json.dumps(good(version=2.5)).encode(), RejectReason.WRONG_TYPE, "version must be an integer"),
        (json.dumps(good(version=True)).encode(), RejectReason.WRONG_TYPE, "version must be an integer, got bool"),
        (json.dumps(good(agent_id=12)).encode(), RejectReason.WRONG_TYPE, "agent_id must be a UUID string"),
        (json.dumps(good(change_type=["PROVISION"])).encode(), RejectReason.WRONG_TYPE, "change_type must be"),
        (json.dumps(good(version=0)).encode(), RejectReason.INVALID_VERSION, "version 0 must be between 1"),
        (json.dumps(good(version=-3)).encode(), RejectReason.INVALID_VERSION, "version -3"),
        (json.dumps(good(version=2**40)).encode(), RejectReason.INVALID_VERSION, "must be between 1"),
        (json.dumps(good(agent_id="agent-7")).encode(), RejectReason.INVALID_AGENT_ID, "is not a UUID"),
        (
            json.dumps(good(change_type="RESTART")).encode(),
            RejectReason.UNKNOWN_CHANGE_TYPE,
            "change_type 'RESTART' is not one of CONTEXT_UPDATE",
        ),
        (b"9" * 5000, RejectReason.NOT_JSON, "not JSON"),
        (b"[" * 100_00 + b"]" * 100_00, RejectReason.NOT_JSON, "not JSON"),
    ],
)
def test_rejections(raw: bytes, reason: RejectReason, detail: str) -> None:
    parsed = parse_message(raw)
    assert isinstance(parsed, Rejection), parsed
    assert parsed.reason is reason
    assert detail in parsed.detail


def test_too_large() -> None:
    payload = json.dumps(good(padding="x" * MAX_MESSAGE_BYTES)).encode()
    parsed = parse_message(payload)
    assert isinstance(parsed, Rejection)
    assert parsed.reason is RejectReason.TOO_LARGE
    assert str(len(payload)) in parsed.detail


def test_rejection_keeps_what_could_be_read() -> None:
    parsed = parse_message(json.dumps(good(change_type="NOPE")))
    assert isinstance(parsed, Rejection)
    assert (parsed.agent_id, parsed.version, parsed.change_type) == (AGENT, 3, "NOPE")
