"""Shared test helpers: run the daemon's own app on a real port, wait for outcomes, make agents."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
import redis
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI

from config_sync_service.api.app import create_app
from config_sync_service.core.config import Settings
from config_sync_service.db import crud
from config_sync_service.db.models import Agent
from config_sync_service.db.session import SessionFactory, transaction
from config_sync_service.devtools.procs import free_port, kill_group
from config_sync_service.runtime import Runtime
from config_sync_service.schemas.messages import ChangeMessage, ChangeType

T = TypeVar("T")
__all__ = ["free_port", "kill_group"]  # the shared helpers, re-exported for the tests that import them from here

DEPLOYMENT = {"image": "dailyco/pipecat-agent:1.0", "agent_profile": "agent-1x", "min_agents": 0, "max_agents": 2}
CONTEXT = {"system_prompt": "You are a helpful agent.", "voice_id": "matthew", "tools": ["end_call"]}


class FakeClock:
    """A monotonic clock that moves only when told to (or when code under test sleeps on it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def wait_until(
    check: Callable[[], Awaitable[T]], *, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


class Daemon:
    """The real app (lifespan, listener, engine) served by uvicorn on a free port in this event loop."""

    def __init__(self, app: FastAPI, server: uvicorn.Server, task: asyncio.Task[None], port: int) -> None:
        self.app = app
        self.server = server
        self.task = task
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.AsyncClient(base_url=self.url, timeout=10)

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(path, **kwargs)


@contextlib.asynccontextmanager
async def running_daemon(settings: Settings) -> AsyncIterator[Daemon]:
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    daemon = Daemon(app, server, task, port)
    try:
        await wait_until(lambda: _started(server, task), timeout=20, what="daemon start")
        await asyncio.wait_for(daemon.runtime.engine.sweeper.first_sweep_done.wait(), timeout=20)
        await wait_until(_async(lambda: daemon.runtime.listener.subscribed), timeout=20, what="subscription")
        yield daemon
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=max(30.0, settings.shutdown_grace_s + 10))
        if not task.done():
            task.cancel()
        await daemon.http.aclose()


async def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()  # surface a failed start
        raise AssertionError("daemon exited during start")
    return bool(server.started)


def _async(fn: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    async def run() -> T:
        return fn()

    return run


async def make_agent(
    sessions: SessionFactory,
    name: str | None = None,
    *,
    deployment: dict[str, Any] | None = None,
    llm_context: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    with_config: bool = True,
) -> Agent:
    """An agent (and version 1 of its configuration) as the backend would write it."""
    async with transaction(sessions) as s:
        agent = await crud.create_agent(
            s, name=name or "Agent", pipecat_agent_name=name or f"agent-{uuid.uuid4().hex[:10]}"
        )
        if with_config:
            await crud.add_configuration(
                s,
                agent_id=agent.id,
                deployment=DEPLOYMENT if deployment is None else deployment,
                llm_context=CONTEXT if llm_context is None else llm_context,
                secrets=secrets or {},
            )
    return agent


async def new_version(sessions: SessionFactory, agent_id: uuid.UUID, **parts: Any) -> int:
    async with transaction(sessions) as s:
        config = await crud.add_configuration(s, agent_id=agent_id, **parts)
        return config.version


async def agent_row(sessions: SessionFactory, agent_id: uuid.UUID) -> Agent:
    async with sessions() as s:
        agent = await crud.get_agent_details(s, agent_id=agent_id)
    assert agent is not None
    return agent


async def publish(
    redis: aioredis.Redis, settings: Settings, agent_id: uuid.UUID, version: int, change_type: ChangeType
) -> None:
    message = ChangeMessage(agent_id=agent_id, version=version, change_type=change_type)
    await redis.publish(settings.updates_channel, message.to_json())


class RedisServer:
    """A test-owned redis-server on its own port, stoppable and restartable."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="cs-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("test redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def config_sync(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m config_sync_service.cli ARGS` to its end (60 s at most): exit code, stdout and stderr as text."""
    return subprocess.run(
        [sys.executable, "-m", "config_sync_service.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def daemon_env(settings: Settings) -> dict[str, str]:
    """Environment variables that reproduce `settings` for a daemon subprocess."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    for name, value in settings.model_dump().items():
        if value is None or name == "agent_secrets":
            continue
        env[name.upper()] = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    for key, secret in settings.agent_secrets.items():
        env[f"AGENT_SECRET_{key}"] = secret.get_secret_value()
    return env
