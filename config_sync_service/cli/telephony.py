"""`config-sync twiml AGENT_ID`: the TwiML that connects a Twilio number to an agent on Pipecat Cloud."""

from __future__ import annotations

import asyncio
import sys
import uuid

import typer

import agent_schema
from agent_schema import telephony
from config_sync_service.cli.common import friendly_errors, settings_or_exit
from config_sync_service.core.config import Settings

# TwiML Bin templates: Twilio fills in the caller's number and the number dialled
CALLER_PARAMETERS = (("from_number", "{{From}}"), ("to_number", "{{To}}"))


def twiml_command(
    agent_id: str = typer.Argument(..., help="The agent's UUID."),
    caller_parameters: bool = typer.Option(
        True,
        "--caller-parameters/--no-caller-parameters",
        help="Pass the caller's number and the number dialled to the bot ({{From}} and {{To}}, which a TwiML Bin "
        "fills in): call records, callbacks and callback texts use them.",
    ),
) -> None:
    """Print the TwiML that connects a Twilio number to the agent on Pipecat Cloud (<Connect><Stream>)."""
    settings = settings_or_exit(quiet=True)
    if not settings.pipecat_org:
        print(
            "config-sync: PIPECAT_ORG is not set (your Pipecat Cloud organization: `pcc --config` shows it)",
            file=sys.stderr,
        )
        raise typer.Exit(2)
    try:
        target = uuid.UUID(agent_id)
    except ValueError:
        print(f"config-sync: not an agent id: {agent_id!r}", file=sys.stderr)
        raise typer.Exit(2) from None
    try:
        with friendly_errors():
            found = asyncio.run(_agent(settings, target))
    except agent_schema.InvalidConfiguration as exc:
        print(f"config-sync: agent {target} has an invalid configuration: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    if found is None:
        print(f"config-sync: no agent {target}", file=sys.stderr)
        raise typer.Exit(1)
    name, region = found
    parameters = [(telephony.SERVICE_HOST_PARAMETER, telephony.service_host(name, settings.pipecat_org))]
    if caller_parameters:
        parameters += CALLER_PARAMETERS
    print(telephony.response(telephony.connect_stream(telephony.stream_url(region), parameters)))


async def _agent(settings: Settings, agent_id: uuid.UUID) -> tuple[str, str | None] | None:
    """The agent's name on Pipecat Cloud and the region it runs in, from Postgres; None if there is no agent."""
    from config_sync_service.db import crud  # here, as every command's own imports: `--help` stays quick
    from config_sync_service.db.session import create_db_engine, create_session_factory
    from config_sync_service.schemas.agent_config import region_of

    db = create_db_engine(settings, application_name="config-sync-cli")
    try:
        async with create_session_factory(db)() as session:
            agent = await crud.get_agent_details(session, agent_id=agent_id)
            config = await crud.get_active_configuration(session, agent_id=agent_id)
    finally:
        await db.dispose()
    if agent is None:
        return None
    deployment = (
        agent_schema.parse(agent_schema.DeploymentConfig, config.deployment, root="deployment").value
        if config
        else None
    )
    return agent.pipecat_agent_name, region_of(deployment.region if deployment else None, settings.agent_region)
