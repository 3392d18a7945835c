"""`/status`: what an operator needs at a glance. Never any secret."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from config_sync_service import __version__
from config_sync_service.api.deps import OperatorDep, RuntimeDep
from config_sync_service.core.redaction import excerpt
from config_sync_service.db import crud, drift, observed, pause, session_versions
from config_sync_service.db.models import utcnow

router = APIRouter(tags=["operators"])
OLDEST_OUT_OF_SYNC = 10
SESSIONS_BEHIND = 10
PAUSED_SHOWN = 20


def _out_of_sync(agent: drift.OutOfSyncAgent) -> dict[str, Any]:
    return {
        "agent_id": str(agent.agent_id),
        "name": agent.name,
        "sync_status": agent.sync_status.value,
        "desired_state": agent.desired_state.value,
        "active_version": agent.active_version,
        "synced_version": agent.synced_version,
        "since": agent.since.isoformat(),
        "for_s": round((utcnow() - agent.since).total_seconds(), 1),
        "attempts": agent.attempts,
        "last_error_class": agent.last_error_class,
        "last_error": None if agent.last_error_message is None else excerpt(agent.last_error_message, 300),
        "paused": agent.paused,
        "paused_reason": agent.paused_reason,
    }


def _sessions_behind(agent: session_versions.AgentSessions) -> dict[str, Any]:
    return {
        "agent_id": str(agent.agent_id),
        "name": agent.name,
        "active_version": agent.active_version,
        "sessions_by_version": {("unknown" if v is None else f"v{v}"): n for v, n in agent.by_version.items()},
        "summary": agent.summary(),
    }


def _paused(agent: pause.Paused) -> dict[str, Any]:
    since = agent.since.isoformat() if agent.since is not None else None
    return {"agent_id": str(agent.agent_id), "name": agent.name, "reason": agent.reason, "since": since}


async def build_status(runtime: RuntimeDep) -> dict[str, Any]:
    engine = runtime.engine
    async with runtime.sessions() as s:
        by_status = await crud.count_agents_by_status(s)
        out_of_sync, oldest = await drift.list_out_of_sync_agents(s, limit=OLDEST_OUT_OF_SYNC)
        behind, lagging = await session_versions.agents_with_sessions_behind(s, limit=SESSIONS_BEHIND)
        live = await observed.live_report(s, limit=OLDEST_OUT_OF_SYNC)
        paused, paused_longest = await pause.list_paused(s, limit=PAUSED_SHOWN)
    sweeper = engine.sweeper
    return {
        "version": __version__,
        "owner": engine.owner,
        "uptime_s": round(time.time() - runtime.started_at, 1),
        "agents_by_status": by_status,
        "out_of_sync": {"count": out_of_sync, "oldest": [_out_of_sync(a) for a in oldest]},
        # live sessions still on an older configuration than their agent's active one (a refused context push)
        "sessions_behind": {"count": behind, "agents": [_sessions_behind(a) for a in lagging]},
        "live": {
            "by_health": live.by_health,
            "unhealthy": live.unhealthy,
            "last_full_observation": None if live.observed_at is None else live.observed_at.isoformat(),
            "orphans": {"count": len(live.orphans), "names": live.orphans[:OLDEST_OUT_OF_SYNC]},
            "self_heal": runtime.settings.self_heal,
            "observe_interval_s": runtime.settings.observe_interval_s,
        },
        "paused": {"count": paused, "agents": [_paused(a) for a in paused_longest]},
        "queue": {"depth": len(engine.queue), "in_flight": engine.queue.in_flight, "scheduled": engine.queue.scheduled},
        "dlq_depth": await runtime.dead_letters.depth(),
        "subscribed": runtime.listener.subscribed,
        "last_sweep": {
            "at": sweeper.last_sweep_at,
            "ago_s": None if sweeper.last_sweep_at is None else round(time.time() - sweeper.last_sweep_at, 1),
            "queued": sweeper.last_sweep_queued,
            "sweeps": sweeper.sweeps,
        },
        "pacing": {
            "next_slot_in_s": round(await runtime.client.pacer.next_slot_in(), 2),
            "pauses": runtime.client.pacer.pauses,
        },
        # this process's counters and last error (each gunicorn worker has its own; /metrics adds them up)
        **engine.stats.snapshot(),
    }


@router.get("/status", dependencies=[OperatorDep])
async def status(runtime: RuntimeDep) -> dict[str, Any]:
    return await build_status(runtime)
