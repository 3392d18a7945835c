"""Helpers of the operator tests: the real `config-sync` command in a subprocess, and a spy on the channel."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from tests.helpers import daemon_env

CONFIG_SYNC = str(Path(sys.executable).parent / "config-sync")


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


async def run_cli(settings: Settings, *args: str, input: str | None = None, **env: str) -> CliResult:
    """`config-sync ARGS` as an operator runs it (environment from `settings`), without blocking the event loop
    (the daemon under test runs in it)."""
    proc = await asyncio.create_subprocess_exec(
        CONFIG_SYNC,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=daemon_env(settings) | env,
    )
    out, err = await asyncio.wait_for(proc.communicate(input.encode() if input is not None else None), timeout=60)
    assert proc.returncode is not None
    return CliResult(proc.returncode, out.decode(), err.decode())


class ChannelSpy:
    """Everything published on a channel while the spy is subscribed."""

    def __init__(self, redis_url: str, channel: str) -> None:
        self.client = aioredis.Redis.from_url(redis_url)
        self.channel = channel
        self.messages: list[bytes] = []

    async def _collect(self, pubsub: Any) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None and message["type"] == "message":
                self.messages.append(message["data"])

    async def settle(self, seconds: float = 0.5) -> list[bytes]:
        """Wait a little so that anything published by now has arrived; the messages so far."""
        await asyncio.sleep(seconds)
        return list(self.messages)

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return list(self.messages)


@contextlib.asynccontextmanager
async def channel_spy(settings: Settings) -> AsyncIterator[ChannelSpy]:
    spy = ChannelSpy(settings.redis_url, settings.updates_channel)
    try:
        async with spy.client.pubsub() as pubsub:
            await pubsub.subscribe(settings.updates_channel)
            task = asyncio.create_task(spy._collect(pubsub))
            try:
                yield spy
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        await spy.client.aclose()
