"""What a pass did not expect (a bug) ends bounded, through the real daemon: the normal attempts with backoff,
then ERROR_SYNC with a dead letter `internal_error`, one traceback in the logs, and no retry until a new version.

The bug is injected at the narrowest seam: one function of the processor raises. Two seams, because the pass is
in a different state at each: while planning (inside the claim's transaction, which rolls back) and while the
Pipecat calls run (the claim held, the row marked SYNCING).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.processing import processor
from config_sync_service.processing.operations import Operations
from config_sync_service.schemas.messages import ChangeType
from tests.emulator_control import EmulatorControl
from tests.helpers import CONTEXT, agent_row, make_agent, new_version, publish, running_daemon, wait_until

ATTEMPTS = 3


class InjectedBug(RuntimeError):
    pass


def inject(monkeypatch: pytest.MonkeyPatch, seam: str) -> list[object]:
    """Make the seam raise; returns the list of its calls."""
    calls: list[object] = []

    def planning(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        raise InjectedBug("a bug while planning")

    async def provisioning(self: Operations, target: object) -> Any:
        calls.append(target)
        raise InjectedBug("a bug while provisioning")

    seams: dict[str, Callable[[], None]] = {
        "plan": lambda: monkeypatch.setattr(processor, "plan_for", planning),
        "calls": lambda: monkeypatch.setattr(Operations, "provision", provisioning),
    }
    seams[seam]()
    return calls


@pytest.mark.parametrize("seam", ["plan", "calls"])
async def test_a_bug_is_retried_a_bounded_number_of_times_then_internal_error(
    seam: str,
    restore_logging: None,
    reveal_secret_values: None,
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = daemon_settings.model_copy(update={"retry_max_attempts": ATTEMPTS})
    agent = await make_agent(session_factory)
    calls = inject(monkeypatch, seam)
    async with running_daemon(settings) as daemon:
        engine = daemon.runtime.engine
        await publish(redis, settings, agent.id, 1, ChangeType.PROVISION)
        [entry] = await wait_until(daemon.runtime.dead_letters.entries, what="the internal_error dead letter")
        row = await agent_row(session_factory, agent.id)
        assert (entry.reason, entry.error_class, entry.attempts, entry.version) == (
            "internal_error",
            "InjectedBug",
            ATTEMPTS,
            1,
        )
        assert (row.sync_status, row.attempts, row.next_retry_at) == (SyncStatus.ERROR_SYNC, ATTEMPTS, None)
        assert row.last_error_class == "InjectedBug" and row.last_error_message == entry.error_message
        assert len(calls) == ATTEMPTS
        # bounded: nothing waits in the queue and a sweep finds nothing to retry
        assert (engine.queue.scheduled, len(engine.queue), await engine.sweeper.sweep()) == (0, 0, 0)
        assert len(calls) == ATTEMPTS and await control.calls(agent.pipecat_agent_name) == []

        monkeypatch.undo()  # the bug fixed: the agent's next version applies
        version = await new_version(session_factory, agent.id, llm_context=CONTEXT | {"system_prompt": "v2"})
        await publish(redis, settings, agent.id, version, ChangeType.FULL_SYNC)

        async def synced() -> bool:
            row = await agent_row(session_factory, agent.id)
            return row.sync_status is SyncStatus.SYNCED and row.synced_version == version

        await wait_until(synced, what="the next version SYNCED")
    held = await control.secret_values(f"{agent.pipecat_agent_name}-config")
    assert held is not None and json.loads(held["AGENT_CONFIG"])["version"] == version
    _one_traceback(capsys.readouterr().err, str(agent.id))


def _one_traceback(logs: str, agent_id: str) -> None:
    """A line per attempt, the traceback with the first only (one per failure streak, not one per retry)."""
    failed = [r for r in _events(logs) if r["event"] == "sync.failed" and r["agent_id"] == agent_id]
    assert [(r["attempts"], r["kind"], r["dead_letter"]) for r in failed] == [
        (1, "bug", None),
        (2, "bug", None),
        (ATTEMPTS, "bug", "internal_error"),
    ]
    assert logs.count("Traceback (most recent call last)") == 1
    assert "exception" in failed[0] and all("exception" not in r for r in failed[1:])


def _events(logs: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
