"""A Daily session's records, as far as this machine can run one.

Joining a Daily room needs Daily's servers, so the session's transport is replaced at its one seam
(`BotDeps.daily_transport`) by a websocket transport carrying the same audio frames (pipecat's protobuf
serializer). Exercised: the bot's Daily entry (`DailyRunnerArguments`, its body and session id), a dial-in
caller's number from the body, the Daily tool set, the pipeline with its recording at the transport's 24 kHz, the
caller leaving, and the records and webhooks. Not exercised: `DailyTransport` itself (room, participants, Daily's
media path) and Daily's PSTN dial-in handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import wave
from datetime import datetime
from typing import Any

import websockets
from fastapi import FastAPI, WebSocket
from pipecat.frames.frames import OutputAudioRawFrame
from pipecat.runner.types import DailyRunnerArguments
from pipecat.serializers.protobuf import ProtobufFrameSerializer
from pipecat.transports.base_transport import BaseTransport
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from standardwebhooks import Webhook

from agent_bot.bot import BotDeps, run_bot
from tests.agent_bot.fake_nova import FakeNovaSonic, tone
from tests.agent_bot.records_support import (
    RECORDS_ENV,
    WHSEC,
    Receiver,
    S3Server,
    bot_deps,
    json_log,
    records_context,
    said,
    until_logged,
)
from tests.agent_bot.support import agent_env, serve, until

SESSION_ID = "3f1c2d4e-5b6a-4c7d-8e9f-0a1b2c3d4e5f"  # Pipecat Cloud's id for the session
CALLER = "+15557654321"
BODY = {
    "dialin_settings": {"call_id": "c-1", "call_domain": "d-1", "From": CALLER, "To": "+15550001111"},
    "caller_name": "Ada",
}
PREFIX = f"voice/test/agents/agent-123/calls/{SESSION_ID}"


def daily_app(deps: BotDeps) -> FastAPI:
    """What Pipecat Cloud does for a Daily session (`bot(DailyRunnerArguments)`), with the room's media carried
    over this websocket instead of Daily's network."""
    app = FastAPI()

    @app.websocket("/room")
    async def room(websocket: WebSocket) -> None:
        await websocket.accept()

        def over_websocket(_args: DailyRunnerArguments) -> BaseTransport:
            params = FastAPIWebsocketParams(
                audio_in_enabled=True, audio_out_enabled=True, serializer=ProtobufFrameSerializer()
            )
            return FastAPIWebsocketTransport(websocket, params)

        args = DailyRunnerArguments(room_url="https://acme.daily.co/r1", token="t", body=BODY, session_id=SESSION_ID)
        await run_bot(args, dataclasses.replace(deps, daily_transport=over_websocket))

    return app


async def participant(ws: Any, heard: list[int]) -> None:
    """The browser's side: 20 ms of 16 kHz microphone audio every 20 ms, and what the agent says back."""
    serializer = ProtobufFrameSerializer()
    mic = tone(20, 16000, hz=300)

    async def listen() -> None:
        async for raw in ws:
            frame = await serializer.deserialize(raw)
            heard.append(len(getattr(frame, "audio", b"")))

    listener = asyncio.create_task(listen())
    try:
        while True:
            await ws.send(await serializer.serialize(OutputAudioRawFrame(audio=mic, sample_rate=16000, num_channels=1)))
            await asyncio.sleep(0.02)
    except websockets.ConnectionClosed:
        return
    finally:
        listener.cancel()


async def test_a_daily_session_is_stored_and_announced(s3: S3Server, bucket: str) -> None:
    nova, receiver = FakeNovaSonic(), Receiver()
    async with serve(receiver.app()) as hooks:
        context = records_context(s3.url, bucket, hooks)
        context["call_records"]["keep_caller_number"] = True
        env = agent_env(context, **RECORDS_ENV)
        with json_log() as log:
            async with serve(daily_app(bot_deps(env, nova))) as bot:
                heard: list[int] = []
                async with websockets.connect(f"ws://{bot}/room") as ws:
                    talking = asyncio.create_task(participant(ws, heard))
                    stream = await nova.stream()
                    await stream.wait_for("promptStart")
                    assert "transfer_call" not in stream.tool_names()  # nothing to transfer on WebRTC
                    assert "caller name: Ada" in stream.system_text()
                    stream.user_says("Hello, is anyone there?")
                    stream.says("Hi Ada, I'm here.", audio_ms=400)
                    await until(lambda: said("assistant", SESSION_ID) == ["Hi Ada, I'm here."])  # played out
                    assert sum(heard) > 12000  # the agent's voice reached the browser
                    talking.cancel()  # and the participant leaves
                    with contextlib.suppress(asyncio.CancelledError):
                        await talking
                reported = await until_logged(log, "call.reported")
    assert reported["records"] == {"transcript.json": "stored", "recording.wav": "stored", "metadata.json": "stored"}

    metadata = json.loads(s3.read(bucket, f"{PREFIX}/metadata.json"))
    assert {k: metadata[k] for k in ("transport", "call_id", "session_id", "caller_number", "end_reason")} == {
        "transport": "daily",
        "call_id": SESSION_ID,  # a Daily session is named by its session id
        "session_id": SESSION_ID,
        "caller_number": CALLER,  # this configuration keeps it unmasked
        "end_reason": "caller_hung_up",
    }
    assert (metadata["tools_used"], metadata["transfer_target"]) == ([], None)
    transcript = json.loads(s3.read(bucket, f"{PREFIX}/transcript.json"))
    assert [(e["role"], e["text"]) for e in transcript["entries"]] == [
        ("user", "Hello, is anyone there?"),
        ("assistant", "Hi Ada, I'm here."),
    ]
    with wave.open(io.BytesIO(s3.read(bucket, f"{PREFIX}/recording.wav"))) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (24000, 2)  # the transport's (the pipeline's) rate
        seconds = wav.getnframes() / wav.getframerate()
    answered, ended = (datetime.fromisoformat(metadata[k]) for k in ("answered_at", "ended_at"))
    assert abs(seconds - (ended - answered).total_seconds()) < 0.3, (seconds, metadata)

    verifier = Webhook(WHSEC)
    assert receiver.types() == ["call.started", "call.ended", "transcript.ready"]
    for hook in receiver.hooks:
        verifier.verify(hook.body, hook.headers)
    assert receiver.hooks[0].json["data"]["caller_number"] == CALLER
    assert receiver.hooks[1].json["data"]["end_reason"] == "caller_hung_up"
