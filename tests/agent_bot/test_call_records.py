"""A whole Twilio call is kept and announced: transcript, recording and metadata in a real S3 API server on
loopback, signed webhooks to a local receiver, and the call's events as JSON lines."""

from __future__ import annotations

import array
import base64
import io
import json
import wave
from datetime import datetime
from typing import Any

import pytest
import websockets
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.agent_bot.fake_nova import FakeNovaSonic
from tests.agent_bot.records_support import (
    RECORDS_ENV,
    WHSEC,
    Receiver,
    S3Server,
    a_phone_call,
    bot_deps,
    events,
    json_log,
    records_context,
    until_logged,
)
from tests.agent_bot.support import (
    AGENT_CONTEXT,
    CALL_SID,
    agent_env,
    bot_app,
    serve,
    twilio_rest,
    twilio_start,
    twilio_stop,
    weather_api,
    weather_env,
)

PREFIX = f"voice/test/agents/agent-123/calls/{CALL_SID}"


TURNS = [
    {"type": "turn", "role": "user", "text": "What's the weather in Paris?"},
    {
        "type": "tool_call",
        "name": "get_current_weather",
        "arguments": {"location": "paris"},
        "result": {"location": "Paris", "temperature_c": 21.5, "wind_kmh": 9.0, "conditions": "partly cloudy"},
    },
    {"type": "turn", "role": "assistant", "text": "It is twenty-one degrees in Paris.", "interrupted": False},
    {"type": "turn", "role": "user", "text": "Thanks, that's all."},
    {
        "type": "tool_call",
        "name": "end_call",
        "arguments": {"reason": "caller is done"},
        "result": {"status": "ending", "instruction": "Say a short goodbye now."},
    },
    {"type": "turn", "role": "assistant", "text": "Goodbye!", "interrupted": False},
]


def without_times(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "started_at"} for e in entries]


def loudness(samples: bytes) -> int:
    """How many of these 16-bit samples are not (near) silence."""
    values = array.array("h", samples)
    return sum(abs(v) > 500 for v in values)


async def test_a_twilio_call_is_stored_announced_and_logged(s3: S3Server, bucket: str) -> None:
    nova, receiver = FakeNovaSonic(), Receiver()
    rest_app, updates = twilio_rest()
    async with serve(rest_app) as rest, serve(weather_api()) as weather, serve(receiver.app()) as hooks:
        urls = {"TWILIO_API_BASE_URL": f"http://{rest}", **weather_env(weather)}
        env = agent_env(records_context(s3.url, bucket, hooks), **urls, **RECORDS_ENV)
        with json_log() as log:
            async with a_phone_call(bot_deps(env, nova), nova):
                pass
            await until_logged(log, "call.reported")
    assert [u.get("Status") for u in updates] == ["completed"]  # hung up once, as before

    # the three objects, under the configured prefix
    assert s3.keys(bucket) == [f"{PREFIX}/metadata.json", f"{PREFIX}/recording.wav", f"{PREFIX}/transcript.json"]
    stored = {
        name: s3.read(bucket, f"{PREFIX}/{name}") for name in ("transcript.json", "recording.wav", "metadata.json")
    }
    transcript, metadata = json.loads(stored["transcript.json"]), json.loads(stored["metadata.json"])
    check_transcript_and_metadata(transcript, metadata)
    check_recording(stored["recording.wav"], metadata)
    check_webhooks(receiver, transcript, metadata, {name: len(body) for name, body in stored.items()})
    check_call_events(log, metadata)
    # no secret anywhere: logs, webhooks, stored objects
    secrets = [env[k] for k in ("AWS_SECRET_ACCESS_KEY", "TWILIO_AUTH_TOKEN", *RECORDS_ENV)]
    everything = log.getvalue() + "".join(h.body.decode() for h in receiver.hooks)
    everything += stored["metadata.json"].decode() + stored["transcript.json"].decode()
    assert not [secret for secret in secrets if secret in everything]


def check_transcript_and_metadata(transcript: dict[str, Any], metadata: dict[str, Any]) -> None:
    # exactly what was said and done, in order, each with its start time
    assert without_times(transcript["entries"]) == TURNS
    times = [datetime.fromisoformat(e["started_at"]) for e in transcript["entries"]]
    assert times == sorted(times)
    assert (transcript["call_id"], transcript["end_reason"]) == (CALL_SID, "agent_ended")
    started, answered, ended = (datetime.fromisoformat(metadata[k]) for k in ("started_at", "answered_at", "ended_at"))
    assert metadata == {
        "agent_id": "agent-123",
        "config_version": 3,
        "transport": "twilio",
        "call_id": CALL_SID,
        "session_id": "session-1",
        "caller_number": "+*******4567",  # masked: the configuration does not keep it
        "started_at": metadata["started_at"],
        "answered_at": metadata["answered_at"],
        "ended_at": metadata["ended_at"],
        "duration_s": round((ended - started).total_seconds(), 3),
        "end_reason": "agent_ended",
        "tools_used": ["get_current_weather", "end_call"],
        "transfer_target": None,
    }
    assert started <= answered <= times[0] and times[-1] <= ended


def check_recording(body: bytes, metadata: dict[str, Any]) -> None:
    """Both sides at Twilio's 8 kHz, from the moment the agent answered (its start-up is not audio) to the end."""
    with wave.open(io.BytesIO(body)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 2, 2)
        seconds = wav.getnframes() / wav.getframerate()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    answered, ended = (datetime.fromisoformat(metadata[k]) for k in ("answered_at", "ended_at"))
    assert abs(seconds - (ended - answered).total_seconds()) < 0.3, (seconds, metadata)
    caller, agent = samples[0::2].tobytes(), samples[1::2].tobytes()
    assert loudness(caller) > 8000 * seconds / 2  # the caller spoke all along
    assert loudness(agent) > 8000 * 0.8  # about 1.1 s of the agent's tone was played


def check_webhooks(
    receiver: Receiver, transcript: dict[str, Any], metadata: dict[str, Any], sizes: dict[str, int]
) -> None:
    """In order, signed the Standard Webhooks way, carrying the metadata, the keys and the transcript."""
    assert receiver.types() == ["call.started", "call.ended", "transcript.ready"]
    verifier = Webhook(WHSEC)
    for hook in receiver.hooks:
        assert verifier.verify(hook.body, hook.headers) == hook.json
        assert hook.headers["webhook-id"].startswith("msg_") and hook.headers["content-type"] == "application/json"
    started_hook, ended_hook, transcript_hook = (h.json["data"] for h in receiver.hooks)
    ids = ("agent_id", "config_version", "transport", "call_id", "session_id", "caller_number", "started_at")
    assert started_hook == {k: metadata[k] for k in ids}
    stored = {"status": "stored", "error": None}
    records = {name: {"key": f"{PREFIX}/{name}", "bytes": size} | stored for name, size in sizes.items()}
    assert ended_hook == metadata | {"records": records}
    assert transcript_hook == transcript | {"record": records["transcript.json"]}
    # a body changed on the way fails verification, as does a signature made with another secret
    ended = receiver.hooks[1]
    with pytest.raises(WebhookVerificationError):
        verifier.verify(ended.body.replace(b"agent_ended", b"caller_hung_up"), ended.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()).verify(
            ended.body, ended.headers
        )


def check_call_events(log: io.StringIO, metadata: dict[str, Any]) -> None:
    """One JSON line per log record; the call's events with stable names, counting what happened."""
    lines = events(log)
    assert lines and all({"time", "level", "message", "logger"} <= set(line) for line in lines)
    call_events = [line["event"] for line in lines if line.get("call_id") == CALL_SID and "event" in line]
    assert call_events == [
        "call.started",
        "webhook.delivered",
        "call.tool",
        "call.tool",
        "call.ended",
        *["call.record_stored"] * 3,
        *["webhook.delivered"] * 2,
        "call.reported",
    ]
    ended = events(log, "call.ended")[0]
    assert (ended["duration_s"], ended["end_reason"]) == (metadata["duration_s"], "agent_ended")
    assert [e["name"] for e in events(log, "call.tool")] == ["get_current_weather", "end_call"]
    assert events(log, "call.started")[0]["caller_number"] == "+*******4567"  # logs always mask the caller
    assert events(log, "call.reported")[0]["webhooks_delivered"] == 3


async def test_a_transfer_is_recorded_and_webhooks_work_without_storage() -> None:
    nova, receiver = FakeNovaSonic(), Receiver()
    rest_app, updates = twilio_rest()
    async with serve(rest_app) as rest, serve(receiver.app()) as hooks:
        context = AGENT_CONTEXT | {"webhooks": {"endpoints": [{"url": f"http://{hooks}/hooks"}]}}
        env = agent_env(context, TWILIO_API_BASE_URL=f"http://{rest}", WEBHOOK_SIGNING_SECRET=WHSEC)
        with json_log() as log:
            async with serve(bot_app(bot_deps(env, nova))) as bot, websockets.connect(f"ws://{bot}/ws") as ws:
                for message in twilio_start():
                    await ws.send(message)
                stream = await nova.stream()
                await stream.wait_for("promptStart")
                stream.calls_tool("transfer_call", {"reason": "wants a person"})
                await stream.wait_for("toolResult")
                # Twilio moves the call to the new leg: it stops the media stream and closes the socket
                await ws.send(twilio_stop())
                await ws.close()
                await until_logged(log, "call.reported")
    assert [u.get("Status") for u in updates] == [None]  # the transfer, and no hang-up

    assert receiver.types() == ["call.started", "call.ended", "transcript.ready"]
    ended, ready = receiver.hooks[1].json["data"], receiver.hooks[2].json["data"]
    assert (ended["end_reason"], ended["transfer_target"], ended["tools_used"]) == (
        "transferred",
        "+15555550100",
        ["transfer_call"],
    )
    skipped = {"key": None, "status": "skipped", "bytes": None, "error": "no call_records in the configuration"}
    assert ended["records"] == {"transcript.json": skipped, "metadata.json": skipped}
    assert without_times(ready["entries"]) == [
        {
            "type": "tool_call",
            "name": "transfer_call",
            "arguments": {"reason": "wants a person"},
            "result": {"status": "transferring"},
        },
        {"type": "event", "name": "transfer", "target": "+15555550100", "status": "transferring"},
    ]
