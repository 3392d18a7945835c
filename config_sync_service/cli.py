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

app = typer.Typer(
    name="config-sync",
    help="Keeps voice agents on Pipecat Cloud in step with their configuration in Postgres.",
    no_args_is_help=True,
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


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    """Keeps voice agents on Pipecat Cloud in step with their configuration in Postgres."""
    if version:
        from config_sync_service import __version__

        print(f"config-sync {__version__}")
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
