"""Daemon processes, bulk data and convergence checks for the resilience tests."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from config_sync_service.core.config import Settings
from config_sync_service.db.session import SessionFactory, transaction
from config_sync_service.emulator.server import EmulatorServer
from config_sync_service.schemas.messages import ChangeType
from tests.helpers import CONTEXT, DEPLOYMENT, daemon_env, free_port, kill_group

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "build" / "resilience"


class DaemonProcess:
    """config-sync as a real process: uvicorn (one worker) or gunicorn (`workers` uvicorn workers)."""

    def __init__(self, settings: Settings, log_path: Path, *, workers: int = 1, log_level: str = "WARNING") -> None:
        self.settings = settings
        self.log_level = log_level
        self.port = free_port()
        self.log_path = log_path
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        prometheus_dir = self.log_path.parent / f"prom-{self.port}"
        prometheus_dir.mkdir(parents=True, exist_ok=True)
        env = daemon_env(self.settings) | {
            "LOG_LEVEL": self.log_level,
            "WEB_CONCURRENCY": str(self.workers),
            "BIND": f"127.0.0.1:{self.port}",
            "PROMETHEUS_MULTIPROC_DIR": str(prometheus_dir),
        }
        if self.workers == 1:
            argv = [
                sys.executable,
                "-m",
                "uvicorn",
                "config_sync_service.main:app",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ]
        else:
            argv = [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(REPO / "gunicorn.conf.py"),
                "config_sync_service.main:app",
            ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    async def wait_ready(self, timeout: float = 40) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                assert self.proc is not None and self.proc.poll() is None, self.tail()
                try:
                    if (await http.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"daemon not ready after {timeout}s\n{self.tail()}")

    async def healthz(self) -> int:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"http://127.0.0.1:{self.port}/healthz", timeout=5)).status_code

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            kill_group(self.proc, sig, timeout_s=30)
            if self.proc.poll() is None:  # it ignored `sig`
                kill_group(self.proc)

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


async def bulk_agents(sessions: SessionFactory, count: int, *, prefix: str) -> list[uuid.UUID]:
    """`count` agents with version 1 active, inserted in one statement each (the backend's writes)."""
    ids = [uuid.uuid4() for _ in range(count)]
    async with transaction(sessions) as s:
        await s.execute(
            sa.text(
                "INSERT INTO agents (id, name, pipecat_agent_name) "
                "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:names AS text[]), CAST(:pnames AS text[]))"
            ),
            {
                "ids": ids,
                "names": [f"{prefix} {i}" for i in range(count)],
                "pnames": [f"{prefix}-{i}" for i in range(count)],
            },
        )
        await s.execute(
            sa.text(
                "INSERT INTO agent_configurations (id, agent_id, version, is_active, deployment, llm_context) "
                "SELECT gen_random_uuid(), a, 1, true, CAST(:d AS jsonb), CAST(:c AS jsonb) "
                "FROM unnest(CAST(:ids AS uuid[])) a"
            ),
            {"ids": ids, "d": json.dumps(DEPLOYMENT), "c": json.dumps(CONTEXT)},
        )
    return ids


async def bump_versions(
    sessions: SessionFactory, ids: Sequence[uuid.UUID], *, times: int = 1
) -> list[tuple[uuid.UUID, int]]:
    """Add `times` new versions to each agent (a changed system prompt), as the backend would; returns
    (agent, version) for every version written, in commit order."""
    written: list[tuple[uuid.UUID, int]] = []
    for _ in range(times):
        async with transaction(sessions) as s:
            rows = (
                await s.execute(
                    sa.text(
                        "WITH old AS (UPDATE agent_configurations SET is_active = false "
                        "WHERE agent_id = ANY(:ids) AND is_active "
                        "RETURNING agent_id, version, deployment, llm_context) "
                        "INSERT INTO agent_configurations (id, agent_id, version, is_active, deployment, llm_context) "
                        "SELECT gen_random_uuid(), agent_id, version + 1, true, deployment, "
                        "jsonb_set(llm_context, '{system_prompt}', to_jsonb('v' || (version + 1)::text)) FROM old "
                        "RETURNING agent_id, version"
                    ),
                    {"ids": list(ids)},
                )
            ).all()
        written += [(r[0], r[1]) for r in rows]
    return written


async def publish_all(
    redis: Any,
    settings: Settings,
    changes: Sequence[tuple[uuid.UUID, int]],
    change_type: ChangeType = ChangeType.CONTEXT_UPDATE,
) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for agent_id, version in changes:
            pipe.publish(
                settings.updates_channel,
                json.dumps({"agent_id": str(agent_id), "version": version, "change_type": change_type.value}),
            )
        await pipe.execute()


async def lagging(sessions: SessionFactory, ids: Sequence[uuid.UUID]) -> dict[str, int]:
    """How many of `ids` are not yet SYNCED at their active version, by status."""
    async with sessions() as s:
        rows = (
            await s.execute(
                sa.text(
                    "SELECT a.sync_status, count(*) FROM agents a JOIN agent_configurations c ON c.agent_id = a.id "
                    "AND c.is_active WHERE a.id = ANY(:ids) AND (a.sync_status <> 'SYNCED' OR a.synced_version IS NULL "
                    "OR a.synced_version < c.version) GROUP BY 1"
                ),
                {"ids": list(ids)},
            )
        ).all()
    return {str(status): int(n) for status, n in rows}


async def pipecat_mismatches(
    sessions: SessionFactory, emulator: EmulatorServer, ids: Sequence[uuid.UUID], *, default_image: str
) -> list[str]:
    """What Pipecat's side (the emulator's state) gets wrong about `ids`: an active agent must exist with its active
    configuration's image on the desired deployment and, in its secret set, `AGENT_CONFIG` at the active version;
    an agent to be deleted must be gone. Empty when everything matches."""
    async with sessions() as s:
        rows = (
            await s.execute(
                sa.text(
                    "SELECT a.pipecat_agent_name, a.desired_state, c.version, c.deployment->>'image' FROM agents a "
                    "JOIN agent_configurations c ON c.agent_id = a.id AND c.is_active WHERE a.id = ANY(:ids)"
                ),
                {"ids": list(ids)},
            )
        ).all()
    wrong: list[str] = []
    with emulator.state.lock:
        for name, desired, version, image in rows:
            service = emulator.state.services.get(name)
            if str(desired) == "DELETED":
                wrong += [f"{name}: still on Pipecat"] if service is not None else []
                continue
            if service is None:
                wrong.append(f"{name}: no agent on Pipecat")
                continue
            live_image = service.deployments[-1].image
            if live_image != (image or default_image):
                wrong.append(f"{name}: image {live_image}, wants {image or default_image}")
            secret_set = emulator.state.secret_sets.get(str(service.spec.get("secretSet")))
            live_version = (
                json.loads(secret_set.values.get("AGENT_CONFIG", "{}")).get("version") if secret_set else None
            )
            if live_version != version:
                wrong.append(f"{name}: AGENT_CONFIG at v{live_version}, wants v{version}")
    return wrong


async def assert_pipecat_matches(
    sessions: SessionFactory, emulator: EmulatorServer, ids: Sequence[uuid.UUID], *, default_image: str
) -> None:
    """Raises unless Pipecat's side matches every agent's active configuration (pipecat_mismatches)."""
    wrong = await pipecat_mismatches(sessions, emulator, ids, default_image=default_image)
    assert not wrong, f"{len(wrong)} agents differ on Pipecat: {wrong[:10]}"


async def converge(
    sessions: SessionFactory,
    ids: Sequence[uuid.UUID],
    *,
    emulator: EmulatorServer,
    timeout: float,
    daemon: DaemonProcess | None = None,
    default_image: str | None = None,
) -> float:
    """Seconds until every agent is SYNCED at its newest version; fails with what is left after `timeout`, or when
    Pipecat's side (the emulator) does not run what the rows say is synced."""
    started = time.monotonic()
    left: dict[str, int] = {}
    while time.monotonic() - started < timeout:
        left = await lagging(sessions, ids)
        if not left:
            elapsed = time.monotonic() - started
            image = default_image or (
                daemon.settings.agent_image if daemon else Settings.model_fields["agent_image"].default
            )
            await assert_pipecat_matches(sessions, emulator, ids, default_image=image)
            return elapsed
        await asyncio.sleep(0.25)
    raise AssertionError(f"not converged after {timeout}s: {left}\n{daemon.tail() if daemon else ''}")


@dataclass
class Scenario:
    name: str
    agents: int
    changes: int
    converged_s: float
    pipecat_calls: int
    extra: dict[str, Any] = field(default_factory=dict)


def record(scenario: Scenario) -> None:
    """Keep the scenario's figures for the summary (build/resilience/results.json)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "results.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[scenario.name] = scenario.__dict__ | {"converged_s": round(scenario.converged_s, 2)}
    path.write_text(json.dumps(data, indent=2, default=str))
    print(
        f"\nresilience {scenario.name}: {scenario.agents} agents, {scenario.changes} changes, converged in "
        f"{scenario.converged_s:.1f}s with {scenario.pipecat_calls} Pipecat calls {scenario.extra}"
    )
