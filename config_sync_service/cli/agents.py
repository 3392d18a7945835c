"""`config-sync history AGENT_ID`, `pause AGENT_ID --reason TEXT` and `resume AGENT_ID` (Postgres and Redis from
the settings; the work is admin/agents.py's, shared with the HTTP API)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from config_sync_service.cli.common import JSON, VERBOSE, friendly_errors, settings_or_exit
from config_sync_service.core.config import Settings
from config_sync_service.db.session import SessionFactory

T = TypeVar("T")
AGENT_ID = typer.Argument(..., help="The agent's UUID.")


def _agent_id(value: str) -> uuid.UUID:
    from config_sync_service.admin.agents import parse_agent_id

    try:
        return parse_agent_id(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="AGENT_ID") from None


def _run(settings: Settings, work: Callable[[SessionFactory], Awaitable[T]]) -> T:
    """`work` with a session factory on DATABASE_URL; an unknown agent ends the command with exit 1."""
    from config_sync_service.admin.agents import NoSuchAgentError
    from config_sync_service.db.session import create_db_engine, create_session_factory

    async def main() -> T:
        db = create_db_engine(settings, application_name="config-sync-cli")
        try:
            return await work(create_session_factory(db))
        finally:
            await db.dispose()

    with friendly_errors():
        try:
            return asyncio.run(main())
        except NoSuchAgentError as exc:
            print(f"config-sync: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None


def history_command(
    agent_id: str = AGENT_ID,
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=1000, help="Show at most this many passes."),
    as_json: bool = JSON,
    verbose: bool = VERBOSE,
) -> None:
    """Show an agent's sync history, newest first: version, action, outcome, duration, deployment, error."""
    from config_sync_service.admin.agents import agent_history
    from config_sync_service.cli.render import render_history

    target = _agent_id(agent_id)
    settings = settings_or_exit(quiet=not verbose)
    rows = [row.to_dict() for row in _run(settings, lambda s: agent_history(s, target, limit=limit))]
    print(json.dumps(rows, indent=2) if as_json else render_history(rows))


def pause_command(
    agent_id: str = AGENT_ID,
    reason: str = typer.Option(..., "--reason", help="Why (shown with the agent everywhere)."),
    verbose: bool = VERBOSE,
) -> None:
    """Pause an agent: still observed and reported, never changed on Pipecat Cloud until resumed."""
    from config_sync_service.admin.agents import pause_agent
    from config_sync_service.cli.render import printable

    if not reason.strip():
        raise typer.BadParameter("give a reason", param_hint="--reason")
    target = _agent_id(agent_id)
    settings = settings_or_exit(quiet=not verbose)
    _run(settings, lambda s: pause_agent(s, target, reason=reason))
    print(printable(f"config-sync: paused agent {target} ({reason.strip()})"))


def resume_command(agent_id: str = AGENT_ID, verbose: bool = VERBOSE) -> None:
    """Resume a paused agent: whatever is pending is applied at once (a hint on UPDATES_CHANNEL)."""
    import redis.asyncio as aioredis

    from config_sync_service.admin.agents import Resumed, resume_agent

    target = _agent_id(agent_id)
    settings = settings_or_exit(quiet=not verbose)

    async def work(sessions: SessionFactory) -> Resumed:
        client = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=10)
        try:
            return await resume_agent(sessions, client, target, channel=settings.updates_channel)
        finally:
            await client.aclose()

    resumed = _run(settings, work)
    pending = f"version {resumed.version}" if resumed.version is not None else "nothing to apply yet"
    print(f"config-sync: resumed agent {target} ({pending}; {resumed.receivers} daemon worker(s) notified)")
