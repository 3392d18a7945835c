"""Live sessions: a context push records the version each session's bot says it runs; a session whose bot refused
the push stays on its older version, in /status, `config-sync status` and the reader `diff` uses."""

from __future__ import annotations

import time
import uuid

import redis.asyncio as aioredis

from config_sync_service.cli.render import render_status
from config_sync_service.core.config import Settings
from config_sync_service.db import session_versions
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.db.session_versions import AgentSessions
from config_sync_service.emulator.server import EmulatorServer
from config_sync_service.schemas.messages import ChangeType
from tests.emulator_control import EmulatorControl
from tests.helpers import agent_row, make_agent, new_version, publish, running_daemon, wait_until


async def _synced(sessions: SessionFactory, agent_id: uuid.UUID, version: int) -> bool:
    row = await agent_row(sessions, agent_id)
    return row.sync_status is SyncStatus.SYNCED and row.synced_version == version


async def _push(
    sessions: SessionFactory, redis: aioredis.Redis, settings: Settings, agent_id: uuid.UUID, prompt: str
) -> int:
    version = await new_version(sessions, agent_id, llm_context={"system_prompt": prompt, "tools": ["end_call"]})
    await publish(redis, settings, agent_id, version, ChangeType.CONTEXT_UPDATE)
    await wait_until(lambda: _synced(sessions, agent_id, version), what=f"v{version} synced")
    return version


async def test_a_refused_push_leaves_that_session_on_its_older_version(
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    emulator: EmulatorServer,
) -> None:
    agent = await make_agent(session_factory, name=f"two-callers-{uuid.uuid4().hex[:6]}")
    async with running_daemon(daemon_settings) as daemon:
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)
        await wait_until(lambda: _synced(session_factory, agent.id, 1), what="v1 synced")
        # two callers on the line, each session started on v1 (its AGENT_CONFIG)
        first, second = [await control.add_session(agent.pipecat_agent_name) for _ in range(2)]
        await control.fail_next("sessionProxy", times=1, status=422)  # one bot refuses the context it is sent
        v2 = await _push(session_factory, redis, daemon_settings, agent.id, "You are version two.")

        posts = await control.calls(agent.pipecat_agent_name, op="sessionProxy")
        refused = next(c["path"].split("/")[-2] for c in posts if c["status"] == 422)
        accepted = ({first, second} - {refused}).pop()
        asked = [c["path"] for c in posts if c["method"] == "GET"]  # the refusing bot was asked what it runs
        assert asked == [f"/v1/public/{agent.pipecat_agent_name}/sessions/{refused}/context"]

        async with session_factory() as s:
            live = await session_versions.live_session_versions(s, agent_id=agent.id)
        by_id = {v.session_id: v for v in live}
        assert set(by_id) == {first, second}
        assert (by_id[accepted].version, by_id[accepted].outcome, by_id[accepted].behind) == (v2, "applied", False)
        assert (by_id[refused].version, by_id[refused].outcome, by_id[refused].behind) == (1, "refused", True)
        assert {v.active_version for v in live} == {v2}

        status = (await daemon.get("/status")).json()["sessions_behind"]
        assert status["count"] == 1
        assert status["agents"] == [
            {
                "agent_id": str(agent.id),
                "name": agent.name,
                "active_version": v2,
                "sessions_by_version": {f"v{v2}": 1, "v1": 1},
                "summary": f"1 session on v{v2}, 1 on v1",
            }
        ]
        assert f"1 session on v{v2}, 1 on v1" in render_status((await daemon.get("/status")).json(), url=daemon.url)

        # the refusing caller hangs up; the next push reaches the other one: nothing is behind any more
        with emulator.state.lock:
            emulator.state.sessions[refused].ended = time.time()
        v3 = await _push(session_factory, redis, daemon_settings, agent.id, "You are version three.")
        async with session_factory() as s:
            live = await session_versions.live_session_versions(s, agent_id=agent.id)
        assert [(v.session_id, v.version, v.behind) for v in live] == [(accepted, v3, False)]
        assert (await daemon.get("/status")).json()["sessions_behind"] == {"count": 0, "agents": []}


def test_summary_reads_newest_first() -> None:
    agent = AgentSessions(uuid.uuid4(), "a", 7, {6: 1, 7: 3, None: 2})
    assert agent.summary() == "3 sessions on v7, 1 on v6, 2 on an unknown version"
    assert AgentSessions(uuid.uuid4(), "a", 7, {6: 2}).summary() == "2 sessions on v6"
