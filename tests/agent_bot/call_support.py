"""Playing Twilio's part of a phone call for the bot tests: the media stream (its start with the stream's
parameters, the caller's audio, loud while they speak and silent otherwise, the stop), what comes back, and the
bot's environment for a call with a session cap."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import websockets
from pipecat.services.aws.nova_sonic.session_continuation import SessionContinuationParams

from agent_bot.bot import BotDeps
from agent_bot.guardrails import LimitTiming
from tests.agent_bot.fake_nova import FakeNovaSonic, FakeStream
from tests.agent_bot.records_support import FAST
from tests.agent_bot.support import CALL_SID, STREAM_SID, collect, media_bytes, twilio_start, twilio_stop

LOUD, SILENT = 0x10, 0xFF  # μ-law bytes: a loud sample, and zero


@dataclass
class Phone:
    """One media stream to the bot, as Twilio holds it."""

    ws: websockets.ClientConnection
    speaking: bool = False  # the caller's audio: loud while True, silence otherwise
    received: list[dict[str, Any]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def talk(self) -> None:
        """20 ms of the caller's audio every 20 ms, for the whole call."""
        silent = base64.b64encode(bytes([SILENT]) * 160).decode()
        loud = base64.b64encode(bytes([LOUD]) * 160).decode()
        try:
            while True:
                payload = loud if self.speaking else silent
                await self.ws.send(
                    json.dumps({"event": "media", "streamSid": STREAM_SID, "media": {"payload": payload}})
                )
                await asyncio.sleep(0.02)
        except websockets.ConnectionClosed:
            return

    def media_bytes(self) -> int:
        return media_bytes(self.received)

    async def ended_by_bot(self, timeout: float = 15.0) -> None:
        """Until the bot has closed the stream (the call ended on its side)."""
        assert self.reader is not None
        await asyncio.wait_for(asyncio.shield(self.reader), timeout)

    async def leave(self) -> None:
        """The call leaves the stream (the caller hung up, or Twilio runs a transfer's TwiML): stop, then close."""
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(twilio_stop())
        await self.ws.close()


@contextlib.asynccontextmanager
async def phone_call(url: str, custom: dict[str, str] | None = None, call_sid: str = CALL_SID) -> AsyncIterator[Phone]:
    """A Twilio media stream to `url` with the stream parameters `custom`, the caller silent until told."""
    async with websockets.connect(url) as ws:
        phone = Phone(ws)
        for message in twilio_start(custom, call_sid):
            await ws.send(message)
        phone.reader = asyncio.create_task(collect(ws, phone.received))
        audio = asyncio.create_task(phone.talk())
        try:
            yield phone
        finally:
            audio.cancel()
            phone.reader.cancel()


def with_cap(env: dict[str, str], max_session_duration: int, region: str | None = None) -> dict[str, str]:
    """The environment with the session cap (and region) config-sync writes into AGENT_CONFIG."""
    config = json.loads(env["AGENT_CONFIG"]) | {"max_session_duration": max_session_duration}
    if region:
        config["region"] = region
    return env | {"AGENT_CONFIG": json.dumps(config)}


def deps_for(env: dict[str, str], nova: FakeNovaSonic, timing: LimitTiming | None = None) -> BotDeps:
    """The bot with the fake Nova Sonic, no session rotation, test-sized bounds and, if given, a faster clock."""
    return BotDeps(
        environ=env,
        llm_class=nova.llm_class(),
        session_continuation=SessionContinuationParams(enabled=False),
        delivery=FAST,
        limits=timing or LimitTiming(answer_wait_s=3),
    )


def told(stream: FakeStream, words: str) -> bool:
    """Whether the bot has given the model text (a notice, a greeting) containing `words`."""
    return any(words in text for text, _ in stream.texts("USER"))


def transfer_twiml(twiml: str) -> tuple[ET.Element, dict[str, str] | None, str | None]:
    """A transfer's TwiML: its `<Dial>`, and the `<Connect><Stream>` after it (parameters and URL), if any."""
    root = ET.fromstring(twiml)
    dial = root.find("Dial")
    assert dial is not None, twiml
    stream = root.find("Connect/Stream")
    if stream is None:
        return dial, None, None
    return dial, {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}, stream.attrib["url"]
