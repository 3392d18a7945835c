"""What the database tests share: an agent (and version 1 of its configuration) written as the backend does."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from config_sync_service.db import crud
from config_sync_service.db.models import Agent

DEPLOYMENT = {"image": "dailyco/agent:1.0", "agent_profile": "agent-1x", "min_agents": 0, "max_agents": 2}
CONTEXT = {"system_prompt": "You are helpful.", "voice_id": "matthew"}


async def new_agent(session: AsyncSession, name: str, **config: object) -> Agent:
    agent = await crud.create_agent(session, name=name.title(), pipecat_agent_name=name)
    if config.get("with_config", True):
        await crud.add_configuration(
            session, agent_id=agent.id, deployment=DEPLOYMENT, llm_context=CONTEXT, secrets={"TENANT_TOKEN": "s3cr3t"}
        )
    await session.commit()
    return agent
