"""Demo agents for `config-sync dev` (idempotent: existing agents are left as they are)."""

from __future__ import annotations

import uuid
from typing import Any

from config_sync_service.db import crud
from config_sync_service.db.session import SessionFactory, transaction

DEMO_AGENTS: list[dict[str, Any]] = [
    {
        "name": "Support line",
        "pipecat_agent_name": "demo-support",
        "deployment": {
            "image": "dailyco/pipecat-agent:1.0",
            "agent_profile": "agent-1x",
            "min_agents": 0,
            "max_agents": 2,
        },
        "llm_context": {
            "system_prompt": "You are the support agent of Acme Corp. Be brief and friendly.",
            "greeting": "Hi, this is Acme support. How can I help?",
            "voice_id": "tiffany",
            "tools": ["get_current_weather", "end_call", "transfer_call"],
            "transfer_number": "+15555550100",
        },
    },
    {
        "name": "Weather concierge",
        "pipecat_agent_name": "demo-weather",
        "deployment": {"image": "dailyco/pipecat-agent:1.0", "agent_profile": "agent-1x", "max_agents": 1},
        "llm_context": {
            "system_prompt": "You tell callers the weather anywhere in the world.",
            "voice_id": "matthew",
            "tools": ["get_current_weather", "end_call"],
        },
    },
    {
        "name": "Booking assistant",
        "pipecat_agent_name": "demo-booking",
        "deployment": {
            "image": "dailyco/pipecat-agent:1.0",
            "agent_profile": "agent-2x",
            "min_agents": 1,
            "max_agents": 3,
            "krisp_viva_audio_filter": "tel",
        },
        "llm_context": {
            "system_prompt": "You book table reservations for Chez Pipecat.",
            "voice_id": "amy",
            "tools": ["end_call"],
            "guardrails": ["Never take payment details over the phone."],
        },
    },
]


async def ensure_demo_agents(sessions: SessionFactory, *, fresh_cloud: bool) -> list[tuple[uuid.UUID, str, int]]:
    """Create the demo agents that are missing; return (id, pipecat name, active version) for each.

    With `fresh_cloud` (the built-in emulator starts empty every run) their sync columns are reset to
    PENDING, so what Postgres says matches what the new emulator holds.
    """
    import sqlalchemy as sa
    from sqlmodel import col, select

    from config_sync_service.db.models import Agent, SyncStatus

    if fresh_cloud:
        names = [demo["pipecat_agent_name"] for demo in DEMO_AGENTS]
        async with transaction(sessions) as s:
            await s.execute(
                sa.update(Agent)
                .where(col(Agent.pipecat_agent_name).in_(names))
                .values(
                    sync_status=SyncStatus.PENDING,
                    synced_version=None,
                    target_version=None,
                    pipecat_cloud_instance_id=None,
                    applied_deployment_hash=None,
                    applied_context_hash=None,
                    last_error_message=None,
                    last_error_class=None,
                    attempts=0,
                    next_retry_at=None,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
    found: list[tuple[uuid.UUID, str, int]] = []
    async with transaction(sessions) as s:
        for demo in DEMO_AGENTS:
            existing = (
                await s.execute(select(Agent).where(Agent.pipecat_agent_name == demo["pipecat_agent_name"]))
            ).scalar_one_or_none()
            agent = existing or await crud.create_agent(
                s, name=demo["name"], pipecat_agent_name=demo["pipecat_agent_name"]
            )
            config = await crud.get_active_configuration(s, agent_id=agent.id)
            if config is None:
                config = await crud.add_configuration(
                    s, agent_id=agent.id, deployment=demo["deployment"], llm_context=demo["llm_context"]
                )
            found.append((agent.id, agent.pipecat_agent_name, config.version))
    return found
