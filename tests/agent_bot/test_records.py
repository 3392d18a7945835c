"""The pieces of a call's record on their own: the order of what happened, masking, object keys, the signing
secret's rules, and the JSON log line."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime

import pytest
from loguru import logger

from agent_bot import logs, records
from agent_bot.records import AGENT_ENDED, CALLER_HUNG_UP, SESSION_ENDED, CallRecord, mask_number
from agent_bot.storage import RecordStore, StoragePolicy, StorageUnavailable
from agent_bot.webhooks import SigningSecretError, signer
from agent_schema import CallRecordsConfig


def record() -> CallRecord:
    return CallRecord(agent_id="a-1", config_version=2, transport="twilio", call_id="CA1", session_id="s-1")


def test_entries_come_in_the_order_things_happened_the_caller_first_on_a_tie(monkeypatch: pytest.MonkeyPatch) -> None:
    call = record()
    call.turn("assistant", "Hello!", "2026-03-01T10:00:01.000+00:00")
    call.turn("assistant", "  ", "2026-03-01T10:00:01.500+00:00")  # an empty turn (cut before a word): left out
    monkeypatch.setattr(records, "now", lambda: datetime.fromisoformat("2026-03-01T10:00:02.000+00:00"))
    call.tool_started("t1", "get_current_weather", {"location": "Oslo"})
    call.turn("user", "Weather in Oslo?", "2026-03-01T10:00:02.000+00:00")  # reported later, same millisecond
    call.tool_finished("t1", {"temperature_c": 3})
    call.tool_finished("unknown", {"ignored": True})
    assert [(e["type"], e.get("role") or e.get("name")) for e in call.entries()] == [
        ("turn", "assistant"),
        ("turn", "user"),
        ("tool_call", "get_current_weather"),
    ]
    assert call.entries()[2]["result"] == {"temperature_c": 3}
    assert call.tools_used() == ["get_current_weather"]


def test_the_first_end_reason_wins_and_a_session_without_one_says_so() -> None:
    call = record()
    call.end(AGENT_ENDED)
    call.end(CALLER_HUNG_UP)  # the line closing after the agent's goodbye
    call.finish()
    assert call.end_reason == AGENT_ENDED and call.ended_at is not None
    other = record()
    other.finish()
    assert other.end_reason == SESSION_ENDED


@pytest.mark.parametrize(
    ("number", "masked"),
    [("+15551234567", "+*******4567"), ("15551234567", "*******4567"), ("anonymous", "(masked)"), (None, None)],
)
def test_a_caller_number_is_masked_to_its_last_four_digits(number: str | None, masked: str | None) -> None:
    assert mask_number(number) == masked
    call = record()
    call.caller_number = number
    assert call.metadata(keep_caller_number=False)["caller_number"] == masked
    assert call.metadata(keep_caller_number=True)["caller_number"] == number


def test_object_keys_and_the_credentials_they_need() -> None:
    config = CallRecordsConfig(bucket="calls", prefix="voice/prod")
    creds = {"CALL_RECORDS_AWS_ACCESS_KEY_ID": "AKIA1", "CALL_RECORDS_AWS_SECRET_ACCESS_KEY": "s3cr3t"}
    store = RecordStore.from_env(config, creds, StoragePolicy())
    assert store.key("a-1", "CA1", "metadata.json") == "voice/prod/agents/a-1/calls/CA1/metadata.json"
    assert "s3cr3t" not in repr(store)
    # a bound on every upload of a call, longer for a long call's recording
    assert StoragePolicy(deadline_s=60, bytes_per_s=1e6).deadline_for(300_000_000) == 360
    bare = RecordStore.from_env(CallRecordsConfig(bucket="calls"), creds, StoragePolicy())
    assert bare.key("a-1", "CA1", "recording.wav") == "agents/a-1/calls/CA1/recording.wav"
    with pytest.raises(StorageUnavailable) as refused:
        RecordStore.from_env(config, {"CALL_RECORDS_AWS_ACCESS_KEY_ID": "AKIA1"}, StoragePolicy())
    assert str(refused.value) == "CALL_RECORDS_AWS_SECRET_ACCESS_KEY not set in the agent's secrets"


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("", "WEBHOOK_SIGNING_SECRET is not set in the agent's secrets"),
        ("whsec_not base64!", "WEBHOOK_SIGNING_SECRET is not whsec_ followed by base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "WEBHOOK_SIGNING_SECRET must decode to 24 to 64 bytes"),
    ],
)
def test_a_signing_secret_that_cannot_sign_is_refused_without_quoting_it(secret: str, says: str) -> None:
    with pytest.raises(SigningSecretError) as refused:
        signer({"WEBHOOK_SIGNING_SECRET": secret})
    assert str(refused.value) == says
    assert not secret or secret not in str(refused.value)


def test_a_signing_secret_with_or_without_its_prefix() -> None:
    key = base64.b64encode(b"k" * 32).decode()
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    assert signer({"WEBHOOK_SIGNING_SECRET": f"whsec_{key}"}).sign("msg_1", moment, b"{}") == signer(
        {"WEBHOOK_SIGNING_SECRET": key}
    ).sign("msg_1", moment, b"{}")


def test_a_log_record_is_one_line_of_json_with_what_was_bound() -> None:
    out = io.StringIO()
    sink = logs.add_json_sink(out)
    try:
        logs.call_event(logs.CALL_ENDED, "call ended", {"call_id": "CA1"}, duration_s=1.5)
        try:
            raise RuntimeError("boom\nsecond line")
        except RuntimeError:
            logger.exception("it failed")
    finally:
        logger.remove(sink)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["event"] == "call.ended" and first["call_id"] == "CA1" and first["duration_s"] == 1.5
    assert first["level"] == "INFO" and first["message"] == "call ended" and first["time"].endswith("+00:00")
    assert second["level"] == "ERROR" and "RuntimeError: boom" in second["exception"]


def test_a_tools_event_comes_right_after_its_call_whichever_is_reported_first(monkeypatch: pytest.MonkeyPatch) -> None:
    call = record()
    monkeypatch.setattr(records, "now", lambda: datetime.fromisoformat("2026-03-01T10:00:02.000+00:00"))
    call.event("transfer", tool_call_id="t1", target="+15555550100")  # the handler, before the frame is seen
    monkeypatch.setattr(records, "now", lambda: datetime.fromisoformat("2026-03-01T10:00:02.005+00:00"))
    call.tool_started("t1", "transfer_call", {})
    call.tool_started("t2", "end_call", {})
    call.event("ended", tool_call_id="t2")  # the frame first
    call.event("transfer", tool_call_id="t3")  # a call the pipeline never reported
    names = [e.get("name") for e in call.entries()]
    assert names == ["transfer_call", "transfer", "end_call", "ended", "transfer"]
