"""What the call-records tests run against: a real S3 API server on loopback (moto's server mode), a webhook
receiver, a store that hangs, the bot's environment and bounds for them, and a whole phone call."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3  # type: ignore[import-untyped]
import websockets
from fastapi import FastAPI, Request, Response
from loguru import logger
from moto.server import ThreadedMotoServer
from pipecat.services.aws.nova_sonic.session_continuation import SessionContinuationParams

from agent_bot import logs
from agent_bot.bot import BotDeps
from agent_bot.reporting import DeliveryPolicy
from agent_bot.session import SESSIONS
from agent_bot.storage import StoragePolicy
from agent_bot.webhooks import WebhookPolicy
from tests.agent_bot.fake_nova import FakeNovaSonic
from tests.agent_bot.support import AGENT_CONTEXT, bot_app, collect, serve, twilio_media, twilio_start, until

CALLER = "+15551234567"
WHSEC = "whsec_" + base64.b64encode(b"call-records-test-signing-key-32b").decode()
S3_KEY_ID, S3_SECRET = "AKIACALLRECORDS", "call-records-secret-key"
RECORDS_ENV = {
    "CALL_RECORDS_AWS_ACCESS_KEY_ID": S3_KEY_ID,
    "CALL_RECORDS_AWS_SECRET_ACCESS_KEY": S3_SECRET,
    "WEBHOOK_SIGNING_SECRET": WHSEC,
}
# production's rules with test-sized numbers: a few attempts, short waits
FAST = DeliveryPolicy(
    storage=StoragePolicy(attempts=2, connect_timeout_s=2, read_timeout_s=10, deadline_s=20),
    webhooks=WebhookPolicy(attempts=3, timeout_s=10, backoff_s=0.05, backoff_max_s=0.2, deadline_s=20),
)


def bot_deps(environ: dict[str, str], nova: FakeNovaSonic) -> BotDeps:
    """The bot with the fake Nova Sonic, no session rotation, and the test-sized bounds."""
    return BotDeps(
        environ=environ,
        llm_class=nova.llm_class(),
        session_continuation=SessionContinuationParams(enabled=False),
        delivery=FAST,
    )


@dataclass
class S3Server:
    """moto's S3 API server on 127.0.0.1, and a boto3 client to look into it."""

    url: str
    client: Any

    def bucket(self) -> str:
        name = f"calls-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name

    def empty(self, bucket: str) -> None:
        for item in self.client.list_objects_v2(Bucket=bucket).get("Contents", []):
            self.client.delete_object(Bucket=bucket, Key=item["Key"])
        self.client.delete_bucket(Bucket=bucket)

    def keys(self, bucket: str) -> list[str]:
        return sorted(o["Key"] for o in self.client.list_objects_v2(Bucket=bucket).get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())


@contextlib.contextmanager
def s3_server() -> Iterator[S3Server]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        client = boto3.client(
            "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
        )
        yield S3Server(url, client)
    finally:
        server.stop()


@dataclass
class Hook:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """A webhook receiver: answers `status` to every request, once `hold` (if any) is set."""

    status: int = 204
    hold: asyncio.Event | None = None
    hooks: list[Hook] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hooks")
        async def receive(request: Request) -> Response:
            self.hooks.append(Hook(dict(request.headers), await request.body()))
            if self.hold is not None:
                await self.hold.wait()
            return Response(status_code=self.status)

        return app

    def types(self) -> list[str]:
        return [h.json["type"] for h in self.hooks]


@dataclass
class HangingStore:
    url: str
    release: asyncio.Event
    connections: int = 0


@contextlib.asynccontextmanager
async def hanging_store() -> AsyncIterator[HangingStore]:
    """A TCP server that takes connections and never answers until `release` is set; then it closes them and
    stops listening (so what follows is refused)."""
    store = HangingStore("", asyncio.Event())
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        store.connections += 1
        await store.release.wait()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    store.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield store
    finally:
        store.release.set()
        server.close()
        for writer in held:
            writer.close()


@contextlib.contextmanager
def json_log() -> Iterator[io.StringIO]:
    """The bot's logs, as the JSON-line sink writes them, while the block runs."""
    out = io.StringIO()
    sink = logs.add_json_sink(out, "DEBUG")
    try:
        yield out
    finally:
        logger.remove(sink)


def events(log: io.StringIO, name: str | None = None) -> list[dict[str, Any]]:
    """Every JSON line (each must parse), or those of the call event `name`."""
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    return [line for line in lines if name is None or line.get("event") == name]


async def until_logged(log: io.StringIO, name: str, timeout: float = 30.0) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        while not (found := events(log, name)):
            await asyncio.sleep(0.05)
        return found[0]

    return await asyncio.wait_for(wait(), timeout)


async def caller_audio(ws: Any) -> None:
    """What Twilio does for the whole call: 20 ms of the caller's audio (a loud one) every 20 ms."""
    try:
        while True:
            for message in twilio_media(1, byte=0x10):
                await ws.send(message)
            await asyncio.sleep(0.02)
    except websockets.ConnectionClosed:
        return


def records_context(store_url: str, bucket: str, receiver: str) -> dict[str, Any]:
    """The test agent, keeping its calls (with their audio) under `voice/test` and telling `receiver`."""
    return AGENT_CONTEXT | {
        "call_records": {"bucket": bucket, "prefix": "voice/test", "endpoint_url": store_url, "recording": True},
        "webhooks": {"endpoints": [{"url": f"http://{receiver}/hooks"}]},
    }


def said(role: str, session_id: str = "session-1") -> list[str]:
    """What the running session's record holds of `role`'s turns so far."""
    session = SESSIONS.get(session_id)
    entries = session.call.record.entries() if session else []
    return [e["text"] for e in entries if e.get("role") == role]


async def a_conversation(nova: FakeNovaSonic) -> None:
    """The caller asks for the weather and, once the answer has been played, thanks the agent; the agent ends
    the call after its goodbye."""
    stream = await nova.stream()
    await stream.wait_for("promptStart")
    stream.user_says("What's the weather in Paris?")
    stream.calls_tool("get_current_weather", {"location": "paris"})
    await stream.wait_for("toolResult")
    stream.says("It is twenty-one degrees in Paris.", audio_ms=600)
    await until(lambda: said("assistant") == ["It is twenty-one degrees in Paris."])
    stream.user_says("Thanks, that's all.")
    stream.calls_tool("end_call", {"reason": "caller is done"})
    await stream.wait_for("toolResult", 2)
    stream.says("Goodbye!", audio_ms=500)


@contextlib.asynccontextmanager
async def a_phone_call(deps: BotDeps, nova: FakeNovaSonic) -> AsyncIterator[None]:
    """Serve the bot, place a Twilio call from CALLER and hold the conversation until the bot has hung up and
    closed the stream; yields while the bot still runs (its records and webhooks may be on their way)."""
    async with serve(bot_app(deps)) as bot:
        async with websockets.connect(f"ws://{bot}/ws") as ws:
            received: list[dict[str, Any]] = []
            reader = asyncio.create_task(collect(ws, received))
            for message in twilio_start({"from_number": CALLER}):
                await ws.send(message)
            audio = asyncio.create_task(caller_audio(ws))
            await a_conversation(nova)
            await asyncio.wait_for(reader, 15)  # the bot ended the call and closed the stream
            audio.cancel()
        yield
