"""`config-sync status` (a running daemon's /status, over HTTP) and `config-sync dlq list|show|replay|purge`
(Redis and Postgres from the settings)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import typer

from config_sync_service.cli.common import JSON, VERBOSE, friendly_errors, settings_or_exit
from config_sync_service.core.config import Settings
from config_sync_service.mq.dead_letter import DeadLetterQueue

T = TypeVar("T")
dlq_app = typer.Typer(
    name="dlq", help="The dead-letter list: list, show, replay, purge.", no_args_is_help=True, add_completion=False
)


@contextlib.asynccontextmanager
async def _dead_letters(settings: Settings) -> AsyncIterator[DeadLetterQueue]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=30)
    try:
        yield DeadLetterQueue(client, key=settings.dlq_key, max_len=settings.dlq_max)
    finally:
        await client.aclose()


def _run(settings: Settings, work: Callable[[DeadLetterQueue], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _dead_letters(settings) as dlq:
            return await work(dlq)

    with friendly_errors():
        return asyncio.run(main())


def _duration(value: str | None, option: str) -> float | None:
    from config_sync_service.admin.dlq import parse_duration

    try:
        return None if value is None else parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


@dlq_app.command("list")
def list_command(
    agent: str | None = typer.Option(None, "--agent", help="Only this agent's entries."),
    reason: str | None = typer.Option(None, help="Only this reason (not_json, invalid_configuration, …)."),
    older_than: str | None = typer.Option(None, help="Only entries dead at least this long (30m, 2h, 7d)."),
    newer_than: str | None = typer.Option(None, help="Only entries dead less than this long."),
    offset: int = typer.Option(0, min=0, help="Skip this many matching entries."),
    limit: int = typer.Option(20, min=1, max=1000, help="Show at most this many."),
    as_json: bool = JSON,
    verbose: bool = VERBOSE,
) -> None:
    """List dead letters, newest first (# is the index `show` takes)."""
    from config_sync_service.admin import dlq
    from config_sync_service.cli import render

    flt = dlq.Filter(agent, reason, _duration(older_than, "--older-than"), _duration(newer_than, "--newer-than"))
    settings = settings_or_exit(quiet=not verbose)
    page = _run(settings, lambda q: dlq.list_entries(q, flt, offset=offset, limit=limit))
    print(json.dumps(page.to_dict(), indent=2, default=str) if as_json else render.render_page(page))


@dlq_app.command("show")
def show_command(
    ref: str = typer.Argument(..., help="Index (0 is the newest) or id (or a unique prefix of it)."),
    as_json: bool = JSON,
    verbose: bool = VERBOSE,
) -> None:
    """Show one dead letter in full."""
    from config_sync_service.admin import dlq
    from config_sync_service.cli import render

    settings = settings_or_exit(quiet=not verbose)
    found = _run(settings, lambda q: dlq.show(q, ref))
    if found is None:
        print(f"config-sync: no dead-letter entry {ref}", file=sys.stderr)
        raise typer.Exit(1)
    print(json.dumps(found.to_dict(), indent=2, default=str) if as_json else render.render_entry(found))


@dlq_app.command("replay")
def replay_command(
    agent: str | None = typer.Option(None, "--agent", help="Replay this agent's entries."),
    replay_all: bool = typer.Option(False, "--all", help="Replay every entry."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be replayed; change nothing."),
    verbose: bool = VERBOSE,
) -> None:
    """Re-queue the agents of dead letters: each agent's current state is read again and synced.

    Publishes a replay request on UPDATES_CHANNEL for each agent (a running daemon must be subscribed) and removes
    its entries. An agent that fails again comes back as a new entry with its replay count raised by one.
    """
    from config_sync_service.admin import dlq, replay
    from config_sync_service.cli import render
    from config_sync_service.db.session import create_db_engine, create_session_factory

    if (agent is None) == (not replay_all):
        raise typer.BadParameter("give --agent ID or --all", param_hint="--agent/--all")
    settings = settings_or_exit(quiet=not verbose)

    def progress(report: replay.ReplayReport) -> None:
        print(report.progress_line(), file=sys.stderr, flush=True)

    async def work(queue: DeadLetterQueue) -> replay.ReplayReport:
        db = create_db_engine(settings, application_name="config-sync-dlq-replay")
        try:
            requeue = replay.ChannelRequeue(
                queue.redis, channel=settings.updates_channel, sessions=create_session_factory(db)
            )
            return await replay.replay(
                queue, requeue, agent_id=agent, replay_all=replay_all, dry_run=dry_run, progress=progress
            )
        finally:
            await db.dispose()

    report = _run(settings, work)
    for title, items in (("would replay:", report.planned), ("skipped (no agent to re-queue):", report.skipped)):
        if items:
            print(title)
            print(render.render_page(dlq.Page(report.total, len(items), 0, len(items), items)))
    print(report.summary_line())
    if report.undelivered or report.failed:
        raise typer.Exit(1)


@dlq_app.command("purge")
def purge_command(
    older_than: str | None = typer.Option(None, help="Only entries dead at least this long (30m, 2h, 7d)."),
    agent: str | None = typer.Option(None, "--agent", help="Only this agent's entries."),
    reason: str | None = typer.Option(None, help="Only this reason."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    verbose: bool = VERBOSE,
) -> None:
    """Delete dead letters (all of them, or those selected), after confirmation."""
    from config_sync_service.admin import dlq

    flt = dlq.Filter(agent, reason, _duration(older_than, "--older-than"))
    settings = settings_or_exit(quiet=not verbose)
    total, matching = _run(settings, lambda q: dlq.count_matching(q, flt))
    if not matching:
        print(f"nothing to purge ({total} entries in the list)")
        return
    if not yes and not typer.confirm(f"Purge {matching} of {total} dead-letter entries from {settings.dlq_key}?"):
        print("aborted; nothing purged", file=sys.stderr)
        raise typer.Exit(1)
    report = _run(settings, lambda q: dlq.purge(q, flt))
    print(f"purged {report.purged} entries ({report.total - report.purged} left)")


def status_command(
    url: str = typer.Option("http://127.0.0.1:8000", envvar="CONFIG_SYNC_URL", help="The daemon's HTTP address."),
    token: str | None = typer.Option(None, envvar="OPERATOR_TOKEN", help="Operator token (if the daemon has one)."),
    as_json: bool = JSON,
    timeout: float = typer.Option(10.0, help="Seconds to wait for the answer."),
) -> None:
    """Show a running daemon's /status: agents per status, the oldest out-of-sync agents, queue, dead letters."""
    import httpx

    from config_sync_service.cli.render import printable, render_status

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with friendly_errors():
        response = httpx.get(url.rstrip("/") + "/status", headers=headers, timeout=timeout)
    if response.status_code == 401:
        print("config-sync: /status refused the operator token: pass --token or set OPERATOR_TOKEN", file=sys.stderr)
        raise typer.Exit(1)
    if response.status_code != 200:
        print(
            f"config-sync: /status answered {response.status_code}: {printable(response.text[:200])}", file=sys.stderr
        )
        raise typer.Exit(1)
    data = response.json()
    print(json.dumps(data, indent=2) if as_json else render_status(data, url=url))
