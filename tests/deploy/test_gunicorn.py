"""The daemon started exactly as the image starts it (the Dockerfile's CMD: gunicorn, gunicorn.conf.py, two
uvicorn workers) against real Postgres and Redis and the Pipecat Cloud emulator: the probes answer, an agent
syncs, every log line is JSON, and SIGTERM ends every worker within the grace period after in-flight work
has finished.

A small proxy sits between the daemon and the emulator so that the test can make Pipecat slow on demand and
see which calls completed; it is what keeps a sync in flight when SIGTERM arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from config_sync_service.core.config import Settings
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.emulator.server import EmulatorServer, dev_config
from config_sync_service.schemas.messages import ChangeType
from tests.helpers import agent_row, free_port, kill_group, make_agent, publish, wait_until

ROOT = Path(__file__).resolve().parents[2]
GRACE_S = 12.0  # SHUTDOWN_GRACE_S for the daemon under test; gunicorn's graceful_timeout is this + 5
WORKERS = 2


def image_command() -> list[str]:
    """The Dockerfile's CMD, with `gunicorn` resolved to this venv's script."""
    match = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match is not None, "the Dockerfile has no exec-form CMD"
    command: list[str] = json.loads(match[1])
    assert command[:3] == ["gunicorn", "-c", "gunicorn.conf.py"]
    return [str(Path(sys.executable).parent / command[0]), *command[1:]]


class SlowProxy:
    """HTTP forwarder to the emulator: adds `delay_s` before each call, records completed calls and counts
    the ones in flight."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.delay_s = 0.0
        self.in_flight = 0
        self.completed: list[tuple[str, str, int, float]] = []  # method, path, status, time.monotonic()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def forward(self) -> None:
                with proxy._lock:
                    proxy.in_flight += 1
                try:
                    time.sleep(proxy.delay_s)
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                    with httpx.Client(timeout=30) as client:
                        reply = client.request(self.command, proxy.upstream + self.path, content=body, headers=headers)
                    self.send_response(reply.status_code)
                    for key, value in reply.headers.items():
                        if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(reply.content)))
                    self.end_headers()
                    self.wfile.write(reply.content)
                    with proxy._lock:
                        proxy.completed.append((self.command, self.path, reply.status_code, time.monotonic()))
                finally:
                    with proxy._lock:
                        proxy.in_flight -= 1

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def netloc(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def calls(self, method: str, pattern: str, *, after: float = 0.0) -> list[tuple[str, str, int, float]]:
        """Completed calls of `method` on paths matching `pattern` that ended after `after` (monotonic)."""
        with self._lock:
            return [
                c
                for c in self.completed
                if c[0] == method and re.fullmatch(pattern, c[1].split("?")[0]) and c[3] > after and c[2] < 300
            ]

    def __enter__(self) -> SlowProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def emulator_proxy() -> Iterator[tuple[SlowProxy, dict[str, str]]]:
    """The emulator behind a SlowProxy, and the environment that points the daemon at the proxy."""
    server = EmulatorServer(dev_config(deploy_delay_s=0.5), port=free_port())
    server.start()
    try:
        with SlowProxy(server.url) as proxy:
            env: dict[str, str] = {}
            for name, value in server.client_settings().items():
                text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
                if name == "pipecat_api_url":
                    text = urlunsplit(urlsplit(text)._replace(netloc=proxy.netloc))
                env[name.upper()] = text
            yield proxy, env
    finally:
        server.stop()


def daemon_env(settings: Settings, pipecat: dict[str, str], port: int, metrics_dir: Path) -> dict[str, str]:
    inherited = ("AGENT_SECRET_", "PIPECAT_", "BIND", "GUNICORN_CMD_ARGS")  # none may leak in from the shell
    env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    env.update(pipecat)
    env.update(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        UPDATES_CHANNEL=settings.updates_channel,
        DLQ_KEY=settings.dlq_key,
        DEPLOY_POLL_INTERVAL_S="0.5",
        SHUTDOWN_GRACE_S=str(GRACE_S),
        WEB_CONCURRENCY=str(WORKERS),
        PORT=str(port),
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    return env


def _is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def start_gunicorn(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """The image's CMD in its own process group (so that the test can end all of it), output to `log_path`."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            image_command(), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


async def test_gunicorn_serves_syncs_and_stops_gracefully(
    settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    emulator_proxy: tuple[SlowProxy, dict[str, str]],
    tmp_path: Path,
) -> None:
    proxy, pipecat_env = emulator_proxy
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    env = daemon_env(settings, pipecat_env, port, tmp_path / "prometheus")
    proc = start_gunicorn(env, log_path)
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5)
    try:

        async def probes_pass() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                health, ready = await http.get("/healthz"), await http.get("/readyz")
                return health.status_code == ready.status_code == 200
            return False

        # each request lands on either worker: several passes in a row mean both are up
        for _ in range(6):
            await wait_until(probes_pass, timeout=45, interval=0.2, what="/healthz and /readyz answering 200")
        master = psutil.Process(proc.pid)

        async def all_workers() -> list[int]:
            pids = [p.pid for p in master.children() if p.is_running()]
            return pids if len(pids) == WORKERS else []

        workers = await wait_until(all_workers, timeout=10, what=f"{WORKERS} workers")
        assert (await http.get("/nope")).status_code == 404  # an access-log line to check below

        # one agent syncs end to end
        agent = await make_agent(session_factory)
        await publish(redis, settings, agent.id, 1, ChangeType.PROVISION)

        async def synced(agent_id: Any = agent.id) -> bool:
            row = await agent_row(session_factory, agent_id)
            return row.sync_status == SyncStatus.SYNCED and row.synced_version == 1

        await wait_until(synced, timeout=30, interval=0.2, what="the first agent SYNCED")
        assert proxy.calls("POST", r"/v1/agents")

        # Pipecat turns slow; a second provision is in flight when SIGTERM reaches gunicorn (PID 1 in the pod)
        proxy.delay_s = 1.0
        second = await make_agent(session_factory)
        await publish(redis, settings, second.id, 1, ChangeType.PROVISION)
        await wait_until(lambda: asyncio.sleep(0, proxy.in_flight > 0), timeout=15, what="a Pipecat call in flight")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        returncode = await asyncio.to_thread(proc.wait, GRACE_S + 20)
        elapsed = time.monotonic() - started
        logs = log_path.read_text()
        assert returncode == 0, logs[-3000:]
        assert elapsed < GRACE_S + 5, f"shutdown took {elapsed:.1f}s"
        assert not [pid for pid in workers if psutil.pid_exists(pid)], "a worker outlived the master"

        # the in-flight provision was finished, not cut off: the agent was created and its outcome written
        assert proxy.calls("POST", r"/v1/agents", after=started), proxy.completed
        row = await agent_row(session_factory, second.id)
        assert row.sync_status in (SyncStatus.DEPLOYING, SyncStatus.SYNCED), row.sync_status

        # master, workers and access log alike write JSON lines, and no key leaks
        lines = [line for line in logs.splitlines() if line.strip()]
        assert not [line for line in lines if not _is_json(line)], "log lines that are not JSON"
        records = [json.loads(line) for line in lines]
        assert any(r.get("logger") == "gunicorn.error" and "Starting gunicorn" in r["event"] for r in records)
        assert any(r.get("logger") == "uvicorn.access" and r.get("path") == "/nope" for r in records)
        for key in ("PIPECAT_API_KEY", "PIPECAT_PUBLIC_API_KEY"):
            if pipecat_env.get(key):
                assert pipecat_env[key] not in logs
    finally:
        await http.aclose()
        kill_group(proc)
