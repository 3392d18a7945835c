"""What the call-records tests run against: a real S3 API server on loopback (moto's server mode), a webhook
receiver, a store that hangs, and the bot's environment and bounds for them."""

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
from fastapi import FastAPI, Request, Response
from loguru import logger
from moto.server import ThreadedMotoServer

from agent_bot import logs
from agent_bot.reporting import DeliveryPolicy
from agent_bot.storage import StoragePolicy
from agent_bot.webhooks import WebhookPolicy

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


@contextlib.asynccontextmanager
async def hanging_store() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A TCP server that takes connections and never answers, until the event is set; then it closes them and
    stops listening. Yields its URL and the event."""
    release = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await release.wait()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", release
    finally:
        release.set()
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
