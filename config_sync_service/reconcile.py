"""`config-sync reconcile`: hints that make the running daemons look at agents now, instead of at the next sweep."""

from __future__ import annotations

import uuid

from config_sync_service.core.config import Settings
from config_sync_service.db import crud
from config_sync_service.db.session import create_engine, create_session_factory
from config_sync_service.dev import publish
from config_sync_service.schemas.messages import ChangeType


async def request_reconcile(settings: Settings, agent_id: uuid.UUID | None = None) -> int:
    """Publish a FULL_SYNC hint for `agent_id`, or for every agent the sweep would queue; returns how many.

    A hint only names the agent: the daemons read its current rows and do whatever they say is needed.
    """
    engine = create_engine(settings, application_name="config-sync-cli")
    try:
        async with create_session_factory(engine)() as session:
            if agent_id is not None:
                config = await crud.get_active_configuration(session, agent_id=agent_id)
                targets = [(agent_id, config.version if config else 1)]
            else:
                targets = [
                    (d.agent_id, d.active_version or d.synced_version or 1)
                    for d in await crud.list_drifted_agents(session)
                ]
    finally:
        await engine.dispose()
    for target, version in targets:
        await publish(settings, target, max(1, version), ChangeType.FULL_SYNC)
    return len(targets)
