"""The `config-sync` app and its commands for the daemon, the emulator and change messages."""

from __future__ import annotations

import sys

import typer

from config_sync_service.cli.agents import history_command, pause_command, resume_command
from config_sync_service.cli.common import friendly, settings_or_exit
from config_sync_service.cli.diff import diff_command
from config_sync_service.cli.operator import dlq_app, status_command
from config_sync_service.cli.schema import schema_command, validate_command
from config_sync_service.cli.telephony import twiml_command
from config_sync_service.core.logging import get_logger

app = typer.Typer(
    name="config-sync",
    help="Keeps voice agents on Pipecat Cloud in step with their configuration in Postgres.",
    pretty_exceptions_enable=False,
    add_completion=False,
)


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
@friendly
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
@friendly
def publish(
    agent_id: str = typer.Argument(..., help="The agent's UUID."),
    version: int = typer.Argument(..., help="The configuration version (>= 1)."),
    change_type: str = typer.Argument(..., help="CONTEXT_UPDATE, FULL_SYNC, PROVISION or DEPROVISION."),
) -> None:
    """Publish one change message on UPDATES_CHANNEL (what the backend does after a commit)."""
    import asyncio
    import json

    from config_sync_service.admin import hints
    from config_sync_service.schemas.messages import ChangeMessage, Rejection, parse_message

    settings = settings_or_exit()
    parsed = parse_message(json.dumps({"agent_id": agent_id, "version": version, "change_type": change_type}))
    if isinstance(parsed, Rejection):
        print(f"config-sync: not published: {parsed.detail}", file=sys.stderr)
        raise typer.Exit(2)
    assert isinstance(parsed, ChangeMessage)
    [receivers] = asyncio.run(hints.publish(settings, [(parsed.agent_id, parsed.version, parsed.change_type)]))
    print(f"published {parsed.to_json()} on {settings.updates_channel} to {receivers} subscriber(s)")


@app.command()
@friendly
def dev(
    port: int = typer.Option(8000, help="Port of the daemon's HTTP surface."),
    emulator_port: int = typer.Option(8765, help="Port of the built-in Pipecat Cloud emulator."),
    deploy_delay: float = typer.Option(2.0, help="Seconds the emulator takes to make a deployment ready."),
    use_emulator: bool = typer.Option(True, "--emulator/--no-emulator", help="Start the built-in emulator."),
) -> None:
    """What `make run` calls: migrate, start the emulator, add demo agents, run the daemon and watch them sync."""
    from config_sync_service.devtools import dev as devtools

    settings = settings_or_exit()
    devtools.run(settings, port=port, emulator_port=emulator_port, deploy_delay_s=deploy_delay, emulator=use_emulator)


@app.command()
def emulator(
    port: int = typer.Option(8765, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to bind: loopback only, unless --allow-remote."),
    allow_remote: bool = typer.Option(
        False, "--allow-remote", help="Bind beyond loopback (its /_emulator controls are unauthenticated)."
    ),
    reveal_secret_values: bool = typer.Option(
        False, "--reveal-secret-values", help="Show secret values in /_emulator/calls and /_emulator/secrets."
    ),
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
    from config_sync_service.emulator.config import EmulatorConfig, Faults, check_bind

    try:
        check_bind(host, allow_remote=allow_remote)
    except ValueError as exc:
        print(f"config-sync: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    faults = Faults(
        latency_ms=latency_ms,
        error_rate={"*": error_rate} if error_rate else {},
        rate_429={"*": rate_429} if rate_429 else {},
        rate_limit_per_s=rate_limit,
        seed=seed,
    )
    config = EmulatorConfig(
        deploy_delay_s=deploy_delay,
        secret_ready_delay_s=secret_ready_delay,
        faults=faults,
        reveal_secret_values=reveal_secret_values,
    )
    print(f"Pipecat Cloud emulator on http://{host}:{port}/v1 — faults and calls at http://{host}:{port}/_emulator/")
    uvicorn.run(create_emulator(config), host=host, port=port, log_level="warning")


app.command("status")(status_command)
app.command("diff")(diff_command)
app.command("history")(history_command)
app.command("pause")(pause_command)
app.command("resume")(resume_command)
app.command("twiml")(twiml_command)
app.add_typer(dlq_app, name="dlq")
app.command("schema")(schema_command)
app.command("validate")(validate_command)


@app.command()
@friendly
def reconcile(
    agent_id: str | None = typer.Argument(None, help="One agent's UUID; without it, every drifted agent."),
) -> None:
    """Ask the running daemons to reconcile now: publish a FULL_SYNC hint for the agent or for every drifted one."""
    import asyncio
    import uuid

    from config_sync_service.admin.hints import request_reconcile

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
