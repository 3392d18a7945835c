"""Loopback servers for the bot tests: the bot's own app, a Twilio REST stand-in, a weather API stand-in."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import uvicorn
import websockets
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse
from loguru import logger
from pipecat.runner.types import WebSocketRunnerArguments

from agent_bot import context_api
from agent_bot.bot import BotDeps, run_bot
from tests.helpers import free_port

STREAM_SID = "MZ00000000000000000000000000000001"
CALL_SID = "CA00000000000000000000000000000001"
ACCOUNT_SID = "AC00000000000000000000000000000001"
AGENT_CONTEXT: dict[str, Any] = {
    "system_prompt": "You are Ada's travel helper.",
    "greeting": "Hello, this is Ada's travel desk!",
    "voice_id": "tiffany",
    "tools": ["get_current_weather", "end_call", "transfer_call"],
    "transfer_number": "+15555550100",
    "guardrails": ["Never book anything."],
    "allowed_overrides": ["caller_name"],
}


def agent_env(context: dict[str, Any] | None = None, /, **extra: str) -> dict[str, str]:
    """The bot's environment as the secret set gives it (fake credentials; URLs added by each test)."""
    config = {"agent_id": "agent-123", "version": 3, "llm_context": context or AGENT_CONTEXT}
    return {
        "AGENT_CONFIG": json.dumps(config),
        "AWS_ACCESS_KEY_ID": "AKIATEST",
        "AWS_SECRET_ACCESS_KEY": "secret-x",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": "twilio-token",
    } | extra


@contextlib.contextmanager
def log_lines(level: str = "DEBUG") -> Iterator[list[str]]:
    """The bot's log messages (loguru) at `level` and above, while the block runs."""
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message).rstrip("\n")), level=level, format="{message}")
    try:
        yield lines
    finally:
        logger.remove(sink)


async def closed_by_bot(ws: websockets.ClientConnection, messages: list[str]) -> bool:
    """Send `messages` and wait (5 s at most) for the other side to close the socket."""
    try:
        for message in messages:
            await ws.send(message)
        await asyncio.wait_for(ws.recv(), 5)
    except websockets.ConnectionClosed:
        return True
    return False


async def collect(ws: websockets.ClientConnection, into: list[dict[str, Any]]) -> None:
    try:
        async for raw in ws:
            into.append(json.loads(raw))
    except websockets.ConnectionClosed:
        return


def media_bytes(messages: list[dict[str, Any]]) -> int:
    return sum(len(base64.b64decode(m["media"]["payload"])) for m in messages if m.get("event") == "media")


async def until(check: Callable[[], object], timeout: float = 10.0) -> None:
    async def loop() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), timeout)


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free loopback port in this event loop; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off", ws="websockets-sansio")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, 10)


def twilio_rest() -> tuple[FastAPI, list[dict[str, Any]]]:
    """A Twilio REST stand-in that records call updates (hang-ups and transfers)."""
    app, updates = FastAPI(), []

    @app.post("/2010-04-01/Accounts/{account}/Calls/{call}.json")
    async def update_call(account: str, call: str, request: Request) -> dict[str, str]:
        form = await request.form()
        updates.append(
            {
                "account": account,
                "call": call,
                "auth": request.headers.get("authorization", ""),
                **{k: str(v) for k, v in form.items()},
            }
        )
        return {"sid": call, "status": "in-progress"}

    return app, updates


def weather_api(*, fail: bool = False) -> FastAPI:
    """Open-Meteo's geocoding and forecast endpoints; `fail` makes the forecast answer 503."""
    app = FastAPI()

    @app.get("/geo")
    async def geo(name: str) -> dict[str, Any]:
        return {"results": [{"name": name.title(), "latitude": 48.85, "longitude": 2.35}]}

    @app.get("/forecast")
    async def forecast() -> Any:
        if fail:
            return JSONResponse({"error": "down"}, status_code=503)
        return {"current": {"temperature_2m": 21.5, "wind_speed_10m": 9.0, "weather_code": 1}}

    return app


def weather_env(base: str) -> dict[str, str]:
    return {"WEATHER_GEOCODING_URL": f"http://{base}/geo", "WEATHER_FORECAST_URL": f"http://{base}/forecast"}


def bot_app(deps: BotDeps, session_id: str = "session-1") -> FastAPI:
    """What the base image does: `/ws` runs `bot()`; `/context` is the Session API route."""
    app = FastAPI()
    context_api.install(app)

    @app.websocket("/ws")
    async def media_stream(websocket: WebSocket) -> None:
        await websocket.accept()
        await run_bot(WebSocketRunnerArguments(websocket=websocket, session_id=session_id), deps)
        with contextlib.suppress(Exception):
            await websocket.close()

    return app


def twilio_start(custom: dict[str, str] | None = None, call_sid: str = CALL_SID) -> list[str]:
    return [
        json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
        json.dumps(
            {
                "event": "start",
                "sequenceNumber": "1",
                "streamSid": STREAM_SID,
                "start": {
                    "streamSid": STREAM_SID,
                    "accountSid": ACCOUNT_SID,
                    "callSid": call_sid,
                    "tracks": ["inbound"],
                    "customParameters": custom or {},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        ),
    ]


def twilio_stop() -> str:
    """What Twilio sends when the call leaves the stream (the caller hung up, or the call was transferred)."""
    return json.dumps({"event": "stop", "streamSid": STREAM_SID, "stop": {"callSid": CALL_SID}})


def twilio_media(chunks: int, byte: int = 0x7F) -> list[str]:
    """`chunks` × 20 ms of 8 kHz μ-law (160 bytes each)."""
    payload = base64.b64encode(bytes([byte]) * 160).decode()
    return [
        json.dumps(
            {
                "event": "media",
                "streamSid": STREAM_SID,
                "media": {"track": "inbound", "chunk": str(i), "payload": payload},
            }
        )
        for i in range(chunks)
    ]
