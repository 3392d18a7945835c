"""The one faked seam: Nova Sonic's Bedrock bidirectional stream, replaced in process (pipecat-bot.md §5).

`FakeNovaSonic` records every event the real `AWSNovaSonicLLMService` sends and lets a test script what the
"model" answers: user transcripts, tool calls, assistant audio.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
import uuid
from typing import Any

from aws_sdk_bedrock_runtime.models import BidirectionalOutputPayloadPart, InvokeModelWithBidirectionalStreamOutputChunk

from agent_bot.llm import AgentNovaSonic


class FakeStream:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.out: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False
        self.input_stream = self
        self.changed = asyncio.Event()

    # --- what the service calls ---------------------------------------------------------------------
    async def send(self, chunk: Any) -> None:
        self.sent.append(json.loads(chunk.value.bytes_)["event"])
        self.changed.set()

    async def await_output(self) -> tuple[None, FakeStream]:
        return None, self

    async def receive(self) -> Any:
        return await self.out.get()

    async def close(self) -> None:
        self.closed = True
        self.out.put_nowait(None)

    # --- what a test reads ----------------------------------------------------------------------------
    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e[kind] for e in self.sent if kind in e]

    def prompt_start(self) -> dict[str, Any]:
        return self.events("promptStart")[0]

    def voice(self) -> str:
        return str(self.prompt_start()["audioOutputConfiguration"]["voiceId"])

    def tool_names(self) -> list[str]:
        tools = self.prompt_start().get("toolConfiguration", {}).get("tools", [])
        return [t["toolSpec"]["name"] for t in tools]

    def system_text(self) -> str:
        return "".join(text for text, _ in self.texts("SYSTEM"))

    def texts(self, role: str) -> list[tuple[str, bool]]:
        """The text blocks sent with `role` (SYSTEM, USER, ASSISTANT): (content, interactive)."""
        starts = {e["contentName"]: e for e in self.events("contentStart") if e.get("role") == role}
        return [
            (e["content"], bool(starts[e["contentName"]].get("interactive")))
            for e in self.events("textInput")
            if e["contentName"] in starts
        ]

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]]:
            while len(self.events(kind)) < count:
                self.changed.clear()
                await self.changed.wait()
            return self.events(kind)

        return await asyncio.wait_for(enough(), timeout)

    # --- what the "model" says ------------------------------------------------------------------------
    def emit(self, event: dict[str, Any]) -> None:
        payload = json.dumps({"event": event}).encode()
        self.out.put_nowait(
            InvokeModelWithBidirectionalStreamOutputChunk(value=BidirectionalOutputPayloadPart(bytes_=payload))
        )

    def _block(self, kind: str, role: str, body: dict[str, Any] | None, stop: str, stage: str | None = None) -> None:
        start: dict[str, Any] = {"type": kind, "role": role, "contentId": str(uuid.uuid4())}
        if stage:
            start["additionalModelFields"] = json.dumps({"generationStage": stage})
        self.emit({"contentStart": start})
        if body:
            self.emit(body)
        self.emit({"contentEnd": {"stopReason": stop}})

    def user_says(self, text: str) -> None:
        self._block("TEXT", "USER", {"textOutput": {"content": text}}, "END_TURN", "FINAL")

    def calls_tool(self, name: str, arguments: dict[str, Any]) -> str:
        tool_use_id = str(uuid.uuid4())
        self._block(
            "TOOL",
            "TOOL",
            {"toolUse": {"toolName": name, "toolUseId": tool_use_id, "content": json.dumps(arguments)}},
            "TOOL_USE",
        )
        return tool_use_id

    def says(self, text: str, audio_ms: int = 400) -> None:
        self._block("TEXT", "ASSISTANT", {"textOutput": {"content": text}}, "END_TURN", "SPECULATIVE")
        self.emit({"contentStart": {"type": "AUDIO", "role": "ASSISTANT", "contentId": str(uuid.uuid4())}})
        self.emit({"audioOutput": {"content": base64.b64encode(tone(audio_ms, 24000)).decode()}})
        self.emit({"contentEnd": {"stopReason": "END_TURN"}})

    def interrupted(self) -> None:
        self._block("TEXT", "ASSISTANT", {"textOutput": {"content": "I was say"}}, "INTERRUPTED", "FINAL")


class FakeClient:
    def __init__(self, model: FakeNovaSonic) -> None:
        self.model = model

    async def invoke_model_with_bidirectional_stream(self, _operation: Any) -> FakeStream:
        stream = FakeStream()
        self.model.streams.append(stream)
        self.model.opened.set()
        return stream


class FakeNovaSonic:
    """Hands out `FakeStream`s; `llm_class()` is the bot's Nova Sonic service with this fake as its client."""

    def __init__(self) -> None:
        self.streams: list[FakeStream] = []
        self.opened = asyncio.Event()

    def llm_class(self) -> type[AgentNovaSonic]:
        model = self

        class OfflineNovaSonic(AgentNovaSonic):
            def create_client(self) -> Any:
                return FakeClient(model)

        return OfflineNovaSonic

    async def stream(self, index: int = 0, timeout: float = 10.0) -> FakeStream:
        async def ready() -> FakeStream:
            while len(self.streams) <= index:
                self.opened.clear()
                await self.opened.wait()
            return self.streams[index]

        return await asyncio.wait_for(ready(), timeout)


def tone(ms: int, rate: int, hz: float = 440.0) -> bytes:
    """16-bit mono PCM of a sine tone (audible, so resamplers and μ-law have something to carry)."""
    n = rate * ms // 1000
    return b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate))) for i in range(n))
