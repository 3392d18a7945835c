"""A caller leaves a message: the agent says so, the caller is recorded (the agent muted) until they fall silent,
the agent thanks them and the call ends; the message (audio and words) is in the loopback S3 API server like a call
record, and a signed `voicemail.left` webhook says so."""

from __future__ import annotations

import array
import asyncio
import io
import json
import wave
from typing import Any

from standardwebhooks import Webhook

from agent_bot.session import SESSIONS
from tests.agent_bot.call_support import Phone, deps_for, phone_call, told
from tests.agent_bot.fake_nova import FakeNovaSonic, FakeStream
from tests.agent_bot.records_support import (
    CALLER,
    RECORDS_ENV,
    WHSEC,
    Receiver,
    S3Server,
    events,
    json_log,
    records_context,
    until_logged,
)
from tests.agent_bot.support import CALL_SID, TwilioStandIn, agent_env, bot_app, serve, until

MESSAGE = "Hi Ada, it's Bob. Please call me back about the Lisbon trip."
VOICEMAIL_KEYS = [f"voice/test/agents/agent-123/voicemails/{CALL_SID}/{name}" for name in
                  ("metadata.json", "recording.wav", "transcript.json")]  # fmt: skip


def voicemail_context(s3_url: str, bucket: str, hooks: str, **voicemail: int) -> dict[str, Any]:
    context = records_context(s3_url, bucket, hooks)
    return context | {
        "tools": [*context["tools"], "voicemail"],
        "call_records": context["call_records"] | {"recording": False},  # a message is kept all the same
        "voicemail": {"max_length_s": 20, "silence_s": 1} | voicemail,
    }


def recording(session_id: str = "session-1") -> bool:
    """Whether the running session has started recording a message."""
    session = SESSIONS.get(session_id)
    return session is not None and session.voicemail.tap.file is not None


async def leave_a_message(stream: FakeStream, phone: Phone, session_id: str = "session-1") -> int:
    """Once recording: the caller speaks for 1.5 s (Nova transcribes them; its answer must not be heard), then
    falls silent; the agent thanks them after the silence and the call ends. Returns the agent's audio bytes that
    reached the caller while they spoke."""
    await until(lambda: recording(session_id))
    heard = phone.media_bytes()
    phone.speaking = True
    stream.user_says(MESSAGE)
    stream.says("Sure, I will tell Ada.", audio_ms=400)  # the model answers anyway: muted
    await asyncio.sleep(1.5)
    over_the_message = phone.media_bytes() - heard
    phone.speaking = False
    await until(lambda: told(stream, "message has been recorded"))
    assert not recording(session_id)  # the silence ended it
    stream.says("Thank you, I will pass it on. Goodbye!", audio_ms=500)
    await phone.ended_by_bot()
    return over_the_message


async def test_a_caller_leaves_a_message_that_is_stored_and_announced(s3: S3Server, bucket: str) -> None:
    nova, twilio, receiver = FakeNovaSonic(), TwilioStandIn(), Receiver()
    async with serve(twilio.app()) as rest, serve(receiver.app()) as hooks:
        env = agent_env(voicemail_context(s3.url, bucket, hooks), TWILIO_API_BASE_URL=f"http://{rest}", **RECORDS_ENV)
        with json_log() as log:
            async with (
                serve(bot_app(deps_for(env, nova))) as bot,
                phone_call(f"ws://{bot}/ws", {"from_number": CALLER}) as phone,
            ):
                stream = await nova.stream()
                await stream.wait_for("promptStart")
                assert "voicemail" in stream.tool_names()
                stream.user_says("Ada is out? Can I leave her a message?")
                stream.calls_tool("voicemail", {"reason": "the caller asks to"})
                result = json.loads((await stream.wait_for("toolResult"))[0]["content"])
                assert result["status"] == "recording" and "leave their message now" in result["instruction"]
                stream.says("Of course. Please leave your message now.", audio_ms=500)
                over_the_message = await leave_a_message(stream, phone)
            await until_logged(log, "call.reported")
    assert over_the_message < 800  # the agent said nothing over the message (400 ms of it would be 3,200 bytes)
    assert [u.get("Status") for u in twilio.updates] == ["completed"]  # hung up after the goodbye

    # the message, like a call record: audio, words, metadata
    keys = s3.keys(bucket)
    assert [k for k in keys if "/voicemails/" in k] == VOICEMAIL_KEYS
    metadata = json.loads(s3.read(bucket, VOICEMAIL_KEYS[0]))
    transcript = json.loads(s3.read(bucket, VOICEMAIL_KEYS[2]))
    assert transcript["text"] == MESSAGE and transcript["words"][0]["text"] == MESSAGE
    assert {k: metadata[k] for k in ("call_id", "caller_number", "trigger", "end")} == {
        "call_id": CALL_SID,
        "caller_number": "+*******4567",
        "trigger": "caller_request",
        "end": "silence",
    }
    with wave.open(io.BytesIO(s3.read(bucket, VOICEMAIL_KEYS[1]))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        seconds = wav.getnframes() / wav.getframerate()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    # 1.5 s spoken, then quiet until the silence is noticed (fewer quiet frames arrive on a loaded machine)
    assert abs(seconds - metadata["duration_s"]) < 0.01 and 1.6 < seconds < 4.0, seconds
    assert 1.2 * 16000 < sum(abs(v) > 500 for v in samples) < 1.9 * 16000  # the caller's 1.5 s of speech
    # the call's own records stay where they were, and say how it ended
    assert f"voice/test/agents/agent-123/calls/{CALL_SID}/metadata.json" in keys
    assert (events(log, "call.ended")[0]["end_reason"], events(log, "call.voicemail")[0]["end"]) == (
        "voicemail",
        "silence",
    )
    # voicemail.left, signed, with the words and where the message is
    assert receiver.types() == ["call.started", "voicemail.left", "call.ended", "transcript.ready"]
    hook = receiver.hooks[1]
    left = Webhook(WHSEC).verify(hook.body, hook.headers)["data"]
    assert (left["text"], left["trigger"], left["caller_number"]) == (MESSAGE, "caller_request", "+*******4567")
    assert {name: r["status"] for name, r in left["records"].items()} == dict.fromkeys(
        ("transcript.json", "recording.wav", "metadata.json"), "stored"
    )
    assert left["records"]["recording.wav"]["key"] == VOICEMAIL_KEYS[1]


LIMIT_S = 10  # the shortest message the schema allows


async def test_a_message_the_caller_talks_through_ends_at_the_time_limit(s3: S3Server, bucket: str) -> None:
    nova, twilio, receiver = FakeNovaSonic(), TwilioStandIn(), Receiver()
    async with serve(twilio.app()) as rest, serve(receiver.app()) as hooks:
        context = voicemail_context(s3.url, bucket, hooks, max_length_s=LIMIT_S, silence_s=5)
        env = agent_env(context, TWILIO_API_BASE_URL=f"http://{rest}", **RECORDS_ENV)
        with json_log() as log:
            async with (
                serve(bot_app(deps_for(env, nova))) as bot,
                phone_call(f"ws://{bot}/ws", {"from_number": CALLER}) as phone,
            ):
                stream = await nova.stream()
                await stream.wait_for("promptStart")
                stream.user_says("Can I leave Ada a message?")
                stream.calls_tool("voicemail", {"reason": "the caller asks to"})
                await stream.wait_for("toolResult")
                stream.says("Of course. Please leave your message now.", audio_ms=500)
                await until(recording)
                started = loop_time()
                phone.speaking = True  # and never stops: no silence ends this message
                stream.user_says(MESSAGE)
                await until(lambda: not recording(), timeout=LIMIT_S + 15)
                recorded_for = loop_time() - started
                assert phone.speaking  # the caller was still talking when the message ended
                await until(lambda: told(stream, "message has been recorded"))
                phone.speaking = False
                stream.says("Thank you, I will pass it on. Goodbye!", audio_ms=500)
                await phone.ended_by_bot()
            await until_logged(log, "call.reported")
    assert LIMIT_S - 0.5 < recorded_for < LIMIT_S + 5, recorded_for  # ended by the clock, not at once
    assert [u.get("Status") for u in twilio.updates] == ["completed"]  # hung up after the goodbye

    keys = s3.keys(bucket)
    assert [k for k in keys if "/voicemails/" in k] == VOICEMAIL_KEYS
    metadata = json.loads(s3.read(bucket, VOICEMAIL_KEYS[0]))
    assert (metadata["trigger"], metadata["end"]) == ("caller_request", "time_limit")
    with wave.open(io.BytesIO(s3.read(bucket, VOICEMAIL_KEYS[1]))) as wav:
        seconds = wav.getnframes() / wav.getframerate()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    # about the limit, all of it speech (fewer frames arrive on a loaded machine, never more than the clock allows)
    assert abs(seconds - metadata["duration_s"]) < 0.01 and 0.6 * LIMIT_S < seconds < LIMIT_S + 1, seconds
    assert sum(abs(v) > 500 for v in samples) > 0.9 * len(samples)
    assert (events(log, "call.ended")[0]["end_reason"], events(log, "call.voicemail")[0]["end"]) == (
        "voicemail",
        "time_limit",
    )
    assert receiver.types() == ["call.started", "voicemail.left", "call.ended", "transcript.ready"]
    left = Webhook(WHSEC).verify(receiver.hooks[1].body, receiver.hooks[1].headers)["data"]
    assert (left["text"], left["trigger"]) == (MESSAGE, "caller_request")
    wav_record = left["records"]["recording.wav"]
    assert (wav_record["key"], wav_record["status"]) == (VOICEMAIL_KEYS[1], "stored")


def loop_time() -> float:
    return asyncio.get_running_loop().time()
