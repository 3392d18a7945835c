"""`/metrics`: Prometheus text format whose values match what the test did, in one process and added up over two
gunicorn workers (multiprocess mode)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from config_sync_service.core.config import Settings
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.mq.dead_letter import DeadLetterQueue
from config_sync_service.schemas.messages import ChangeType
from tests.cli.support import run_cli
from tests.emulator_control import EmulatorControl
from tests.helpers import agent_row, daemon_env, free_port, kill_group, make_agent, publish, running_daemon, wait_until

ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, by (name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every sample of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def _settled(session_factory: SessionFactory, good: Any, bad: Any) -> bool:
    rows = [await agent_row(session_factory, a.id) for a in (good, bad)]
    return [r.sync_status for r in rows] == [SyncStatus.SYNCED, SyncStatus.ERROR_SYNC]


async def test_metrics_match_what_happened(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    async with running_daemon(daemon_settings) as daemon:
        before = parse((await daemon.get("/metrics")).text)
        good = await make_agent(session_factory)  # after the startup sweep: only the messages below move them
        bad = await make_agent(session_factory, deployment={"image": "dailyco/pipecat-agent"})
        await redis.publish(daemon_settings.updates_channel, b"{oops")
        await publish(redis, daemon_settings, good.id, 1, ChangeType.PROVISION)
        await publish(redis, daemon_settings, bad.id, 1, ChangeType.PROVISION)
        await wait_until(lambda: _settled(session_factory, good, bad), what="one SYNCED, one ERROR_SYNC")
        response = await daemon.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain; version=")
        openmetrics = await daemon.get("/metrics", headers={"Accept": "application/openmetrics-text"})
        assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
        assert openmetrics.text.endswith("# EOF\n")
        after = parse(response.text)

    assert delta(after, before, "config_sync_messages_received_total") == 3
    assert delta(after, before, "config_sync_messages_total", outcome="invalid") == 1
    assert delta(after, before, "config_sync_messages_total", outcome="dead_lettered") == 2
    assert delta(after, before, "config_sync_messages_total", outcome="applied") == 1
    assert delta(after, before, "config_sync_messages_total", outcome="failed") == 1
    assert delta(after, before, "config_sync_retries_total") == 0
    assert value(after, "config_sync_dlq_depth") == 2
    assert value(after, "config_sync_agents", sync_status="SYNCED") == 1
    assert value(after, "config_sync_agents", sync_status="ERROR_SYNC") == 1
    assert value(after, "config_sync_agents", sync_status="DEPLOYING") == 0
    assert value(after, "config_sync_queue_depth") == 0 and value(after, "config_sync_in_flight") == 0
    assert 0 <= value(after, "config_sync_seconds_since_last_sweep") < 60
    processed = total(after, "config_sync_sync_duration_seconds_count") - total(
        before, "config_sync_sync_duration_seconds_count"
    )
    assert processed >= 3  # good: provision + at least one poll; bad: the failure

    # every Pipecat call the emulator answered was counted, by operation and status, with its latency
    for call in await control.calls():
        op, status = call["op"], str(call["status"])
        counted = delta(after, before, "config_sync_pipecat_calls_total", operation=op, status=status)
        expected = len([c for c in await control.calls(op=op) if str(c["status"]) == status])
        assert counted == expected, (op, status)
    creates = delta(after, before, "config_sync_pipecat_call_duration_seconds_count", operation="createService")
    assert creates == 1


@contextlib.contextmanager
def gunicorn(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`gunicorn -c gunicorn.conf.py config_sync_service.main:app --workers 2`, its own process group, killed after."""
    command = [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py"]
    command += ["config_sync_service.main:app", "--workers", "2"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        kill_group(proc)


async def test_metrics_add_up_over_two_gunicorn_workers(
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    tmp_path: Path,
) -> None:
    """Every worker receives every message; exactly one applies each change. A scrape answered by either worker
    shows the pod's totals: received twice per message, the one apply, the dead letters in Redis (one for the
    invalid payload both workers rejected). A CLI replay that every worker receives is run once (one new dead
    letter, not two)."""
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    env = daemon_env(daemon_settings) | {"PORT": str(port), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    good = await make_agent(session_factory)
    bad = await make_agent(session_factory, deployment={"image": "dailyco/pipecat-agent"})
    log_path = tmp_path / "gunicorn.log"
    with gunicorn(env, log_path) as proc:
        # a new connection per request, so that either worker may answer
        no_keepalive = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5, limits=no_keepalive) as http:

            async def owners() -> set[str]:
                if proc.poll() is not None:
                    raise AssertionError(f"gunicorn exited:\n{log_path.read_text()[-3000:]}")
                seen: set[str] = set()
                for _ in range(20):
                    with contextlib.suppress(httpx.TransportError):
                        if (await http.get("/readyz")).status_code == 200:
                            seen.add((await http.get("/status")).json()["owner"])
                return seen if len(seen) == 2 else set()

            await wait_until(owners, timeout=60, interval=0.2, what="both workers ready")

            await redis.publish(daemon_settings.updates_channel, b"{oops")
            await publish(redis, daemon_settings, good.id, 1, ChangeType.PROVISION)
            await publish(redis, daemon_settings, bad.id, 1, ChangeType.PROVISION)
            await wait_until(lambda: _settled(session_factory, good, bad), timeout=30, what="SYNCED and ERROR_SYNC")
            dlq = DeadLetterQueue(redis, key=daemon_settings.dlq_key, max_len=100)

            async def scrape() -> Samples:
                return parse((await http.get("/metrics")).text)

            async def quiet() -> Samples:
                samples = await scrape()
                idle = value(samples, "config_sync_queue_depth") == value(samples, "config_sync_in_flight") == 0
                return samples if idle and value(samples, "config_sync_dlq_depth") == 2 else {}

            await wait_until(quiet, timeout=20, interval=0.2, what="idle workers and two dead letters")
            scrapes = [await scrape() for _ in range(8)]
            for samples in scrapes:  # whichever worker answered, the pod's totals
                assert value(samples, "config_sync_messages_received_total") == 6
                assert value(samples, "config_sync_messages_total", outcome="invalid") == 2  # each worker's copy
                skipped = value(samples, "config_sync_engine_events_total", event="dead_letter_copies_skipped")
                assert skipped == 1  # ... dead-lettered by the first of them
                assert value(samples, "config_sync_messages_total", outcome="applied") == 1
                assert value(samples, "config_sync_messages_total", outcome="failed") == 1
                dead = value(samples, "config_sync_messages_total", outcome="dead_lettered")
                assert dead == await dlq.depth() == 2
                assert value(samples, "config_sync_dlq_depth") == 2
                assert value(samples, "config_sync_agents", sync_status="SYNCED") == 1
                assert value(samples, "config_sync_agents", sync_status="ERROR_SYNC") == 1
                creates = await control.calls(op="createService")
                assert total(samples, "config_sync_pipecat_calls_total", operation="createService") == len(creates)
                assert len(creates) == 1
                assert value(samples, "config_sync_seconds_since_last_sweep") < 120

            replayed = await run_cli(daemon_settings, "dlq", "replay", "--agent", str(bad.id))
            assert replayed.code == 0 and "replayed 1 of 1 entries" in replayed.stdout, replayed.stderr

            async def came_back() -> list[Any]:
                entries = [e for e in await dlq.entries() if e.agent_id == str(bad.id)]
                return entries if entries and entries[0].replay_count == 1 else []

            await wait_until(came_back, timeout=20, what="the replayed agent's new dead letter")
            await asyncio.sleep(1.5)  # the other worker's copy, had it been forced, would have failed by now
            again = [e for e in await dlq.entries() if e.agent_id == str(bad.id)]
            assert [e.replay_count for e in again] == [1]
            assert (await agent_row(session_factory, bad.id)).attempts == 2
            samples = await scrape()
            assert value(samples, "config_sync_messages_received_total") == 8
            assert value(samples, "config_sync_messages_total", outcome="failed") == 2

        logs = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        assert any(r.get("event") == "sync.failed" and r.get("agent_id") == str(bad.id) for r in logs)
