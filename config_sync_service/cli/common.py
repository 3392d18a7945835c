"""What every command shares: the settings (or one clear line), quieter logging, friendly connection errors."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from functools import wraps
from typing import ParamSpec, TypeVar

import typer

from config_sync_service.core.config import Settings, SettingsError, load_settings
from config_sync_service.core.logging import configure_logging, scrub

P = ParamSpec("P")
R = TypeVar("R")
VERBOSE = typer.Option(False, "--verbose", "-v", help="Log at LOG_LEVEL (default: warnings only).")
JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


def settings_or_exit(*, quiet: bool = False) -> Settings:
    """Load settings and configure logging; a bad setting ends the command with one clear line.

    `quiet`: log warnings only, for commands that print what they did (their per-item log events are for the
    daemon's logs); `--verbose` turns it off.
    """
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(scrub(str(exc)), file=sys.stderr)
        raise typer.Exit(2) from None
    level = settings.log_level
    if quiet and level in ("DEBUG", "INFO"):
        level = "WARNING"
    configure_logging(level=level, fmt=settings.log_format, secret_values=settings.secret_values())
    return settings


@contextlib.contextmanager
def friendly_errors() -> Iterator[None]:
    """Connection failures end a command with one line, not a traceback."""
    import httpx
    from alembic.util.exc import CommandError as AlembicCommandError
    from redis.exceptions import RedisError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (OSError, RedisError, SQLAlchemyError, httpx.HTTPError, AlembicCommandError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        print(scrub(f"config-sync: {type(exc).__name__}: {first_line}"), file=sys.stderr)
        raise typer.Exit(1) from None


def friendly(func: Callable[P, R]) -> Callable[P, R]:
    """`friendly_errors()` around a whole command."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with friendly_errors():
            return func(*args, **kwargs)

    return wrapper
