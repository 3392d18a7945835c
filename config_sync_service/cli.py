"""The `config-sync` command line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from alembic.util.exc import CommandError as AlembicCommandError

from config_sync_service.core.config import Settings, SettingsError, load_settings
from config_sync_service.core.logging import configure_logging, get_logger
from config_sync_service.operators.commands import dlq_app, status_command

app = typer.Typer(
    name="config-sync",
    help="Keeps voice agents on Pipecat Cloud in step with their configuration in Postgres.",
    pretty_exceptions_enable=False,
    add_completion=False,
)

P = ParamSpec("P")
R = TypeVar("R")


def settings_or_exit() -> Settings:
    """Load settings and configure logging; a bad setting ends the command with one clear line."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise typer.Exit(2) from None
    configure_logging(level=settings.log_level, fmt=settings.log_format, secret_values=settings.secret_values())
    return settings


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Connection failures end a command with one line, not a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (OSError, ConnectionError, AlembicCommandError) as exc:
            print(f"config-sync: {type(exc).__name__}: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None

    return wrapper


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    """Keeps voice agents on Pipecat Cloud in step with their configuration in Postgres."""
    if version:
        from config_sync_service import __version__

        print(f"config-sync {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())
        raise typer.Exit(0)


@app.command()
@friendly_errors
def migrate(revision: str = typer.Argument("head", help="Alembic revision to upgrade to.")) -> None:
    """Upgrade the database schema (alembic) to the newest revision."""
    from config_sync_service.db import migrate as migrations

    settings = settings_or_exit()
    migrations.upgrade(settings.database_url, revision)
    get_logger("config_sync.migrate").info("migrate.done", revision=revision)
    print(f"config-sync: database schema is at revision {revision}")


@app.command()
def serve(
    config: str = typer.Option("gunicorn.conf.py", help="gunicorn configuration file."),
    workers: int | None = typer.Option(None, help="Worker processes (default: WEB_CONCURRENCY or 2)."),
) -> None:
    """Run the daemon in production: gunicorn managing uvicorn workers."""
    import os

    settings_or_exit()  # fail here, with one line, rather than in every worker
    argv = ["gunicorn", "-c", config, "config_sync_service.main:app"]
    if workers is not None:
        argv += ["--workers", str(workers)]
    os.execvp(argv[0], argv)  # noqa: S606  (gunicorn replaces this process, so signals reach it)


@app.command()
@friendly_errors
def publish(
    agent_id: str = typer.Argument(..., help="The agent's UUID."),
    version: int = typer.Argument(..., help="The configuration version (>= 1)."),
    change_type: str = typer.Argument(..., help="CONTEXT_UPDATE, FULL_SYNC, PROVISION or DEPROVISION."),
) -> None:
    """Publish one change message on UPDATES_CHANNEL (what the backend does after a commit)."""
    import asyncio
    import json

    from config_sync_service.dev import publish as publish_message
    from config_sync_service.schemas.messages import ChangeMessage, Rejection, parse_message

    settings = settings_or_exit()
    parsed = parse_message(json.dumps({"agent_id": agent_id, "version": version, "change_type": change_type}))
    if isinstance(parsed, Rejection):
        print(f"config-sync: not published: {parsed.detail}", file=sys.stderr)
        raise typer.Exit(2)
    assert isinstance(parsed, ChangeMessage)
    receivers = asyncio.run(publish_message(settings, parsed.agent_id, parsed.version, parsed.change_type))
    print(f"published {parsed.to_json()} on {settings.updates_channel} to {receivers} subscriber(s)")


@app.command()
@friendly_errors
def dev(
    port: int = typer.Option(8000, help="Port of the daemon's HTTP surface."),
    emulator_port: int = typer.Option(8765, help="Port of the built-in Pipecat Cloud emulator."),
    deploy_delay: float = typer.Option(2.0, help="Seconds the emulator takes to make a deployment ready."),
    use_emulator: bool = typer.Option(True, "--emulator/--no-emulator", help="Start the built-in emulator."),
) -> None:
    """What `make run` calls: migrate, start the emulator, add demo agents, run the daemon and watch them sync."""
    import asyncio

    from config_sync_service.db import migrate as migrations
    from config_sync_service.dev import run_dev

    settings = settings_or_exit()
    migrations.upgrade(settings.database_url)
    print("config-sync dev: database migrated", flush=True)
    server = None
    if use_emulator:
        from config_sync_service.emulator.server import EmulatorServer, dev_config

        server = EmulatorServer(dev_config(deploy_delay_s=deploy_delay), port=emulator_port)
        server.start()
        print(f"config-sync dev: Pipecat Cloud emulator on {server.url} (calls: {server.url}/_emulator/calls)")
        settings = settings.model_copy(update=server.client_settings() | {"deploy_poll_interval_s": 0.5})
    try:
        asyncio.run(run_dev(settings, port=port, fresh_cloud=use_emulator))
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()


@app.command()
def emulator(
    port: int = typer.Option(8765, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (keep it on loopback)."),
    deploy_delay: float = typer.Option(3.0, help="Seconds from a deploy to an Active revision."),
    secret_ready_delay: float = typer.Option(0.5, help="Seconds from a secret set upsert to `ready`."),
    latency_ms: float = typer.Option(0.0, help="Latency added to every answer."),
    error_rate: float = typer.Option(0.0, help="Fraction of calls answered 500/502/503."),
    rate_429: float = typer.Option(0.0, help="Fraction of calls answered 429 with Retry-After."),
    rate_limit: float | None = typer.Option(None, help="Requests per second before answering 429."),
    seed: int | None = typer.Option(None, help="Seed for repeatable random faults."),
) -> None:
    """Run the local Pipecat Cloud emulator (keys: sk_emulator_private / pk_emulator_public)."""
    import uvicorn

    from config_sync_service.emulator.app import create_app as create_emulator
    from config_sync_service.emulator.config import EmulatorConfig, Faults

    faults = Faults(
        latency_ms=latency_ms,
        error_rate={"*": error_rate} if error_rate else {},
        rate_429={"*": rate_429} if rate_429 else {},
        rate_limit_per_s=rate_limit,
        seed=seed,
    )
    config = EmulatorConfig(deploy_delay_s=deploy_delay, secret_ready_delay_s=secret_ready_delay, faults=faults)
    print(f"Pipecat Cloud emulator on http://{host}:{port}/v1 — faults and calls at http://{host}:{port}/_emulator/")
    uvicorn.run(create_emulator(config), host=host, port=port, log_level="warning")


app.command("status")(status_command)
app.add_typer(dlq_app, name="dlq")


@app.command()
@friendly_errors
def reconcile(
    agent_id: str | None = typer.Argument(None, help="One agent's UUID; without it, every drifted agent."),
) -> None:
    """Ask the running daemons to reconcile now: publish a FULL_SYNC hint for the agent or for every drifted one."""
    import asyncio
    import uuid

    from config_sync_service.reconcile import request_reconcile

    settings = settings_or_exit()
    try:
        target = uuid.UUID(agent_id) if agent_id else None
    except ValueError:
        print(f"config-sync: not an agent id: {agent_id!r}", file=sys.stderr)
        raise typer.Exit(2) from None
    published = asyncio.run(request_reconcile(settings, target))
    print(f"config-sync: published {published} reconcile hint(s) on {settings.updates_channel}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
