"""End to end: a CONTEXT_UPDATE through the daemon reaches a running bot's POST /context via the emulator."""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis
import websockets
from pipecat.services.aws.nova_sonic.session_continuation import SessionContinuationParams

from agent_bot.bot import BotDeps
from config_sync_service.core.config import Settings
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.emulator.server import EmulatorServer
from config_sync_service.schemas.messages import ChangeType
from tests.agent_bot.fake_nova import FakeNovaSonic
from tests.agent_bot.support import agent_env, bot_app, serve, twilio_start
from tests.emulator_control import EmulatorControl
from tests.helpers import agent_row, make_agent, new_version, publish, running_daemon, wait_until


async def test_context_update_reaches_the_running_bot(
    reveal_secret_values: None,
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    emulator: EmulatorServer,
) -> None:
    agent = await make_agent(
        session_factory, llm_context={"system_prompt": "You are version one.", "tools": ["end_call"]}
    )
    async with running_daemon(daemon_settings):
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)

        async def synced(version: int) -> bool:
            row = await agent_row(session_factory, agent.id)
            return row.sync_status is SyncStatus.SYNCED and row.synced_version == version

        await wait_until(lambda: synced(1), what="v1 synced")
        # a caller is on the line: Pipecat runs our bot for that session, with the secret set's AGENT_CONFIG
        secrets = await control.secret_values(f"{agent.pipecat_agent_name}-config")
        assert secrets is not None
        session_id = await control.add_session(agent.pipecat_agent_name)
        nova = FakeNovaSonic()
        deps = BotDeps(
            environ=agent_env(**{"AGENT_CONFIG": secrets["AGENT_CONFIG"]}),
            llm_class=nova.llm_class(),
            session_continuation=SessionContinuationParams(enabled=False),
        )
        async with serve(bot_app(deps, session_id)) as bot, websockets.connect(f"ws://{bot}/ws") as ws:
            for message in twilio_start():
                await ws.send(message)
            first = await nova.stream(0)
            await first.wait_for("textInput")
            assert first.system_text().startswith("You are version one.")
            async with httpx.AsyncClient() as http:  # the emulator's Session API forwards to this bot
                await http.put(
                    f"{emulator.url}/_emulator/bots/{agent.pipecat_agent_name}", json={"url": f"http://{bot}"}
                )

            version = await new_version(
                session_factory,
                agent.id,
                llm_context={"system_prompt": "You are version two.", "voice_id": "amy", "tools": ["end_call"]},
            )
            await publish(redis, daemon_settings, agent.id, version, ChangeType.CONTEXT_UPDATE)
            second = await nova.stream(1, timeout=15)
            await second.wait_for("textInput")
            assert second.system_text().startswith("You are version two.") and second.voice() == "amy"
            await wait_until(lambda: synced(version), what="v2 synced")

    proxied = await control.calls(agent.pipecat_agent_name, op="sessionProxy")
    assert [(c["status"], c["key_type"], c["body"]["version"]) for c in proxied] == [(200, "public", version)]
